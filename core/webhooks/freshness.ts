/**
 * Which webhook events are still news. Meta retries a failed delivery "immediately, then with decreasing frequency
 * for up to 7 days" (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks, "Webhook
 * delivery failure"), so no genuine delivery of an event comes much later than 7 days after it happened. An older one
 * is a replay: it is acknowledged (so Meta stops) but neither recorded nor emitted. The de-duplication horizon of
 * every store is at least this long, so nothing fresh enough to be accepted can have been forgotten.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/** Meta's retry period for a webhook delivery. */
export const WEBHOOK_RETRY_MS = 7 * DAY_MS;

/** Meta's retries plus a day for delays in Meta's queue before the first attempt. */
export const WEBHOOK_FRESHNESS_MS = WEBHOOK_RETRY_MS + DAY_MS;

/**
 * The time a webhook event is applied at, or undefined when it is stale (happened WEBHOOK_FRESHNESS_MS or more
 * before `nowMs`). A time after `nowMs` is taken as `nowMs`: an event cannot have happened after it arrived, and a
 * time far ahead (schema-valid up to year 275,760) would otherwise hold a customer's window open, or make its record
 * unreadable, for ever.
 */
export function webhookEventTime(unixSeconds: number, nowMs: number): Date | undefined {
	const ms = unixSeconds * 1000;
	if (!Number.isFinite(ms) || nowMs - ms >= WEBHOOK_FRESHNESS_MS) return undefined;
	return new Date(Math.min(ms, nowMs));
}
