/**
 * The n8n editor experience in a real browser: real n8n 2.40.7 with the packed package (installed the
 * community-package way), the Cloud API sandbox behind the credential, and Debian's Chromium driving the editor.
 *
 * What a user sees: the Check Conversation Window node's Open / Closed outputs, the Send Template picker listing the
 * WABA's APPROVED templates (and only those), the Variables mapper showing the picked template's variables with
 * Meta's examples, and — when another template is picked — the mapper switching to that template's variables with no
 * value or field of the first one left behind, in the editor and in the saved workflow. Send and Wait draws one output
 * per configured reply button between No Response and Other Reply / Failed, then Skipped by Policy, and redraws them when
 * the buttons change.
 *
 * Fails (never skips) without /usr/bin/chromium; CI installs it (.ci/run).
 */
import type { Locator, Page } from 'playwright-core';

import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { N8nInstance, disposeAll, sandboxCredential } from '../../harness';
import { listSandboxTemplates, type ListedTemplate } from '../../harness/whatsapp';
import type { WorkflowJson } from '../../harness';
import {
	chooseLocatorMode,
	closeN8nNode,
	launchBrowser,
	openN8nNode,
	openN8nWorkflow,
	requireChromium,
} from '../../harness/browser';
import type { BrowserSession } from '../../harness/browser';

const CREDENTIAL = { id: 'wjEditorCred0001', name: 'WhatsApp (sandbox)' };
const WORKFLOW_ID = 'wjEditorE2E00001';
/** The same journey as the examples configure it: template typed "By Name", every variable mapped. */
const BY_NAME_WORKFLOW_ID = 'wjEditorE2E00002';
const SEND = 'Send template';
/** Manual trigger → Send and Wait (version 2), as appointment-reminder.json configures it. */
const WAIT_WORKFLOW_ID = 'wjEditorE2E00003';
const WAIT = 'Remind and wait';
const CHECK = 'Window open?';

/** Added to the sandbox at test time, so the picker can only know them by asking the WABA. */
const EXTRA_TEMPLATES = [
	{
		id: '7700000000000001',
		name: 'e2e_shipping_update',
		language: 'en_GB',
		status: 'APPROVED',
		category: 'UTILITY',
		components: [
			{
				type: 'BODY',
				text: 'Hi {{1}}, your parcel left with {{2}}.',
				example: { body_text: [['Chris', 'DHL Express']] },
			},
		],
	},
	{
		id: '7700000000000002',
		name: 'e2e_paused_promo',
		language: 'en_GB',
		status: 'PAUSED',
		category: 'MARKETING',
		components: [{ type: 'BODY', text: 'Sale ends {{1}}', example: { body_text: [['Friday']] } }],
	},
];

/** Manual trigger → Check Window; its Closed branch sends a template (not chosen yet), its Open branch does nothing. */
function editorWorkflow(): WorkflowJson {
	const credentials = { metaWhatsAppCloudApi: CREDENTIAL };
	return {
		id: WORKFLOW_ID,
		name: 'Editor end-to-end',
		active: false,
		nodes: [
			{
				id: 'e0000000-0000-4000-8000-000000000001',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: 'e0000000-0000-4000-8000-000000000002',
				name: CHECK,
				type: 'n8n-nodes-whatsapp-journeys.whatsAppCheckWindow',
				typeVersion: 1,
				position: [240, 0],
				parameters: {
					operation: 'check',
					recipient: '+49 30 1234567',
					source: 'store',
					options: {},
				},
				credentials,
			},
			{
				id: 'e0000000-0000-4000-8000-000000000003',
				name: 'In window',
				type: 'n8n-nodes-base.noOp',
				typeVersion: 1,
				position: [500, -120],
				parameters: {},
			},
			{
				id: 'e0000000-0000-4000-8000-000000000004',
				name: SEND,
				type: 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
				typeVersion: 1,
				position: [500, 120],
				parameters: {
					operation: 'sendTemplate',
					recipient: '+49 30 1234567',
					template: { __rl: true, mode: 'list', value: '' },
					variablesMode: 'mapper',
					variables: { mappingMode: 'defineBelow', value: null },
					options: {},
				},
				credentials,
			},
		],
		connections: {
			Start: { main: [[{ node: CHECK, type: 'main', index: 0 }]] },
			[CHECK]: {
				main: [
					[{ node: 'In window', type: 'main', index: 0 }],
					[{ node: SEND, type: 'main', index: 0 }],
				],
			},
		},
	} as WorkflowJson;
}

function byNameWorkflow(): WorkflowJson {
	const workflow = editorWorkflow();
	const nodes = (
		workflow.nodes as Array<{ name: string; parameters: Record<string, unknown> }>
	).map((node) =>
		node.name !== SEND
			? node
			: {
					...node,
					parameters: {
						...node.parameters,
						template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
						variables: {
							mappingMode: 'defineBelow',
							value: {
								header_text_1: '#B-7',
								body_1: 'Ben',
								body_2: '#B-7',
								body_3: '14 March',
								button_0_url: 'B-7',
							},
							matchingColumns: [],
							schema: [],
						},
					},
				},
	);
	return { ...workflow, id: BY_NAME_WORKFLOW_ID, name: 'Editor end-to-end (by name)', nodes };
}

function sendAndWaitWorkflow(): WorkflowJson {
	return {
		id: WAIT_WORKFLOW_ID,
		name: 'Editor end-to-end (send and wait)',
		active: false,
		nodes: [
			{
				id: 'e0000000-0000-4000-8000-000000000011',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: 'e0000000-0000-4000-8000-000000000012',
				name: WAIT,
				type: 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
				typeVersion: 2,
				position: [260, 0],
				parameters: {
					operation: 'sendAndWait',
					recipient: '+49 30 1234567',
					template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
					variablesMode: 'mapper',
					variables: { mappingMode: 'defineBelow', value: null },
					waitButtons: 'Confirm\nReschedule',
					waitForStatus: 'none',
					options: {},
				},
				credentials: { metaWhatsAppCloudApi: CREDENTIAL },
			},
		],
		connections: { Start: { main: [[{ node: WAIT, type: 'main', index: 0 }]] } },
	} as WorkflowJson;
}

/** The output labels a canvas node draws, in output order. */
async function outputLabels(nodeName: string): Promise<string[]> {
	return page
		.locator(`[data-test-id="canvas-node-output-handle"][data-node-name="${nodeName}"]`)
		.evaluateAll((handles) =>
			handles
				.sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
				.map((h) => h.textContent?.trim() ?? ''),
		);
}

/** Polls the canvas until the node draws exactly these output labels (n8n redraws after a parameter change). */
async function waitForOutputLabels(nodeName: string, expected: string[]): Promise<void> {
	let last: string[] = [];
	const deadline = Date.now() + 15_000;
	while (Date.now() < deadline) {
		last = await outputLabels(nodeName);
		if (JSON.stringify(last) === JSON.stringify(expected)) return;
		await page.waitForTimeout(250);
	}
	throw new Error(
		`"${nodeName}" draws outputs ${JSON.stringify(last)}, expected ${JSON.stringify(expected)}`,
	);
}

let sandbox: Sandbox | undefined;
let n8n: N8nInstance | undefined;
let browser: BrowserSession | undefined;
let page: Page;
let ndv: Locator;
/** Every template of the WABA, as the sandbox answers GET /{waba-id}/message_templates. */
let registry: ListedTemplate[] = [];

beforeAll(async () => {
	requireChromium();
	sandbox = await startSandbox();
	const { token, appSecret } = sandbox.config;
	// Throws with the sandbox's answer if it refuses them.
	await sandbox.control('templates', EXTRA_TEMPLATES);
	registry = await listSandboxTemplates(sandbox, token);

	n8n = await N8nInstance.create({ label: 'editor' });
	await n8n.installPackage();
	await n8n.importCredentials([
		sandboxCredential(sandbox, {
			...CREDENTIAL,
			token,
			appSecret,
			verifyToken: 'editor-e2e-verify-token',
		}),
	]);
	await n8n.importWorkflows([editorWorkflow(), byNameWorkflow(), sendAndWaitWorkflow()]);
	await n8n.start({ timeoutMs: 300_000 });
	// One page for the whole file: n8n locks a workflow to the tab that edits it ("Editing in another tab").
	browser = await launchBrowser({
		cookie: { header: await n8n.ownerCookie(), baseUrl: n8n.baseUrl },
		timeoutMs: 45_000,
	});
	page = browser.page;
	await openN8nWorkflow(page, n8n.baseUrl, WORKFLOW_ID, 4);
}, 420_000);

afterAll(async () => {
	await browser?.close();
	await disposeAll();
	await sandbox?.close();
}, 120_000);

const label = (t: Pick<ListedTemplate, 'name' | 'language' | 'category'>): string =>
	`${t.name} (${t.language}) · ${t.category.toLowerCase()}`;

function templateLocator(): Locator {
	return ndv.locator('[data-test-id="resource-locator-template"]');
}

async function openPicker(): Promise<Locator> {
	await templateLocator().locator('[data-test-id="rlc-input"]').click();
	const items = page.locator('[data-test-id="rlc-item"]');
	await items.first().waitFor({ state: 'visible' });
	return items;
}

/** Polls an input until it holds `value` (Jest has no web-first assertions). */
async function waitForValue(input: Locator, value: string): Promise<void> {
	const deadline = Date.now() + 15_000;
	let current = '';
	while (Date.now() < deadline) {
		current = await input.inputValue();
		if (current === value) return;
		await page.waitForTimeout(200);
	}
	throw new Error(`the input holds ${JSON.stringify(current)}, expected ${JSON.stringify(value)}`);
}

async function pickTemplate(entry: string): Promise<void> {
	const items = await openPicker();
	await items.filter({ hasText: entry }).first().click();
	await waitForValue(templateLocator().locator('[data-test-id="rlc-input"]'), entry);
}

function mapper(): Locator {
	return ndv.locator('[data-test-id="resource-mapper-container"]');
}

/** The variables the mapper shows: field id, its label, and what the input holds. */
async function mapperFields(): Promise<Array<{ id: string; label: string; value: string }>> {
	const rows = mapper()
		.locator('.parameter-item')
		.filter({ has: page.locator('[data-test-id^="parameter-input-"]') });
	const fields: Array<{ id: string; label: string; value: string }> = [];
	for (const row of await rows.all()) {
		const testId =
			(await row
				.locator('[data-test-id^="parameter-input-"]')
				.first()
				.getAttribute('data-test-id')) ?? '';
		const labelText = (await row.locator('label').first().innerText()).split('\n')[0]?.trim() ?? '';
		const value = await row
			.locator('input, textarea')
			.first()
			.inputValue()
			.catch(() => '');
		fields.push({ id: testId.replace(/^parameter-input-/, ''), label: labelText, value });
	}
	return fields;
}

/** Waits until the mapper shows exactly these field ids (it reloads them from the sandbox after each pick). */
async function waitForMapperFields(
	ids: string[],
): Promise<Array<{ id: string; label: string; value: string }>> {
	let last: Array<{ id: string; label: string; value: string }> = [];
	const deadline = Date.now() + 30_000;
	while (Date.now() < deadline) {
		last = await mapperFields();
		if (JSON.stringify(last.map((f) => f.id)) === JSON.stringify(ids)) return last;
		await page.waitForTimeout(250);
	}
	throw new Error(
		`the mapper shows ${JSON.stringify(last.map((f) => f.id))}, expected ${JSON.stringify(ids)}`,
	);
}

async function fill(fieldId: string, value: string): Promise<void> {
	const input = mapper()
		.locator(`[data-test-id="parameter-input-${fieldId}"]`)
		.locator('input, textarea')
		.first();
	await input.click();
	await input.fill(value);
	await input.blur();
	await waitForValue(input, value);
}

interface StoredSendParameters {
	template?: { mode?: string; value?: string };
	variables?: { value?: Record<string, unknown> | null; schema?: Array<{ id: string }> };
}

async function storedSendParameters(workflowId = WORKFLOW_ID): Promise<StoredSendParameters> {
	const body = (await n8n?.rest('GET', `/rest/workflows/${workflowId}`)) as {
		data: { nodes: Array<{ name: string; parameters: StoredSendParameters }> };
	};
	const node = body.data.nodes.find((n) => n.name === SEND);
	if (!node) throw new Error(`the saved workflow lost "${SEND}"`);
	return node.parameters;
}

describe('n8n editor (real n8n 2.40.7 + Chromium + sandbox)', () => {
	it('shows the Check Conversation Window outputs labelled Open and Closed', async () => {
		const outputs = page.locator(
			`[data-test-id="canvas-node-output-handle"][data-node-name="${CHECK}"]`,
		);
		expect(await outputs.count()).toBe(2);
		const labels = await outputs.evaluateAll((handles) =>
			handles
				.sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
				.map((h) => h.textContent?.trim() ?? ''),
		);
		expect(labels).toEqual(['Open', 'Closed']);
		for (const handle of await outputs.all()) expect(await handle.isVisible()).toBe(true);
	});

	it("lists the WABA's APPROVED templates (name · language · category) in the picker, and no other", async () => {
		const approved = registry.filter((t) => t.status === 'APPROVED');
		const others = registry.filter((t) => t.status !== 'APPROVED');
		// The registry must hold both kinds, or this test proves nothing.
		expect(others.map((t) => t.name)).toEqual(
			expect.arrayContaining(['e2e_paused_promo', 'flash_sale_rejected', 'welcome_offer_pending']),
		);
		expect(approved.map((t) => t.name)).toContain('e2e_shipping_update');

		ndv = await openN8nNode(page, SEND);
		const items = await openPicker();
		const shown = (await items.allInnerTexts()).map((text) => text.trim());
		const expected = approved
			.slice()
			.sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language))
			.map(label);
		expect(shown).toEqual(expected);
		for (const other of others) expect(shown.join('\n')).not.toContain(other.name);
		await page.keyboard.press('Escape');
	});

	it("shows the picked template's variables with Meta's examples in the mapper", async () => {
		await pickTemplate('order_confirmation (en_US) · utility');
		const fields = await waitForMapperFields([
			'header_text_1',
			'body_1',
			'body_2',
			'body_3',
			'button_0_url',
		]);
		expect(fields.map((f) => f.label)).toEqual([
			'Header {{1}} — e.g. #A-1042',
			'Body {{1}} — e.g. Ana',
			'Body {{2}} — e.g. #A-1042',
			'Body {{3}} — e.g. 12 March',
			'Button 1 "Track order" URL suffix — e.g. A-1042',
		]);
		await fill('header_text_1', '#B-7');
		await fill('body_1', 'Ben');
	});

	it("switches the mapper to another template's variables, leaving nothing of the first (editor and saved workflow)", async () => {
		await pickTemplate('e2e_shipping_update (en_GB) · utility');
		const fields = await waitForMapperFields(['body_1', 'body_2']);
		expect(fields).toEqual([
			// body_1 exists in both templates: the value typed for the first one is not carried over to the new one.
			{ id: 'body_1', label: 'Body {{1}} — e.g. Chris', value: '' },
			{ id: 'body_2', label: 'Body {{2}} — e.g. DHL Express', value: '' },
		]);
		await fill('body_2', 'UPS');

		await closeN8nNode(page);
		await page.keyboard.press('Control+s');
		// What the editor saved is what a run sends: the new template, its schema, only its values.
		let stored: StoredSendParameters = {};
		const deadline = Date.now() + 30_000;
		while (Date.now() < deadline) {
			stored = await storedSendParameters();
			if (
				stored.template?.value === '7700000000000001' &&
				stored.variables?.value?.body_2 === 'UPS'
			)
				break;
			await page.waitForTimeout(500);
		}
		expect(stored.template).toEqual(
			expect.objectContaining({ mode: 'list', value: '7700000000000001' }),
		);
		expect(stored.variables?.value).toEqual({ body_2: 'UPS' });
		expect(stored.variables?.schema?.map((f) => f.id)).toEqual(['body_1', 'body_2']);

		// Reopened, the node shows the same: the second template's fields with the saved value.
		ndv = await openN8nNode(page, SEND);
		await waitForValue(
			templateLocator().locator('[data-test-id="rlc-input"]'),
			'e2e_shipping_update (en_GB) · utility',
		);
		expect(await waitForMapperFields(['body_1', 'body_2'])).toEqual([
			{ id: 'body_1', label: 'Body {{1}} — e.g. Chris', value: '' },
			{ id: 'body_2', label: 'Body {{2}} — e.g. DHL Express', value: 'UPS' },
		]);
	});

	// The "picker → mapper reset" once seen by the screenshot script, which switched this configuration to "From list".
	// n8n keeps the locator's value across a mode switch: the name stays, shown as chosen, and so does the mapping.
	// The node used to read a list-mode value as an ID and failed at run time ("No template with ID …").
	it('keeps a "By Name" template and its mapping working after the locator switches to "From list"', async () => {
		await openN8nWorkflow(page, n8n?.baseUrl ?? '', BY_NAME_WORKFLOW_ID, 4);
		ndv = await openN8nNode(page, SEND);
		const configured = [
			{ id: 'header_text_1', label: 'Header {{1}} — e.g. #A-1042', value: '#B-7' },
			{ id: 'body_1', label: 'Body {{1}} — e.g. Ana', value: 'Ben' },
			{ id: 'body_2', label: 'Body {{2}} — e.g. #A-1042', value: '#B-7' },
			{ id: 'body_3', label: 'Body {{3}} — e.g. 12 March', value: '14 March' },
			{
				id: 'button_0_url',
				label: 'Button 1 "Track order" URL suffix — e.g. A-1042',
				value: 'B-7',
			},
		];
		expect(await waitForMapperFields(configured.map((f) => f.id))).toEqual(configured);

		await chooseLocatorMode(page, ndv, 'template', /from list/i);
		await waitForValue(
			templateLocator().locator('[data-test-id="rlc-input"]'),
			'order_confirmation (en_US)',
		);
		await page.waitForTimeout(1_500); // a mapper reload, if one were coming, starts within this
		expect(await mapperFields()).toEqual(configured);

		await closeN8nNode(page);
		await page.keyboard.press('Control+s');
		const deadline = Date.now() + 30_000;
		while (
			Date.now() < deadline &&
			(await storedSendParameters(BY_NAME_WORKFLOW_ID)).template?.mode !== 'list'
		)
			await page.waitForTimeout(500);
		expect((await storedSendParameters(BY_NAME_WORKFLOW_ID)).template).toEqual(
			expect.objectContaining({ mode: 'list', value: 'order_confirmation (en_US)' }),
		);

		// Run it from the editor: the customer never wrote (window closed), so the template goes out, as shown.
		const before = new Set(sandbox?.state.messages.keys());
		await page.locator('[data-test-id="execute-workflow-button"]').click();
		const sendDeadline = Date.now() + 60_000;
		let sent: { template?: { name: string; language: string }; request: unknown } | undefined;
		while (Date.now() < sendDeadline && !sent) {
			sent = [...(sandbox?.state.messages.values() ?? [])].find((m) => !before.has(m.id));
			if (!sent) await page.waitForTimeout(500);
		}
		if (!sent) {
			// Say why: the run's error as n8n stored it.
			const runs = (await n8n?.executions({ workflowId: BY_NAME_WORKFLOW_ID })) ?? [];
			const last = runs[runs.length - 1];
			const stored = last ? JSON.stringify(await n8n?.execution(Number(last.id))) : 'no execution';
			throw new Error(
				`nothing was sent; the last run: ${stored.match(/"message":"[^"]*"/)?.[0] ?? stored.slice(0, 500)}`,
			);
		}
		expect(sent?.template).toEqual(
			expect.objectContaining({ name: 'order_confirmation', language: 'en_US' }),
		);
		const body = JSON.stringify(sent?.request);
		for (const value of ['#B-7', 'Ben', '14 March', 'B-7'])
			expect(body).toContain(JSON.stringify(value));
	});

	it('draws Send and Wait outputs from its Reply Buttons (and Skipped by Policy), and redraws them when the buttons change', async () => {
		await openN8nWorkflow(page, n8n?.baseUrl ?? '', WAIT_WORKFLOW_ID, 2);
		await waitForOutputLabels(WAIT, [
			'No Response',
			'Confirm',
			'Reschedule',
			'Other Reply',
			'Failed',
			'Skipped by Policy',
		]);
		const node = await openN8nNode(page, WAIT);
		const buttons = node
			.locator('[data-test-id="parameter-input-waitButtons"]')
			.locator('textarea')
			.first();
		await buttons.click();
		await buttons.fill('Yes\nNo\nCall me');
		await buttons.blur();
		await closeN8nNode(page);
		await waitForOutputLabels(WAIT, [
			'No Response',
			'Yes',
			'No',
			'Call me',
			'Other Reply',
			'Failed',
			'Skipped by Policy',
		]);
	});
});
