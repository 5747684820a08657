/**
 * The journey report part of the JourneyStateStore contract, run over every backend by state.contract.ts: per
 * journey, step and UTC day counters, each stage counted once per message whatever Meta repeats or reorders.
 * Meta sends statuses "in no guaranteed order" and may skip delivered for a message read in an open chat:
 * https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples#message-status-updates
 */
import type { EventWrite, JourneyStateStore, ReportCount, StatusName } from '../../core/state';
import type { StateStoreHarness } from './state.contract';

const DAY = 86_400_000;
/** Recent times (Redis keeps counters only for the retention period from now): noon UTC five days ago. */
const BASE = (Math.floor(Date.now() / DAY) - 5) * DAY + 12 * 3_600_000;
const at = (offsetMs: number) => new Date(BASE + offsetMs);
const dayOf = (offsetMs: number) => at(offsetMs).toISOString().slice(0, 10);
const PN = '106540352242922';

/** Counts summed over days, as `step metric` → n, for one journey. */
function totals(rows: ReportCount[], journey = 'spring-sale'): Record<string, number> {
	const out: Record<string, number> = {};
	for (const r of rows.filter((x) => x.journey === journey)) {
		const k = `${r.step} ${r.metric}`;
		out[k] = (out[k] ?? 0) + r.count;
	}
	return out;
}

export function reportContract(name: string, harness: StateStoreHarness): void {
	describe(`${name}: journey report aggregates`, () => {
		let store: JourneyStateStore;
		const opened: JourneyStateStore[] = [];
		beforeEach(async () => {
			store = await harness.create();
			opened.push(store);
		});
		afterEach(async () => {
			for (const s of opened.splice(0).reverse()) await s.close();
		});

		const status = (
			messageId: string,
			s: StatusName,
			t: number,
			extra: Partial<Extract<EventWrite, { kind: 'journeyStatus' }>> = {},
		): EventWrite => ({
			kind: 'journeyStatus',
			phoneNumberId: PN,
			messageId,
			status: s,
			at: at(t),
			journey: 'spring-sale',
			step: 'reminder-1',
			...extra,
		});
		const apply = (s: JourneyStateStore, ...writes: EventWrite[]) =>
			s.applyEventBatch(writes.map((w) => ({ writes: [w] })));
		const read = (s = store, from = -DAY, to = 2 * DAY) =>
			s.getReportCounts({ phoneNumberId: PN, from: at(from), to: at(to) });

		it('counts each stage once per message under duplicates and reordering (read before delivered, sent last)', async () => {
			await store.recordSends([
				{
					phoneNumberId: PN,
					messageId: 'wamid.A',
					journey: 'spring-sale',
					step: 'reminder-1',
					at: at(0),
				},
			]);
			await apply(
				store,
				status('wamid.A', 'read', 3000),
				status('wamid.A', 'delivered', 2000),
				status('wamid.A', 'delivered', 2000),
				status('wamid.A', 'sent', 1000),
				status('wamid.A', 'read', 3000),
			);
			// A message read in an open chat without a delivered webhook still counts as delivered.
			await apply(store, status('wamid.B', 'read', 5000));
			expect(totals(await read())).toEqual({
				'reminder-1 sent': 2,
				'reminder-1 delivered': 2,
				'reminder-1 read': 2,
			});
		});

		it('counts a failure after sent with its error code, and neither a late failure after delivery nor a delivery after a failure', async () => {
			await apply(
				store,
				status('wamid.F', 'sent', 0),
				status('wamid.F', 'failed', 1000, { errorCode: 131050 }),
				status('wamid.F', 'delivered', 2000),
				status('wamid.F', 'failed', 1000, { errorCode: 131050 }),
				status('wamid.D', 'delivered', 0),
				status('wamid.D', 'failed', 1000, { errorCode: 131026 }),
			);
			expect(totals(await read())).toEqual({
				'reminder-1 sent': 2,
				'reminder-1 failed': 1,
				'reminder-1 failed:131050': 1,
				'reminder-1 delivered': 1,
			});
		});

		it('a message recorded at send has no status until Meta reports one; its first status (even failed) is new, not a repeat', async () => {
			const send = (messageId: string) => ({
				phoneNumberId: PN,
				messageId,
				journey: 'spring-sale',
				step: 'reminder-1',
				at: at(0),
			});
			await store.recordSends([send('wamid.N1'), send('wamid.N2')]);
			expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.N1' })).toBeUndefined();
			const first = (messageId: string, s: StatusName) => ({
				remember: { phoneNumberId: PN, eventId: `status:${messageId}:${s}`, at: at(1000) },
				writes: [
					{ kind: 'status' as const, phoneNumberId: PN, messageId, status: s, at: at(1000) },
					status(messageId, s, 1000, s === 'failed' ? { errorCode: 131026 } : {}),
				],
				seenBy: 0,
			});
			const results = await store.applyEventBatch([
				first('wamid.N1', 'sent'),
				first('wamid.N2', 'failed'),
			]);
			expect(results).toEqual([
				{ fresh: true, statuses: [{ applied: true, regression: false }] },
				{ fresh: true, statuses: [{ applied: true, regression: false }] },
			]);
			expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.N2' })).toBe('failed');
			expect(totals(await read())).toEqual({
				'reminder-1 sent': 2,
				'reminder-1 failed': 1,
				'reminder-1 failed:131026': 1,
			});
		});

		it('counts a billable message once by pricing category, type and market', async () => {
			const pricing = { billable: true, category: 'marketing', type: 'regular' };
			await apply(
				store,
				status('wamid.P1', 'sent', 0, { pricing, market: 'US' }),
				status('wamid.P1', 'delivered', 1000, { pricing, market: 'US' }),
				status('wamid.P2', 'sent', 0, { pricing, market: 'DE' }),
				status('wamid.P3', 'sent', 0, { pricing: { billable: false, category: 'service' } }),
			);
			const t = totals(await read());
			expect(t['reminder-1 billable:marketing:regular:US']).toBe(1);
			expect(t['reminder-1 billable:marketing:regular:DE']).toBe(1);
			expect(Object.keys(t).filter((k) => k.includes('billable'))).toHaveLength(2);
		});

		it("counts a reply to a message of the step once, and nothing for a reply to a message it doesn't know", async () => {
			await store.recordSends([
				{
					phoneNumberId: PN,
					messageId: 'wamid.R',
					journey: 'spring-sale',
					step: 'offer',
					at: at(0),
				},
			]);
			const reply = (messageId: string): EventWrite => ({
				kind: 'journeyReply',
				phoneNumberId: PN,
				messageId,
				at: at(60_000),
			});
			await apply(store, reply('wamid.R'), reply('wamid.R'), reply('wamid.UNKNOWN'));
			expect(totals(await read())).toEqual({ 'offer sent': 1, 'offer replied': 1 });
		});

		it('counts a status once when two consumers (triggers), on two connections, both record it', async () => {
			const other = await harness.connect(store);
			opened.push(other);
			await Promise.all(
				[store, other, store, other].map((s) => apply(s, status('wamid.C', 'delivered', 1000))),
			);
			expect(totals(await read(other))).toEqual({
				'reminder-1 sent': 1,
				'reminder-1 delivered': 1,
			});
		});

		it('counts policy skips and link clicks (once per message when the message is named)', async () => {
			await store.recordPolicyDecision({
				phoneNumberId: PN,
				journey: 'spring-sale',
				step: 'offer',
				rule: 'optOut',
				at: at(0),
			});
			await store.recordPolicyDecision({
				phoneNumberId: PN,
				journey: 'spring-sale',
				step: 'offer',
				rule: 'optOut',
				at: at(0),
				count: 2,
			});
			const click = { phoneNumberId: PN, journey: 'spring-sale', step: 'offer', at: at(0) };
			await store.recordLinkClick({ ...click, messageId: 'wamid.L' });
			await store.recordLinkClick({ ...click, messageId: 'wamid.L' });
			await store.recordLinkClick(click);
			expect(totals(await read())).toEqual({ 'offer skipped:optOut': 3, 'offer clicked': 2 });
		});

		it('keeps counts per UTC day, per journey and per business number, and reads a period and a journey list', async () => {
			await apply(
				store,
				status('wamid.D1', 'sent', 0),
				status('wamid.D1', 'delivered', DAY),
				status('wamid.O', 'sent', 0, { journey: 'onboarding', step: '' }),
			);
			await store.recordSends([
				{ phoneNumberId: 'other-number', messageId: 'wamid.X', journey: 'elsewhere', at: at(0) },
			]);
			expect(await store.listReportJourneys({ phoneNumberId: PN })).toEqual([
				'onboarding',
				'spring-sale',
			]);
			const rows = await store.getReportCounts({
				phoneNumberId: PN,
				journeys: ['spring-sale'],
				from: at(0),
				to: at(DAY),
			});
			expect(rows.sort((a, b) => a.day.localeCompare(b.day))).toEqual([
				{ journey: 'spring-sale', step: 'reminder-1', day: dayOf(0), metric: 'sent', count: 1 },
				{
					journey: 'spring-sale',
					step: 'reminder-1',
					day: dayOf(DAY),
					metric: 'delivered',
					count: 1,
				},
			]);
			// The first day alone.
			expect(
				(await store.getReportCounts({ phoneNumberId: PN, from: at(0), to: at(0) })).length,
			).toBe(2);
		});

		it('rejects a report write without a journey, naming the field', async () => {
			await expect(
				store.recordSends([{ phoneNumberId: PN, messageId: 'wamid.N', journey: '', at: at(0) }]),
			).rejects.toThrow(/journey is required/);
			await expect(
				store.getReportCounts({ phoneNumberId: PN, from: at(DAY), to: at(0) }),
			).rejects.toThrow(/to must not be before from/);
		});
	});
}
