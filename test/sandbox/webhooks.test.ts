import {
	verifySignature,
	messagesValueSchema,
	userPreferencesValueSchema,
	templateStatusUpdateValueSchema,
} from '../../core/webhooks';
import type { Sandbox } from '../../sandbox';
import {
	APP_SECRET,
	CUSTOMER,
	CUSTOMER_WA_ID,
	CallbackReceiver,
	acceptedOf,
	api,
	bodyAs,
	control,
	orderUpdate,
	send,
	start,
	waitFor,
} from './helpers';

describe('sandbox status webhooks', () => {
	let receiver: CallbackReceiver;
	let sandbox: Sandbox;
	beforeEach(async () => {
		receiver = await new CallbackReceiver().listen();
	});
	afterEach(async () => {
		await sandbox.close();
		await receiver.close();
	});

	it('posts sent → delivered → read in Meta envelope, signed with the app secret, echoing biz_opaque_callback_data', async () => {
		sandbox = await start({ callbackUrl: receiver.url });
		const res = await send(
			sandbox,
			orderUpdate(CUSTOMER, ['Ana', 'A-100'], { biz_opaque_callback_data: 'journey=42;step=3' }),
		);
		const wamid = acceptedOf(res).messages[0].id;
		await sandbox.idle();

		expect(receiver.received.length).toBeGreaterThan(0);
		for (const hook of receiver.received) {
			expect(verifySignature(hook.raw, hook.signature, APP_SECRET)).toBe(true);
			expect(verifySignature(hook.raw, hook.signature, 'wrong-secret')).toBe(false);
			expect(hook.body.object).toBe('whatsapp_business_account');
			expect(hook.body.entry[0].id).toBe(sandbox.config.wabaId);
			const change = hook.body.entry[0].changes[0];
			expect(change.field).toBe('messages');
			const value = messagesValueSchema.parse(change.value);
			expect(value.messaging_product).toBe('whatsapp');
			expect(value.metadata).toEqual({
				display_phone_number: sandbox.config.displayPhoneNumber,
				phone_number_id: sandbox.config.phoneNumberId,
			});
		}
		const statuses = receiver.statusItems();
		expect(statuses.map((s) => s.status)).toEqual(['sent', 'delivered', 'read']);
		for (const status of statuses) {
			expect(status.id).toBe(wamid);
			expect(status.recipient_id).toBe(CUSTOMER_WA_ID);
			expect(status.biz_opaque_callback_data).toBe('journey=42;step=3');
			expect(status.pricing).toEqual({
				billable: true,
				pricing_model: 'PMP',
				type: 'regular',
				category: 'utility',
			});
			// v24+ payloads carry `conversation` only inside a free entry point window.
			expect(status.conversation).toBeUndefined();
			expect(Math.abs(status.timestamp - Date.now() / 1000)).toBeLessThan(10);
		}
	});

	it('includes `conversation` in every status for webhook versions before v24.0', async () => {
		sandbox = await start({ callbackUrl: receiver.url, webhookVersion: 'v23.0' });
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		const statuses = receiver.statusItems();
		expect(statuses).toHaveLength(3);
		expect(statuses[0].conversation?.origin?.type).toBe('utility');
		expect(statuses[0].conversation?.expiration_timestamp).toBeGreaterThan(Date.now() / 1000);
	});

	it('batches several updates into one POST, never more than webhookMaxBatch', async () => {
		sandbox = await start({
			callbackUrl: receiver.url,
			webhookBatchMs: 100,
			webhookMaxBatch: 4,
			statusDelayMs: 10,
		});
		await Promise.all(
			Array.from({ length: 6 }, (_, i) =>
				send(sandbox, orderUpdate(`+4477009002${String(i).padStart(2, '0')}`)),
			),
		);
		await sandbox.idle();
		const perPost = receiver.received.map((hook) =>
			hook.body.entry
				.flatMap((e) => e.changes)
				.reduce((n, c) => n + (messagesValueSchema.parse(c.value).statuses?.length ?? 0), 0),
		);
		expect(perPost.reduce((a, b) => a + b, 0)).toBe(18);
		expect(Math.max(...perPost)).toBe(4);
		expect(receiver.received.length).toBeLessThan(18);
	});

	it('retries a delivery the callback answers with 500, with the same body and signature, and records every attempt', async () => {
		sandbox = await start({
			callbackUrl: receiver.url,
			webhookBatchMs: 200,
			statusDelayMs: 1,
			readRatio: 0,
		});
		receiver.statuses.push(500, 503);
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		const attempts = bodyAs<{
			data: Array<{
				deliveryId: number;
				attempt: number;
				statusCode: number;
				ok: boolean;
				body: string;
				signature: string;
			}>;
		}>(await control(sandbox, 'GET', 'webhooks')).data;
		expect(attempts.map((a) => [a.attempt, a.statusCode, a.ok])).toEqual([
			[1, 500, false],
			[2, 503, false],
			[3, 200, true],
		]);
		expect(new Set(attempts.map((a) => a.deliveryId)).size).toBe(1);
		expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
		expect(receiver.received.map((r) => r.raw.toString())).toEqual(attempts.map((a) => a.body));
		expect(receiver.received.every((r) => r.signature === attempts[0].signature)).toBe(true);
	});

	it('gives up after webhookMaxAttempts so a broken callback cannot keep a test running', async () => {
		sandbox = await start({
			callbackUrl: receiver.url,
			webhookBatchMs: 200,
			webhookMaxAttempts: 3,
			readRatio: 0,
		});
		receiver.statuses.push(...Array(10).fill(500));
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		expect(receiver.received).toHaveLength(3);
	});

	it('routes message webhooks to the phone number override, else the WABA override, else the app callback', async () => {
		const wabaReceiver = await new CallbackReceiver().listen();
		const phoneReceiver = await new CallbackReceiver().listen();
		try {
			sandbox = await start({ callbackUrl: receiver.url, readRatio: 0 });
			const statusesAt = (r: CallbackReceiver) => r.statusItems().length;

			await send(sandbox, orderUpdate('+447700900301'));
			await sandbox.idle();
			expect([statusesAt(receiver), statusesAt(wabaReceiver), statusesAt(phoneReceiver)]).toEqual([
				2, 0, 0,
			]);

			await api(sandbox, 'POST', `/${sandbox.config.wabaId}/subscribed_apps`, {
				override_callback_uri: wabaReceiver.url,
				verify_token: wabaReceiver.verifyToken,
			});
			await send(sandbox, orderUpdate('+447700900302'));
			await sandbox.idle();
			expect([statusesAt(receiver), statusesAt(wabaReceiver), statusesAt(phoneReceiver)]).toEqual([
				2, 2, 0,
			]);

			await api(sandbox, 'POST', `/${sandbox.config.phoneNumberId}`, {
				webhook_configuration: {
					override_callback_uri: phoneReceiver.url,
					verify_token: phoneReceiver.verifyToken,
				},
			});
			await send(sandbox, orderUpdate('+447700900303'));
			await sandbox.idle();
			expect([statusesAt(receiver), statusesAt(wabaReceiver), statusesAt(phoneReceiver)]).toEqual([
				2, 2, 2,
			]);

			// Template webhooks ignore overrides: they always go to the app's callback URL.
			await control(sandbox, 'POST', 'template-status', {
				name: 'order_update',
				language: 'en_US',
				status: 'PAUSED',
			});
			await sandbox.idle();
			expect(receiver.changes('message_template_status_update')).toHaveLength(1);
			expect(phoneReceiver.changes('message_template_status_update')).toHaveLength(0);
		} finally {
			await wabaReceiver.close();
			await phoneReceiver.close();
		}
	});
});

describe('sandbox customer-side webhooks', () => {
	let receiver: CallbackReceiver;
	let sandbox: Sandbox;
	beforeAll(async () => {
		receiver = await new CallbackReceiver().listen();
		sandbox = await start({ callbackUrl: receiver.url });
	});
	afterAll(async () => {
		await sandbox.close();
		await receiver.close();
	});
	beforeEach(() => {
		sandbox.reset();
		receiver.received.length = 0;
	});

	it('delivers a simulated inbound text with contacts/profile and opens the 24 h window', async () => {
		const res = await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			name: 'Ana Lima',
			text: 'Hi, is my order on its way?',
		});
		expect(res.status).toBe(200);
		await sandbox.idle();
		const value = messagesValueSchema.parse(receiver.changes('messages')[0].value);
		expect(value.contacts).toEqual([{ profile: { name: 'Ana Lima' }, wa_id: CUSTOMER_WA_ID }]);
		expect(value.messages?.[0]).toEqual(
			expect.objectContaining({
				from: CUSTOMER_WA_ID,
				type: 'text',
				text: { body: 'Hi, is my order on its way?' },
				id: bodyAs<{ id: string }>(res).id,
			}),
		);
		expect(
			verifySignature(receiver.received[0].raw, receiver.received[0].signature, APP_SECRET),
		).toBe(true);
		const windows = bodyAs<{
			data: Array<{ waId: string; open: boolean; expiresAt: number; lastInboundAt: number }>;
		}>(await control(sandbox, 'GET', 'windows')).data;
		expect(windows).toHaveLength(1);
		expect(windows[0].waId).toBe(CUSTOMER_WA_ID);
		expect(windows[0].open).toBe(true);
		expect(windows[0].expiresAt - windows[0].lastInboundAt).toBe(24 * 60 * 60 * 1000);
	});

	it('delivers quick-reply button and interactive replies with their context', async () => {
		await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			button: { payload: 'STOP_PROMOS', text: 'Stop promotions' },
			context: { id: 'wamid.ABC' },
		});
		await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			interactive: { type: 'list_reply', list_reply: { id: 'size-m', title: 'M' } },
		});
		await sandbox.idle();
		const messages = receiver
			.changes('messages')
			.flatMap((c) => messagesValueSchema.parse(c.value).messages ?? []);
		expect(messages[0]).toEqual(
			expect.objectContaining({
				type: 'button',
				button: { payload: 'STOP_PROMOS', text: 'Stop promotions' },
				context: { from: sandbox.config.displayPhoneNumber, id: 'wamid.ABC' },
			}),
		);
		expect(messages[1]).toEqual(
			expect.objectContaining({
				type: 'interactive',
				interactive: { type: 'list_reply', list_reply: { id: 'size-m', title: 'M' } },
			}),
		);
	});

	it('refuses an inbound message with neither text, button nor interactive', async () => {
		expect((await control(sandbox, 'POST', 'inbound', { from: CUSTOMER })).status).toBe(400);
	});

	it('opens a free entry point window when the business answers an ad referral: free statuses with conversation', async () => {
		await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			text: 'I saw your ad',
			referral: true,
		});
		await sandbox.idle();
		const inbound = messagesValueSchema.parse(receiver.changes('messages')[0].value).messages?.[0];
		expect(inbound?.referral?.source_type).toBe('ad');
		expect(inbound?.referral?.ctwa_clid).toEqual(expect.any(String));

		await send(sandbox, {
			messaging_product: 'whatsapp',
			to: CUSTOMER,
			type: 'text',
			text: { body: 'Welcome!' },
		});
		await sandbox.idle();
		const sent = receiver.statusItems().find((s) => s.status === 'sent');
		expect(sent?.pricing).toEqual({
			billable: false,
			pricing_model: 'PMP',
			type: 'free_entry_point',
			category: 'service',
		});
		expect(sent?.conversation?.origin?.type).toBe('referral_conversion');
		const expiresIn = Number(sent?.conversation?.expiration_timestamp) - Date.now() / 1000;
		expect(expiresIn).toBeGreaterThan(71 * 3600);
		expect(expiresIn).toBeLessThanOrEqual(72 * 3600);
	});

	it('prices a utility template inside the service window as free customer service, and a marketing one as regular', async () => {
		await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hello' });
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		expect(receiver.statusItems()[0].pricing).toEqual({
			billable: false,
			pricing_model: 'PMP',
			type: 'free_customer_service',
			category: 'utility',
		});
	});

	it('sends user_preferences when the customer stops marketing messages', async () => {
		const res = await control(sandbox, 'POST', 'opt-out', { wa_id: CUSTOMER_WA_ID });
		expect(bodyAs<{ optedOut: boolean }>(res).optedOut).toBe(true);
		await sandbox.idle();
		const change = receiver.changes('user_preferences')[0];
		const value = userPreferencesValueSchema.parse(change.value);
		expect(value.user_preferences[0]).toEqual(
			expect.objectContaining({
				wa_id: CUSTOMER_WA_ID,
				category: 'marketing_messages',
				value: 'stop',
			}),
		);
	});

	it('changes a template status and announces it with message_template_status_update', async () => {
		const res = await control(sandbox, 'POST', 'template-status', {
			name: 'order_update',
			language: 'en_US',
			status: 'REJECTED',
			reason: 'INCORRECT_CATEGORY',
		});
		expect(res.status).toBe(200);
		await sandbox.idle();
		const [entry] = receiver.received.at(-1)?.body.entry ?? [];
		expect(entry?.time).toEqual(expect.any(Number));
		const value = templateStatusUpdateValueSchema.parse(entry?.changes[0].value);
		expect(value).toEqual(
			expect.objectContaining({
				event: 'REJECTED',
				message_template_id: '1001',
				message_template_name: 'order_update',
				message_template_language: 'en_US',
				reason: 'INCORRECT_CATEGORY',
			}),
		);
		const listed = bodyAs<{ data: Array<{ status: string }> }>(
			await api(sandbox, 'GET', `/${sandbox.config.wabaId}/message_templates?name=order_update`),
		);
		expect(listed.data[0].status).toBe('REJECTED');
	});

	it('keeps working when the callback is unreachable and records the failed attempts', async () => {
		const lonely = await start({
			callbackUrl: 'http://127.0.0.1:9/nowhere',
			webhookMaxAttempts: 2,
			readRatio: 0,
		});
		try {
			await send(lonely, orderUpdate());
			await lonely.idle();
			const attempts = bodyAs<{ data: Array<{ statusCode: number; ok: boolean; error?: string }> }>(
				await control(lonely, 'GET', 'webhooks'),
			).data;
			expect(attempts.length).toBeGreaterThanOrEqual(2);
			expect(attempts.every((a) => a.statusCode === 0 && !a.ok && a.error)).toBe(true);
		} finally {
			await lonely.close();
		}
	});

	it('waits for the sandbox to go idle over HTTP too', async () => {
		await send(sandbox, orderUpdate());
		const res = await control(sandbox, 'GET', 'idle?timeoutMs=5000');
		expect(res.body).toEqual({ idle: true });
		await waitFor(() => receiver.statusItems().length === 3, 1000, 'three statuses');
	});
});
