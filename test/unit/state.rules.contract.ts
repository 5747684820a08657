/**
 * The journey-rules part of the store contract (issue #14): step claims, frequency counts, business-initiated
 * recipients and account facts, the same in every backend and across handles (another n8n worker's connection).
 * Called from stateStoreContract, so it runs over memory, SQLite and Redis.
 */
import {
	accountSubject,
	FREQUENCY_RETENTION_MS,
	type JourneyStateStore,
	PENDING_LEASE_MS,
	UNSENT_CLAIM_LEASE_MS,
	type SendAdmission,
	type SendSettlement,
	STEP_RETENTION_MS,
} from '../../core/state';
import type { StateStoreHarness } from './state.contract';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.UTC(2025, 5, 18, 12, 0, 0);
const at = (offsetMs: number) => new Date(T + offsetMs);

export function journeyRulesContract(name: string, harness: StateStoreHarness): void {
	describe(`${name}: journey rules (admit / settle)`, () => {
		let opened: JourneyStateStore[] = [];
		let store: JourneyStateStore;
		const PN = '106540352242922';
		const WA = '16505551234';
		let tokens = 0;
		const token = () => `tok-${++tokens}`;

		async function handles(n: number): Promise<JourneyStateStore[]> {
			const list = [store];
			for (let i = 1; i < n; i++) {
				const h = await harness.connect(store);
				opened.push(h);
				list.push(h);
			}
			return list;
		}

		const step = (key: string, extra: Partial<NonNullable<SendAdmission['step']>> = {}) => ({
			key,
			reentryPeriodMs: 0,
			retryWhenOutcomeUnknown: false,
			...extra,
		});
		const admission = (p: Partial<SendAdmission> & { now: Date }): SendAdmission => ({
			phoneNumberId: PN,
			waId: WA,
			token: token(),
			template: true,
			...p,
		});

		/** What a sender records of its claim's send for the customer WA (outcome, message id, step…). */
		const settlement = (
			claim: { token: string },
			now: Date,
			rest: Omit<SendSettlement, 'phoneNumberId' | 'waId' | 'token' | 'now'>,
		): SendSettlement => ({ phoneNumberId: PN, waId: WA, token: claim.token, now, ...rest });
		/** The leaving stamp a sender writes on its claim of `stepKey` right before a request leaves. */
		const leaving = (claim: SendAdmission, stepKey: string, now: Date) => ({
			phoneNumberId: PN,
			token: claim.token,
			stepKey,
			now,
		});

		beforeEach(async () => {
			store = await harness.create();
			opened = [store];
		});

		afterEach(async () => {
			for (const s of opened.reverse()) await s.close();
		});

		describe('once per step', () => {
			it('claims a step once: a second send is refused while pending, and after sent says when and with which wamid', async () => {
				const [a, b] = await handles(2);
				const first = admission({ now: at(0), step: step('k1') });
				expect(await a.admitSend(first)).toMatchObject({ admitted: true });
				expect(await b.admitSend(admission({ now: at(1000), step: step('k1') }))).toEqual({
					admitted: false,
					rule: 'step',
					state: 'pending',
					at: T,
				});
				await a.settleSend(
					settlement(first, at(2000), {
						outcome: 'sent',
						messageId: 'wamid.A',
						stepKey: 'k1',
					}),
				);
				expect(await b.admitSend(admission({ now: at(DAY), step: step('k1') }))).toEqual({
					admitted: false,
					rule: 'step',
					state: 'sent',
					messageId: 'wamid.A',
					at: T + 2000,
				});
				expect(await b.getStep({ phoneNumberId: PN, stepKey: 'k1' })).toMatchObject({
					state: 'sent',
					messageId: 'wamid.A',
					sentAt: T + 2000,
				});
				// Another step, or the same step key of another number, is its own claim.
				expect(await b.admitSend(admission({ now: at(DAY), step: step('k2') }))).toMatchObject({
					admitted: true,
				});
				expect(
					await b.admitSend(admission({ phoneNumberId: 'other', now: at(DAY), step: step('k1') })),
				).toMatchObject({ admitted: true });
			});

			it('admits exactly one of many concurrent claims of one step across handles', async () => {
				const list = await handles(4);
				const results = await Promise.all(
					Array.from({ length: 20 }, (_, i) =>
						list[i % list.length].admitSend(admission({ now: at(i), step: step('race') })),
					),
				);
				expect(results.filter((r) => r.admitted)).toHaveLength(1);
			});

			it('reads a claim whose request left and stayed unanswered past its lease, or settled unknown, as outcome unknown; resends it only when asked to', async () => {
				const first = admission({ now: at(0), step: step('k') });
				await store.admitSend(first);
				expect(await store.markSendLeaving(leaving(first, 'k', at(100)))).toBe(true);
				// The lease runs from the latest attempt: a retry's request renews it.
				expect(await store.markSendLeaving(leaving(first, 'k', at(20_000)))).toBe(true);
				expect(
					await store.admitSend(
						admission({ now: at(20_000 + PENDING_LEASE_MS - 1), step: step('k') }),
					),
				).toMatchObject({ admitted: false, state: 'pending', at: T });
				expect(
					await store.admitSend(admission({ now: at(20_000 + PENDING_LEASE_MS), step: step('k') })),
				).toMatchObject({ admitted: false, state: 'unknown', at: T });

				const second = admission({ now: at(0), step: step('k2') });
				await store.admitSend(second);
				await store.settleSend(
					settlement(second, at(1000), {
						outcome: 'unknown',
						stepKey: 'k2',
					}),
				);
				expect(await store.admitSend(admission({ now: at(2000), step: step('k2') }))).toMatchObject(
					{ admitted: false, state: 'unknown' },
				);
				const retry = admission({
					now: at(3000),
					step: step('k2', { retryWhenOutcomeUnknown: true }),
				});
				expect(await store.admitSend(retry)).toMatchObject({ admitted: true });
				// The retry owns the claim now: the old attempt's late settlement cannot overwrite it.
				await store.settleSend(
					settlement(second, at(4000), {
						outcome: 'failed',
						stepKey: 'k2',
					}),
				);
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'k2' })).toMatchObject({
					state: 'pending',
					token: retry.token,
				});
			});

			it('lets a re-run take over a claim that sent nothing once its sender is surely gone, and fences the old sender out', async () => {
				const [a, b] = await handles(2);
				const dead = admission({ now: at(0), step: step('u') });
				expect(await a.admitSend(dead)).toMatchObject({ admitted: true });
				// Its send was still waiting for a pacer slot: no request left. Until the lease ends it may be alive.
				expect(
					await b.admitSend(admission({ now: at(UNSENT_CLAIM_LEASE_MS - 1), step: step('u') })),
				).toEqual({ admitted: false, rule: 'step', state: 'pending', at: T });
				// Provably unsent: taken over whatever "Retry When Outcome Unknown" says.
				const rerun = admission({ now: at(UNSENT_CLAIM_LEASE_MS), step: step('u') });
				expect(await b.admitSend(rerun)).toMatchObject({ admitted: true });
				// The old sender, had it only been slow, may not send now; the new one may.
				expect(await a.markSendLeaving(leaving(dead, 'u', at(UNSENT_CLAIM_LEASE_MS + 1)))).toBe(
					false,
				);
				expect(await b.markSendLeaving(leaving(rerun, 'u', at(UNSENT_CLAIM_LEASE_MS + 2)))).toBe(
					true,
				);
				expect(await a.getStep({ phoneNumberId: PN, stepKey: 'u' })).toMatchObject({
					state: 'pending',
					token: rerun.token,
					leftAt: T + UNSENT_CLAIM_LEASE_MS + 2,
				});
				// Once its request left, the claim is the sender's until the pending lease, as any other.
				expect(
					await a.admitSend(
						admission({
							now: at(UNSENT_CLAIM_LEASE_MS + 2 + PENDING_LEASE_MS - 1),
							step: step('u'),
						}),
					),
				).toMatchObject({ admitted: false, state: 'pending' });
				// A sent step is never marked leaving again.
				const sent = admission({ now: at(0), step: step('s') });
				await a.admitSend(sent);
				await a.settleSend(
					settlement(sent, at(1), {
						outcome: 'sent',
						messageId: 'wamid.S',
						stepKey: 's',
					}),
				);
				expect(await b.markSendLeaving(leaving(sent, 's', at(2)))).toBe(false);
			});

			it('resolves an unknown step from its status webhook: sent with the wamid, or released when it failed', async () => {
				const a = admission({ now: at(0), step: step('ks') });
				const b = admission({ now: at(0), step: step('kf') });
				await store.admitSend(a);
				await store.admitSend(b);
				for (const [p, key] of [
					[a, 'ks'],
					[b, 'kf'],
				] as const)
					await store.settleSend(
						settlement(p, at(1000), {
							outcome: 'unknown',
							stepKey: key,
						}),
					);
				await store.applyEventBatch([
					{
						writes: [
							{
								kind: 'stepStatus',
								phoneNumberId: PN,
								stepKey: 'ks',
								messageId: 'wamid.S',
								status: 'delivered',
								at: at(5000),
							},
							{
								kind: 'stepStatus',
								phoneNumberId: PN,
								stepKey: 'kf',
								messageId: 'wamid.F',
								status: 'failed',
								at: at(5000),
							},
							// A status for a step that has no record changes nothing.
							{
								kind: 'stepStatus',
								phoneNumberId: PN,
								stepKey: 'none',
								messageId: 'wamid.N',
								status: 'sent',
								at: at(5000),
							},
						],
					},
				]);
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'ks' })).toMatchObject({
					state: 'sent',
					messageId: 'wamid.S',
					sentAt: T + 5000,
				});
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'kf' })).toBeUndefined();
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'none' })).toBeUndefined();
				expect(await store.admitSend(admission({ now: at(6000), step: step('kf') }))).toMatchObject(
					{ admitted: true },
				);
			});

			it('sends a step again after its re-entry period, not before', async () => {
				const first = admission({ now: at(0), step: step('r', { reentryPeriodMs: DAY }) });
				await store.admitSend(first);
				await store.settleSend(
					settlement(first, at(0), {
						outcome: 'sent',
						messageId: 'wamid.R',
						stepKey: 'r',
					}),
				);
				expect(
					await store.admitSend(
						admission({ now: at(DAY - 1), step: step('r', { reentryPeriodMs: DAY }) }),
					),
				).toMatchObject({ admitted: false, state: 'sent' });
				expect(
					await store.admitSend(
						admission({ now: at(DAY), step: step('r', { reentryPeriodMs: DAY }) }),
					),
				).toMatchObject({ admitted: true });
			});

			it("releases a refused send's claim and counts, so a retry may send it", async () => {
				const p = admission({
					now: at(0),
					step: step('f'),
					frequency: { category: 'MARKETING', max: 1, periodMs: DAY },
					messagingLimit: { scope: 'portfolio', limit: 1 },
				});
				const ok = await store.admitSend(p);
				expect(ok).toMatchObject({ admitted: true, businessInitiated: true, recipients: 1 });
				await store.settleSend(
					settlement(p, at(1000), {
						outcome: 'failed',
						stepKey: 'f',
						frequency: { category: 'MARKETING' },
						messagingLimit: { scope: 'portfolio', at: T, prevAt: 0 },
					}),
				);
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'f' })).toBeUndefined();
				// Neither the cap (1) nor the limit (1) counts the refused send.
				expect(
					await store.admitSend(
						admission({
							now: at(2000),
							step: step('f'),
							frequency: { category: 'MARKETING', max: 1, periodMs: DAY },
							messagingLimit: { scope: 'portfolio', limit: 1 },
						}),
					),
				).toMatchObject({ admitted: true, frequencyCount: 1, recipients: 1 });
			});
		});

		describe('dry run', () => {
			it('answers as a send would, and claims or counts nothing', async () => {
				const full = {
					step: step('d'),
					frequency: { category: 'MARKETING', max: 1, periodMs: DAY },
					messagingLimit: { scope: 'pd', limit: 1 },
				};
				for (let i = 0; i < 3; i++)
					expect(
						await store.admitSend(admission({ now: at(i), dryRun: true, ...full })),
					).toMatchObject({ admitted: true, frequencyCount: 1, recipients: 1 });
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'd' })).toBeUndefined();
				expect(await store.admitSend(admission({ now: at(10), ...full }))).toMatchObject({
					admitted: true,
				});
				expect(
					await store.admitSend(admission({ now: at(11), dryRun: true, ...full })),
				).toMatchObject({ admitted: false, rule: 'step', state: 'pending' });
			});
		});

		describe('frequency cap', () => {
			const cap = { category: 'MARKETING', max: 2, periodMs: 7 * DAY };

			it('counts a customer across steps and handles in a rolling period, per category', async () => {
				const [a, b] = await handles(2);
				expect(await a.admitSend(admission({ now: at(0), frequency: cap }))).toMatchObject({
					admitted: true,
					frequencyCount: 1,
				});
				expect(await b.admitSend(admission({ now: at(DAY), frequency: cap }))).toMatchObject({
					admitted: true,
					frequencyCount: 2,
				});
				expect(await a.admitSend(admission({ now: at(2 * DAY), frequency: cap }))).toEqual({
					admitted: false,
					rule: 'frequency',
					count: 2,
					limit: 2,
					resumeAt: T + 7 * DAY,
				});
				// Another category and another customer are counted apart.
				expect(
					await a.admitSend(
						admission({ now: at(2 * DAY), frequency: { ...cap, category: 'UTILITY' } }),
					),
				).toMatchObject({ admitted: true, frequencyCount: 1 });
				expect(
					await a.admitSend(admission({ waId: '4915112345678', now: at(2 * DAY), frequency: cap })),
				).toMatchObject({ admitted: true });
				// The first send leaves the rolling period: one place is free again.
				expect(await b.admitSend(admission({ now: at(7 * DAY), frequency: cap }))).toMatchObject({
					admitted: true,
					frequencyCount: 2,
				});
			});

			it('never admits more than the cap from concurrent sends on several handles', async () => {
				const list = await handles(3);
				const results = await Promise.all(
					Array.from({ length: 12 }, (_, i) =>
						list[i % list.length].admitSend(admission({ now: at(i), frequency: cap })),
					),
				);
				expect(results.filter((r) => r.admitted)).toHaveLength(2);
			});
		});

		describe('messaging limit (business-initiated recipients per portfolio)', () => {
			const limit = { scope: 'portfolio-1', limit: 2 };
			const others = ['491511000001', '491511000002', '491511000003'];

			it('counts unique recipients of templates sent while their window is closed, in a rolling 24 h', async () => {
				const [a, b] = await handles(2);
				expect(
					await a.admitSend(admission({ waId: others[0], now: at(0), messagingLimit: limit })),
				).toMatchObject({ admitted: true, businessInitiated: true, recipients: 1 });
				expect(
					await b.admitSend(admission({ waId: others[1], now: at(HOUR), messagingLimit: limit })),
				).toMatchObject({ admitted: true, recipients: 2 });
				expect(
					await a.admitSend(
						admission({ waId: others[2], now: at(2 * HOUR), messagingLimit: limit }),
					),
				).toEqual({ admitted: false, rule: 'messaging_limit', count: 2, limit: 2 });
				// A customer already reached in the period is not a new one.
				expect(
					await a.admitSend(
						admission({ waId: others[0], now: at(3 * HOUR), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: true, recipients: 2 });
				// The first recipient's last send (3 h) leaves the 24 h period at 27 h; the second's at 25 h.
				expect(
					await b.admitSend(
						admission({ waId: others[2], now: at(25 * HOUR), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: true, recipients: 2 });
			});

			it('does not count a customer whose service window is open, nor a session message', async () => {
				await store.recordInbound({
					phoneNumberId: PN,
					waId: others[2],
					at: at(-HOUR),
					now: at(-HOUR),
				});
				await store.admitSend(admission({ waId: others[0], now: at(0), messagingLimit: limit }));
				await store.admitSend(admission({ waId: others[1], now: at(0), messagingLimit: limit }));
				expect(
					await store.admitSend(admission({ waId: others[2], now: at(0), messagingLimit: limit })),
				).toMatchObject({ admitted: true, businessInitiated: false });
				expect(
					await store.admitSend(
						admission({ waId: '491511000009', template: false, now: at(0), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: true, businessInitiated: false });
			});

			it('only counts without a limit, and shares the count across numbers of one portfolio', async () => {
				expect(
					await store.admitSend(
						admission({ waId: others[0], now: at(0), messagingLimit: { scope: 'p' } }),
					),
				).toMatchObject({ admitted: true, recipients: 1 });
				expect(
					await store.admitSend(
						admission({
							phoneNumberId: 'second-number',
							waId: others[1],
							now: at(0),
							messagingLimit: { scope: 'p', limit: 1 },
						}),
					),
				).toEqual({ admitted: false, rule: 'messaging_limit', count: 1, limit: 1 });
			});

			it('keeps the count right through refused sends (released or restored), expiries and a prune', async () => {
				const l = { scope: 'portfolio-c', limit: 3 };
				const admit = (waId: string, t: number) =>
					store.admitSend(admission({ waId, now: at(t), messagingLimit: l }));
				const fail = (waId: string, token: string, t: number, prevAt: number) =>
					store.settleSend({
						phoneNumberId: PN,
						waId,
						token,
						now: at(t + 1),
						outcome: 'failed',
						messagingLimit: { scope: l.scope, at: T + t, prevAt },
					});
				const ids = ['491513000001', '491513000002', '491513000003', '491513000004'];
				expect(await admit(ids[0], 0)).toMatchObject({ recipients: 1 });
				expect(await admit(ids[1], HOUR)).toMatchObject({ recipients: 2 });
				// A new recipient refused by Meta is released: it no longer counts.
				const third = admission({ waId: ids[2], now: at(2 * HOUR), messagingLimit: l });
				expect(await store.admitSend(third)).toMatchObject({ recipients: 3 });
				await fail(ids[2], third.token, 2 * HOUR, 0);
				// A known recipient's refused resend restores its earlier time: still one recipient.
				const again = admission({ waId: ids[0], now: at(3 * HOUR), messagingLimit: l });
				expect(await store.admitSend(again)).toMatchObject({ recipients: 2, recipientPrevAt: T });
				await fail(ids[0], again.token, 3 * HOUR, T);
				expect(await admit(ids[2], 4 * HOUR)).toMatchObject({ recipients: 3 });
				expect(await admit(ids[3], 5 * HOUR)).toMatchObject({
					admitted: false,
					count: 3,
					limit: 3,
				});
				// ids[0] (restored to 0 h) leaves the period at 24 h; ids[1] at 25 h.
				expect(await admit(ids[3], 24 * HOUR + 1)).toMatchObject({ recipients: 3 });
				await store.prune(new Date(T + 25 * HOUR + 1));
				expect(await admit(ids[0], 25 * HOUR + 2)).toMatchObject({ recipients: 3 });
				expect(await admit(ids[1], 25 * HOUR + 3)).toMatchObject({
					admitted: false,
					count: 3,
				});
			});

			it('never admits more new recipients than the limit from concurrent sends', async () => {
				const list = await handles(3);
				const results = await Promise.all(
					Array.from({ length: 9 }, (_, i) =>
						list[i % list.length].admitSend(
							admission({ waId: `49151200000${i}`, now: at(i), messagingLimit: limit }),
						),
					),
				);
				expect(results.filter((r) => r.admitted)).toHaveLength(2);
			});
		});

		describe('account facts', () => {
			it('keeps the newest facts per subject, merged, from webhook batches', async () => {
				const phone = accountSubject.phone('+1 555-078-3881');
				expect(phone).toBe('phone:15550783881');
				await store.applyEventBatch([
					{
						writes: [
							{ kind: 'account', subject: phone, facts: { flagged: true }, at: at(1000) },
							{
								kind: 'account',
								subject: phone,
								facts: { messagingLimitTier: 'TIER_2K' },
								at: at(2000),
							},
							// Older news is ignored.
							{ kind: 'account', subject: phone, facts: { flagged: false }, at: at(500) },
						],
					},
				]);
				const [other] = await handles(2).then((l) => l.slice(1));
				expect(await other.getAccountFacts([phone, 'phone:0'])).toEqual({
					[phone]: { facts: { flagged: true, messagingLimitTier: 'TIER_2K' }, at: T + 2000 },
				});
			});
		});

		describe('retention', () => {
			it('prunes steps after STEP_RETENTION_MS, counts after their periods, facts after theirs', async () => {
				const p = admission({
					now: at(0),
					step: step('old'),
					frequency: { category: 'MARKETING', max: 5, periodMs: DAY },
					messagingLimit: { scope: 'pr' },
				});
				await store.admitSend(p);
				await store.settleSend(
					settlement(p, at(0), {
						outcome: 'sent',
						messageId: 'wamid.O',
						stepKey: 'old',
					}),
				);
				await store.prune(at(FREQUENCY_RETENTION_MS));
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'old' })).toBeDefined();
				await store.prune(at(STEP_RETENTION_MS));
				expect(await store.getStep({ phoneNumberId: PN, stepKey: 'old' })).toBeUndefined();
			});
		});

		// A customer known by a business-scoped user id (BSUID) first and paired with their number later (or the other
		// way round) keeps what was recorded under the first id: the gate passes the customer's other ids and the step's
		// key under each (core/journeys/rules.ts stepKeysFor), and every check covers them in the same atomic unit.
		describe('one customer under several ids (BSUID and phone number)', () => {
			const BSUID = 'US.13491208655302741918';
			const sendUnder = async (s: JourneyStateStore, p: SendAdmission, messageId: string) => {
				expect(await s.admitSend(p)).toMatchObject({ admitted: true });
				await s.settleSend({
					phoneNumberId: PN,
					waId: p.waId,
					token: p.token,
					now: p.now,
					outcome: 'sent',
					messageId,
					stepKey: p.step?.key,
				});
			};

			it('refuses a step sent under the other id (either order), claiming nothing, and sends it again after re-entry', async () => {
				const [a, b] = await handles(2);
				// Sent while the customer was known by their BSUID only (step key "under-bsuid").
				await sendUnder(
					a,
					admission({ waId: BSUID, now: at(0), step: step('under-bsuid') }),
					'wamid.B',
				);
				// The pairing is known now: the customer's key is the number, the step's key "under-phone".
				const again = admission({
					otherIds: [BSUID],
					now: at(HOUR),
					step: step('under-phone', { otherKeys: ['under-bsuid'] }),
				});
				expect(await b.admitSend(again)).toEqual({
					admitted: false,
					rule: 'step',
					state: 'sent',
					at: T,
					messageId: 'wamid.B',
				});
				expect(await b.getStep({ phoneNumberId: PN, stepKey: 'under-phone' })).toBeUndefined();
				// With a re-entry period, the send under the other id starts it.
				const reentry = { otherKeys: ['under-bsuid'], reentryPeriodMs: DAY };
				expect(
					await a.admitSend(admission({ now: at(HOUR), step: step('under-phone', reentry) })),
				).toMatchObject({ admitted: false, rule: 'step', state: 'sent' });
				expect(
					await a.admitSend(admission({ now: at(DAY), step: step('under-phone', reentry) })),
				).toMatchObject({ admitted: true });

				// The other order: sent to the number, then the BSUID is the key of nothing new (it resolves to the number),
				// and a claim still pending under the number holds a send keyed by the BSUID.
				const first = admission({ now: at(0), step: step('p2') });
				expect(await a.admitSend(first)).toMatchObject({ admitted: true });
				expect(
					await b.admitSend(
						admission({
							waId: BSUID,
							otherIds: [WA],
							now: at(1000),
							step: step('b2', { otherKeys: ['p2'] }),
						}),
					),
				).toEqual({ admitted: false, rule: 'step', state: 'pending', at: T });
			});

			it('admits exactly one of concurrent claims of one step made under different ids', async () => {
				const list = await handles(3);
				const results = await Promise.all(
					Array.from({ length: 9 }, (_, i) =>
						list[i % list.length].admitSend(
							i % 2 === 0
								? admission({
										now: at(i),
										otherIds: [BSUID],
										step: step('sp', { otherKeys: ['sb'] }),
									})
								: admission({
										waId: BSUID,
										otherIds: [WA],
										now: at(i),
										step: step('sb', { otherKeys: ['sp'] }),
									}),
						),
					),
				);
				expect(results.filter((r) => r.admitted)).toHaveLength(1);
			});

			it("counts the customer's frequency cap over all their ids, writing new counts under the key", async () => {
				const cap = { category: 'MARKETING', max: 3, periodMs: 7 * DAY };
				const [a, b] = await handles(2);
				await a.admitSend(admission({ waId: BSUID, now: at(0), frequency: cap }));
				await a.admitSend(admission({ waId: BSUID, now: at(HOUR), frequency: cap }));
				// Before the pairing, the number alone is a new customer.
				expect(await b.admitSend(admission({ now: at(2 * HOUR), frequency: cap }))).toMatchObject({
					admitted: true,
					frequencyCount: 1,
				});
				// After it, one customer: 3 of 3 (two under the BSUID, one under the number).
				expect(
					await b.admitSend(admission({ otherIds: [BSUID], now: at(3 * HOUR), frequency: cap })),
				).toEqual({
					admitted: false,
					rule: 'frequency',
					count: 3,
					limit: 3,
					resumeAt: T + 7 * DAY,
				});
				// The first BSUID send leaves the period: one place, and concurrent sends under either id take it once.
				const list = await handles(3);
				const results = await Promise.all(
					Array.from({ length: 6 }, (_, i) =>
						list[i % 3].admitSend(
							i % 2 === 0
								? admission({ otherIds: [BSUID], now: at(7 * DAY + i), frequency: cap })
								: admission({ waId: BSUID, otherIds: [WA], now: at(7 * DAY + i), frequency: cap }),
						),
					),
				);
				expect(results.filter((r) => r.admitted)).toEqual([
					expect.objectContaining({ frequencyCount: 3 }),
				]);
			});

			it('does not refuse the messaging limit for a customer already counted under another of their ids', async () => {
				const limit = { scope: 'pb', limit: 1 };
				const [a, b] = await handles(2);
				// Counted under the BSUID before the pairing: the one place of the limit.
				expect(
					await a.admitSend(admission({ waId: BSUID, now: at(0), messagingLimit: limit })),
				).toMatchObject({ admitted: true, recipients: 1 });
				// Before the pairing, the number alone is another recipient: refused.
				expect(await b.admitSend(admission({ now: at(HOUR), messagingLimit: limit }))).toEqual({
					admitted: false,
					rule: 'messaging_limit',
					count: 1,
					limit: 1,
				});
				// After it, the same person Meta already counted: sent.
				expect(
					await b.admitSend(
						admission({ otherIds: [BSUID], now: at(2 * HOUR), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: true, businessInitiated: true });
				// Someone else is still refused.
				expect(
					await a.admitSend(
						admission({ waId: '15550001111', now: at(3 * HOUR), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: false, rule: 'messaging_limit' });
			});

			it('does not count the customer as business-initiated while a window under another id is open', async () => {
				await store.recordInbound({
					phoneNumberId: PN,
					waId: BSUID,
					at: at(-HOUR),
					now: at(-HOUR),
				});
				const limit = { scope: 'portfolio-ids', limit: 5 };
				expect(
					await store.admitSend(admission({ now: at(0), messagingLimit: limit })),
				).toMatchObject({
					admitted: true,
					businessInitiated: true,
				});
				expect(
					await store.admitSend(
						admission({ otherIds: [BSUID], now: at(0), messagingLimit: limit }),
					),
				).toMatchObject({ admitted: true, businessInitiated: false });
			});

			it('refuses other ids that are not a list of ids, naming the field', async () => {
				await expect(store.admitSend(admission({ otherIds: [''], now: at(0) }))).rejects.toThrow(
					/otherIds\[0\]/,
				);
				await expect(
					store.admitSend(
						admission({ now: at(0), step: step('k', { otherKeys: Array(17).fill('x') }) }),
					),
				).rejects.toThrow(/step\.otherKeys must be an array of at most 16/);
			});
		});
	});
}
