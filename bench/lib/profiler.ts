/**
 * CPU profile of one extra, unmeasured run (`--profile`): the same V8 sampling profiler `node --cpu-prof` uses,
 * started and stopped around the code under test only, so start-up and seeding do not drown the hot path.
 * The .cpuprofile goes to bench/results/profiles/ (not committed; open it in Chrome DevTools), and a summary of
 * the hottest functions goes into the results file, where BENCHMARKS.md notes can quote it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import { summarise, type ProfileLine } from '../profile-summary';
import { RESULTS_DIR } from './results';

export interface ProfileSummary {
	file: string;
	sampledMs: number;
	/** Functions by self time. */
	self: ProfileLine[];
	/** Functions of this repository (and zod) by inclusive time: the call paths that cost. */
	inclusive: ProfileLine[];
}

export async function profile<T>(
	name: string,
	fn: () => Promise<T> | T,
): Promise<{ value: T; summary: ProfileSummary }> {
	const session = new Session();
	session.connect();
	try {
		await session.post('Profiler.enable');
		await session.post('Profiler.setSamplingInterval', { interval: 200 });
		await session.post('Profiler.start');
		const value = await fn();
		const { profile: cpuProfile } = await session.post('Profiler.stop');
		const dir = path.join(RESULTS_DIR, 'profiles');
		mkdirSync(dir, { recursive: true });
		const file = path.join(dir, `${name}.cpuprofile`);
		writeFileSync(file, JSON.stringify(cpuProfile));
		const all = summarise(cpuProfile as unknown as Parameters<typeof summarise>[0], 400);
		const ours = (l: ProfileLine): boolean =>
			/^\S+ (core|nodes|bench|sandbox|test)\//.test(l.fn) ||
			l.fn.includes('zod') ||
			l.fn.startsWith('(garbage');
		return {
			value,
			summary: {
				file: path.relative(path.resolve(RESULTS_DIR, '..', '..'), file),
				sampledMs: all.sampledMs,
				self: all.self.slice(0, 15),
				inclusive: all.total.filter(ours).slice(0, 20),
			},
		};
	} finally {
		session.disconnect();
	}
}

/** "45% zod safeParse (node_modules/zod/...), 20% (garbage collector)": a one-line summary for notes. */
export function hottest(summary: ProfileSummary, count = 4, pattern?: RegExp): string {
	// A library's frames nest inside each other (zod's _parse calls _parse …): keep only its outermost one.
	const seenLibraries = new Set<string>();
	const rows = summary.inclusive.filter((l) => {
		if (pattern && !pattern.test(l.fn)) return false;
		const library = /(?:node_modules\/|~\/)((?:@[^/]+\/)?[^/]+)\//.exec(l.fn)?.[1];
		if (!library) return true;
		if (seenLibraries.has(library)) return false;
		seenLibraries.add(library);
		return true;
	});
	return rows
		.slice(0, count)
		.map((l) => `${l.totalPct}% ${l.fn}`)
		.join('; ');
}
