/**
 * Thousands of malformed, correctly signed webhook bodies through the WhatsApp Webhook Status trigger: random bytes,
 * truncated JSON, wrong types in every field of Meta's example payloads, removed fields, huge strings, deep nesting and
 * a 5 MB body. Whatever arrives, the trigger answers 200, 400 or 413, never throws, and never emits an item that lacks
 * what a journey relies on. A seeded PRNG makes every run the same; a failure names the case to replay.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject } from 'n8n-workflow';
import { z } from 'zod';

import { ALL_EVENT_KINDS, computeSignature, encodeTracking } from '../../core';
import { WhatsAppWebhookStatus } from '../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node';
import { createRng } from '../../sandbox/rng';
import type { Rng } from '../../sandbox/rng';
import { callWebhook } from '../../harness/n8n-context';
import { arriveWith } from '../webhookClock';
import type { Credentials, Params } from '../../harness/n8n-context';

const APP_SECRET = 'fuzz-app-secret-0123456789';
const PHONE_NUMBER_ID = '106540352242922';
const SEED = 0x5eed_2025;
const TOTAL = 3000;

const trigger = new WhatsAppWebhookStatus();
const storePath = join(mkdtempSync(join(tmpdir(), 'wj-fuzz-')), 'store.sqlite');
const credentials: Credentials = {
	metaWhatsAppCloudApi: {
		accessToken: 'fuzz-token',
		phoneNumberId: PHONE_NUMBER_ID,
		appSecret: APP_SECRET,
		verifyToken: 'fuzz-verify',
		baseUrl: 'http://127.0.0.1:9',
	},
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = Array<string | number>;

// ---------------------------------------------------------------- what an emitted item must carry

const nonEmpty = z.string().min(1);
const isoTime = z
	.string()
	.refine(
		(s) => !Number.isNaN(Date.parse(s)) && new Date(s).toISOString() === s,
		'an ISO 8601 time',
	);
const unix = z.number().finite().nonnegative();
const number = { phoneNumberId: nonEmpty, wabaId: z.string(), displayPhoneNumber: z.string() };
const errorDetail = z.object({
	code: z.number().finite(),
	title: z.string(),
	meaning: nonEmpty,
	category: nonEmpty,
	retryable: z.boolean(),
});
// Template names and languages may be empty: core keeps a template event whose name is missing (the id identifies it).
const templateRef = {
	wabaId: z.string(),
	templateId: nonEmpty,
	templateName: z.string(),
	language: z.string(),
};

const emittedItemSchema = z.discriminatedUnion('kind', [
	z.object({
		kind: z.literal('status'),
		eventId: nonEmpty,
		messageId: nonEmpty,
		status: z.enum(['sent', 'delivered', 'read', 'played', 'failed']),
		recipientId: z.string(),
		timestamp: isoTime,
		timestampUnix: unix,
		errors: z.array(errorDetail).optional(),
		lateStatus: z.boolean().optional(),
		...number,
	}),
	z.object({
		kind: z.literal('message'),
		eventId: nonEmpty,
		messageId: nonEmpty,
		from: nonEmpty,
		type: nonEmpty,
		timestamp: isoTime,
		timestampUnix: unix,
		text: z.string().optional(),
		errors: z.array(errorDetail).optional(),
		...number,
	}),
	z.object({
		kind: z.literal('user_preference'),
		eventId: nonEmpty,
		waId: nonEmpty,
		value: z.enum(['stop', 'resume']),
		category: z.string(),
		timestamp: isoTime,
		...number,
	}),
	z.object({
		kind: z.literal('template_status'),
		eventId: nonEmpty,
		event: nonEmpty,
		...templateRef,
	}),
	z.object({
		kind: z.literal('template_quality'),
		eventId: nonEmpty,
		newQualityScore: nonEmpty,
		...templateRef,
	}),
	z.object({
		kind: z.literal('template_category'),
		eventId: nonEmpty,
		newCategory: nonEmpty,
		impending: z.boolean(),
		...templateRef,
	}),
	z.object({
		kind: z.literal('phone_number_quality'),
		eventId: nonEmpty,
		wabaId: z.string(),
		displayPhoneNumber: nonEmpty,
		event: nonEmpty,
	}),
	z.object({
		kind: z.literal('business_capability'),
		eventId: nonEmpty,
		wabaId: z.string(),
		maxDailyConversationsPerBusiness: z.number().int().optional(),
		maxDailyConversationPerPhone: z.number().int().optional(),
	}),
	z.object({
		kind: z.literal('phone_number_name'),
		eventId: nonEmpty,
		wabaId: z.string(),
		displayPhoneNumber: nonEmpty,
		decision: nonEmpty,
	}),
	z.object({
		kind: z.literal('account_update'),
		eventId: nonEmpty,
		wabaId: z.string(),
		event: nonEmpty,
		restrictions: z.array(z.object({ type: z.string() })).optional(),
	}),
	z.object({
		kind: z.literal('error'),
		eventId: nonEmpty,
		code: z.number().finite(),
		meaning: nonEmpty,
		...number,
	}),
]);

// ---------------------------------------------------------------- bodies

function fixtures(): Array<{ name: string; json: Json }> {
	const dir = join(__dirname, '../fixtures/webhooks');
	const list = readdirSync(dir)
		.filter((f) => f.endsWith('.json'))
		.map((name) => ({ name, json: JSON.parse(readFileSync(join(dir, name), 'utf8')) as Json }));
	const tracked: Json = {
		object: 'whatsapp_business_account',
		entry: [
			{
				id: '102290129340398',
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
							statuses: [
								{
									id: 'wamid.FUZZTRACK',
									status: 'delivered',
									timestamp: '1750263773',
									recipient_id: '447911123456',
									biz_opaque_callback_data: encodeTracking({
										workflowId: 'wf-1',
										executionId: '2',
										journey: 'j',
										step: 's',
									}),
								},
							],
						},
					},
				],
			},
		],
	};
	return [...list, { name: 'tracked-status', json: tracked }];
}

function pathsOf(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
	if (prefix.length > 0) out.push(prefix);
	if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
	else if (value !== null && typeof value === 'object')
		for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
	return out;
}

function withAt(
	root: Json,
	path: Path,
	replace: (parent: Json[] | { [key: string]: Json }, key: string | number) => void,
): Json {
	const copy = structuredClone(root);
	let parent = copy as Json[] | { [key: string]: Json };
	for (const key of path.slice(0, -1))
		parent = (parent as Record<string | number, Json>)[key] as Json[] | { [key: string]: Json };
	replace(parent, path[path.length - 1]);
	return copy;
}

const setAt = (root: Json, path: Path, value: Json): Json =>
	withAt(root, path, (parent, key) => {
		(parent as Record<string | number, Json>)[key] = value;
	});

const deleteAt = (root: Json, path: Path): Json =>
	withAt(root, path, (parent, key) => {
		if (Array.isArray(parent)) parent.splice(Number(key), 1);
		else delete parent[key];
	});

/** Values of the wrong type (or the right type with impossible content) for any field. */
const WRONG_VALUES: Array<(rng: Rng) => Json> = [
	() => null,
	() => true,
	() => 0,
	() => -1,
	() => 1.5,
	() => 1e308,
	() => -1e308,
	() => 9_999_999_999_999, // seconds beyond the range of a JavaScript Date
	() => '99999999999999999999',
	() => Number.MAX_SAFE_INTEGER + 2,
	() => '',
	() => ' ',
	() => 'not-a-number',
	() => '1e400',
	() => '-5',
	() => [],
	() => ({}),
	() => [null, 1, 'a', {}],
	() => ({ nested: { deeper: [1, { deepest: null }] } }),
	() => '\u0000\uD800\uFFFF\u202E',
	() => '🙂'.repeat(50),
	() => '__proto__',
	() =>
		({
			__proto__: { polluted: true },
			constructor: { prototype: { polluted: true } },
		}) as unknown as Json,
	(rng) => 'x'.repeat(1000 + rng.int(60_000)),
	(rng) => Array.from({ length: 1 + rng.int(200) }, (_, i) => i),
];

const SEPARATOR = '"__DEEP__"';
/** JSON text nested `depth` levels deep, spliced where a field was (built as text: JSON.stringify would recurse). */
function deepNesting(base: Json, path: Path, depth: number, rng: Rng): string {
	const text = JSON.stringify(setAt(base, path, '__DEEP__'));
	const nested =
		rng.next() < 0.5
			? '['.repeat(depth) + ']'.repeat(depth)
			: '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
	return text.replace(SEPARATOR, nested);
}

interface Case {
	name: string;
	body: Buffer;
	/** Statuses this kind of body must get, when it is certain. */
	expect?: number[];
}

class Enough extends Error {}

/** The cases in a fixed order from SEED; `limit` stops early (to check reproducibility cheaply). */
function buildCases(limit = Infinity): Case[] {
	const rng = createRng(SEED);
	const bases = fixtures();
	const cases: Case[] = [];
	const text = (name: string, body: string | Buffer, expect?: number[]) => {
		if (cases.length >= limit) throw new Enough();
		cases.push({ name, body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), expect });
	};
	try {
		addCases(rng, bases, cases, text);
	} catch (error) {
		if (!(error instanceof Enough)) throw error;
	}
	return cases;
}

function addCases(
	rng: Rng,
	bases: Array<{ name: string; json: Json }>,
	cases: Case[],
	text: (name: string, body: string | Buffer, expect?: number[]) => void,
): void {
	const pick = <T>(list: T[]): T => list[rng.int(list.length)];

	// Wrong types in every field of every example payload (two different wrong values per field).
	for (const base of bases) {
		for (const path of pathsOf(base.json)) {
			for (let k = 0; k < 2; k++) {
				const w = rng.int(WRONG_VALUES.length);
				text(
					`${base.name}: ${path.join('.')} = wrong value #${w}`,
					JSON.stringify(setAt(base.json, path, WRONG_VALUES[w](rng))),
				);
			}
		}
	}
	// Every field removed once.
	for (const base of bases)
		for (const path of pathsOf(base.json))
			text(`${base.name}: without ${path.join('.')}`, JSON.stringify(deleteAt(base.json, path)));
	// Random bytes.
	for (let i = 0; i < 150; i++) {
		const bytes = Buffer.alloc(1 + rng.int(3000));
		for (let b = 0; b < bytes.length; b++) bytes[b] = rng.int(256);
		text(`random bytes #${i}`, bytes, [400]);
	}
	// Truncated JSON: a strict prefix of an object is never valid JSON.
	for (let i = 0; i < 150; i++) {
		const base = pick(bases);
		const full = JSON.stringify(base.json);
		text(`${base.name} truncated #${i}`, full.slice(0, 1 + rng.int(full.length - 1)), [400]);
	}
	// Valid JSON that is not a webhook object.
	for (const value of [
		'null',
		'true',
		'0',
		'"text"',
		'[]',
		'[{}]',
		'{}',
		'{"object":"whatsapp_business_account"}',
		'{"object":"whatsapp_business_account","entry":{}}',
	]) {
		text(`not a webhook: ${value}`, value, [400]);
	}
	// Huge strings in text fields and ids (below the 4 MB limit).
	for (let i = 0; i < 25; i++) {
		const base = pick(bases);
		const strings = pathsOf(base.json).filter(
			(p) =>
				typeof p.reduce<unknown>(
					(v, k) => (v as Record<string | number, unknown>)[k],
					base.json,
				) === 'string',
		);
		text(
			`${base.name}: huge string #${i}`,
			JSON.stringify(setAt(base.json, pick(strings), 'ш'.repeat(100_000 + rng.int(400_000)))),
		);
	}
	// Deep nesting in place of a field.
	for (let i = 0; i < 40; i++) {
		const base = pick(bases);
		text(
			`${base.name}: nested deep #${i}`,
			deepNesting(base.json, pick(pathsOf(base.json)), 2_000 + rng.int(30_000), rng),
		);
	}
	// Deep nesting under a key we do not know, in every object (kept by the schemas' passthrough).
	for (const base of bases) {
		for (const path of pathsOf(base.json)) {
			const value = path.reduce<unknown>(
				(v, k) => (v as Record<string | number, unknown>)[k],
				base.json,
			);
			if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
			text(
				`${base.name}: ${path.join('.')}.future_field nested deep`,
				deepNesting(base.json, [...path, 'future_field'], 10_000 + rng.int(20_000), rng),
			);
		}
	}
	// An inbound message that says nowhere who sent it (no from, no contacts).
	const anonymous = structuredClone(bases.find((b) => b.name === 'messages-text.json')!.json) as {
		entry: Array<{
			changes: Array<{ value: { contacts?: unknown; messages: Array<{ from?: string }> } }>;
		}>;
	};
	delete anonymous.entry[0].changes[0].value.contacts;
	delete anonymous.entry[0].changes[0].value.messages[0].from;
	text('an inbound message without a sender', JSON.stringify(anonymous), [200]);
	// One body over the size limit, and one just under it.
	const big = bases[0].json as { [key: string]: Json };
	text('a 5 MB body', JSON.stringify({ ...big, padding: 'p'.repeat(5 * 1024 * 1024) }), [413]);
	text(
		'a body just under 4 MB',
		JSON.stringify({ ...big, padding: 'p'.repeat(4 * 1024 * 1024 - 4096) }),
		[200],
	);
	// Top up with several mutations at once until there are TOTAL cases.
	while (cases.length < TOTAL) {
		const base = pick(bases);
		let json = base.json;
		const steps: string[] = [];
		for (let m = 0, n = 2 + rng.int(4); m < n; m++) {
			const paths = pathsOf(json);
			if (paths.length === 0) break;
			const path = pick(paths);
			if (rng.next() < 0.3) {
				json = deleteAt(json, path);
				steps.push(`-${path.join('.')}`);
			} else {
				const w = rng.int(WRONG_VALUES.length);
				json = setAt(json, path, WRONG_VALUES[w](rng));
				steps.push(`${path.join('.')}=#${w}`);
			}
		}
		text(`${base.name}: ${steps.join(', ')}`, JSON.stringify(json));
	}
}

// ---------------------------------------------------------------- the run

describe('malformed webhook bodies, all correctly signed', () => {
	const cases = buildCases();

	it(`builds ${TOTAL}+ reproducible cases`, () => {
		expect(cases.length).toBeGreaterThanOrEqual(TOTAL);
		const again = buildCases(400);
		expect(again.map((c) => c.name)).toEqual(cases.slice(0, 400).map((c) => c.name));
		expect(again.every((c, i) => c.body.equals(cases[i].body))).toBe(true);
		expect(new Set(cases.map((c) => c.name)).size).toBeGreaterThan(cases.length * 0.9);
	});

	it('never throws, answers 200/400/413, and emits only complete items', async () => {
		const parameters: Params = {
			registration: 'manual',
			events: [...ALL_EVENT_KINDS],
			// No de-duplication: mutants of one example share event ids, and each must be checked.
			// One execution per POST: each body's answer and items are checked on their own.
			options: { allPhoneNumbers: true, lateStatuses: 'flag', deduplicate: false, batchWindow: 0 },
			stateStore: 'embedded',
			storePath,
		};
		const problems: string[] = [];
		const statuses = new Map<number, number>();
		let emitted = 0;
		for (const c of cases) {
			let result: Awaited<ReturnType<typeof callWebhook>>;
			try {
				arriveWith(c.body);
				result = await callWebhook(trigger, parameters, credentials, {
					webhookName: 'default',
					headers: {
						'content-type': 'application/json',
						'x-hub-signature-256': computeSignature(c.body, APP_SECRET),
					},
					rawBody: c.body,
				});
			} catch (error) {
				problems.push(`${c.name}: threw ${String(error).slice(0, 200)}`);
				continue;
			}
			statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
			if (![200, 400, 413].includes(result.status))
				problems.push(`${c.name}: answered ${result.status}`);
			if (c.expect && !c.expect.includes(result.status))
				problems.push(`${c.name}: answered ${result.status}, expected ${c.expect.join('/')}`);
			const items = (result.response.workflowData?.[0] ?? []).map((i) => i.json as IDataObject);
			if (result.status !== 200 && items.length > 0)
				problems.push(`${c.name}: answered ${result.status} but started an execution`);
			if (result.response.workflowData !== undefined && items.length === 0)
				problems.push(`${c.name}: started an execution with no items`);
			emitted += items.length;
			for (const item of items) {
				const check = emittedItemSchema.safeParse(item);
				if (!check.success) {
					const issue = check.error.issues[0];
					problems.push(
						`${c.name}: emitted a ${String(item.kind)} item with ${issue.path.join('.')}: ${issue.message}`,
					);
				}
			}
			if (String(result.body ?? '').includes(APP_SECRET))
				problems.push(`${c.name}: the answer contains the app secret`);
		}
		// Enough of the mutations keep a readable event, so the item checks above did run.
		expect(emitted).toBeGreaterThan(500);
		expect(statuses.get(400) ?? 0).toBeGreaterThan(300);
		expect(problems.slice(0, 25)).toEqual([]);
	}, 60_000);
});
