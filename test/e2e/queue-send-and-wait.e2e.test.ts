/**
 * Send and Wait for Response in n8n queue mode (main + two workers + Redis + PostgreSQL): a worker runs the execution
 * up to the wait, the trigger on main resumes it through the waiting webhook, a worker runs the rest
 * (the cases: sendAndWait.suite.ts).
 */
import { sendAndWaitSuite } from './sendAndWait.suite';

sendAndWaitSuite('queue');
