import {
	CLOCK_GUARD_MS,
	InFlightWindow,
	LOCAL_SLOT_WINDOW_MS,
	LocalSlotStore,
	MAX_THROTTLE_MARGIN,
	SLOT_WINDOW_MS,
	SendPacer,
	THROTTLE_RECOVERY_SENDS,
	THROTTLE_STEP,
	backoffMs,
} from '../../core';
import { CloudApiClient, sendBatch } from '../../core';
import type { HttpResponse, SlotReserver, Transport } from '../../core';

/**
 * A fake clock for many concurrent senders: their sleeps wait until the test moves the clock, which it does to the
 * earliest pending wake-up each time the promise queue has drained, so timing follows the code, not the machine.
 */
class FakeClock {
	private at = 0;
	private readonly timers: Array<{ at: number; fire: () => void }> = [];
	readonly now = (): number => this.at;
	readonly sleep = (ms: number): Promise<void> =>
		new Promise<void>((resolve) =>
			this.timers.push({ at: this.at + Math.max(0, ms), fire: resolve }),
		);
	/** Fires the sleeps in time order until `work` settles (at most 100,000 steps). */
	async runUntil<T>(work: Promise<T>): Promise<T> {
		let finished = false;
		void work.then(
			() => (finished = true),
			() => (finished = true),
		);
		for (let guard = 0; !finished && guard < 100_000; guard++) {
			await new Promise((r) => setImmediate(r));
			if (finished) break;
			this.timers.sort((x, y) => x.at - y.at);
			const next = this.timers.shift();
			if (next) {
				this.at = Math.max(this.at, next.at);
				next.fire();
			}
		}
		return work;
	}
}

/** A slot store shared with other processes (as Redis is): slots only, no in-flight window. */
function sharedSlots(): SlotReserver {
	const local = new LocalSlotStore();
	return { reserveSendSlot: (p) => local.reserveSendSlot(p) };
}

describe('SendPacer', () => {
	it('spaces sends for one phone number (1000 + tolerance)/mps ms apart across processes, however many callers race', async () => {
		let now = 1_000_000;
		const waits: number[] = [];
		const pacer = new SendPacer('123', {
			messagesPerSecond: 80,
			pairIntervalMs: 0,
			slots: sharedSlots(),
			now: () => now,
			sleep: async (ms) => void waits.push(ms),
		});
		await Promise.all(Array.from({ length: 160 }, (_, i) => pacer.acquire(`4479111234${i}`)));
		// 160 sends at 80/s: slots (1000 + tolerance)/80 ms apart, so no 1-second window holds more than 80.
		const interval = SLOT_WINDOW_MS / 80;
		expect(waits).toHaveLength(159);
		expect(Math.max(...waits)).toBeCloseTo(159 * interval, 5);
		const sorted = [...waits].sort((a, b) => a - b);
		for (let i = 1; i < sorted.length; i++)
			expect(sorted[i] - sorted[i - 1]).toBeCloseTo(interval, 5);
		now += 10_000;
	});

	it('shares the budget between two pacers of the same number on one slot store (two executions)', async () => {
		const slots = new LocalSlotStore();
		const now = () => 5_000;
		const waits: number[] = [];
		const make = () =>
			new SendPacer('555', {
				messagesPerSecond: 10,
				pairIntervalMs: 0,
				slots: { reserveSendSlot: (p) => slots.reserveSendSlot(p) },
				now,
				sleep: async (ms) => void waits.push(ms),
			});
		const a = make();
		const b = make();
		await Promise.all([a.acquire('1'), b.acquire('2'), a.acquire('3'), b.acquire('4')]);
		const i10 = SLOT_WINDOW_MS / 10;
		expect(waits.sort((x, y) => x - y)).toEqual([i10, 2 * i10, 3 * i10]);
	});

	it('keeps two messages to the same recipient a pair interval apart', async () => {
		const waits: number[] = [];
		const pacer = new SendPacer('1', {
			messagesPerSecond: 1000,
			pairIntervalMs: 6000,
			slots: new LocalSlotStore(),
			now: () => 0,
			sleep: async (ms) => void waits.push(ms),
		});
		await pacer.acquire('447911123456');
		await pacer.acquire('447911123456');
		await pacer.acquire('447911123457');
		expect(waits).toEqual([6000, 2 * (LOCAL_SLOT_WINDOW_MS / 1000)]);
	});

	it('never lets senders woken late by a stalled event loop go out as a burst', async () => {
		const pacer = new SendPacer('9', {
			messagesPerSecond: 40,
			pairIntervalMs: 0,
			slots: new LocalSlotStore(),
		});
		const sent: number[] = [];
		const senders = Array.from({ length: 70 }, (_, i) =>
			pacer.acquire(String(i)).then((answered) => {
				sent.push(Date.now());
				answered();
			}),
		);
		// Block the event loop for 400 ms a quarter second in, as a busy n8n worker would.
		await new Promise((r) => setTimeout(r, 250));
		const until = Date.now() + 400;
		while (Date.now() < until) {
			// busy
		}
		await Promise.all(senders);
		sent.sort((a, b) => a - b);
		const worst = Math.max(...sent.map((t) => sent.filter((u) => u > t - 1000 && u <= t).length));
		expect(worst).toBeLessThanOrEqual(40);
	});

	it("refuses a throughput outside Meta's levels", () => {
		expect(() => new SendPacer('1', { messagesPerSecond: -1, pairIntervalMs: 0 })).toThrow(
			/between 0 \(no pacing\) and 1000/,
		);
		expect(() => new SendPacer('1', { messagesPerSecond: 1001, pairIntervalMs: 0 })).toThrow(
			/between 0 \(no pacing\) and 1000/,
		);
	});

	it("a sender that wakes late takes a new throughput slot but keeps its recipient's pair slot", async () => {
		let clock = 1_000;
		let late = 50; // the first sleep overruns by 50 ms (a busy event loop), later ones are on time
		const pacer = new SendPacer('late', {
			messagesPerSecond: 10,
			pairIntervalMs: 6000,
			slots: sharedSlots(), // no in-flight window: slots alone keep the limit
			now: () => clock,
			sleep: async (ms) => {
				clock += ms + late;
				late = 0;
			},
		});
		(await pacer.acquire('a'))(); // first slot, no wait
		(await pacer.acquire('b'))(); // waits one slot, wakes 50 ms late, re-reserves
		// One more throughput slot, not b's next pair slot 6 s later.
		expect(clock).toBeLessThan(1_000 + 3 * pacer.intervalMs);
	});

	it('with throughput pacing off (0), still spaces messages to the same recipient', async () => {
		let clock = 1_000;
		const waits: number[] = [];
		const pacer = new SendPacer('unpaced', {
			messagesPerSecond: 0,
			pairIntervalMs: 6000,
			slots: new LocalSlotStore(),
			now: () => clock,
			sleep: async (ms) => {
				waits.push(ms);
				clock += ms;
			},
		});
		for (const waId of ['a', 'b', 'c', 'd']) await pacer.acquire(waId);
		expect(waits).toEqual([]); // distinct recipients leave at once: no throughput slots
		await pacer.acquire('a');
		expect(waits).toEqual([6000]); // the same recipient waits its pair interval
	});
});

describe('SendPacer in one process (in-flight window)', () => {
	it('spaces slots at exactly the limit, 1000/mps ms apart', () => {
		const pacer = new SendPacer('1', {
			messagesPerSecond: 80,
			pairIntervalMs: 0,
			slots: new LocalSlotStore(),
		});
		expect(pacer.intervalMs).toBe(1000 / 80);
	});

	it('lets a send leave only when fewer than mps sends were answered within the last second or are unanswered', async () => {
		let clock = 0;
		const window = new InFlightWindow(1000);
		const now = () => clock;
		const sleep = async (ms: number) => void (clock += ms);
		const answers = [];
		for (let i = 0; i < 3; i++) answers.push(await window.enter(3, now, sleep));
		// A fourth waits for an answer: none has come.
		let fourthIn = false;
		const fourth = window.enter(3, now, sleep).then((done) => {
			fourthIn = true;
			return done;
		});
		await Promise.resolve();
		expect(fourthIn).toBe(false);
		clock = 40;
		answers[0](); // answered at 40 ms: it counts until 1,040 ms
		await fourth;
		expect(clock).toBe(1040);
		expect(window.count(clock)).toBe(3);
	});

	it('never puts more than mps acceptances into any second at Meta, wherever between request and answer Meta counts', async () => {
		// Meta counts a request at some moment between its leaving and its answer; nothing says where. Simulate random
		// round trips (0–160 ms, with 300 ms spikes) and a random counting point anywhere in each, at 25 msg/s for 75
		// sends, on a fake clock; the busiest second at "Meta" must hold at most 25.
		const fake = new FakeClock();
		const sleep = fake.sleep;
		const pacer = new SendPacer('jitter', {
			messagesPerSecond: 25,
			pairIntervalMs: 0,
			slots: new LocalSlotStore(),
			now: fake.now,
			sleep,
		});
		let seed = 7;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
		const counted: number[] = [];
		const all = Promise.all(
			Array.from({ length: 75 }, async (_, i) => {
				const done = await pacer.acquire(String(i));
				const left = fake.now();
				const latency = i % 17 === 0 ? 300 : random() * 160;
				await sleep(latency);
				counted.push(left + random() * (fake.now() - left));
				done();
			}),
		);
		await fake.runUntil(all);
		expect(counted).toHaveLength(75);
		counted.sort((x, y) => x - y);
		const busiest = Math.max(
			...counted.map((t) => counted.filter((u) => u >= t && u < t + 1000).length),
		);
		expect(busiest).toBeLessThanOrEqual(25);
		// And the window costs only the round trips: 75 sends at 25/s take 2 s plus about three of them (~100 ms on
		// average, 300 ms spikes), not a second more.
		expect(fake.now()).toBeLessThan(3500);
	});

	it('counts an answered send for a second plus the clock guard after its answer, however fast the round trip', async () => {
		let clock = 0;
		const window = new InFlightWindow();
		const now = () => clock;
		const sleep = async (ms: number) => void (clock += ms);
		const done = await window.enter(1, now, sleep);
		clock += 3; // a 3 ms round trip earns no credit: Meta may have counted it just before answering
		const answeredAt = clock;
		done();
		expect(window.count(answeredAt + 1000 + CLOCK_GUARD_MS - 1)).toBe(1);
		// The next send of a 1-per-second number leaves exactly when it stops counting.
		await window.enter(1, now, sleep);
		expect(clock).toBe(answeredAt + 1000 + CLOCK_GUARD_MS);
		expect(window.count(clock)).toBe(1);
	});

	it('lets waiting senders in first come first served, one sleep per place that frees, never above the limit', async () => {
		// 60 senders for a 5-per-second window with random round trips: each place that frees wakes one watcher, not all
		// of them (at 1,000 msg/s, a hundred waiters woken per send took the CPU the sends needed).
		const fake = new FakeClock();
		const clock = fake.now;
		let sleeps = 0;
		const sleep = (ms: number) => {
			sleeps++;
			return fake.sleep(ms);
		};
		const window = new InFlightWindow();
		let seed = 11;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
		const order: number[] = [];
		let inWindowMax = 0;
		const senders = Array.from({ length: 60 }, async (_, i) => {
			const done = await window.enter(5, clock, sleep);
			order.push(i);
			inWindowMax = Math.max(inWindowMax, window.count(clock()));
			await sleep(random() * 80);
			done();
		});
		await fake.runUntil(Promise.all(senders));
		expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i));
		expect(inWindowMax).toBeLessThanOrEqual(5);
		// 60 round trips, plus one window sleep per sender that had to wait (55): no sleep per waiter per place.
		expect(sleeps).toBeLessThanOrEqual(60 + 55);
		// 60 sends at 5 per (1 s + round trip) take about 12 s.
		expect(clock()).toBeGreaterThanOrEqual(11 * 1000);
		expect(clock()).toBeLessThan(11 * 1080 + 1000);
	});

	it('a cancelled wait fails only its own sender', async () => {
		let clock = 0;
		const window = new InFlightWindow();
		const noSleep = async () => undefined;
		const answered = await window.enter(1, () => clock, noSleep);
		answered(); // at 0: it counts until 1,002
		const cancelled = window.enter(
			1,
			() => clock,
			() => Promise.reject(new Error('stopped')),
		);
		const next = window.enter(
			1,
			() => clock,
			async (ms) => void (clock += ms),
		);
		await expect(cancelled).rejects.toThrow('stopped');
		await next;
		expect(clock).toBe(1000 + CLOCK_GUARD_MS);
	});

	it('lets a sender woken late by a busy event loop keep its slot: the window, not the slot, bounds each second', async () => {
		let clock = 1_000;
		let late = 50;
		const local = new LocalSlotStore();
		let reservations = 0;
		const pacer = new SendPacer('late-window', {
			messagesPerSecond: 10,
			pairIntervalMs: 0,
			slots: {
				reserveSendSlot: (p) => (reservations++, local.reserveSendSlot(p)),
				inFlightWindow: (key) => local.inFlightWindow(key),
			},
			now: () => clock,
			sleep: async (ms) => {
				clock += ms + late;
				late = 0;
			},
		});
		(await pacer.acquire('a'))();
		(await pacer.acquire('b'))(); // its slot is at 1,100; it wakes at 1,150 and goes
		expect(clock).toBe(1_150);
		expect(reservations).toBe(2);
	});
});

describe('SendPacer learning from 130429', () => {
	function setup() {
		let clock = 10_000;
		const slots = new LocalSlotStore();
		const make = () =>
			new SendPacer('throttled', {
				messagesPerSecond: 100,
				pairIntervalMs: 0,
				slots,
				now: () => clock,
				sleep: async (ms) => void (clock += ms),
			});
		return { make, tick: (ms: number) => void (clock += ms) };
	}

	it('lowers the limit and widens the spacing by one step, for every pacer of the number', async () => {
		const { make } = setup();
		const a = make();
		const before = a.intervalMs;
		expect(a.windowLimit).toBe(100);
		(await a.acquire('1'))({ throttled: true });
		expect(a.throttleMargin).toBeCloseTo(THROTTLE_STEP, 10);
		const b = make(); // another execution sending for the same number
		expect(b.intervalMs).toBeCloseTo(before * (1 + THROTTLE_STEP), 10);
		expect(b.windowLimit).toBe(Math.floor(100 / (1 + THROTTLE_STEP)));
	});

	it('takes a burst of 130429s for sends that left before the lowering as one excess, and later ones as new', async () => {
		const { make, tick } = setup();
		const pacer = make();
		// Five sends in flight together; all five come back 130429.
		const inFlight = [];
		for (let i = 0; i < 5; i++) inFlight.push(await pacer.acquire(String(i)));
		tick(20);
		for (const done of inFlight) done({ throttled: true });
		expect(pacer.throttleMargin).toBeCloseTo(THROTTLE_STEP, 10);
		// A send that left after the lowering and is still refused: Meta still counts more than we think.
		tick(20);
		(await pacer.acquire('later'))({ throttled: true });
		expect(pacer.throttleMargin).toBeCloseTo(2 * THROTTLE_STEP, 10);
	});

	it('never lowers the limit by more than MAX_THROTTLE_MARGIN', async () => {
		const { make, tick } = setup();
		const pacer = make();
		for (let i = 0; i < 30; i++) {
			tick(1);
			(await pacer.acquire(String(i)))({ throttled: true });
		}
		expect(pacer.throttleMargin).toBeCloseTo(MAX_THROTTLE_MARGIN, 10);
		expect(pacer.windowLimit).toBe(Math.floor(100 / (1 + MAX_THROTTLE_MARGIN)));
	});

	it('recovers one step per THROTTLE_RECOVERY_SENDS clean answers, back to the full limit', async () => {
		const { make, tick } = setup();
		const pacer = make();
		for (let i = 0; i < 2; i++) {
			tick(1);
			(await pacer.acquire(`t${i}`))({ throttled: true });
		}
		expect(pacer.throttleMargin).toBeCloseTo(2 * THROTTLE_STEP, 10);
		const clean = async (n: number) => {
			for (let i = 0; i < n; i++) (await pacer.acquire(`c${i}`))();
		};
		await clean(THROTTLE_RECOVERY_SENDS - 1);
		expect(pacer.throttleMargin).toBeCloseTo(2 * THROTTLE_STEP, 10);
		await clean(1);
		expect(pacer.throttleMargin).toBeCloseTo(THROTTLE_STEP, 10);
		// A 130429 in the clean stretch starts the count again.
		await clean(THROTTLE_RECOVERY_SENDS - 1);
		(await pacer.acquire('again'))({ throttled: true }); // left after the last lowering: lowers again
		expect(pacer.throttleMargin).toBeCloseTo(2 * THROTTLE_STEP, 10);
		await clean(2 * THROTTLE_RECOVERY_SENDS);
		expect(pacer.throttleMargin).toBe(0);
		expect(pacer.windowLimit).toBe(100);
		expect(pacer.intervalMs).toBe(LOCAL_SLOT_WINDOW_MS / 100);
	});
});

describe('sendBatch through an in-process pacer', () => {
	it('sends more messages than the limit allows in a second, each once, never more than the limit in any second', async () => {
		const starts: number[] = [];
		const transport: Transport = async (request) => {
			starts.push(Date.now());
			await new Promise((r) => setTimeout(r, 5 + (starts.length % 4) * 10));
			const to = (request.json as { to: string }).to;
			return {
				status: 200,
				body: { messaging_product: 'whatsapp', messages: [{ id: `wamid.${to}` }] },
			} satisfies HttpResponse;
		};
		const client = new CloudApiClient(
			{ phoneNumberId: 'pn', baseUrl: 'http://graph.test' },
			transport,
			{
				maxAttempts: 1,
				retryUncertain: false,
				timeoutMs: 1000,
			},
		);
		const pacer = new SendPacer('pn', {
			messagesPerSecond: 5,
			pairIntervalMs: 0,
			slots: new LocalSlotStore(),
		});
		const messages = Array.from({ length: 12 }, (_, i) => ({
			itemIndex: i,
			waId: `49151${i}`,
			request: { messaging_product: 'whatsapp', to: `+49151${i}`, type: 'text' },
		}));
		// Without every answer reaching the pacer, the sixth send would wait for ever.
		const outcomes = await sendBatch(messages, { client, pacer, concurrency: 8 });
		expect(outcomes.map((o) => o.ok)).toEqual(new Array(12).fill(true));
		expect(starts).toHaveLength(12);
		const busiest = Math.max(
			...starts.map((t) => starts.filter((u) => u >= t && u < t + 1000).length),
		);
		expect(busiest).toBeLessThanOrEqual(5);
	});
});

describe('backoffMs', () => {
	it('grows exponentially with jitter and stays capped', () => {
		expect(backoffMs(1, 'throughput', () => 0)).toBe(125);
		expect(backoffMs(1, 'throughput', () => 1)).toBe(375);
		expect(backoffMs(10, 'throughput', () => 1)).toBe(8125);
		expect(backoffMs(1, 'pairRate', () => 0.5)).toBe(4000);
		expect(backoffMs(2, 'pairRate', () => 0.5)).toBe(16000);
	});
});
