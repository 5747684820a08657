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
	encodeTracking,
	ingestWebhookEvents,
	loadAccountState,
	normalizeWebhook,
	MemoryStateStore,
	sendBatch,
	stepKeyFor,
	type OutgoingMessage,
} from '../../core';
import type { Sandbox } from '../../sandbox';
import { SANDBOX_BUSINESS_ID } from '../../sandbox/graph';
import { CallbackReceiver, springSale, start, TOKEN, waitFor } from '../sandbox/helpers';

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

describe("journey rules fed by the sandbox's webhooks (what the trigger records)", () => {
	let receiver: CallbackReceiver;
	let meta: Sandbox;
	beforeAll(async () => {
		receiver = await new CallbackReceiver().listen();
		meta = await start({ mps: 0, callbackUrl: receiver.url });
	});
	afterAll(async () => {
		await meta.close();
		await receiver.close();
	});
	beforeEach(async () => {
		await meta.reset();
		receiver.received.length = 0;
		clearAccountCache();
	});

	const options = {
		deduplicate: true,
		lateStatuses: 'flag' as const,
		recordWindows: true,
		recordOptOuts: true,
		stopKeywords: [],
		emit: new Set<string>(),
	};
	/** What the trigger does with every delivery received so far. */
	const ingest = async (store: MemoryStateStore) => {
		for (const w of receiver.received.splice(0))
			await ingestWebhookEvents(normalizeWebhook(w.body), store, options);
	};
	const metaClient = (timeoutMs = 30_000) =>
		new CloudApiClient(
			{ phoneNumberId: meta.config.phoneNumberId, wabaId: meta.config.wabaId, baseUrl: meta.url },
			createFetchTransport({ accessToken: TOKEN }),
			{ maxAttempts: 1, retryUncertain: false, timeoutMs },
		);

	it('holds MARKETING while Meta has the template paused, and sends again once it is reinstated', async () => {
		const store = new MemoryStateStore();
		const c = metaClient();
		const gate = () =>
			createSendGate({
				store,
				phoneNumberId: meta.config.phoneNumberId,
				rules: DEFAULT_JOURNEY_RULES,
				account: () =>
					loadAccountState({
						client: c,
						store,
						phoneNumberId: meta.config.phoneNumberId,
						wabaId: meta.config.wabaId,
						templates: [{ name: 'spring_sale', language: 'en_US' }],
					}),
			});
		const one = campaign(1, 'paused').map((m) => ({ ...m, request: springSale(m.gate!.e164) }));
		await meta.control('template-status', {
			name: 'spring_sale',
			language: 'en_US',
			status: 'PAUSED',
		});
		await meta.idle();
		await ingest(store);
		const held = await sendBatch(one, { client: c, gate: gate() });
		expect(held[0]).toMatchObject({ ok: 'skipped', policy: { code: 'WJ_QUALITY_GUARD' } });
		expect(held[0].policy?.reason).toMatch(/paused the template "spring_sale"/);

		await meta.control('template-status', {
			name: 'spring_sale',
			language: 'en_US',
			status: 'APPROVED',
		});
		await meta.idle();
		await ingest(store);
		const sent = await sendBatch(one, { client: c, gate: gate() });
		expect(sent[0]).toMatchObject({ ok: true, policy: { code: 'WJ_SENT' } });
	});

	it('an answer lost after Meta accepted (timeout): not resent, and resolved to sent by its status webhook (k=)', async () => {
		const store = new MemoryStateStore();
		const [message] = campaign(1, 'hang');
		const request = {
			...springSale(message.gate!.e164),
			biz_opaque_callback_data: encodeTracking({
				journey: 'spring',
				stepKey: message.gate!.stepKey,
			}),
		};
		await meta.control('faults', { acceptThenHang: 1 });
		const gate = () =>
			createSendGate({
				store,
				phoneNumberId: meta.config.phoneNumberId,
				rules: DEFAULT_JOURNEY_RULES,
			});
		const first = await sendBatch([{ ...message, request }], {
			client: metaClient(300),
			gate: gate(),
		});
		expect(first[0]).toMatchObject({ ok: false, policy: { code: 'WJ_OUTCOME_UNKNOWN' } });
		const again = await sendBatch([{ ...message, request }], {
			client: metaClient(),
			gate: gate(),
		});
		expect(again[0]).toMatchObject({ ok: 'skipped', policy: { code: 'WJ_OUTCOME_UNKNOWN' } });

		await meta.idle();
		await waitFor(() => receiver.statusItems().length > 0, 5000, 'the status webhook');
		await ingest(store);
		const accepted = await meta.control<{ data: Array<{ id: string }> }>('messages');
		expect(accepted.data).toHaveLength(1);
		expect(
			await store.getStep({
				phoneNumberId: meta.config.phoneNumberId,
				stepKey: message.gate!.stepKey!,
			}),
		).toMatchObject({ state: 'sent', messageId: accepted.data[0].id });
		const third = await sendBatch([{ ...message, request }], {
			client: metaClient(),
			gate: gate(),
		});
		expect(third[0]).toMatchObject({
			ok: 'skipped',
			policy: { code: 'WJ_ALREADY_SENT', messageId: accepted.data[0].id },
		});
	});
});
