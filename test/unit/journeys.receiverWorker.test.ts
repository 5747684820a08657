/**
 * The receiver in its worker thread (core/journeys/receiverWorker.ts, entry nodes/WhatsAppWebhookReceiver/
 * receiverWorker.ts) over real HTTP on a loopback port and a real SQLite file: the host's thread gets ready batches,
 * answers when their execution finished, and the worker stops cleanly. Signatures as Meta sends them
 * (X-Hub-Signature-256 on the raw bytes, https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
	computeSignature,
	receiverWorkerEntry,
	sharedStateStore,
	startReceiverWorker,
} from '../../core';
import type {
	IngestedEvent,
	ReceiverWorkerConfig,
	ReceiverWorkerHooks,
	WaitLink,
} from '../../core';
import { statusWebhookBody, type StatusUpdate } from '../../harness/whatsapp';
import { loopbackRequest } from '../loopback';

const APP_SECRET = 'app-secret-for-worker-tests';
const ROTATED_SECRET = 'rotated-app-secret-for-worker-tests';
const VERIFY_TOKEN = 'verify-token-for-worker-tests';
const PHONE_NUMBER_ID = '106540352242922';
const PATH = '/webhook/3f1e0c6a-0000-4000-8000-000000000002/whatsapp';
const ENTRY = receiverWorkerEntry(
	join(__dirname, '..', '..', 'nodes', 'WhatsAppWebhookReceiver'),
	'receiverWorker',
);

// The worker compiles core with ts-node on its first start.
jest.setTimeout(60_000);

/** The number these tests' webhooks are for. */
const NUMBER = {
	wabaId: '102290129340398',
	displayPhoneNumber: '15550783881',
	phoneNumberId: PHONE_NUMBER_ID,
};

function statusBody(message: number, status: StatusUpdate['status'] = 'delivered'): string {
	return statusWebhookBody(NUMBER, [
		{
			messageId: `wamid.WORKER${String(message).padStart(8, '0')}`,
			status,
			recipientId: '4915100000001',
		},
	]);
}

/** The status event's message id (every event these tests post is one). */
function messageIdOf(event: IngestedEvent): string | undefined {
	return event.kind === 'status' ? event.messageId : undefined;
}

function signedPost(port: number, body: string, secret = APP_SECRET, path = PATH) {
	return loopbackRequest(port, 'POST', path, body, {
		'content-type': 'application/json',
		'x-hub-signature-256': computeSignature(body, secret),
	});
}

let dir: string;
let stops: Array<() => Promise<void>> = [];

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), 'receiver-worker-'));
});

afterEach(async () => {
	await Promise.all(stops.map((stop) => stop()));
	stops = [];
	rmSync(dir, { recursive: true, force: true });
});

interface Started {
	port: number;
	batches: IngestedEvent[][];
	logs: string[];
	stop: () => Promise<void>;
}

/** On a random port (another on this machine may hold it: then another), or on `port`. */
async function start(
	config: Partial<ReceiverWorkerConfig> = {},
	hooks: Partial<ReceiverWorkerHooks> = {},
	port?: number,
): Promise<Started> {
	for (let attempt = 0; ; attempt++) {
		try {
			return await startOn(config, hooks, port ?? 20000 + Math.floor(Math.random() * 20000));
		} catch (error) {
			if (port !== undefined || attempt > 5 || !/EADDRINUSE/.test(String(error))) throw error;
		}
	}
}

async function startOn(
	config: Partial<ReceiverWorkerConfig>,
	hooks: Partial<ReceiverWorkerHooks>,
	port: number,
): Promise<Started> {
	const batches: IngestedEvent[][] = [];
	const logs: string[] = [];
	const stop = await startReceiverWorker(
		ENTRY,
		{
			address: { host: '127.0.0.1', port },
			path: PATH,
			credential: {
				appSecret: APP_SECRET,
				phoneNumberId: PHONE_NUMBER_ID,
				verifyToken: VERIFY_TOKEN,
			},
			allowUnsigned: false,
			allPhoneNumbers: false,
			includeRaw: false,
			store: { backend: 'embedded', path: join(dir, 'store.sqlite') },
			settings: { consumer: 'wf:worker' },
			resume: false,
			batch: { windowMs: 50, maxItems: 1000 },
			...config,
		},
		{
			emit: async (events) => {
				batches.push(events);
			},
			credential: async () => ({
				appSecret: APP_SECRET,
				phoneNumberId: PHONE_NUMBER_ID,
				verifyToken: VERIFY_TOKEN,
			}),
			log: (message, error) => logs.push(`${message} ${error ?? ''}`),
			...hooks,
		},
	);
	stops.push(stop);
	return { port, batches, logs, stop };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
	const end = Date.now() + ms;
	while (!check()) {
		if (Date.now() > end) throw new Error('timed out');
		await new Promise((r) => setTimeout(r, 10));
	}
}

describe('the receiver in a worker thread', () => {
	it("answers Meta's handshake, records a signed POST and hands its event to the host's thread as a batch", async () => {
		const r = await start();
		const handshake = await loopbackRequest(
			r.port,
			'GET',
			`${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=4711`,
		);
		expect(handshake).toEqual({ status: 200, text: '4711' });
		expect((await signedPost(r.port, statusBody(1))).status).toBe(200);
		await until(() => r.batches.length === 1);
		expect(r.batches[0]).toEqual([
			expect.objectContaining({
				kind: 'status',
				status: 'delivered',
				messageId: 'wamid.WORKER00000001',
			}),
		]);
		// Recorded in the store: Meta's retry of it is acknowledged and emitted no more.
		expect((await signedPost(r.port, statusBody(1))).status).toBe(200);
		await new Promise((res) => setTimeout(res, 150));
		expect(r.batches.flat()).toHaveLength(1);
	});

	it('refuses a forged signature and a body that is not JSON, and goes on recording good POSTs', async () => {
		const r = await start();
		expect((await signedPost(r.port, statusBody(2), 'not-the-secret')).status).toBe(401);
		const garbage = '{"object": "whatsapp_business_account", "entry": [';
		expect((await signedPost(r.port, garbage)).status).toBe(400);
		expect((await signedPost(r.port, '{"entry": 42}')).status).toBe(400);
		expect((await signedPost(r.port, statusBody(3))).status).toBe(200);
		await until(() => r.batches.flat().length === 1);
		expect(messageIdOf(r.batches.flat()[0])).toBe('wamid.WORKER00000003');
	});

	it("asks the host's thread for the credential again before refusing a signature (a rotated app secret)", async () => {
		let secret = APP_SECRET;
		const r = await start(
			{},
			{
				credential: async () => ({
					appSecret: secret,
					phoneNumberId: PHONE_NUMBER_ID,
					verifyToken: VERIFY_TOKEN,
				}),
			},
		);
		secret = ROTATED_SECRET;
		expect((await signedPost(r.port, statusBody(4), ROTATED_SECRET)).status).toBe(200);
		await until(() => r.batches.flat().length === 1);
	});

	it('keeps at most two executions running: the next batch waits for the host to finish one', async () => {
		let finish: () => void = () => undefined;
		const running = new Promise<void>((res) => (finish = res));
		const sizes: number[] = [];
		const r = await start(
			{ batch: { windowMs: 0, maxItems: 1000 } },
			{
				emit: async (events) => {
					sizes.push(events.length);
					await running;
				},
			},
		);
		for (let i = 0; i < 5; i++)
			expect((await signedPost(r.port, statusBody(10 + i))).status).toBe(200);
		await new Promise((res) => setTimeout(res, 100));
		expect(sizes).toEqual([1, 1]);
		finish();
		await until(() => sizes.length === 3);
		expect(sizes).toEqual([1, 1, 3]);
	});

	it('emits what it acknowledged when stopped, before its window ends, then closes the port', async () => {
		const r = await start({ batch: { windowMs: 60_000, maxItems: 1000 } });
		expect((await signedPost(r.port, statusBody(20))).status).toBe(200);
		expect(r.batches).toEqual([]);
		await r.stop();
		expect(r.batches.flat().map(messageIdOf)).toEqual(['wamid.WORKER00000020']);
		await expect(signedPost(r.port, statusBody(21))).rejects.toThrow(/ECONNREFUSED/);
	});

	it('serves two paths on one port from the one worker, and refuses a second receiver on a served path', async () => {
		const a = await start();
		const other = `${PATH}-2`;
		const b = await start({ path: other }, {}, a.port);
		expect((await signedPost(a.port, statusBody(30), APP_SECRET, other)).status).toBe(200);
		await until(() => b.batches.flat().length === 1);
		expect(a.batches).toEqual([]);
		await expect(start({}, {}, a.port)).rejects.toThrow(/already serves/);
		// The first still serves after the refusal.
		expect((await signedPost(a.port, statusBody(31))).status).toBe(200);
		await until(() => a.batches.flat().length === 1);
	});

	it("ends a Send and Wait from the worker: the claim is made there, the resume is posted by the host's thread", async () => {
		const storePath = join(dir, 'store.sqlite');
		const link: WaitLink = {
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: 'wamid.WORKER00000050',
			waId: '4915100000001',
			executionId: '42',
			resumeUrl: 'http://localhost:5678/webhook-waiting/42/node-1?signature=abc',
			secret: 'ab'.repeat(32),
			expiresAt: Date.now() + 3_600_000,
			spec: JSON.stringify({ buttons: ['Confirm'], status: 'delivered' }),
			sent: JSON.stringify({ messageId: 'wamid.WORKER00000050' }),
			createdAt: Date.now(),
		};
		// Written by the host's own connection to the file, as Send and Wait does in an execution.
		await (await sharedStateStore({ backend: 'embedded', path: storePath })).putWaitLink(link);
		const posts: Array<{ executionId: string; body: string; proof: string }> = [];
		const r = await start(
			{ resume: true },
			{
				resume: {
					post: async (l, body, proof) => {
						posts.push({ executionId: l.executionId, body, proof });
						return 200;
					},
				},
			},
		);
		expect((await signedPost(r.port, statusBody(50))).status).toBe(200);
		await until(() => posts.length === 1 && r.batches.length === 1);
		expect(posts[0].executionId).toBe('42');
		expect(posts[0].proof).toMatch(/^[0-9a-f]{64}$/);
		expect(r.batches[0][0].resumedExecutionId).toBe('42');
	});

	it('answers 500 when the store cannot be written, and its log holds no secret, signature or body', async () => {
		const r = await start({
			store: { backend: 'embedded', path: join(dir, 'missing', 'folder', 'store.sqlite') },
		});
		const body = statusBody(40);
		expect((await signedPost(r.port, body)).status).toBe(500);
		await until(() => r.logs.length > 0);
		const log = r.logs.join('\n');
		expect(log).toMatch(/store write failed/);
		expect(log).not.toContain(APP_SECRET);
		expect(log).not.toContain(computeSignature(body, APP_SECRET).slice(7));
		expect(log).not.toContain('wamid.WORKER00000040');
	});
});
