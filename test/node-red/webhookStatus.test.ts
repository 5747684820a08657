/**
 * `whatsapp-webhook-status` (and `whatsapp-check-window`, which reads what it records) in node-red-node-test-helper's
 * runtime, its route served on a real HTTP server: the subscription challenge, signatures on the raw bytes, one
 * message per event, de-duplication, no regression, window and opt-out side effects, route removal on close, and
 * the whole loop with the sandbox delivering the statuses of a message the send node sent.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import Redis from 'ioredis';

import { computeSignature, createStateStore } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import type { NodeMessage } from '../../node-red/types';
import {
	APP_SECRET,
	CREDENTIALS,
	Collector,
	FLOW_ID,
	NodeHttpServer,
	PHONE_NUMBER_ID,
	VERIFY_TOKEN,
	WABA_ID,
	control,
	flow,
	helper,
	load,
	newStorePath,
	sleep,
} from './harness';
import type { FlowNode } from './harness';
import { arriveWith } from '../webhookClock';

const PATH = '/wa/hook';
const ALL_EVENTS = [
	'status:sent',
	'status:delivered',
	'status:read',
	'status:failed',
	'status:played',
	'message',
	'user_preference',
	'template_status',
	'template_quality',
	'template_category',
	'link_click',
	'error',
];

let sandbox: Sandbox;
const server = new NodeHttpServer();

function webhookNode(extra: Record<string, unknown> = {}): FlowNode {
	return {
		id: 'hook',
		type: 'whatsapp-webhook-status',
		server: 'cfg',
		url: PATH,
		events: ALL_EVENTS,
		wires: [['events']],
		...extra,
	};
}

async function loadHook(
	extra: Record<string, unknown> = {},
	more: FlowNode[] = [],
	storePath = newStorePath(),
	credentials: Record<string, Record<string, string>> = CREDENTIALS,
): Promise<Collector> {
	const RED = await load(
		flow(sandbox, storePath, [webhookNode(extra), { id: 'events', type: 'helper' }, ...more]),
		credentials,
	);
	server.serve(RED);
	return new Collector('events');
}

function post(
	body: string,
	signature: string | null = computeSignature(body, APP_SECRET),
): Promise<Response> {
	arriveWith(body);
	return fetch(`${server.url}${PATH}`, {
		method: 'POST',
		headers: {
			'Content-Type': 'application/json',
			...(signature === null ? {} : { 'X-Hub-Signature-256': signature }),
		},
		body,
	});
}

interface MetaStatus {
	id: string;
	status: string;
	timestamp: string;
	recipient_id: string;
	biz_opaque_callback_data?: string;
}

function envelope(value: Record<string, unknown>): string {
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: WABA_ID,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
							...value,
						},
					},
				],
			},
		],
	});
}

const statusesBody = (statuses: MetaStatus[]): string => envelope({ statuses });
const nowUnix = (): string => String(Math.floor(Date.now() / 1000));

function inboundBody(from: string, text: string, id: string): string {
	return envelope({
		contacts: [{ profile: { name: 'Ana' }, wa_id: from }],
		messages: [{ from, id, timestamp: nowUnix(), type: 'text', text: { body: text } }],
	});
}

const payloadOf = (msg: NodeMessage): Record<string, unknown> =>
	msg.payload as Record<string, unknown>;

beforeAll(async () => {
	await server.start();
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		callbackUrl: `${server.url}${PATH}`,
	});
});
afterAll(async () => {
	await sandbox.close();
	await server.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

describe('whatsapp-webhook-status in Node-RED', () => {
	it("answers Meta's subscription challenge with the config's verify token, and 403 otherwise", async () => {
		await loadHook();
		const ok = await fetch(
			`${server.url}${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
		);
		expect(ok.status).toBe(200);
		expect(await ok.text()).toBe('1158201444');
		const wrong = await fetch(
			`${server.url}${PATH}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`,
		);
		expect(wrong.status).toBe(403);
		expect(await wrong.text()).not.toContain('1158201444');
	});

	it('answers 401 to a POST whose signature is missing or not of these bytes, and emits nothing', async () => {
		const events = await loadHook();
		const body = statusesBody([
			{ id: 'wamid.SIG', status: 'sent', timestamp: nowUnix(), recipient_id: '447911123456' },
		]);
		expect((await post(body, null)).status).toBe(401);
		expect((await post(body, computeSignature(body, 'another-secret'))).status).toBe(401);
		// Same JSON, different bytes (re-serialised with spaces): the signature of the original does not cover it.
		expect(
			(await post(JSON.stringify(JSON.parse(body), null, 1), computeSignature(body, APP_SECRET)))
				.status,
		).toBe(401);
		await sleep(100);
		expect(events.messages).toHaveLength(0);
	});

	it('answers 401 when the config has no app secret, even to a signed POST', async () => {
		const events = await loadHook({}, [], newStorePath(), {
			cfg: { accessToken: CREDENTIALS.cfg.accessToken, verifyToken: VERIFY_TOKEN },
		});
		const body = statusesBody([
			{ id: 'wamid.NOSECRET', status: 'sent', timestamp: nowUnix(), recipient_id: '447911123456' },
		]);
		expect((await post(body)).status).toBe(401);
		await sleep(50);
		expect(events.messages).toHaveLength(0);
	});

	it('answers 400 to a signed body that is not a WhatsApp webhook', async () => {
		await loadHook();
		const response = await post(JSON.stringify({ object: 'page', entry: [] }));
		expect(response.status).toBe(400);
	});

	it('answers 200 only once the events are recorded: a state store that fails gets 500, so Meta delivers again', async () => {
		// A store file in a folder that does not exist: the store cannot open.
		const events = await loadHook({}, [], join(`${newStorePath()}.missing`, 'store.sqlite'));
		const caught = new Collector('caught');
		const body = inboundBody('447911123456', 'Hello?', 'wamid.UNRECORDED');
		const response = await post(body);
		expect(response.status).toBe(500);
		expect(await response.text()).not.toBe('EVENT_RECEIVED');
		// The Catch flow gets the delivery that could not be recorded; nothing was emitted as if it had been.
		const [error] = await caught.waitFor(1);
		expect(error.payload).toMatchObject({ object: 'whatsapp_business_account' });
		expect(events.messages).toHaveLength(0);
	});

	it("acknowledges a replay stamped before Meta's 7-day retry period, emits nothing and counts it as stale", async () => {
		const events = await loadHook();
		const badges: string[] = [];
		helper
			.getNode('hook')
			.on('call:status', (call) => badges.push(String((call.args[0] as { text?: string }).text)));
		const monthAgo = String(Math.floor(Date.now() / 1000) - 30 * 24 * 60 * 60);
		const stale = statusesBody([
			{ id: 'wamid.OLD', status: 'read', timestamp: monthAgo, recipient_id: '447911123456' },
		]);
		// Posted as it is, on the real clock: Meta stops retrying after 7 days, so this can only be a replay.
		const answer = await fetch(`${server.url}${PATH}`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				'X-Hub-Signature-256': computeSignature(stale, APP_SECRET),
			},
			body: stale,
		});
		expect(answer.status).toBe(200);
		const fresh = statusesBody([
			{ id: 'wamid.NEW', status: 'sent', timestamp: nowUnix(), recipient_id: '447911123456' },
		]);
		expect((await post(fresh)).status).toBe(200);
		await events.waitFor(1);
		await sleep(50);
		expect(events.messages.map((m) => (m.payload as { messageId?: string }).messageId)).toEqual([
			'wamid.NEW',
		]);
		expect(badges.at(-1)).toBe('events 1 · duplicates 0 · stale 1');
	});

	it('emits one message per event with the event kind as topic, and a redelivery not again', async () => {
		const events = await loadHook();
		const t = Number(nowUnix());
		const body = statusesBody([
			{
				id: 'wamid.A',
				status: 'sent',
				timestamp: String(t),
				recipient_id: '447911123456',
				biz_opaque_callback_data: 'wj1:j=welcome;s=day-1',
			},
			{ id: 'wamid.B', status: 'sent', timestamp: String(t), recipient_id: '447911123457' },
			{
				id: 'wamid.A',
				status: 'delivered',
				timestamp: String(t + 1),
				recipient_id: '447911123456',
				biz_opaque_callback_data: 'wj1:j=welcome;s=day-1',
			},
		]);
		const response = await post(body);
		expect(response.status).toBe(200);
		expect(await response.text()).toBe('EVENT_RECEIVED');
		await events.waitFor(3);
		expect(events.messages.map((m) => m.topic)).toEqual([
			'status:sent',
			'status:sent',
			'status:delivered',
		]);
		expect(payloadOf(events.messages[0])).toMatchObject({
			kind: 'status',
			messageId: 'wamid.A',
			status: 'sent',
			recipientId: '447911123456',
			tracking: { journey: 'welcome', step: 'day-1' },
		});

		expect((await post(body)).status).toBe(200);
		await sleep(150);
		expect(events.messages).toHaveLength(3);
	});

	it('never lets a status go backwards: a delivered after read is dropped, or flagged when asked', async () => {
		const t = Number(nowUnix());
		const read = statusesBody([
			{ id: 'wamid.LATE', status: 'read', timestamp: String(t + 2), recipient_id: '447911123456' },
		]);
		const delivered = statusesBody([
			{
				id: 'wamid.LATE',
				status: 'delivered',
				timestamp: String(t + 1),
				recipient_id: '447911123456',
			},
		]);

		let events = await loadHook();
		await post(read);
		await events.waitFor(1);
		await post(delivered);
		await sleep(150);
		expect(events.messages.map((m) => m.topic)).toEqual(['status:read']);
		await helper.unload();

		events = await loadHook({ lateStatuses: 'flag' });
		await post(read);
		await events.waitFor(1);
		await post(delivered);
		await events.waitFor(2);
		expect(payloadOf(events.messages[1])).toMatchObject({
			status: 'delivered',
			lateStatus: true,
			previousStatus: 'read',
		});
	});

	it("emits only the ticked events and only the config's phone number, unless all numbers are asked for", async () => {
		const fixture = readFileSync(
			join(__dirname, '../fixtures/webhooks/statuses-batch-mixed.json'),
			'utf8',
		);
		let events = await loadHook({ events: ['status:delivered', 'status:read'] });
		await post(fixture);
		await events.waitFor(1);
		await sleep(100);
		expect(events.messages.map((m) => `${m.topic} ${payloadOf(m).messageId}`)).toEqual([
			'status:read wamid.BATCH1',
		]);
		await helper.unload();

		events = await loadHook({ events: ['status:delivered', 'status:read'], allPhoneNumbers: true });
		await post(fixture);
		await events.waitFor(2);
		expect(events.messages.map((m) => `${m.topic} ${payloadOf(m).messageId}`).sort()).toEqual([
			'status:delivered wamid.OTHERNUMBER',
			'status:read wamid.BATCH1',
		]);
	});

	it('records inbound messages as open windows (read by check window) and STOP as an opt-out in the store', async () => {
		const storePath = newStorePath();
		const events = await loadHook(
			{},
			[
				{
					id: 'window',
					type: 'whatsapp-check-window',
					server: 'cfg',
					wires: [['open'], ['closed']],
				},
				{ id: 'open', type: 'helper' },
				{ id: 'closed', type: 'helper' },
			],
			storePath,
		);
		const open = new Collector('open');
		const closed = new Collector('closed');

		helper.getNode('window').receive({ payload: { to: '+447911123456' } });
		await closed.waitFor(1);
		expect((closed.messages[0].window as { open: boolean }).open).toBe(false);

		await post(inboundBody('447911123456', 'Hello!', 'wamid.IN1'));
		await events.waitFor(1);
		helper.getNode('window').receive({ payload: { to: '+44 7911 123456' } });
		const [msg] = await open.waitFor(1);
		const window = msg.window as { open: boolean; secondsLeft: number; recipient: string };
		expect(window.open).toBe(true);
		expect(window.recipient).toBe('+447911123456');
		expect(window.secondsLeft).toBeGreaterThan(24 * 3600 - 120);

		await post(inboundBody('447911123456', '  stop ', 'wamid.IN2'));
		await events.waitFor(2);
		expect(payloadOf(events.messages[1])).toMatchObject({ kind: 'message', optOut: true });
		const store = createStateStore({ backend: 'embedded', path: storePath });
		try {
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911123456' })).toBe(
				true,
			);
		} finally {
			await store.close();
		}
	});

	it('shares de-duplication and windows through Redis when the config says so (several Node-RED instances)', async () => {
		const keyPrefix = `wjtest:node-red:${process.pid}:${randomBytes(4).toString('hex')}:`;
		const redisConfig = {
			storeType: 'redis',
			redisHost: '127.0.0.1',
			redisPort: 6379,
			redisKeyPrefix: keyPrefix,
		};
		const nodes: FlowNode[] = [
			webhookNode(),
			{ id: 'events', type: 'helper' },
			{ id: 'window', type: 'whatsapp-check-window', server: 'cfg', wires: [['open'], ['closed']] },
			{ id: 'open', type: 'helper' },
			{ id: 'closed', type: 'helper' },
		];
		const admin = new Redis({ host: '127.0.0.1', port: 6379 });
		try {
			server.serve(await load(flow(sandbox, newStorePath(), nodes, redisConfig)));
			let events = new Collector('events');
			const body = inboundBody('447911123456', 'Hello from Redis', 'wamid.REDIS1');
			await post(body);
			await events.waitFor(1);
			await helper.unload();

			// A second "instance" (new flow, new connection, another embedded file that is not used): the same event is a duplicate.
			server.serve(await load(flow(sandbox, newStorePath(), nodes, redisConfig)));
			events = new Collector('events');
			const open = new Collector('open');
			await post(body);
			await sleep(200);
			expect(events.messages).toHaveLength(0);
			helper.getNode('window').receive({ payload: { to: '+447911123456' } });
			await open.waitFor(1);
			expect((await admin.keys(`${keyPrefix}*`)).length).toBeGreaterThan(0);
		} finally {
			const keys = await admin.keys(`${keyPrefix}*`);
			if (keys.length > 0) await admin.del(...keys);
			await admin.quit();
		}
	});

	it('removes its route when the flow stops', async () => {
		await loadHook();
		const url = `${server.url}${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=42`;
		expect((await fetch(url)).status).toBe(200);
		await helper.unload();
		// Same Express app, flow stopped: the route is gone.
		expect((await fetch(url)).status).toBe(404);
		await load(flow(sandbox, newStorePath(), [{ id: 'idle', type: 'helper' }]));
	});

	it('follows a sent template through the sandbox back to the journey: sent, delivered, read with its tracking', async () => {
		const events = await loadHook({ events: ['status:sent', 'status:delivered', 'status:read'] }, [
			{
				id: 'send',
				type: 'whatsapp-send-template',
				server: 'cfg',
				templateName: 'order_confirmation',
				templateLanguage: 'en_US',
				pairIntervalSeconds: 0,
				journey: 'orders',
				step: 'confirm',
				wires: [['sent']],
			},
			{ id: 'sent', type: 'helper' },
		]);
		const sent = new Collector('sent');
		helper.getNode('send').receive({
			_msgid: 'journey-msg-7',
			payload: {
				to: '+447911123456',
				variables: {
					header_text_1: '#A-1',
					body_1: 'Ana',
					body_2: '#A-1',
					body_3: 'today',
					button_0_url: 'A-1',
				},
			},
		});
		const [result] = await sent.waitFor(1);
		const messageId = payloadOf(result).messageId;
		await events.waitFor(3, 10_000);
		expect(events.messages.map((m) => m.topic)).toEqual([
			'status:sent',
			'status:delivered',
			'status:read',
		]);
		for (const m of events.messages) {
			expect(payloadOf(m)).toMatchObject({
				messageId,
				recipientId: '447911123456',
				tracking: {
					workflowId: FLOW_ID,
					executionId: 'journey-msg-7',
					journey: 'orders',
					step: 'confirm',
				},
			});
		}
		const { data } = await control(sandbox, 'webhooks');
		expect(data.length).toBeGreaterThan(0);
		expect(data.map((attempt) => attempt.statusCode)).toEqual(data.map(() => 200));
	});
});
