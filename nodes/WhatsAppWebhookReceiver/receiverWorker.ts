/**
 * The worker thread the WhatsApp Webhook Receiver starts (core/journeys/receiverWorker.ts): a thin host for core's
 * receiver. Built to dist/ beside the node, it loads the core bundle like the node does.
 */
import { parentPort } from 'node:worker_threads';

import { serveReceiverWorker } from '../../core';

if (parentPort) serveReceiverWorker(parentPort);
