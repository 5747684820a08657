/**
 * The editor side of the Node-RED nodes, without a browser: every node listed in package.json has a `.html` beside
 * its source whose script registers that type (run here against a stand-in RED), an edit form and help text; the
 * config node's secrets are password credentials; and the example flows set exactly the properties the editor saves.
 */
import { readFileSync } from 'node:fs';
const { resolveHtmlIncludes } = require('../../scripts/html-includes') as {
	resolveHtmlIncludes: (html: string, file: string) => string;
};
import { join } from 'node:path';
import vm from 'node:vm';

import { DEFAULT_EMITTED_EVENTS } from '../../core';

const ROOT = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
	keywords: string[];
	'node-red': { version: string; nodes: Record<string, string> };
};

interface EditorDefinition {
	category: string;
	defaults: Record<string, { value: unknown; type?: string; required?: boolean }>;
	credentials?: Record<string, { type: string }>;
	inputs?: number;
	outputs?: number;
	outputLabels?: string[];
	icon?: string;
}

/** Runs the editor scripts of one .html with a stand-in RED that records registerType calls. */
function register(html: string): Map<string, EditorDefinition> {
	const registered = new Map<string, EditorDefinition>();
	const validator = (): (() => boolean) => () => true;
	const RED = {
		nodes: {
			registerType: (type: string, definition: EditorDefinition) =>
				registered.set(type, definition),
		},
		validators: { number: validator, regex: validator, typedInput: validator },
		settings: {},
	};
	const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map(
		(m) => m[1],
	);
	expect(scripts.length).toBeGreaterThan(0);
	for (const code of scripts) vm.runInNewContext(code, { RED, $: () => undefined });
	return registered;
}

const NODE_KEYS = new Set(['id', 'type', 'z', 'x', 'y', 'wires', 'g']);

describe('Node-RED editor definitions', () => {
	const types = Object.entries(pkg['node-red'].nodes);

	it('package.json declares the node-red keyword, the six nodes and a Node-RED version range', () => {
		expect(pkg.keywords).toContain('node-red');
		expect(pkg['node-red'].version).toMatch(/^>=\d/);
		expect(types.map(([type]) => type).sort()).toEqual([
			'whatsapp-check-window',
			'whatsapp-cloud-config',
			'whatsapp-inbound-message',
			'whatsapp-journey-report',
			'whatsapp-send-message',
			'whatsapp-send-template',
			'whatsapp-webhook-status',
		]);
	});

	it.each(types)(
		'%s has an editor definition with a form and help text, registering that type',
		(type, js) => {
			const source = join(ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.html'));
			const html = readFileSync(source, 'utf8');
			expect(html).toContain(`data-template-name="${type}"`);
			const help = /<script type="text\/html" data-help-name="([^"]+)">([\s\S]*?)<\/script>/.exec(
				html,
			);
			expect(help?.[1]).toBe(type);
			expect((help?.[2] ?? '').replace(/<[^>]+>/g, '').trim().length).toBeGreaterThan(200);
			const definition = register(html).get(type);
			expect(definition).toBeDefined();
			if (type !== 'whatsapp-cloud-config') {
				expect(definition?.defaults.server).toMatchObject({
					type: 'whatsapp-cloud-config',
					required: true,
				});
				expect(definition?.icon).toBe('whatsapp.svg');
			}
		},
	);

	it.each(types)(
		'%s: every setting has its field in the editor form as built (shared rows included)',
		(type, js) => {
			const source = join(ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.html'));
			const built = resolveHtmlIncludes(readFileSync(source, 'utf8'), source);
			expect(built).not.toMatch(/<!-- include:/);
			const definition = register(built).get(type)!;
			// Settings the editor fills in code (the picked template, mapped variables, event lists) have no plain input.
			const codeOnly = new Set([
				'templateId',
				'templateName',
				'templateLanguage',
				'variables',
				'events',
				'recipientType',
			]);
			const prefix = type === 'whatsapp-cloud-config' ? 'node-config-input-' : 'node-input-'; // Node-RED's naming for config nodes
			const missing = Object.keys(definition.defaults).filter(
				(key) => !codeOnly.has(key) && !built.includes(`id="${prefix}${key}"`),
			);
			expect(missing).toEqual([]);
		},
	);

	it('keeps every secret of the config node in password credentials, none in its defaults (so none in exported flows)', () => {
		const definition = register(
			readFileSync(join(ROOT, 'node-red/whatsapp-cloud-config.html'), 'utf8'),
		).get('whatsapp-cloud-config');
		expect(definition?.category).toBe('config');
		expect(definition?.credentials).toEqual({
			accessToken: { type: 'password', required: true },
			appSecret: { type: 'password' },
			verifyToken: { type: 'password' },
			redisPassword: { type: 'password' },
		});
		const defaults = definition?.defaults ?? {};
		for (const key of Object.keys(definition?.credentials ?? {}))
			expect(defaults).not.toHaveProperty(key);
		// The only secret-sounding setting is the appsecret_proof switch, a boolean.
		const secretish = Object.entries(defaults).filter(([key]) =>
			/token|secret|password/i.test(key),
		);
		expect(secretish).toEqual([['appSecretProof', { value: false }]]);
	});

	it('gives check window two outputs labelled open and closed', () => {
		const definition = register(
			readFileSync(join(ROOT, 'node-red/whatsapp-check-window.html'), 'utf8'),
		).get('whatsapp-check-window');
		expect(definition?.outputs).toBe(2);
		expect(definition?.outputLabels).toEqual(['open', 'closed']);
	});

	it('ticks the same events by default as the runtime and the n8n trigger (core DEFAULT_EMITTED_EVENTS)', () => {
		const definition = register(
			readFileSync(join(ROOT, 'node-red/whatsapp-webhook-status.html'), 'utf8'),
		).get('whatsapp-webhook-status');
		expect(definition?.defaults.events.value).toEqual([...DEFAULT_EMITTED_EVENTS]);
	});

	it.each([
		'order-confirmation.json',
		'status-sink.json',
		'window-routing.json',
		'customer-reply.json',
		'customer-media.json',
	])('example %s sets exactly the properties the editor saves', (file) => {
		const definitions = new Map<string, EditorDefinition>();
		for (const [type, js] of types) {
			const found = register(
				readFileSync(join(ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.html')), 'utf8'),
			).get(type);
			if (found) definitions.set(type, found);
		}
		const flow = JSON.parse(readFileSync(join(ROOT, 'examples/node-red', file), 'utf8')) as Array<
			Record<string, unknown>
		>;
		const ours = flow.filter((node) => definitions.has(String(node.type)));
		expect(ours.length).toBeGreaterThanOrEqual(2);
		for (const node of ours) {
			const defaults = Object.keys(definitions.get(String(node.type))?.defaults ?? {}).sort();
			expect(
				Object.keys(node)
					.filter((k) => !NODE_KEYS.has(k))
					.sort(),
			).toEqual(defaults);
		}
	});
});
