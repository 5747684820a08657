import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AcceptedMessage, Sandbox } from '../../sandbox';
import {
	VERSION,
	api,
	CUSTOMER,
	CUSTOMER_WA_ID,
	CallbackReceiver,
	US_CUSTOMER,
	acceptedOf,
	bodyAs,
	control,
	errorOf,
	orderUpdate,
	send,
	springSale,
	start,
	textMessage,
	type ApiResponse,
} from './helpers';

function template(name: string, language: string, components?: unknown[]): Record<string, unknown> {
	return {
		messaging_product: 'whatsapp',
		to: CUSTOMER,
		type: 'template',
		template: { name, language: { code: language }, ...(components ? { components } : {}) },
	};
}

function bodyParams(...parameters: unknown[]): unknown[] {
	return [{ type: 'body', parameters }];
}

describe('sandbox sends: acceptance and template validation', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await start();
	});
	afterAll(() => sandbox.close());
	beforeEach(() => sandbox.reset());

	it('answers a request handed to it by a front in the same process (handle) as on its own listener', async () => {
		// The benchmarks' https://graph.facebook.com terminates TLS and hands each request to the sandbox this way.
		const front = http.createServer((req, res) => {
			req.headers.host = `127.0.0.1:${sandbox.port}`;
			sandbox.handle(req, res);
		});
		await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
		try {
			const { port } = front.address() as AddressInfo;
			const res = await api(
				sandbox,
				'POST',
				`http://127.0.0.1:${port}/${VERSION}/${sandbox.config.phoneNumberId}/messages`,
				orderUpdate(CUSTOMER),
			);
			expect(res.status).toBe(200);
			expect(acceptedOf(res).contacts[0]).toEqual({ input: CUSTOMER, wa_id: CUSTOMER_WA_ID });
			expect(
				bodyAs<{ data: unknown[] }>(await control(sandbox, 'GET', 'messages')).data,
			).toHaveLength(1);
		} finally {
			front.close();
			front.closeAllConnections();
		}
	});

	it('accepts a valid template send with Meta success shape and records the request body', async () => {
		const body = orderUpdate(CUSTOMER);
		const res = await send(sandbox, body);
		expect(res.status).toBe(200);
		const accepted = acceptedOf(res);
		expect(accepted.contacts[0]).toEqual({ input: CUSTOMER, wa_id: CUSTOMER_WA_ID });
		const recorded = bodyAs<{ data: AcceptedMessage[] }>(
			await control(sandbox, 'GET', 'messages'),
		).data;
		expect(recorded).toHaveLength(1);
		expect(recorded[0].id).toBe(accepted.messages[0].id);
		expect(recorded[0].request).toEqual(body);
		expect(recorded[0].template).toEqual({
			name: 'order_update',
			language: 'en_US',
			category: 'UTILITY',
		});
	});

	it('hands out a unique wamid for every accepted message', async () => {
		const results = await Promise.all(
			Array.from({ length: 20 }, (_, i) =>
				send(sandbox, orderUpdate(`+4477009001${String(i).padStart(2, '0')}`)),
			),
		);
		const ids = results.map((r) => acceptedOf(r).messages[0].id);
		expect(new Set(ids).size).toBe(20);
	});

	const cases: Array<[string, Record<string, unknown>, number]> = [
		['an unknown template name', template('no_such_template', 'en_US'), 132001],
		[
			'a language the template has no translation in',
			template(
				'order_update',
				'de',
				bodyParams({ type: 'text', text: 'a' }, { type: 'text', text: 'b' }),
			),
			132001,
		],
		['a template that is not approved yet (PENDING)', template('pending_notice', 'en_US'), 132001],
		['a paused template', template('paused_promo', 'en_US'), 132015],
		['a disabled template', template('disabled_promo', 'en_US'), 132016],
		[
			'too few parameters',
			template('order_update', 'en_US', bodyParams({ type: 'text', text: 'Ana' })),
			132000,
		],
		[
			'too many parameters',
			template(
				'order_update',
				'en_US',
				bodyParams(...['a', 'b', 'c'].map((text) => ({ type: 'text', text }))),
			),
			132000,
		],
		[
			'a positional parameter for a NAMED template',
			template('spring_sale', 'en_US', bodyParams({ type: 'text', text: 'Ana' })),
			// Meta: (#100) "Parameter name is missing or empty" (https://github.com/shridarpatil/whatomate/issues/144)
			100,
		],
		[
			'an empty text parameter',
			template(
				'order_update',
				'en_US',
				bodyParams({ type: 'text', text: '' }, { type: 'text', text: 'A-1' }),
			),
			131008,
		],
		[
			'a parameter whose text is not a string',
			template(
				'order_update',
				'en_US',
				bodyParams({ type: 'text', text: 42 }, { type: 'text', text: 'A-1' }),
			),
			131009,
		],
		[
			'a body longer than 1024 characters once filled in',
			template('receipt_notice', 'en_US', bodyParams({ type: 'text', text: 'x'.repeat(1100) })),
			132005,
		],
		[
			'a new line inside a parameter',
			template(
				'order_update',
				'en_US',
				bodyParams({ type: 'text', text: 'Ana\nLima' }, { type: 'text', text: 'A-1' }),
			),
			132018,
		],
	];

	it.each(cases)(
		'refuses %s with HTTP 400 and code %s... (Meta template validation)',
		async (_what, body, code) => {
			const res = await send(sandbox, body);
			expect(res.status).toBe(code === 132001 ? 404 : 400);
			const error = errorOf(res);
			expect(error.code).toBe(code);
			expect(error.message).toMatch(new RegExp(`^\\(#${code}\\) `));
			expect(error.error_data?.details).toEqual(expect.any(String));
			expect(
				bodyAs<{ data: unknown[] }>(await control(sandbox, 'GET', 'messages')).data,
			).toHaveLength(0);
		},
	);

	const malformed: Array<[string, unknown]> = [
		['a body that is not an object', [1, 2]],
		['no messaging_product', { to: CUSTOMER, type: 'text', text: { body: 'x' } }],
		[
			'no recipient',
			{
				messaging_product: 'whatsapp',
				type: 'template',
				template: { name: 'order_update', language: { code: 'en_US' } },
			},
		],
		[
			'a template without language',
			{
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'template',
				template: { name: 'order_update' },
			},
		],
		['a recipient that is not a phone number', { ...orderUpdate(), to: 'ana@example.com' }],
	];

	it.each(malformed)('refuses %s with code 100 naming the problem', async (_what, body) => {
		const res = await send(sandbox, body);
		expect(res.status).toBe(400);
		const error = errorOf(res);
		expect(error.code).toBe(100);
		expect(error.error_data?.details.length).toBeGreaterThan(3);
	});

	it('refuses JSON it cannot parse with code 100', async () => {
		const res = await send(sandbox, '{"messaging_product": "whatsapp",');
		expect(errorOf(res).code).toBe(100);
	});

	it('marks an inbound message as read (with typing indicator) and refuses unknown message ids', async () => {
		const inbound = bodyAs<{ id: string }>(
			await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hello' }),
		);
		const ok = await send(sandbox, {
			messaging_product: 'whatsapp',
			status: 'read',
			message_id: inbound.id,
			typing_indicator: { type: 'text' },
		});
		expect(ok.status).toBe(200);
		expect(ok.body).toEqual({ success: true });
		const unknown = await send(sandbox, {
			messaging_product: 'whatsapp',
			status: 'read',
			message_id: 'wamid.NOPE',
		});
		expect(errorOf(unknown).code).toBe(100);
	});
});

describe('sandbox sends: window, US marketing and opt-out policy', () => {
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

	async function outcome(res: ApiResponse): Promise<string[]> {
		expect(res.status).toBe(200);
		const id = acceptedOf(res).messages[0].id;
		await sandbox.idle();
		return receiver
			.statusItems()
			.filter((s) => s.id === id)
			.map((s) => (s.status === 'failed' ? `failed:${s.errors?.[0]?.code}` : s.status));
	}

	it('accepts a free-form text outside the 24 h window, then fails it with 131047 like Cloud API', async () => {
		expect(await outcome(await send(sandbox, textMessage()))).toEqual(['failed:131047']);
		const [failed] = receiver.statusItems();
		expect(failed.errors?.[0]).toEqual(
			expect.objectContaining({
				code: 131047,
				title: 'Re-engagement message',
				error_data: { details: expect.stringContaining('never written') },
			}),
		);
	});

	it('delivers free-form messages of every session type inside the window', async () => {
		await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hi' });
		const bodies = [
			textMessage(),
			{
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'image',
				image: { link: 'https://example.com/a.png' },
			},
			{
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'location',
				location: { latitude: 38.7, longitude: -9.1 },
			},
			{
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'interactive',
				interactive: {
					type: 'button',
					body: { text: 'Pick' },
					action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] },
				},
			},
		];
		for (const body of bodies) {
			const res = await send(sandbox, body);
			expect(res.status).toBe(200);
		}
		await sandbox.idle();
		expect(receiver.statusItems().filter((s) => s.status === 'failed')).toHaveLength(0);
		expect(receiver.statusItems().filter((s) => s.status === 'read')).toHaveLength(bodies.length);
	});

	it('opens the window as of an inbound timestamp: a message 25 h old leaves it closed', async () => {
		const old = Math.floor(Date.now() / 1000) - 25 * 3600;
		await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			text: 'old message',
			timestamp: old,
		});
		expect(await outcome(await send(sandbox, textMessage()))).toEqual(['failed:131047']);
		const recent = Math.floor(Date.now() / 1000) - 23 * 3600;
		await control(sandbox, 'POST', 'inbound', {
			from: CUSTOMER,
			text: 'newer message',
			timestamp: recent,
		});
		receiver.received.length = 0;
		expect(await outcome(await send(sandbox, textMessage()))).toEqual([
			'sent',
			'delivered',
			'read',
		]);
	});

	it('answers 131047 on the request when policyErrors is sync', async () => {
		const strict = await start({ policyErrors: 'sync' });
		try {
			const res = await send(strict, textMessage());
			expect(res.status).toBe(400);
			expect(errorOf(res).code).toBe(131047);
		} finally {
			await strict.close();
		}
	});

	it('accepts a MARKETING template to a US +1 number, then fails it with 131049; utility to the same number is delivered', async () => {
		expect(await outcome(await send(sandbox, springSale(US_CUSTOMER)))).toEqual(['failed:131049']);
		receiver.received.length = 0;
		expect(await outcome(await send(sandbox, orderUpdate(US_CUSTOMER)))).toEqual([
			'sent',
			'delivered',
			'read',
		]);
	});

	it('fails marketing templates to a user who stopped marketing messages with 131050, but not utility ones', async () => {
		await control(sandbox, 'POST', 'opt-out', { wa_id: CUSTOMER_WA_ID });
		await sandbox.idle();
		receiver.received.length = 0;
		expect(await outcome(await send(sandbox, springSale(CUSTOMER)))).toEqual(['failed:131050']);
		receiver.received.length = 0;
		expect(await outcome(await send(sandbox, orderUpdate(CUSTOMER)))).toEqual([
			'sent',
			'delivered',
			'read',
		]);
		await control(sandbox, 'POST', 'opt-out', { wa_id: CUSTOMER_WA_ID, value: 'resume' });
		await sandbox.idle();
		receiver.received.length = 0;
		expect(await outcome(await send(sandbox, springSale(CUSTOMER)))).toEqual([
			'sent',
			'delivered',
			'read',
		]);
	});

	it('sends marketing templates through /marketing_messages, priced as marketing_lite', async () => {
		const res = await send(
			sandbox,
			{ ...springSale(CUSTOMER), product_policy: 'STRICT' },
			'marketing_messages',
		);
		expect(await outcome(res)).toEqual(['sent', 'delivered', 'read']);
		expect(receiver.statusItems()[0].pricing).toEqual({
			billable: true,
			pricing_model: 'PMP',
			type: 'regular',
			category: 'marketing_lite',
		});
	});

	it('refuses non-marketing messages and a bad product_policy on /marketing_messages with code 100', async () => {
		await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hi' });
		for (const body of [
			textMessage(),
			orderUpdate(),
			{ ...springSale(), product_policy: 'SOMETIMES' },
		]) {
			const res = await send(sandbox, body, 'marketing_messages');
			expect(res.status).toBe(400);
			expect(errorOf(res).code).toBe(100);
		}
	});

	it('fails a number WhatsApp cannot reach with 131026 after accepting it', async () => {
		expect(await outcome(await send(sandbox, orderUpdate('+44123')))).toEqual(['failed:131026']);
	});
});
