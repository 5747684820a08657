/**
 * The outbox part of the JourneyStateStore contract (events acknowledged to Meta that a trigger has not emitted yet),
 * run over every backend by the backend test files, with the same harness as `stateStoreContract`.
 */
import { OUTBOX_RETENTION_MS, type EventBatchItem, type JourneyStateStore } from '../../core/state';
import type { StateStoreHarness } from './state.contract';

const PN = '106540352242922';
const TRIGGER = 'wf-1:node-1';

function statusItem(
	messageId: string,
	status: 'sent' | 'delivered' | 'read',
	at: number,
	trigger = TRIGGER,
	unlessLate = true,
): EventBatchItem {
	const consumerId = `${trigger}|${messageId}`;
	return {
		remember: { phoneNumberId: PN, eventId: `${consumerId}:${status}` },
		writes: [
			{ kind: 'status', phoneNumberId: PN, messageId, status, at: new Date(at) },
			{ kind: 'status', phoneNumberId: PN, messageId: consumerId, status, at: new Date(at) },
		],
		seenBy: 1,
		outbox: {
			trigger,
			id: `${messageId}:${status}`,
			entry: JSON.stringify({ messageId, status }),
			unlessLate,
		},
	};
}

export function outboxContract(name: string, harness: StateStoreHarness): void {
	describe(`${name}: outbox`, () => {
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
		const now = () => Date.now();

		it('keeps a fresh event in the same batch that records it, and claims it from another handle once due', async () => {
			const store = await create();
			const t = now();
			await store.applyEventBatch([statusItem('wamid.1', 'sent', t - 1000)]);
			const other = await connect(store);
			// Not older than the caller's cut-off yet: a live batch still owns it.
			expect(await other.claimOutbox({ trigger: TRIGGER, olderThan: t - 60_000 })).toEqual([]);
			const claimed = await other.claimOutbox({
				trigger: TRIGGER,
				olderThan: now() + 1,
				now: now(),
			});
			expect(claimed.map((e) => [e.id, JSON.parse(e.entry)])).toEqual([
				['wamid.1:sent', { messageId: 'wamid.1', status: 'sent' }],
			]);
		});

		it('keeps nothing for a repeat, and nothing for a late status asked unlessLate (it is dropped)', async () => {
			const store = await create();
			const t = now();
			await store.applyEventBatch([
				statusItem('wamid.1', 'read', t - 1000),
				statusItem('wamid.1', 'read', t - 1000),
				statusItem('wamid.1', 'delivered', t - 2000),
				statusItem('wamid.2', 'read', t - 1000, TRIGGER, false),
				statusItem('wamid.2', 'delivered', t - 2000, TRIGGER, false),
			]);
			const claimed = await store.claimOutbox({ trigger: TRIGGER, olderThan: now() + 1 });
			expect(claimed.map((e) => e.id).sort()).toEqual([
				'wamid.1:read',
				'wamid.2:delivered',
				'wamid.2:read',
			]);
		});

		it('keeps each trigger its own entries (two triggers on one number each get every event)', async () => {
			const store = await create();
			const t = now();
			await store.applyEventBatch([
				statusItem('wamid.1', 'sent', t - 1000, 'wf-1:a'),
				statusItem('wamid.1', 'sent', t - 1000, 'wf-2:b'),
			]);
			const cut = now() + 1;
			expect(
				(await store.claimOutbox({ trigger: 'wf-1:a', olderThan: cut })).map((e) => e.id),
			).toEqual(['wamid.1:sent']);
			expect(
				(await store.claimOutbox({ trigger: 'wf-2:b', olderThan: cut })).map((e) => e.id),
			).toEqual(['wamid.1:sent']);
			expect(await store.claimOutbox({ trigger: 'wf-3:c', olderThan: cut })).toEqual([]);
		});

		it('claims each entry once until it is due again, oldest first, at most `limit`; done removes it', async () => {
			const store = await create();
			const t = now();
			for (let i = 0; i < 5; i++)
				await store.applyEventBatch([statusItem(`wamid.${i}`, 'sent', t - 1000)]);
			const other = await connect(store);
			const claimNow = now() + 10;
			const first = await store.claimOutbox({
				trigger: TRIGGER,
				olderThan: claimNow,
				now: claimNow,
				limit: 3,
			});
			expect(first).toHaveLength(3);
			const second = await other.claimOutbox({
				trigger: TRIGGER,
				olderThan: claimNow - 1,
				now: claimNow,
			});
			expect(second).toHaveLength(2);
			expect(new Set([...first, ...second].map((e) => e.id)).size).toBe(5);
			// All claimed at claimNow: nothing is due before it, and a claimer that died leaves them due later.
			expect(await other.claimOutbox({ trigger: TRIGGER, olderThan: claimNow - 1 })).toEqual([]);
			expect(
				await store.outboxDone({
					trigger: TRIGGER,
					ids: first.map((e) => e.id).concat('wamid.none:sent'),
				}),
			).toBe(3);
			const again = await other.claimOutbox({ trigger: TRIGGER, olderThan: claimNow + 1 });
			expect(again.map((e) => e.id).sort()).toEqual(second.map((e) => e.id).sort());
			expect(await store.outboxDone({ trigger: TRIGGER, ids: again.map((e) => e.id) })).toBe(2);
			expect(await store.claimOutbox({ trigger: TRIGGER, olderThan: now() + 60_000 })).toEqual([]);
		});

		it('prune drops entries never emitted within the retention (Meta stopped retrying long before)', async () => {
			const store = await create();
			await store.applyEventBatch([statusItem('wamid.1', 'sent', now() - 1000)]);
			await store.prune(new Date(now() + 60_000));
			expect(await store.claimOutbox({ trigger: TRIGGER, olderThan: now() + 1 })).toHaveLength(1);
			await store.claimOutbox({ trigger: TRIGGER, olderThan: now() + 1, now: now() });
			await store.prune(new Date(now() + OUTBOX_RETENTION_MS + 1000));
			expect(
				await store.claimOutbox({
					trigger: TRIGGER,
					olderThan: now() + OUTBOX_RETENTION_MS + 2000,
				}),
			).toEqual([]);
		});

		it('keeps an item that is only an outbox entry (a receiver records each batch it hands over this way)', async () => {
			const store = await create();
			const t = now();
			const [result] = await store.applyEventBatch([
				{
					writes: [],
					outbox: { trigger: `${TRIGGER}#batches`, id: 'batch-1', entry: '["a","b"]' },
				},
			]);
			expect(result.fresh).toBe(true);
			const other = await connect(store);
			const claimed = await other.claimOutbox({
				trigger: `${TRIGGER}#batches`,
				olderThan: now() + 1,
				now: now() + 2,
			});
			expect(claimed.map((e) => [e.id, e.entry])).toEqual([['batch-1', '["a","b"]']]);
			expect(claimed[0].at).toBeGreaterThanOrEqual(t);
			// Its own namespace: the trigger's event entries are not touched.
			expect(await other.claimOutbox({ trigger: TRIGGER, olderThan: now() + 1 })).toEqual([]);
		});

		it('refuses a bad claim before touching anything', async () => {
			const store = await create();
			await expect(store.claimOutbox({ trigger: '', olderThan: now() })).rejects.toThrow();
			await expect(
				store.claimOutbox({ trigger: TRIGGER, olderThan: Number.NaN }),
			).rejects.toThrow();
			await expect(store.outboxDone({ trigger: TRIGGER, ids: [''] })).rejects.toThrow();
		});
	});
}
