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

		describe('open waits of a resume URL (a Node-RED node re-arms its timers at start)', () => {
			const NODE = 'node-red:3f9a1c2b.node';
			const ids = (links: WaitLink[]) => links.map((l) => l.messageId);
			/** Every page of `limit`, each from the last link of the one before. */
			const allPages = async (store: JourneyStateStore, limit: number) => {
				const pages: WaitLink[][] = [];
				let page = await store.listOpenWaitLinks({ resumeUrl: NODE, limit });
				while (page.length > 0) {
					pages.push(page);
					page = await store.listOpenWaitLinks({ resumeUrl: NODE, limit, after: page.at(-1) });
				}
				return pages;
			};

			it('lists the waits not ended, claimed or not, expired or not, earliest deadline first, with what is held', async () => {
				const store = await create();
				const other = await connect(store);
				const held = '{"payload":{"to":"+16505551234"},"_msgid":"m1"}';
				await store.putWaitLink(
					link({ messageId: 'wamid.late', resumeUrl: NODE, expiresAt: T + 3 * DAY, held }),
				);
				await store.putWaitLink(
					link({ messageId: 'wamid.expired', resumeUrl: NODE, expiresAt: T - 1000 }),
				);
				await store.putWaitLink(
					link({ messageId: 'wamid.claimed', resumeUrl: NODE, expiresAt: T + DAY }),
				);
				await store.putWaitLink(
					link({ messageId: 'wamid.ended', resumeUrl: NODE, expiresAt: T + 2 * DAY }),
				);
				await store.putWaitLink(link({ messageId: 'wamid.n8n', expiresAt: T + 2 * DAY }));
				await store.putWaitLink(
					link({ messageId: 'wamid.other', resumeUrl: `${NODE}2`, expiresAt: T + 2 * DAY }),
				);
				const phoneNumberId = link().phoneNumberId;
				await store.claimWaitLink({ phoneNumberId, messageId: 'wamid.claimed', now: T });
				await store.endWaitLink({ phoneNumberId, messageId: 'wamid.ended', now: T });
				const open = await other.listOpenWaitLinks({ resumeUrl: NODE, limit: 10 });
				expect(ids(open)).toEqual(['wamid.expired', 'wamid.claimed', 'wamid.late']);
				expect(open[2]).toEqual(
					link({ messageId: 'wamid.late', resumeUrl: NODE, expiresAt: T + 3 * DAY, held }),
				);
				expect(open[1]).toMatchObject({ claimedAt: T });
				expect(await other.listOpenWaitLinks({ resumeUrl: 'node-red:none', limit: 10 })).toEqual(
					[],
				);
				expect(await other.listOpenWaitLinks({ resumeUrl: NODE, limit: 0 })).toEqual([]);
			});

			it('pages through every open wait once, equal deadlines included, even as waits end between pages', async () => {
				const store = await create();
				const phoneNumberId = link().phoneNumberId;
				const put: string[] = [];
				for (let i = 0; i < 7; i++) {
					const messageId = `wamid.p${i}`;
					put.push(messageId);
					// Three share one deadline: the cursor must not lose or repeat any of them.
					await store.putWaitLink(
						link({ messageId, resumeUrl: NODE, expiresAt: T + (i < 3 ? 0 : i) * 1000 }),
					);
				}
				await store.putWaitLink(
					link({
						phoneNumberId: 'another-number',
						messageId: 'wamid.p0',
						resumeUrl: NODE,
						expiresAt: T,
					}),
				);
				const pages = await allPages(store, 2);
				expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2]);
				const seen = pages.flat().map((l) => `${l.phoneNumberId}/${l.messageId}`);
				expect(new Set(seen).size).toBe(8);
				expect(seen).toEqual(
					expect.arrayContaining([
						...put.map((m) => `${phoneNumberId}/${m}`),
						'another-number/wamid.p0',
					]),
				);
				const deadlines = pages.flat().map((l) => l.expiresAt);
				expect(deadlines).toEqual([...deadlines].sort((a, b) => a - b));

				// A node ending each page's expired waits as it goes (its own page's last one included) misses none.
				const ended: string[] = [];
				let page = await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 3 });
				while (page.length > 0) {
					for (const l of page) {
						expect(
							await store.endWaitLink({ phoneNumberId: l.phoneNumberId, messageId: l.messageId }),
						).toBe(true);
						ended.push(`${l.phoneNumberId}/${l.messageId}`);
					}
					page = await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 3, after: page.at(-1) });
				}
				expect(ended.sort()).toEqual([...seen].sort());
				expect(await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 10 })).toEqual([]);
			});

			it('follows a link put again under another URL, and a released wait', async () => {
				const store = await create();
				const l = link({ resumeUrl: NODE });
				const key = { phoneNumberId: l.phoneNumberId, messageId: l.messageId };
				await store.putWaitLink(l);
				await store.putWaitLink({ ...l, resumeUrl: `${NODE}2` });
				expect(await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 10 })).toEqual([]);
				expect(ids(await store.listOpenWaitLinks({ resumeUrl: `${NODE}2`, limit: 10 }))).toEqual([
					l.messageId,
				]);
				await store.endWaitLink({ ...key, now: T + 1 });
				expect(await store.listOpenWaitLinks({ resumeUrl: `${NODE}2`, limit: 10 })).toEqual([]);
				await store.releaseWaitLink(key);
				expect(ids(await store.listOpenWaitLinks({ resumeUrl: `${NODE}2`, limit: 10 }))).toEqual([
					l.messageId,
				]);
				// Put again after it ended: open again.
				await store.endWaitLink({ ...key, now: T + 2 });
				await store.putWaitLink(l);
				expect(ids(await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 10 }))).toEqual([
					l.messageId,
				]);
			});

			it('prune drops a wait a day past its end from the list too', async () => {
				const store = await create();
				const now = Date.now();
				await store.putWaitLink(
					link({
						messageId: 'wamid.gone',
						resumeUrl: NODE,
						expiresAt: now - 2 * DAY,
						createdAt: now - 3 * DAY,
					}),
				);
				await store.putWaitLink(
					link({ messageId: 'wamid.kept', resumeUrl: NODE, expiresAt: now - 1000 }),
				);
				await store.prune(new Date(now));
				expect(ids(await store.listOpenWaitLinks({ resumeUrl: NODE, limit: 10 }))).toEqual([
					'wamid.kept',
				]);
			});

			it('refuses a query without its resume URL or with a bad limit, naming the field', async () => {
				const store = await create();
				await expect(store.listOpenWaitLinks({ resumeUrl: '', limit: 1 })).rejects.toThrow(
					/resumeUrl/,
				);
				await expect(store.listOpenWaitLinks({ resumeUrl: NODE, limit: -1 })).rejects.toThrow(
					/limit/,
				);
			});
		});

		it('refuses a link without its fields, naming the field', async () => {
			const store = await create();
			await expect(store.putWaitLink(link({ executionId: '' }))).rejects.toThrow(/executionId/);
			await expect(store.putWaitLink(link({ expiresAt: NaN }))).rejects.toThrow(/expiresAt/);
		});
	});
}
