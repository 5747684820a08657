/**
 * Ordering of message statuses.
 *
 * Meta sends up to three statuses per message, in no guaranteed order, sometimes skips `delivered`
 * (a message read while the chat is open), and retries deliveries for days. The latest status we
 * keep for a message must therefore only move forward:
 *
 *   sent(1) < delivered(2) < read(3) < played(4, voice messages: played implies heard after read)
 *
 * `failed` is terminal: nothing replaces it. It may follow `sent` (or arrive first), but it never
 * replaces `delivered`, `read` or `played` — once the device has the message, a late failure
 * notice cannot undo that, and a journey must not branch to "failed" for a message the customer read.
 */

export const STATUS_NAMES = ['sent', 'delivered', 'read', 'played', 'failed'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

/** Progress of a status. `failed` ranks above everything because it is terminal; see `canAdvanceStatus` for its one exception. */
export const STATUS_RANK: Readonly<Record<StatusName, number>> = Object.freeze({
	sent: 1,
	delivered: 2,
	read: 3,
	played: 4,
	failed: 5,
});

export function isStatusName(s: unknown): s is StatusName {
	return typeof s === 'string' && (STATUS_NAMES as readonly string[]).includes(s);
}

/** True when `next` should replace `previous` as the message's latest status. */
export function canAdvanceStatus(previous: StatusName | undefined, next: StatusName): boolean {
	if (previous === undefined) return true;
	if (previous === 'failed') return false;
	if (next === 'failed') return previous === 'sent';
	return STATUS_RANK[next] > STATUS_RANK[previous];
}

/**
 * True when `next` arrives after a status it must not replace (an out-of-order or late webhook).
 * A repeat of the same status is a duplicate, not a regression.
 */
export function isStatusRegression(previous: StatusName | undefined, next: StatusName): boolean {
	return previous !== undefined && previous !== next && !canAdvanceStatus(previous, next);
}
