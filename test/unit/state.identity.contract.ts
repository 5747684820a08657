/**
 * The identities part of the JourneyStateStore contract: phone number ↔ business-scoped user id (BSUID) pairs and BSUID
 * changes, learnt from webhooks inside the batch write, and one customer resolved from either id (resolveCustomer,
 * customerWindow, customerOptedOut). Run over every backend by the backend test files, with the same harness.
 *
 * Payload facts (which webhook carries which pair) are pinned in test/unit/bsuid.webhooks.test.ts with their sources.
 */
import {
	IDENTITY_RETENTION_MS,
	MAX_OTHER_IDS,
	MAX_PREDECESSORS,
	customerOptedOut,
	customerWindow,
	resolveCustomer,
	type JourneyStateStore,
} from '../../core/state';
import type { StateStoreHarness } from './state.contract';

const T = Date.UTC(2026, 5, 18, 12, 0, 0);
const HOUR = 3_600_000;
const PN = '106540352242922';
const PHONE = '16505551234';
const OLD = 'US.13491208655302741918';
const NEW = 'US.24817305912873645029';

export function identityContract(name: string, harness: StateStoreHarness): void {
	describe(`${name}: identities`, () => {
		let opened: JourneyStateStore[] = [];
		const create = async () => {
			const s = await harness.create();
			opened.push(s);
			return s;
		};
		const connect = async (s: JourneyStateStore) => {
			const c = await harness.connect(s);
			opened.push(c);
			return c;
		};
		afterEach(async () => {
			for (const s of opened) await s.close();
			opened = [];
		});

		it('learns a phone ↔ BSUID pair from a webhook batch and resolves either id to one customer keyed by the number', async () => {
			const store = await create();
			const [result] = await store.applyEventBatch([
				{
					remember: { phoneNumberId: PN, eventId: 'wamid.in1', at: new Date(T) },
					writes: [
						{ kind: 'identity', phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) },
						{ kind: 'inbound', phoneNumberId: PN, waId: PHONE, at: new Date(T) },
					],
				},
			]);
			expect(result.fresh).toBe(true);
			const other = await connect(store);
			expect(await other.getIdentity({ phoneNumberId: PN, id: OLD })).toEqual({
				waId: PHONE,
				at: T,
			});
			expect(await other.getIdentity({ phoneNumberId: PN, id: PHONE })).toEqual({
				bsuid: OLD,
				at: T,
			});
			expect(await resolveCustomer(other, PN, OLD)).toEqual({
				key: PHONE,
				ids: [OLD, PHONE],
				waId: PHONE,
				bsuid: OLD,
			});
			expect(await resolveCustomer(other, PN, PHONE)).toEqual({
				key: PHONE,
				ids: [PHONE, OLD],
				waId: PHONE,
				bsuid: OLD,
			});
			// Another business number's identities are its own.
			expect(await other.getIdentity({ phoneNumberId: 'other-number', id: OLD })).toBeUndefined();
		});

		it('leads a parent BSUID to the portfolio BSUID and the number, in the webhook batch and through linkIdentity', async () => {
			const PARENT = 'US.ENT.11815799212886844830';
			const store = await create();
			await store.applyEventBatch([
				{
					writes: [
						{
							kind: 'identity',
							phoneNumberId: PN,
							bsuid: OLD,
							parentBsuid: PARENT,
							at: new Date(T),
						},
					],
				},
			]);
			const other = await connect(store);
			expect(await other.getIdentity({ phoneNumberId: PN, id: PARENT })).toEqual({
				successor: OLD,
				at: T,
			});
			expect(await resolveCustomer(other, PN, PARENT)).toMatchObject({
				key: OLD,
				ids: [PARENT, OLD],
			});
			await other.linkIdentity({
				phoneNumberId: PN,
				waId: PHONE,
				bsuid: OLD,
				parentBsuid: PARENT,
				at: new Date(T + HOUR),
			});
			expect(await resolveCustomer(store, PN, PARENT)).toEqual({
				key: PHONE,
				ids: [PARENT, OLD, PHONE],
				waId: PHONE,
				bsuid: OLD,
			});
		});

		it('keys a customer known only by BSUID by the BSUID, and opens their window for either id once paired', async () => {
			const store = await create();
			// A username customer writes without a phone number: the window is recorded under the BSUID.
			await store.applyEventBatch([
				{ writes: [{ kind: 'inbound', phoneNumberId: PN, waId: OLD, at: new Date(T) }] },
			]);
			const alone = await resolveCustomer(store, PN, OLD);
			expect(alone).toEqual({ key: OLD, ids: [OLD], bsuid: OLD });
			expect((await customerWindow(store, PN, alone, new Date(T + HOUR))).open).toBe(true);
			// Later a status pairs the number with the BSUID: the workflow's number finds the BSUID's window.
			await store.applyEventBatch([
				{
					writes: [
						{
							kind: 'identity',
							phoneNumberId: PN,
							waId: PHONE,
							bsuid: OLD,
							at: new Date(T + HOUR),
						},
					],
				},
			]);
			const byPhone = await resolveCustomer(store, PN, PHONE);
			const window = await customerWindow(store, PN, byPhone, new Date(T + 2 * HOUR));
			expect(window).toMatchObject({
				open: true,
				waId: PHONE,
				lastInboundAt: new Date(T).toISOString(),
			});
			expect(
				(await store.getWindow({ phoneNumberId: PN, waId: PHONE, now: new Date(T) })).open,
			).toBe(false);
		});

		it('follows a BSUID change (user_id_update) from the old id to the new one and the number', async () => {
			const store = await create();
			await store.applyEventBatch([
				{
					writes: [
						{ kind: 'identity', phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) },
						{
							kind: 'identity',
							phoneNumberId: PN,
							waId: PHONE,
							bsuid: NEW,
							previousBsuid: OLD,
							at: new Date(T + HOUR),
						},
					],
				},
			]);
			expect(await store.getIdentity({ phoneNumberId: PN, id: OLD })).toEqual({
				waId: PHONE,
				successor: NEW,
				at: T + HOUR,
			});
			expect(await resolveCustomer(store, PN, OLD)).toEqual({
				key: PHONE,
				ids: [OLD, NEW, PHONE],
				waId: PHONE,
				bsuid: NEW,
			});
			expect((await resolveCustomer(store, PN, PHONE)).bsuid).toBe(NEW);
			// A change without a number (user_changed_user_id system message): the old id leads to the new one.
			const bare = await create();
			await bare.linkIdentity({
				phoneNumberId: PN,
				bsuid: NEW,
				previousBsuid: OLD,
				at: new Date(T),
			});
			expect(await resolveCustomer(bare, PN, OLD)).toEqual({
				key: NEW,
				ids: [OLD, NEW],
				bsuid: NEW,
			});
		});

		it('finds a replaced BSUID and a parent BSUID from the number and from the new BSUID (predecessors)', async () => {
			const PARENT = 'US.ENT.11815799212886844830';
			const NEWER = 'US.35928416023984756130';
			const store = await create();
			await store.applyEventBatch([
				{
					writes: [
						{ kind: 'identity', phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) },
						// user_changed_user_id: Meta names no number, only the old and the new BSUID.
						{
							kind: 'identity',
							phoneNumberId: PN,
							bsuid: NEW,
							previousBsuid: OLD,
							at: new Date(T + HOUR),
						},
					],
				},
			]);
			const other = await connect(store);
			expect(await other.getIdentity({ phoneNumberId: PN, id: NEW })).toEqual({
				predecessors: [OLD],
				at: T + HOUR,
			});
			// From the new BSUID: the old one, and the number paired with it.
			expect(await resolveCustomer(other, PN, NEW)).toEqual({
				key: PHONE,
				ids: [NEW, OLD, PHONE],
				waId: PHONE,
				bsuid: NEW,
			});
			// A later status pairs the number with the new BSUID: the number still finds the old one.
			await other.linkIdentity({
				phoneNumberId: PN,
				waId: PHONE,
				bsuid: NEW,
				at: new Date(T + 2 * HOUR),
			});
			expect(await resolveCustomer(store, PN, PHONE)).toEqual({
				key: PHONE,
				ids: [PHONE, NEW, OLD],
				waId: PHONE,
				bsuid: NEW,
			});
			// A second change and a parent BSUID learnt after it: every id the customer had, from the number.
			await store.applyEventBatch([
				{
					writes: [
						{
							kind: 'identity',
							phoneNumberId: PN,
							waId: PHONE,
							bsuid: NEWER,
							previousBsuid: NEW,
							parentBsuid: PARENT,
							at: new Date(T + 3 * HOUR),
						},
					],
				},
			]);
			expect(await other.getIdentity({ phoneNumberId: PN, id: NEWER })).toEqual({
				waId: PHONE,
				predecessors: [NEW, PARENT],
				at: T + 3 * HOUR,
			});
			const byPhone = await resolveCustomer(other, PN, PHONE);
			expect(byPhone).toMatchObject({ key: PHONE, bsuid: NEWER });
			expect([...byPhone.ids].sort()).toEqual([PHONE, OLD, NEW, NEWER, PARENT].sort());
			expect([...(await resolveCustomer(other, PN, NEWER)).ids].sort()).toEqual(
				[PHONE, OLD, NEW, NEWER, PARENT].sort(),
			);
		});

		it('keeps the newest MAX_PREDECESSORS predecessors per id, and resolves at most MAX_OTHER_IDS other ids', async () => {
			const store = await create();
			const old = (i: number) => `US.${String(1000 + i).padStart(20, '0')}`;
			// 20 changes that all name the same new BSUID (bad data, or a very long history): each write adds one.
			for (let i = 0; i < 20; i++)
				await store.applyEventBatch([
					{
						writes: [
							{
								kind: 'identity',
								phoneNumberId: PN,
								bsuid: NEW,
								previousBsuid: old(i),
								at: new Date(T + i),
							},
						],
					},
				]);
			const record = await store.getIdentity({ phoneNumberId: PN, id: NEW });
			expect(record?.predecessors).toHaveLength(MAX_PREDECESSORS);
			expect(record?.predecessors?.[0]).toBe(old(20 - MAX_PREDECESSORS));
			expect(record?.predecessors?.at(-1)).toBe(old(19));
			// A webhook older than the record still adds its fact (a set, not a last-write-wins field).
			await store.linkIdentity({
				phoneNumberId: PN,
				bsuid: NEW,
				previousBsuid: OLD,
				at: new Date(T - HOUR),
			});
			expect((await store.getIdentity({ phoneNumberId: PN, id: NEW }))?.predecessors?.at(-1)).toBe(
				OLD,
			);
			const customer = await resolveCustomer(store, PN, NEW);
			expect(customer.ids.length).toBeLessThanOrEqual(MAX_OTHER_IDS + 1);
			expect(customer.ids).toContain(OLD);
		});

		it('does not let a late webhook undo a newer pairing, but lets it fill what is unknown', async () => {
			const store = await create();
			await store.linkIdentity({
				phoneNumberId: PN,
				waId: PHONE,
				bsuid: NEW,
				at: new Date(T + HOUR),
			});
			await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) });
			expect(await store.getIdentity({ phoneNumberId: PN, id: PHONE })).toEqual({
				bsuid: NEW,
				at: T + HOUR,
			});
			// The old BSUID's record is new, so it takes the number.
			expect(await store.getIdentity({ phoneNumberId: PN, id: OLD })).toEqual({
				waId: PHONE,
				at: T,
			});
		});

		it('counts an opt-out recorded under either id', async () => {
			const store = await create();
			await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) });
			await store.applyEventBatch([
				{
					writes: [
						{ kind: 'optOut', phoneNumberId: PN, waId: OLD, optedOut: true, at: new Date(T) },
					],
				},
			]);
			expect(await store.isOptedOut({ phoneNumberId: PN, waId: PHONE })).toBe(false);
			expect(await customerOptedOut(store, PN, await resolveCustomer(store, PN, PHONE))).toBe(true);
		});

		it('refuses an identity write without a BSUID before applying any of the batch', async () => {
			const store = await create();
			await expect(
				store.applyEventBatch([
					{ writes: [{ kind: 'inbound', phoneNumberId: PN, waId: PHONE, at: new Date(T) }] },
					{
						writes: [{ kind: 'identity', phoneNumberId: PN, bsuid: '', at: new Date(T) } as never],
					},
				]),
			).rejects.toThrow(/bsuid/);
			expect(
				(await store.getWindow({ phoneNumberId: PN, waId: PHONE, now: new Date(T) })).open,
			).toBe(false);
		});

		it('keeps identities IDENTITY_RETENTION_MS after their last sighting, then prunes them', async () => {
			const store = await create();
			await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: OLD, at: new Date(T) });
			await store.prune(new Date(T + IDENTITY_RETENTION_MS - HOUR));
			expect(await store.getIdentity({ phoneNumberId: PN, id: OLD })).toBeDefined();
			await store.prune(new Date(T + IDENTITY_RETENTION_MS));
			expect(await store.getIdentity({ phoneNumberId: PN, id: OLD })).toBeUndefined();
			expect(await store.getIdentity({ phoneNumberId: PN, id: PHONE })).toBeUndefined();
		});
	});
}
