/** The WhatsApp Webhook Receiver's outbox across kill -9 in a real n8n, regular mode (see receiverOutbox.suite.ts). */
import { receiverOutboxSuite } from './receiverOutbox.suite';

receiverOutboxSuite('regular');
