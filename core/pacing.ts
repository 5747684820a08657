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
 * Slots only spread sends out; what keeps every second at Meta within N is the in-flight window (InFlightWindow): a
 * send may leave only while fewer than N earlier sends are unanswered or were answered less than a second ago. In one
 * process the window is in memory; where workers share a number through Redis it is a sorted set in Redis
 * (SharedSendWindow), so the workers together stay within N — and slots need no margin in either case.
 *
 * Against a real number: the pace is N per (1 s + the mean round trip to Meta), e.g. 97–99 % of N at 10–30 ms. A
 * 130429 can still come — Meta counts inbound messages too, another system may send for the number, Meta's window is
 * not documented beyond "N messages per second" — so each 130429 lowers the pacer's own limit by THROTTLE_STEP for
 * the number (once per burst of 130429s), and clean answers raise it back step by step (see SendPacer.learn).
 */

export interface SlotReserver {
	/** Atomically reserve the next free slot for `key`; returns the epoch ms at which the caller may send. */
	reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number>;
	/** The in-flight window of `key`, where every sender of the number is in this process (see InFlightWindow). */
	inFlightWindow?(key: string): InFlightWindow;
	/** The in-flight window of `key` shared by every process that uses this store (see SharedSendWindow). */
	enterSendWindow?: SharedSendWindow['enterSendWindow'];
	leaveSendWindow?: SharedSendWindow['leaveSendWindow'];
}

/**
 * The in-flight window kept where several processes see it (Redis: key kind `i`, a sorted set of send tokens scored
 * by the time each stops counting, on the store's clock). An unanswered send is scored `leaseMs` ahead, so a worker
 * that dies mid-send frees its place after that lease rather than never.
 */
export interface SharedSendWindow {
	/** Enters `token` when fewer than `limit` sends of `key` count; otherwise says when to ask again. */
	enterSendWindow(p: {
		key: string;
		token: string;
		limit: number;
		leaseMs: number;
	}): Promise<{ entered: true } | { entered: false; retryInMs: number }>;
	/** `token` was answered: it counts `holdMs` more, then leaves. */
	leaveSendWindow(p: { key: string; token: string; holdMs: number }): Promise<void>;
}

/**
 * Sends of one number that Meta may still count in its current second. Meta counts a request at some moment after
 * it leaves and before its answer arrives; nothing narrower is knowable from here. So a send answered at `r` stops
 * counting at `r + holdMs` (1 s plus CLOCK_GUARD_MS), and a send may leave while fewer than `limit` earlier sends are
 * unanswered or still counting: a send leaving at `s ≥ r + holdMs` is counted after `s`, more than a second after the
 * earlier one was — whatever the network, the server's queue or either event loop did. The price is the round trip:
 * the pace is `limit` per (1 s + the mean round trip), about 1 % at 10 ms.
 *
 * (An earlier version credited the smallest round trip seen, assuming each way takes at least half of it. Request and
 * answer legs do not reach their minimum together — the server's queue delays one, the caller's event loop the
 * other — so the credit overstated what is safe by a few ms, and bench D still saw one or two 130429s per 2,000.)
 */
export class InFlightWindow {
	private pending = 0;
	/** Times (epoch ms) at which answered sends stop counting, ascending. */
	private readonly until: number[] = [];
	private head = 0;
	private wakers: Array<() => void> = [];
	/** Senders waiting for a place, in arrival order; only the first of them watches the window (see admitWaiting). */
	private readonly waiting: Array<{
		limit: number;
		enter: () => void;
		fail: (error: unknown) => void;
		now: () => number;
		sleep: (ms: number) => Promise<void>;
	}> = [];
	private admitting = false;

	constructor(private readonly holdMs = 1000 + CLOCK_GUARD_MS) {}

	/** How many sends count at `now`. */
	count(now: number): number {
		while (this.head < this.until.length && this.until[this.head] <= now) this.head++;
		if (this.head > 1024) {
			this.until.splice(0, this.head);
			this.head = 0;
		}
		return this.pending + this.until.length - this.head;
	}

	/** Senders waiting for a place now. */
	get queued(): number {
		return this.waiting.length;
	}

	async enter(
		limit: number,
		now: () => number,
		sleep: (ms: number) => Promise<void>,
	): Promise<() => void> {
		if (this.waiting.length === 0 && this.count(now()) < limit) this.pending++;
		else {
			await new Promise<void>((enter, fail) => {
				this.waiting.push({ limit, enter, fail, now, sleep });
				if (!this.admitting) void this.admitWaiting();
			});
		}
		let done = false;
		return () => {
			if (done) return;
			done = true;
			this.pending--;
			const leaves = now() + this.holdMs;
			// Answers arrive nearly in order; keeping the array sorted keeps `count` O(1).
			let i = this.until.length;
			while (i > this.head && this.until[i - 1] > leaves) i--;
			this.until.splice(i, 0, leaves);
			const wakers = this.wakers;
			this.wakers = [];
			for (const wake of wakers) wake();
		};
	}

	/**
	 * Lets waiting senders in, first come first served, each as soon as a place frees. One loop watches the window for
	 * all of them: at 1,000 msg/s a hundred senders each watching it would all wake for every place that frees (a
	 * hundred timers per send), CPU taken from the sends themselves.
	 */
	private async admitWaiting(): Promise<void> {
		this.admitting = true;
		try {
			while (this.waiting.length > 0) {
				// The first waiter's clock and sleep: each caller's own (tests pass fake ones, Node-RED cuts its sleeps short).
				const first = this.waiting[0];
				const t = first.now();
				const counted = this.count(t);
				if (counted < first.limit) {
					this.waiting.shift();
					this.pending++;
					first.enter();
					continue;
				}
				// Answered sends leave the window at known times; unanswered ones only when their answer comes.
				const answered = this.until.length - this.head;
				const excess = counted - first.limit; // this many must leave before the first waiter fits
				try {
					if (excess < answered) await first.sleep(Math.max(1, this.until[this.head + excess] - t));
					else await new Promise<void>((resolve) => this.wakers.push(resolve));
				} catch (error) {
					// A sleep that throws (a cancelled wait) fails its own caller, not those behind it.
					if (this.waiting[0] === first) this.waiting.shift();
					first.fail(error);
				}
			}
		} finally {
			this.admitting = false;
		}
	}
}

/**
 * Clocks here and at Meta tick in whole milliseconds: a gap of 1,000 ms on one can read 999 ms on the other. An
 * answered send counts this much longer than a second so that rounding never puts limit + 1 into Meta's second.
 */
export const CLOCK_GUARD_MS = 2;

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
 * How late a sender may wake after its slot and still send, where no in-flight window bounds each second (a slot
 * store without one). A busy event loop wakes many senders at once; without a window their messages would reach Meta
 * as a burst above the limit, so a sender that wakes later than this gives its slot up and reserves a new one. With a
 * window a late sender keeps its slot: the window already keeps every second within the limit, and giving slots up
 * under load was what made a cold n8n's first campaign slow.
 */
export const LATE_TOLERANCE_MS = 25;
/**
 * Time a request may take between leaving the pacer and reaching Meta, varying from one request to the next
 * (HTTP stack, TLS, a GC pause). Measured in real n8n: bunches of ~100 ms at batch start.
 */
export const TRANSPORT_JITTER_MS = 75;
/**
 * Where no in-flight window bounds each second (a slot store with neither window), slots are spaced (1000 +
 * LATE_TOLERANCE_MS + TRANSPORT_JITTER_MS) / mps apart — about 9 % under the limit — so that late or jittered
 * requests never put more than mps messages into any one-second window at Meta.
 */
export const SLOT_WINDOW_MS = 1000 + LATE_TOLERANCE_MS + TRANSPORT_JITTER_MS;
/** Slot spacing where an in-flight window bounds every second (in process or in Redis): exactly the limit. */
export const LOCAL_SLOT_WINDOW_MS = 1000;
/**
 * Learning from 130429. The window keeps every second within the limit as this pacer counts it; a 130429 says Meta
 * counted more (inbound messages, another sender on the number, a window unlike ours). Each 130429 lowers the
 * number's limit by this share (limit / (1 + margin), slots spaced by 1 + margin), up to MAX_THROTTLE_MARGIN — but
 * 130429s answering sends that left before the last lowering are the same excess and lower nothing more.
 */
export const THROTTLE_STEP = 0.02;
export const MAX_THROTTLE_MARGIN = 0.2;
/** Answers without a 130429 after which the margin narrows by one step (at 80 msg/s about 6 s, at 1,000 about 0.5 s). */
export const THROTTLE_RECOVERY_SENDS = 500;
/** How long an unanswered send may hold its place in a shared window (longer than any request's timeout). */
export const SHARED_WINDOW_LEASE_MS = 120_000;
/** How often a sender blocked by unanswered sends of other workers asks the shared window again. */
export const SHARED_WINDOW_POLL_MS = 5;

/** Called when a send's answer (or error) arrives; `throttled` when Meta answered 130429. */
export type SendRelease = (answer?: { throttled?: boolean }) => void;

interface ThrottleState {
	margin: number;
	clean: number;
	/** When the margin last widened (pacer clock): 130429s for sends that left before it are the same excess. */
	widenedAt: number;
}
const throttleStates = new WeakMap<SlotReserver, Map<string, ThrottleState>>();

let tokenCounter = 0;
const tokenPrefix = `${process.pid.toString(36)}.${Math.random().toString(36).slice(2, 10)}`;

/**
 * Paces sends for one business phone number. `const done = await pacer.acquire(waId)` returns when a message to
 * `waId` may leave; call `done()` when its answer arrives (see InFlightWindow).
 */
export class SendPacer {
	private readonly slots: SlotReserver;
	private readonly sleepFn: (ms: number) => Promise<void>;
	private readonly now: () => number;
	private readonly window?: InFlightWindow;
	private readonly shared?: SharedSendWindow;
	private readonly throttle: ThrottleState;
	private readonly key: string;

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
		this.key = `tput:${phoneNumberId}`;
		if (options.messagesPerSecond > 0) {
			this.window = this.slots.inFlightWindow?.(this.key);
			const { enterSendWindow, leaveSendWindow } = this.slots;
			if (!this.window && enterSendWindow && leaveSendWindow)
				this.shared = {
					enterSendWindow: enterSendWindow.bind(this.slots),
					leaveSendWindow: leaveSendWindow.bind(this.slots),
				};
		}
		// Every pacer of the number on this slot store learns from the same 130429s.
		let states = throttleStates.get(this.slots);
		if (!states) throttleStates.set(this.slots, (states = new Map()));
		let state = states.get(this.key);
		if (!state) states.set(this.key, (state = { margin: 0, clean: 0, widenedAt: -Infinity }));
		this.throttle = state;
	}

	/** Milliseconds between two throughput slots now (0 without throughput pacing). */
	get intervalMs(): number {
		if (this.options.messagesPerSecond === 0) return 0;
		const base = this.window || this.shared ? LOCAL_SLOT_WINDOW_MS : SLOT_WINDOW_MS;
		return (base * (1 + this.throttle.margin)) / this.options.messagesPerSecond;
	}

	/** How many sends may count in one second now: the limit, lowered by what 130429s taught. */
	get windowLimit(): number {
		return Math.max(1, Math.floor(this.options.messagesPerSecond / (1 + this.throttle.margin)));
	}

	async acquire(waId: string): Promise<SendRelease> {
		let pairAt: number | undefined;
		const bounded = this.window !== undefined || this.shared !== undefined;
		// Bounded: under a pathological stall we still send rather than spin for ever (the client retries a 130429).
		for (let attempt = 0; attempt < 20; attempt++) {
			const now = this.now();
			const interval = this.intervalMs;
			let at =
				interval > 0
					? await this.slots.reserveSendSlot({ key: this.key, intervalMs: interval, now })
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
			if (bounded || this.now() - at <= LATE_TOLERANCE_MS) break;
		}
		const leave = this.window
			? await this.window.enter(this.windowLimit, this.now, this.sleepFn)
			: this.shared
				? await this.enterShared()
				: undefined;
		const left = this.now();
		return (answer) => {
			leave?.();
			this.learn(answer?.throttled === true, left);
		};
	}

	private async enterShared(): Promise<() => void> {
		const shared = this.shared!;
		const token = `${tokenPrefix}.${(tokenCounter++).toString(36)}`;
		for (;;) {
			const verdict = await shared.enterSendWindow({
				key: this.key,
				token,
				limit: this.windowLimit,
				leaseMs: SHARED_WINDOW_LEASE_MS,
			});
			if (verdict.entered) break;
			await this.sleepFn(verdict.retryInMs > 0 ? verdict.retryInMs : SHARED_WINDOW_POLL_MS);
		}
		let done = false;
		return () => {
			if (done) return;
			done = true;
			// Not awaited: the answer is known; a lost release only keeps the place until its lease ends.
			shared
				.leaveSendWindow({ key: this.key, token, holdMs: 1000 + CLOCK_GUARD_MS })
				.catch(() => undefined);
		};
	}

	/**
	 * What a send's answer teaches: a 130429 for a send that left after the last widening widens the margin by
	 * THROTTLE_STEP (capped); THROTTLE_RECOVERY_SENDS answers in a row without one narrow it by a step.
	 */
	private learn(throttled: boolean, left: number): void {
		const t = this.throttle;
		if (throttled) {
			t.clean = 0;
			if (left < t.widenedAt) return;
			t.margin = Math.min(MAX_THROTTLE_MARGIN, t.margin + THROTTLE_STEP);
			t.widenedAt = this.now();
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
