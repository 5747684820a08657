import { randomBytes } from 'node:crypto';

/**
 * Random source for everything the sandbox decides by chance (fault ratios, ids, jitter).
 * With a seed it is a deterministic mulberry32 stream so a test run can be replayed exactly;
 * without one it draws from the OS so two sandboxes never hand out the same ids.
 */
export interface Rng {
	/** Uniform float in [0, 1). */
	next(): number;
	/** Integer in [0, max). */
	int(max: number): number;
	/** Lowercase hex string of `bytes` random bytes. */
	hex(bytes: number): string;
}

export function createRng(seed?: number): Rng {
	if (seed === undefined) {
		// OS randomness drawn in blocks: one syscall per 4 KiB instead of one per id.
		let pool = randomBytes(4096);
		let offset = 0;
		const take = (n: number): Buffer => {
			if (offset + n > pool.length) {
				pool = randomBytes(Math.max(4096, n));
				offset = 0;
			}
			const out = pool.subarray(offset, offset + n);
			offset += n;
			return out;
		};
		const next = (): number => take(4).readUInt32BE(0) / 0x1_0000_0000;
		return {
			next,
			int: (max) => Math.floor(next() * max),
			hex: (bytes) => take(bytes).toString('hex'),
		};
	}
	let state = seed >>> 0;
	const next = (): number => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
	};
	return {
		next,
		int: (max) => Math.floor(next() * max),
		hex: (bytes) => {
			let out = '';
			for (let i = 0; i < bytes; i += 1)
				out += Math.floor(next() * 256)
					.toString(16)
					.padStart(2, '0');
			return out;
		},
	};
}
