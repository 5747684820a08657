/** Send and Wait for Response in a real n8n, regular mode (the cases: sendAndWait.suite.ts). */
import { sendAndWaitSuite } from './sendAndWait.suite';

sendAndWaitSuite('regular');
