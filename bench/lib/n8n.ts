/**
 * A real n8n for the benchmarks, through the end-to-end test bed (harness/): n8n 2.x on Node 24 with its
 * own PostgreSQL database, our package installed from `npm pack` the way users install community nodes.
 * Adds what benchmarks need on top: the build, the main process id, and RSS sampling from /proc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { N8nInstance, psql, type CredentialJson, type WorkflowJson } from '../../harness';
import { onCleanup } from './cleanup';
import { descendants } from './cpu';
import { REPO_ROOT } from './results';

/** `npm run build`: the package n8n installs is the built tarball, so the bench measures the current sources. */
export async function buildPackage(log: (m: string) => void): Promise<void> {
	log('npm run build');
	const started = Date.now();
	await new Promise<void>((resolve, reject) => {
		const child = spawn('npm', ['run', 'build'], {
			cwd: REPO_ROOT,
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let out = '';
		child.stdout.on('data', (c: Buffer) => (out += c.toString()));
		child.stderr.on('data', (c: Buffer) => (out += c.toString()));
		child.once('error', reject);
		child.once('close', (code) =>
			code === 0
				? resolve()
				: reject(new Error(`npm run build failed (${code}):\n${out.slice(-3000)}`)),
		);
	});
	log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
}

export interface StartedN8n {
	n8n: N8nInstance;
	/** pid of `n8n start` (the process that runs executions in regular mode). */
	pid: number;
	dispose(): Promise<void>;
}

/** Creates an instance, installs our tarball, imports credentials and workflows, publishes the active ones, starts. */
export async function startN8n(options: {
	label: string;
	env?: Record<string, string>;
	credentials: CredentialJson[];
	workflows: WorkflowJson[];
	log: (m: string) => void;
}): Promise<StartedN8n> {
	const n8n = await N8nInstance.create({ label: options.label, env: options.env });
	const dispose = onCleanup(`n8n ${options.label}`, () => n8n.dispose());
	try {
		options.log(`n8n ${n8n.installation.version}: installing the package tarball`);
		await n8n.installPackage();
		if (options.credentials.length) await n8n.importCredentials(options.credentials);
		const activeIds: string[] = [];
		for (const { active, ...workflow } of options.workflows) {
			// A workflow started by a trigger of its own (no webhook node) registers no webhook to wait for.
			const hasWebhook = workflow.nodes.some(
				(n) => typeof n === 'object' && n !== null && 'webhookId' in n && Boolean(n.webhookId),
			);
			// Imported inactive, then published: the 2.x way to activate (the harness checks activeVersionId).
			const id = await n8n.importWorkflow({ ...workflow, active: false });
			if (active) {
				await n8n.publishWorkflow(id);
				if (hasWebhook) activeIds.push(id);
			}
		}
		options.log('starting n8n');
		await n8n.start();
		await waitForWebhooks(n8n, activeIds);
		options.log(
			`n8n ready in ${Math.round(n8n.lastStartMs / 1000)} s, webhooks of ${activeIds.length} active webhook workflow(s) registered`,
		);
		return { n8n, pid: listeningPid(n8n.port), dispose };
	} catch (error) {
		await dispose();
		throw error;
	}
}

/**
 * n8n answers /healthz before it has registered the webhooks of published workflows (its publication reconciler
 * re-enqueues them just after start-up), so a POST right after `start()` can get 404. Wait for webhook_entity.
 */
async function waitForWebhooks(
	n8n: N8nInstance,
	workflowIds: string[],
	timeoutMs = 60_000,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (const id of workflowIds) {
		for (;;) {
			const count = Number(
				await psql(
					n8n.database.database,
					`SELECT count(*) FROM webhook_entity WHERE "workflowId" = '${id}'`,
				),
			);
			if (count > 0) break;
			if (Date.now() > deadline)
				throw new Error(
					`n8n did not register the webhooks of workflow ${id} within ${timeoutMs} ms\n--- n8n log ---\n${n8n.mainLogs.split('\n').slice(-40).join('\n')}`,
				);
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
	}
}

/** The pid listening on a local TCP port (from `ss`), i.e. the n8n main process. */
export function listeningPid(port: number): number {
	const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
	const match = /pid=(\d+)/.exec(out);
	if (!match) throw new Error(`no process listens on port ${port}: ${out}`);
	return Number(match[1]);
}

function statusField(pid: number, field: string): number {
	try {
		const text = readFileSync(`/proc/${pid}/status`, 'utf8');
		const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
		return match ? Number(match[1]) * 1024 : 0;
	} catch {
		return 0;
	}
}

/** Samples the RSS of a process (and, separately, of it with its children, e.g. n8n's task runner) every `everyMs`. */
export class RssSampler {
	peakMain = 0;
	peakTree = 0;
	private timer: NodeJS.Timeout | undefined;

	constructor(
		private readonly pid: number,
		private readonly everyMs = 100,
	) {}

	start(): this {
		const sample = (): void => {
			const main = statusField(this.pid, 'VmRSS');
			const tree = descendants(this.pid).reduce((sum, p) => sum + statusField(p, 'VmRSS'), 0);
			this.peakMain = Math.max(this.peakMain, main);
			this.peakTree = Math.max(this.peakTree, tree);
		};
		sample();
		this.timer = setInterval(sample, this.everyMs);
		return this;
	}

	stop(): { peakMainBytes: number; peakTreeBytes: number; hwmBytes: number } {
		if (this.timer) clearInterval(this.timer);
		return {
			peakMainBytes: this.peakMain,
			peakTreeBytes: this.peakTree,
			hwmBytes: statusField(this.pid, 'VmHWM'),
		};
	}
}

export const MIB = 2 ** 20;

/** The last lines n8n printed, for errors that need them. */
export function n8nLogTail(started: StartedN8n, lines = 30): string {
	return started.n8n.mainLogs.split('\n').slice(-lines).join('\n');
}
