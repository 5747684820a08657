/**
 * `whatsapp-send-template` in node-red-node-test-helper's runtime, sending to the Cloud API sandbox: the editor's
 * template picker endpoint, variable mapping (editor typed inputs and msg.payload.variables), msg.template overrides,
 * validation and guards before sending, errors to Catch nodes, retries, pacing, tracking and status badges.
 */
import { createStateStore, decodeTracking } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import type { NodeMessage } from '../../node-red/types';
import {
	CREDENTIALS,
	Collector,
	FLOW_ID,
	control,
	flow,
	helper,
	load,
	newStorePath,
	PHONE_NUMBER_ID,
} from './harness';
import type { FlowNode } from './harness';

let sandbox: Sandbox;

const ORDER_VARIABLES = {
	header_text_1: '#A-1042',
	body_1: 'Ana',
	body_2: '#A-1042',
	body_3: '12 March',
	button_0_url: 'A-1042',
};

function sendNode(extra: Record<string, unknown> = {}): FlowNode {
	return {
		id: 'send',
		type: 'whatsapp-send-template',
		server: 'cfg',
		templateName: 'order_confirmation',
		templateLanguage: 'en_US',
		pairIntervalSeconds: 0,
		journey: 'orders',
		step: 'confirm',
		wires: [['out']],
		...extra,
	};
}

async function loadSend(
	extra: Record<string, unknown> = {},
	storePath = newStorePath(),
): Promise<{ out: Collector; caught: Collector }> {
	await load(flow(sandbox, storePath, [sendNode(extra), { id: 'out', type: 'helper' }]));
	return { out: new Collector('out'), caught: new Collector('caught') };
}

const sentRequests = async (): Promise<number> =>
	(await control(sandbox, 'requests?path=/messages')).data.length;

beforeAll(async () => {
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: CREDENTIALS.cfg.appSecret,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

describe('whatsapp-send-template in Node-RED', () => {
	it('sends a template with variables from msg.payload.variables and returns the wamid, wa_id and tracking', async () => {
		const { out } = await loadSend();
		helper
			.getNode('send')
			.receive({ _msgid: 'msg-1', payload: { to: '+44 7911 123456', variables: ORDER_VARIABLES } });
		const [msg] = await out.waitFor(1);
		const payload = msg.payload as Record<string, unknown>;
		expect(payload.messageId).toMatch(/^wamid\./);
		expect(payload.recipient).toBe('+447911123456');
		expect(payload.waId).toBe('447911123456');
		expect(payload.template).toMatchObject({
			name: 'order_confirmation',
			language: 'en_US',
			category: 'UTILITY',
		});
		expect(payload.tracking).toEqual({
			workflowId: FLOW_ID,
			executionId: 'msg-1',
			journey: 'orders',
			step: 'confirm',
			stepKey: expect.stringMatching(/^[\w-]{22}$/),
		});
		const { data } = await control(sandbox, 'messages');
		expect(data).toHaveLength(1);
		expect(data[0].to).toBe('+447911123456');
		expect(decodeTracking(data[0].bizOpaqueCallbackData as string)).toEqual({
			workflowId: FLOW_ID,
			executionId: 'msg-1',
			journey: 'orders',
			step: 'confirm',
			stepKey: expect.stringMatching(/^[\w-]{22}$/),
		});
	});

	it('builds values from the editor mapping (typed inputs) and lets msg.payload.variables override one', async () => {
		const { out } = await loadSend({
			recipient: 'customer.phone',
			variables: [
				{ key: 'header_text_1', type: 'msg', value: 'order.number' },
				{ key: 'body_1', type: 'msg', value: 'customer.firstName' },
				{ key: 'body_2', type: 'msg', value: 'order.number' },
				{ key: 'body_3', type: 'str', value: 'tomorrow' },
				{ key: 'button_0_url', type: 'str', value: 'A-77' },
			],
		});
		helper.getNode('send').receive({
			customer: { phone: '0049 30 1234567', firstName: 'Jonas' },
			order: { number: '#A-77' },
			payload: { variables: { body_3: 'Friday' } },
		});
		await out.waitFor(1);
		const { data } = await control(sandbox, 'messages');
		const request = data[0].request as {
			to: string;
			template: { components: Array<{ type: string; parameters: Array<{ text?: string }> }> };
		};
		expect(request.to).toBe('+49301234567');
		const body = request.template.components.find((c) => c.type === 'body');
		expect(body?.parameters.map((p) => p.text)).toEqual(['Jonas', '#A-77', 'Friday']);
	});

	it('sends another template named in msg.template, NAMED parameters included', async () => {
		const { out } = await loadSend();
		helper.getNode('send').receive({
			template: 'spring_sale_named (en_US)',
			payload: {
				to: '+447911123456',
				variables: {
					header_text_store_name: 'Lisbon Store',
					body_first_name: 'Ana',
					body_end_date: 'March 31',
					body_points: '1,250',
				},
			},
		});
		const [msg] = await out.waitFor(1);
		expect((msg.payload as { template: { name: string } }).template.name).toBe('spring_sale_named');
		const { data } = await control(sandbox, 'messages');
		const request = data[0].request as {
			template: {
				name: string;
				components: Array<{ type: string; parameters: Array<Record<string, unknown>> }>;
			};
		};
		expect(request.template.name).toBe('spring_sale_named');
		expect(
			request.template.components
				.find((c) => c.type === 'body')
				?.parameters.map((p) => p.parameter_name),
		).toEqual(['first_name', 'end_date', 'points']);
	});

	it('validates prepared components from msg.template.components against the template before sending', async () => {
		const { out, caught } = await loadSend();
		helper.getNode('send').receive({
			template: {
				name: 'order_confirmation',
				language: 'en_US',
				components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
			},
			payload: { to: '+447911123456' },
		});
		const [error] = await caught.waitFor(1);
		expect(String((error.error as { message: string }).message)).toMatch(/order_confirmation/);
		expect(out.messages).toHaveLength(0);
		expect(await sentRequests()).toBe(0);
	});

	it('refuses a message with a missing variable before sending, and the Catch node gets msg.error and the issues', async () => {
		const { out, caught } = await loadSend();
		const { body_2: _omitted, ...missing } = ORDER_VARIABLES;
		helper.getNode('send').receive({ payload: { to: '+447911123456', variables: missing } });
		const [error] = await caught.waitFor(1);
		const e = error.error as { message: string; source: { id: string } };
		expect(e.source.id).toBe('send');
		expect(e.message).toMatch(/order_confirmation[\s\S]*(body_2|\{\{2\}\})/);
		const details = error.whatsappError as {
			issues: Array<{ variable?: string; component: string }>;
		};
		expect(details.issues.some((i) => i.variable === 'body_2' && i.component === 'body')).toBe(
			true,
		);
		expect(out.messages).toHaveLength(0);
		expect(await sentRequests()).toBe(0);
	});

	it('refuses an unknown variable key in msg.payload.variables (a typo is not silently dropped)', async () => {
		const { caught } = await loadSend();
		helper.getNode('send').receive({
			payload: { to: '+447911123456', variables: { ...ORDER_VARIABLES, body_4: 'extra' } },
		});
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(/body_4/);
		expect(await sentRequests()).toBe(0);
	});

	it('stops a MARKETING template to a US number unless allowed, before any request', async () => {
		const { caught } = await loadSend({ templateName: 'coupon_code', templateLanguage: 'en_US' });
		helper.getNode('send').receive({
			payload: {
				to: '+1 415 555 2671',
				variables: { body_1: 'Ana', body_2: '25%', button_0_coupon_code: 'SPRING25' },
			},
		});
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(/131049/);
		expect(await sentRequests()).toBe(0);
	});

	it('skips a customer who opted out of marketing (recorded in the shared state store)', async () => {
		const storePath = newStorePath();
		const store = createStateStore({ backend: 'embedded', path: storePath });
		await store.setOptOut({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: '447911123456',
			optedOut: true,
			at: new Date(),
			reason: 'test',
		});
		await store.close();
		const { caught } = await loadSend(
			{ templateName: 'coupon_code', templateLanguage: 'en_US' },
			storePath,
		);
		helper.getNode('send').receive({
			payload: {
				to: '+447911123456',
				variables: { body_1: 'Ana', body_2: '25%', button_0_coupon_code: 'SPRING25' },
			},
		});
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(/stopped marketing messages/);
		expect(await sentRequests()).toBe(0);
	});

	it('retries a throughput error (130429) and reports the attempts', async () => {
		await control(sandbox, 'faults', { throttleRequests: 2 });
		const { out } = await loadSend();
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } });
		const [msg] = await out.waitFor(1, 15_000);
		expect((msg.payload as { attempts: number }).attempts).toBe(3);
		expect((await control(sandbox, 'requests?path=/messages&code=130429')).data).toHaveLength(2);
	});

	it('refuses a template that is not APPROVED (132001) before sending', async () => {
		const { caught } = await loadSend({
			maxAttempts: 1,
			templateName: 'flash_sale_rejected',
			templateLanguage: 'en_US',
		});
		helper.getNode('send').receive({ payload: { to: '+447911123456' } });
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(/REJECTED[\s\S]*132001/);
		expect(await sentRequests()).toBe(0);
	});

	it('sends a Graph error code to Catch nodes as msg.error.code when retries are exhausted', async () => {
		await control(sandbox, 'faults', { throttleRequests: 5 });
		const { caught } = await loadSend({ maxAttempts: 2 });
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } });
		const [error] = await caught.waitFor(1, 15_000);
		expect((error.error as { code?: number }).code).toBe(130429);
		expect(error.whatsappError).toMatchObject({ code: 130429, category: 'throttled', attempts: 2 });
	});

	it('paces messages to the configured throughput and pair rate', async () => {
		const { out } = await loadSend({ messagesPerSecond: 10, pairIntervalSeconds: 0.4 });
		const started = Date.now();
		const node = helper.getNode('send');
		for (const to of ['+447911123456', '+447911123457', '+447911123458', '+447911123459'])
			node.receive({ payload: { to, variables: ORDER_VARIABLES } });
		await out.waitFor(4);
		// Four slots 100 ms apart: the last leaves at least ~300 ms after the first.
		expect(Date.now() - started).toBeGreaterThanOrEqual(280);
		// A second occurrence of the step for the first customer (the node's journey step is once per customer otherwise).
		node.receive({
			payload: { to: '+447911123456', variables: ORDER_VARIABLES },
			occurrenceKey: 'second',
		});
		const sent = await out.waitFor(5);
		expect((sent[4].policy as { decision: string }).decision).toBe('sent');
		// The same recipient again waits for its pair interval (400 ms after its first message).
		expect(Date.now() - started).toBeGreaterThanOrEqual(380);
	});

	it('with Msg/s 0 sends without throughput pacing, and still retries 130429', async () => {
		await control(sandbox, 'faults', { throttleRequests: 3 });
		const { out } = await loadSend({ messagesPerSecond: 0, pairIntervalSeconds: 0 });
		const node = helper.getNode('send');
		const recipients = Array.from({ length: 12 }, (_, i) => `+4479111234${String(60 + i)}`);
		for (const to of recipients) node.receive({ payload: { to, variables: ORDER_VARIABLES } });
		const sent = await out.waitFor(12, 15_000);
		expect(new Set(sent.map((m) => (m.payload as { recipient: string }).recipient))).toEqual(
			new Set(recipients),
		);
		expect(sent.some((m) => (m.payload as { attempts: number }).attempts > 1)).toBe(true);
	});

	it('shows sending / sent / failed counts as the node status', async () => {
		const statuses: string[] = [];
		const { out, caught } = await loadSend();
		helper
			.getNode('send')
			.on('call:status', (call) => statuses.push(String((call.args[0] as { text?: string }).text)));
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } });
		await out.waitFor(1);
		helper.getNode('send').receive({ payload: { to: 'not a number' } });
		await caught.waitFor(1);
		expect(statuses).toContain('sending 1 · sent 0');
		expect(statuses).toContain('sent 1');
		expect(statuses[statuses.length - 1]).toBe('sent 1 · failed 1');
	});

	it('builds and validates without sending in dry-run mode', async () => {
		const { out } = await loadSend({ dryRun: true });
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } });
		const [msg] = await out.waitFor(1);
		expect(msg.payload).toMatchObject({
			dryRun: true,
			recipient: '+447911123456',
			request: { to: '+447911123456', type: 'template' },
		});
		expect(await sentRequests()).toBe(0);
	});

	it('reports a node without a config to Catch nodes instead of failing silently', async () => {
		await load(
			flow(sandbox, newStorePath(), [sendNode({ server: '' }), { id: 'out', type: 'helper' }]),
		);
		const caught = new Collector('caught');
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } });
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(/WhatsApp Cloud config/);
	});
});

describe('template picker endpoint of whatsapp-cloud-config', () => {
	it('lists only APPROVED templates with their variable keys, for a deployed config', async () => {
		await loadSend();
		const response = await helper.request().get('/whatsapp-cloud/cfg/templates');
		expect(response.status).toBe(200);
		const { templates } = response.body as {
			templates: Array<{
				id: string;
				name: string;
				language: string;
				status: string;
				variables: Array<{ key: string }>;
			}>;
		};
		const names = templates.map((t) => `${t.name} (${t.language})`);
		expect(names).toContain('order_confirmation (pt_BR)');
		expect(names).not.toContain('flash_sale_rejected (en_US)');
		expect(names).not.toContain('welcome_offer_pending (en_US)');
		expect(templates.every((t) => t.status === 'APPROVED')).toBe(true);
		const order = templates.find((t) => t.name === 'order_confirmation' && t.language === 'en_US');
		expect(order?.variables.map((v) => v.key)).toEqual([
			'header_text_1',
			'body_1',
			'body_2',
			'body_3',
			'button_0_url',
		]);
	});

	it('says to deploy the config first when the id is unknown', async () => {
		await loadSend();
		const response = await helper.request().get('/whatsapp-cloud/not-deployed/templates');
		expect(response.status).toBe(404);
		expect((response.body as { error: string }).error).toMatch(/deploy/);
	});

	it('sends the template picked by id (what the editor stores)', async () => {
		const { out } = await loadSend({
			templateId: '1047591827364501',
			templateName: 'order_confirmation',
			templateLanguage: '',
		});
		helper
			.getNode('send')
			.receive({ payload: { to: '+447911123456', variables: ORDER_VARIABLES } } as NodeMessage);
		const [msg] = await out.waitFor(1);
		expect((msg.payload as { template: { id: string; language: string } }).template).toMatchObject({
			id: '1047591827364501',
			language: 'en_US',
		});
	});
});
