import { spawn, type ChildProcess } from 'node:child_process';
import { track } from './cleanup';

export interface CommandResult {
	readonly command: string;
	readonly code: number | null;
	readonly signal: NodeJS.Signals | null;
	readonly stdout: string;
	readonly stderr: string;
	readonly durationMs: number;
}

export interface CommandOptions {
	readonly cwd?: string;
	readonly env?: NodeJS.ProcessEnv;
	readonly timeoutMs?: number;
	/** Stream stderr to ours as well (progress of long installs). */
	readonly echoStderr?: boolean;
}

/**
 * Kills a whole process group. Children are spawned `detached`, so the group id is the child's pid and
 * n8n's own children (the task runner) go down with it instead of being orphaned.
 */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// Already gone.
	}
}

function isAlive(pid: number): boolean {
	try {
		process.kill(-pid, 0);
		return true;
	} catch {
		return false;
	}
}

/** Runs a command to completion, capturing output; kills its process group on timeout or harness cleanup. */
export function runCommand(
	file: string,
	args: readonly string[],
	options: CommandOptions = {},
): Promise<CommandResult> {
	const started = Date.now();
	const command = [file, ...args].join(' ');
	return new Promise((resolve, reject) => {
		const child = spawn(file, args, {
			cwd: options.cwd,
			env: options.env ?? process.env,
			detached: true,
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		const pid = child.pid;
		if (pid === undefined) {
			reject(new Error(`could not start ${command}`));
			return;
		}
		const untrack = track({
			label: `command ${command} (pid ${pid})`,
			dispose: async () => killGroup(pid, 'SIGKILL'),
			disposeSync: () => killGroup(pid, 'SIGKILL'),
		});
		let stdout = '';
		let stderr = '';
		child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
		});
		child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
			stderr += chunk;
			if (options.echoStderr) process.stderr.write(chunk);
		});
		const timer =
			options.timeoutMs === undefined
				? undefined
				: setTimeout(() => {
						stderr += `\n[harness] timed out after ${options.timeoutMs} ms; killing process group ${pid}\n`;
						killGroup(pid, 'SIGKILL');
					}, options.timeoutMs);
		child.once('error', (error) => {
			if (timer) clearTimeout(timer);
			untrack();
			reject(error);
		});
		child.once('close', (code, signal) => {
			if (timer) clearTimeout(timer);
			// n8n CLI commands may leave a task runner behind when they exit abruptly; never leak it.
			killGroup(pid, 'SIGKILL');
			untrack();
			resolve({ command, code, signal, stdout, stderr, durationMs: Date.now() - started });
		});
	});
}

/** Throws with the command's output when it did not exit 0. */
export function assertSucceeded(result: CommandResult): CommandResult {
	if (result.code !== 0) {
		throw new Error(
			`${result.command} exited with ${result.code ?? result.signal}\n--- stdout (tail) ---\n${tail(result.stdout)}\n--- stderr (tail) ---\n${tail(result.stderr)}`,
		);
	}
	return result;
}

export function tail(text: string, lines = 40): string {
	return text.split('\n').slice(-lines).join('\n');
}

/** A long-running child (n8n start / worker) whose output is kept for diagnostics. */
export class ManagedProcess {
	private output = '';
	private readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	private exited = false;
	private readonly untrack: () => void;
	readonly pid: number;

	constructor(
		readonly label: string,
		child: ChildProcess,
	) {
		if (child.pid === undefined) throw new Error(`could not start ${label}`);
		const pid = child.pid;
		this.pid = pid;
		const append = (chunk: string): void => {
			// Keep the last ~200 kB: enough to diagnose a failed start without growing without bound.
			this.output = (this.output + chunk).slice(-200_000);
		};
		child.stdout?.setEncoding('utf8').on('data', append);
		child.stderr?.setEncoding('utf8').on('data', append);
		this.exitPromise = new Promise((resolve) => {
			child.once('exit', (code, signal) => {
				this.exited = true;
				resolve({ code, signal });
			});
		});
		this.untrack = track({
			label: `${label} (pid ${pid})`,
			dispose: () => this.stop(),
			disposeSync: () => killGroup(pid, 'SIGKILL'),
		});
	}

	get hasExited(): boolean {
		return this.exited;
	}

	get logs(): string {
		return this.output;
	}

	/** kill -9 of the whole group (a crash: nothing is flushed, no shutdown hook runs); resolves when all are gone. */
	async kill(): Promise<void> {
		if (!this.exited) killGroup(this.pid, 'SIGKILL');
		await this.stop(0);
	}

	/** SIGTERM to the group (n8n shuts down gracefully), SIGKILL after `graceMs`; resolves when all are gone. */
	async stop(graceMs = 15_000): Promise<void> {
		if (!this.exited) {
			killGroup(this.pid, 'SIGTERM');
			const timedOut = await Promise.race([
				this.exitPromise.then(() => false),
				new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
			]);
			if (timedOut) killGroup(this.pid, 'SIGKILL');
			await this.exitPromise;
		}
		// The leader may exit before its children (task runner): wait for the whole group to go.
		const deadline = Date.now() + 5_000;
		while (isAlive(this.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
		if (isAlive(this.pid)) killGroup(this.pid, 'SIGKILL');
		this.untrack();
	}
}

export function spawnManaged(
	label: string,
	file: string,
	args: readonly string[],
	options: { cwd?: string; env: NodeJS.ProcessEnv },
): ManagedProcess {
	const child = spawn(file, args, {
		cwd: options.cwd,
		env: options.env,
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	return new ManagedProcess(label, child);
}
