/**
 * The Node-RED editor experience in a real browser: a real Node-RED 5.0.7 with the built package
 * (harness/node-red-runtime.ts), a deployed WhatsApp Cloud config pointing at the Cloud API sandbox, and Debian's
 * Chromium driving the editor.
 *
 * What a user sees: opening a "whatsapp send template" node, the template picker fills from the WABA with its
 * APPROVED templates only; picking one shows that template's variable rows (with Meta's examples); picking another
 * switches the rows; Done + Deploy stores the template id, name, language and the variables in the flow.
 *
 * Fails (never skips) without /usr/bin/chromium; CI installs it (.ci/run). Builds first when dist/ is stale.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Locator, Page } from 'playwright-core';

import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { ensureBuilt, startNodeRed } from '../../harness/node-red-runtime';
import type { FlowNode, NodeRedRuntime } from '../../harness/node-red-runtime';
import { launchBrowser, requireChromium } from '../../harness/browser';
import type { BrowserSession } from '../../harness/browser';
import { listSandboxTemplates, type ListedTemplate } from '../../harness/whatsapp';

const TAB = 'e2e0000000000001';
const CONFIG = 'e2ec0f0000000001';
const SEND = 'e2e5e0d000000001';
const TOKEN = 'sandbox-token-for-node-red-editor';
const APP_SECRET = 'app-secret-for-node-red-editor';

let sandbox: Sandbox | undefined;
let nodeRed: NodeRedRuntime | undefined;
let browser: BrowserSession | undefined;
let page: Page;
let registry: ListedTemplate[] = [];
const userDir = mkdtempSync(join(tmpdir(), 'wj-node-red-editor-'));

function flows(sandboxUrl: string, phoneNumberId: string, wabaId: string): FlowNode[] {
	return [
		{ id: TAB, type: 'tab', label: 'Editor e2e' },
		{
			id: CONFIG,
			type: 'whatsapp-cloud-config',
			name: 'Sandbox number',
			phoneNumberId,
			wabaId,
			apiVersion: 'v25.0',
			baseUrl: sandboxUrl,
			appSecretProof: false,
			storeType: 'embedded',
			storePath: join(userDir, 'journeys.sqlite'),
		},
		// Dropped from the palette and wired to the config: nothing chosen yet.
		{
			id: SEND,
			type: 'whatsapp-send-template',
			z: TAB,
			name: '',
			server: CONFIG,
			recipient: 'payload.to',
			recipientType: 'msg',
			templateId: '',
			templateName: '',
			templateLanguage: '',
			variables: [],
			x: 240,
			y: 120,
			wires: [[]],
		},
	];
}

beforeAll(async () => {
	requireChromium();
	ensureBuilt();
	sandbox = await startSandbox({ token: TOKEN, appSecret: APP_SECRET });
	const { phoneNumberId, wabaId } = sandbox.config;
	registry = await listSandboxTemplates(sandbox, TOKEN);
	nodeRed = await startNodeRed({
		userDir,
		flows: flows(sandbox.url, phoneNumberId, wabaId),
		credentials: {
			[CONFIG]: {
				accessToken: TOKEN,
				appSecret: APP_SECRET,
				verifyToken: 'verify-token-for-node-red-editor',
			},
		},
	});
	browser = await launchBrowser({ timeoutMs: 30_000 });
	page = browser.page;
	await page.goto(nodeRed.url, { waitUntil: 'domcontentloaded' });
	await page
		.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${SEND}"]`)
		.waitFor({ state: 'visible' });
}, 240_000);

afterAll(async () => {
	await browser?.close();
	await nodeRed?.stop();
	await sandbox?.close();
	rmSync(userDir, { recursive: true, force: true });
}, 60_000);

const select = (): Locator => page.locator('#wj-template-select');
const rows = (): Locator => page.locator('#wj-variables .wj-variable');

async function rowKeys(): Promise<string[]> {
	return rows().evaluateAll((els) => els.map((el) => el.getAttribute('data-key') ?? ''));
}

/** Polls until the variable rows are exactly `keys` (they are redrawn after each pick). */
async function waitForRows(keys: string[]): Promise<void> {
	const deadline = Date.now() + 15_000;
	let current: string[] = [];
	while (Date.now() < deadline) {
		current = await rowKeys();
		if (JSON.stringify(current) === JSON.stringify(keys)) return;
		await page.waitForTimeout(150);
	}
	throw new Error(`variable rows ${JSON.stringify(current)}, expected ${JSON.stringify(keys)}`);
}

function row(key: string): Locator {
	return page.locator(`#wj-variables .wj-variable[data-key="${key}"]`);
}

/** The text box a user types in: typedInput hides the original input and shows its own (with the placeholder). */
function valueInput(key: string): Locator {
	return row(key).locator('input.red-ui-typedInput-input');
}

async function storedFlow(): Promise<FlowNode[]> {
	return JSON.parse(readFileSync(join(userDir, 'flows.json'), 'utf8')) as FlowNode[];
}

describe('Node-RED editor (real Node-RED 5.0.7 + Chromium + sandbox)', () => {
	it("fills the template picker with the WABA's APPROVED templates only", async () => {
		await page
			.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${SEND}"] rect.red-ui-flow-node`)
			.dblclick();
		await select().waitFor({ state: 'visible' });
		await page
			.locator('#wj-template-status')
			.filter({ hasText: /approved templates/ })
			.waitFor({ state: 'visible' });

		const approved = registry.filter((t) => t.status === 'APPROVED');
		const others = registry.filter((t) => t.status !== 'APPROVED');
		expect(others.map((t) => t.name)).toEqual(
			expect.arrayContaining(['flash_sale_rejected', 'welcome_offer_pending']),
		);
		const options = await select()
			.locator('option')
			.evaluateAll((els) =>
				els.map((el) => ({ value: el.getAttribute('value') ?? '', text: el.textContent ?? '' })),
			);
		expect(options[0]).toEqual({ value: '', text: '— pick an approved template —' });
		const expected = approved
			.slice()
			.sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language))
			.map((t) => ({
				value: t.id,
				text: `${t.name} (${t.language}) · ${t.category.toLowerCase()}`,
			}));
		expect(options.slice(1)).toEqual(expected);
		for (const other of others)
			expect(options.map((o) => o.text).join('\n')).not.toContain(other.name);
		expect(await page.locator('#wj-template-status').innerText()).toBe(
			`${approved.length} approved templates`,
		);
		expect(await rows().count()).toBe(0);
	});

	it("shows the picked template's variable rows with Meta's examples, and switches them on another pick", async () => {
		await select().selectOption({ label: 'payment_due (en_US) · utility' });
		await waitForRows(['body_1', 'body_2', 'body_3', 'button_0_url']);
		expect(await row('body_2').locator('label').innerText()).toMatch(/^Body \{\{2\}\}/);
		expect(await valueInput('body_2').getAttribute('placeholder')).toBe(
			'from msg.payload.variables.body_2 (e.g. $45.99)',
		);
		expect(await valueInput('body_2').isVisible()).toBe(true);
		expect(await page.locator('#node-input-templateName').inputValue()).toBe('payment_due');

		await select().selectOption({ label: 'order_confirmation (pt_BR) · utility' });
		await waitForRows(['header_text_1', 'body_1', 'body_2', 'body_3', 'button_0_url']);
		const placeholders = await rows()
			.locator('input.red-ui-typedInput-input')
			.evaluateAll((els) => els.map((el) => el.getAttribute('placeholder')));
		// Meta's examples of the pt_BR template (sandbox/fixtures/templates/order_confirmation.pt_BR.json).
		expect(placeholders).toEqual([
			'from msg.payload.variables.header_text_1 (e.g. #A-1042)',
			'from msg.payload.variables.body_1 (e.g. Ana)',
			'from msg.payload.variables.body_2 (e.g. #A-1042)',
			'from msg.payload.variables.body_3 (e.g. 12 de março)',
			'from msg.payload.variables.button_0_url (e.g. A-1042)',
		]);
		const template = registry.find(
			(t) => t.name === 'order_confirmation' && t.language === 'pt_BR',
		);
		expect(template).toBeDefined();
		expect(await page.locator('#node-input-templateName').inputValue()).toBe('order_confirmation');
		expect(await page.locator('#node-input-templateLanguage').inputValue()).toBe('pt_BR');
		expect(await page.locator('#node-input-templateId').inputValue()).toBe(template?.id);
	});

	it('stores the picked template and the typed variables in the deployed flow', async () => {
		await valueInput('body_1').fill('Ana');
		await valueInput('body_1').blur();
		await valueInput('body_3').fill('12 de março');
		await valueInput('body_3').blur();
		await page.locator('#node-dialog-ok').click();
		await page.locator('#wj-template-select').waitFor({ state: 'detached' });

		await page.locator('#red-ui-header-button-deploy').click();
		// Node-RED asks before deploying nodes it considers incomplete; our node must not be one of them.
		const confirm = page.locator('#node-dialog-confirm-deploy-deploy');
		const deployed = page
			.locator('.red-ui-notification')
			.filter({ hasText: /Successfully deployed/i });
		await confirm.or(deployed).first().waitFor({ state: 'visible' });
		expect(await confirm.isVisible()).toBe(false);

		const template = registry.find(
			(t) => t.name === 'order_confirmation' && t.language === 'pt_BR',
		);
		const deadline = Date.now() + 15_000;
		let node: FlowNode | undefined;
		while (Date.now() < deadline) {
			node = (await storedFlow()).find((n) => n.id === SEND);
			if (node?.templateId === template?.id) break;
			await page.waitForTimeout(200);
		}
		expect(node).toEqual(
			expect.objectContaining({
				templateId: template?.id,
				templateName: 'order_confirmation',
				templateLanguage: 'pt_BR',
				variables: [
					{ key: 'body_1', type: 'str', value: 'Ana' },
					{ key: 'body_3', type: 'str', value: '12 de março' },
				],
			}),
		);
	});
});
