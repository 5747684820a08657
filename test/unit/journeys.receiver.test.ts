/**
 * The webhook receiver of our own (core/journeys/webhookReceiver.ts) over real HTTP on a loopback port: Meta's
 * handshake, signatures (X-Hub-Signature-256 on the raw bytes, https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications),
 * replays older than Meta's retry period, the body limit, concurrent POSTs recorded in one store write, 200 only
 * once that write succeeded, and batches emitted after the window.
 */

import {
	computeSignature,
	listenWebhookReceiver,
	MemoryStateStore,
	receiveIngestOptions,
	WebhookReceiver,
} from '../../core';
import type {
	EventBatchItem,
	EventBatchResult,
	IngestedEvent,
	JourneyStateStore,
	WebhookReceiverOptions,
} from '../../core';
import { statusWebhookBody, type StatusUpdate } from '../../harness/whatsapp';
import { loopbackRequest, type Answer } from '../loopback';

const APP_SECRET = 'app-secret-for-receiver-tests';
const VERIFY_TOKEN = 'verify-token-for-receiver-tests';
const PHONE_NUMBER_ID = '106540352242922';
const PATH = '/webhook/3f1e0c6a-0000-4000-8000-000000000001/whatsapp';

/** One status per POST, as Meta mostly sends them. */
/** The number these tests' webhooks are for. */
const NUMBER = {
	wabaId: '102290129340398',
	displayPhoneNumber: '15550783881',
	phoneNumberId: PHONE_NUMBER_ID,
};

function statusBody(
	message: number,
	status: StatusUpdate['status'] = 'delivered',
	at?: number,
): string {
	return statusWebhookBody(NUMBER, [
		{
			messageId: `wamid.RECEIVER${String(message).padStart(8, '0')}`,
			status,
			recipientId: '4915100000001',
			timestamp: at,
		},
	]);
}

function signedPost(port: number, body: string, path = PATH): Promise<Answer> {
	return loopbackRequest(port, 'POST', path, body, {
		'content-type': 'application/json',
		'x-hub-signature-256': computeSignature(body, APP_SECRET),
	});
}

interface Running {
	port: number;
	receiver: WebhookReceiver;
	batches: IngestedEvent[][];
	stop: () => Promise<void>;
}

let running: Running[] = [];

async function start(overrides: Partial<WebhookReceiverOptions> = {}): Promise<Running> {
	const store = new MemoryStateStore();
	const batches: IngestedEvent[][] = [];
	const receiver = new WebhookReceiver({
		path: PATH,
		credential: async () => ({
			appSecret: APP_SECRET,
			phoneNumberId: PHONE_NUMBER_ID,
			verifyToken: VERIFY_TOKEN,
		}),
		allowUnsigned: false,
		allPhoneNumbers: false,
		includeRaw: false,
		store: async () => store,
		ingest: receiveIngestOptions({ consumer: 'wf:node' }),
		batch: { windowMs: 50, maxItems: 1000 },
		emit: (events) => {
			batches.push(events);
		},
		...overrides,
	});
	// Port 0: the system picks a free one; read it back from a probe listener would race, so listen on a fixed range.
	for (let attempt = 0; ; attempt++) {
		const port = 20000 + Math.floor(Math.random() * 20000);
		try {
			const stop = await listenWebhookReceiver({ host: '127.0.0.1', port }, receiver);
			const r = { port, receiver, batches, stop };
			running.push(r);
			return r;
		} catch (error) {
			if (attempt > 5) throw error;
		}
	}
}

afterEach(async () => {
	await Promise.all(running.map((r) => r.stop()));
	running = [];
});

/** A store whose event writes wait until released, counting them (to see concurrent POSTs share one). */
class GatedStore extends MemoryStateStore {
	writes: number[] = [];
	private gate: Promise<void> = Promise.resolve();
	private open: () => void = () => undefined;
	fail = false;

	hold(): void {
		this.gate = new Promise((r) => (this.open = r));
	}

	release(): void {
		this.open();
	}

	override async applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]> {
		this.writes.push(items.length);
		await this.gate;
		if (this.fail) throw new Error('disk full');
		return super.applyEventBatch(items);
	}
}

describe('WebhookReceiver', () => {
	it("answers Meta's subscription handshake with the challenge, and 403 to a wrong verify token", async () => {
		const { port } = await start();
		const ok = await loopbackRequest(
			port,
			'GET',
			`${PATH}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
		);
		expect(ok).toEqual({ status: 200, text: '1158201444' });
		const wrong = await loopbackRequest(
			port,
			'GET',
			`${PATH}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444`,
		);
		expect(wrong).toEqual({ status: 403, text: 'Forbidden' });
	});

	it('serves only its path: anything else is 404', async () => {
		const { port } = await start();
		expect((await signedPost(port, statusBody(1), '/webhook/other/whatsapp')).status).toBe(404);
	});

	it('records a signed POST, answers 200 and emits its event after the batch window', async () => {
		const { port, batches, receiver } = await start();
		const answer = await signedPost(port, statusBody(1));
		expect(answer).toEqual({ status: 200, text: 'EVENT_RECEIVED' });
		expect(batches).toHaveLength(0);
		await new Promise((r) => setTimeout(r, 120));
		expect(batches).toHaveLength(1);
		expect(batches[0]).toMatchObject([
			{ kind: 'status', status: 'delivered', messageId: 'wamid.RECEIVER00000001' },
		]);
		expect(receiver.counts).toMatchObject({ posts: 1, received: 1, emitted: 1, refused: 0 });
	});

	it('refuses an unsigned POST and a forged one with 401, recording and emitting nothing', async () => {
		const store = new GatedStore();
		const { port, batches } = await start({ store: async () => store });
		const body = statusBody(2);
		const unsigned = await loopbackRequest(port, 'POST', PATH, body, {
			'content-type': 'application/json',
		});
		const forged = await loopbackRequest(port, 'POST', PATH, body, {
			'content-type': 'application/json',
			'x-hub-signature-256': computeSignature(body, 'not-the-app-secret'),
		});
		// Signed for other bytes: the signature covers the exact body.
		const tampered = await loopbackRequest(port, 'POST', PATH, body.replace('delivered', 'read'), {
			'content-type': 'application/json',
			'x-hub-signature-256': computeSignature(body, APP_SECRET),
		});
		expect([unsigned.status, forged.status, tampered.status]).toEqual([401, 401, 401]);
		expect(unsigned.text).not.toContain(APP_SECRET);
		await new Promise((r) => setTimeout(r, 80));
		expect(store.writes).toEqual([]);
		expect(batches).toEqual([]);
	});

	it("acknowledges a replay stamped before Meta's 7-day retry period but neither records nor emits it", async () => {
		const store = new GatedStore();
		const { port, batches, receiver } = await start({ store: async () => store });
		const tenDaysAgo = Math.floor(Date.now() / 1000) - 10 * 24 * 3600;
		expect((await signedPost(port, statusBody(3, 'read', tenDaysAgo))).status).toBe(200);
		await new Promise((r) => setTimeout(r, 80));
		expect(batches).toEqual([]);
		expect(receiver.counts.stale).toBe(1);
	});

	it('refuses a body over the limit with 413 before reading it whole', async () => {
		const { port, receiver } = await start({ maxBodyBytes: 2048 });
		const big = statusBody(4).replace('"statuses"', `"padding":"${'x'.repeat(4096)}","statuses"`);
		const answer = await signedPost(port, big);
		expect([413, -1]).toContain(answer.status);
		expect(receiver.counts.refused).toBe(1);
		expect(receiver.counts.received).toBe(0);
	});

	it('emits a repeated event once', async () => {
		const { port, batches } = await start();
		const body = statusBody(5);
		await signedPost(port, body);
		await signedPost(port, body);
		await new Promise((r) => setTimeout(r, 120));
		expect(batches.flat()).toHaveLength(1);
	});

	it('records POSTs that arrive during a store write together, in one write, and emits them in one batch', async () => {
		const store = new GatedStore();
		const { port, batches, receiver } = await start({ store: async () => store });
		store.hold();
		const first = signedPost(port, statusBody(10));
		while (store.writes.length === 0) await new Promise((r) => setTimeout(r, 5));
		const rest = Array.from({ length: 20 }, (_, i) => signedPost(port, statusBody(11 + i)));
		// Every POST has arrived (and been checked) while the first write is still under way.
		while (receiver.counts.posts < 21) await new Promise((r) => setTimeout(r, 5));
		await new Promise((r) => setTimeout(r, 100));
		store.release();
		const answers = await Promise.all([first, ...rest]);
		expect(answers.every((a) => a.status === 200)).toBe(true);
		// The first POST's write, then one write for the twenty that waited behind it.
		expect(store.writes).toEqual([1, 20]);
		await new Promise((r) => setTimeout(r, 120));
		expect(batches).toHaveLength(1);
		expect(batches[0]).toHaveLength(21);
	});

	it('answers 200 only after the store write, and 500 (Meta delivers again) when it fails', async () => {
		const store = new GatedStore();
		const { port, batches } = await start({ store: async () => store });
		store.hold();
		let answered = false;
		const pending = signedPost(port, statusBody(40)).then((a) => {
			answered = true;
			return a;
		});
		await new Promise((r) => setTimeout(r, 80));
		expect(answered).toBe(false);
		store.release();
		expect((await pending).status).toBe(200);

		store.fail = true;
		const failed = await signedPost(port, statusBody(41));
		expect(failed.status).toBe(500);
		expect(failed.text).not.toContain('disk full');
		await new Promise((r) => setTimeout(r, 120));
		expect(batches.flat().map((e) => ('messageId' in e ? e.messageId : ''))).toEqual([
			'wamid.RECEIVER00000040',
		]);
	});

	it('emits what it acknowledged when closed, before its window ends, and refuses POSTs from then on', async () => {
		const { port, batches, receiver } = await start({
			batch: { windowMs: 10_000, maxItems: 1000 },
		});
		expect((await signedPost(port, statusBody(50))).status).toBe(200);
		expect(batches).toHaveLength(0);
		await receiver.close();
		expect(batches.flat()).toHaveLength(1);
		expect((await signedPost(port, statusBody(51))).status).toBe(503);
	});

	it('splits batches at Max Items per Execution', async () => {
		const { port, batches } = await start({ batch: { windowMs: 10_000, maxItems: 3 } });
		for (let i = 0; i < 7; i++) await signedPost(port, statusBody(60 + i));
		expect(batches.map((b) => b.length)).toEqual([3, 3]);
	});

	it('keeps at most two executions running and gathers what arrives meanwhile into the next batch', async () => {
		let finish: () => void = () => undefined;
		const running = new Promise<void>((r) => (finish = r));
		const sizes: number[] = [];
		const { port } = await start({
			batch: { windowMs: 0, maxItems: 1000 },
			emit: async (events) => {
				sizes.push(events.length);
				await running;
			},
		});
		for (let i = 0; i < 6; i++)
			expect((await signedPost(port, statusBody(70 + i))).status).toBe(200);
		expect(sizes).toEqual([1, 1]);
		finish();
		await new Promise((r) => setTimeout(r, 50));
		expect(sizes).toEqual([1, 1, 4]);
	});

	it('refuses a second receiver on the same port and path', async () => {
		const { port } = await start();
		const other = new WebhookReceiver({
			...({} as WebhookReceiverOptions),
			path: PATH,
			credential: async () => ({ phoneNumberId: PHONE_NUMBER_ID, verifyToken: '' }),
			allowUnsigned: false,
			allPhoneNumbers: false,
			includeRaw: false,
			store: async () => new MemoryStateStore() as JourneyStateStore,
			ingest: receiveIngestOptions({}),
			batch: { windowMs: 0, maxItems: 1 },
			emit: () => undefined,
		});
		await expect(listenWebhookReceiver({ host: '127.0.0.1', port }, other)).rejects.toThrow(
			/already serves/,
		);
	});
});
