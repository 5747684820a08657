/**
 * The package inside a real n8n 2.40.7 (Node 24, PostgreSQL), installed the way users install it: `npm pack`, then
 * the community-package install path into ~/.n8n/nodes. One n8n instance serves the whole file to keep it fast.
 *
 * Run: `npm run test:e2e` (builds first) or `npx jest -c jest.e2e.config.js --runInBand` on an existing build.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
	disposeAll,
	jsonOf,
	N8nInstance,
	PACKAGE_NAME,
	REPO_ROOT,
	type InstalledPackage,
	type WorkflowJson,
} from '../../harness';
import { provisionN8n } from '../../harness/provision';

function loadWorkflow(file: string): WorkflowJson {
	return JSON.parse(readFileSync(path.join(__dirname, 'workflows', file), 'utf8')) as WorkflowJson;
}

/** Node and credential names of the public contract (docs/design.md); workflow JSON refers to them. */
const CONTRACT = {
	credentials: ['metaWhatsAppCloudApi'],
	nodes: [
		'whatsAppSendTemplate',
		'whatsAppCheckWindow',
		'whatsAppWebhookStatus',
		'whatsAppWebhookReceiver',
		'whatsAppJourneyReport',
	],
};

const manifest = z
	.object({ n8n: z.object({ nodes: z.array(z.string()), credentials: z.array(z.string()) }) })
	.parse(JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')));

const timings: Record<string, number> = {};
let n8n: N8nInstance;
let installed: InstalledPackage;
const webhookWorkflow = loadWorkflow('builtin-webhook-set.json');
/** Workflows importable before our nodes exist: n8n only needs a node type when it runs the workflow. */
const WORKFLOW_FILES = [
	'builtin-manual-set.json',
	'builtin-stop-and-error.json',
	'builtin-webhook-set.json',
	'check-window-never-wrote.json',
	'check-window-after-inbound.json',
];

beforeAll(async () => {
	const provisioned = await provisionN8n();
	timings[provisioned.installed ? 'provision (fresh install)' : 'provision (cached)'] =
		provisioned.durationMs;

	n8n = await N8nInstance.create({ label: 'package-loads' });
	installed = await n8n.installPackage();
	timings['npm pack + install into ~/.n8n/nodes'] = installed.durationMs;

	// One import for every workflow of this file: each n8n CLI call boots n8n (seconds), so batch.
	let started = Date.now();
	await n8n.importWorkflows(WORKFLOW_FILES.map(loadWorkflow));
	timings['import:workflow ×' + WORKFLOW_FILES.length + ' (first CLI call, runs DB migrations)'] =
		Date.now() - started;
	// Webhook workflows must be active before n8n starts: n8n 2.x registers production webhooks at startup.
	started = Date.now();
	await n8n.publishWorkflow(webhookWorkflow.id ?? '');
	timings['publish:workflow'] = Date.now() - started;

	await n8n.start();
	timings['n8n start → ready'] = n8n.lastStartMs;
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	const lines = Object.entries(timings).map(
		([step, ms]) => `  ${step}: ${(ms / 1000).toFixed(1)} s`,
	);
	// Printed for the report on e2e runtime; not asserted (timing assertions would make the suite flaky).
	console.log(
		`real-n8n e2e timings (n8n ${n8n?.installation.version ?? '?'}):\n${lines.join('\n')}`,
	);
}, 120_000);

describe('the harness drives a real n8n with built-in nodes', () => {
	it('runs an imported Manual Trigger → Set workflow with `n8n execute` and returns the Set output', async () => {
		const result = await n8n.execute(loadWorkflow('builtin-manual-set.json').id ?? '');
		timings['n8n execute (Manual Trigger → Set)'] = result.durationMs;

		// Not the exit code: n8n 2.40.7's CLI often segfaults while exiting after a complete run (see ExecuteResult).
		expect(result.run.status).toBe('success');
		expect(result.run.finished).toBe(true);
		const [item, ...rest] = jsonOf(result.data, 'Set greeting');
		expect(rest).toHaveLength(0);
		expect(item).toEqual({ greeting: expect.stringMatching(/^hello from n8n /), answer: 42 });
	});

	it('reports a failing workflow as an error with its message instead of passing', async () => {
		const result = await n8n.execute(loadWorkflow('builtin-stop-and-error.json').id ?? '');

		expect(result.run.status).toBe('error');
		expect(result.data.resultData.error?.message).toBe('e2e harness: deliberate failure');
		expect(() => jsonOf(result.data, 'Fail on purpose')).toThrow(
			/failed: e2e harness: deliberate failure/,
		);
	});

	it('serves a production webhook of an active workflow and records the run in the database', async () => {
		const afterId = await n8n.lastExecutionId();
		const response = await fetch(n8n.webhookUrl('e2e-builtin-echo'), {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ ping: 'pong-e2e' }),
		});
		expect(response.status).toBe(200);
		expect(await response.json()).toMatchObject({ echoed: 'pong-e2e' });

		const execution = await n8n.waitForExecution({ workflowId: webhookWorkflow.id, afterId });
		expect(execution).toMatchObject({ mode: 'webhook', status: 'success', finished: true });
		expect(jsonOf(execution.data, 'Echo')).toEqual([
			expect.objectContaining({ echoed: 'pong-e2e' }),
		]);
	});
});

describe('the package installed from its tarball', () => {
	it('ships every node and credential file that package.json declares to n8n', () => {
		const declared = [...manifest.n8n.nodes, ...manifest.n8n.credentials];
		const missing = declared.filter((file) => !installed.files.includes(file));
		// A missing file means `npm run build` did not produce it; n8n would then refuse to load the package.
		expect(missing).toEqual([]);
		for (const file of declared)
			expect(existsSync(path.join(installed.directory, file))).toBe(true);
	});

	it('installs exactly its declared runtime dependencies, never n8n-workflow, which must resolve to n8n’s own copy', () => {
		const installedManifest = z
			.object({
				dependencies: z.record(z.string()).optional(),
				peerDependencies: z.unknown().optional(),
			})
			.parse(JSON.parse(readFileSync(path.join(installed.directory, 'package.json'), 'utf8')));
		// n8n's installer strips peer dependencies, so n8n-workflow comes from n8n via NODE_PATH.
		expect(installedManifest.peerDependencies).toBeUndefined();
		for (const dependency of Object.keys(installedManifest.dependencies ?? {})) {
			expect(
				existsSync(path.join(installed.directory, 'node_modules', dependency, 'package.json')),
			).toBe(true);
		}
		expect(existsSync(path.join(installed.directory, 'node_modules', 'n8n-workflow'))).toBe(false);
	});

	it('is listed by the running n8n with the contract names of its nodes and credential', async () => {
		const nodeNames = (await n8n.nodeTypes()).map((node) => node.name);
		const ours = nodeNames.filter((name) => name.startsWith(`${PACKAGE_NAME}.`));
		// n8n adds a `<name>Tool` variant of every node marked usableAsTool (for AI agents), and a `<name>HitlTool`
		// (human in the loop) of one with a Send and Wait operation; the rest is our contract.
		const isToolVariant = (name: string): boolean =>
			['HitlTool', 'Tool'].some(
				(suffix) => name.endsWith(suffix) && ours.includes(name.slice(0, -suffix.length)),
			);
		const base = ours.filter((name) => !isToolVariant(name)).sort();
		const expected = CONTRACT.nodes.map((name) => `${PACKAGE_NAME}.${name}`).sort();
		if (JSON.stringify(base) !== JSON.stringify(expected)) {
			// Say why: n8n logs the require() error of a package it could not load.
			const said = n8n.mainLogs
				.split('\n')
				.filter((line) => /package|load|Cannot find|Error/i.test(line));
			throw new Error(
				`n8n lists [${ours.join(', ')}], expected [${expected.join(', ')}]. n8n said:\n${said.slice(-30).join('\n')}`,
			);
		}
		// Sanity: the list is n8n's real catalogue, not an empty or filtered response.
		expect(nodeNames).toContain('n8n-nodes-base.set');

		const credentials = z
			.array(z.object({ name: z.string() }).passthrough())
			.parse(await n8n.rest('GET', '/types/credentials.json'));
		expect(credentials.map((credential) => credential.name)).toEqual(
			expect.arrayContaining(CONTRACT.credentials),
		);
	});
});

/**
 * Our own nodes executed by n8n. Runs once `npm run build` produces the node file; until then jest reports it as
 * skipped (visible in the summary), never as passed. Extend here as the nodes settle.
 */
const checkWindowBuilt = existsSync(
	path.join(REPO_ROOT, 'dist', 'nodes', 'WhatsAppCheckWindow', 'WhatsAppCheckWindow.node.js'),
);
(checkWindowBuilt ? describe : describe.skip)(
	'WhatsApp Check Conversation Window inside n8n',
	() => {
		const OPEN = 0;
		const CLOSED = 1;

		beforeAll(async () => {
			await n8n.importCredentials([
				{
					id: 'e2eMetaCredent01',
					name: 'Meta WhatsApp (e2e, never called)',
					type: 'metaWhatsAppCloudApi',
					// Checking the window reads the journey state store, never Meta: the token is a dummy on purpose.
					data: {
						accessToken: 'e2e-token-not-real',
						phoneNumberId: '100000000000001',
						wabaId: '200000000000002',
						apiVersion: 'v25.0',
					},
				},
			]);
		}, 120_000);

		it('routes customers who never wrote to the Closed output, each with a closed window', async () => {
			const result = await n8n.execute(loadWorkflow('check-window-never-wrote.json').id ?? '');
			timings['n8n execute (Code → Check Window)'] = result.durationMs;

			expect(result.data.resultData.error?.message).toBeUndefined();
			expect(result.run.status).toBe('success');
			expect(jsonOf(result.data, 'Check Window', { output: OPEN })).toEqual([]);
			const closed = jsonOf(result.data, 'Check Window', { output: CLOSED });
			expect(closed.map((item) => item.whatsappWindow)).toEqual([
				expect.objectContaining({
					waId: '447911123456',
					phoneNumberId: '100000000000001',
					open: false,
					secondsLeft: 0,
				}),
				expect.objectContaining({
					waId: '447911123457',
					phoneNumberId: '100000000000001',
					open: false,
					secondsLeft: 0,
				}),
			]);
			// The input fields travel on, so the journey still knows who the item is.
			expect(closed.map((item) => item.phone)).toEqual(['+44 7911 123456', '447911123457']);
		});

		it('opens the 24-hour window after Record Inbound Message, through the embedded store in the n8n user folder', async () => {
			const result = await n8n.execute(loadWorkflow('check-window-after-inbound.json').id ?? '');

			expect(result.data.resultData.error?.message).toBeUndefined();
			expect(result.run.status).toBe('success');
			expect(jsonOf(result.data, 'Check Window', { output: CLOSED })).toEqual([]);
			const [opened, ...more] = jsonOf(result.data, 'Check Window', { output: OPEN });
			expect(more).toEqual([]);
			const window = z
				.object({
					waId: z.string(),
					open: z.boolean(),
					secondsLeft: z.number(),
					closesAt: z.string(),
					lastInboundAt: z.string(),
				})
				.parse(opened?.whatsappWindow);
			expect(window).toMatchObject({ waId: '447911123458', open: true });
			// Recorded moments ago: close to the full 24 h are left.
			expect(window.secondsLeft).toBeGreaterThan(24 * 3600 - 600);
			expect(window.secondsLeft).toBeLessThanOrEqual(24 * 3600);
			expect(Date.parse(window.closesAt) - Date.parse(window.lastInboundAt)).toBe(24 * 3600 * 1000);
		});
	},
);
