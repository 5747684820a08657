import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(__dirname, '../..');
const NODE = join(ROOT, 'node_modules/.bin/node');

function runCli(
	args: string[],
	env: Record<string, string> = {},
): {
	child: ChildProcess;
	firstLine: Promise<string>;
	stderr: () => string;
} {
	const child = spawn(NODE, ['-r', 'ts-node/register/transpile-only', 'sandbox/cli.ts', ...args], {
		cwd: ROOT,
		env: { ...process.env, ...env },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let stderr = '';
	child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	const firstLine = new Promise<string>((resolveLine, reject) => {
		const lines = createInterface({ input: child.stdout! });
		lines.once('line', resolveLine);
		child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${stderr}`)));
	});
	return { child, firstLine, stderr: () => stderr };
}

function stop(child: ChildProcess): Promise<void> {
	return new Promise((resolveExit) => {
		if (child.exitCode !== null) return resolveExit();
		child.once('exit', () => resolveExit());
		child.kill('SIGTERM');
	});
}

describe('sandbox CLI', () => {
	jest.setTimeout(60_000);

	it('prints exactly one JSON line with the URL on stdout once it listens, and serves the API there', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
		const templates = join(dir, 'templates.json');
		writeFileSync(
			templates,
			JSON.stringify([
				{
					id: '77',
					name: 'cli_only',
					language: 'en_US',
					status: 'APPROVED',
					category: 'UTILITY',
					components: [{ type: 'BODY', text: 'Hello' }],
				},
			]),
		);
		const { child, firstLine } = runCli([
			'--port',
			'0',
			'--token',
			'cli-token',
			'--templates',
			templates,
			'--waba-id',
			'555000111',
		]);
		try {
			const line = await firstLine;
			const parsed = JSON.parse(line) as { url: string; token: string; controlToken: string };
			expect(Object.keys(parsed)).toEqual(['url', 'token', 'controlToken']);
			expect(parsed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
			expect(parsed.token).toBe('cli-token');
			const res = await fetch(`${parsed.url}/v25.0/555000111/message_templates`, {
				headers: { authorization: 'Bearer cli-token' },
			});
			expect(res.status).toBe(200);
			const body = (await res.json()) as { data: Array<{ name: string }> };
			expect(body.data.map((t) => t.name)).toEqual(['cli_only']);
		} finally {
			await stop(child);
		}
	});

	it('prints a random access token and control token, keeps both out of its log, and the control API takes only the printed one', async () => {
		const { child, firstLine, stderr } = runCli(['--port', '0'], { SANDBOX_CONTROL_TOKEN: '' });
		try {
			const { url, token, controlToken } = JSON.parse(await firstLine) as {
				url: string;
				token: string;
				controlToken: string;
			};
			expect(token).toMatch(/^[\w-]{32}$/);
			expect(controlToken).toMatch(/^[\w-]{32}$/);
			expect(token).not.toBe(controlToken);
			expect((await fetch(`${url}/__sandbox`)).status).toBe(401);
			const summary = await fetch(`${url}/__sandbox`, {
				headers: { authorization: `Bearer ${controlToken}` },
			});
			expect(summary.status).toBe(200);
			const phone = await fetch(`${url}/v25.0/106540352242922`, {
				headers: { authorization: `Bearer ${token}` },
			});
			expect(phone.status).toBe(200);
			expect(stderr()).toContain('listening on');
			expect(stderr()).not.toContain(token);
			expect(stderr()).not.toContain(controlToken);
		} finally {
			await stop(child);
		}
	});

	it('takes the control token from SANDBOX_CONTROL_TOKEN', async () => {
		const { child, firstLine } = runCli(['--port', '0'], {
			SANDBOX_CONTROL_TOKEN: 'control-token-from-env-123',
		});
		try {
			const { url, controlToken } = JSON.parse(await firstLine) as {
				url: string;
				controlToken: string;
			};
			expect(controlToken).toBe('control-token-from-env-123');
			const summary = await fetch(`${url}/__sandbox`, {
				headers: { authorization: 'Bearer control-token-from-env-123' },
			});
			expect(summary.status).toBe(200);
		} finally {
			await stop(child);
		}
	});

	it('exits with a clear message on a bad option', async () => {
		const { firstLine, stderr } = runCli(['--mps', 'lots']);
		await expect(firstLine).rejects.toThrow(/--mps must be a number/);
		expect(stderr()).toContain('Usage: npm run sandbox');
	});
});
