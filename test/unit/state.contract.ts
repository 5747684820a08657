/**
 * The one contract every JourneyStateStore backend must meet. Each backend's test file calls
 * `stateStoreContract` with a harness that makes fresh stores and extra handles on the same data
 * (another connection, as another n8n worker would have).
 */
import type { EventBatchItem, EventWrite, JourneyStateStore, StatusName } from '../../core/state';
import { canAdvanceStatus } from '../../core/webhooks';
import { recordStatus, rememberEvent } from './state.helpers';
import { journeyRulesContract } from './state.rules.contract';
import { reportContract } from './state.report.contract';

export interface StateStoreHarness {
	/** A fresh, empty store. */
	create(): Promise<JourneyStateStore>;
	/** Another handle (connection) on the same data as `store`. */
	connect(store: JourneyStateStore): Promise<JourneyStateStore>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A fixed, whole-second base time: every rule is checked against times we choose. */
const T = Date.UTC(2025, 5, 18, 12, 0, 0);
const at = (offsetMs: number) => new Date(T + offsetMs);

function shuffle<X>(items: X[], seed: number): X[] {
	const out = [...items];
	let s = seed;
	for (let i = out.length - 1; i > 0; i--) {
		s = (s * 1103515245 + 12345) % 2147483648;
		const j = s % (i + 1);
		[out[i], out[j]] = [out[j], out[i]];
	}
	return out;
}

export function stateStoreContract(name: string, harness: StateStoreHarness): void {
	journeyRulesContract(name, harness);
	describe(`${name}: JourneyStateStore contract`, () => {
		let opened: JourneyStateStore[] = [];
		let store: JourneyStateStore;
		const PN = '106540352242922';
		const WA = '16505551234';

		async function handles(n: number): Promise<JourneyStateStore[]> {
			const list = [store];
			for (let i = 1; i < n; i++) {
				const h = await harness.connect(store);
				opened.push(h);
				list.push(h);
			}
			return list;
		}

		beforeEach(async () => {
			store = await harness.create();
			opened = [store];
		});

		afterEach(async () => {
			for (const s of opened.reverse()) await s.close();
		});

		describe('customer service window', () => {
			it('is closed for a customer who never wrote', async () => {
				expect(await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(0) })).toEqual({
					waId: WA,
					phoneNumberId: PN,
					open: false,
					secondsLeft: 0,
					freeEntryPointOpen: false,
				});
			});

			it('opens for 24 h from the customer message', async () => {
				const w = await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0), now: at(0) });
				expect(w).toEqual({
					waId: WA,
					phoneNumberId: PN,
					open: true,
					lastInboundAt: '2025-06-18T12:00:00.000Z',
					closesAt: '2025-06-19T12:00:00.000Z',
					secondsLeft: 86_400,
					freeEntryPointOpen: false,
				});
				const later = await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(23 * HOUR) });
				expect(later).toMatchObject({ open: true, secondsLeft: 3600 });
			});

			it('is open 1 ms before 24 h and closed at exactly 24 h', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0) });
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(DAY - 1) }),
				).toMatchObject({
					open: true,
					secondsLeft: 1,
				});
				const closed = await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(DAY) });
				expect(closed).toMatchObject({
					open: false,
					secondsLeft: 0,
					lastInboundAt: '2025-06-18T12:00:00.000Z',
				});
			});

			it('is extended by each new customer message', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0) });
				const w = await store.recordInbound({
					phoneNumberId: PN,
					waId: WA,
					at: at(20 * HOUR),
					now: at(20 * HOUR),
				});
				expect(w.closesAt).toBe(new Date(T + 44 * HOUR).toISOString());
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(30 * HOUR) }),
				).toMatchObject({ open: true });
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(44 * HOUR) }),
				).toMatchObject({ open: false });
			});

			it('is not shortened by a late webhook for an older message', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(20 * HOUR) });
				const w = await store.recordInbound({
					phoneNumberId: PN,
					waId: WA,
					at: at(0),
					now: at(21 * HOUR),
				});
				expect(w.lastInboundAt).toBe(new Date(T + 20 * HOUR).toISOString());
				expect(w.secondsLeft).toBe(23 * 3600);
			});

			it('is kept per business number and per customer', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0) });
				expect(
					(await store.getWindow({ phoneNumberId: 'other-number', waId: WA, now: at(1) })).open,
				).toBe(false);
				expect(
					(await store.getWindow({ phoneNumberId: PN, waId: '447700900123', now: at(1) })).open,
				).toBe(false);
			});

			it('opens a 72 h free entry point only for a message with a referral', async () => {
				const plain = await store.recordInbound({
					phoneNumberId: PN,
					waId: WA,
					at: at(0),
					now: at(HOUR),
				});
				expect(plain.freeEntryPointOpen).toBe(false);
				expect(plain).not.toHaveProperty('freeEntryPointClosesAt');

				const ad = await store.recordInbound({
					phoneNumberId: PN,
					waId: 'ad-clicker',
					at: at(0),
					referral: true,
					now: at(HOUR),
				});
				expect(ad).toMatchObject({
					open: true,
					freeEntryPointOpen: true,
					freeEntryPointClosesAt: '2025-06-21T12:00:00.000Z',
				});

				const day2 = await store.getWindow({
					phoneNumberId: PN,
					waId: 'ad-clicker',
					now: at(30 * HOUR),
				});
				expect(day2).toMatchObject({ open: false, freeEntryPointOpen: true });
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: 'ad-clicker', now: at(72 * HOUR - 1) }),
				).toMatchObject({
					freeEntryPointOpen: true,
				});
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: 'ad-clicker', now: at(72 * HOUR) }),
				).toMatchObject({
					freeEntryPointOpen: false,
				});
			});

			it('keeps an open free entry point when later messages carry no referral', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0), referral: true });
				const w = await store.recordInbound({
					phoneNumberId: PN,
					waId: WA,
					at: at(2 * HOUR),
					now: at(2 * HOUR),
				});
				expect(w).toMatchObject({
					freeEntryPointOpen: true,
					freeEntryPointClosesAt: '2025-06-21T12:00:00.000Z',
				});
			});

			it('reads a stored time far ahead of now (a schema-valid but impossible webhook timestamp) as no window, and lets the next message replace it', async () => {
				// Unix seconds 8,639,999,999,999: valid for the webhook schema and for a Date, but 24 h later is not.
				const far = new Date(8_639_999_999_999_000);
				const inbound = (t: Date): EventBatchItem => ({
					writes: [{ kind: 'inbound', phoneNumberId: PN, waId: WA, at: t, referral: true }],
				});
				await store.applyEventBatch([inbound(far)]);
				expect(await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(0) })).toEqual({
					waId: WA,
					phoneNumberId: PN,
					open: false,
					secondsLeft: 0,
					freeEntryPointOpen: false,
				});
				await store.applyEventBatch([inbound(at(0))]);
				expect(await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(HOUR) })).toMatchObject(
					{
						open: true,
						lastInboundAt: '2025-06-18T12:00:00.000Z',
						freeEntryPointClosesAt: '2025-06-21T12:00:00.000Z',
					},
				);
			});

			it('is dropped by prune when its stored time is impossibly far ahead', async () => {
				await store.recordInbound({
					phoneNumberId: PN,
					waId: WA,
					at: new Date(8_639_999_999_999_000),
					now: at(0),
				});
				expect(await store.prune(at(0))).toBe(1);
				expect(
					(await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(0) })).lastInboundAt,
				).toBeUndefined();
			});

			it("keeps (number, customer) pairs apart even when an id contains the key separator ('1:2','3' vs '1','2:3')", async () => {
				const a = { phoneNumberId: '1:2', waId: '3' };
				const b = { phoneNumberId: '1', waId: '2:3' };
				await store.recordInbound({ ...a, at: at(0) });
				await store.setOptOut({ ...a, optedOut: true, at: at(0) });
				await store.applyEventBatch([
					{
						remember: { phoneNumberId: '1:2', eventId: '3', at: at(0) },
						writes: [
							{ kind: 'status', phoneNumberId: '1:2', messageId: '3', status: 'read', at: at(0) },
						],
					},
				]);
				expect((await store.getWindow({ ...b, now: at(1) })).open).toBe(false);
				expect(await store.isOptedOut(b)).toBe(false);
				expect(await store.getStatus({ phoneNumberId: '1', messageId: '2:3' })).toBeUndefined();
				expect(await rememberEvent(store, { phoneNumberId: '1', eventId: '2:3', at: at(0) })).toBe(
					true,
				);
				expect((await store.getWindow({ ...a, now: at(1) })).open).toBe(true);
				expect(await store.isOptedOut(a)).toBe(true);
			});

			it('rejects a missing id or an invalid time with an error naming the field', async () => {
				await expect(
					store.recordInbound({ phoneNumberId: '', waId: WA, at: at(0) }),
				).rejects.toThrow(/phoneNumberId is required/);
				await expect(
					store.recordInbound({ phoneNumberId: PN, waId: WA, at: new Date('nope') }),
				).rejects.toThrow(/at must be a valid Date/);
			});
		});

		describe('webhook de-duplication', () => {
			it('says true the first time only', async () => {
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'status:wamid.A:sent',
						at: at(0),
					}),
				).toBe(true);
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'status:wamid.A:sent',
						at: at(HOUR),
					}),
				).toBe(false);
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'status:wamid.A:delivered',
						at: at(HOUR),
					}),
				).toBe(true);
				expect(
					await rememberEvent(store, {
						phoneNumberId: 'other-number',
						eventId: 'status:wamid.A:sent',
						at: at(HOUR),
					}),
				).toBe(true);
			});

			it("remembers an event for 8 days (Meta's 7 days of retries and a day's margin)", async () => {
				expect(
					await rememberEvent(store, { phoneNumberId: PN, eventId: 'message:wamid.B', at: at(0) }),
				).toBe(true);
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'message:wamid.B',
						at: at(8 * DAY - 1),
					}),
				).toBe(false);
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'message:wamid.B',
						at: at(8 * DAY),
					}),
				).toBe(true);
			});

			it('gives true to exactly one of 50 concurrent calls for the same id, across connections', async () => {
				const hs = await handles(5);
				const results = await Promise.all(
					Array.from({ length: 50 }, (_, i) =>
						rememberEvent(hs[i % hs.length], {
							phoneNumberId: PN,
							eventId: 'status:wamid.RACE:read',
							at: at(0),
						}),
					),
				);
				expect(results.filter(Boolean)).toHaveLength(1);
			});
		});

		describe('latest status per message', () => {
			const msg = (id: string) => ({ phoneNumberId: PN, messageId: id });

			it('moves forward and reports the previous status', async () => {
				expect(await store.getStatus(msg('wamid.S1'))).toBeUndefined();
				expect(
					await recordStatus(store, { ...msg('wamid.S1'), status: 'sent', at: at(0) }),
				).toEqual({ applied: true, regression: false });
				expect(
					await recordStatus(store, { ...msg('wamid.S1'), status: 'delivered', at: at(1000) }),
				).toEqual({
					applied: true,
					previous: 'sent',
					regression: false,
				});
				expect(await store.getStatus(msg('wamid.S1'))).toBe('delivered');
			});

			it('never regresses, and tells a regression from a duplicate', async () => {
				await recordStatus(store, { ...msg('wamid.S2'), status: 'read', at: at(0) });
				expect(
					await recordStatus(store, { ...msg('wamid.S2'), status: 'delivered', at: at(1000) }),
				).toEqual({
					applied: false,
					previous: 'read',
					regression: true,
				});
				expect(
					await recordStatus(store, { ...msg('wamid.S2'), status: 'read', at: at(2000) }),
				).toEqual({
					applied: false,
					previous: 'read',
					regression: false,
				});
				expect(await store.getStatus(msg('wamid.S2'))).toBe('read');
			});

			it('treats failed as terminal, and a late failure after delivery as ignored', async () => {
				await recordStatus(store, { ...msg('wamid.F1'), status: 'sent', at: at(0) });
				expect(
					(await recordStatus(store, { ...msg('wamid.F1'), status: 'failed', at: at(1) })).applied,
				).toBe(true);
				expect(
					await recordStatus(store, { ...msg('wamid.F1'), status: 'read', at: at(2) }),
				).toMatchObject({
					applied: false,
					previous: 'failed',
					regression: true,
				});
				expect(await store.getStatus(msg('wamid.F1'))).toBe('failed');

				await recordStatus(store, { ...msg('wamid.F2'), status: 'delivered', at: at(0) });
				expect(
					(await recordStatus(store, { ...msg('wamid.F2'), status: 'failed', at: at(1) })).applied,
				).toBe(false);
				expect(await store.getStatus(msg('wamid.F2'))).toBe('delivered');
			});

			it('follows the status order for every pair of statuses, alone and in a batch', async () => {
				const names: StatusName[] = ['sent', 'delivered', 'read', 'played', 'failed'];
				for (const first of names) {
					for (const second of names) {
						const advances = canAdvanceStatus(first, second);
						const expected = {
							applied: advances,
							previous: first,
							regression: !advances && first !== second,
						};
						const one = msg(`wamid.P.${first}.${second}`);
						await recordStatus(store, { ...one, status: first, at: at(0) });
						expect(await recordStatus(store, { ...one, status: second, at: at(1000) })).toEqual(
							expected,
						);
						expect(await store.getStatus(one)).toBe(advances ? second : first);
						const batched = `wamid.PB.${first}.${second}`;
						const [r] = await store.applyEventBatch([
							{
								writes: [
									{
										kind: 'status',
										phoneNumberId: PN,
										messageId: batched,
										status: first,
										at: at(0),
									},
									{
										kind: 'status',
										phoneNumberId: PN,
										messageId: batched,
										status: second,
										at: at(1000),
									},
								],
							},
						]);
						expect(r.statuses).toEqual([{ applied: true, regression: false }, expected]);
						expect(await store.getStatus(msg(batched))).toBe(advances ? second : first);
					}
				}
			});

			it('adds played after read for voice messages', async () => {
				await recordStatus(store, { ...msg('wamid.V'), status: 'read', at: at(0) });
				expect(
					(await recordStatus(store, { ...msg('wamid.V'), status: 'played', at: at(1) })).applied,
				).toBe(true);
				expect(await store.getStatus(msg('wamid.V'))).toBe('played');
			});

			it('ends on the furthest status under shuffled concurrent writes from several connections', async () => {
				const hs = await handles(4);
				const messages = Array.from({ length: 20 }, (_, i) => `wamid.C${i}`);
				const writes = messages.flatMap((id) =>
					(['sent', 'delivered', 'read', 'sent', 'delivered'] as StatusName[]).map((status) => ({
						id,
						status,
					})),
				);
				const results = await Promise.all(
					shuffle(writes, 7).map((w, i) =>
						recordStatus(hs[i % hs.length], { ...msg(w.id), status: w.status, at: at(i) }).then(
							(r) => ({ ...w, ...r }),
						),
					),
				);
				for (const id of messages) {
					expect(await store.getStatus(msg(id))).toBe('read');
					const mine = results.filter((r) => r.id === id);
					expect(mine.filter((r) => r.status === 'read' && r.applied)).toHaveLength(1);
					// Every applied write moved forward from what that write saw.
					for (const r of mine.filter((x) => x.applied))
						expect(canAdvanceStatus(r.previous, r.status)).toBe(true);
				}
			});

			it('keeps statuses per business number', async () => {
				await recordStatus(store, { ...msg('wamid.P'), status: 'read', at: at(0) });
				expect(
					await store.getStatus({ phoneNumberId: 'other-number', messageId: 'wamid.P' }),
				).toBeUndefined();
			});

			it('rejects a status name it does not know', async () => {
				await expect(
					recordStatus(store, { ...msg('wamid.X'), status: 'deleted' as StatusName, at: at(0) }),
				).rejects.toThrow(/status must be one of sent, delivered, read, played, failed/);
			});
		});

		describe('marketing opt-outs', () => {
			it('round-trips an opt-out and an opt-in', async () => {
				const who = { phoneNumberId: PN, waId: WA };
				expect(await store.isOptedOut(who)).toBe(false);
				await store.setOptOut({
					...who,
					optedOut: true,
					at: at(0),
					reason: 'user_preferences stop',
				});
				expect(await store.isOptedOut(who)).toBe(true);
				expect(await store.isOptedOut({ phoneNumberId: 'other-number', waId: WA })).toBe(false);
				await store.setOptOut({ ...who, optedOut: false, at: at(HOUR) });
				expect(await store.isOptedOut(who)).toBe(false);
			});

			it('ignores a change older than the one it has', async () => {
				const who = { phoneNumberId: PN, waId: WA };
				await store.setOptOut({ ...who, optedOut: true, at: at(HOUR) });
				await store.setOptOut({ ...who, optedOut: false, at: at(0) });
				expect(await store.isOptedOut(who)).toBe(true);
			});
		});

		describe('send slots (shared throughput limit)', () => {
			it('spaces reservations one interval apart and restarts from now after a pause', async () => {
				const k = { key: `pace:${PN}`, intervalMs: 100 };
				expect(await store.reserveSendSlot({ ...k, now: 1_000 })).toBe(1_000);
				expect(await store.reserveSendSlot({ ...k, now: 1_000 })).toBe(1_100);
				expect(await store.reserveSendSlot({ ...k, now: 1_050 })).toBe(1_200);
				expect(await store.reserveSendSlot({ ...k, now: 5_000 })).toBe(5_000);
				expect(
					await store.reserveSendSlot({ key: 'pace:other', intervalMs: 100, now: 1_000 }),
				).toBe(1_000);
			});

			it('hands N concurrent reservations N distinct slots at least one interval apart', async () => {
				const hs = await handles(4);
				const now = T;
				const slots = await Promise.all(
					Array.from({ length: 40 }, (_, i) =>
						hs[i % hs.length].reserveSendSlot({ key: `pace:${PN}`, intervalMs: 12.5, now }),
					),
				);
				const sorted = [...slots].sort((a, b) => a - b);
				expect(new Set(sorted).size).toBe(40);
				expect(sorted[0]).toBe(now);
				for (let i = 1; i < sorted.length; i++)
					expect(sorted[i] - sorted[i - 1]).toBeGreaterThanOrEqual(12.5);
			});

			it('rejects a negative interval', async () => {
				await expect(store.reserveSendSlot({ key: 'k', intervalMs: -1 })).rejects.toThrow(
					/intervalMs/,
				);
			});
		});

		describe('event batches (one webhook delivery in one unit of work)', () => {
			const status = (messageId: string, name: StatusName, t: number) =>
				({ kind: 'status', phoneNumberId: PN, messageId, status: name, at: at(t) }) as const;
			const item = (eventId: string, ...writes: EventWrite[]): EventBatchItem => ({
				remember: { phoneNumberId: PN, eventId, at: at(0) },
				writes,
			});

			it("applies items in order: a repeat inside the batch is not new, and one message's statuses advance in sequence", async () => {
				const results = await store.applyEventBatch([
					item('status:wamid.B1:sent', status('wamid.B1', 'sent', 0)),
					item('status:wamid.B1:delivered', status('wamid.B1', 'delivered', 1000)),
					item('status:wamid.B1:sent', status('wamid.B1', 'sent', 0)),
					item('status:wamid.B1:read', status('wamid.B1', 'read', 2000)),
				]);
				expect(results).toEqual([
					{ fresh: true, statuses: [{ applied: true, regression: false }] },
					{ fresh: true, statuses: [{ applied: true, previous: 'sent', regression: false }] },
					{ fresh: false, statuses: [] },
					{ fresh: true, statuses: [{ applied: true, previous: 'delivered', regression: false }] },
				]);
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.B1' })).toBe('read');
				// The batch's event ids are remembered like single calls would have.
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'status:wamid.B1:delivered',
						at: at(HOUR),
					}),
				).toBe(false);
			});

			it('gives the same answers and leaves the same state as the one-by-one calls', async () => {
				await recordStatus(store, {
					phoneNumberId: PN,
					messageId: 'wamid.B2',
					status: 'read',
					at: at(0),
				});
				await rememberEvent(store, {
					phoneNumberId: PN,
					eventId: 'status:wamid.B3:sent',
					at: at(0),
				});
				const results = await store.applyEventBatch([
					// Late: delivered after read is a regression and does not replace it.
					item('status:wamid.B2:delivered', status('wamid.B2', 'delivered', 500)),
					// Already seen before the batch: none of its writes apply.
					item('status:wamid.B3:sent', status('wamid.B3', 'sent', 0)),
					item('message:wamid.IN', {
						kind: 'inbound',
						phoneNumberId: PN,
						waId: WA,
						at: at(0),
						referral: true,
					}),
					item('message:wamid.STOP', {
						kind: 'optOut',
						phoneNumberId: PN,
						waId: WA,
						optedOut: true,
						at: at(1000),
						reason: 'keyword:stop',
					}),
					// No de-duplication key: always applied.
					{ writes: [status('wamid.B4', 'sent', 0), status('wamid.B4', 'failed', 10)] },
				]);
				expect(results).toEqual([
					{ fresh: true, statuses: [{ applied: false, previous: 'read', regression: true }] },
					{ fresh: false, statuses: [] },
					{ fresh: true, statuses: [] },
					{ fresh: true, statuses: [] },
					{
						fresh: true,
						statuses: [
							{ applied: true, regression: false },
							{ applied: true, previous: 'sent', regression: false },
						],
					},
				]);
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.B2' })).toBe('read');
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.B3' })).toBeUndefined();
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.B4' })).toBe('failed');
				const window = await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(HOUR) });
				expect(window).toMatchObject({ open: true, freeEntryPointOpen: true });
				expect(await store.isOptedOut({ phoneNumberId: PN, waId: WA })).toBe(true);
			});

			it('writes nothing when any item has a bad argument', async () => {
				await expect(
					store.applyEventBatch([
						item('status:wamid.B5:sent', status('wamid.B5', 'sent', 0)),
						item('status:wamid.B6:sent', {
							...status('wamid.B6', 'sent', 0),
							at: new Date('nope'),
						}),
					]),
				).rejects.toThrow(/at must be a valid Date/);
				await expect(
					store.applyEventBatch([
						item('x', { ...status('wamid.B7', 'sent', 0), status: 'deleted' as StatusName }),
					]),
				).rejects.toThrow(/status must be one of/);
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.B5' })).toBeUndefined();
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'status:wamid.B5:sent',
						at: at(0),
					}),
				).toBe(true);
				expect(await store.applyEventBatch([])).toEqual([]);
			});

			describe('status events de-duplicated by their record (seenBy)', () => {
				// The trigger's shape: the shared record of the message, then this consumer's, which identifies the event.
				const seenItem = (
					id: string,
					name: StatusName,
					t: number,
					consumer = 'wf:node',
				): EventBatchItem => ({
					remember: { phoneNumberId: PN, eventId: `${consumer}|status:${id}:${name}`, at: at(0) },
					writes: [status(id, name, t), status(`${consumer}|${id}`, name, t)],
					seenBy: 1,
				});

				it('remembers a status event for the whole horizon from its arrival, even one stamped a month earlier: prune cannot make it new again', async () => {
					const old = seenItem('wamid.STAMPED', 'delivered', -31 * DAY);
					expect((await store.applyEventBatch([old]))[0].fresh).toBe(true);
					await store.prune(at(HOUR));
					expect((await store.applyEventBatch([old]))[0].fresh).toBe(false);
				});

				it('gives the same answers as id records: each status once per consumer, regressions told apart', async () => {
					const batch = (n: number): EventBatchItem[] => [
						seenItem(`wamid.SB${n}`, 'sent', 0),
						seenItem(`wamid.SB${n}`, 'read', 2000),
						seenItem(`wamid.SB${n}`, 'sent', 0),
						seenItem(`wamid.SB${n}`, 'delivered', 1000),
						seenItem(`wamid.SB${n}`, 'delivered', 1000),
						seenItem(`wamid.SB${n}`, 'read', 2000, 'wf:other'),
					];
					const plain = (items: EventBatchItem[]) =>
						items.map(({ remember, writes }) => ({ remember, writes }));
					const bySeen = await store.applyEventBatch(batch(1));
					expect(bySeen).toEqual(await store.applyEventBatch(plain(batch(2))));
					expect(bySeen).toEqual([
						{
							fresh: true,
							statuses: [
								{ applied: true, regression: false },
								{ applied: true, regression: false },
							],
						},
						{
							fresh: true,
							statuses: [
								{ applied: true, previous: 'sent', regression: false },
								{ applied: true, previous: 'sent', regression: false },
							],
						},
						{ fresh: false, statuses: [] },
						{
							fresh: true,
							statuses: [
								{ applied: false, previous: 'read', regression: true },
								{ applied: false, previous: 'read', regression: true },
							],
						},
						{ fresh: false, statuses: [] },
						// Another consumer sees the event once for itself; the shared record had read already.
						{
							fresh: true,
							statuses: [
								{ applied: false, previous: 'read', regression: false },
								{ applied: true, regression: false },
							],
						},
					]);
					// Later deliveries of the same events, in new batches, are repeats too.
					expect(
						(
							await store.applyEventBatch([
								seenItem('wamid.SB1', 'delivered', 1000),
								seenItem('wamid.SB1', 'sent', 0),
							])
						).map((r) => r.fresh),
					).toEqual([false, false]);
					expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.SB1' })).toBe('read');
					expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wf:node|wamid.SB1' })).toBe(
						'read',
					);
				});

				it('lets exactly one of several concurrent batches, across connections, claim each status event', async () => {
					const hs = await handles(4);
					const ids = Array.from({ length: 20 }, (_, i) => `wamid.SC${i}`);
					const events = ids.flatMap((id) =>
						(['sent', 'delivered', 'read'] as const).map((name, k) => ({ id, name, t: k * 1000 })),
					);
					const batches = await Promise.all(
						Array.from({ length: 8 }, (_, b) =>
							hs[b % hs.length].applyEventBatch(
								shuffle(events, b + 1).map((e) => seenItem(e.id, e.name, e.t)),
							),
						),
					);
					expect(batches.flat().filter((r) => r.fresh)).toHaveLength(events.length);
					for (const id of ids)
						expect(await store.getStatus({ phoneNumberId: PN, messageId: `wf:node|${id}` })).toBe(
							'read',
						);
				});

				it('refuses a seenBy that names no status write, or comes without remember', async () => {
					const good = seenItem('wamid.SD', 'sent', 0);
					await expect(store.applyEventBatch([{ ...good, seenBy: 2 }])).rejects.toThrow(
						/seenBy must name one of its status writes/,
					);
					await expect(store.applyEventBatch([{ writes: good.writes, seenBy: 1 }])).rejects.toThrow(
						/with remember set/,
					);
					await expect(
						store.applyEventBatch([
							{
								...good,
								writes: [{ kind: 'inbound', phoneNumberId: PN, waId: WA, at: at(0) }],
								seenBy: 0,
							},
						]),
					).rejects.toThrow(/seenBy/);
					expect(
						await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.SD' }),
					).toBeUndefined();
				});
			});

			it('lets exactly one of several concurrent batches, across connections, claim each event', async () => {
				const hs = await handles(4);
				const ids = Array.from({ length: 30 }, (_, i) => `wamid.C${i}`);
				const batches = await Promise.all(
					Array.from({ length: 8 }, (_, b) =>
						hs[b % hs.length].applyEventBatch(
							shuffle(ids, b + 1).map((id) => item(`status:${id}:sent`, status(id, 'sent', 0))),
						),
					),
				);
				expect(batches.flat().filter((r) => r.fresh)).toHaveLength(ids.length);
				for (const id of ids)
					expect(await store.getStatus({ phoneNumberId: PN, messageId: id })).toBe('sent');
			});
		});

		describe('prune', () => {
			async function seed(): Promise<void> {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0) });
				await rememberEvent(store, { phoneNumberId: PN, eventId: 'message:wamid.OLD', at: at(0) });
				await recordStatus(store, {
					phoneNumberId: PN,
					messageId: 'wamid.OLD',
					status: 'read',
					at: at(0),
				});
				await store.reserveSendSlot({ key: 'pace:old', intervalMs: 1000, now: T });
				await store.setOptOut({ phoneNumberId: PN, waId: WA, optedOut: true, at: at(0) });
			}

			it('keeps what can still matter', async () => {
				await seed();
				expect(await store.prune(at(HOUR))).toBe(1); // only the passed send slot
				expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.OLD' })).toBe('read');
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'message:wamid.OLD',
						at: at(2 * HOUR),
					}),
				).toBe(false);
				expect((await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(HOUR) })).open).toBe(
					true,
				);
			});

			it('removes expired windows, events, statuses and slots, but never opt-outs', async () => {
				await seed();
				expect(await store.prune(at(31 * DAY))).toBe(4);
				expect(await store.prune(at(31 * DAY))).toBe(0);
				expect(
					await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.OLD' }),
				).toBeUndefined();
				expect(
					await store.getWindow({ phoneNumberId: PN, waId: WA, now: at(31 * DAY) }),
				).not.toHaveProperty('lastInboundAt');
				// The event record is gone, so the same id counts as new again.
				expect(
					await rememberEvent(store, {
						phoneNumberId: PN,
						eventId: 'message:wamid.OLD',
						at: at(DAY),
					}),
				).toBe(true);
				expect(await store.isOptedOut({ phoneNumberId: PN, waId: WA })).toBe(true);
			});

			it('keeps a window record 72 h after the last customer message', async () => {
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(0), referral: true });
				await store.recordInbound({ phoneNumberId: PN, waId: WA, at: at(10 * HOUR) });
				expect(await store.prune(at(82 * HOUR - 1))).toBe(0);
				expect(await store.prune(at(82 * HOUR))).toBe(1);
			});
		});
	});
	reportContract(name, harness);
}
