/**
 * The journey state store: what the trigger learns from webhooks (customer service windows,
 * statuses, opt-outs, which deliveries it has already handled) shared with the action nodes, which
 * may run in other workflows or on other n8n workers. Every key is scoped by business phone number id.
 *
 * Times are passed in (`at`, `now`) rather than read from the clock inside, so the rules are
 * testable and a delayed webhook is applied at the time it describes.
 */
import { MAX_CLOCK_SKEW_MS } from '../time';
import { WEBHOOK_FRESHNESS_MS } from '../webhooks/freshness';
import { isStatusName, STATUS_NAMES, type StatusName } from '../webhooks/status';
import type { WaitLinkStore } from './waitLinks';

export type { StatusName };

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
/** A customer message opens (or resets) a 24 h customer service window. */
export const SERVICE_WINDOW_MS = 24 * HOUR_MS;
/** A customer arriving from a Click-to-WhatsApp ad or Page CTA gets a 72 h free entry point. */
export const FREE_ENTRY_POINT_MS = 72 * HOUR_MS;
/** How long a window record is kept after the last inbound message: past this it cannot open anything. */
export const WINDOW_RETENTION_MS = 72 * HOUR_MS;
/**
 * How long a seen event id is remembered: as long as an event is fresh enough to be accepted at all (Meta's 7 days
 * of retries and a day's margin, see webhooks/freshness.ts), so no accepted event can be emitted twice.
 */
export const EVENT_HORIZON_MS = WEBHOOK_FRESHNESS_MS;
/** Statuses arrive within hours; after a month a message's status no longer changes. */
export const STATUS_RETENTION_MS = 30 * DAY_MS;

export interface ConversationWindow {
	waId: string;
	phoneNumberId: string;
	/** True while free-form messages may be sent (a customer message in the last 24 h). */
	open: boolean;
	lastInboundAt?: string;
	closesAt?: string;
	/** Whole seconds until the service window closes, rounded up; 0 when closed. */
	secondsLeft: number;
	/**
	 * True inside a free entry point (72 h from a customer message that carried a referral).
	 * Meta counts the 72 h from the business's reply within 24 h; counting from the customer's
	 * message closes it no later than Meta does. It makes messages free, not free-form messages allowed.
	 */
	freeEntryPointOpen: boolean;
	freeEntryPointClosesAt?: string;
}

export interface StatusRecordResult {
	/** The status became the message's latest. */
	applied: boolean;
	/** The latest status before this call, if any. */
	previous?: StatusName;
	/** The status arrived after one it must not replace (reordered or late webhook); it was ignored. */
	regression: boolean;
}

/** A write the webhook ingestion makes for an event it has not seen before. */
export type EventWrite =
	| { kind: 'status'; phoneNumberId: string; messageId: string; status: StatusName; at: Date }
	| { kind: 'inbound'; phoneNumberId: string; waId: string; at: Date; referral?: boolean }
	| {
			kind: 'optOut';
			phoneNumberId: string;
			waId: string;
			optedOut: boolean;
			at: Date;
			reason?: string;
	  };

/** One webhook event's store work: remember its id (when de-duplicating), then, only if it was new, its writes. */
export interface EventBatchItem {
	/** The de-duplication key; without it the writes always apply. */
	remember?: { phoneNumberId: string; eventId: string; at?: Date };
	writes: EventWrite[];
	/**
	 * Optional, with `remember`, for a status event: `writes[seenBy]` is a status write whose message and status
	 * identify the event exactly as `remember.eventId` does (one consumer's record of one message). A store may then
	 * keep which statuses that record has seen instead of a separate record per event id: one row written per event
	 * instead of two. The answers are the same: the event is fresh exactly once (for at least EVENT_HORIZON_MS).
	 */
	seenBy?: number;
}

export interface EventBatchResult {
	/** False when `remember` found the id already seen: none of the item's writes were applied. */
	fresh: boolean;
	/** The outcome of each of the item's status writes, in order (empty when not fresh). */
	statuses: StatusRecordResult[];
}

/**
 * Webhook events reach the store through `applyEventBatch` only (de-duplication, statuses, windows, opt-outs in one
 * unit of work), so those rules have one write path. The other methods are what the nodes ask (window, opt-out,
 * send slots) plus three kept public on purpose, although no node calls them yet: `getStatus` (the only way to read
 * the latest status the store keeps, for a report or a support lookup), `setOptOut` (opt-outs learnt outside
 * WhatsApp, e.g. a CRM unsubscribe, must stop marketing too) and `prune` (retention per kind, for a memory store in a
 * long-lived process or an operator's clean-up; the SQLite store also runs it in the background).
 */
export interface JourneyStateStore extends WaitLinkStore {
	/** A customer message arrived: opens or extends the 24 h window; with a referral, also a 72 h free entry point. */
	recordInbound(p: {
		phoneNumberId: string;
		waId: string;
		at: Date;
		referral?: boolean;
		now?: Date;
	}): Promise<ConversationWindow>;
	getWindow(p: { phoneNumberId: string; waId: string; now?: Date }): Promise<ConversationWindow>;
	getStatus(p: { phoneNumberId: string; messageId: string }): Promise<StatusName | undefined>;
	/** Marketing opt-out (or opt-in when `optedOut` is false). An older change never overwrites a newer one. */
	setOptOut(p: {
		phoneNumberId: string;
		waId: string;
		optedOut: boolean;
		at: Date;
		reason?: string;
	}): Promise<void>;
	isOptedOut(p: { phoneNumberId: string; waId: string }): Promise<boolean>;
	/**
	 * GCRA reservation: returns the epoch ms at which the caller may send and atomically moves the
	 * key's next free time one interval on. Shared by every worker using the store.
	 */
	reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number>;
	/**
	 * A whole webhook delivery's de-duplication and records in one unit of work (one SQLite transaction, one Redis
	 * round trip per phase) instead of one per event. Items are applied in order, exactly as the one-by-one calls
	 * would: a repeat later in the batch sees the earlier item, and statuses of one message advance in sequence.
	 */
	applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]>;
	/** Deletes what can no longer matter at `now` (opt-outs are kept). Returns how many records went. */
	prune(now?: Date): Promise<number>;
	close(): Promise<void>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The latest stored last-inbound time (and free entry point end) that can be real at `nowMs`. Every writer bounds
 * its times by now (webhook times are taken as at most their arrival, item times refused past the clock skew), so a
 * later one is a bad write (an older version stored a schema-valid timestamp in year 275,760): it is read as no
 * window, replaced by the next message and dropped by prune, instead of holding the window open or failing every
 * read for ever.
 */
export function windowTimeLimits(nowMs: number): { lastInbound: number; freeEntryPoint: number } {
	const lastInbound = nowMs + MAX_CLOCK_SKEW_MS;
	return { lastInbound, freeEntryPoint: lastInbound + FREE_ENTRY_POINT_MS };
}

/** Stored window times as they are read and built on at `nowMs`: each 0 (none) unless a positive number within its limit. */
export function readableWindowTimes(
	lastInboundMs: number,
	freeEntryPointUntilMs: number,
	nowMs: number,
): { lastInbound: number; freeEntryPoint: number } {
	const limits = windowTimeLimits(nowMs);
	const readable = (ms: number, limit: number) => (ms > 0 && ms <= limit ? ms : 0);
	return {
		lastInbound: readable(lastInboundMs, limits.lastInbound),
		freeEntryPoint: readable(freeEntryPointUntilMs, limits.freeEntryPoint),
	};
}

/** The window as seen at `now`, from the stored last inbound time and free entry point end (0 = none). */
export function windowFrom(
	phoneNumberId: string,
	waId: string,
	lastInboundMs: number,
	freeEntryPointUntilMs: number,
	nowMs: number,
): ConversationWindow {
	const w: ConversationWindow = {
		waId,
		phoneNumberId,
		open: false,
		secondsLeft: 0,
		freeEntryPointOpen: false,
	};
	({ lastInbound: lastInboundMs, freeEntryPoint: freeEntryPointUntilMs } = readableWindowTimes(
		lastInboundMs,
		freeEntryPointUntilMs,
		nowMs,
	));
	if (lastInboundMs > 0) {
		const closes = lastInboundMs + SERVICE_WINDOW_MS;
		w.lastInboundAt = iso(lastInboundMs);
		w.closesAt = iso(closes);
		w.open = nowMs < closes;
		w.secondsLeft = w.open ? Math.ceil((closes - nowMs) / 1000) : 0;
	}
	if (freeEntryPointUntilMs > 0) {
		w.freeEntryPointOpen = nowMs < freeEntryPointUntilMs;
		w.freeEntryPointClosesAt = iso(freeEntryPointUntilMs);
	}
	return w;
}

/** Checks the arguments every backend shares, with errors that name the field. */
export function requireId(value: unknown, field: string): string {
	if (typeof value !== 'string' || value.length === 0) {
		throw new Error(
			`${field} is required (a non-empty string); got ${value === '' ? 'an empty string' : typeof value}.`,
		);
	}
	return value;
}

export function requireTime(value: unknown, field: string): number {
	const ms = value instanceof Date ? value.getTime() : NaN;
	if (!Number.isFinite(ms)) throw new Error(`${field} must be a valid Date.`);
	return ms;
}

export function requireInterval(intervalMs: unknown): number {
	if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 0) {
		throw new Error('intervalMs must be a number of milliseconds ≥ 0.');
	}
	return intervalMs;
}

export function requireStatus(value: unknown): StatusName {
	if (!isStatusName(value))
		throw new Error(`status must be one of ${STATUS_NAMES.join(', ')}; got ${String(value)}.`);
	return value;
}

/** A batch item's write with its arguments checked and times in epoch ms. */
export type CheckedWrite =
	| { kind: 'status'; phoneNumberId: string; messageId: string; status: StatusName; at: number }
	| { kind: 'inbound'; phoneNumberId: string; waId: string; at: number; referral: boolean }
	| {
			kind: 'optOut';
			phoneNumberId: string;
			waId: string;
			optedOut: boolean;
			at: number;
			reason?: string;
	  };

export interface CheckedBatchItem {
	remember?: { phoneNumberId: string; eventId: string; at: number };
	writes: CheckedWrite[];
	seenBy?: number;
}

/**
 * Checks a whole batch before any of it is applied, so a bad argument in item 90 cannot leave items 1–89 half
 * written in a backend without transactions. `now` is the default time of a `remember` without `at`.
 */
export function checkEventBatch(items: EventBatchItem[], now = Date.now()): CheckedBatchItem[] {
	if (!Array.isArray(items)) throw new Error('applyEventBatch needs an array of items.');
	return items.map((item, i): CheckedBatchItem => {
		if (!item || !Array.isArray(item.writes))
			throw new Error(`Batch item ${i} needs a writes array.`);
		const r = item.remember;
		const remember = r
			? {
					phoneNumberId: requireId(r.phoneNumberId, 'phoneNumberId'),
					eventId: requireId(r.eventId, 'eventId'),
					at: r.at ? requireTime(r.at, 'at') : now,
				}
			: undefined;
		const writes = item.writes.map((w): CheckedWrite => {
			const phoneNumberId = requireId(w.phoneNumberId, 'phoneNumberId');
			const at = requireTime(w.at, 'at');
			switch (w.kind) {
				case 'status':
					return {
						kind: 'status',
						phoneNumberId,
						messageId: requireId(w.messageId, 'messageId'),
						status: requireStatus(w.status),
						at,
					};
				case 'inbound':
					return {
						kind: 'inbound',
						phoneNumberId,
						waId: requireId(w.waId, 'waId'),
						at,
						referral: w.referral === true,
					};
				case 'optOut':
					return {
						kind: 'optOut',
						phoneNumberId,
						waId: requireId(w.waId, 'waId'),
						optedOut: w.optedOut === true,
						at,
						reason: w.reason,
					};
				default:
					throw new Error(
						`Unknown batch write kind ${JSON.stringify((w as { kind?: unknown }).kind)}.`,
					);
			}
		});
		const seenBy = item.seenBy;
		if (
			seenBy !== undefined &&
			(!remember || !Number.isInteger(seenBy) || writes[seenBy]?.kind !== 'status')
		) {
			throw new Error(
				`Batch item ${i}: seenBy must name one of its status writes, with remember set.`,
			);
		}
		return seenBy === undefined ? { remember, writes } : { remember, writes, seenBy };
	});
}

/** The result of a status write, from the latest status before it and whether it advanced. */
export function statusOutcome(
	previous: StatusName | undefined,
	next: StatusName,
	applied: boolean,
): StatusRecordResult {
	if (applied)
		return previous === undefined
			? { applied: true, regression: false }
			: { applied: true, previous, regression: false };
	return { applied: false, previous, regression: previous !== next };
}
