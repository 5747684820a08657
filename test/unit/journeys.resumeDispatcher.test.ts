/**
 * The resume dispatcher: a receiver only claims a wait (the resume is stored with the claim); the dispatcher delivers
 * it a few at a time, retries while the host is busy, stops when the wait expires, and a resume whose process died is
 * delivered by another process of the same store. A second delivery resumes nothing (the waiting node ends the wait
 * once). What n8n 2.40.7 answers is from its waiting-webhooks.ts: 409 "is running already" while the execution saves
 * itself as waiting, 409 "has finished with error", and for a finished Send and Wait node a 200 page that resumes
 * nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
	acceptResumeRequest,
	MemoryStateStore,
	ResumeDispatcher,
	resumeWaits,
	SqliteStateStore,
} from '../../core';
import type { IngestedEvent, WaitLink, WaitLinkStore } from '../../core';

const PN = '106540352242922';

function link(i: number, over: Partial<WaitLink> = {}): WaitLink {
	const now = Date.now();
	return {
		phoneNumberId: PN,
		messageId: `wamid.wait${i}`,
		waId: `1650555${String(i).padStart(4, '0')}`,
		executionId: String(1000 + i),
		resumeUrl: `http://n8n.local/webhook-waiting/${1000 + i}/node?signature=x`,
		secret: 'ab'.repeat(32),
		expiresAt: now + 3_600_000,
		spec: JSON.stringify({ buttons: ['Yes', 'No'] }),
		sent: JSON.stringify({ messageId: `wamid.wait${i}` }),
		createdAt: now,
		...over,
	};
}

/** The customer's tap on "Yes" of wait i, as the receiver normalises it. */
function tap(i: number): IngestedEvent {
	return {
		kind: 'message',
		eventId: `message:wamid.in${i}`,
		messageId: `wamid.in${i}`,
		from: link(i).waId,
		type: 'button',
		button: { payload: 'Yes', text: 'Yes' },
		context: { messageId: `wamid.wait${i}` },
		timestamp: new Date().toISOString(),
		timestampUnix: Math.floor(Date.now() / 1000),
		phoneNumberId: PN,
	} as unknown as IngestedEvent;
}

async function waiting(store: WaitLinkStore, n: number): Promise<IngestedEvent[]> {
	for (let i = 0; i < n; i++) await store.putWaitLink(link(i));
	return Array.from({ length: n }, (_, i) => tap(i));
}

/** A waiting node: takes a resume once (as the n8n node and Node-RED do) and counts what it resumed. */
function waitingNode(store: WaitLinkStore) {
	const resumed: string[] = [];
	return {
		resumed,
		post: async (l: WaitLink, body: string, proof: string) => {
			const check = await acceptResumeRequest(body, proof, l.executionId, store);
			if (!check.ok) return check.status;
			resumed.push(l.executionId);
			return 200;
		},
	};
}

describe('ResumeDispatcher', () => {
	it('delivers at most `concurrency` resumes at once, each once', async () => {
		const store = new MemoryStateStore();
		const events = await waiting(store, 20);
		const node = waitingNode(store);
		let inFlight = 0;
		let most = 0;
		const dispatcher = new ResumeDispatcher(
			store,
			{
				post: async (l, body, proof) => {
					most = Math.max(most, ++inFlight);
					await new Promise((r) => setTimeout(r, 5));
					inFlight--;
					return node.post(l, body, proof);
				},
			},
			{ concurrency: 3 },
		);
		const claimed = await resumeWaits(events, store, dispatcher);
		expect(claimed.size).toBe(20);
		await dispatcher.idle();
		expect(most).toBe(3);
		expect(node.resumed.sort()).toEqual(
			Array.from({ length: 20 }, (_, i) => String(1000 + i)).sort(),
		);
		expect(dispatcher.counts).toMatchObject({ delivered: 20, refused: 0 });
	});

	it('retries 0 / 5xx / 409 with growing pauses until the host takes it; a final refusal stops at once', async () => {
		const store = new MemoryStateStore();
		const events = await waiting(store, 2);
		const answers = [0, 503, 409, 200];
		const at: number[] = [];
		const dispatcher = new ResumeDispatcher(
			store,
			{
				post: async (l) => {
					if (l.executionId === '1001') return 403;
					at.push(Date.now());
					return answers.shift()!;
				},
			},
			{ firstRetryMs: 20 },
		);
		await resumeWaits(events, store, dispatcher);
		await dispatcher.idle();
		expect(at).toHaveLength(4);
		const gaps = at.slice(1).map((t, i) => t - at[i]);
		// 20, 40, 80 ms, each within ±25 % jitter (timers fire late, never early).
		expect(gaps[0]).toBeGreaterThanOrEqual(14);
		expect(gaps[1]).toBeGreaterThanOrEqual(29);
		expect(gaps[2]).toBeGreaterThanOrEqual(59);
		expect(dispatcher.counts).toMatchObject({ delivered: 1, retried: 3, refused: 1 });
		// Both ended in the store: nothing is left for a later scan to take.
		expect(
			await store.leaseWaitResumes({ now: Date.now() + 3_000_000, leaseUntil: 0, limit: 9 }),
		).toEqual([]);
	});

	it('stops retrying when the wait expires (the host ends it on No Response)', async () => {
		const store = new MemoryStateStore();
		await store.putWaitLink(link(0, { expiresAt: Date.now() + 150 }));
		let posts = 0;
		const dispatcher = new ResumeDispatcher(
			store,
			{
				post: async () => {
					posts++;
					return 503;
				},
			},
			{ firstRetryMs: 20 },
		);
		expect((await resumeWaits([tap(0)], store, dispatcher)).size).toBe(1);
		await dispatcher.idle();
		expect(dispatcher.counts.expired).toBe(1);
		expect(dispatcher.counts.delivered).toBe(0);
		// 20 + 40 + 80 ms fit before the expiry, the next pause does not.
		expect(posts).toBeGreaterThanOrEqual(2);
		expect(posts).toBeLessThanOrEqual(4);
	});

	describe('across processes (SQLite file, two connections)', () => {
		let dir: string;
		const opened: SqliteStateStore[] = [];
		const open = () => {
			const s = new SqliteStateStore({ path: join(dir, 'state.db') });
			opened.push(s);
			return s;
		};
		beforeEach(() => {
			dir = mkdtempSync(join(tmpdir(), 'resume-dispatcher-'));
		});
		afterEach(async () => {
			for (const s of opened.splice(0)) await s.close();
			rmSync(dir, { recursive: true, force: true });
		});

		it('a resume claimed by a process that died is delivered by another after the lease, once', async () => {
			const a = open();
			const b = open();
			const events = await waiting(a, 3);
			// Process A claims (and acknowledges Meta), then dies before its host took any resume.
			const dying = new ResumeDispatcher(a, { post: () => new Promise<number>(() => undefined) });
			expect((await resumeWaits(events, a, dying)).size).toBe(3);
			dying.stop();

			const node = waitingNode(b);
			let clock = Date.now();
			const other = new ResumeDispatcher(b, node, { now: () => clock });
			// Within A's lease, B leaves them alone.
			expect(await other.scan()).toBe(0);
			clock += other.leaseMs;
			// A third process racing B for them gets none twice.
			const third = new ResumeDispatcher(open(), node, { now: () => clock });
			const taken = (await Promise.all([other.scan(), third.scan()])).reduce((x, y) => x + y);
			expect(taken).toBe(3);
			await Promise.all([other.idle(), third.idle()]);
			expect(node.resumed.sort()).toEqual(['1000', '1001', '1002']);
			expect(await other.scan()).toBe(0);
		});

		it('two deliveries of the same resume resume the execution once', async () => {
			const a = open();
			const b = open();
			const events = await waiting(a, 1);
			const node = waitingNode(a);
			const first = new ResumeDispatcher(a, node);
			await resumeWaits(events, a, first);
			await first.idle();
			// The first delivery was slow: its lease ran out while its POST was still on its way, and B delivers again.
			const stored = (await b.getWaitLink({ phoneNumberId: PN, messageId: 'wamid.wait0' }))!;
			const again = new ResumeDispatcher(b, waitingNode(b));
			again.enqueue({ ...stored, endedAt: undefined, leaseUntil: Date.now() + 600_000 });
			await again.idle();
			expect(node.resumed).toEqual(['1000']);
			expect(again.counts).toMatchObject({ delivered: 0, refused: 1 });
		});
	});
});
