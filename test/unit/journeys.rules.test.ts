/**
 * Journey rules in core (issue #14): quiet hours at time-zone edges and DST changes, the step key, the settings
 * schema, and the send gate inside sendBatch (Retry On Fail and re-runs send nobody twice; caps and guards hold).
 * Local times come from Intl (the runtime's IANA database), so each expectation is the wall clock people see.
 */
import {
	createSendGate,
	customerTimeZone,
	DEFAULT_JOURNEY_RULES,
	JOURNEY_RULE_CODES,
	type JourneyRules,
	MemoryStateStore,
	metaErrorBody,
	parseJourneyRules,
	policyOfRefusal,
	SendPolicyError,
	quietHoursDecision,
	sendBatch,
	stepKeyFor,
	TransportError,
	UNSENT_CLAIM_LEASE_MS,
	type HttpResponse,
	type OutgoingMessage,
	type SendPacer,
} from '../../core';
import { SCRIPTED_PHONE_NUMBER_ID, scriptedMeta } from '../scriptedMeta';

const night = { start: '21:00', end: '08:00' };
const decide = (iso: string, e164: string, q = night, itemTimeZone?: string) =>
	quietHoursDecision({ now: new Date(iso), e164, quietHours: q, itemTimeZone });

describe('quiet hours', () => {
	it('India (+5:30, one zone): 21:30 IST is quiet until 08:00 IST the next morning', () => {
		expect(decide('2026-06-01T16:00:00Z', '+919876543210')).toEqual({
			allowed: false,
			resumeAt: '2026-06-02T02:30:00.000Z',
			timeZone: 'Asia/Kolkata',
			assumed: false,
			localTime: '21:30',
		});
		expect(decide('2026-06-02T02:30:00Z', '+919876543210')).toMatchObject({
			allowed: true,
			localTime: '08:00',
		});
	});

	it('US Eastern across spring forward: 01:30 EST resumes at 08:00 EDT (12:00 UTC, not 13:00)', () => {
		// 2026-03-08 02:00 EST the clocks jump to 03:00 EDT. A +1 212 number is assumed to be New York time.
		expect(decide('2026-03-08T06:30:00Z', '+12125550123')).toEqual({
			allowed: false,
			resumeAt: '2026-03-08T12:00:00.000Z',
			timeZone: 'America/New_York',
			assumed: true,
			localTime: '01:30',
		});
	});

	it('an end time that does not exist that night (DST gap) resumes at the jump itself', () => {
		// Quiet 22:00–02:30 in New York on 2026-03-08: 02:30 never happens; the clock shows 03:00 EDT at 07:00 UTC.
		expect(
			decide('2026-03-08T06:59:00Z', '+12125550123', { start: '22:00', end: '02:30' }),
		).toMatchObject({ allowed: false, resumeAt: '2026-03-08T07:00:00.000Z' });
	});

	it('Europe/London across fall back: 23:00 BST resumes at 08:00 GMT', () => {
		// 2026-10-25 02:00 BST the clocks go back to 01:00 GMT.
		expect(decide('2026-10-24T22:00:00Z', '+447911123456')).toEqual({
			allowed: false,
			resumeAt: '2026-10-25T08:00:00.000Z',
			timeZone: 'Europe/London',
			assumed: false,
			localTime: '23:00',
		});
	});

	it('Australia/Lord_Howe (half-hour DST, item time zone): 22:30 +10:30 resumes at 08:00 +11:00', () => {
		// Lord Howe Island moves from +10:30 to +11:00 at 02:00 on 2026-10-04. The number alone says Sydney.
		expect(customerTimeZone('+61412345678')).toEqual({
			timeZone: 'Australia/Sydney',
			assumed: true,
			country: 'AU',
		});
		expect(decide('2026-10-03T12:00:00Z', '+61412345678', night, 'Australia/Lord_Howe')).toEqual({
			allowed: false,
			resumeAt: '2026-10-03T21:00:00.000Z',
			timeZone: 'Australia/Lord_Howe',
			assumed: false,
			localTime: '22:30',
		});
	});

	it('Brazil (several zones, São Paulo assumed, no DST): 21:30 BRT resumes at 11:00 UTC', () => {
		expect(decide('2026-06-01T00:30:00Z', '+5511987654321')).toEqual({
			allowed: false,
			resumeAt: '2026-06-01T11:00:00.000Z',
			timeZone: 'America/Sao_Paulo',
			assumed: true,
			localTime: '21:30',
		});
	});

	it('a window within one day (12:00–14:00) and the edges of a window crossing midnight', () => {
		const lunch = { start: '12:00', end: '14:00' };
		expect(decide('2026-06-01T11:00:00Z', '+447911123456', lunch)).toMatchObject({
			allowed: false,
			resumeAt: '2026-06-01T13:00:00.000Z',
			localTime: '12:00',
		});
		expect(decide('2026-06-01T13:00:00Z', '+447911123456', lunch)).toMatchObject({
			allowed: true,
		});
		// 20:59 is allowed, 21:00 quiet; 07:59 quiet, 08:00 allowed (London, BST).
		expect(decide('2026-06-01T19:59:00Z', '+447911123456').allowed).toBe(true);
		expect(decide('2026-06-01T20:00:00Z', '+447911123456').allowed).toBe(false);
		expect(decide('2026-06-02T06:59:00Z', '+447911123456')).toMatchObject({
			allowed: false,
			resumeAt: '2026-06-02T07:00:00.000Z',
		});
		expect(decide('2026-06-02T07:00:00Z', '+447911123456').allowed).toBe(true);
	});

	it('exempts the categories it is told to', () => {
		expect(
			quietHoursDecision({
				now: new Date('2026-06-01T16:00:00Z'),
				e164: '+919876543210',
				quietHours: { ...night, exemptCategories: ['AUTHENTICATION', 'UTILITY'] },
				category: 'UTILITY',
			}),
		).toEqual({ allowed: true });
	});
});

describe('journey rule settings', () => {
	it('has the documented defaults', () => {
		expect(DEFAULT_JOURNEY_RULES).toEqual({
			oncePerStep: true,
			reentryPeriodHours: 0,
			retryWhenOutcomeUnknown: false,
			messagingLimitGuard: true,
			qualityGuard: true,
		});
		expect(
			parseJourneyRules({
				frequencyCap: { maxMessages: 2, periodHours: 168 },
				quietHours: { start: '21:00', end: '08:00' },
			}),
		).toMatchObject({
			frequencyCap: { maxMessages: 2, periodHours: 168, categories: ['MARKETING'] },
			quietHours: { exemptCategories: ['AUTHENTICATION', 'UTILITY'], whenOutside: 'hold' },
		});
	});

	it('names the field and the fix when a setting is wrong', () => {
		expect(() => parseJourneyRules({ quietHours: { start: '9pm', end: '08:00' } })).toThrow(
			'Journey Rules › quietHours.start: use 24-hour HH:MM, e.g. "21:00"',
		);
		expect(() =>
			parseJourneyRules({ quietHours: { start: '21:00', end: '08:00', timeZone: 'Mars/Olympus' } }),
		).toThrow(/quietHours.timeZone: not an IANA time zone/);
		expect(() =>
			parseJourneyRules({ frequencyCap: { maxMessages: 2, periodHours: 1000 } }),
		).toThrow(/frequencyCap.periodHours: at most 744 hours/);
	});
});

describe('policyOfRefusal', () => {
	it('gives opt-out and US marketing refusals their journey-rule codes, and nothing for other errors', () => {
		expect(
			policyOfRefusal(new SendPolicyError('opted_out', 131050, 'The customer opted out.'), 'k'),
		).toEqual({
			decision: 'opted_out',
			code: 'WJ_OPTED_OUT',
			reason: 'The customer opted out.',
			rule: 'opt_out',
			stepKey: 'k',
		});
		expect(
			policyOfRefusal(new SendPolicyError('us_marketing', 131049, 'US marketing is paused.')),
		).toMatchObject({ decision: 'us_marketing', code: 'WJ_US_MARKETING' });
		expect(
			policyOfRefusal(new SendPolicyError('template_not_approved', 132001, 'Not approved.')),
		).toBeUndefined();
		expect(policyOfRefusal(new Error('x'))).toBeUndefined();
	});
});

describe('stepKeyFor', () => {
	const base = { phoneNumberId: '1065', scope: 'wf1:Send', waId: '16505551234' };
	it('is a short hash without raw ids, equal for the same step and customer, different otherwise', () => {
		const k = stepKeyFor({ ...base, journey: 'welcome', step: 'day-1' });
		expect(k).toMatch(/^[A-Za-z0-9_-]{22}$/);
		expect(k).not.toContain('16505551234');
		// With journey/step set, the adapter's scope does not matter: two workflows share the step.
		expect(stepKeyFor({ ...base, scope: 'wf2:Other', journey: 'welcome', step: 'day-1' })).toBe(k);
		expect(stepKeyFor({ ...base, journey: 'welcome', step: 'day-2' })).not.toBe(k);
		expect(
			stepKeyFor({ ...base, waId: '16505551235', journey: 'welcome', step: 'day-1' }),
		).not.toBe(k);
		expect(
			stepKeyFor({ ...base, journey: 'welcome', step: 'day-1', occurrenceKey: 'order-99' }),
		).not.toBe(k);
		expect(stepKeyFor(base)).not.toBe(stepKeyFor({ ...base, scope: 'wf2:Other' }));
	});
});

// --- The gate inside sendBatch, against a scripted Cloud API --------------------------------------------------

const PN = SCRIPTED_PHONE_NUMBER_ID;
const ok = (id: string): HttpResponse => ({
	status: 200,
	body: { messaging_product: 'whatsapp', messages: [{ id, message_status: 'accepted' }] },
});

const customers = ['+4915112340001', '+4915112340002', '+4915112340003', '+4915112340004'];
function messages(
	category: 'MARKETING' | 'UTILITY' = 'MARKETING',
	step = 'day-1',
): OutgoingMessage[] {
	return customers.map((e164, itemIndex) => {
		const waId = e164.slice(1);
		return {
			itemIndex,
			waId,
			request: { messaging_product: 'whatsapp', to: e164, type: 'template' },
			gate: {
				waId,
				e164,
				category,
				stepKey: stepKeyFor({ phoneNumberId: PN, journey: 'j', step, scope: 's', waId }),
				template: { name: 'promo', language: 'de' },
			},
		};
	});
}

const rules = (extra: Partial<JourneyRules> = {}): JourneyRules => ({
	...DEFAULT_JOURNEY_RULES,
	...extra,
});

describe('sendBatch with a send gate', () => {
	it('Retry On Fail: the re-run sends only the customer Meta refused; the others are already_sent', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to, n) =>
			to === customers[1] && n === 1
				? { status: 400, body: metaErrorBody(131026, 'undeliverable') }
				: ok(`wamid.${to}.${n}`),
		);
		const gate = () => createSendGate({ store, phoneNumberId: PN, rules: rules() });
		const first = await sendBatch(messages(), { client: api.client, gate: gate() });
		expect(first.map((o) => o.ok)).toEqual([true, false, true, true]);
		expect(first[0].policy).toMatchObject({ decision: 'sent', code: 'WJ_SENT' });
		expect(first[1].policy).toMatchObject({ decision: 'released', code: 'WJ_RELEASED' });

		const second = await sendBatch(messages(), { client: api.client, gate: gate() });
		expect(second.map((o) => o.ok)).toEqual(['skipped', true, 'skipped', 'skipped']);
		expect(second[0].policy).toMatchObject({
			decision: 'already_sent',
			code: JOURNEY_RULE_CODES.already_sent,
			messageId: `wamid.${customers[0]}.1`,
		});
		// Meta saw each customer accepted exactly once.
		expect(api.received.sort()).toEqual([...customers, customers[1]].sort());
	});

	it('a re-run costs no pacer slot for customers already sent', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) => ok(`wamid.${to}`));
		const gate = () => createSendGate({ store, phoneNumberId: PN, rules: rules() });
		let slots = 0;
		const pacer = {
			acquire: async () => {
				slots++;
			},
		} as unknown as SendPacer;
		await sendBatch(messages(), { client: api.client, gate: gate(), pacer });
		expect(slots).toBe(4);
		await sendBatch(messages(), { client: api.client, gate: gate(), pacer });
		expect(slots).toBe(4);
	});

	it('a run that died waiting for its pacer slots sent nothing: a re-run 30 s later sends everyone, and the old run, were it only slow, sends no one', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) => ok(`wamid.${to}`));
		let clock = Date.UTC(2026, 5, 1, 10);
		const now = () => new Date(clock);
		// The first run claims its 4 steps, then its slots never come (the worker is frozen or gone).
		const waiting: Array<() => void> = [];
		const frozen = {
			acquire: () => new Promise<void>((resolve) => waiting.push(resolve)),
		} as unknown as SendPacer;
		const stalled = sendBatch(messages(), {
			client: api.client,
			gate: createSendGate({ store, phoneNumberId: PN, rules: rules(), now }),
			pacer: frozen,
			concurrency: 4,
		});
		while (waiting.length < 4) await new Promise((resolve) => setImmediate(resolve));
		const early = await sendBatch(messages(), {
			client: api.client,
			gate: createSendGate({ store, phoneNumberId: PN, rules: rules(), now }),
		});
		expect(early[0].policy).toMatchObject({ decision: 'in_progress' });
		clock += UNSENT_CLAIM_LEASE_MS;
		const rerun = await sendBatch(messages(), {
			client: api.client,
			gate: createSendGate({ store, phoneNumberId: PN, rules: rules(), now }),
		});
		expect(rerun.map((o) => o.policy?.decision)).toEqual(['sent', 'sent', 'sent', 'sent']);
		// The old run wakes: its claim is the re-run's, so its request may not leave.
		for (const resolve of waiting) resolve();
		const late = await stalled;
		expect(late.map((o) => [o.ok, o.policy?.decision])).toEqual(
			customers.map(() => ['skipped', 'in_progress']),
		);
		expect(api.received.sort()).toEqual([...customers].sort());
	});

	it('a send that timed out after leaving is outcome_unknown and not resent by a re-run', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) =>
			to === customers[2] ? new TransportError('socket hang up', true) : ok(`wamid.${to}`),
		);
		const gate = () => createSendGate({ store, phoneNumberId: PN, rules: rules() });
		const first = await sendBatch(messages(), { client: api.client, gate: gate() });
		expect(first[2]).toMatchObject({
			ok: false,
			policy: { decision: 'outcome_unknown', code: 'WJ_OUTCOME_UNKNOWN' },
		});
		const second = await sendBatch(messages(), { client: api.client, gate: gate() });
		expect(second[2]).toMatchObject({
			ok: 'skipped',
			policy: { decision: 'outcome_unknown', rule: 'once_per_step' },
		});
		expect(api.received.filter((t) => t === customers[2])).toHaveLength(1);
		// With "Retry When Outcome Unknown" the customer is sent again.
		const third = await sendBatch(messages(), {
			client: scriptedMeta((to) => ok(`wamid.${to}`)).client,
			gate: createSendGate({
				store,
				phoneNumberId: PN,
				rules: rules({ retryWhenOutcomeUnknown: true }),
			}),
		});
		expect(third.map((o) => o.ok)).toEqual(['skipped', 'skipped', true, 'skipped']);
	});

	it('caps MARKETING per customer across steps, leaving UTILITY alone', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) => ok(`wamid.${to}.${Math.random()}`));
		const capped = rules({
			frequencyCap: { maxMessages: 1, periodHours: 168, categories: ['MARKETING'] },
		});
		const gate = () => createSendGate({ store, phoneNumberId: PN, rules: capped });
		await sendBatch(messages('MARKETING', 'a'), { client: api.client, gate: gate() });
		const second = await sendBatch(messages('MARKETING', 'b'), {
			client: api.client,
			gate: gate(),
		});
		expect(second.every((o) => o.ok === 'skipped')).toBe(true);
		expect(second[0].policy).toMatchObject({
			decision: 'frequency_capped',
			code: 'WJ_FREQUENCY_CAPPED',
			count: 1,
			limit: 1,
		});
		const utility = await sendBatch(messages('UTILITY', 'c'), { client: api.client, gate: gate() });
		expect(utility.every((o) => o.ok === true)).toBe(true);
	});

	it('stops before the messaging limit, and holds MARKETING when the number is flagged or the template paused', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) => ok(`wamid.${to}`));
		const limited = await sendBatch(messages(), {
			client: api.client,
			concurrency: 1,
			gate: createSendGate({
				store,
				phoneNumberId: PN,
				rules: rules(),
				account: async () => ({ messagingLimit: { tier: 'TIER_250', limit: 2, scope: 'bp-1' } }),
			}),
		});
		expect(limited.map((o) => o.ok)).toEqual([true, true, 'skipped', 'skipped']);
		expect(limited[2].policy).toMatchObject({
			decision: 'messaging_limit',
			code: 'WJ_MESSAGING_LIMIT',
			count: 2,
			limit: 2,
		});

		for (const account of [
			{ flagged: true },
			{ qualityRating: 'RED' },
			{ templates: { 'promo:de': 'PAUSED' } },
		]) {
			const held = await sendBatch(messages('MARKETING', JSON.stringify(account)), {
				client: api.client,
				gate: createSendGate({
					store: new MemoryStateStore(),
					phoneNumberId: PN,
					rules: rules(),
					account: async () => account,
				}),
			});
			expect(held.every((o) => o.ok === 'skipped')).toBe(true);
			expect(held[0].policy).toMatchObject({ decision: 'quality_guard', code: 'WJ_QUALITY_GUARD' });
			// The user's override sends anyway; UTILITY is never held by the quality guard.
			const overridden = await sendBatch(messages('MARKETING', `o${JSON.stringify(account)}`), {
				client: api.client,
				gate: createSendGate({
					store: new MemoryStateStore(),
					phoneNumberId: PN,
					rules: rules({ qualityGuard: false }),
					account: async () => account,
				}),
			});
			expect(overridden.every((o) => o.ok === true)).toBe(true);
		}
	});

	it('Dry Run previews each decision without claiming or counting', async () => {
		const store = new MemoryStateStore();
		const gate = createSendGate({
			store,
			phoneNumberId: PN,
			rules: rules({
				frequencyCap: { maxMessages: 1, periodHours: 24, categories: ['MARKETING'] },
			}),
		});
		const [first] = messages();
		expect(await gate.preview(first.gate!)).toMatchObject({
			decision: 'dry_run',
			code: 'WJ_DRY_RUN',
			count: 1,
		});
		expect(await gate.preview(first.gate!)).toMatchObject({ decision: 'dry_run' });
		await sendBatch([first], { client: scriptedMeta((to) => ok(`wamid.${to}`)).client, gate });
		expect(await gate.preview(first.gate!)).toMatchObject({ decision: 'already_sent' });
	});

	it('holds items in quiet hours with resumeAt, and refuses an item whose time zone cannot be known', async () => {
		const store = new MemoryStateStore();
		const api = scriptedMeta((to) => ok(`wamid.${to}`));
		const gate = createSendGate({
			store,
			phoneNumberId: PN,
			now: () => new Date('2026-06-01T21:30:00Z'), // 23:30 in Berlin
			rules: rules({
				quietHours: {
					start: '21:00',
					end: '08:00',
					exemptCategories: ['AUTHENTICATION', 'UTILITY'],
					whenOutside: 'hold',
				},
			}),
		});
		const out = await sendBatch(messages(), { client: api.client, gate });
		expect(out[0]).toMatchObject({
			ok: 'skipped',
			policy: {
				decision: 'quiet_hours',
				code: 'WJ_QUIET_HOURS',
				resumeAt: '2026-06-02T06:00:00.000Z',
				timeZone: 'Europe/Berlin',
			},
		});
		expect(api.received).toEqual([]);
		const unknownZone = await gate.admit({
			waId: '80012345678',
			e164: '+80012345678',
			category: 'MARKETING',
		});
		expect(unknownZone).toMatchObject({
			admitted: false,
			policy: {
				decision: 'quiet_hours',
				reason: expect.stringMatching(/give the item a time zone/),
			},
		});
		expect(unknownZone).not.toHaveProperty('policy.resumeAt');
	});
});
