/**
 * `npm run demo -- --n8n-url <url> --api-key <key>`: the example journeys in an n8n the user already runs, driven
 * only through n8n's public API. The "user's n8n" is a real n8n 2.x with the package installed and an API key
 * created the way the editor creates one; the demo runs as the user runs it (its own process), and the test checks
 * the report, that the demo's workflows were live while it ran, and that afterwards nothing it created is left —
 * after a normal Ctrl-C, a Ctrl-C in the middle of the setup, and a refused key.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { N8nInstance, REPO_ROOT, disposeAll, psql } from '../../harness';
import { cleanNpmEnv } from '../../harness/package';
import { expectDemoJourneysBehaved, type DemoOutcome } from '../../harness/demo-report';

let n8n: N8nInstance;
let apiKey = '';

interface DemoProcess {
	readonly stdout: () => string;
	readonly stderr: () => string;
	waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void>;
	kill(signal: NodeJS.Signals): void;
	readonly exited: Promise<number | null>;
}

/** Demos still running when the suite ends (a failed assertion skips the test's own Ctrl-C): killed in afterAll. */
const running = new Set<ReturnType<typeof spawn>>();

/** The demo as a user starts it (`npm run demo -- ...` minus the build step, done once before the suite). */
function startDemo(args: string[], env: Record<string, string> = {}): DemoProcess {
	const childEnv = cleanNpmEnv();
	delete childEnv.N8N_URL;
	delete childEnv.N8N_API_KEY;
	delete childEnv.CI;
	const child = spawn(
		process.execPath,
		['-r', 'ts-node/register/transpile-only', path.join('examples', 'demo.ts'), ...args],
		{
			cwd: REPO_ROOT,
			env: { ...childEnv, ...env },
			stdio: ['ignore', 'pipe', 'pipe'],
		},
	);
	running.add(child);
	child.once('exit', () => running.delete(child));
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
	child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	const exited = new Promise<number | null>((resolve) =>
		child.once('exit', (code) => resolve(code)),
	);
	return {
		stdout: () => stdout,
		stderr: () => stderr,
		kill: (signal) => void child.kill(signal),
		exited,
		async waitForStderr(pattern, timeoutMs) {
			const deadline = Date.now() + timeoutMs;
			while (!pattern.test(stderr)) {
				if (child.exitCode !== null || Date.now() > deadline) {
					throw new Error(
						`demo ${child.exitCode !== null ? `exited ${child.exitCode}` : 'timed out'} before printing ${pattern}\n--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`,
					);
				}
				await new Promise((r) => setTimeout(r, 250));
			}
		},
	};
}

/** Waits for the demo to end with `code`; otherwise fails with what it printed. */
async function expectExit(demo: DemoProcess, code: number): Promise<void> {
	const exit = await demo.exited;
	if (exit !== code)
		throw new Error(
			`demo exited ${exit}, expected ${code}\n--- stderr ---\n${demo.stderr()}\n--- stdout ---\n${demo.stdout()}`,
		);
}

/** What the demo may leave in n8n: its own rows (by name) and totals, read from n8n's database. */
async function leftovers(): Promise<{
	demoWorkflows: number;
	demoCredentials: number;
	workflows: number;
	credentials: number;
	webhooks: number;
	executions: number;
}> {
	const count = async (sql: string) => Number(await psql(n8n.database.database, sql));
	return {
		demoWorkflows: await count(`SELECT count(*) FROM workflow_entity WHERE name LIKE '[demo]%'`),
		demoCredentials: await count(
			`SELECT count(*) FROM credentials_entity WHERE name LIKE '[demo]%'`,
		),
		workflows: await count('SELECT count(*) FROM workflow_entity'),
		credentials: await count('SELECT count(*) FROM credentials_entity'),
		webhooks: await count('SELECT count(*) FROM webhook_entity'),
		executions: await count('SELECT count(*) FROM execution_entity'),
	};
}

beforeAll(async () => {
	n8n = await N8nInstance.create({ label: 'demo-existing' });
	await n8n.installPackage();
	await n8n.start();
	apiKey = await n8n.createApiKey('demo e2e');
}, 20 * 60_000);

afterAll(async () => {
	for (const child of running) child.kill('SIGKILL');
	await disposeAll();
}, 120_000);

describe('npm run demo -- --n8n-url (an n8n the user already has)', () => {
	it('refuses a wrong API key, says where to create one, and creates nothing', async () => {
		const before = await leftovers();
		const demo = startDemo(['--n8n-url', n8n.baseUrl, '--api-key', 'not-a-key', '--exit']);
		await expectExit(demo, 1);
		expect(demo.stderr()).toMatch(/refused the API key \(HTTP 401\).*Settings → n8n API/);
		expect(await leftovers()).toEqual(before);
	}, 120_000);

	it(
		'runs the journeys through the public API, reports them, and removes everything it created on Ctrl-C',
		async () => {
			const before = await leftovers();
			// The URL and key from the environment, as CI would pass secrets.
			const demo = startDemo(['--json'], { N8N_URL: n8n.baseUrl, N8N_API_KEY: apiKey });
			await demo.waitForStderr(/Ctrl-C deactivates and deletes them/, 10 * 60_000);
			expect(demo.stderr()).toMatch(
				/sandbox \(fake Cloud API\) listening on 127\.0\.0\.1, port \d+; n8n must reach it at http:\/\/127\.0\.0\.1:\d+/,
			);

			expectDemoJourneysBehaved(
				JSON.parse(demo.stdout().trim().split('\n').pop() ?? '{}') as DemoOutcome,
			);

			// While it waits for Ctrl-C, the user sees the demo's workflows active in their n8n, with the executions.
			const live = (
				await psql(
					n8n.database.database,
					`SELECT name || ' | ' || ("activeVersionId" IS NOT NULL) FROM workflow_entity WHERE name LIKE '[demo]%'`,
				)
			).split('\n');
			expect(live.sort()).toEqual([
				'[demo] WhatsApp journey: abandoned-cart campaign | true',
				'[demo] WhatsApp journey: appointment reminder (send and wait) | true',
				'[demo] WhatsApp journey: delivery-failure follow-up | true',
				'[demo] WhatsApp journey: one-time password | true',
				'[demo] WhatsApp journey: order confirmation | true',
				'[demo] WhatsApp journey: report | true',
				'[demo] WhatsApp journey: status sink | true',
			]);
			expect((await leftovers()).demoCredentials).toBe(1);

			demo.kill('SIGINT');
			await expectExit(demo, 0);
			expect(demo.stderr()).toMatch(/deleted credential/);
			// Workflows (with their webhooks and executions) and the credential are gone; nothing else was touched.
			expect(await leftovers()).toEqual(before);
		},
		15 * 60_000,
	);

	it(
		'Ctrl-C during the setup removes what was created so far',
		async () => {
			const before = await leftovers();
			const demo = startDemo(['--n8n-url', n8n.baseUrl, '--api-key', apiKey, '--exit']);
			await demo.waitForStderr(/created and activated workflow/, 5 * 60_000);
			demo.kill('SIGINT');
			await expectExit(demo, 130);
			expect(demo.stderr()).toMatch(/SIGINT: removing what the demo created/);
			expect(await leftovers()).toEqual(before);
		},
		10 * 60_000,
	);
});

describe('npm run demo -- --n8n-url against an n8n without the package', () => {
	it(
		'tells the user to install the community package and creates nothing',
		async () => {
			const bare = await N8nInstance.create({ label: 'demo-bare' });
			try {
				await bare.start();
				const key = await bare.createApiKey('demo e2e');
				const demo = startDemo(['--n8n-url', bare.baseUrl, '--api-key', key, '--exit']);
				await expectExit(demo, 1);
				expect(demo.stderr()).toMatch(
					/does not have the community package n8n-nodes-whatsapp-journeys installed.*Settings → Community Nodes → Install/,
				);
				expect(await psql(bare.database.database, 'SELECT count(*) FROM workflow_entity')).toBe(
					'0',
				);
				expect(await psql(bare.database.database, 'SELECT count(*) FROM credentials_entity')).toBe(
					'0',
				);
			} finally {
				await bare.dispose();
			}
		},
		10 * 60_000,
	);
});
