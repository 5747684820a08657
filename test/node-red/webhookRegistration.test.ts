/**
 * `whatsapp-webhook-status` with "Registration: automatic", in node-red-node-test-helper's runtime against the
 * sandbox (which, like Meta, accepts an override only after its GET challenge to that URL succeeded): on start the
 * node sets the number's override to Public URL + httpNodeRoot + path; a redeploy that changes nothing for Meta
 * does not set it again; deleting the node removes it, unless another URL was set since; failures show the reason.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	APP_SECRET,
	CREDENTIALS,
	Collector,
	NodeHttpServer,
	PHONE_NUMBER_ID,
	TOKEN,
	VERIFY_TOKEN,
	control,
	flow,
	helper,
	load,
	newStorePath,
	sleep,
} from './harness';
import type { FlowNode } from './harness';
import { until } from '../../harness/node-red-runtime';

const PATH = '/wa/auto';

let sandbox: Sandbox;
const server = new NodeHttpServer();
/** Another callback that answers Meta's challenge: "someone else" taking the number over. */
const foreign = http.createServer((req, res) => {
	const url = new URL(req.url ?? '/', 'http://localhost');
	res.end(url.searchParams.get('hub.challenge') ?? 'ok');
});
let foreignUrl = '';

function hookNode(extra: Record<string, unknown> = {}): FlowNode {
	return {
		id: 'hook',
		type: 'whatsapp-webhook-status',
		server: 'cfg',
		url: PATH,
		registration: 'automatic',
		publicUrl: server.url,
		wires: [['events']],
		...extra,
	};
}

/** The hook, a collector of its events, and a Status node reporting its badge. */
function nodes(extra: Record<string, unknown> = {}): FlowNode[] {
	return [
		hookNode(extra),
		{ id: 'events', type: 'helper' },
		{ id: 'statuses', type: 'status', scope: ['hook'], wires: [['badge']] },
		{ id: 'badge', type: 'helper' },
	];
}

interface Loaded {
	events: Collector;
	badge: Collector;
	caught: Collector;
	storePath: string;
}

async function loadAuto(
	extra: Record<string, unknown> = {},
	httpNodeRoot = '/',
	credentials: Record<string, Record<string, string>> = CREDENTIALS,
): Promise<Loaded> {
	helper.settings({ httpNodeRoot });
	const storePath = newStorePath();
	// Served before the node starts: the sandbox's challenge arrives while the node registers.
	await load(flow(sandbox, storePath, nodes(extra)), credentials, (RED) =>
		server.serve(RED, httpNodeRoot),
	);
	return {
		events: new Collector('events'),
		badge: new Collector('badge'),
		caught: new Collector('caught'),
		storePath,
	};
}

/** What node.error logged for a node (errors in its constructor happen before any Catch node could see them). */
function errorsOf(id: string): string[] {
	return helper
		.log()
		.args.filter(([entry]) => entry.level === 20 && entry.id === id)
		.map(([entry]) => String(entry.msg));
}

async function badge(loaded: Loaded, pattern: RegExp, timeoutMs = 8000): Promise<string> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const texts = loaded.badge.messages.map((m) => String((m.status as { text?: string }).text));
		const found = texts.find((text) => pattern.test(text));
		if (found) return found;
		if (Date.now() > deadline)
			throw new Error(`no badge matching ${pattern}; saw ${JSON.stringify(texts)}`);
		await sleep(25);
	}
}

async function graph(method: 'GET' | 'POST', body?: unknown): Promise<Record<string, unknown>> {
	const query = method === 'GET' ? '?fields=webhook_configuration' : '';
	const response = await fetch(`${sandbox.url}/v25.0/${PHONE_NUMBER_ID}${query}`, {
		method,
		headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return (await response.json()) as Record<string, unknown>;
}

async function override(): Promise<string | undefined> {
	const answer = await graph('GET');
	return (answer.webhook_configuration as { phone_number?: string } | undefined)?.phone_number;
}

/** POSTs to the phone number node (set or clear the override) the sandbox has answered so far. */
async function overrideWrites(): Promise<number> {
	const { data } = await control<{ data: Array<{ method: string; path: string }> }>(
		sandbox,
		`requests?path=${PHONE_NUMBER_ID}`,
	);
	return data.filter((r) => r.method === 'POST' && r.path.endsWith(`/${PHONE_NUMBER_ID}`)).length;
}

beforeAll(async () => {
	await server.start();
	await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
	foreignUrl = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/elsewhere`;
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		webhookTimeoutMs: 2000,
	});
});
afterAll(async () => {
	helper.settings({});
	await sandbox.close();
	await server.close();
	foreign.closeAllConnections();
	await new Promise<void>((resolve) => foreign.close(() => resolve()));
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

describe('whatsapp-webhook-status, Registration: automatic', () => {
	it("sets the number's override to Public URL + httpNodeRoot + path after the sandbox's challenge, and Meta's events arrive there", async () => {
		const loaded = await loadAuto({}, '/red/');
		const expected = `${server.url}/red${PATH}`;
		expect(await badge(loaded, /^registered/)).toContain('registered');
		expect(await override()).toBe(expected);

		// The sandbox routes the number's events through the override: an inbound message reaches the node.
		await control(sandbox, 'inbound', { from: '+447911123456', text: 'Hello via the override' });
		const [msg] = await loaded.events.waitFor(1);
		expect(msg.payload).toMatchObject({
			kind: 'message',
			from: '447911123456',
			text: 'Hello via the override',
		});
		const { data } = await control(sandbox, 'webhooks');
		expect(data.map((attempt) => attempt.url)).toEqual([expected]);
	});

	it('keeps the override across a redeploy that changes nothing for Meta, and sets it again when the verify token changes', async () => {
		const loaded = await loadAuto();
		await badge(loaded, /^registered/);
		const url = `${server.url}${PATH}`;
		expect(await overrideWrites()).toBe(1);

		// Full deploy, the node unchanged: it is closed (not removed) and started again.
		const storePath = loaded.storePath;
		await helper.setFlows(
			flow(sandbox, storePath, [...nodes(), { id: 'extra', type: 'helper' }]),
			'full',
			CREDENTIALS,
		);
		await sleep(300);
		expect(await override()).toBe(url);
		expect(await overrideWrites()).toBe(1);

		// New verify token in the config: Meta must hear about it (one set, never a clear in between).
		await helper.setFlows(flow(sandbox, storePath, nodes()), 'full', {
			cfg: { ...CREDENTIALS.cfg, verifyToken: 'a-new-verify-token' },
		});
		await until('a second override write', async () =>
			(await overrideWrites()) === 2 ? true : undefined,
		);
		const { data } = await control<{ data: Array<{ method: string; path: string }> }>(
			sandbox,
			`requests?path=${PHONE_NUMBER_ID}`,
		);
		expect(data.filter((r) => r.method === 'POST')).toHaveLength(2);
		expect(await override()).toBe(url);
	});

	it('removes the override when the node is deleted by a deploy', async () => {
		const loaded = await loadAuto();
		await badge(loaded, /^registered/);
		expect(await override()).toBe(`${server.url}${PATH}`);
		await helper.setFlows(
			flow(sandbox, loaded.storePath, [{ id: 'other', type: 'helper' }]),
			'full',
			CREDENTIALS,
		);
		await until('the override removed', async () =>
			(await override()) === undefined ? true : undefined,
		);
		// Gone at Meta, and the route with it.
		expect(
			(
				await fetch(
					`${server.url}${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=7`,
				)
			).status,
		).toBe(404);
	});

	it('leaves alone an override someone else set in the meantime', async () => {
		const loaded = await loadAuto();
		await badge(loaded, /^registered/);
		expect(
			await graph('POST', {
				webhook_configuration: { override_callback_uri: foreignUrl, verify_token: 'theirs' },
			}),
		).toEqual({ success: true });
		await helper.setFlows(
			flow(sandbox, loaded.storePath, [{ id: 'other', type: 'helper' }]),
			'full',
			CREDENTIALS,
		);
		await sleep(500);
		expect(await override()).toBe(foreignUrl);
		expect(await overrideWrites()).toBe(2);
	});

	it('switching the node to manual on a redeploy removes its override', async () => {
		const loaded = await loadAuto();
		await badge(loaded, /^registered/);
		await helper.setFlows(
			flow(sandbox, loaded.storePath, nodes({ registration: 'manual' })),
			'full',
			CREDENTIALS,
		);
		await until('the override removed', async () =>
			(await override()) === undefined ? true : undefined,
		);
	});

	it("shows why Meta refused: a Public URL it cannot reach fails the challenge, reported with Meta's code", async () => {
		const closed = await new Promise<string>((resolve) => {
			const probe = http.createServer();
			probe.listen(0, '127.0.0.1', () => {
				const { port } = probe.address() as AddressInfo;
				probe.close(() => resolve(`http://127.0.0.1:${port}`));
			});
		});
		const loaded = await loadAuto({ publicUrl: closed });
		expect(await badge(loaded, /^registration failed/)).toMatch(
			/^registration failed: #2200 challenge failed: Couldn't connect/,
		);
		const [error] = await loaded.caught.waitFor(1);
		expect(String((error.error as { message: string }).message)).toMatch(
			/Callback verification failed/,
		);
		expect(error.whatsappError).toMatchObject({ code: 2200 });
		expect(await override()).toBeUndefined();
	});

	it('fails the registration when the path Meta is given does not reach the node (httpNodeRoot not served there)', async () => {
		// Public URL with a path prefix the server does not have: the challenge gets 404.
		const loaded = await loadAuto({ publicUrl: `${server.url}/not-node-red` });
		expect(await badge(loaded, /^registration failed/)).toBe(
			'registration failed: #2200 challenge failed: HTTP Status Code = 404',
		);
		expect(await override()).toBeUndefined();
	});

	it('refuses a Public URL Meta could not call, before calling Meta', async () => {
		await loadAuto({ publicUrl: 'http://example.com' });
		expect(errorsOf('hook')).toEqual([
			expect.stringMatching(/publicUrl: Public URL must start with https:\/\//),
		]);
		await sleep(100);
		expect(await overrideWrites()).toBe(0);
	});

	it('refuses automatic registration without a verify token in the config', async () => {
		await loadAuto({}, '/', { cfg: { accessToken: TOKEN, appSecret: APP_SECRET } });
		expect(errorsOf('hook')).toEqual([expect.stringMatching(/needs a Webhook Verify Token/)]);
		await sleep(100);
		expect(await overrideWrites()).toBe(0);
	});
});
