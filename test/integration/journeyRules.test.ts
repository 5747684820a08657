/**
 * Journey rules against the sandbox (issue #14): the Graph reads the gate uses (messaging limit tier, the WABA's
 * owner portfolio, the number's quality) and the gate's counts next to what "Meta" recorded.
 * Meta's messaging limits: unique customers reached outside a customer service window per moving 24 h, per business
 * portfolio; read as `whatsapp_business_manager_messaging_limit` on the phone number (v24.0+), portfolio via the
 * WABA's `owner_business_info`. https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits
 */
import {
	CloudApiClient,
	clearAccountCache,
	createFetchTransport,
	createSendGate,
	DEFAULT_JOURNEY_RULES,
	loadAccountState,
	MemoryStateStore,
	sendBatch,
	stepKeyFor,
	type OutgoingMessage,
} from '../../core';
import type { Sandbox } from '../../sandbox';
import { SANDBOX_BUSINESS_ID } from '../../sandbox/graph';
import { springSale, start, TOKEN } from '../sandbox/helpers';

let sandbox: Sandbox;
beforeAll(async () => {
	sandbox = await start({ mps: 0 });
});
afterAll(() => sandbox.close());
beforeEach(async () => {
	await sandbox.reset();
	clearAccountCache();
});

const client = (apiVersion = 'v25.0') =>
	new CloudApiClient(
		{
			phoneNumberId: sandbox.config.phoneNumberId,
			wabaId: sandbox.config.wabaId,
			baseUrl: sandbox.url,
			apiVersion,
		},
		createFetchTransport({ accessToken: TOKEN }),
	);

function campaign(n: number, step = 'promo'): OutgoingMessage[] {
	return Array.from({ length: n }, (_, i) => {
		const e164 = `+4915123${String(i).padStart(5, '0')}`;
		const waId = e164.slice(1);
		return {
			itemIndex: i,
			waId,
			request: springSale(e164),
			gate: {
				waId,
				e164,
				category: 'MARKETING' as const,
				stepKey: stepKeyFor({
					phoneNumberId: sandbox.config.phoneNumberId,
					journey: 'spring',
					step,
					scope: 'test',
					waId,
				}),
				template: { name: 'spring_sale', language: 'en_US' },
			},
		};
	});
}

describe('journey rules against the sandbox', () => {
	it("reads the portfolio's messaging limit tier and owner, as set through the control API", async () => {
		expect(await client().getMessagingLimitTier()).toBe('TIER_2K');
		expect(await client().getOwnerBusiness()).toMatchObject({ id: SANDBOX_BUSINESS_ID });
		await sandbox.control('messaging-limit', { tier: 'TIER_10K' });
		expect(await client().getMessagingLimitTier()).toBe('TIER_10K');
		const state = await loadAccountState({
			client: client(),
			store: new MemoryStateStore(),
			phoneNumberId: sandbox.config.phoneNumberId,
			wabaId: sandbox.config.wabaId,
		});
		expect(state).toMatchObject({
			qualityRating: 'GREEN',
			messagingLimit: {
				tier: 'TIER_10K',
				limit: 10_000,
				scope: `portfolio:${SANDBOX_BUSINESS_ID}`,
			},
		});
	});

	it('stops a campaign at the messaging limit; the sandbox counted exactly the customers sent', async () => {
		await sandbox.control('messaging-limit', { tier: 'TIER_50' });
		const store = new MemoryStateStore();
		const c = client();
		const gate = createSendGate({
			store,
			phoneNumberId: sandbox.config.phoneNumberId,
			rules: DEFAULT_JOURNEY_RULES,
			account: () =>
				loadAccountState({
					client: c,
					store,
					phoneNumberId: sandbox.config.phoneNumberId,
					wabaId: sandbox.config.wabaId,
				}),
		});
		const outcomes = await sendBatch(campaign(60), { client: c, gate, concurrency: 8 });
		expect(outcomes.filter((o) => o.ok === true)).toHaveLength(50);
		const stopped = outcomes.filter((o) => o.ok === 'skipped');
		expect(stopped).toHaveLength(10);
		expect(stopped[0].policy).toMatchObject({
			decision: 'messaging_limit',
			code: 'WJ_MESSAGING_LIMIT',
			limit: 50,
		});
		const counted = await sandbox.control<{ tier: string; businessInitiatedRecipients24h: number }>(
			'messaging-limit',
		);
		expect(counted).toEqual({ tier: 'TIER_50', businessInitiatedRecipients24h: 50 });
	});

	it('holds MARKETING once the number is rated RED, read from the Graph API', async () => {
		await sandbox.control('phone-quality', { qualityRating: 'RED' });
		const store = new MemoryStateStore();
		const c = client();
		const outcomes = await sendBatch(campaign(3, 'red'), {
			client: c,
			gate: createSendGate({
				store,
				phoneNumberId: sandbox.config.phoneNumberId,
				rules: DEFAULT_JOURNEY_RULES,
				account: () =>
					loadAccountState({
						client: c,
						store,
						phoneNumberId: sandbox.config.phoneNumberId,
						wabaId: sandbox.config.wabaId,
					}),
			}),
		});
		expect(outcomes.map((o) => o.ok)).toEqual(['skipped', 'skipped', 'skipped']);
		expect(outcomes[0].policy).toMatchObject({
			decision: 'quality_guard',
			code: 'WJ_QUALITY_GUARD',
		});
		const sent = await sandbox.control<{ data: unknown[] }>('messages');
		expect(sent.data).toHaveLength(0);
	});
});
