/** Starts bench/sandbox-server.ts as a child process and talks to its control API. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { SandboxOptionsInput } from '../../sandbox';
import { onCleanup } from './cleanup';
import { REPO_ROOT } from './results';

export interface SandboxProcess {
	url: string;
	tlsPort?: number;
	/** Every /__sandbox/ request carries it; `control` does. */
	controlToken: string;
	pid: number;
	control<T = unknown>(route: string, body?: unknown): Promise<T>;
	stop(): Promise<void>;
}

export interface SandboxProcessOptions extends SandboxOptionsInput {
	tls?: { host?: string; port: number; certFile: string; keyFile: string };
}

/** Node 24 from node_modules (npm scripts put it first on PATH; this works outside npm too). */
export const NODE_BIN = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');

export async function startSandboxProcess(options: SandboxProcessOptions): Promise<SandboxProcess> {
	const child: ChildProcess = spawn(
		NODE_BIN,
		[
			'-r',
			'ts-node/register/transpile-only',
			path.join('bench', 'sandbox-server.ts'),
			JSON.stringify(options),
		],
		{
			cwd: REPO_ROOT,
			stdio: ['pipe', 'pipe', 'pipe'],
		},
	);
	if (child.pid === undefined) throw new Error('could not start the sandbox process');
	const pid = child.pid;
	let stderr = '';
	child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	const killSync = (): void => {
		try {
			process.kill(pid, 'SIGKILL');
		} catch {
			// already gone
		}
	};
	const stop = onCleanup(
		`sandbox pid ${pid}`,
		async () => {
			child.kill('SIGTERM');
			const timer = setTimeout(killSync, 5000);
			await exited;
			clearTimeout(timer);
		},
		killSync,
	);
	const first = await new Promise<string>((resolve, reject) => {
		let out = '';
		const onData = (c: Buffer): void => {
			out += c.toString('utf8');
			const nl = out.indexOf('\n');
			if (nl >= 0) {
				child.stdout!.off('data', onData);
				resolve(out.slice(0, nl));
			}
		};
		child.stdout!.on('data', onData);
		child.once('exit', (code) =>
			reject(new Error(`sandbox exited (${code}) before listening: ${stderr.trim().slice(-800)}`)),
		);
	});
	const { url, tlsPort, controlToken } = JSON.parse(first) as {
		url: string;
		tlsPort?: number;
		controlToken: string;
	};
	const control = async <T>(route: string, body?: unknown): Promise<T> => {
		const response = await fetch(`${url}/__sandbox${route ? `/${route}` : ''}`, {
			method: body === undefined ? 'GET' : 'POST',
			headers: { 'content-type': 'application/json', authorization: `Bearer ${controlToken}` },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		if (!response.ok)
			throw new Error(`sandbox control ${route}: HTTP ${response.status} ${await response.text()}`);
		return (await response.json()) as T;
	};
	return { url, tlsPort, controlToken, pid, control, stop };
}

export interface SandboxMessage {
	id: string;
	waId: string;
	to: string;
	acceptedAt: number;
	template?: { name: string; language: string };
}

/** Messages the sandbox accepted (answered 200), oldest first. */
export async function acceptedMessages(sandbox: SandboxProcess): Promise<SandboxMessage[]> {
	const { data } = await sandbox.control<{ data: SandboxMessage[] }>('messages');
	return data;
}

export interface SandboxRequest {
	at: number;
	method: string;
	path: string;
	httpStatus: number;
	code?: number;
}

export async function sandboxRequests(sandbox: SandboxProcess): Promise<SandboxRequest[]> {
	const { data } = await sandbox.control<{ data: SandboxRequest[] }>('requests');
	return data;
}
