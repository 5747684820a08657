/**
 * Meta's two send limits, kept per business phone number:
 * - throughput: at most `mps` accepted messages in any 1-second sliding window (over it: 130429);
 * - pair rate: one message per `pairRateMs` to the same user, with a burst of `pairBurst`
 *   messages borrowed from future quota (over it: 131056).
 * Both are O(1) per message so the sandbox keeps up with benchmark traffic.
 */

/** Sliding 1-second window as a ring of the last `mps` acceptance times. */
export class ThroughputWindow {
	private readonly ring: Float64Array;
	private head = 0;
	private size = 0;

	constructor(
		private readonly mps: number,
		private readonly windowMs = 1000,
	) {
		this.ring = new Float64Array(Math.max(mps, 1));
	}

	/** True when one more message at `now` stays within the limit. 0 mps means unlimited. */
	allows(now: number): boolean {
		if (this.mps <= 0) return true;
		if (this.size < this.mps) return true;
		// The ring is full: the oldest of the last `mps` acceptances must have left the window.
		return now - this.ring[this.head] >= this.windowMs;
	}

	record(now: number): void {
		if (this.mps <= 0) return;
		if (this.size < this.mps) {
			this.ring[(this.head + this.size) % this.mps] = now;
			this.size += 1;
			return;
		}
		this.ring[this.head] = now;
		this.head = (this.head + 1) % this.mps;
	}
}

interface Bucket {
	tokens: number;
	updatedAt: number;
}

/** Token bucket per recipient: capacity `burst`, refilled one token every `intervalMs`. */
export class PairRateLimiter {
	private readonly buckets = new Map<string, Bucket>();

	constructor(
		private readonly intervalMs: number,
		private readonly burst: number,
	) {}

	private refill(key: string, now: number): Bucket {
		let bucket = this.buckets.get(key);
		if (!bucket) {
			bucket = { tokens: this.burst, updatedAt: now };
			this.buckets.set(key, bucket);
			return bucket;
		}
		if (this.intervalMs > 0) {
			const gained = (now - bucket.updatedAt) / this.intervalMs;
			bucket.tokens = Math.min(this.burst, bucket.tokens + gained);
		} else {
			bucket.tokens = this.burst;
		}
		bucket.updatedAt = now;
		return bucket;
	}

	allows(key: string, now: number): boolean {
		if (this.intervalMs <= 0) return true;
		return this.refill(key, now).tokens >= 1;
	}

	record(key: string, now: number): void {
		if (this.intervalMs <= 0) return;
		this.refill(key, now).tokens -= 1;
	}

	/** Milliseconds until `key` may receive again (0 when it may now). */
	waitMs(key: string, now: number): number {
		if (this.intervalMs <= 0) return 0;
		const bucket = this.refill(key, now);
		return bucket.tokens >= 1 ? 0 : Math.ceil((1 - bucket.tokens) * this.intervalMs);
	}

	clear(): void {
		this.buckets.clear();
	}
}
