export {
	computeSignature,
	verifySignature,
	verifySubscription,
	type SubscriptionCheck,
} from './signature';
export {
	STATUS_NAMES,
	STATUS_RANK,
	canAdvanceStatus,
	isStatusName,
	isStatusRegression,
	type StatusName,
} from './status';
export * from './schema';
export * from './events';
export { normalizeWebhook, describeWebhookError, type NormalizeOptions } from './normalize';
export { WEBHOOK_FRESHNESS_MS, WEBHOOK_RETRY_MS, webhookEventTime } from './freshness';
