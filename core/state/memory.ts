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
	applyReportStages,
	checkLinkClick,
	checkPolicyDecision,
	checkReportQuery,
	checkSends,
	dayString,
	type CheckedReportWrite,
	type JourneySend,
	type LinkClick,
	type PolicyDecision,
	REPORT_MESSAGE_RETENTION_MS,
	type ReportCount,
	type ReportCountsQuery,
	reportStagesOfStatus,
	requireRetention,
	STAGE,
	utcDay,
} from './types';

export interface MemoryStateStoreOptions {
	/** How long report counters are kept after their day. Default 90 days. */
	reportRetentionMs?: number;
}

/** The number's id is encoded, so it holds no ':' and the pair reads back one way only (the id after it may hold any). */
const key = (phoneNumberId: string, id: string) => `${encodeURIComponent(phoneNumberId)}:${id}`;

export class MemoryStateStore implements JourneyStateStore {
	private readonly windows = new Map<string, { lastInbound: number; fepUntil: number }>();
	private readonly events = new Map<string, number>();
	private readonly statuses = new Map<string, { status: StatusName; at: number }>();
	private readonly optOuts = new Map<string, { optedOut: boolean; at: number; reason?: string }>();
	private readonly slots = new Map<string, number>();
	/** Report: per message (phone:wamid) its journey step and counted stages; counters per phone, step, day, metric. */
	private readonly reportMessages = new Map<
		string,
		{ journey: string; step: string; bits: number; at: number }
	>();
	private readonly reportCounts = new Map<string, number>();
	private readonly reportRetentionMs: number;

	constructor(options: MemoryStateStoreOptions = {}) {
		this.reportRetentionMs = requireRetention(options.reportRetentionMs);
	}

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
				else if (w.kind === 'journeyStatus' || w.kind === 'journeyReply') this.report(w);
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
		for (const [k, m] of this.reportMessages)
			if (m.at + REPORT_MESSAGE_RETENTION_MS <= t && this.reportMessages.delete(k)) n++;
		const lastDay = utcDay(t - this.reportRetentionMs);
		for (const k of this.reportCounts.keys())
			if (Number(k.split('\u001f')[3]) < lastDay && this.reportCounts.delete(k)) n++;
		return n;
	}

	// ---- Journey report aggregates ----

	private count(
		phone: string,
		journey: string,
		step: string,
		at: number,
		metric: string,
		n = 1,
	): void {
		const k = [phone, journey, step, utcDay(at), metric].join('\u001f');
		this.reportCounts.set(k, (this.reportCounts.get(k) ?? 0) + n);
	}

	private report(w: CheckedReportWrite): void {
		const k = key(w.phoneNumberId, w.messageId);
		let m = this.reportMessages.get(k);
		if (w.kind === 'journeyReply') {
			if (!m) return;
			const { bits, metrics } = applyReportStages(m.bits, [
				{ bit: STAGE.replied, blockedBy: 0, metrics: ['replied'] },
			]);
			m.bits = bits;
			for (const metric of metrics) this.count(w.phoneNumberId, m.journey, m.step, w.at, metric);
			return;
		}
		m ??= { journey: w.journey, step: w.step, bits: 0, at: w.at };
		const { bits, metrics } = applyReportStages(m.bits, reportStagesOfStatus(w));
		m.bits = bits;
		m.at = Math.max(m.at, w.at);
		this.reportMessages.set(k, m);
		for (const metric of metrics) this.count(w.phoneNumberId, m.journey, m.step, w.at, metric);
	}

	async recordSends(sends: JourneySend[]): Promise<void> {
		for (const s of checkSends(sends))
			this.report({
				kind: 'journeyStatus',
				phoneNumberId: s.phoneNumberId,
				messageId: s.messageId,
				status: 'sent',
				journey: s.journey,
				step: s.step,
				at: s.at,
			});
	}

	async recordPolicyDecision(p: PolicyDecision): Promise<void> {
		const d = checkPolicyDecision(p);
		this.count(d.phoneNumberId, d.journey, d.step, d.at, d.metric, d.count);
	}

	async recordLinkClick(p: LinkClick): Promise<void> {
		const c = checkLinkClick(p);
		if (c.messageId !== undefined) {
			const k = key(c.phoneNumberId, c.messageId);
			const m = this.reportMessages.get(k) ?? {
				journey: c.journey,
				step: c.step,
				bits: 0,
				at: c.at,
			};
			if ((m.bits & STAGE.clicked) !== 0) return;
			m.bits |= STAGE.clicked;
			this.reportMessages.set(k, m);
		}
		this.count(c.phoneNumberId, c.journey, c.step, c.at, 'clicked');
	}

	async listReportJourneys(p: { phoneNumberId: string }): Promise<string[]> {
		const phone = requireId(p?.phoneNumberId, 'phoneNumberId');
		const out = new Set<string>();
		for (const k of this.reportCounts.keys()) {
			const [kp, journey] = k.split('\u001f');
			if (kp === phone) out.add(journey);
		}
		return [...out].sort();
	}

	async getReportCounts(p: ReportCountsQuery): Promise<ReportCount[]> {
		const q = checkReportQuery(p);
		const out: ReportCount[] = [];
		for (const [k, count] of this.reportCounts) {
			const [phone, journey, step, day, metric] = k.split('\u001f');
			const d = Number(day);
			if (phone !== q.phoneNumberId || d < q.fromDay || d > q.toDay) continue;
			if (q.journeys && !q.journeys.has(journey)) continue;
			out.push({ journey, step, day: dayString(d), metric, count });
		}
		return out;
	}

	async close(): Promise<void> {
		// Nothing to release; the data goes with the object.
	}
}
