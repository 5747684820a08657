/**
 * The in-flight window shared through Redis (key kind i): several workers sending for one number stay within its
 * limit together. Real Redis at 127.0.0.1:6379, one unique key prefix per run (removed afterwards).
 */
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { CLOCK_GUARD_MS, SendPacer } from '../../core';
import { RedisStateStore } from '../../core/state';

const CONNECTION = { host: '127.0.0.1', port: 6379 };
const PREFIX = `wjtest:pacer:${process.pid}:${randomBytes(4).toString('hex')}:`;
const stores: RedisStateStore[] = [];
let admin: Redis;

function worker(): RedisStateStore {
	const store = new RedisStateStore({ redis: CONNECTION, keyPrefix: PREFIX });
	stores.push(store);
	return store;
}

beforeAll(() => {
	admin = new Redis(CONNECTION);
});

afterAll(async () => {
	for (const store of stores) await store.close();
	const keys = await admin.keys(`${PREFIX}*`);
	if (keys.length) await admin.del(...keys);
	await admin.quit();
});

describe('RedisStateStore shared send window', () => {
	it('admits up to the limit, blocks on unanswered sends, then says when an answered one stops counting', async () => {
		const store = worker();
		const key = 'tput:window-basics';
		const enter = (token: string) =>
			store.enterSendWindow({ key, token, limit: 2, leaseMs: 60_000 });
		expect(await enter('a')).toEqual({ entered: true });
		expect(await enter('b')).toEqual({ entered: true });
		// Both unanswered: nobody knows when they leave, so ask again soon.
		expect(await enter('c')).toEqual({ entered: false, retryInMs: -1 });
		await store.leaveSendWindow({ key, token: 'a', holdMs: 1000 + CLOCK_GUARD_MS });
		const verdict = await enter('c');
		expect(verdict.entered).toBe(false);
		const wait = (verdict as { retryInMs: number }).retryInMs;
		expect(wait).toBeGreaterThan(900);
		expect(wait).toBeLessThanOrEqual(1000 + CLOCK_GUARD_MS);
		// A release for a token no longer there (its lease lapsed) does not put it back.
		await store.leaveSendWindow({ key, token: 'gone', holdMs: 1000 });
		expect(await admin.zscore(`${PREFIX}i:${key}`, 'gone')).toBeNull();
	});

	it('refuses limits, leases and holds that make no sense, naming the field', async () => {
		const store = worker();
		await expect(
			store.enterSendWindow({ key: 'tput:x', token: 't', limit: 0, leaseMs: 60_000 }),
		).rejects.toThrow(/limit/);
		await expect(
			store.enterSendWindow({ key: 'tput:x', token: 't', limit: 5, leaseMs: 10 }),
		).rejects.toThrow(/leaseMs/);
		await expect(store.leaveSendWindow({ key: 'tput:x', token: 't', holdMs: 10 })).rejects.toThrow(
			/holdMs/,
		);
	});

	it('keeps two workers sending for one number within its limit in every second, wherever Meta counts', async () => {
		// Two workers (two connections), 20 msg/s, 60 sends; each request takes 0–60 ms and is counted by "Meta" at a
		// random point between leaving and its answer.
		const limit = 20;
		const counted: number[] = [];
		let seed = 11;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
		const send = async (pacer: SendPacer, i: number) => {
			const done = await pacer.acquire(`r${i}`);
			const left = Date.now();
			await new Promise((r) => setTimeout(r, random() * 60));
			counted.push(left + random() * (Date.now() - left));
			done();
		};
		const pacers = [worker(), worker()].map(
			(slots) =>
				new SendPacer('shared-number', { messagesPerSecond: limit, pairIntervalMs: 0, slots }),
		);
		await Promise.all(Array.from({ length: 60 }, (_, i) => send(pacers[i % 2], i)));
		counted.sort((a, b) => a - b);
		const busiest = Math.max(
			...counted.map((t) => counted.filter((u) => u >= t && u < t + 1000).length),
		);
		expect(counted).toHaveLength(60);
		expect(busiest).toBeLessThanOrEqual(limit);
		// Both workers paced on the shared window, with slots at the full limit (no 9 % jitter margin).
		expect(pacers[0].intervalMs).toBe(1000 / limit);
	});
});
