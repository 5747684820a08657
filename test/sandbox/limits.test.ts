import { PairRateLimiter, ThroughputWindow } from '../../sandbox/limits';
import type { Sandbox } from '../../sandbox';
import { CUSTOMER, api, bodyAs, control, errorOf, orderUpdate, send, start } from './helpers';

describe('throughput window (130429 rule)', () => {
	it('admits `mps` messages in any 1-second window and the next one only when the oldest leaves it', () => {
		const window = new ThroughputWindow(3);
		for (const t of [0, 100, 200]) {
			expect(window.allows(t)).toBe(true);
			window.record(t);
		}
		expect(window.allows(999)).toBe(false);
		expect(window.allows(1000)).toBe(true);
		window.record(1000);
		expect(window.allows(1099)).toBe(false);
		expect(window.allows(1100)).toBe(true);
	});

	it('never limits when mps is 0', () => {
		const window = new ThroughputWindow(0);
		for (let i = 0; i < 10_000; i += 1) window.record(0);
		expect(window.allows(0)).toBe(true);
	});
});

describe('pair rate limiter (131056 rule)', () => {
	it('lets a burst through, then one message per interval', () => {
		const limiter = new PairRateLimiter(6000, 3);
		for (let i = 0; i < 3; i += 1) {
			expect(limiter.allows('a', 0)).toBe(true);
			limiter.record('a', 0);
		}
		expect(limiter.allows('a', 0)).toBe(false);
		expect(limiter.waitMs('a', 0)).toBe(6000);
		expect(limiter.allows('b', 0)).toBe(true);
		expect(limiter.allows('a', 5999)).toBe(false);
		expect(limiter.allows('a', 6000)).toBe(true);
	});
});

describe('sandbox limits over HTTP', () => {
	let sandbox: Sandbox;
	afterEach(() => sandbox.close());

	it('rejects exactly the sends above --mps in one second with 130429 (mps 10, 25 concurrent sends)', async () => {
		sandbox = await start({ mps: 10 });
		const recipients = Array.from(
			{ length: 25 },
			(_, i) => `+4477009${String(10000 + i).slice(1)}`,
		);
		const results = await Promise.all(recipients.map((to) => send(sandbox, orderUpdate(to))));
		const accepted = results.filter((r) => r.status === 200);
		const throttled = results.filter((r) => r.status !== 200);
		expect(accepted).toHaveLength(10);
		expect(throttled).toHaveLength(15);
		for (const res of throttled) {
			expect(res.status).toBe(400);
			expect(errorOf(res).code).toBe(130429);
		}
		const logged = bodyAs<{ data: unknown[] }>(
			await control(sandbox, 'GET', 'requests?code=130429'),
		);
		expect(logged.data).toHaveLength(15);
	});

	it('counts throughput per business phone number', async () => {
		sandbox = await start({
			mps: 2,
			extraPhoneNumbers: [{ id: '200000000000002', displayPhoneNumber: '15550002222' }],
		});
		const first = await Promise.all(
			[0, 1, 2].map((i) => send(sandbox, orderUpdate(`+44770090010${i}`))),
		);
		expect(first.map((r) => r.status).sort()).toEqual([200, 200, 400]);
		const other = await api(
			sandbox,
			'POST',
			'/200000000000002/messages',
			orderUpdate('+447700900109'),
		);
		expect(other.status).toBe(200);
	});

	it('answers 131056 when the same recipient is messaged faster than the pair rate, without affecting others', async () => {
		sandbox = await start({ pairRateMs: 6000, pairBurst: 2 });
		const codes: number[] = [];
		for (let i = 0; i < 3; i += 1) {
			const res = await send(sandbox, orderUpdate(CUSTOMER));
			codes.push(res.status === 200 ? 200 : errorOf(res).code);
		}
		expect(codes).toEqual([200, 200, 131056]);
		expect((await send(sandbox, orderUpdate('+447700900999'))).status).toBe(200);
	});

	it('applies Meta pair-rate defaults: a burst of 45, then 131056', async () => {
		sandbox = await start({ pairRateMs: 6000 });
		const statuses: number[] = [];
		for (let i = 0; i < 46; i += 1)
			statuses.push((await send(sandbox, orderUpdate(CUSTOMER))).status);
		expect(statuses.filter((s) => s === 200)).toHaveLength(45);
		expect(statuses[45]).toBe(400);
	});
});
