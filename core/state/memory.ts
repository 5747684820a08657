/**
 * In-process state store: for tests and for a single n8n process that wants no file at all.
 * JavaScript runs each method to completion, so read-modify-write is atomic without locks.
 */
import { canAdvanceStatus, type StatusName } from '../webhooks/status';
import {
	checkEventBatch,
	EVENT_HORIZON_MS,
	type EventBatchItem,
	type EventBatchResult,
	FREE_ENTRY_POINT_MS,
	type ConversationWindow,
	type JourneyStateStore,
	type StatusRecordResult,
	statusOutcome,
	requireId,
	readableWindowTimes,
	requireInterval,
	requireTime,
	STATUS_RETENTION_MS,
	WINDOW_RETENTION_MS,
	windowFrom,
	windowTimeLimits,
} from './types';
import { checkWaitLink, type WaitLink, waitLinkPrunable } from './waitLinks';

/** The number's id is encoded, so it holds no ':' and the pair reads back one way only (the id after it may hold any). */
const key = (phoneNumberId: string, id: string) => `${encodeURIComponent(phoneNumberId)}:${id}`;

export class MemoryStateStore implements JourneyStateStore {
	private readonly windows = new Map<string, { lastInbound: number; fepUntil: number }>();
	private readonly events = new Map<string, number>();
	private readonly statuses = new Map<string, { status: StatusName; at: number }>();
	private readonly optOuts = new Map<string, { optedOut: boolean; at: number; reason?: string }>();
	private readonly slots = new Map<string, number>();
	private readonly waitLinks = new Map<string, WaitLink>();
	/** Customer → the wamid of their latest wait. */
	private readonly waitByCustomer = new Map<string, string>();

	async recordInbound(p: {
		phoneNumberId: string;
		waId: string;
		at: Date;
		referral?: boolean;
		now?: Date;
	}): Promise<ConversationWindow> {
		const phone = requireId(p.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const at = requireTime(p.at, 'at');
		const next = this.inbound(phone, waId, at, p.referral === true);
		const now = p.now ? requireTime(p.now, 'now') : Math.max(Date.now(), at);
		return windowFrom(phone, waId, next.lastInbound, next.fepUntil, now);
	}

	private inbound(
		phone: string,
		waId: string,
		at: number,
		referral: boolean,
	): { lastInbound: number; fepUntil: number } {
		const k = key(phone, waId);
		const stored = this.windows.get(k);
		const readable = readableWindowTimes(
			stored?.lastInbound ?? 0,
			stored?.fepUntil ?? 0,
			Date.now(),
		);
		const prev = { lastInbound: readable.lastInbound, fepUntil: readable.freeEntryPoint };
		const next = {
			lastInbound: Math.max(prev.lastInbound, at),
			fepUntil: referral ? Math.max(prev.fepUntil, at + FREE_ENTRY_POINT_MS) : prev.fepUntil,
		};
		this.windows.set(k, next);
		return next;
	}

	async getWindow(p: {
		phoneNumberId: string;
		waId: string;
		now?: Date;
	}): Promise<ConversationWindow> {
		const phone = requireId(p.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const w = this.windows.get(key(phone, waId));
		const now = p.now ? requireTime(p.now, 'now') : Date.now();
		return windowFrom(phone, waId, w?.lastInbound ?? 0, w?.fepUntil ?? 0, now);
	}

	private remember(phone: string, eventId: string, at: number): boolean {
		const k = key(phone, eventId);
		const expires = this.events.get(k);
		if (expires !== undefined && expires > at) return false;
		this.events.set(k, at + EVENT_HORIZON_MS);
		return true;
	}

	private status(
		phone: string,
		messageId: string,
		status: StatusName,
		at: number,
	): StatusRecordResult {
		const k = key(phone, messageId);
		const previous = this.statuses.get(k)?.status;
		const applied = canAdvanceStatus(previous, status);
		if (applied) this.statuses.set(k, { status, at });
		return statusOutcome(previous, status, applied);
	}

	async getStatus(p: {
		phoneNumberId: string;
		messageId: string;
	}): Promise<StatusName | undefined> {
		return this.statuses.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId')),
		)?.status;
	}

	async setOptOut(p: {
		phoneNumberId: string;
		waId: string;
		optedOut: boolean;
		at: Date;
		reason?: string;
	}): Promise<void> {
		const phone = requireId(p.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		this.optOut(phone, waId, p.optedOut === true, requireTime(p.at, 'at'), p.reason);
	}

	private optOut(
		phone: string,
		waId: string,
		optedOut: boolean,
		at: number,
		reason: string | undefined,
	): void {
		const k = key(phone, waId);
		const cur = this.optOuts.get(k);
		if (cur && cur.at > at) return;
		this.optOuts.set(k, { optedOut, at, reason });
	}

	/** Runs to completion without awaiting, so no other call interleaves with the batch. */
	async applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]> {
		return checkEventBatch(items).map((item) => {
			const r = item.remember;
			if (r && !this.remember(r.phoneNumberId, r.eventId, r.at))
				return { fresh: false, statuses: [] };
			const statuses: StatusRecordResult[] = [];
			for (const w of item.writes) {
				if (w.kind === 'status')
					statuses.push(this.status(w.phoneNumberId, w.messageId, w.status, w.at));
				else if (w.kind === 'inbound') this.inbound(w.phoneNumberId, w.waId, w.at, w.referral);
				else this.optOut(w.phoneNumberId, w.waId, w.optedOut, w.at, w.reason);
			}
			return { fresh: true, statuses };
		});
	}

	async isOptedOut(p: { phoneNumberId: string; waId: string }): Promise<boolean> {
		return (
			this.optOuts.get(key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.waId, 'waId')))
				?.optedOut ?? false
		);
	}

	async reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number> {
		const k = requireId(p.key, 'key');
		const interval = requireInterval(p.intervalMs);
		const now = p.now ?? Date.now();
		const slot = Math.max(now, this.slots.get(k) ?? 0);
		this.slots.set(k, slot + interval);
		return slot;
	}

	async prune(now: Date = new Date()): Promise<number> {
		const t = requireTime(now, 'now');
		let n = 0;
		const limit = windowTimeLimits(t).lastInbound;
		for (const [k, w] of this.windows) {
			const expired = Math.max(w.lastInbound + WINDOW_RETENTION_MS, w.fepUntil) <= t;
			if ((expired || w.lastInbound > limit) && this.windows.delete(k)) n++;
		}
		for (const [k, expires] of this.events) if (expires <= t && this.events.delete(k)) n++;
		for (const [k, s] of this.statuses)
			if (s.at + STATUS_RETENTION_MS <= t && this.statuses.delete(k)) n++;
		for (const [k, next] of this.slots) if (next <= t && this.slots.delete(k)) n++;
		for (const [k, link] of this.waitLinks)
			if (waitLinkPrunable(link, t) && this.waitLinks.delete(k)) {
				n++;
				const c = key(link.phoneNumberId, link.waId);
				if (this.waitByCustomer.get(c) === link.messageId) this.waitByCustomer.delete(c);
			}
		return n;
	}

	// --- Wait links (Send and Wait for Response) ---

	async putWaitLink(link: WaitLink): Promise<void> {
		const l = checkWaitLink(link);
		this.waitLinks.set(key(l.phoneNumberId, l.messageId), { ...l });
		this.waitByCustomer.set(key(l.phoneNumberId, l.waId), l.messageId);
	}

	async getWaitLink(p: {
		phoneNumberId: string;
		messageId?: string;
		waId?: string;
	}): Promise<WaitLink | undefined> {
		const phone = requireId(p.phoneNumberId, 'phoneNumberId');
		const messageId =
			p.messageId ?? this.waitByCustomer.get(key(phone, requireId(p.waId, 'messageId or waId')));
		const link = messageId === undefined ? undefined : this.waitLinks.get(key(phone, messageId));
		return link ? { ...link } : undefined;
	}

	async claimWaitLink(p: {
		phoneNumberId: string;
		messageId: string;
		now?: number;
	}): Promise<WaitLink | undefined> {
		const k = key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId'));
		const link = this.waitLinks.get(k);
		const now = p.now ?? Date.now();
		if (!link || link.claimedAt !== undefined || link.expiresAt <= now) return undefined;
		link.claimedAt = now;
		return { ...link };
	}

	async releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void> {
		const link = this.waitLinks.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId')),
		);
		if (link) delete link.claimedAt;
	}

	async close(): Promise<void> {
		// Nothing to release; the data goes with the object.
	}
}
