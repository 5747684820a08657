import { concurrencyLimit } from '../../node-red/lib/limit';

describe('concurrencyLimit', () => {
	it('never runs more than max tasks at once, and runs every task in arrival order', async () => {
		const limit = concurrencyLimit(3);
		let running = 0;
		let peak = 0;
		const started: number[] = [];
		const tasks = Array.from({ length: 20 }, (_, i) =>
			limit(async () => {
				started.push(i);
				running++;
				peak = Math.max(peak, running);
				await new Promise((r) => setTimeout(r, 2 + (i % 4)));
				running--;
				return i;
			}),
		);
		expect(await Promise.all(tasks)).toEqual(Array.from({ length: 20 }, (_, i) => i));
		expect(peak).toBe(3);
		expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
	});

	it('frees the place of a task that failed', async () => {
		const limit = concurrencyLimit(1);
		await expect(limit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
		await expect(limit(async () => 'next')).resolves.toBe('next');
	});
});
