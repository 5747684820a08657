/**
 * CPU time spent by this process and by other processes (the sandbox, n8n) over a measured interval: on a shared
 * 2-core machine, "µs of CPU per message" on each side says more about overhead than wall time alone.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // Linux USER_HZ.

/** utime + stime of a process in ms (0 if it is gone). */
export function processCpuMs(pid: number): number {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		// Fields after the command name (which may contain spaces) start after the last ')'.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
	} catch {
		return 0;
	}
}

function children(pid: number): number[] {
	const out: number[] = [];
	try {
		for (const task of readdirSync(`/proc/${pid}/task`)) {
			const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
			if (text) out.push(...text.split(/\s+/).map(Number));
		}
	} catch {
		// Gone.
	}
	return out;
}

/** A process and every process below it (n8n and its task runner). */
export function descendants(pid: number): number[] {
	const all: number[] = [];
	const queue = [pid];
	while (queue.length) {
		const p = queue.shift()!;
		all.push(p);
		queue.push(...children(p));
	}
	return all;
}

/** CPU seconds (user + system) used so far by these processes and their descendants. */
export function cpuSeconds(pids: readonly number[]): number {
	return pids.flatMap(descendants).reduce((ms, pid) => ms + processCpuMs(pid), 0) / 1000;
}

/** Pids of the processes whose command name is `comm` (e.g. every `postgres` backend, `redis-server`). */
export function pidsNamed(comm: string): number[] {
	const out: number[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.push(Number(entry));
		} catch {
			// Gone.
		}
	}
	return out;
}

export class CpuMeter {
	private readonly self0 = process.cpuUsage();
	private readonly others0: number[];

	constructor(private readonly others: number[] = []) {
		this.others0 = others.map(processCpuMs);
	}

	/** CPU ms used since construction: this process, then each of `others` in order. */
	read(): { selfMs: number; othersMs: number[] } {
		const d = process.cpuUsage(this.self0);
		return {
			selfMs: (d.user + d.system) / 1000,
			othersMs: this.others.map((pid, i) => processCpuMs(pid) - this.others0[i]),
		};
	}
}
