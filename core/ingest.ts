/**
 * What happens to normalised webhook events before they reach a journey: de-duplication (Meta retries for 7 days),
 * no status regression (statuses arrive out of order), and the side effects that keep the journey state store true
 * (inbound messages open the 24 h window, ad referrals the 72 h free entry point window, opt-outs are recorded).
 * Shared by the n8n trigger and the Node-RED node.
 */
import { countryOfWaId, isBsuid } from './phone';
import {
	accountSubject,
	type AccountFacts,
	type EventBatchItem,
	type EventWrite,
	type JourneyStateStore,
	type WaitLink,
} from './state';
import { webhookEventTime, type WebhookEvent, type WebhookEventKind } from './webhooks';

export type LateStatusHandling = 'drop' | 'flag';

export interface IngestOptions {
	/** Emit each event id once (durable for as long as an event is fresh: 8 days). */
	deduplicate: boolean;
	/** What to do with a status lower than one already recorded (delivered after read). */
	lateStatuses: LateStatusHandling;
	/** Record inbound messages as window openers. */
	recordWindows: boolean;
	/** Record opt-outs from user_preferences webhooks and from STOP keywords. */
	recordOptOuts: boolean;
	/** Inbound texts (trimmed, case-insensitive, whole message) that count as "stop marketing". */
	stopKeywords: string[];
	/** Event kinds to emit; side effects apply to every event regardless. Status kinds are "status:<name>". */
	emit: Set<string>;
	/**
	 * Who is reading (e.g. workflow id + node id). De-duplication and status order are kept per consumer, so two
	 * workflows fed the same webhooks (or two triggers behind one relay) each see every event once.
	 */
	consumer?: string;
	/**
	 * Keep every event to be emitted in this trigger's outbox (core/journeys/webhookOutbox.ts), in the same unit of
	 * work that records it, until the adapter says it was emitted: a crash after the 200 then loses nothing.
	 */
	outbox?: { trigger: string };
	/**
	 * Read each status's Send and Wait link with its writes where the store can (EventBatchItem.peekWait): the
	 * result's `waitLinks` then hold them, so the wait check needs no second round trip.
	 */
	peekWaits?: boolean;
}

export type IngestedEvent = WebhookEvent & {
	/** Set on a status that arrived after a higher one (only when lateStatuses is "flag"). */
	lateStatus?: boolean;
	previousStatus?: string;
	/** Set on an inbound message whose text is a stop keyword. */
	optOut?: boolean;
	/**
	 * Set when this event resumes a Send and Wait execution (its id; claimed, delivered by the resume dispatcher), so a
	 * status sink does not act twice.
	 */
	resumedExecutionId?: string;
	/**
	 * Set on an event emitted from the outbox after its first emission did not happen (the process died within the
	 * batch window). Rarely, it may have been emitted already (a crash just after the emission): `eventId` tells.
	 */
	recovered?: boolean;
};

export interface IngestResult {
	events: IngestedEvent[];
	duplicates: number;
	lateDropped: number;
	/** Inbound messages that name no sender (no `from`, no single contact): nothing to key a window on, no one to answer. */
	withoutSender: number;
	/** Events older than Meta's retry period (webhooks/freshness.ts): replays, acknowledged but neither recorded nor emitted. */
	stale: number;
	/**
	 * With `peekWaits`: the wait link of each of `events` (same index) as the store read it with the writes, null for
	 * none; undefined where the store did not read it (then it is read separately).
	 */
	waitLinks?: Array<WaitLink | null | undefined>;
}

export function parseStopKeywords(text: string): string[] {
	return text
		.split(/[,\n]/)
		.map((k) => k.trim().toLowerCase())
		.filter((k) => k.length > 0);
}

export function emitKey(event: WebhookEvent): string {
	return event.kind === 'status' ? `status:${event.status}` : event.kind;
}

export const ALL_EVENT_KINDS: readonly string[] = [
	'status:sent',
	'status:delivered',
	'status:read',
	'status:failed',
	'status:played',
	'message',
	'user_preference',
	'user_id_update',
	'template_status',
	'template_quality',
	'template_category',
	'link_click',
	'error',
	'phone_number_quality',
	'business_capability',
	'phone_number_name',
	'account_update',
] satisfies ReadonlyArray<`status:${string}` | WebhookEventKind>;

/** Scope of an event's keys: the business phone number, or the WABA for account-level events. */
function scopeOf(event: WebhookEvent): string {
	return 'phoneNumberId' in event && event.phoneNumberId
		? event.phoneNumberId
		: `waba:${event.wabaId}`;
}

/**
 * What an event adds to the journey report (counted in the same unit of work as its status): a status of a message
 * with a journey in its tracking data, or a reply to (or button tap on) a message. The store counts each stage once
 * per message, whichever consumer sees it first.
 */
function journeyReportWrites(event: WebhookEvent, phoneNumberId: string, at: Date): EventWrite[] {
	if (event.kind === 'message') {
		const repliedTo = event.context?.messageId;
		return repliedTo ? [{ kind: 'journeyReply', phoneNumberId, messageId: repliedTo, at }] : [];
	}
	if (event.kind !== 'status' || !event.tracking?.journey) return [];
	return [
		{
			kind: 'journeyStatus',
			phoneNumberId,
			messageId: event.messageId,
			status: event.status,
			at,
			journey: event.tracking.journey,
			step: event.tracking.step,
			pricing: event.pricing,
			market: countryOfWaId(event.recipientId),
			errorCode: event.errors?.[0]?.code,
		},
	];
}

/**
 * The store work of a whole delivery goes in one batch (one SQLite transaction, one Redis round trip per phase):
 * Meta sends up to 100 events per POST, and one lock and commit per event was most of the cost of ingesting them.
 */
export async function ingestWebhookEvents(
	events: WebhookEvent[],
	store: JourneyStateStore,
	options: IngestOptions,
): Promise<IngestResult> {
	const result: IngestResult = {
		events: [],
		duplicates: 0,
		lateDropped: 0,
		withoutSender: 0,
		stale: 0,
	};
	if (options.peekWaits) result.waitLinks = [];
	const now = Date.now();
	// Each event's time as written (never after its arrival); undefined for a stale one, which gets no store work.
	const times = events.map((e) =>
		'timestampUnix' in e && e.timestampUnix !== undefined
			? webhookEventTime(e.timestampUnix, now)
			: new Date(now),
	);
	if (events.length === 0) return result;
	const consumerKey = (id: string): string => (options.consumer ? `${options.consumer}|${id}` : id);
	// Each phone ↔ BSUID pair once per delivery: every status of a message repeats it.
	const learnt = new Set<string>();
	const identity = (
		writes: EventWrite[],
		phoneNumberId: string,
		at: Date,
		pair: { waId?: string; bsuid?: string; previousBsuid?: string; parentBsuid?: string },
	): void => {
		const waId = pair.waId && !isBsuid(pair.waId) ? pair.waId : undefined;
		const parentBsuid =
			pair.parentBsuid && isBsuid(pair.parentBsuid) && pair.parentBsuid !== pair.bsuid
				? pair.parentBsuid
				: undefined;
		if (!pair.bsuid || !isBsuid(pair.bsuid) || (!waId && !pair.previousBsuid && !parentBsuid))
			return;
		const id = `${phoneNumberId}|${waId ?? ''}|${pair.bsuid}|${pair.previousBsuid ?? ''}|${parentBsuid ?? ''}`;
		if (learnt.has(id)) return;
		learnt.add(id);
		writes.push({
			kind: 'identity',
			phoneNumberId,
			bsuid: pair.bsuid,
			...(waId ? { waId } : {}),
			...(pair.previousBsuid ? { previousBsuid: pair.previousBsuid } : {}),
			...(parentBsuid ? { parentBsuid } : {}),
			at,
		});
	};
	const outs: IngestedEvent[] = [];
	const items: EventBatchItem[] = events.map((event, i) => {
		const item = batchItem(event, i);
		const out = outs[i];
		// What will be emitted if the store finds it fresh (a late status only if flagged): kept in the outbox too.
		if (
			options.outbox &&
			times[i] &&
			options.emit.has(emitKey(event)) &&
			!(event.kind === 'message' && !event.from)
		)
			item.outbox = {
				trigger: options.outbox.trigger,
				id: event.eventId,
				entry: JSON.stringify(out),
				unlessLate: event.kind === 'status' && options.lateStatuses === 'drop',
			};
		return item;
	});
	function batchItem(event: WebhookEvent, i: number): EventBatchItem {
		const phoneNumberId = scopeOf(event);
		const out: IngestedEvent = { ...event };
		outs.push(out);
		const writes: EventWrite[] = [];
		const at = times[i];
		if (!at) return { writes };
		switch (event.kind) {
			case 'status': {
				// Statuses carry the customer's number (recipient_id) and BSUID (recipient_user_id, or the value's contacts
				// entry for a message sent to the number): one customer.
				identity(writes, phoneNumberId, at, {
					waId: event.recipientId,
					bsuid: event.recipientUserId,
					parentBsuid: event.recipientParentUserId,
				});
				// Journey rules: a status of a message whose send ended without an answer resolves its step (tracking `k=`).
				// Written before the status writes: the last write must stay the status record (seenBy below).
				if (event.tracking?.stepKey)
					writes.push({
						kind: 'stepStatus',
						phoneNumberId,
						stepKey: event.tracking.stepKey,
						messageId: event.messageId,
						status: event.status,
						at,
					});
				// The message's latest status is one shared fact; whether this consumer already saw a higher one is its own.
				writes.push({
					kind: 'status',
					phoneNumberId,
					messageId: event.messageId,
					status: event.status,
					at,
				});
				writes.push(...journeyReportWrites(event, phoneNumberId, at));
				if (options.consumer)
					writes.push({
						kind: 'status',
						phoneNumberId,
						messageId: consumerKey(event.messageId),
						status: event.status,
						at,
					});
				break;
			}
			case 'message': {
				// The sender's number and BSUID (from + from_user_id, or the contact entry's wa_id + user_id); a changed
				// number's system message pairs the new number with the new BSUID.
				identity(writes, phoneNumberId, at, {
					waId: event.from,
					bsuid: event.userId,
					parentBsuid: event.parentUserId,
				});
				if (event.system?.userId)
					identity(writes, phoneNumberId, at, {
						waId: event.system.newWaId ?? event.system.waId,
						bsuid: event.system.userId,
					});
				// A changed id is news about the customer, not a message from them: it opens no window.
				if (!event.from || event.system?.type === 'user_changed_user_id') break;
				if (options.recordWindows)
					writes.push({
						kind: 'inbound',
						phoneNumberId,
						waId: event.from,
						at,
						referral: event.referral !== undefined,
					});
				writes.push(...journeyReportWrites(event, phoneNumberId, at));
				const text = (event.text ?? event.button?.text ?? '').trim().toLowerCase();
				if (options.recordOptOuts && text && options.stopKeywords.includes(text)) {
					writes.push({
						kind: 'optOut',
						phoneNumberId,
						waId: event.from,
						optedOut: true,
						at,
						reason: `keyword:${text}`,
					});
					out.optOut = true;
				}
				break;
			}
			case 'user_id_update':
				// The old BSUID leads to the new one (and the number, when Meta shares it): the store keeps both.
				identity(writes, phoneNumberId, at, {
					waId: event.waId,
					bsuid: event.userId,
					previousBsuid: event.previousUserId,
					parentBsuid: event.parentUserId,
				});
				break;
			case 'user_preference':
				identity(writes, phoneNumberId, at, { waId: event.waId, bsuid: event.userId });
				if (options.recordOptOuts) {
					writes.push({
						kind: 'optOut',
						phoneNumberId,
						waId: event.waId,
						optedOut: event.value === 'stop',
						at,
						reason: `user_preferences:${event.category}`,
					});
				}
				break;
			default:
				writes.push(...accountWrites(event, at));
				break;
		}
		const peekWait =
			options.peekWaits && event.kind === 'status'
				? { phoneNumberId, messageId: event.messageId }
				: undefined;
		if (!options.deduplicate) return peekWait ? { writes, peekWait } : { writes };
		const remember = { phoneNumberId, eventId: consumerKey(event.eventId), at: new Date(now) };
		// A status event's id is its message and status, and the last write is that consumer's record of the message:
		// the store may keep "seen" there instead of writing an id record too (one random row per event, not two).
		return event.kind === 'status'
			? { remember, writes, seenBy: writes.map((w) => w.kind).lastIndexOf('status'), peekWait }
			: { remember, writes };
	}
	const outcomes = await store.applyEventBatch(items);
	events.forEach((event, i) => {
		if (!times[i]) {
			result.stale++;
			return;
		}
		const outcome = outcomes[i];
		if (!outcome.fresh) {
			result.duplicates++;
			return;
		}
		const out = outs[i];
		if (event.kind === 'message' && !event.from) {
			result.withoutSender++;
			return;
		}
		if (event.kind === 'status') {
			// The last status write is this consumer's own record when there is a consumer, else the shared one.
			const status = outcome.statuses[outcome.statuses.length - 1];
			if (status?.regression) {
				if (options.lateStatuses === 'drop') {
					result.lateDropped++;
					return;
				}
				out.lateStatus = true;
				out.previousStatus = status.previous;
			}
		}
		if (options.emit.has(emitKey(event))) {
			result.events.push(out);
			result.waitLinks?.push(outcome.waitLink);
		}
	});
	return result;
}

/**
 * Journey rules: what account webhooks tell the send gate (template paused or disabled, number flagged, its limit),
 * remembered in the same unit of work as the event's de-duplication. Subjects: state/types.ts accountSubject.
 */
export function accountWrites(event: WebhookEvent, at: Date): EventWrite[] {
	switch (event.kind) {
		case 'template_status':
			return [
				{
					kind: 'account',
					subject: accountSubject.template(event.wabaId, event.templateName, event.language),
					facts: { status: event.event.toUpperCase(), templateId: event.templateId },
					at,
				},
			];
		case 'phone_number_quality': {
			const facts: AccountFacts = { qualityEvent: event.event };
			// FLAGGED / UNFLAGGED: Meta's quality flag on the number (payloads before October 2025 portfolio limits).
			if (event.event === 'FLAGGED') facts.flagged = true;
			if (event.event === 'UNFLAGGED') facts.flagged = false;
			const tier = event.maxDailyConversationsPerBusiness ?? event.currentLimit;
			if (tier) facts.messagingLimitTier = tier;
			const writes: EventWrite[] = [
				{ kind: 'account', subject: accountSubject.phone(event.displayPhoneNumber), facts, at },
			];
			// The limit belongs to the portfolio: every number of the WABA shares it.
			if (event.maxDailyConversationsPerBusiness)
				writes.push({
					kind: 'account',
					subject: accountSubject.waba(event.wabaId),
					facts: { messagingLimitTier: event.maxDailyConversationsPerBusiness },
					at,
				});
			return writes;
		}
		case 'business_capability': {
			const limit = event.maxDailyConversationsPerBusiness ?? event.maxDailyConversationPerPhone;
			if (limit === undefined) return [];
			return [
				{
					kind: 'account',
					subject: accountSubject.waba(event.wabaId),
					facts: { messagingLimit: limit },
					at,
				},
			];
		}
		case 'account_update':
			return [
				{
					kind: 'account',
					subject: accountSubject.waba(event.wabaId),
					facts: {
						accountEvent: event.event,
						restricted:
							event.restrictions?.some((r) => r.type === 'RESTRICTED_BIZ_INITIATED_MESSAGING') ??
							false,
					},
					at,
				},
			];
		default:
			return [];
	}
}
