/**
 * Throughput and pair-rate pacing.
 *
 * Meta limits each business phone number to N messages/s (80 by default, up to 1,000) and answers 130429 above it,
 * and limits how fast one recipient may be messaged (about one per 6 s; 131056). We pace before sending rather than
 * provoke those errors: each send reserves a slot with a GCRA ("virtual scheduling") reservation — the slot store
 * hands out times spaced `intervalMs` apart and the caller sleeps until its slot. The slot store is the in-process
 * `LocalSlotStore` by default (shared by every execution in one n8n process) or the Redis state store, so that
 * several n8n workers sending for one number stay under the limit together.
 */

export interface SlotReserver {
	/** Atomically reserve the next free slot for `key`; returns the epoch ms at which the caller may send. */
	reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number>;
}

/** In-process GCRA slot store. Single-threaded JS makes the read-modify-write atomic. */
export class LocalSlotStore implements SlotReserver {
	private readonly next = new Map<string, number>();

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
 * Slots are spaced (1000 + LATE_TOLERANCE_MS + TRANSPORT_JITTER_MS) / mps apart — about 9 % under the limit — so
 * that even late or jittered requests never put more than mps messages into any one-second window at Meta.
 */
export const SLOT_WINDOW_MS = 1000 + LATE_TOLERANCE_MS + TRANSPORT_JITTER_MS;

/**
 * Paces sends for one business phone number. `await pacer.acquire(waId)` returns when a message to `waId` may leave.
 */
export class SendPacer {
	readonly intervalMs: number;
	private readonly slots: SlotReserver;
	private readonly sleepFn: (ms: number) => Promise<void>;
	private readonly now: () => number;

	constructor(
		private readonly phoneNumberId: string,
		private readonly options: PacerOptions,
	) {
		if (!(options.messagesPerSecond >= 0) || options.messagesPerSecond > MAX_MESSAGES_PER_SECOND) {
			throw new RangeError(
				`messagesPerSecond must be between 0 (no pacing) and ${MAX_MESSAGES_PER_SECOND} (Meta's highest throughput level); got ${options.messagesPerSecond}`,
			);
		}
		this.intervalMs =
			options.messagesPerSecond === 0 ? 0 : SLOT_WINDOW_MS / options.messagesPerSecond;
		this.slots = options.slots ?? processSlotStore();
		this.sleepFn = options.sleep ?? sleep;
		this.now = options.now ?? Date.now;
	}

	async acquire(waId: string): Promise<void> {
		let pairAt: number | undefined;
		// Bounded: under a pathological stall we still send rather than spin for ever (the client retries a 130429).
		for (let attempt = 0; attempt < 20; attempt++) {
			const now = this.now();
			let at =
				this.intervalMs > 0
					? await this.slots.reserveSendSlot({
							key: `tput:${this.phoneNumberId}`,
							intervalMs: this.intervalMs,
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
			if (this.now() - at <= LATE_TOLERANCE_MS) return;
		}
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
