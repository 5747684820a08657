/**
 * The wait-link part of the JourneyStateStore contract (Send and Wait for Response), run over every backend by the
 * backend test files next to `stateStoreContract`, with the same harness.
 */
import type { JourneyStateStore, WaitLink } from '../../core/state';
import type { StateStoreHarness } from './state.contract';

const T = Date.UTC(2025, 5, 18, 12, 0, 0);
const DAY = 24 * 3_600_000;

function link(over: Partial<WaitLink> = {}): WaitLink {
	return {
		phoneNumberId: '106540352242922',
		messageId: 'wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA',
		waId: '16505551234',
		executionId: '42',
		resumeUrl: 'http://localhost:5678/webhook-waiting/42/node-1?signature=abc',
		secret: 'aa'.repeat(32),
		expiresAt: T + DAY,
		spec: JSON.stringify({ buttons: ['Confirm', 'Reschedule'] }),
		sent: JSON.stringify({ messageId: 'wamid.x' }),
		createdAt: T,
		...over,
	};
}

export function waitLinkContract(name: string, harness: StateStoreHarness): void {
	describe(`${name}: wait links`, () => {
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

		it('reads a link back (with what the adapter holds) by wamid and by the customer, unclaimed', async () => {
			const store = await create();
			const l = link();
			await store.putWaitLink(l);
			const other = await connect(store);
			expect(
				await other.getWaitLink({ phoneNumberId: l.phoneNumberId, messageId: l.messageId }),
			).toEqual(l);
			expect(await other.getWaitLink({ phoneNumberId: l.phoneNumberId, waId: l.waId })).toEqual(l);
			const withHeld = link({ messageId: 'wamid.held', held: '{"payload":{"to":"+1"}}' });
			await store.putWaitLink(withHeld);
			expect(
				await other.getWaitLink({ phoneNumberId: l.phoneNumberId, messageId: 'wamid.held' }),
			).toEqual(withHeld);
			expect(
				await other.getWaitLink({ phoneNumberId: 'another-number', messageId: l.messageId }),
			).toBeUndefined();
		});

		it("the customer's latest wait is the one found by wa_id", async () => {
			const store = await create();
			await store.putWaitLink(link({ messageId: 'wamid.first', createdAt: T }));
			await store.putWaitLink(link({ messageId: 'wamid.second', createdAt: T + 1000 }));
			const found = await store.getWaitLink({
				phoneNumberId: link().phoneNumberId,
				waId: link().waId,
			});
			expect(found?.messageId).toBe('wamid.second');
		});

		it('claims once across connections, however many race for it', async () => {
			const store = await create();
			const l = link();
			await store.putWaitLink(l);
			const other = await connect(store);
			const claims = await Promise.all(
				[store, other, store, other, store, other].map((s) =>
					s.claimWaitLink({ phoneNumberId: l.phoneNumberId, messageId: l.messageId, now: T + 5 }),
				),
			);
			const won = claims.filter((c) => c !== undefined);
			expect(won).toHaveLength(1);
			expect(won[0]).toMatchObject({ executionId: '42', secret: l.secret, claimedAt: T + 5 });
			expect(
				(await other.getWaitLink({ phoneNumberId: l.phoneNumberId, messageId: l.messageId }))
					?.claimedAt,
			).toBe(T + 5);
		});

		it('does not claim an expired link (a reply after the timeout resumes nothing)', async () => {
			const store = await create();
			const l = link();
			await store.putWaitLink(l);
			expect(
				await store.claimWaitLink({
					phoneNumberId: l.phoneNumberId,
					messageId: l.messageId,
					now: l.expiresAt,
				}),
			).toBeUndefined();
			expect(
				await store.claimWaitLink({ phoneNumberId: l.phoneNumberId, messageId: 'wamid.unknown' }),
			).toBeUndefined();
		});

		it('a released claim can be claimed again (the resume could not be delivered)', async () => {
			const store = await create();
			const l = link();
			await store.putWaitLink(l);
			const key = { phoneNumberId: l.phoneNumberId, messageId: l.messageId, now: T + 1 };
			expect(await store.claimWaitLink(key)).toBeDefined();
			await store.releaseWaitLink(key);
			expect(await store.claimWaitLink({ ...key, now: T + 2 })).toMatchObject({ claimedAt: T + 2 });
		});

		it('a claim stores its resume, leased to the claimer; after the lease one other receiver takes it', async () => {
			const store = await create();
			const other = await connect(store);
			const l = link();
			await store.putWaitLink(l);
			const key = { phoneNumberId: l.phoneNumberId, messageId: l.messageId };
			const claimed = await store.claimWaitLink({
				...key,
				now: T + 1,
				resume: '{"v":1}',
				leaseUntil: T + 60_000,
			});
			expect(claimed).toMatchObject({
				resume: '{"v":1}',
				leaseUntil: T + 60_000,
				claimedAt: T + 1,
			});
			expect(await other.getWaitLink(key)).toMatchObject({ resume: '{"v":1}' });
			// Held by the claimer: nothing to take before its lease ends.
			expect(
				await other.leaseWaitResumes({ now: T + 59_999, leaseUntil: T + 120_000, limit: 10 }),
			).toEqual([]);
			// The claimer died: after the lease, exactly one of the racing receivers takes it.
			const taken = await Promise.all(
				[store, other, store, other].map((s) =>
					s.leaseWaitResumes({ now: T + 60_000, leaseUntil: T + 120_000, limit: 10 }),
				),
			);
			const all = taken.flat();
			expect(all).toHaveLength(1);
			expect(all[0]).toMatchObject({
				...key,
				executionId: '42',
				secret: l.secret,
				resume: '{"v":1}',
				leaseUntil: T + 120_000,
			});
		});

		it('a pending resume stops being leased once the wait ends or expires', async () => {
			const store = await create();
			const a = link({ messageId: 'wamid.a' });
			const b = link({ messageId: 'wamid.b', expiresAt: T + 10_000 });
			for (const l of [a, b]) {
				await store.putWaitLink(l);
				await store.claimWaitLink({
					phoneNumberId: l.phoneNumberId,
					messageId: l.messageId,
					now: T + 1,
					resume: '{}',
					leaseUntil: T + 2,
				});
			}
			const keyA = { phoneNumberId: a.phoneNumberId, messageId: a.messageId };
			expect(await store.endWaitLink({ ...keyA, now: T + 3 })).toBe(true);
			expect(await store.getWaitLink(keyA)).toMatchObject({ endedAt: T + 3 });
			// b expired at T + 10 s: nothing will deliver it now (n8n has run its No Response).
			expect(
				await store.leaseWaitResumes({ now: T + 10_000, leaseUntil: T + 70_000, limit: 10 }),
			).toEqual([]);
			expect(await store.renewWaitResume({ ...keyA, leaseUntil: T + 99 })).toBe(false);
		});

		it('renews a lease while the resume is pending', async () => {
			const store = await create();
			const l = link();
			await store.putWaitLink(l);
			const key = { phoneNumberId: l.phoneNumberId, messageId: l.messageId };
			await store.claimWaitLink({ ...key, now: T + 1, resume: '{}', leaseUntil: T + 10 });
			expect(await store.renewWaitResume({ ...key, leaseUntil: T + 5_000 })).toBe(true);
			expect(
				await store.leaseWaitResumes({ now: T + 4_999, leaseUntil: T + 9_000, limit: 10 }),
			).toEqual([]);
			expect(
				await store.leaseWaitResumes({ now: T + 5_000, leaseUntil: T + 9_000, limit: 10 }),
			).toHaveLength(1);
		});

		it('ends a wait once, claimed or not; an ended wait cannot be claimed', async () => {
			const store = await create();
			const other = await connect(store);
			const l = link();
			await store.putWaitLink(l);
			const key = { phoneNumberId: l.phoneNumberId, messageId: l.messageId };
			const ends = await Promise.all(
				[store, other, store, other].map((s) => s.endWaitLink({ ...key, now: T + 7 })),
			);
			expect(ends.filter(Boolean)).toHaveLength(1);
			expect(await other.claimWaitLink({ ...key, now: T + 8 })).toBeUndefined();
			expect(
				await store.endWaitLink({ phoneNumberId: l.phoneNumberId, messageId: 'wamid.unknown' }),
			).toBe(false);
			// Put again (a new wait on the same wamid): open again.
			await store.putWaitLink(l);
			expect(await store.getWaitLink(key)).toEqual(l);
		});

		it('prune keeps a link for a day after its end, then drops it', async () => {
			const store = await create();
			const l = link({ expiresAt: Date.now() - 2 * DAY, createdAt: Date.now() - 3 * DAY });
			const kept = link({ messageId: 'wamid.kept', expiresAt: Date.now() + DAY });
			await store.putWaitLink(l);
			await store.putWaitLink(kept);
			await store.prune(new Date());
			const k = { phoneNumberId: l.phoneNumberId };
			// Redis drops it by TTL (set from expiresAt), the others by prune: either way it is gone.
			expect(await store.getWaitLink({ ...k, messageId: l.messageId })).toBeUndefined();
			expect(await store.getWaitLink({ ...k, messageId: kept.messageId })).toBeDefined();
		});

		it('refuses a link without its fields, naming the field', async () => {
			const store = await create();
			await expect(store.putWaitLink(link({ executionId: '' }))).rejects.toThrow(/executionId/);
			await expect(store.putWaitLink(link({ expiresAt: NaN }))).rejects.toThrow(/expiresAt/);
		});
	});
}
