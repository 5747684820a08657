/**
 * What machine a figure was measured on: the numbers in BENCHMARKS.md mean little without it.
 * `nproc` and `free -g` are read from the commands themselves, as the brief for the table asks.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface MachineInfo {
	/** `nproc` */
	nproc: number;
	/** Total memory in GiB as `free -g` prints it. */
	memTotalGiB: number;
	cpuModel: string;
	/** Node running the benchmark process (npm scripts use Node 24 from node_modules/.bin). */
	node: string;
	/** n8n version of the real-n8n test bed (provisioned in the cache), or of n8n-workflow for in-process runs. */
	n8n: string;
	n8nWorkflow: string;
	/** 1-minute load average when the scenario started: other work on a shared machine shows here. */
	loadAverage1m: number;
}

function run(cmd: string, args: string[]): string {
	try {
		return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000 }).trim();
	} catch {
		return '';
	}
}

function packageVersion(file: string): string | undefined {
	try {
		return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
	} catch {
		return undefined;
	}
}

export const N8N_CACHE_DIR = path.join(os.homedir(), '.cache', 'n8n-nodes-whatsapp-journeys');

/** The provisioned n8n's own package.json version (the test bed's cache), if provisioned. */
export function provisionedN8nVersion(): string | undefined {
	if (!existsSync(N8N_CACHE_DIR)) return undefined;
	const dirs = run('ls', [N8N_CACHE_DIR])
		.split('\n')
		.filter((d) => d.startsWith('n8n-'));
	for (const dir of dirs.sort().reverse()) {
		const version = packageVersion(
			path.join(N8N_CACHE_DIR, dir, 'node_modules', 'n8n', 'package.json'),
		);
		if (version) return version;
	}
	return undefined;
}

export function machineInfo(): MachineInfo {
	const nproc = Number(run('nproc', [])) || os.cpus().length;
	const memLine = run('free', ['-g'])
		.split('\n')
		.find((l) => l.startsWith('Mem:'));
	const memTotalGiB = memLine
		? Number(memLine.split(/\s+/)[1])
		: Math.round(os.totalmem() / 2 ** 30);
	const workflowVersion =
		packageVersion(
			path.join(__dirname, '..', '..', 'node_modules', 'n8n-workflow', 'package.json'),
		) ?? 'unknown';
	return {
		nproc,
		memTotalGiB,
		cpuModel: os.cpus()[0]?.model ?? 'unknown',
		node: process.version,
		n8n: provisionedN8nVersion() ?? 'not provisioned',
		n8nWorkflow: workflowVersion,
		loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
	};
}
