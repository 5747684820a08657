/**
 * The journey rules, once (send path, window decision, webhook receive): use cases that take plain inputs and return plain results, which the
 * n8n node and the Node-RED nodes call (they only read their parameters and present the results).
 */
export * from './policy';
export * from './deliveryOptions';
export * from './tracking';
export * from './send';
export * from './templateSend';
export * from './sessionSend';
export * from './window';
export * from './webhookReceive';
export * from './webhookOutbox';
export * from './rules';
export * from './account';
export * from './journeySend';
export * from './report';
export * from './sendAndWait';
export * from './resumeDispatcher';
export * from './webhookReceiver';
export * from './receiverWorker';
