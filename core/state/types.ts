/**
 * The journey state store: what the trigger learns from webhooks (customer service windows,
 * statuses, opt-outs, which deliveries it has already handled) shared with the action nodes, which
 * may run in other workflows or on other n8n workers. Every key is scoped by business phone number id.
 *
 * Times are passed in (`at`, `now`) rather than read from the clock inside, so the rules are
 * testable and a delayed webhook is applied at the time it describes.
 */
import { wellFormed } from '../tracking';
import { MAX_CLOCK_SKEW_MS } from '../time';
import { WEBHOOK_FRESHNESS_MS } from '../webhooks/freshness';
import { isStatusName, STATUS_NAMES, type StatusName } from '../webhooks/status';
import type { WaitLink, WaitLinkStore } from './waitLinks';

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
	  }
	| IdentityWrite
	| JourneyRuleWrite
	| JourneyReportWrite;

/**
 * A customer's ids learnt from a webhook (or given by a workflow): a phone number's wa_id and the business-scoped user
 * id (BSUID) Meta pairs it with (contacts `wa_id` + `user_id`, statuses `recipient_id` + `recipient_user_id`), and/or
 * a BSUID that replaced an earlier one (`user_id_update`). Applied to one record per id (see identityUpdates).
 */
export interface IdentityWrite {
	kind: 'identity';
	phoneNumberId: string;
	/** The BSUID (current one, after a change). */
	bsuid: string;
	/** The phone number's wa_id, when Meta sent it with the BSUID. */
	waId?: string;
	/** The BSUID this one replaced (user_id_update, system message user_changed_user_id). */
	previousBsuid?: string;
	/**
	 * The customer's parent BSUID ("US.ENT.…", one id across the portfolios Meta linked), sent next to the BSUID for
	 * enrolled portfolios (contacts `parent_user_id`, statuses `recipient_parent_user_id`). It leads to the BSUID.
	 */
	parentBsuid?: string;
	at: Date;
}

/**
 * Identities (phone ↔ BSUID) are kept this long after their last sighting: as long as the step records they join
 * (STEP_RETENTION_MS), so a once-per-step key found through a BSUID still meets the one found through the number.
 */
export const IDENTITY_RETENTION_MS = 400 * DAY_MS;

/**
 * What the store keeps for one customer id (a wa_id or a BSUID): the other id it is paired with, and for an old BSUID
 * the one that replaced it. `at` is the latest write; a field is replaced only by a write at least as recent, so a
 * late webhook cannot undo a newer pairing (it may still fill a field not known yet).
 */
export interface IdentityRecord {
	/** The phone number's wa_id (on a BSUID's record). */
	waId?: string;
	/** The BSUID (on a phone number's record). */
	bsuid?: string;
	/**
	 * The BSUID this one leads to: the one that replaced it (on an old BSUID's record), or the portfolio's BSUID of the
	 * same user (on a parent BSUID's record: the customer is keyed by the portfolio BSUID or the number, never the parent).
	 */
	successor?: string;
	/**
	 * The ids that lead to this BSUID (the way back from `successor`): the BSUIDs it replaced and the parent BSUID, oldest
	 * first, at most MAX_PREDECESSORS. A step claimed under one of them is found from the number and the current BSUID.
	 */
	predecessors?: string[];
	at: number;
}

/**
 * How many predecessors one record keeps (the newest): a customer's id history is short (a BSUID changes with the
 * number), and resolveCustomer hands at most MAX_OTHER_IDS ids to the send gate anyway.
 */
export const MAX_PREDECESSORS = 16;

/** One record's change from an identity write: which id, and which of its fields. */
export interface IdentityUpdate {
	id: string;
	waId?: string;
	bsuid?: string;
	successor?: string;
	/** Ids added to the record's predecessors (a set: added whatever the write's time, since each is a fact). */
	predecessors?: string[];
}

/**
 * The records an identity write touches, each one key (Redis scripts stay single-key): the BSUID's (its number, and
 * the previous and parent BSUIDs as predecessors), the number's (its BSUID), the previous BSUID's and the parent's
 * (their successor, and the number when known).
 */
export function identityUpdates(w: {
	bsuid: string;
	waId?: string;
	previousBsuid?: string;
	parentBsuid?: string;
}): IdentityUpdate[] {
	const previous = w.previousBsuid && w.previousBsuid !== w.bsuid ? w.previousBsuid : undefined;
	const parent =
		w.parentBsuid && w.parentBsuid !== w.bsuid && w.parentBsuid !== previous
			? w.parentBsuid
			: undefined;
	const predecessors = [previous, parent].filter((id): id is string => id !== undefined);
	const updates: IdentityUpdate[] = [];
	if (w.waId || predecessors.length)
		updates.push({
			id: w.bsuid,
			...(w.waId ? { waId: w.waId } : {}),
			...(predecessors.length ? { predecessors } : {}),
		});
	if (w.waId) updates.push({ id: w.waId, bsuid: w.bsuid });
	for (const id of predecessors)
		updates.push({ id, successor: w.bsuid, ...(w.waId ? { waId: w.waId } : {}) });
	return updates;
}

/** A record after an update at `at` (see IdentityRecord for the rule). Shared by the memory and SQLite stores. */
export function mergeIdentity(
	old: IdentityRecord | undefined,
	u: IdentityUpdate,
	at: number,
): IdentityRecord {
	const newer = !old || at >= old.at;
	const pick = (mine: string | undefined, theirs: string | undefined) =>
		theirs !== undefined && (newer || mine === undefined) ? theirs : mine;
	const waId = pick(old?.waId, u.waId);
	const bsuid = pick(old?.bsuid, u.bsuid);
	const successor = pick(old?.successor, u.successor);
	const predecessors = addPredecessors(old?.predecessors, u.predecessors);
	return {
		...(waId !== undefined ? { waId } : {}),
		...(bsuid !== undefined ? { bsuid } : {}),
		...(successor !== undefined ? { successor } : {}),
		...(predecessors.length ? { predecessors } : {}),
		at: Math.max(old?.at ?? at, at),
	};
}

/** A stored predecessors list (a JSON array of ids, in SQLite and Redis); anything else reads as none. */
export function idList(json: string): string[] {
	try {
		const v: unknown = JSON.parse(json);
		return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
	} catch {
		return [];
	}
}

/** A record's predecessors with `added` appended (each once), the newest MAX_PREDECESSORS kept. */
export function addPredecessors(
	old: readonly string[] | undefined,
	added: readonly string[] | undefined,
): string[] {
	const list = [...(old ?? [])];
	for (const id of added ?? []) if (!list.includes(id)) list.push(id);
	return list.slice(-MAX_PREDECESSORS);
}

/**
 * Journey-rule writes from webhooks: a status resolves the step its tracking names (`k=`), and account updates
 * (quality, flags, tiers, template pauses) are remembered for the send gate.
 */
export type JourneyRuleWrite =
	| {
			kind: 'stepStatus';
			phoneNumberId: string;
			stepKey: string;
			messageId: string;
			status: StatusName;
			at: Date;
	  }
	| { kind: 'account'; subject: string; facts: AccountFacts; at: Date };

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
	/**
	 * Keep the event in its trigger's outbox (in the same unit of work, only when the item is fresh): `entry` as the
	 * adapter will emit it, under `id` (its de-duplication id). With `unlessLate`, not when the item's last status
	 * write is a regression (a late status that is dropped). See OutboxEntry.
	 */
	outbox?: { trigger: string; id: string; entry: string; unlessLate?: boolean };
	/**
	 * Also read the Send and Wait link of this message (a status event that may end a wait), when the item is fresh:
	 * a store that can (Redis: in the item's own script call) answers it as `waitLink`, so a status costs one round
	 * trip, not one for its writes and one for the wait check. Others leave `waitLink` out and it is read after.
	 */
	peekWait?: { phoneNumberId: string; messageId: string };
}

/**
 * Outbox: events acknowledged to Meta (answered 200) that a trigger has not yet handed to an execution. A trigger
 * keeps them in the store from the moment they are recorded, removes them once emitted, and after a crash claims
 * those left behind (older than its batch window) to emit them. Kept at most OUTBOX_RETENTION_MS.
 */
export interface OutboxEntry {
	id: string;
	entry: string;
	/** When it was recorded, or last claimed (epoch ms). */
	at: number;
}

/** An outbox entry is dropped after Meta's retry period: by then nothing would emit it any more. */
export const OUTBOX_RETENTION_MS = WEBHOOK_FRESHNESS_MS;

export interface EventBatchResult {
	/** False when `remember` found the id already seen: none of the item's writes were applied. */
	fresh: boolean;
	/** The outcome of each of the item's status writes, in order (empty when not fresh). */
	statuses: StatusRecordResult[];
	/** The wait link `peekWait` asked for (null: none), when the store read it with the writes. */
	waitLink?: WaitLink | null;
}

/**
 * Webhook events reach the store through `applyEventBatch` only (de-duplication, statuses, windows, opt-outs in one
 * unit of work), so those rules have one write path. The other methods are what the nodes ask (window, opt-out,
 * send slots) plus three kept public on purpose, although no node calls them yet: `getStatus` (the only way to read
 * the latest status the store keeps, for a report or a support lookup), `setOptOut` (opt-outs learnt outside
 * WhatsApp, e.g. a CRM unsubscribe, must stop marketing too) and `prune` (retention per kind, for a memory store in a
 * long-lived process or an operator's clean-up; the SQLite store also runs it in the background).
 */
export interface JourneyStateStore extends JourneyRulesStore, WaitLinkStore {
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
	/**
	 * Identities: a phone number ↔ BSUID pair (and/or a BSUID change) learnt outside a webhook batch; webhooks write
	 * the same through applyEventBatch (`kind: 'identity'`). Kept IDENTITY_RETENTION_MS after the last write.
	 */
	linkIdentity(p: Omit<IdentityWrite, 'kind'>): Promise<void>;
	/** What the store knows of one id (a wa_id or a BSUID); resolveCustomer follows it to the customer's one key. */
	getIdentity(p: { phoneNumberId: string; id: string }): Promise<IdentityRecord | undefined>;
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
	/**
	 * The trigger's outbox entries recorded (or last claimed) at or before `olderThan`, oldest first, at most `limit`
	 * (default 1000); each is claimed atomically (its time set to `now`), so no other process claims it again until
	 * it is older than `olderThan` once more. A claimer that dies before `outboxDone` leaves them to the next one.
	 */
	claimOutbox(p: {
		trigger: string;
		olderThan: number;
		now?: number;
		limit?: number;
	}): Promise<OutboxEntry[]>;
	/** The trigger emitted these entries: removes them. Returns how many were there. */
	outboxDone(p: { trigger: string; ids: string[] }): Promise<number>;
	/** Deletes what can no longer matter at `now` (opt-outs are kept). Returns how many records went. */
	prune(now?: Date): Promise<number>;

	// ---- Journey report aggregates (see the "Journey report aggregates" section below) ----
	/** Messages a journey step sent (Meta accepted them): counted as sent once each, and remembered for replies. */
	recordSends(sends: JourneySend[]): Promise<void>;
	/** A send a policy rule skipped (opt-out, frequency cap...): counted under `skipped:<rule>`. */
	recordPolicyDecision(p: SkippedSendRecord): Promise<void>;
	/** A tracked link was clicked: counted once per message when `messageId` is given, else once per call. */
	recordLinkClick(p: LinkClick): Promise<void>;
	/** The journeys with counts kept for this business number, sorted. */
	listReportJourneys(p: { phoneNumberId: string }): Promise<string[]>;
	/** The per day counts of the journeys (all when absent) between two UTC days, inclusive. */
	getReportCounts(p: ReportCountsQuery): Promise<ReportCount[]>;
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
	  }
	| {
			kind: 'stepStatus';
			phoneNumberId: string;
			stepKey: string;
			messageId: string;
			status: StatusName;
			at: number;
	  }
	| { kind: 'account'; subject: string; facts: AccountFacts; at: number }
	| CheckedIdentityWrite
	| CheckedReportWrite;

export interface CheckedIdentityWrite {
	kind: 'identity';
	phoneNumberId: string;
	bsuid: string;
	waId?: string;
	previousBsuid?: string;
	parentBsuid?: string;
	at: number;
}

/** An identity write's arguments checked (linkIdentity and applyEventBatch). */
export function checkIdentity(
	w: Omit<IdentityWrite, 'kind'>,
	phoneNumberId: string,
	at: number,
): CheckedIdentityWrite {
	const optional = (v: unknown, field: string) =>
		v === undefined || v === '' ? undefined : requireId(v, field);
	const waId = optional(w.waId, 'waId');
	const previousBsuid = optional(w.previousBsuid, 'previousBsuid');
	const parentBsuid = optional(w.parentBsuid, 'parentBsuid');
	return {
		kind: 'identity',
		phoneNumberId,
		bsuid: requireId(w.bsuid, 'bsuid'),
		...(waId ? { waId } : {}),
		...(previousBsuid ? { previousBsuid } : {}),
		...(parentBsuid ? { parentBsuid } : {}),
		at,
	};
}

export interface CheckedBatchItem {
	remember?: { phoneNumberId: string; eventId: string; at: number };
	writes: CheckedWrite[];
	seenBy?: number;
	outbox?: { trigger: string; id: string; entry: string; unlessLate: boolean };
	peekWait?: { phoneNumberId: string; messageId: string };
}

/** Whether a fresh item's outbox entry is kept: not when it asked `unlessLate` and its last status went back. */
export function keepsOutboxEntry(item: CheckedBatchItem, statuses: StatusRecordResult[]): boolean {
	if (!item.outbox) return false;
	return !(item.outbox.unlessLate && statuses[statuses.length - 1]?.regression);
}

export function checkOutboxClaim(p: {
	trigger: string;
	olderThan: number;
	now?: number;
	limit?: number;
}): { trigger: string; olderThan: number; now: number; limit: number } {
	const trigger = requireId(p?.trigger, 'trigger');
	if (typeof p.olderThan !== 'number' || !Number.isFinite(p.olderThan))
		throw new Error('olderThan must be a time in epoch ms.');
	const limit = p.limit ?? 1000;
	if (!Number.isInteger(limit) || limit < 1) throw new Error('limit must be a positive integer.');
	return { trigger, olderThan: p.olderThan, now: p.now ?? Date.now(), limit };
}

export function checkOutboxDone(p: { trigger: string; ids: string[] }): {
	trigger: string;
	ids: string[];
} {
	if (!Array.isArray(p?.ids)) throw new Error('ids must be an array.');
	return { trigger: requireId(p.trigger, 'trigger'), ids: p.ids.map((id) => requireId(id, 'id')) };
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
			const at = requireTime(w.at, 'at');
			if (w.kind === 'account') {
				if (!w.facts || typeof w.facts !== 'object')
					throw new Error('An account write needs a facts object.');
				return { kind: 'account', subject: requireId(w.subject, 'subject'), facts: w.facts, at };
			}
			const phoneNumberId = requireId(w.phoneNumberId, 'phoneNumberId');
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
				case 'stepStatus':
					return {
						kind: 'stepStatus',
						phoneNumberId,
						stepKey: requireId(w.stepKey, 'stepKey'),
						messageId: requireId(w.messageId, 'messageId'),
						status: requireStatus(w.status),
						at,
					};
				case 'identity':
					return checkIdentity(w, phoneNumberId, at);
				case 'journeyStatus':
				case 'journeyReply':
					return checkReportWrite(w, phoneNumberId, at);
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
		const o = item.outbox;
		const outbox = o
			? {
					trigger: requireId(o.trigger, 'outbox.trigger'),
					id: requireId(o.id, 'outbox.id'),
					entry: typeof o.entry === 'string' ? o.entry : requireId(undefined, 'outbox.entry'),
					unlessLate: o.unlessLate === true,
				}
			: undefined;
		const checked: CheckedBatchItem = { remember, writes };
		if (seenBy !== undefined) checked.seenBy = seenBy;
		if (outbox) checked.outbox = outbox;
		if (item.peekWait)
			checked.peekWait = {
				phoneNumberId: requireId(item.peekWait.phoneNumberId, 'peekWait.phoneNumberId'),
				messageId: requireId(item.peekWait.messageId, 'peekWait.messageId'),
			};
		return checked;
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

// ---------------------------------------------------------------------------------------------------------------
// Journey rules (issue #14): step claims, frequency counts, business-initiated recipients, account state.
// Kept in one section (and in separate tables / keys in every backend) so other store work merges cleanly.
// ---------------------------------------------------------------------------------------------------------------

/** A step record is kept this long after its last change: "once per step" holds for at least this long. */
export const STEP_RETENTION_MS = 400 * DAY_MS;
/**
 * How long a claimed ('pending') step whose request left may stay unsettled before it is read as outcome unknown,
 * counted from its latest attempt (every attempt renews `leftAt`): longer than one attempt (30 s client timeout)
 * plus recording its answer, so a live send is never mistaken for a dead one.
 */
export const PENDING_LEASE_MS = 90 * 1000;
/**
 * How long a claim whose request never left (no `leftAt`: its send was still waiting for a pacer slot) may stay before
 * another run takes it over. Such a claim provably sent nothing, and cannot send late: its sender's markSendLeaving
 * fails once the claim is another's. So a sender that died while waiting costs a re-run this long, never a duplicate.
 */
export const UNSENT_CLAIM_LEASE_MS = 30 * 1000;
/** Frequency-cap records are kept this long: the longest period a cap may have (31 days). */
export const FREQUENCY_RETENTION_MS = 31 * DAY_MS;
/** Meta's messaging limit counts unique business-initiated recipients in a rolling 24 h. */
export const MESSAGING_LIMIT_PERIOD_MS = 24 * HOUR_MS;
/** Account facts (quality, flags, tiers, template pauses) are kept this long after their last update. */
export const ACCOUNT_FACT_RETENTION_MS = 400 * DAY_MS;

export type StepState = 'pending' | 'unknown' | 'sent';

export interface StepRecord {
	state: StepState;
	/** The claim that owns the record (one send attempt). */
	token: string;
	/** When the current claim was made (epoch ms). */
	claimedAt: number;
	/** When its latest request left (epoch ms; markSendLeaving). Absent: none of its requests left. */
	leftAt?: number;
	messageId?: string;
	/** When the message was accepted (epoch ms). */
	sentAt?: number;
}

/** One send's store work before the request leaves: claim the step, count the customer, count the recipient. */
export interface SendAdmission {
	phoneNumberId: string;
	/** The customer's one key (core/state/identity.ts): claims and counts are written under it. */
	waId: string;
	/**
	 * The customer's other ids (a BSUID and the number it is paired with, see resolveCustomer): their service windows
	 * and frequency counts are the customer's too, so a pairing learnt after a send cannot split the customer.
	 */
	otherIds?: string[];
	/** Unique per send (a random id): settle and release act only on their own claim. */
	token: string;
	now: Date;
	step?: {
		key: string;
		/** 0: once for ever (within STEP_RETENTION_MS); otherwise a sent step may be sent again after this long. */
		reentryPeriodMs: number;
		retryWhenOutcomeUnknown: boolean;
		/** Default PENDING_LEASE_MS. */
		leaseMs?: number;
		/** Default UNSENT_CLAIM_LEASE_MS. */
		unsentLeaseMs?: number;
		/**
		 * The same step's key under each of the customer's other ids (stepKeysFor): a claim under any of them refuses
		 * the step too — e.g. one sent to a BSUID before the store learnt the customer's phone number.
		 */
		otherKeys?: string[];
	};
	/** Counted and capped per customer and category across every journey of this number. */
	frequency?: { category: string; max: number; periodMs: number };
	/**
	 * Business-initiated recipients (a template while the customer's service window is closed) per portfolio in a
	 * rolling 24 h; refused at `limit` (absent: counted only).
	 */
	messagingLimit?: { scope: string; limit?: number };
	/** True for templates; a session message is never business-initiated. */
	template: boolean;
	/** Only check (Dry Run): the answer is what a send would get, and nothing is claimed or counted. */
	dryRun?: boolean;
}

export type AdmissionResult =
	| {
			admitted: true;
			/** Whether this send counted as business-initiated (template, window closed). */
			businessInitiated: boolean;
			/** Messages in the cap's period including this one. */
			frequencyCount?: number;
			/** Unique business-initiated recipients in 24 h including this one. */
			recipients?: number;
			/** The recipient's previous counted time, restored if this send is released (0: none). */
			recipientPrevAt?: number;
			/** The time this send was counted at (epoch ms). */
			at: number;
	  }
	| {
			admitted: false;
			rule: 'step';
			state: StepState;
			messageId?: string;
			/** sentAt for 'sent', claimedAt otherwise (epoch ms). */
			at: number;
	  }
	| { admitted: false; rule: 'frequency'; count: number; limit: number; resumeAt?: number }
	| { admitted: false; rule: 'messaging_limit'; count: number; limit: number };

/** A request of an admitted send about to leave (JourneyRulesStore.markSendLeaving). */
export interface SendLeaving {
	phoneNumberId: string;
	token: string;
	stepKey: string;
	now: Date;
}

/** What became of an admitted send. 'failed' means Meta refused it for sure: its claim and counts are released. */
export interface SendSettlement {
	phoneNumberId: string;
	waId: string;
	token: string;
	now: Date;
	outcome: 'sent' | 'failed' | 'unknown';
	messageId?: string;
	stepKey?: string;
	/** As admitted: the counted time and category, so a release removes exactly this send's counts. */
	frequency?: { category: string };
	messagingLimit?: { scope: string; at: number; prevAt: number };
}

/** Facts about the account from webhooks (quality flags, tiers, template pauses), newest write wins per subject. */
export type AccountFacts = Record<string, string | number | boolean | null>;
export interface AccountFactRecord {
	facts: AccountFacts;
	/** When the facts were true (epoch ms), from the webhook. */
	at: number;
}

/** Subjects of account facts: one place spells them so the webhook writer and the gate's reader agree. */
export const accountSubject = {
	/** By display number digits: Meta's phone_number_quality_update names the number so, not by id. */
	phone: (displayPhoneNumber: string) => `phone:${displayPhoneNumber.replace(/\D/g, '')}`,
	waba: (wabaId: string) => `waba:${wabaId}`,
	template: (wabaId: string, templateName: string, language: string) =>
		`template:${wabaId}:${templateName}:${language}`,
};

/** Store methods of the journey rules; every backend implements them, each call one atomic unit. */
export interface JourneyRulesStore {
	/** Claims the step, checks and counts the caps, all or nothing. */
	admitSend(p: SendAdmission): Promise<AdmissionResult>;
	/**
	 * Right before each request of an admitted send leaves: stamps `leftAt` on its own claim and says whether the claim
	 * is still its own (pending, same token). False: another run took the step over (UNSENT_CLAIM_LEASE_MS) or it was
	 * resolved; the request must not leave. A send without a step claim always may.
	 */
	markSendLeaving(p: SendLeaving): Promise<boolean>;
	/** Records what became of an admitted send (only its own claim; a step already resolved as sent stays sent). */
	settleSend(p: SendSettlement): Promise<void>;
	getStep(p: { phoneNumberId: string; stepKey: string }): Promise<StepRecord | undefined>;
	getAccountFacts(subjects: string[]): Promise<Record<string, AccountFactRecord>>;
}

export function checkAdmission(p: SendAdmission): {
	phone: string;
	waId: string;
	token: string;
	now: number;
} {
	const phone = requireId(p?.phoneNumberId, 'phoneNumberId');
	const waId = requireId(p.waId, 'waId');
	const token = requireId(p.token, 'token');
	const now = requireTime(p.now, 'now');
	if (p.step) {
		requireId(p.step.key, 'step.key');
		requireInterval(p.step.reentryPeriodMs);
		requireIds(p.step.otherKeys, 'step.otherKeys');
	}
	requireIds(p.otherIds, 'otherIds');
	if (p.frequency) {
		requireId(p.frequency.category, 'frequency.category');
		if (!Number.isInteger(p.frequency.max) || p.frequency.max < 1)
			throw new Error('frequency.max must be a whole number ≥ 1.');
		if (!(p.frequency.periodMs > 0) || p.frequency.periodMs > FREQUENCY_RETENTION_MS)
			throw new Error(`frequency.periodMs must be > 0 and ≤ ${FREQUENCY_RETENTION_MS} (31 days).`);
	}
	if (p.messagingLimit) requireId(p.messagingLimit.scope, 'messagingLimit.scope');
	return { phone, waId, token, now };
}

/** A customer has a few ids (a number, a BSUID, BSUIDs it replaced); more is bad data, not a customer. */
export const MAX_OTHER_IDS = 16;

function requireIds(value: unknown, field: string): void {
	if (value === undefined) return;
	if (!Array.isArray(value) || value.length > MAX_OTHER_IDS)
		throw new Error(`${field} must be an array of at most ${MAX_OTHER_IDS} ids.`);
	value.forEach((v, i) => requireId(v, `${field}[${i}]`));
}

/** The step's refusal from the stored record (undefined: admit), the same in every backend (Redis repeats it in Lua). */
export function stepVerdict(
	record: StepRecord | undefined,
	step: NonNullable<SendAdmission['step']>,
	now: number,
): undefined | Extract<AdmissionResult, { rule: 'step' }> {
	if (!record) return undefined;
	if (record.state === 'sent') {
		const sentAt = record.sentAt ?? record.claimedAt;
		if (step.reentryPeriodMs > 0 && sentAt + step.reentryPeriodMs <= now) return undefined;
		const refused: Extract<AdmissionResult, { rule: 'step' }> = {
			admitted: false,
			rule: 'step',
			state: 'sent',
			at: sentAt,
		};
		if (record.messageId) refused.messageId = record.messageId;
		return refused;
	}
	if (record.state === 'pending' && record.leftAt === undefined) {
		// No request of this claim left: once its sender is surely gone, nothing was sent and a new claim takes over.
		if (record.claimedAt + (step.unsentLeaseMs ?? UNSENT_CLAIM_LEASE_MS) <= now) return undefined;
		return { admitted: false, rule: 'step', state: 'pending', at: record.claimedAt };
	}
	const lease = step.leaseMs ?? PENDING_LEASE_MS;
	const state: StepState =
		record.state === 'pending' && (record.leftAt ?? record.claimedAt) + lease > now
			? 'pending'
			: 'unknown';
	if (state === 'unknown' && step.retryWhenOutcomeUnknown) return undefined;
	return { admitted: false, rule: 'step', state, at: record.claimedAt };
}

/** Statuses that prove Meta accepted the message; 'failed' proves it did not reach the customer. */
export function stepStatusOutcome(status: StatusName): 'sent' | 'failed' {
	return status === 'failed' ? 'failed' : 'sent';
}

// ---------------------------------------------------------------------------------------------------------------
// Journey report aggregates
//
// Per business number, journey, step and UTC day: counters (`metric` → n), and one compact record per tracked
// message (its journey step and which stages were already counted), so a stage counts once per message whatever
// Meta repeats or reorders, and whichever of several triggers (consumers) sees the status. A stage is counted on
// the UTC day it happened (the status's or reply's time), as Meta's own analytics do.
// ---------------------------------------------------------------------------------------------------------------

/** Counters are kept this long after their day by default; each backend takes `reportRetentionMs` to change it. */
export const REPORT_RETENTION_MS = 90 * DAY_MS;
/** A message's record (journey step and counted stages) lives as long as its status record. */
export const REPORT_MESSAGE_RETENTION_MS = STATUS_RETENTION_MS;

/** Stage bits of a message record. */
export const STAGE = {
	sent: 1,
	delivered: 2,
	read: 4,
	failed: 8,
	replied: 16,
	billable: 32,
	clicked: 64,
} as const;

/** A message status for the report: written by ingestion next to the status record, when the message is tracked. */
export interface JourneyStatusWrite {
	kind: 'journeyStatus';
	phoneNumberId: string;
	messageId: string;
	status: StatusName;
	at: Date;
	journey: string;
	step?: string;
	/** From the status's `pricing`: counted once per message when billable. */
	pricing?: { billable?: boolean; category?: string; type?: string };
	/** The recipient's country (ISO 3166-1 alpha-2), Meta's market for pricing. */
	market?: string;
	/** The first error code of a failed status. */
	errorCode?: number;
}

/** An inbound message that replies to (or taps a button of) one of our messages: `messageId` is its context id. */
export interface JourneyReplyWrite {
	kind: 'journeyReply';
	phoneNumberId: string;
	messageId: string;
	at: Date;
}

export type JourneyReportWrite = JourneyStatusWrite | JourneyReplyWrite;
export type CheckedReportWrite =
	| (Omit<JourneyStatusWrite, 'at' | 'step'> & { at: number; step: string })
	| (Omit<JourneyReplyWrite, 'at'> & { at: number });

export interface JourneySend {
	phoneNumberId: string;
	messageId: string;
	journey: string;
	step?: string;
	at: Date;
}

export interface SkippedSendRecord {
	phoneNumberId: string;
	journey: string;
	step?: string;
	/** The rule that skipped the send, e.g. `optOut`, `frequencyCap`, `quietHours`. */
	rule: string;
	at: Date;
	/** How many sends the rule skipped (default 1). */
	count?: number;
}

export interface LinkClick {
	phoneNumberId: string;
	journey: string;
	step?: string;
	at: Date;
	/** The message whose link was clicked: with it, a message counts as clicked once. */
	messageId?: string;
}

export interface ReportCountsQuery {
	phoneNumberId: string;
	/** Journeys to read; absent or empty: all. */
	journeys?: string[];
	/** First and last UTC day (any time within the day). */
	from: Date;
	to: Date;
}

export interface ReportCount {
	journey: string;
	step: string;
	/** UTC day, YYYY-MM-DD. */
	day: string;
	/** `sent`, `delivered`, `read`, `failed`, `failed:<code>`, `replied`, `clicked`, `skipped:<rule>`,
	 * `billable:<category>:<type>:<market>` (parts percent-encoded; `-` when Meta sent none). */
	metric: string;
	count: number;
}

/** One stage a write may count: `bit` once per message, unless the record has one of `blockedBy`. */
export interface ReportStage {
	bit: number;
	blockedBy: number;
	metrics: string[];
}

/** Days since the epoch (UTC) of a time, and back. */
export const utcDay = (ms: number): number => Math.floor(ms / DAY_MS);
export const dayString = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

// Webhook strings may hold lone surrogates, which encodeURIComponent refuses: they are replaced, not fatal.
const part = (v: string | undefined): string =>
	v ? encodeURIComponent(wellFormed(v.toLowerCase())) : '-';

/** The billable metric of a status's pricing and market. */
export function billableMetric(p: { category?: string; type?: string }, market?: string): string {
	return `billable:${part(p.category)}:${part(p.type)}:${market ? encodeURIComponent(wellFormed(market.toUpperCase())) : '-'}`;
}

/**
 * What a status counts. Read (and played) imply delivered and sent, delivered implies sent (Meta skips `delivered`
 * for a message read in an open chat), so the funnel never narrows upwards. As for the latest status
 * (webhooks/status.ts), failed and delivered exclude each other: a late failure after delivery, or a delivery
 * notice after a failure, is not counted.
 */
export function reportStagesOfStatus(w: {
	status: StatusName;
	pricing?: { billable?: boolean; category?: string; type?: string };
	market?: string;
	errorCode?: number;
}): ReportStage[] {
	const stages: ReportStage[] = [{ bit: STAGE.sent, blockedBy: 0, metrics: ['sent'] }];
	const reached = STAGE.delivered | STAGE.read;
	if (w.status === 'failed') {
		const metrics = ['failed'];
		if (w.errorCode !== undefined) metrics.push(`failed:${w.errorCode}`);
		stages.push({ bit: STAGE.failed, blockedBy: reached, metrics });
	} else if (w.status !== 'sent') {
		stages.push({ bit: STAGE.delivered, blockedBy: STAGE.failed, metrics: ['delivered'] });
		if (w.status === 'read' || w.status === 'played')
			stages.push({ bit: STAGE.read, blockedBy: STAGE.failed, metrics: ['read'] });
	}
	if (w.pricing?.billable === true)
		stages.push({
			bit: STAGE.billable,
			blockedBy: 0,
			metrics: [billableMetric(w.pricing, w.market)],
		});
	return stages;
}

/** Applies stages to a record's bits: the new bits and the metrics to count. */
export function applyReportStages(
	bits: number,
	stages: ReportStage[],
): { bits: number; metrics: string[] } {
	const metrics: string[] = [];
	for (const s of stages) {
		if ((bits & s.bit) !== 0 || (bits & s.blockedBy) !== 0) continue;
		bits |= s.bit;
		metrics.push(...s.metrics);
	}
	return { bits, metrics };
}

export function checkReportWrite(
	w: JourneyReportWrite,
	phoneNumberId: string,
	at: number,
): CheckedReportWrite {
	const messageId = requireId(w.messageId, 'messageId');
	if (w.kind === 'journeyReply') return { kind: 'journeyReply', phoneNumberId, messageId, at };
	return {
		kind: 'journeyStatus',
		phoneNumberId,
		messageId,
		at,
		status: requireStatus(w.status),
		journey: requireId(w.journey, 'journey'),
		step: w.step ?? '',
		pricing: w.pricing,
		market: w.market,
		errorCode: w.errorCode,
	};
}

export function checkSends(
	sends: JourneySend[],
): Array<Omit<JourneySend, 'at'> & { at: number; step: string }> {
	if (!Array.isArray(sends)) throw new Error('recordSends needs an array of sends.');
	return sends.map((s) => ({
		phoneNumberId: requireId(s?.phoneNumberId, 'phoneNumberId'),
		messageId: requireId(s.messageId, 'messageId'),
		journey: requireId(s.journey, 'journey'),
		step: s.step ?? '',
		at: requireTime(s.at, 'at'),
	}));
}

export function checkPolicyDecision(p: SkippedSendRecord): {
	phoneNumberId: string;
	journey: string;
	step: string;
	metric: string;
	at: number;
	count: number;
} {
	const count = p?.count ?? 1;
	if (!Number.isInteger(count) || count < 1) throw new Error('count must be a whole number ≥ 1.');
	return {
		phoneNumberId: requireId(p.phoneNumberId, 'phoneNumberId'),
		journey: requireId(p.journey, 'journey'),
		step: p.step ?? '',
		metric: `skipped:${encodeURIComponent(wellFormed(requireId(p.rule, 'rule')))}`,
		at: requireTime(p.at, 'at'),
		count,
	};
}

export function checkLinkClick(p: LinkClick): {
	phoneNumberId: string;
	journey: string;
	step: string;
	at: number;
	messageId?: string;
} {
	return {
		phoneNumberId: requireId(p?.phoneNumberId, 'phoneNumberId'),
		journey: requireId(p.journey, 'journey'),
		step: p.step ?? '',
		at: requireTime(p.at, 'at'),
		messageId: p.messageId === undefined ? undefined : requireId(p.messageId, 'messageId'),
	};
}

export function checkReportQuery(p: ReportCountsQuery): {
	phoneNumberId: string;
	journeys?: Set<string>;
	fromDay: number;
	toDay: number;
} {
	const phoneNumberId = requireId(p?.phoneNumberId, 'phoneNumberId');
	const fromDay = utcDay(requireTime(p.from, 'from'));
	const toDay = utcDay(requireTime(p.to, 'to'));
	if (toDay < fromDay) throw new Error('to must not be before from.');
	if (p.journeys !== undefined && !Array.isArray(p.journeys))
		throw new Error('journeys must be an array of journey names.');
	const journeys = p.journeys?.length
		? new Set(p.journeys.map((j) => requireId(j, 'journeys[]')))
		: undefined;
	return { phoneNumberId, journeys, fromDay, toDay };
}

export function requireRetention(ms: unknown): number {
	if (ms === undefined) return REPORT_RETENTION_MS;
	if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < DAY_MS)
		throw new Error('reportRetentionMs must be at least one day (86,400,000 ms).');
	return ms;
}
