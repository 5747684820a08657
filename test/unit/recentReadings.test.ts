import { RecentReadings } from '../../nodes/shared/credentials';

describe('RecentReadings', () => {
	it('reuses a reading for its time, reads again when asked fresh, after the time, after a failure, or when keep refuses', async () => {
		jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
		try {
			let reads = 0;
			const read = async () => ({ n: ++reads, secret: reads !== 4 });
			const readings = new RecentReadings<{ n: number; secret: boolean }>(30_000);
			const keep = (v: { secret: boolean }) => v.secret;
			expect((await readings.get('a', read, { keep })).n).toBe(1);
			expect((await readings.get('a', read, { keep })).n).toBe(1); // reused
			expect((await readings.get('b', read, { keep })).n).toBe(2); // another key
			expect((await readings.get('a', read, { keep, fresh: true })).n).toBe(3);
			jest.advanceTimersByTime(30_000);
			expect((await readings.get('a', read, { keep })).n).toBe(4); // expired; this reading has no secret...
			expect((await readings.get('a', read, { keep })).n).toBe(5); // ...so it was not kept
			await expect(
				readings.get('c', () => Promise.reject(new Error('no credential'))),
			).rejects.toThrow('no credential');
			expect((await readings.get('c', read)).n).toBe(6); // a failure is not kept either
		} finally {
			jest.useRealTimers();
		}
	});
});
