/**
 * CPU time spent by this process and by other processes (the sandbox, n8n) over a measured interval: on a shared
 * 2-core machine, "µs of CPU per message" on each side says more about overhead than wall time alone.
 */
import { readFileSync } from 'node:fs';

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
