import { decodeTracking } from '../../core';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { loadOptionsContext, runNode } from '../../harness/n8n-context';
import { clearPhoneNumberInfoCache } from '../../nodes/shared/senderInfo';
import type { Params } from '../../harness/n8n-context';
import { searchTemplates } from '../../nodes/WhatsAppSendTemplate/methods/listSearch';
import { getTemplateVariables } from '../../nodes/WhatsAppSendTemplate/methods/resourceMapping';

const TOKEN = 'sandbox-token-for-tests-123456';
const APP_SECRET = 'app-secret-for-tests-abcdef';
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';

let sandbox: Sandbox;
const node = new WhatsAppSendTemplate();

function credentials(extra: Record<string, unknown> = {}) {
	return {
		metaWhatsAppCloudApi: {
			accessToken: TOKEN,
			phoneNumberId: PHONE_NUMBER_ID,
			wabaId: WABA_ID,
			appSecret: APP_SECRET,
			verifyToken: 'verify-me',
			apiVersion: 'v25.0',
			baseUrl: sandbox.url,
			...extra,
		},
	};
}

function control<T = { data: Array<Record<string, unknown>> }>(
	path: string,
	body?: unknown,
): Promise<T> {
	return sandbox.control<T>(path, body);
}

const orderTemplate = (recipient: string, extra: Params = {}): Params => ({
	operation: 'sendTemplate',
	recipient,
	template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
	variablesMode: 'mapper',
	variables: {
		mappingMode: 'defineBelow',
		value: {
			header_text_1: '#A-1042',
			body_1: 'Ana',
			body_2: '#A-1042',
			body_3: '12 March',
			button_0_url: 'A-1042',
		},
	},
	options: { pairIntervalSeconds: 0, ...((extra.options as Params) ?? {}) },
	stateStore: 'embedded',
	storePath: ':memory:',
	...extra,
});

beforeAll(async () => {
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await control('reset', {});
});

describe('WhatsApp Send Template against the sandbox', () => {
	it('sends a positional template to numbers typed in different formats and returns wamid, wa_id and tracking', async () => {
		const recipients = ['+44 7911 123456', '0049 30 1234567', 'whatsapp:+5511987654321'];
		const { output } = await runNode(node, {
			parameters: (i) =>
				orderTemplate(recipients[i], { options: { journey: 'orders', step: 'confirm' } }),
			credentials: credentials(),
			items: recipients.map((r) => ({ json: { phone: r } })),
			workflowId: 'wf-42',
			executionId: '9001',
		});
		expect(output).toHaveLength(1);
		expect(output[0]).toHaveLength(3);
		expect(output[0].map((i) => i.json.recipient)).toEqual([
			'+447911123456',
			'+49301234567',
			'+5511987654321',
		]);
		for (const [index, item] of output[0].entries()) {
			expect(item.pairedItem).toEqual({ item: index });
			expect(String(item.json.messageId)).toMatch(/^wamid\./);
			expect(item.json.tracking).toEqual({
				workflowId: 'wf-42',
				executionId: '9001',
				journey: 'orders',
				step: 'confirm',
				// The journey step's key (once per step), so a status can settle a send whose outcome was unknown.
				stepKey: expect.stringMatching(/^[\w-]{22}$/),
			});
		}
		const { data } = await control('messages');
		expect(data).toHaveLength(3);
		expect(data.map((m) => m.to).sort()).toEqual([
			'+447911123456',
			'+49301234567',
			'+5511987654321',
		]);
		expect(decodeTracking(data[0].bizOpaqueCallbackData as string)).toMatchObject({
			workflowId: 'wf-42',
			executionId: '9001',
			journey: 'orders',
		});
	});

	it('sends a NAMED template with parameter_name on every parameter', async () => {
		const { output } = await runNode(node, {
			parameters: {
				operation: 'sendTemplate',
				recipient: '+447911123456',
				template: { __rl: true, mode: 'name', value: 'spring_sale_named' },
				variables: {
					mappingMode: 'defineBelow',
					value: {
						header_text_store_name: 'Lisbon Store',
						body_first_name: 'Ana',
						body_end_date: 'March 31',
						body_points: '1,250',
					},
				},
				options: { pairIntervalSeconds: 0 },
				storePath: ':memory:',
			},
			credentials: credentials(),
		});
		expect(output[0][0].json.messageId).toBeDefined();
		const { data } = await control('messages');
		const request = data[0].request as {
			template: { components: Array<{ type: string; parameters: Array<Record<string, unknown>> }> };
		};
		const body = request.template.components.find((c) => c.type === 'body')!;
		expect(body.parameters.map((p) => p.parameter_name)).toEqual([
			'first_name',
			'end_date',
			'points',
		]);
	});

	it('rejects an item with a missing variable before sending anything, naming template, component and variable', async () => {
		const params = orderTemplate('+447911123456');
		(params.variables as { value: Record<string, unknown> }).value = {
			header_text_1: '#1',
			body_1: 'Ana',
			body_3: 'today',
			button_0_url: 'x',
		};
		await expect(runNode(node, { parameters: params, credentials: credentials() })).rejects.toThrow(
			/order_confirmation[\s\S]*body[\s\S]*(2|body_2)/i,
		);
		const { data } = await control('requests?path=/messages');
		expect(data).toHaveLength(0);
	});

	it('with Continue on Fail, sends the good items and returns bad numbers as error items', async () => {
		const recipients = ['+447911123456', 'not a number', '+447911123457'];
		const { output } = await runNode(node, {
			parameters: (i) => orderTemplate(recipients[i]),
			credentials: credentials(),
			items: recipients.map(() => ({ json: {} })),
			continueOnFail: true,
		});
		expect(output[0]).toHaveLength(3);
		expect(output[0][1].json.error).toBeDefined();
		expect(output[0][1].pairedItem).toEqual({ item: 1 });
		expect(output[0][0].json.messageId).toBeDefined();
		expect(output[0][2].json.messageId).toBeDefined();
		expect((await control('messages')).data).toHaveLength(2);
	});

	it('sends the first message while later items are still being prepared, with outputs in item order', async () => {
		// Each item's journey field is made slow to read (as n8n's expression evaluation is on a big campaign), and the
		// last item's read is timed: it is read as that item is prepared.
		const count = 60;
		const recipients = Array.from(
			{ length: count },
			(_, i) => `+4479111236${String(i).padStart(2, '0')}`,
		);
		let lastPreparedAt = 0;
		const items = recipients.map((phone, i) => ({
			json: Object.defineProperty({ phone }, 'journey', {
				enumerable: true,
				get() {
					const until = Date.now() + 3;
					while (Date.now() < until);
					if (i === count - 1) lastPreparedAt = Date.now();
					return '';
				},
			}),
		}));
		const { output } = await runNode(node, {
			parameters: orderTemplate('={{ $json.phone }}', {
				options: { pairIntervalSeconds: 0, journey: '={{ $json.journey }}' },
			}),
			credentials: credentials(),
			items,
		});
		const { data } = await control('messages');
		expect(data).toHaveLength(count);
		expect(lastPreparedAt).toBeGreaterThan(0);
		const firstAccepted = Math.min(...data.map((m) => Number(m.acceptedAt)));
		expect(firstAccepted).toBeLessThan(lastPreparedAt);
		expect(output[0].map((o) => o.pairedItem)).toEqual(recipients.map((_, item) => ({ item })));
		expect(output[0].map((o) => o.json.recipient)).toEqual(recipients);
		expect(output[0].every((o) => typeof o.json.messageId === 'string')).toBe(true);
	});

	it('without Continue on Fail, an invalid recipient anywhere stops the run before any message is sent', async () => {
		const recipients = ['+447911123456', '+447911123457', 'not a number', '+447911123458'];
		await expect(
			runNode(node, {
				parameters: (i) => orderTemplate(recipients[i]),
				credentials: credentials(),
				items: recipients.map(() => ({ json: {} })),
			}),
		).rejects.toThrow(/not a number|phone number/i);
		expect((await control('messages')).data).toHaveLength(0);
	});

	it('without Continue on Fail, an item that cannot be built stops the run there: no later item is sent', async () => {
		const recipients = Array.from(
			{ length: 8 },
			(_, i) => `+4479111237${String(i).padStart(2, '0')}`,
		);
		const params = (i: number): Params => {
			const p = orderTemplate(recipients[i]);
			// Item 4 misses a variable its template needs.
			if (i === 4) delete (p.variables as { value: Record<string, unknown> }).value.body_2;
			return p;
		};
		await expect(
			runNode(node, {
				parameters: params,
				credentials: credentials(),
				items: recipients.map(() => ({ json: {} })),
			}),
		).rejects.toThrow(/order_confirmation[\s\S]*(2|body_2)/i);
		const sent = (await control('messages')).data.map((m) => m.to);
		expect(recipients.slice(0, 4)).toEqual(expect.arrayContaining(sent as string[]));
		expect(sent).toEqual(expect.not.arrayContaining(recipients.slice(4)));
	});

	it('stops MARKETING templates to US numbers before sending (Meta would withhold them with 131049)', async () => {
		const params: Params = {
			operation: 'sendTemplate',
			recipient: '+1 415 555 2671',
			template: { __rl: true, mode: 'name', value: 'spring_sale_named' },
			variables: {
				mappingMode: 'defineBelow',
				value: {
					header_text_store_name: 'S',
					body_first_name: 'Ana',
					body_end_date: 'March 31',
					body_points: '1',
				},
			},
			options: { pairIntervalSeconds: 0 },
			storePath: ':memory:',
		};
		await expect(runNode(node, { parameters: params, credentials: credentials() })).rejects.toThrow(
			/131049/,
		);
		expect((await control('messages')).data).toHaveLength(0);
	});

	it('does not send MARKETING templates to customers recorded as opted out', async () => {
		const { createStateStore } = await import('../../core');
		const { mkdtempSync } = await import('node:fs');
		const { join } = await import('node:path');
		const { tmpdir } = await import('node:os');
		const path = join(mkdtempSync(join(tmpdir(), 'wj-')), 'store.sqlite');
		const store = createStateStore({ backend: 'embedded', path });
		await store.setOptOut({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: '447911123456',
			optedOut: true,
			at: new Date(),
		});
		const params: Params = {
			operation: 'sendTemplate',
			recipient: '+447911123456',
			template: { __rl: true, mode: 'name', value: 'spring_sale_named' },
			variables: {
				mappingMode: 'defineBelow',
				value: {
					header_text_store_name: 'S',
					body_first_name: 'Ana',
					body_end_date: 'x',
					body_points: '1',
				},
			},
			options: { pairIntervalSeconds: 0 },
			stateStore: 'embedded',
			storePath: path,
		};
		await expect(runNode(node, { parameters: params, credentials: credentials() })).rejects.toThrow(
			/131050|opted|stopped marketing/i,
		);
		expect((await control('messages')).data).toHaveLength(0);
		await store.close();
	});

	it('accepts every recipient exactly once through a 130429 storm', async () => {
		await control('faults', { throttleRequests: 15 });
		const recipients = Array.from(
			{ length: 30 },
			(_, i) => `+4479111234${String(i).padStart(2, '0')}`,
		);
		const { output } = await runNode(node, {
			parameters: (i) =>
				orderTemplate(recipients[i], {
					options: { pairIntervalSeconds: 0, messagesPerSecond: 1000 },
				}),
			credentials: credentials(),
			items: recipients.map(() => ({ json: {} })),
		});
		expect(output[0].every((i) => typeof i.json.messageId === 'string')).toBe(true);
		const throttled = await control('requests?code=130429');
		expect(throttled.data.length).toBeGreaterThan(0);
		const { data } = await control('messages');
		expect(data).toHaveLength(30);
		expect(new Set(data.map((m) => m.to)).size).toBe(30);
		expect(output[0].some((i) => Number(i.json.attempts) > 1)).toBe(true);
	});

	it('with Messages per Second 0 sends unpaced, and still retries 130429 so every recipient is accepted once', async () => {
		await control('reset', {});
		await control('faults', { throttleRequests: 10 });
		const recipients = Array.from(
			{ length: 40 },
			(_, i) => `+4479111235${String(i).padStart(2, '0')}`,
		);
		const { output } = await runNode(node, {
			parameters: (i) =>
				orderTemplate(recipients[i], { options: { pairIntervalSeconds: 0, messagesPerSecond: 0 } }),
			credentials: credentials(),
			items: recipients.map(() => ({ json: {} })),
		});
		expect(output[0].map((i) => i.json.recipient)).toEqual(recipients);
		expect(output[0].every((i) => typeof i.json.messageId === 'string')).toBe(true);
		const { data } = await control('messages');
		expect(data.map((m) => m.to).sort()).toEqual([...recipients].sort());
		expect(output[0].some((i) => Number(i.json.attempts) > 1)).toBe(true);
	});

	it("sends through n8n's request helper when a proxy is configured, and over its own kept-alive pool otherwise", async () => {
		const run = () =>
			runNode(node, {
				parameters: orderTemplate('+447911123456'),
				credentials: credentials(),
				items: [{ json: {} }],
			});
		const direct = await run();
		expect(direct.output[0][0].json.messageId).toMatch(/^wamid\./);
		expect(direct.http.filter((h) => h.url.endsWith('/messages'))).toHaveLength(0);

		process.env.HTTPS_PROXY = 'http://proxy.invalid:3128'; // n8n's helper applies it (the stand-in just records the call)
		try {
			const proxied = await run();
			expect(proxied.output[0][0].json.messageId).toMatch(/^wamid\./);
			const calls = proxied.http.filter((h) => h.url.endsWith('/messages'));
			expect(calls).toHaveLength(1);
			expect(calls[0].headers.Authorization).toBe(`Bearer ${TOKEN}`);
		} finally {
			delete process.env.HTTPS_PROXY;
		}
	});

	it('tells in the output pane which number sent, and warns when Meta rates its quality YELLOW', async () => {
		clearPhoneNumberInfoCache();
		const green = await runNode(node, {
			parameters: orderTemplate('+447911123456'),
			credentials: credentials(),
			items: [{ json: {} }],
		});
		expect(green.hints).toEqual([
			expect.objectContaining({
				type: 'info',
				message: expect.stringMatching(
					/^Sent from \+1 555.*\(Sandbox Business\): quality rating GREEN/,
				),
			}),
		]);

		await control('phone-quality', { qualityRating: 'YELLOW' });
		clearPhoneNumberInfoCache(); // n8n would see the new rating within 10 minutes
		try {
			const yellow = await runNode(node, {
				parameters: orderTemplate('+447911123456'),
				credentials: credentials(),
				items: [{ json: {} }],
			});
			expect(yellow.hints.map((h) => h.type)).toEqual(['info', 'warning']);
			expect(yellow.hints[1].message).toMatch(/rates .* YELLOW.*messaging limit/);
			expect(yellow.output[0][0].json.messageId).toMatch(/^wamid\./); // a warning, never a refusal to send
		} finally {
			await control('phone-quality', { qualityRating: 'GREEN' });
			clearPhoneNumberInfoCache();
		}
	});

	it('never resends a message whose request timed out after it was sent (accept-then-hang)', async () => {
		await control('faults', { acceptThenHang: 1 });
		const recipients = ['+447911123401', '+447911123402'];
		const { output } = await runNode(node, {
			parameters: (i) =>
				orderTemplate(recipients[i], {
					options: { pairIntervalSeconds: 0, timeoutSeconds: 1, concurrency: 1 },
				}),
			credentials: credentials(),
			items: recipients.map(() => ({ json: {} })),
			continueOnFail: true,
		});
		const failed = output[0].find((i) => i.json.error);
		expect(failed).toBeDefined();
		expect((failed!.json.error as Record<string, unknown>).mayHaveBeenAccepted).toBe(true);
		const { data } = await control('messages');
		// Both were accepted by the sandbox once; the hung one was not sent again.
		expect(data).toHaveLength(2);
		expect(new Set(data.map((m) => m.to)).size).toBe(2);
	});

	it('keeps secrets out of outputs and errors', async () => {
		const { output } = await runNode(node, {
			parameters: (i) => orderTemplate(['+447911123456', 'bad'][i]),
			credentials: credentials(),
			items: [{ json: {} }, { json: {} }],
			continueOnFail: true,
		});
		const text = JSON.stringify(output) + JSON.stringify(output[0].map((i) => i.error?.message));
		expect(text).not.toContain(TOKEN);
		expect(text).not.toContain(APP_SECRET);
		const wrongToken = await runNode(node, {
			parameters: orderTemplate('+447911123456'),
			credentials: credentials({ accessToken: 'wrong-token-value-999999' }),
			continueOnFail: true,
		}).catch((e: Error) => ({ output: [[{ json: { error: e.message } }]] }));
		expect(JSON.stringify(wrongToken.output)).not.toContain('wrong-token-value-999999');
	});

	it('dry run returns the exact payload and sends nothing', async () => {
		const { output } = await runNode(node, {
			parameters: orderTemplate('+447911123456', {
				options: { dryRun: true, pairIntervalSeconds: 0 },
			}),
			credentials: credentials(),
		});
		const request = output[0][0].json.request as Record<string, unknown>;
		expect(request).toMatchObject({
			messaging_product: 'whatsapp',
			to: '+447911123456',
			type: 'template',
		});
		expect((await control('requests?path=/messages')).data).toHaveLength(0);
	});

	it('checks a Components JSON against the template before sending', async () => {
		const params: Params = {
			...orderTemplate('+447911123456'),
			variablesMode: 'json',
			componentsJson: JSON.stringify([
				{ type: 'body', parameters: [{ type: 'text', text: 'only one' }] },
			]),
		};
		await expect(runNode(node, { parameters: params, credentials: credentials() })).rejects.toThrow(
			/order_confirmation/,
		);
		expect((await control('requests?path=/messages')).data).toHaveLength(0);
	});

	it('turns a synchronous 131047 answer into a "window closed, send a template" error for session messages', async () => {
		// Meta usually reports 131047 asynchronously (a failed status); some accounts get it synchronously. Cover that path.
		const strict = await startSandbox({
			token: TOKEN,
			appSecret: APP_SECRET,
			mps: 0,
			pairRateMs: 0,
			policyErrors: 'sync',
		});
		try {
			const params: Params = {
				operation: 'sendSessionMessage',
				recipient: '+447911123499',
				messageType: 'text',
				text: 'Hello there',
				options: { pairIntervalSeconds: 0 },
				// Sends now pass the journey rules, which keep their records in the state store.
				storePath: ':memory:',
			};
			const creds = {
				metaWhatsAppCloudApi: { ...credentials().metaWhatsAppCloudApi, baseUrl: strict.url },
			};
			await expect(runNode(node, { parameters: params, credentials: creds })).rejects.toThrow(
				/131047[\s\S]*template/i,
			);
			await strict.control('inbound', { from: '447911123499', text: 'hi' });
			const { output } = await runNode(node, { parameters: params, credentials: creds });
			expect(output[0][0].json.messageId).toBeDefined();
		} finally {
			await strict.close();
		}
	});

	it("lists APPROVED templates across pages for the template picker, and maps a template's variables", async () => {
		const ctx = loadOptionsContext(
			node,
			{ template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' }, options: {} },
			credentials(),
		);
		const list = await searchTemplates.call(ctx, 'order');
		expect(list.results.map((r) => r.name)).toEqual(
			expect.arrayContaining([expect.stringContaining('order_confirmation (en_US)')]),
		);
		const all = await searchTemplates.call(ctx);
		expect(all.results.some((r) => String(r.name).includes('welcome_offer_pending'))).toBe(false);
		const fields = await getTemplateVariables.call(ctx);
		expect(fields.fields.map((f) => f.id)).toEqual([
			'header_text_1',
			'body_1',
			'body_2',
			'body_3',
			'button_0_url',
		]);
		expect(fields.fields[1].displayName).toContain('Ana');
	});
});
