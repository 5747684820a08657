/**
 * `npm run docs:screenshots`: real screenshots of our nodes in the real n8n editor, for the docs.
 *
 * It starts the Cloud API sandbox, provisions n8n through the end-to-end harness (cached after the first run),
 * installs the packed package the way n8n installs community packages, imports the credential and the example
 * workflows, starts n8n and drives its editor with the Debian Chromium (headless, through playwright-core).
 * The template picker and variable mapper therefore show what the sandbox's template registry really returns.
 * For the Journey Report's output pane it first plays `npm run demo`'s order confirmation (Ben: template, read; Eve:
 * undeliverable, 131026) through active copies of the order and status-sink journeys, so the report node counts real
 * sends and statuses from the state store.
 * Output: docs/screenshots/*.png. CI does not run this; run it by hand when the nodes or n8n change.
 *
 * Secrets: the credential holds sandbox-only values, n8n sends password fields to the browser redacted, and each
 * page is checked for the secret strings before it is captured; a hit aborts the run without writing the image.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Page } from 'playwright-core';

import { startSandbox } from '../sandbox';
import type { Sandbox } from '../sandbox';
import { N8nInstance, REPO_ROOT, disposeAll } from '../harness';
import type { WorkflowJson } from '../harness';
import {
	VIEWPORT,
	canvasNode,
	chooseLocatorMode,
	closeN8nNode as closeNode,
	launchBrowser,
	openN8nNode as openNode,
	openN8nWorkflow,
	requireChromium,
} from '../harness/browser';
import type { BrowserSession } from '../harness/browser';
import { CUSTOMERS } from '../examples/demo';
import { APPOINTMENT_TEMPLATE } from '../sandbox/fixtures/appointmentReminder';

const OUT_DIR = path.join(REPO_ROOT, 'docs', 'screenshots');
/** The examples reference this credential id; the name is what the editor shows. */
const CREDENTIAL = { id: 'wjSandboxCred01', name: 'WhatsApp Cloud API (sandbox)' };
/** Sandbox-only values; still treated as secrets so the check below guards the real thing too. */
const VERIFY_TOKEN = 'docs-screenshots-verify-token';

const UI_TIMEOUT_MS = 60_000;
const log = (line: string): void => void process.stderr.write(`screenshots: ${line}\n`);

export interface ScreenshotTarget {
	/** n8n's base URL, e.g. http://127.0.0.1:5678 */
	readonly baseUrl: string;
	/** `n8n-auth=<jwt>` of a signed-in user (the harness's owner). */
	readonly authCookie: string;
	readonly workflows: {
		readonly orderConfirmation: string;
		readonly statusSink: string;
		/** The same journey with a sample order pinned on its trigger, so single steps can run in the editor. */
		readonly orderWithSample: string;
		readonly appointmentReminder: string;
		/** journey-report.json with a request pinned on its webhook, so the editor can run it. */
		readonly journeyReport: string;
	};
	readonly credentialId: string;
	/** Strings that must never be visible in a captured page. */
	readonly secrets: readonly string[];
}

export interface Shot {
	/** The images one step writes (a failed step may have written some of them). */
	readonly files: readonly string[];
	readonly ok: boolean;
	readonly error?: string;
}

function loadExample(file: string): WorkflowJson {
	return JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', file), 'utf8')) as WorkflowJson;
}

/**
 * A copy of the order journey whose webhook trigger has a sample order pinned (what a user does with "set mock
 * data"): "Execute step" on Check Window then routes a real item, and Send Template's input shows its fields.
 * Ben never wrote to the business, so his window is closed.
 */
function withSampleOrder(order: WorkflowJson): WorkflowJson {
	const body = {
		phone: '+49 30 1234567',
		name: 'Ben',
		orderId: 'A-1042',
		deliveryDate: '12 March',
	};
	return {
		...order,
		id: 'wjDocsOrderSample1',
		pinData: {
			'Order placed': [
				{ json: { headers: { 'content-type': 'application/json' }, params: {}, query: {}, body } },
			],
		},
	};
}

/** journey-report.json with an empty request pinned on its webhook: "Execute workflow" in the editor runs the report. */
function withSampleRequest(report: WorkflowJson): WorkflowJson {
	return {
		...report,
		id: 'wjDocsReportSample1',
		pinData: {
			'Report requested': [
				{
					json: {
						headers: { 'content-type': 'application/json' },
						params: {},
						query: {},
						body: {},
					},
				},
			],
		},
	};
}

/**
 * A live copy of an example (own id, fresh webhook ids), activated to play the demo's data in; the example workflows
 * the other shots show stay as a user imports them (inactive).
 */
function liveCopy(workflow: WorkflowJson, id: string): WorkflowJson {
	const nodes = (workflow.nodes as Array<Record<string, unknown>>).map((node) =>
		node.webhookId ? { ...node, webhookId: randomUUID() } : node,
	);
	return { ...workflow, id, name: `${workflow.name} (live)`, nodes } as WorkflowJson;
}

function webhookIdOf(workflow: WorkflowJson, nodeName: string): string {
	const node = (workflow.nodes as Array<{ name: string; webhookId?: string }>).find(
		(n) => n.name === nodeName,
	);
	if (!node?.webhookId) throw new Error(`${workflow.name}: no webhook node ${nodeName}`);
	return node.webhookId;
}

const LIVE_ORDER_ID = 'wjDocsOrderLive01';
const LIVE_SINK_ID = 'wjDocsSinkLive001';

/** Sandbox + real n8n with our package, the credential and the example workflows; n8n started, demo data played. */
export async function startTestBed(): Promise<{
	target: ScreenshotTarget;
	sandbox: Sandbox;
	n8n: N8nInstance;
}> {
	log('provisioning n8n (cached after the first run)');
	const n8n = await N8nInstance.create({ label: 'screenshots' });
	const liveSink = liveCopy(loadExample('status-sink.json'), LIVE_SINK_ID);
	log('starting the Cloud API sandbox');
	// Meta's callback for the number: the live status sink, which records statuses in the state store for the report.
	const sandbox = await startSandbox({
		callbackUrl: n8n.webhookUrl(`${webhookIdOf(liveSink, 'Every status')}/whatsapp`),
		pairRateMs: 0,
		statusDelayMs: 200,
	});
	try {
		await sandbox.control('templates', APPOINTMENT_TEMPLATE);
		await sandbox.control('faults', { recipientFailures: { [CUSTOMERS.eve.waId]: 131026 } });
		const started = await startN8n(sandbox, n8n, liveSink);
		await playOrders(started.n8n, liveSink);
		return { sandbox, ...started };
	} catch (error) {
		await sandbox.close(); // n8n itself is released by the harness's disposeAll()
		throw error;
	}
}

/** The demo's order confirmation for Ben (window closed: template, read) and Eve (131026), until the statuses are in. */
async function playOrders(n8n: N8nInstance, liveSink: WorkflowJson): Promise<void> {
	log("playing the demo's order confirmations (Ben, Eve) for the report");
	const url = n8n.webhookUrl('order-placed');
	// n8n reports ready before it registers active workflows' webhooks; until then it answers 404.
	await n8n.waitForWebhook(`${webhookIdOf(liveSink, 'Every status')}/whatsapp`);
	for (const c of [CUSTOMERS.ben, CUSTOMERS.eve]) {
		const answer = await fetch(url, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({
				phone: c.phone,
				name: c.name,
				orderId: `A-${c.waId.slice(-4)}`,
				deliveryDate: '12 March',
			}),
		});
		if (answer.status !== 200)
			throw new Error(`the order webhook answered ${answer.status}: ${await answer.text()}`);
	}
	// Quiet for 5 s (no new or unfinished executions): the sends and their statuses are recorded.
	let last = -1;
	let quietSince = Date.now();
	const deadline = Date.now() + 120_000;
	while (Date.now() < deadline) {
		const runs = await n8n.executions();
		const busy = runs.some((r) => !['success', 'error', 'crashed', 'canceled'].includes(r.status));
		if (runs.length !== last || busy) {
			last = runs.length;
			quietSince = Date.now();
		} else if (Date.now() - quietSince > 5_000) {
			if (!runs.some((r) => r.workflowId === LIVE_SINK_ID))
				throw new Error('the status sink received no status');
			return;
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	throw new Error('the order journeys did not settle within 2 minutes');
}

async function startN8n(
	sandbox: Sandbox,
	n8n: N8nInstance,
	liveSink: WorkflowJson,
): Promise<{ target: ScreenshotTarget; n8n: N8nInstance }> {
	const { token, appSecret, phoneNumberId, wabaId } = sandbox.config;
	log('installing the package into ~/.n8n/nodes');
	await n8n.installPackage();
	await n8n.importCredentials([
		{
			...CREDENTIAL,
			type: 'metaWhatsAppCloudApi',
			data: {
				accessToken: token,
				phoneNumberId,
				wabaId,
				appSecret,
				verifyToken: VERIFY_TOKEN,
				apiVersion: 'v25.0',
				baseUrl: sandbox.url,
			},
		},
	]);
	const order = loadExample('order-confirmation.json');
	const [orderConfirmation, statusSink, orderWithSample, appointmentReminder, journeyReport] =
		await n8n.importWorkflows([
			order,
			loadExample('status-sink.json'),
			withSampleOrder(order),
			loadExample('appointment-reminder.json'),
			withSampleRequest(loadExample('journey-report.json')),
			liveCopy(order, LIVE_ORDER_ID),
			liveSink,
		]);
	await n8n.publishWorkflow(LIVE_ORDER_ID);
	await n8n.publishWorkflow(LIVE_SINK_ID);
	log('starting n8n (a minute or more on a busy machine)');
	await n8n.start({ timeoutMs: 300_000 });
	const authCookie = await n8n.ownerCookie();
	return {
		n8n,
		target: {
			baseUrl: n8n.baseUrl,
			authCookie,
			workflows: {
				orderConfirmation: orderConfirmation ?? '',
				statusSink: statusSink ?? '',
				orderWithSample: orderWithSample ?? '',
				appointmentReminder: appointmentReminder ?? '',
				journeyReport: journeyReport ?? '',
			},
			credentialId: CREDENTIAL.id,
			secrets: [token, appSecret, VERIFY_TOKEN],
		},
	};
}

/** Fails when any secret appears in the page's markup (text and attributes), its visible text or an input's value. */
async function assertNoSecrets(page: Page, secrets: readonly string[]): Promise<void> {
	const inputs = await page.locator('input, textarea').all();
	const values = await Promise.all(
		inputs.map((input) => input.inputValue({ timeout: 2_000 }).catch(() => '')),
	);
	const haystack = [await page.content(), await page.locator('body').innerText(), ...values].join(
		'\n',
	);
	const found = secrets.filter((secret) => haystack.includes(secret));
	if (found.length > 0)
		throw new Error(`${found.length} secret value(s) visible on the page; refusing to capture it`);
}

async function openWorkflow(
	page: Page,
	target: ScreenshotTarget,
	workflowId: string,
	nodeCount: number,
): Promise<void> {
	await openN8nWorkflow(page, target.baseUrl, workflowId, nodeCount);
}

/** Stays on the workflow when it is already open (keeps the editor's run data of earlier steps), else opens it. */
async function onWorkflow(
	page: Page,
	target: ScreenshotTarget,
	workflowId: string,
	nodeCount: number,
): Promise<void> {
	if (!page.url().includes(`/workflow/${workflowId}`))
		return openWorkflow(page, target, workflowId, nodeCount);
	if (await page.locator('[data-test-id="ndv"]').isVisible()) await closeNode(page);
}

/**
 * Drags the right edge of the parameters panel so long labels (the mapper's "Body {{3}} — e.g. 12 March") are not
 * cut. Cosmetic: when n8n's layout changes and the handle is not found, the shot is taken at the default width.
 */
async function widenParameters(page: Page, byPx: number): Promise<void> {
	for (const handle of await page
		.locator('[data-test-id="ndv"] [data-test-id="resize-handle"]')
		.all()) {
		const box = await handle.boundingBox();
		const cls = (await handle.getAttribute('class')) ?? '';
		if (!box || box.width === 0 || !/right/i.test(cls) || box.x < VIEWPORT.width / 2) continue;
		const x = box.x + box.width / 2;
		const y = box.y + box.height / 2;
		await page.mouse.move(x, y);
		await page.mouse.down();
		await page.mouse.move(x + byPx / 2, y, { steps: 5 });
		await page.mouse.move(x + byPx, y, { steps: 5 });
		await page.mouse.up();
		await page.waitForTimeout(500);
		return;
	}
	log('  (parameters panel resize handle not found; keeping the default width)');
}

async function capture(page: Page, target: ScreenshotTarget, file: string): Promise<void> {
	// Toasts ("Node executed successfully") would cover part of the panel.
	for (const close of await page.locator('.el-notification__closeBtn').all())
		await close.click({ timeout: 2_000 }).catch(() => undefined);
	await page.mouse.move(VIEWPORT.width / 2, 2); // park the pointer: no hover tooltips in the picture
	await page.waitForTimeout(600);
	await assertNoSecrets(page, target.secrets);
	await page.screenshot({ path: path.join(OUT_DIR, file), animations: 'disabled' });
	log(`wrote docs/screenshots/${file}`);
}

/** The template the example journey uses, as the sandbox lists it in the picker. */
const TEMPLATE_LIST_ENTRY = 'order_confirmation (en_US) · utility';

interface Step {
	readonly files: readonly string[];
	run(page: Page): Promise<void>;
}

function steps(target: ScreenshotTarget): Step[] {
	return [
		{
			files: ['journey-order-confirmation.png'],
			run: async (page) => {
				await openWorkflow(page, target, target.workflows.orderConfirmation, 4);
				await capture(page, target, 'journey-order-confirmation.png');
			},
		},
		{
			files: ['check-window.png'],
			run: async (page) => {
				await openWorkflow(page, target, target.workflows.orderWithSample, 4);
				const ndv = await openNode(page, 'Window open?');
				// Runs the pinned sample order through the real node: the output panel then offers its Open / Closed branches.
				await ndv.locator('[data-test-id="node-execute-button"]').click();
				const branches = ndv.locator('[data-test-id="output-panel"] [data-test-id="branches"]');
				await branches.waitFor({ state: 'visible' });
				// Ben never wrote: his item is on the Closed branch, with the window the node read.
				await branches
					.getByText(/^Closed/)
					.first()
					.click();
				// Schema view nests the fields, so the whatsappWindow object the node added is visible in full.
				await ndv
					.locator('[data-test-id="output-panel"] [data-test-id="radio-button-schema"]')
					.click();
				await page.waitForTimeout(1_000);
				await capture(page, target, 'check-window.png');
				await closeNode(page);
			},
		},
		{
			files: ['send-template.png', 'send-template-picker.png'],
			run: async (page) => {
				// Same page as the Check Window step when it ran: its output (the closed-window item) is this node's input.
				await onWorkflow(page, target, target.workflows.orderWithSample, 4);
				const ndv = await openNode(page, 'Template confirmation');
				// The mapper lists the template's variables once the sandbox answered the template lookup.
				await ndv
					.locator(
						'[data-test-id="resource-mapper-container"] [data-test-id="parameter-input-body_1"]',
					)
					.waitFor({ state: 'visible' });
				await widenParameters(page, 180);
				await page.waitForTimeout(1_500);
				// As the example is configured: template chosen by name, each variable mapped to the order's fields.
				await capture(page, target, 'send-template.png');
				// The picker's list mode: the WABA's approved templates, as the sandbox returns them. n8n autosaves the mode
				// switch; harmless, since every run starts from a fresh database and nothing else opens this workflow later.
				await chooseLocatorMode(page, ndv, 'template', /from list/i);
				await ndv
					.locator('[data-test-id="resource-locator-template"] [data-test-id="rlc-input"]')
					.click();
				await page
					.getByText(TEMPLATE_LIST_ENTRY, { exact: true })
					.filter({ visible: true })
					.first()
					.waitFor({ state: 'visible' });
				await page.waitForTimeout(500);
				await capture(page, target, 'send-template-picker.png');
				await closeNode(page);
			},
		},
		{
			files: ['webhook-status.png'],
			run: async (page) => {
				await openWorkflow(page, target, target.workflows.statusSink, 2);
				const ndv = await openNode(page, 'Every status');
				// Show the production URL: the Callback URL a user copies into the Meta app.
				await ndv.getByText('Webhook URLs', { exact: true }).first().click();
				await ndv.getByText('Production URL', { exact: true }).first().click();
				await page.waitForTimeout(800);
				await capture(page, target, 'webhook-status.png');
				await closeNode(page);
			},
		},
		{
			files: ['send-and-wait.png'],
			run: async (page) => {
				// The appointment reminder as imported: Send and Wait draws an output per reply button between No Response and
				// Other Reply / Failed, then Skipped by Policy.
				await openWorkflow(page, target, target.workflows.appointmentReminder, 9);
				await canvasNode(page, 'Remind and wait')
					.locator('[data-test-id="canvas-node-output-handle"]')
					.first()
					.waitFor({ state: 'visible' })
					.catch(() => undefined);
				await capture(page, target, 'send-and-wait.png');
			},
		},
		{
			files: ['journey-report-output-pane.png'],
			run: async (page) => {
				await openWorkflow(page, target, target.workflows.journeyReport, 3);
				const ndv = await openNode(page, 'Order confirmation chart');
				// Runs the report (and the node before it) on what the order journeys recorded in the state store.
				await ndv.locator('[data-test-id="node-execute-button"]').click();
				const output = ndv.locator('[data-test-id="output-panel"]');
				await output.locator('[data-test-id="radio-button-binary"]').click();
				// The chart binary's "View": n8n previews the PNG in the output pane.
				await output.locator('[data-test-id="ndv-view-binary-data"]').first().click();
				await output.locator('.binary-data-window img').first().waitFor({ state: 'visible' });
				await page.waitForTimeout(1_000);
				await capture(page, target, 'journey-report-output-pane.png');
				await closeNode(page);
			},
		},
		{
			files: ['credential.png'],
			run: async (page) => {
				await page.goto(`${target.baseUrl}/home/credentials/${target.credentialId}`, {
					waitUntil: 'domcontentloaded',
				});
				await page.locator('[data-test-id="credential-edit-dialog"]').waitFor({ state: 'visible' });
				// n8n tests the connection when the dialog opens (against the sandbox); wait for its verdict either way.
				await page
					.getByText('Connection tested successfully')
					.or(page.getByText(/couldn.t connect/i))
					.first()
					.waitFor({ state: 'visible', timeout: 20_000 })
					.catch(() => undefined);
				await page.waitForTimeout(800);
				await capture(page, target, 'credential.png');
			},
		},
	];
}

/** Drives the editor and writes every screenshot it can; one failing shot does not stop the others. */
export async function captureScreenshots(
	target: ScreenshotTarget,
	only?: readonly string[],
): Promise<Shot[]> {
	mkdirSync(OUT_DIR, { recursive: true });
	let session: BrowserSession | undefined;
	const shots: Shot[] = [];
	try {
		session = await launchBrowser({
			cookie: { header: target.authCookie, baseUrl: target.baseUrl },
			timeoutMs: UI_TIMEOUT_MS,
		});
		const { page } = session;
		for (const step of steps(target)) {
			if (only && !step.files.some((file) => only.includes(file))) continue;
			const { files } = step;
			try {
				await step.run(page);
				shots.push({ files, ok: true });
			} catch (error) {
				const message =
					error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
				log(`FAILED ${files.join(', ')}: ${message}`);
				// What the page showed at the failure, for diagnosis (outside the repo, and only if it holds no secret).
				const debugFile = path.join(
					os.tmpdir(),
					`screenshots-failed-${step.files[0] ?? 'step.png'}`,
				);
				await assertNoSecrets(page, target.secrets)
					.then(() => page.screenshot({ path: debugFile }))
					.then(() => log(`  the page at the failure: ${debugFile}`))
					.catch(() => undefined);
				shots.push({ files, ok: false, error: message });
			}
		}
	} finally {
		await session?.close();
	}
	return shots;
}

async function main(): Promise<void> {
	requireChromium();
	let sandbox: Sandbox | undefined;
	let failed = true;
	try {
		const bed = await startTestBed();
		sandbox = bed.sandbox;
		// `npm run docs:screenshots -- send-and-wait.png …` takes only those shots.
		const only = process.argv.slice(2).filter((arg) => arg.endsWith('.png'));
		const shots = await captureScreenshots(bed.target, only.length > 0 ? only : undefined);
		for (const shot of shots)
			log(
				`${shot.ok ? 'ok    ' : 'FAILED'} ${shot.files.join(', ')}${shot.error ? ` — ${shot.error}` : ''}`,
			);
		failed = shots.some((shot) => !shot.ok);
	} finally {
		await disposeAll().catch((error: unknown) => log(String(error)));
		await sandbox?.close();
	}
	process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
	main().catch((error: unknown) => {
		log(error instanceof Error ? (error.stack ?? error.message) : String(error));
		process.exitCode = 1;
	});
}
