/**
 * The package inside a real Node-RED, end to end. The built package (`dist/` + package.json, the tarball's content)
 * is placed in a fresh user directory's node_modules, where Node-RED finds nodes; Node-RED is started from
 * node_modules with the example flows of examples/node-red, pointed at the Cloud API sandbox. Then: the sandbox
 * registers the webhook route (subscription challenge), an order is POSTed to the flow, the sandbox delivers the
 * signed statuses to Node-RED, and the events file the flow writes is read back. Also: 401 on a bad signature,
 * de-duplication of a redelivery, 422 with what to fix for a bad order, the window routing after a customer writes, and a
 * free-form reply with buttons (send message node) refused while the window is closed and sent once the customer writes,
and a reply to a customer known only by username, sent by their BSUID in Meta's `recipient` field;
 * and a webhook node deployed with "Registration: automatic" that registers itself with the sandbox, gets the statuses
 * there, and unregisters when a deploy removes it. And a customer's photo downloaded as a Buffer by the inbound message
 * node (served back over HTTP with Meta's MIME type and SHA-256), their message marked read with the typing indicator,
 * and Meta's code 100 for an unknown media id.
 *
 * Builds first (`npm run build`) when dist/ is missing or older than the sources.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { computeSignature } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	ROOT,
	PACKAGE,
	ensureBuilt,
	sleep,
	startNodeRed,
	until,
} from '../../harness/node-red-runtime';
import type { FlowNode, NodeRedRuntime } from '../../harness/node-red-runtime';
import { ONE_PIXEL_PNG } from '../fixtures/media';

const TOKEN = 'sandbox-token-for-node-red-runtime';
const APP_SECRET = 'app-secret-for-node-red-runtime';
const VERIFY_TOKEN = 'verify-token-for-node-red-runtime';
const PHONE_NUMBER_ID = '106540352242922';
const CONFIG_ID = 'ca11c0f900000001';
const ORDERS_TAB = '5a1e0c0f00000001';
const ADMIN = { username: 'admin', password: 'admin-password-for-tests' };

let sandbox: Sandbox;
let nodeRed: NodeRedRuntime | undefined;
let nodeRedUrl = '';
let adminToken = '';
const userDir = mkdtempSync(join(tmpdir(), 'wj-node-red-runtime-'));
const eventsFile = join(userDir, 'events', 'whatsapp-events.jsonl');

/** The example flows, merged (they share one config node), pointed at the sandbox and a store in the user dir. */
function exampleFlows(): FlowNode[] {
	const byId = new Map<string, FlowNode>();
	for (const file of [
		'order-confirmation.json',
		'status-sink.json',
		'window-routing.json',
		'customer-reply.json',
		'customer-media.json',
	]) {
		for (const node of JSON.parse(
			readFileSync(join(ROOT, 'examples/node-red', file), 'utf8'),
		) as FlowNode[])
			byId.set(node.id, node);
	}
	const config = byId.get(CONFIG_ID);
	if (!config) throw new Error('the examples lost their shared config node');
	Object.assign(config, {
		baseUrl: sandbox.url,
		storePath: join(userDir, 'journeys.sqlite'),
		phoneNumberId: PHONE_NUMBER_ID,
	});
	return [...byId.values()];
}

function events(): Array<{
	kind: string;
	status?: string;
	messageId?: string;
	tracking?: Record<string, string>;
	from?: string;
}> {
	if (!existsSync(eventsFile)) return [];
	return readFileSync(eventsFile, 'utf8')
		.split('\n')
		.filter((line) => line.trim() !== '')
		.map((line) => JSON.parse(line) as ReturnType<typeof events>[number]);
}

async function postJson(
	path: string,
	body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
	const response = await fetch(`${nodeRedUrl}${path}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify(body),
	});
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
	ensureBuilt();
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 20,
	});

	nodeRed = await startNodeRed({
		userDir,
		flows: exampleFlows(),
		credentials: {
			[CONFIG_ID]: { accessToken: TOKEN, appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
		},
		// A secured editor, as in production: the admin API (and the template picker on it) needs a token.
		settingsJs: `{
  adminAuth: {
    type: 'credentials',
    users: (username) => Promise.resolve(username === ${JSON.stringify(ADMIN.username)} ? { username, permissions: '*' } : null),
    authenticate: (username, password) =>
      Promise.resolve(username === ${JSON.stringify(ADMIN.username)} && password === ${JSON.stringify(ADMIN.password)} ? { username, permissions: '*' } : null),
  },
}`,
		env: { WHATSAPP_EVENTS_FILE: eventsFile },
	});
	nodeRedUrl = nodeRed.url;
	const login = await fetch(`${nodeRedUrl}/auth/token`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({
			client_id: 'node-red-admin',
			grant_type: 'password',
			scope: '*',
			...ADMIN,
		}).toString(),
	});
	adminToken = ((await login.json()) as { access_token: string }).access_token;
}, 360_000);

const asAdmin = (headers: Record<string, string> = {}): Record<string, string> => ({
	...headers,
	Authorization: `Bearer ${adminToken}`,
});

afterAll(async () => {
	await nodeRed?.stop();
	await sandbox?.close();
	rmSync(userDir, { recursive: true, force: true });
});

describe('the package in a real Node-RED runtime', () => {
	it('loads the seven node types from the installed package with their editor definitions', async () => {
		const response = await fetch(`${nodeRedUrl}/nodes`, {
			headers: asAdmin({ Accept: 'application/json' }),
		});
		const sets = (await response.json()) as Array<{
			module: string;
			types: string[];
			enabled: boolean;
			err?: string;
		}>;
		const ours = sets.filter((s) => s.module === PACKAGE.name);
		expect(ours.flatMap((s) => s.types).sort()).toEqual([
			'whatsapp-check-window',
			'whatsapp-cloud-config',
			'whatsapp-inbound-message',
			'whatsapp-journey-report',
			'whatsapp-send-message',
			'whatsapp-send-template',
			'whatsapp-webhook-status',
		]);
		expect(ours.every((s) => s.enabled && !s.err)).toBe(true);
		const html = await (
			await fetch(`${nodeRedUrl}/nodes`, { headers: asAdmin({ Accept: 'text/html' }) })
		).text();
		expect(html).toContain('data-help-name="whatsapp-send-template"');
		expect(html).toContain('data-help-name="whatsapp-send-message"');
		expect(html).not.toContain(TOKEN);
	});

	it('keeps the secrets out of the flow and out of the editor: password credentials come back only as "has_" flags', async () => {
		const flows = await (await fetch(`${nodeRedUrl}/flows`, { headers: asAdmin() })).text();
		expect(flows).toContain(CONFIG_ID);
		for (const secret of [TOKEN, APP_SECRET, VERIFY_TOKEN]) expect(flows).not.toContain(secret);
		const credentials = (await (
			await fetch(`${nodeRedUrl}/credentials/whatsapp-cloud-config/${CONFIG_ID}`, {
				headers: asAdmin(),
			})
		).json()) as Record<string, unknown>;
		expect(credentials).toMatchObject({
			has_accessToken: true,
			has_appSecret: true,
			has_verifyToken: true,
		});
		for (const secret of [TOKEN, APP_SECRET, VERIFY_TOKEN])
			expect(JSON.stringify(credentials)).not.toContain(secret);
	});

	it("serves the editor's template picker from the deployed config, to signed-in editor users only", async () => {
		expect((await fetch(`${nodeRedUrl}/whatsapp-cloud/${CONFIG_ID}/templates`)).status).toBe(401);
		const response = await fetch(`${nodeRedUrl}/whatsapp-cloud/${CONFIG_ID}/templates`, {
			headers: asAdmin(),
		});
		expect(response.status).toBe(200);
		const { templates } = (await response.json()) as {
			templates: Array<{ name: string; status: string }>;
		};
		expect(templates.map((t) => t.name)).toContain('order_confirmation');
		expect(templates.every((t) => t.status === 'APPROVED')).toBe(true);
	});

	it("passes Meta's subscription challenge: the sandbox registers the flow's webhook as the number's callback", async () => {
		const response = await fetch(`${sandbox.url}/v25.0/${PHONE_NUMBER_ID}`, {
			method: 'POST',
			headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
			body: JSON.stringify({
				webhook_configuration: {
					override_callback_uri: `${nodeRedUrl}/whatsapp/webhook`,
					verify_token: VERIFY_TOKEN,
				},
			}),
		});
		expect(await response.json()).toEqual({ success: true });
		const refused = await fetch(`${sandbox.url}/v25.0/${PHONE_NUMBER_ID}`, {
			method: 'POST',
			headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
			body: JSON.stringify({
				webhook_configuration: {
					override_callback_uri: `${nodeRedUrl}/whatsapp/webhook?x=1`,
					verify_token: 'wrong-token',
				},
			}),
		});
		expect(refused.status).toBeGreaterThanOrEqual(400);
	});

	it('sends an order confirmation and writes its sent, delivered and read statuses, tracked to the journey', async () => {
		const sent = await postJson('/orders/confirm', {
			phone: '+44 7911 123456',
			customer: { firstName: 'Ana' },
			order: { id: 'A-1042', number: '#A-1042', deliveryDate: '12 March' },
		});
		expect(sent.status).toBe(200);
		const messageId = String(sent.body.messageId);
		expect(messageId).toMatch(/^wamid\./);
		expect(sent.body.tracking).toMatchObject({
			workflowId: ORDERS_TAB,
			journey: 'orders',
			step: 'confirmation',
		});

		const statuses = await until('three statuses in the events file', () => {
			const mine = events().filter((e) => e.kind === 'status' && e.messageId === messageId);
			return mine.length >= 3 ? mine : undefined;
		});
		expect(statuses.map((e) => e.status)).toEqual(['sent', 'delivered', 'read']);
		for (const status of statuses)
			expect(status.tracking).toMatchObject({
				workflowId: ORDERS_TAB,
				journey: 'orders',
				step: 'confirmation',
			});
	});

	it('answers 401 to a forged delivery and emits a redelivered one only once', async () => {
		const { data } = (await sandbox.control('webhooks')) as {
			data: Array<{ body: string; signature: string; statusCode: number }>;
		};
		const delivered = data.find((attempt) => attempt.statusCode === 200);
		if (!delivered) throw new Error('the sandbox delivered no webhook');
		const before = events().length;

		const forged = await fetch(`${nodeRedUrl}/whatsapp/webhook`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				'X-Hub-Signature-256': computeSignature(delivered.body, 'not-the-app-secret'),
			},
			body: delivered.body,
		});
		expect(forged.status).toBe(401);
		const again = await fetch(`${nodeRedUrl}/whatsapp/webhook`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': delivered.signature },
			body: delivered.body,
		});
		expect(again.status).toBe(200);
		await sleep(500);
		expect(events().length).toBe(before);
	});

	it('answers a bad order 422 with what to fix, and sends nothing', async () => {
		const before = ((await sandbox.control('messages')) as { data: unknown[] }).data.length;
		const refused = await postJson('/orders/confirm', {
			phone: '+44 7911 123456',
			customer: { firstName: 'Ana' },
			order: { id: 'A-1043', number: '#A-1043' },
		});
		expect(refused.status).toBe(422);
		expect(String(refused.body.error)).toMatch(/order_confirmation[\s\S]*(body_3|\{\{3\}\})/);
		const after = ((await sandbox.control('messages')) as { data: unknown[] }).data.length;
		expect(after).toBe(before);
	});

	it('routes a customer to "template" until they write, then to "session"', async () => {
		const phone = '+34 612 345 678';
		expect((await postJson('/customers/window', { phone })).body.channel).toBe('template');
		const inbound = await fetch(`${sandbox.url}/__sandbox/inbound`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				Authorization: `Bearer ${sandbox.controlToken}`,
			},
			body: JSON.stringify({ from: phone, text: 'Hi, is my order on its way?' }),
		});
		expect(inbound.status).toBe(200);
		await until('the inbound message in the events file', () =>
			events().some((e) => e.kind === 'message' && e.from === '34612345678') ? true : undefined,
		);
		const open = await postJson('/customers/window', { phone });
		expect(open.body.channel).toBe('session');
		expect(open.body.window).toMatchObject({ open: true, waId: '34612345678' });
	});

	it("downloads a customer's photo as a Buffer, marks the message read with typing, and passes Meta's 100 for an unknown media id", async () => {
		const sent = (await sandbox.control('inbound', {
			from: '+33 6 12 34 56 78',
			image: { data: ONE_PIXEL_PNG.toString('base64'), mime_type: 'image/png' },
		})) as { id: string; message: { image: { id: string; sha256: string } } };

		const file = await fetch(`${nodeRedUrl}/customers/media`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ mediaId: sent.message.image.id }),
		});
		expect(file.status).toBe(200);
		expect(file.headers.get('content-type')).toMatch(/^image\/png/);
		expect(file.headers.get('x-whatsapp-sha256')).toBe(sent.message.image.sha256);
		expect(Buffer.from(await file.arrayBuffer()).equals(ONE_PIXEL_PNG)).toBe(true);

		const read = await postJson('/customers/read', { messageId: sent.id });
		expect(read).toMatchObject({
			status: 200,
			body: { messageId: sent.id, status: 'read', typingIndicator: true },
		});
		const { data } = (await sandbox.control('inbound')) as {
			data: Array<{ id: string; read: boolean; typing: boolean }>;
		};
		expect(data.find((r) => r.id === sent.id)).toMatchObject({ read: true, typing: true });

		const unknown = await postJson('/customers/media', { mediaId: '999999999999999' });
		expect(unknown.status).toBe(502);
		expect(unknown.body.details).toMatchObject({ code: 100 });
	});

	it('sends a free-form reply with buttons through the send message node once the customer has written, and refuses it before', async () => {
		const phone = '+351 912 345 678';
		const reply = {
			phone,
			text: 'Your parcel left the warehouse. Anything else?',
			buttons: ['All good', { id: 'call-me', title: 'Call me' }],
		};
		const closed = await postJson('/customers/reply', reply);
		expect(closed.status).toBe(409);
		expect(String(closed.body.error)).toMatch(/template/);
		const inbound = await fetch(`${sandbox.url}/__sandbox/inbound`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				Authorization: `Bearer ${sandbox.controlToken}`,
			},
			body: JSON.stringify({ from: phone, text: 'Where is my parcel?' }),
		});
		expect(inbound.status).toBe(200);
		await until('the inbound message in the events file', () =>
			events().some((e) => e.kind === 'message' && e.from === '351912345678') ? true : undefined,
		);
		const sent = await postJson('/customers/reply', reply);
		expect(sent.status).toBe(200);
		expect(sent.body).toMatchObject({
			recipient: '+351912345678',
			type: 'interactive',
			tracking: { journey: 'support', step: 'reply' },
		});
		const messageId = String(sent.body.messageId);
		expect(messageId).toMatch(/^wamid\./);
		const { data } = (await sandbox.control('messages?to=351912345678')) as {
			data: Array<{ id: string; request: Record<string, unknown> }>;
		};
		expect(data).toHaveLength(1);
		expect(data[0].id).toBe(messageId);
		expect(data[0].request).toMatchObject({
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: reply.text },
				action: {
					buttons: [
						{ type: 'reply', reply: { id: 'All good', title: 'All good' } },
						{ type: 'reply', reply: { id: 'call-me', title: 'Call me' } },
					],
				},
			},
		});
	});
	it("replies to a customer known only by username through the example flow, by their BSUID in Meta's recipient field", async () => {
		// A username customer writes: like Meta (BSUID guide, "When phone numbers are omitted"), the sandbox leaves their
		// number out of the webhook, so the flow only ever learns the BSUID — and its window opens under it.
		const BSUID = 'PT.13491208655302741977';
		await sandbox.control('inbound', {
			from: '+351912345699',
			userId: BSUID,
			username: 'rita.store',
			hidePhone: true,
			text: 'Is my order ready?',
		});
		await until('the username customer’s message in the events file', () =>
			events().some((e) => e.kind === 'message' && e.from === BSUID) ? true : undefined,
		);
		const sent = await postJson('/customers/reply', {
			phone: BSUID,
			text: 'Yes, ready for pickup.',
		});
		expect(sent.status).toBe(200);
		expect(sent.body).toMatchObject({ recipient: BSUID, recipientType: 'bsuid', type: 'text' });
		const { data } = (await sandbox.control('messages')) as {
			data: Array<{ id: string; request: Record<string, unknown> }>;
		};
		const request = data.find((m) => m.id === sent.body.messageId)?.request;
		expect(request).toMatchObject({ recipient: BSUID, type: 'text' });
		expect(request).not.toHaveProperty('to');
	});

	it('registers a webhook node deployed with "Registration: automatic", receives the statuses Meta sends there, and unregisters it when deleted', async () => {
		const hookUrl = `${nodeRedUrl}/whatsapp/auto`;
		const autoFile = join(userDir, 'events', 'auto.jsonl');
		const overrideNow = async (): Promise<string | undefined> => {
			const response = await fetch(
				`${sandbox.url}/v25.0/${PHONE_NUMBER_ID}?fields=webhook_configuration`,
				{ headers: { Authorization: `Bearer ${TOKEN}` } },
			);
			return ((await response.json()) as { webhook_configuration?: { phone_number?: string } })
				.webhook_configuration?.phone_number;
		};
		const deploy = async (flows: FlowNode[], rev: string): Promise<void> => {
			const response = await fetch(`${nodeRedUrl}/flows`, {
				method: 'POST',
				headers: asAdmin({
					'Content-Type': 'application/json',
					'Node-RED-API-Version': 'v2',
					'Node-RED-Deployment-Type': 'flows',
				}),
				body: JSON.stringify({ rev, flows }),
			});
			expect(response.status).toBe(200);
		};
		const readFlows = async (): Promise<{ rev: string; flows: FlowNode[] }> =>
			(await (
				await fetch(`${nodeRedUrl}/flows`, { headers: asAdmin({ 'Node-RED-API-Version': 'v2' }) })
			).json()) as { rev: string; flows: FlowNode[] };

		const before = await readFlows();
		expect(await overrideNow()).not.toBe(hookUrl);
		const tab = 'a070000000000001';
		const added: FlowNode[] = [
			{ id: tab, type: 'tab', label: 'automatic registration' },
			{
				id: 'a070000000000002',
				type: 'whatsapp-webhook-status',
				z: tab,
				name: '',
				server: CONFIG_ID,
				url: '/whatsapp/auto',
				events: ['status:sent', 'status:delivered', 'status:read'],
				allPhoneNumbers: false,
				deduplicate: true,
				includeRaw: false,
				lateStatuses: 'drop',
				recordWindows: true,
				recordOptOuts: true,
				stopKeywords: 'STOP, UNSUBSCRIBE',
				allowUnsigned: false,
				registration: 'automatic',
				publicUrl: nodeRedUrl,
				x: 130,
				y: 100,
				wires: [['a070000000000003']],
			},
			{
				id: 'a070000000000003',
				type: 'json',
				z: tab,
				property: 'payload',
				action: 'str',
				pretty: false,
				x: 330,
				y: 100,
				wires: [['a070000000000004']],
			},
			{
				id: 'a070000000000004',
				type: 'file',
				z: tab,
				filename: autoFile,
				filenameType: 'str',
				appendNewline: true,
				createDir: true,
				overwriteFile: 'false',
				encoding: 'utf8',
				x: 520,
				y: 100,
				wires: [[]],
			},
		];
		await deploy([...before.flows, ...added], before.rev);
		// Set by the node on deploy, after the sandbox's challenge to Node-RED succeeded.
		await until('the override to point at the new node', async () =>
			(await overrideNow()) === hookUrl ? true : undefined,
		);

		const sent = await postJson('/orders/confirm', {
			phone: '+44 7911 123457',
			customer: { firstName: 'Bo' },
			order: { id: 'A-2001', number: '#A-2001', deliveryDate: '14 March' },
		});
		expect(sent.body).toMatchObject({ messageId: expect.stringMatching(/^wamid\./) });
		const messageId = String(sent.body.messageId);
		const statuses = await until("three statuses in the automatic node's file", () => {
			if (!existsSync(autoFile)) return undefined;
			const mine = readFileSync(autoFile, 'utf8')
				.split('\n')
				.filter((line) => line.trim() !== '')
				.map((line) => JSON.parse(line) as { messageId?: string; status?: string })
				.filter((e) => e.messageId === messageId);
			return mine.length >= 3 ? mine : undefined;
		});
		expect(statuses.map((e) => e.status)).toEqual(['sent', 'delivered', 'read']);
		const { data } = (await sandbox.control(`webhooks?url=${encodeURIComponent(hookUrl)}`)) as {
			data: Array<{ statusCode: number }>;
		};
		expect(data.length).toBeGreaterThan(0);
		expect(data.every((attempt) => attempt.statusCode === 200)).toBe(true);

		// Deleted by a deploy: the override it set goes (it was still ours).
		const current = await readFlows();
		await deploy(
			current.flows.filter((node) => node.id !== tab && node.z !== tab),
			current.rev,
		);
		await until('the override removed', async () =>
			(await overrideNow()) === undefined ? true : undefined,
		);
	});
});
