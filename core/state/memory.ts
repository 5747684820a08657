/**
 * In-process state store: for tests and for a single n8n process that wants no file at all.
 * JavaScript runs each method to completion, so read-modify-write is atomic without locks.
 */
import { canAdvanceStatus, type StatusName } from '../webhooks/status';
import {
	ACCOUNT_FACT_RETENTION_MS,
	type AccountFactRecord,
	type AccountFacts,
	type AdmissionResult,
	checkAdmission,
	FREQUENCY_RETENTION_MS,
	MESSAGING_LIMIT_PERIOD_MS,
	type SendAdmission,
	type SendLeaving,
	type SendSettlement,
	STEP_RETENTION_MS,
	type StepRecord,
	stepStatusOutcome,
	stepVerdict,
	checkEventBatch,
	checkOutboxClaim,
	checkOutboxDone,
	keepsOutboxEntry,
	type OutboxEntry,
	OUTBOX_RETENTION_MS,
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
	type SkippedSendRecord,
	REPORT_MESSAGE_RETENTION_MS,
	type ReportCount,
	type ReportCountsQuery,
	reportStagesOfStatus,
	requireRetention,
	STAGE,
	utcDay,
	checkIdentity,
	IDENTITY_RETENTION_MS,
	type CheckedIdentityWrite,
	type IdentityRecord,
	type IdentityWrite,
	identityUpdates,
	mergeIdentity,
} from './types';
import {
	checkOpenWaitLinksQuery,
	checkWaitLink,
	type WaitLink,
	type WaitLinkCursor,
	waitLinkPrunable,
	type WaitResumeClaim,
} from './waitLinks';

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
	/** Identities by phone number id + customer id (wa_id or BSUID). */
	private readonly identities = new Map<string, IdentityRecord>();
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
	/** Outbox: trigger → entry id → entry (Map order is insertion order; claims re-insert, so oldest stay first). */
	private readonly outbox = new Map<string, Map<string, OutboxEntry>>();
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

	async linkIdentity(p: Omit<IdentityWrite, 'kind'>): Promise<void> {
		this.identity(
			checkIdentity(p, requireId(p.phoneNumberId, 'phoneNumberId'), requireTime(p.at, 'at')),
		);
	}

	async getIdentity(p: { phoneNumberId: string; id: string }): Promise<IdentityRecord | undefined> {
		const record = this.identities.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.id, 'id')),
		);
		if (!record) return undefined;
		return record.predecessors
			? { ...record, predecessors: [...record.predecessors] }
			: { ...record };
	}

	private identity(w: CheckedIdentityWrite): void {
		for (const u of identityUpdates(w)) {
			const k = key(w.phoneNumberId, u.id);
			this.identities.set(k, mergeIdentity(this.identities.get(k), u, w.at));
		}
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
		const now = Date.now();
		return checkEventBatch(items, now).map((item) => {
			const r = item.remember;
			if (r && !this.remember(r.phoneNumberId, r.eventId, r.at))
				return { fresh: false, statuses: [] };
			const statuses: StatusRecordResult[] = [];
			for (const w of item.writes) {
				if (w.kind === 'status')
					statuses.push(this.status(w.phoneNumberId, w.messageId, w.status, w.at));
				else if (w.kind === 'inbound') this.inbound(w.phoneNumberId, w.waId, w.at, w.referral);
				else if (w.kind === 'optOut')
					this.optOut(w.phoneNumberId, w.waId, w.optedOut, w.at, w.reason);
				else if (w.kind === 'stepStatus')
					this.stepStatus(w.phoneNumberId, w.stepKey, w.messageId, w.status, w.at);
				else if (w.kind === 'journeyStatus' || w.kind === 'journeyReply') this.report(w);
				else if (w.kind === 'identity') this.identity(w);
				else this.accountFacts(w.subject, w.facts, w.at);
			}
			if (keepsOutboxEntry(item, statuses)) {
				const { trigger, id, entry } = item.outbox!;
				const entries = this.outbox.get(trigger) ?? new Map<string, OutboxEntry>();
				this.outbox.set(trigger, entries);
				entries.delete(id);
				entries.set(id, { id, entry, at: now });
			}
			return { fresh: true, statuses };
		});
	}

	async claimOutbox(p: {
		trigger: string;
		olderThan: number;
		now?: number;
		limit?: number;
	}): Promise<OutboxEntry[]> {
		const { trigger, olderThan, now, limit } = checkOutboxClaim(p);
		const entries = this.outbox.get(trigger);
		if (!entries) return [];
		const claimed = [...entries.values()]
			.filter((e) => e.at <= olderThan)
			.sort((a, b) => a.at - b.at)
			.slice(0, limit);
		for (const e of claimed) {
			entries.delete(e.id);
			entries.set(e.id, { ...e, at: now });
		}
		return claimed.map((e) => ({ ...e }));
	}

	async outboxDone(p: { trigger: string; ids: string[] }): Promise<number> {
		const { trigger, ids } = checkOutboxDone(p);
		const entries = this.outbox.get(trigger);
		if (!entries) return 0;
		let n = 0;
		for (const id of ids) if (entries.delete(id)) n++;
		if (entries.size === 0) this.outbox.delete(trigger);
		return n;
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
		for (const [trigger, entries] of this.outbox) {
			for (const [id, e] of entries) if (e.at + OUTBOX_RETENTION_MS <= t && entries.delete(id)) n++;
			if (entries.size === 0) this.outbox.delete(trigger);
		}
		for (const [k, next] of this.slots) if (next <= t && this.slots.delete(k)) n++;
		for (const [k, r] of this.identities)
			if (r.at + IDENTITY_RETENTION_MS <= t && this.identities.delete(k)) n++;
		for (const [k, m] of this.reportMessages)
			if (m.at + REPORT_MESSAGE_RETENTION_MS <= t && this.reportMessages.delete(k)) n++;
		const lastDay = utcDay(t - this.reportRetentionMs);
		for (const k of this.reportCounts.keys())
			if (Number(k.split('\u001f')[3]) < lastDay && this.reportCounts.delete(k)) n++;
		for (const [k, link] of this.waitLinks)
			if (waitLinkPrunable(link, t) && this.waitLinks.delete(k)) {
				n++;
				const c = key(link.phoneNumberId, link.waId);
				if (this.waitByCustomer.get(c) === link.messageId) this.waitByCustomer.delete(c);
			}
		n += this.pruneRules(t);
		return n;
	}

	// --- Journey rules (issue #14) ---------------------------------------------------------------------------

	private readonly steps = new Map<string, StepRecord>();
	/** phone:waId:category → [token, at] of counted sends. */
	private readonly frequency = new Map<string, Array<{ token: string; at: number }>>();
	/** scope → waId → last counted business-initiated send (epoch ms). */
	private readonly recipients = new Map<string, Map<string, number>>();
	/** scope → every time set in `recipients` with its waId, oldest first: expired ones are found without a scan. */
	private readonly recipientTimes = new Map<string, TimeHeap>();

	/** Sets a recipient's time in `seen` and remembers it in the scope's heap. */
	private setRecipient(scope: string, seen: Map<string, number>, waId: string, at: number): void {
		seen.set(waId, at);
		let heap = this.recipientTimes.get(scope);
		if (!heap) this.recipientTimes.set(scope, (heap = new TimeHeap()));
		heap.push(at, waId);
	}

	/**
	 * Deletes the scope's recipients whose time is at or before `from` (each heap entry whose time is still the
	 * recipient's), then the count is the map's size: the cost follows the expired entries, not the last 24 h.
	 */
	private expireRecipients(scope: string, seen: Map<string, number>, from: number): void {
		const heap = this.recipientTimes.get(scope);
		while (heap && heap.size > 0 && heap.peekAt() <= from) {
			const { at, id } = heap.pop();
			if (seen.get(id) === at) seen.delete(id);
		}
	}
	private readonly account = new Map<string, AccountFactRecord>();

	/** Runs to completion without awaiting: the check and the writes are one unit. */
	async admitSend(p: SendAdmission): Promise<AdmissionResult> {
		const { phone, waId, token, now } = checkAdmission(p);
		const stepKey = p.step ? key(phone, p.step.key) : undefined;
		if (p.step && stepKey) {
			for (const k of [p.step.key, ...(p.step.otherKeys ?? [])]) {
				const verdict = stepVerdict(this.steps.get(key(phone, k)), p.step, now);
				if (verdict) return verdict;
			}
		}
		const ids = [waId, ...(p.otherIds ?? [])];
		let frequencyCount: number | undefined;
		const fKey = p.frequency ? key(phone, `${waId}:${p.frequency.category}`) : undefined;
		if (p.frequency && fKey) {
			const from = now - p.frequency.periodMs;
			const category = p.frequency.category;
			const ats = ids
				.flatMap((id) => this.frequency.get(key(phone, `${id}:${category}`)) ?? [])
				.map((e) => e.at)
				.filter((at) => at > from)
				.sort((a, b) => a - b);
			if (ats.length >= p.frequency.max) {
				return {
					admitted: false,
					rule: 'frequency',
					count: ats.length,
					limit: p.frequency.max,
					resumeAt: ats[ats.length - p.frequency.max] + p.frequency.periodMs,
				};
			}
			frequencyCount = ats.length + 1;
		}
		const businessInitiated = p.template && !ids.some((id) => this.windowOpen(phone, id, now));
		let recipients: number | undefined;
		let recipientPrevAt = 0;
		const limit = p.messagingLimit;
		if (limit && businessInitiated) {
			const from = now - MESSAGING_LIMIT_PERIOD_MS;
			const seen = this.recipients.get(limit.scope) ?? new Map<string, number>();
			this.expireRecipients(limit.scope, seen, from);
			const count = seen.size;
			const already = (seen.get(waId) ?? 0) > from;
			// Counted under another of the customer's ids (a send before the pairing): one person, no refusal. The entry
			// under the key is added all the same (the stored count may hold the customer twice: the safe side).
			const counted = already || ids.some((id) => (seen.get(id) ?? 0) > from);
			if (!counted && limit.limit !== undefined && count >= limit.limit)
				return { admitted: false, rule: 'messaging_limit', count, limit: limit.limit };
			recipientPrevAt = seen.get(waId) ?? 0;
			if (!p.dryRun) {
				this.setRecipient(limit.scope, seen, waId, now);
				this.recipients.set(limit.scope, seen);
			}
			recipients = already ? count : count + 1;
		}
		if (p.dryRun)
			return {
				admitted: true,
				businessInitiated,
				frequencyCount,
				recipients,
				recipientPrevAt,
				at: now,
			};
		if (p.step && stepKey) this.steps.set(stepKey, { state: 'pending', token, claimedAt: now });
		if (p.frequency && fKey) {
			const list = this.frequency.get(fKey) ?? [];
			list.push({ token, at: now });
			this.frequency.set(fKey, list);
		}
		return {
			admitted: true,
			businessInitiated,
			frequencyCount,
			recipients,
			recipientPrevAt,
			at: now,
		};
	}

	private windowOpen(phone: string, waId: string, now: number): boolean {
		const w = this.windows.get(key(phone, waId));
		return windowFrom(phone, waId, w?.lastInbound ?? 0, w?.fepUntil ?? 0, now).open;
	}

	async markSendLeaving(p: SendLeaving): Promise<boolean> {
		const k = key(requireId(p?.phoneNumberId, 'phoneNumberId'), requireId(p.stepKey, 'stepKey'));
		const token = requireId(p.token, 'token');
		const now = requireTime(p.now, 'now');
		const record = this.steps.get(k);
		if (!record || record.token !== token || record.state !== 'pending') return false;
		this.steps.set(k, { ...record, leftAt: now });
		return true;
	}

	async settleSend(p: SendSettlement): Promise<void> {
		const phone = requireId(p?.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const token = requireId(p.token, 'token');
		const now = requireTime(p.now, 'now');
		const stepKey = p.stepKey ? key(phone, p.stepKey) : undefined;
		const record = stepKey ? this.steps.get(stepKey) : undefined;
		const owned = record !== undefined && record.token === token && record.state !== 'sent';
		if (p.outcome === 'sent') {
			if (stepKey && owned)
				this.steps.set(stepKey, { ...record, state: 'sent', messageId: p.messageId, sentAt: now });
			return;
		}
		if (p.outcome === 'unknown') {
			if (stepKey && owned) this.steps.set(stepKey, { ...record, state: 'unknown' });
			return;
		}
		if (stepKey && owned) this.steps.delete(stepKey);
		if (p.frequency) {
			const fKey = key(phone, `${waId}:${p.frequency.category}`);
			const list = this.frequency.get(fKey)?.filter((e) => e.token !== token);
			if (list) this.frequency.set(fKey, list);
		}
		const limit = p.messagingLimit;
		if (limit) {
			const seen = this.recipients.get(limit.scope);
			if (seen?.get(waId) === limit.at) {
				if (limit.prevAt > 0) this.setRecipient(limit.scope, seen, waId, limit.prevAt);
				else seen.delete(waId);
			}
		}
	}

	async getStep(p: { phoneNumberId: string; stepKey: string }): Promise<StepRecord | undefined> {
		const record = this.steps.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.stepKey, 'stepKey')),
		);
		return record ? { ...record } : undefined;
	}

	async getAccountFacts(subjects: string[]): Promise<Record<string, AccountFactRecord>> {
		const out: Record<string, AccountFactRecord> = {};
		for (const s of subjects) {
			const r = this.account.get(s);
			if (r) out[s] = { facts: { ...r.facts }, at: r.at };
		}
		return out;
	}

	private stepStatus(
		phone: string,
		stepKey: string,
		messageId: string,
		status: StatusName,
		at: number,
	): void {
		const k = key(phone, stepKey);
		const record = this.steps.get(k);
		if (!record || record.state === 'sent') return;
		if (stepStatusOutcome(status) === 'sent')
			this.steps.set(k, { ...record, state: 'sent', messageId, sentAt: at });
		else this.steps.delete(k);
	}

	private accountFacts(subject: string, facts: AccountFacts, at: number): void {
		const cur = this.account.get(subject);
		if (cur && cur.at > at) return;
		this.account.set(subject, { facts: { ...cur?.facts, ...facts }, at });
	}

	private pruneRules(t: number): number {
		let n = 0;
		for (const [k, r] of this.steps)
			if (Math.max(r.claimedAt, r.sentAt ?? 0) + STEP_RETENTION_MS <= t && this.steps.delete(k))
				n++;
		for (const [k, list] of this.frequency) {
			const kept = list.filter((e) => e.at + FREQUENCY_RETENTION_MS > t);
			n += list.length - kept.length;
			if (kept.length === 0) this.frequency.delete(k);
			else this.frequency.set(k, kept);
		}
		for (const [scope, seen] of this.recipients) {
			for (const [id, at] of seen) if (at + MESSAGING_LIMIT_PERIOD_MS <= t && seen.delete(id)) n++;
			if (seen.size === 0) {
				this.recipients.delete(scope);
				this.recipientTimes.delete(scope);
			}
		}
		for (const [k, r] of this.account)
			if (r.at + ACCOUNT_FACT_RETENTION_MS <= t && this.account.delete(k)) n++;
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

	async recordPolicyDecision(p: SkippedSendRecord): Promise<void> {
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

	// --- Wait links (Send and Wait for Response) ---

	async putWaitLink(link: WaitLink): Promise<void> {
		// A link put again is open again, as in the other backends.
		const { claimedAt: _c, resume: _r, leaseUntil: _l, endedAt: _e, ...l } = checkWaitLink(link);
		this.waitLinks.set(key(l.phoneNumberId, l.messageId), l);
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

	async claimWaitLink(
		p: { phoneNumberId: string; messageId: string; now?: number } & Partial<WaitResumeClaim>,
	): Promise<WaitLink | undefined> {
		const k = key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId'));
		const link = this.waitLinks.get(k);
		const now = p.now ?? Date.now();
		if (!link || link.claimedAt !== undefined || link.endedAt !== undefined) return undefined;
		if (link.expiresAt <= now) return undefined;
		link.claimedAt = now;
		if (p.resume !== undefined) {
			link.resume = p.resume;
			link.leaseUntil = p.leaseUntil ?? now;
		}
		return { ...link };
	}

	async leaseWaitResumes(p: {
		now: number;
		leaseUntil: number;
		limit: number;
	}): Promise<WaitLink[]> {
		const out: WaitLink[] = [];
		for (const link of this.waitLinks.values()) {
			if (out.length >= p.limit) break;
			if (link.resume === undefined || link.endedAt !== undefined) continue;
			if (link.claimedAt === undefined || link.expiresAt <= p.now) continue;
			if ((link.leaseUntil ?? 0) > p.now) continue;
			link.leaseUntil = p.leaseUntil;
			out.push({ ...link });
		}
		return out;
	}

	async renewWaitResume(p: {
		phoneNumberId: string;
		messageId: string;
		leaseUntil: number;
	}): Promise<boolean> {
		const link = this.waitLinks.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId')),
		);
		if (!link || link.resume === undefined || link.endedAt !== undefined) return false;
		link.leaseUntil = p.leaseUntil;
		return true;
	}

	async endWaitLink(p: {
		phoneNumberId: string;
		messageId: string;
		now?: number;
	}): Promise<boolean> {
		const link = this.waitLinks.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId')),
		);
		if (!link || link.endedAt !== undefined) return false;
		link.endedAt = p.now ?? Date.now();
		return true;
	}

	async releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void> {
		const link = this.waitLinks.get(
			key(requireId(p.phoneNumberId, 'phoneNumberId'), requireId(p.messageId, 'messageId')),
		);
		if (link) {
			delete link.claimedAt;
			delete link.resume;
			delete link.leaseUntil;
			delete link.endedAt;
		}
	}

	async listOpenWaitLinks(p: {
		resumeUrl: string;
		limit: number;
		after?: WaitLinkCursor;
	}): Promise<WaitLink[]> {
		const q = checkOpenWaitLinksQuery(p);
		// Order: expiresAt, then phone number and wamid (the cursor's order); a scan is fine in one process's memory.
		const order = (a: WaitLinkCursor, b: WaitLinkCursor): number =>
			a.expiresAt - b.expiresAt ||
			(a.phoneNumberId < b.phoneNumberId ? -1 : a.phoneNumberId > b.phoneNumberId ? 1 : 0) ||
			(a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
		const open = [...this.waitLinks.values()].filter(
			(l) =>
				l.resumeUrl === q.resumeUrl &&
				l.endedAt === undefined &&
				(q.after === undefined || order(l, q.after) > 0),
		);
		return open
			.sort(order)
			.slice(0, q.limit)
			.map((l) => ({ ...l }));
	}

	async close(): Promise<void> {
		// Nothing to release; the data goes with the object.
	}
}

/** A binary min-heap of (time, id) pairs. */
class TimeHeap {
	private readonly ats: number[] = [];
	private readonly ids: string[] = [];

	get size(): number {
		return this.ats.length;
	}

	peekAt(): number {
		return this.ats[0];
	}

	push(at: number, id: string): void {
		let i = this.ats.length;
		this.ats.push(at);
		this.ids.push(id);
		while (i > 0) {
			const parent = (i - 1) >> 1;
			if (this.ats[parent] <= at) break;
			this.move(parent, i);
			i = parent;
		}
		this.ats[i] = at;
		this.ids[i] = id;
	}

	pop(): { at: number; id: string } {
		const top = { at: this.ats[0], id: this.ids[0] };
		const at = this.ats.pop()!;
		const id = this.ids.pop()!;
		const n = this.ats.length;
		if (n > 0) {
			let i = 0;
			for (;;) {
				const l = 2 * i + 1;
				if (l >= n) break;
				const c = l + 1 < n && this.ats[l + 1] < this.ats[l] ? l + 1 : l;
				if (this.ats[c] >= at) break;
				this.move(c, i);
				i = c;
			}
			this.ats[i] = at;
			this.ids[i] = id;
		}
		return top;
	}

	private move(from: number, to: number): void {
		this.ats[to] = this.ats[from];
		this.ids[to] = this.ids[from];
	}
}
