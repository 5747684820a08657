/**
 * The real editors in a real browser: Debian's Chromium driven by playwright-core (only the driver; nothing here
 * downloads a browser). Shared by the editor end-to-end tests (test/e2e/editor-*.e2e.test.ts) and
 * `npm run docs:screenshots`, so both drive n8n's editor the same way.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';
import type { BrowserContext, Locator, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const VIEWPORT = { width: 1440, height: 900 } as const;
const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--no-first-run',
];

/** Throws (never skips) when the Debian Chromium is missing: CI installs it, a developer is told how. */
export function requireChromium(): void {
	if (existsSync(CHROMIUM)) return;
	throw new Error(
		`${CHROMIUM} not found. Install the Debian package: sudo apt-get update && sudo apt-get install -y chromium ` +
			'(playwright-core is only the driver; this project never downloads a browser).',
	);
}

export interface BrowserSession {
	readonly context: BrowserContext;
	readonly page: Page;
	/** Closes the browser and removes its profile. */
	close(): Promise<void>;
}

export interface LaunchOptions {
	/** `name=value` of a session cookie to set for `baseUrl` (n8n's `n8n-auth=<jwt>`). */
	readonly cookie?: { readonly header: string; readonly baseUrl: string };
	/** Default timeout of every page action. */
	readonly timeoutMs?: number;
}

/** A fresh headless Chromium (new profile: no first-run state) with one page. */
export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserSession> {
	requireChromium();
	const profile = mkdtempSync(path.join(os.tmpdir(), 'e2e-chromium-'));
	let context: BrowserContext | undefined;
	try {
		// A persistent context is how playwright takes a user-data-dir.
		context = await chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM,
			headless: true,
			args: CHROMIUM_ARGS,
			viewport: VIEWPORT,
			deviceScaleFactor: 1,
			colorScheme: 'light',
			locale: 'en-US',
			timezoneId: 'UTC',
		});
		if (options.cookie) {
			const [name, ...rest] = options.cookie.header.split('=');
			await context.addCookies([
				{ name: name ?? 'n8n-auth', value: rest.join('='), url: options.cookie.baseUrl },
			]);
		}
		const page = context.pages()[0] ?? (await context.newPage());
		page.setDefaultTimeout(options.timeoutMs ?? 60_000);
		const opened = context;
		return {
			context: opened,
			page,
			close: async () => {
				await opened.close().catch(() => undefined);
				rmSync(profile, { recursive: true, force: true });
			},
		};
	} catch (error) {
		await context?.close().catch(() => undefined);
		rmSync(profile, { recursive: true, force: true });
		throw error;
	}
}

// ---- n8n's editor (2.40.7: data-test-id attributes of its canvas and node details view) ----

/** n8n greets a fresh owner with modals, toasts and callouts; close whatever is open. */
export async function dismissN8nNoise(page: Page): Promise<void> {
	for (const selector of [
		'[data-test-id="dialog-close-button"]',
		'.el-dialog__headerbtn',
		'[data-test-id="callout-dismiss-icon"]',
	]) {
		for (const handle of await page.locator(selector).all()) {
			if (await handle.isVisible().catch(() => false))
				await handle.click({ timeout: 2_000 }).catch(() => undefined);
		}
	}
}

export function canvasNode(page: Page, name: string): Locator {
	return page.locator(`[data-test-id="canvas-node"][data-node-name="${name}"]`);
}

/** Opens a stored workflow and waits until its `nodeCount` nodes are drawn, then fits them in view. */
export async function openN8nWorkflow(
	page: Page,
	baseUrl: string,
	workflowId: string,
	nodeCount: number,
): Promise<void> {
	await page.goto(`${baseUrl}/workflow/${workflowId}`, { waitUntil: 'domcontentloaded' });
	await page
		.locator('[data-test-id="canvas-node"]')
		.nth(nodeCount - 1)
		.waitFor({ state: 'visible' });
	await page.waitForTimeout(1_000);
	await dismissN8nNoise(page);
	await page.locator('[data-test-id="zoom-to-fit"]').click();
	await page.waitForTimeout(800);
}

/** Double-clicks a canvas node; resolves with its node details view once the parameters are shown. */
export async function openN8nNode(page: Page, name: string): Promise<Locator> {
	await canvasNode(page, name).dblclick();
	const ndv = page.locator('[data-test-id="ndv"]');
	await ndv.waitFor({ state: 'visible' });
	await page.locator('[data-test-id="node-parameters"]').waitFor({ state: 'visible' });
	return ndv;
}

export async function closeN8nNode(page: Page): Promise<void> {
	await page.locator('[data-test-id="ndv-close-button"]').click();
	await page.locator('[data-test-id="ndv"]').waitFor({ state: 'hidden' });
}

/** Switches a resource locator parameter (e.g. `template`) to another mode ("From List", "By Name", "By ID"). */
export async function chooseLocatorMode(
	page: Page,
	ndv: Locator,
	parameter: string,
	mode: RegExp,
): Promise<void> {
	await ndv
		.locator(`[data-test-id="resource-locator-${parameter}"] [data-test-id="rlc-mode-selector"]`)
		.click();
	await page.getByRole('option', { name: mode }).filter({ visible: true }).first().click();
}
