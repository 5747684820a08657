import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { assertSucceeded, runCommand } from './process';
import { N8N_VERSION, PROVISION_SCRIPT } from './paths';

export interface N8nInstallation {
	/** Cache folder holding node_modules/n8n and node_modules/node. */
	readonly dir: string;
	/** Node 24 binary n8n runs on (the machine's /usr/bin/node is 20, too old for n8n 2.x). */
	readonly nodeBin: string;
	/** n8n's CLI entry, run as `<nodeBin> <n8nBin> <command>`. */
	readonly n8nBin: string;
	readonly version: string;
	/** How long provisioning took in this call (near zero when cached). */
	readonly durationMs: number;
	/** Whether this call had to install (false = served from the cache). */
	readonly installed: boolean;
}

let cached: Promise<N8nInstallation> | undefined;

/**
 * Ensures n8n and Node 24 are installed in the cache (first run ~5 min, later runs ~0 s) and returns where.
 * Runs the shell script so CI and humans share one install recipe; the script locks against concurrent installs.
 */
export function provisionN8n(): Promise<N8nInstallation> {
	cached ??= (async () => {
		const result = assertSucceeded(
			await runCommand('bash', [PROVISION_SCRIPT], {
				echoStderr: true,
				timeoutMs: 30 * 60_000,
				env: { ...process.env, N8N_VERSION },
			}),
		);
		const dir = result.stdout.trim().split('\n').pop() ?? '';
		const nodeBin = path.join(dir, 'node_modules', 'node', 'bin', 'node');
		const n8nBin = path.join(dir, 'node_modules', 'n8n', 'bin', 'n8n');
		for (const file of [nodeBin, n8nBin]) {
			if (!existsSync(file))
				throw new Error(
					`provision-n8n.sh reported ${dir} but ${file} is missing; delete ${dir} and re-run`,
				);
		}
		return {
			dir,
			nodeBin,
			n8nBin,
			version: N8N_VERSION,
			durationMs: result.durationMs,
			installed: result.stderr.includes('installing n8n@'),
		};
	})();
	return cached;
}
