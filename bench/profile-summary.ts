/**
 * `node -r ts-node/register/transpile-only bench/profile-summary.ts <file.cpuprofile> [top]`
 * Summarises a V8 CPU profile (from `node --cpu-prof`): self time and inclusive time per function, so a
 * benchmark's hot path can be quoted with evidence. Paths are shown relative to the repository; line numbers of
 * TypeScript files are those of ts-node's transpiled output, close to but not always the source line.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}

interface CpuProfile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
}

export interface ProfileLine {
	fn: string;
	selfPct: number;
	totalPct: number;
}

const ROOT = path.resolve(__dirname, '..');

function label(node: ProfileNode): string {
	const { functionName, url, lineNumber } = node.callFrame;
	const file = url.replace(/^file:\/\//, '');
	const where = file
		? `${file.startsWith(ROOT) ? path.relative(ROOT, file) : file.replace(/^.*node_modules\//, '~/')}:${lineNumber + 1}`
		: '';
	return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

export function summarise(
	profile: CpuProfile,
	top = 25,
): { self: ProfileLine[]; total: ProfileLine[]; sampledMs: number } {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const selfTime = new Map<string, number>();
	const totalTime = new Map<string, number>();
	let sum = 0;
	profile.samples.forEach((id, i) => {
		const dt = profile.timeDeltas[i] ?? 0;
		sum += dt;
		const node = byId.get(id);
		if (!node) return;
		const own = label(node);
		selfTime.set(own, (selfTime.get(own) ?? 0) + dt);
		// Inclusive: every distinct function on the stack gets the sample once (recursion counted once).
		const seen = new Set<string>();
		for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
			const l = label(byId.get(cur)!);
			if (seen.has(l)) continue;
			seen.add(l);
			totalTime.set(l, (totalTime.get(l) ?? 0) + dt);
		}
	});
	const pct = (v: number): number => Math.round((v / sum) * 1000) / 10;
	const rows = (m: Map<string, number>): ProfileLine[] =>
		[...m.entries()]
			.sort((a, b) => b[1] - a[1])
			.slice(0, top)
			.map(([fn]) => ({
				fn,
				selfPct: pct(selfTime.get(fn) ?? 0),
				totalPct: pct(totalTime.get(fn) ?? 0),
			}));
	return { self: rows(selfTime), total: rows(totalTime), sampledMs: Math.round(sum / 1000) };
}

if (require.main === module) {
	const [file, topArg] = process.argv.slice(2);
	if (!file) {
		console.error('usage: bench/profile-summary.ts <file.cpuprofile> [top]');
		process.exit(2);
	}
	const { self, total, sampledMs } = summarise(
		JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
		Number(topArg) || 25,
	);
	console.log(`sampled ${sampledMs} ms\n\nself time:`);
	for (const l of self) console.log(`${String(l.selfPct).padStart(5)}%  ${l.fn}`);
	console.log('\ninclusive time:');
	for (const l of total) console.log(`${String(l.totalPct).padStart(5)}%  ${l.fn}`);
}
