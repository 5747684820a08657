/**
 * Small statistics for noisy machines: medians of runs, nearest-rank percentiles of latencies.
 * Means are avoided on purpose: one run slowed by a neighbour's build moves a mean, not a median.
 */

export function median(values: readonly number[]): number {
	if (values.length === 0) throw new Error('median of no values');
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an already sorted array. */
export function percentileSorted(sorted: Float64Array | readonly number[], p: number): number {
	if (sorted.length === 0) throw new Error('percentile of no values');
	const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
	return sorted[rank - 1];
}

/** Latencies in milliseconds collected into a preallocated buffer (no array growth inside the timed loop). */
export class LatencyRecorder {
	private readonly samples: Float64Array;
	private count = 0;

	constructor(capacity: number) {
		this.samples = new Float64Array(capacity);
	}

	add(ms: number): void {
		if (this.count < this.samples.length) this.samples[this.count++] = ms;
	}

	summary(): { count: number; p50Ms: number; p99Ms: number; maxMs: number } {
		const sorted = this.samples.slice(0, this.count).sort();
		return {
			count: this.count,
			p50Ms: percentileSorted(sorted, 50),
			p99Ms: percentileSorted(sorted, 99),
			maxMs: sorted[sorted.length - 1],
		};
	}
}

/** Milliseconds since an arbitrary origin, sub-microsecond resolution. */
export function nowMs(): number {
	return Number(process.hrtime.bigint()) / 1e6;
}

/** Deterministic pseudo-random numbers (mulberry32), so every run checks the same contacts in the same order. */
export function seededRandom(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export function round(value: number, digits = 0): number {
	const f = 10 ** digits;
	return Math.round(value * f) / f;
}
