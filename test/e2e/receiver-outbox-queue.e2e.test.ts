/** The WhatsApp Webhook Receiver's outbox across kill -9 of main in a real n8n, queue mode (receiverOutbox.suite.ts). */
import { receiverOutboxSuite } from './receiverOutbox.suite';

receiverOutboxSuite('queue');
