import { TtlCache } from '../../core';

function counter() {
	let loads = 0;
	return {
		load: async () => ++loads,
		get loads() {
			return loads;
		},
	};
}

describe('TtlCache', () => {
	it('reuses a value for its time and loads again once the time is up', async () => {
		let clock = 0;
		const cache = new TtlCache<number>(1000, { now: () => clock });
		const { load } = counter();
		expect(await cache.get('a', load)).toBe(1);
		clock = 999;
		expect(await cache.get('a', load)).toBe(1);
		expect(cache.age('a')).toBe(999);
		clock = 1000;
		expect(cache.peek('a')).toBeUndefined();
		expect(await cache.get('a', load)).toBe(2);
	});

	it('shares one load between callers that ask while it runs, even a fresh read', async () => {
		const cache = new TtlCache<number>(1000);
		let release: (n: number) => void = () => undefined;
		let loads = 0;
		const load = () => {
			loads++;
			return new Promise<number>((resolve) => (release = resolve));
		};
		const first = cache.get('a', load);
		const second = cache.get('a', load, { fresh: true });
		release(7);
		expect(await Promise.all([first, second])).toEqual([7, 7]);
		expect(loads).toBe(1);
		// Once settled, a fresh read loads again.
		const third = cache.get('a', load, { fresh: true });
		release(8);
		expect(await third).toBe(8);
		expect(loads).toBe(2);
	});

	it('forgets a failed load, so the next caller tries again', async () => {
		const cache = new TtlCache<number>(60_000);
		await expect(cache.get('a', () => Promise.reject(new Error('Graph down')))).rejects.toThrow(
			'Graph down',
		);
		expect(cache.peek('a')).toBeUndefined();
		expect(await cache.get('a', async () => 5)).toBe(5);
	});

	it('returns a value keep refuses once, then loads again', async () => {
		const cache = new TtlCache<number>(60_000);
		const { load } = counter();
		const keep = (n: number) => n % 2 === 0;
		expect(await cache.get('a', load, { keep })).toBe(1); // odd: not kept
		expect(await cache.get('a', load, { keep })).toBe(2); // even: kept
		expect(await cache.get('a', load, { keep })).toBe(2);
	});

	it('keeps at most maxEntries, forgetting the oldest loaded first', async () => {
		const cache = new TtlCache<string>(60_000, { maxEntries: 2 });
		for (const key of ['a', 'b', 'c']) await cache.get(key, async () => key);
		expect(cache.peek('a')).toBeUndefined();
		expect(await cache.peek('b')).toBe('b');
		expect(await cache.peek('c')).toBe('c');
	});

	it('holds a value with an infinite time until it is deleted', async () => {
		let clock = 0;
		const cache = new TtlCache<number>(Infinity, { now: () => clock });
		const { load } = counter();
		await cache.get('store', load);
		clock = Number.MAX_SAFE_INTEGER;
		expect(await cache.get('store', load)).toBe(1);
		cache.delete('store');
		expect(await cache.get('store', load)).toBe(2);
	});
});
