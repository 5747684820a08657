/**
 * Throughput and pair-rate pacing.
 *
 * Meta limits each business phone number to N messages/s (80 by default, up to 1,000) and answers 130429 above it,
 * and limits how fast one recipient may be messaged (about one per 6 s; 131056). We pace before sending rather than
 * provoke those errors: each send reserves a slot with a GCRA ("virtual scheduling") reservation — the slot store
 * hands out times spaced `intervalMs` apart and the caller sleeps until its slot. The slot store is the in-process
 * `LocalSlotStore` by default (shared by every execution in one n8n process) or the Redis state store, so that
 * several n8n workers sending for one number stay under the limit together.
 *
 * In one process the pacer also knows when each request was answered, and that bounds when Meta accepted it: between
 * the request leaving and its answer arriving. So a send may leave as long as fewer than N earlier sends were answered
 * less than a second ago or are still unanswered (the in-flight window): no second at Meta can then hold more than N,
 * whatever the network's jitter, and slots need no safety margin — the pace is N per (1 s + the round trip). Workers
 * sharing a number through Redis cannot see each other's answers, so there slots keep a fixed margin for jitter.
 */

export interface SlotReserver {
	/** Atomically reserve the next free slot for `key`; returns the epoch ms at which the caller may send. */
	reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number>;
	/** The in-flight window of `key`, where every sender of the number is in this process (see InFlightWindow). */
	inFlightWindow?(key: string): InFlightWindow;
}

/**
 * Sends of one number that Meta may still count in its current second. Meta accepts a request after it leaves and
 * before its answer arrives, and no sooner than the network's one-way delay after the first nor later than that delay
 * before the second; taking each way as half the smallest round trip seen (after MIN_RTT_SAMPLES answers; 0 before),
 * a send answered at `r` was accepted before `r − minRtt/2`, and a send leaving at `s` will be accepted after
 * `s + minRtt/2`. So a send may leave while fewer than `limit` earlier sends are unanswered or were answered after
 * `now − windowMs + minRtt`: no `windowMs` at Meta then holds more than `limit`, whatever the round trip's jitter,
 * and the pace is `limit` per (windowMs + the round trip's spread above its minimum).
 */
export class InFlightWindow {
	private pending = 0;
	/** Times (epoch ms) at which answered sends stop counting, ascending. */
	private readonly until: number[] = [];
	private head = 0;
	private wakers: Array<() => void> = [];
	private minRtt = Infinity;
	private samples = 0;

	constructor(private readonly windowMs = 1000) {}

	/** How many sends count at `now`. */
	count(now: number): number {
		while (this.head < this.until.length && this.until[this.head] <= now) this.head++;
		if (this.head > 1024) {
			this.until.splice(0, this.head);
			this.head = 0;
		}
		return this.pending + this.until.length - this.head;
	}

	/** The round-trip time credited to every answer (0 until MIN_RTT_SAMPLES answers have been seen). */
	get rttCredit(): number {
		return this.samples >= MIN_RTT_SAMPLES ? this.minRtt : 0;
	}

	async enter(
		limit: number,
		now: () => number,
		sleep: (ms: number) => Promise<void>,
	): Promise<() => void> {
		for (;;) {
			const t = now();
			const counted = this.count(t);
			if (counted < limit) break;
			// Answered sends leave the window at known times; unanswered ones only when their answer comes.
			const answered = this.until.length - this.head;
			const excess = counted - limit; // this many must leave before the caller fits
			if (excess < answered) await sleep(Math.max(1, this.until[this.head + excess] - t));
			else await new Promise<void>((resolve) => this.wakers.push(resolve));
		}
		this.pending++;
		const left = now();
		let done = false;
		return () => {
			if (done) return;
			done = true;
			this.pending--;
			const at = now();
			// The credit of an answer is fixed when it arrives: a later, smaller round trip only makes later answers
			// count longer, never earlier ones shorter.
			const credit = this.rttCredit;
			this.minRtt = Math.min(this.minRtt, at - left);
			this.samples++;
			const leaves = at + this.windowMs - Math.min(credit, this.windowMs);
			// Answers arrive nearly in order; keeping the array sorted keeps `count` O(1).
			let i = this.until.length;
			while (i > this.head && this.until[i - 1] > leaves) i--;
			this.until.splice(i, 0, leaves);
			const wakers = this.wakers;
			this.wakers = [];
			for (const wake of wakers) wake();
		};
	}
}

/** Answers seen before the smallest round trip is trusted as the network's (the first ones include TLS set-up). */
export const MIN_RTT_SAMPLES = 16;

/** In-process GCRA slot store. Single-threaded JS makes the read-modify-write atomic. */
export class LocalSlotStore implements SlotReserver {
	private readonly next = new Map<string, number>();
	private readonly windows = new Map<string, InFlightWindow>();

	inFlightWindow(key: string): InFlightWindow {
		let window = this.windows.get(key);
		if (!window) this.windows.set(key, (window = new InFlightWindow()));
		return window;
	}

	async reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number> {
		return this.reserveSync(p.key, p.intervalMs, p.now ?? Date.now());
	}

	reserveSync(key: string, intervalMs: number, now: number): number {
		const slot = Math.max(now, this.next.get(key) ?? 0);
		this.next.set(key, slot + intervalMs);
		// Keep the map from growing forever with one-off recipients (pair-rate keys).
		if (this.next.size > 50_000) this.sweep(now);
		return slot;
	}

	private sweep(now: number): void {
		for (const [key, at] of this.next) if (at <= now) this.next.delete(key);
	}
}

let processSlots: LocalSlotStore | undefined;
/** The slot store shared by every execution of this process (n8n runs executions concurrently in one process). */
export function processSlotStore(): LocalSlotStore {
	processSlots ??= new LocalSlotStore();
	return processSlots;
}

export const DEFAULT_MESSAGES_PER_SECOND = 80;
export const MAX_MESSAGES_PER_SECOND = 1000;
/** Meta's guidance: about one message every 6 seconds to the same user. */
export const DEFAULT_PAIR_INTERVAL_MS = 6000;

export interface PacerOptions {
	/** Throughput limit of the phone number; 0 turns throughput pacing off (pair pacing still applies). */
	messagesPerSecond: number;
	/** Minimum spacing between two messages to the same recipient; 0 disables pair pacing. */
	pairIntervalMs: number;
	slots?: SlotReserver;
	sleep?: (ms: number) => Promise<void>;
	now?: () => number;
}

export const sleep = (ms: number): Promise<void> =>
	new Promise((resolve) => {
		setTimeout(resolve, ms);
	});

/**
 * How late a sender may wake after its slot and still send. A busy event loop (or a stalled worker) wakes many
 * senders at once; if they all sent, their messages would reach Meta as a burst above the limit. A sender that wakes
 * later than this gives its slot up and reserves a new one.
 */
export const LATE_TOLERANCE_MS = 25;
/**
 * Time a request may take between leaving the pacer and reaching Meta, varying from one request to the next
 * (HTTP stack, TLS, a GC pause). Measured in real n8n: bunches of ~100 ms at batch start.
 */
export const TRANSPORT_JITTER_MS = 75;
/**
 * Where senders share a number across processes (Redis), slots are spaced (1000 + LATE_TOLERANCE_MS +
 * TRANSPORT_JITTER_MS) / mps apart — about 9 % under the limit — so that even late or jittered requests never put more
 * than mps messages into any one-second window at Meta. In one process the in-flight window gives that guarantee and
 * slots are 1000 / mps apart.
 */
export const SLOT_WINDOW_MS = 1000 + LATE_TOLERANCE_MS + TRANSPORT_JITTER_MS;
/** Slot spacing where the in-flight window bounds every second (one process): exactly the limit. */
export const LOCAL_SLOT_WINDOW_MS = 1000;
/**
 * A 130429 means Meta counted more than we thought it would (its window is not ours, or another sender uses the
 * number): each one widens the spacing by this share, up to MAX_THROTTLE_MARGIN, and a clean stretch narrows it again.
 */
export const THROTTLE_STEP = 0.02;
export const MAX_THROTTLE_MARGIN = 0.2;
/** Sends answered without a 130429 before the margin narrows by one step. */
export const THROTTLE_RECOVERY_SENDS = 1000;

/** Called when a send's answer (or error) arrives; `throttled` when Meta answered 130429. */
export type SendRelease = (answer?: { throttled?: boolean }) => void;

interface ThrottleState {
	margin: number;
	clean: number;
}
const throttleStates = new WeakMap<SlotReserver, Map<string, ThrottleState>>();

/**
 * Paces sends for one business phone number. `const done = await pacer.acquire(waId)` returns when a message to
 * `waId` may leave; call `done()` when its answer arrives (see InFlightWindow).
 */
export class SendPacer {
	private readonly slots: SlotReserver;
	private readonly sleepFn: (ms: number) => Promise<void>;
	private readonly now: () => number;
	private readonly window?: InFlightWindow;
	private readonly throttle: ThrottleState;

	constructor(
		private readonly phoneNumberId: string,
		private readonly options: PacerOptions,
	) {
		if (!(options.messagesPerSecond >= 0) || options.messagesPerSecond > MAX_MESSAGES_PER_SECOND) {
			throw new RangeError(
				`messagesPerSecond must be between 0 (no pacing) and ${MAX_MESSAGES_PER_SECOND} (Meta's highest throughput level); got ${options.messagesPerSecond}`,
			);
		}
		this.slots = options.slots ?? processSlotStore();
		this.sleepFn = options.sleep ?? sleep;
		this.now = options.now ?? Date.now;
		const key = `tput:${phoneNumberId}`;
		if (options.messagesPerSecond > 0) this.window = this.slots.inFlightWindow?.(key);
		// Every pacer of the number on this slot store learns from the same 130429s.
		let states = throttleStates.get(this.slots);
		if (!states) throttleStates.set(this.slots, (states = new Map()));
		let state = states.get(key);
		if (!state) states.set(key, (state = { margin: 0, clean: 0 }));
		this.throttle = state;
	}

	/** Milliseconds between two throughput slots now (0 without throughput pacing). */
	get intervalMs(): number {
		if (this.options.messagesPerSecond === 0) return 0;
		const base = this.window ? LOCAL_SLOT_WINDOW_MS : SLOT_WINDOW_MS;
		return (base * (1 + this.throttle.margin)) / this.options.messagesPerSecond;
	}

	async acquire(waId: string): Promise<SendRelease> {
		let pairAt: number | undefined;
		// Bounded: under a pathological stall we still send rather than spin for ever (the client retries a 130429).
		for (let attempt = 0; attempt < 20; attempt++) {
			const now = this.now();
			const interval = this.intervalMs;
			let at =
				interval > 0
					? await this.slots.reserveSendSlot({
							key: `tput:${this.phoneNumberId}`,
							intervalMs: interval,
							now,
						})
					: now;
			if (this.options.pairIntervalMs > 0) {
				// Reserved once per message: a sender that woke late needs a new throughput slot, not a new pair slot —
				// reserving that again would push this recipient a whole pair interval (6 s) further out.
				pairAt ??= await this.slots.reserveSendSlot({
					key: `pair:${this.phoneNumberId}:${waId}`,
					intervalMs: this.options.pairIntervalMs,
					now,
				});
				// A recipient still inside its pair interval waits; its throughput slot is then simply spent early,
				// which only makes the stream sparser, never denser.
				at = Math.max(at, pairAt);
			}
			const wait = at - this.now();
			if (wait > 0) await this.sleepFn(wait);
			if (this.now() - at <= LATE_TOLERANCE_MS) break;
		}
		const limit = Math.floor(this.options.messagesPerSecond / (1 + this.throttle.margin));
		const leave = this.window
			? await this.window.enter(Math.max(1, limit), this.now, this.sleepFn)
			: undefined;
		return (answer) => {
			leave?.();
			this.learn(answer?.throttled === true);
		};
	}

	private learn(throttled: boolean): void {
		const t = this.throttle;
		if (throttled) {
			t.margin = Math.min(MAX_THROTTLE_MARGIN, t.margin + THROTTLE_STEP);
			t.clean = 0;
		} else if (t.margin > 0 && ++t.clean >= THROTTLE_RECOVERY_SENDS) {
			t.margin = Math.max(0, t.margin - THROTTLE_STEP);
			t.clean = 0;
		}
	}

	/** The share by which 130429s have widened this number's spacing (0 = none). */
	get throttleMargin(): number {
		return this.throttle.margin;
	}
}

/**
 * Backoff for retryable Meta errors: exponential with full jitter, capped. For pair-rate errors (131056) Meta
 * suggests 4^n seconds, which `pairRate` selects.
 */
export function backoffMs(
	attempt: number,
	kind: 'throughput' | 'pairRate' | 'server',
	random: () => number = Math.random,
): number {
	if (kind === 'pairRate') return Math.min(4 ** attempt * 1000, 64_000) * (0.75 + random() * 0.5);
	const base = kind === 'throughput' ? 250 : 1000;
	const cap = kind === 'throughput' ? 8000 : 30_000;
	return Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)) + base / 2);
}
