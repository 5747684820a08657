/**
 * Customers known by username against the sandbox: the sandbox plays Meta's BSUID behaviour (webhooks without the
 * number, sends by `recipient`, 131062 for authentication templates, `user_id_update`), and the n8n Send node and the
 * core webhook path (normalise → store) treat the customer as one person. Meta's sources are cited in
 * test/unit/bsuid.send.test.ts and test/unit/bsuid.webhooks.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
	ALL_EVENT_KINDS,
	MemoryStateStore,
	createStateStore,
	type JourneyStateStore,
	customerWindow,
	ingestWebhookEvents,
	normalizeWebhook,
	resolveCustomer,
} from '../../core';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { runNode } from '../../harness/n8n-context';
import type { Params } from '../../harness/n8n-context';

const TOKEN = 'sandbox-token-for-tests-123456';
const APP_SECRET = 'app-secret-for-tests-abcdef';
const PN = '106540352242922';
const WABA_ID = '102290129340398';
const PHONE = '447911123456';
const BSUID = 'GB.13491208655302741918';
const NEW_BSUID = 'GB.24817305912873645029';

let sandbox: Sandbox;
let callback: http.Server;
const bodies: Array<Record<string, unknown>> = [];
const node = new WhatsAppSendTemplate();

const credentials = () => ({
	metaWhatsAppCloudApi: {
		accessToken: TOKEN,
		phoneNumberId: PN,
		wabaId: WABA_ID,
		appSecret: APP_SECRET,
		verifyToken: 'verify-me',
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
	},
});

beforeAll(async () => {
	callback = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
			res.writeHead(200);
			res.end();
		});
	});
	await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
	const port = (callback.address() as AddressInfo).port;
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		callbackUrl: `http://127.0.0.1:${port}/hook`,
	});
});
afterAll(async () => {
	await sandbox.close();
	await new Promise((r) => callback.close(r));
});
beforeEach(async () => {
	await sandbox.control('reset', {});
	bodies.length = 0;
});

/** What the sandbox delivered so far, through the trigger's core path, into `store`. */
async function ingest(store: JourneyStateStore) {
	await sandbox.control('idle');
	const events = bodies.splice(0).flatMap((b) => normalizeWebhook(b));
	return ingestWebhookEvents(events, store, {
		deduplicate: true,
		lateStatuses: 'flag',
		recordWindows: true,
		recordOptOuts: true,
		stopKeywords: ['stop'],
		emit: new Set(ALL_EVENT_KINDS),
	});
}

interface GraphAnswer {
	error?: { code: number; error_data?: { details?: string } };
	messages?: Array<{ id: string }>;
}

const session = (recipient: string): Params => ({
	operation: 'sendSessionMessage',
	recipient,
	messageType: 'text',
	text: 'Thanks, we are on it',
	options: { pairIntervalSeconds: 0 },
	storePath: ':memory:',
});

describe('a customer known by username, against the sandbox', () => {
	it('writes without a phone number, and gets a session reply and a template by BSUID', async () => {
		const store = new MemoryStateStore();
		// Known before the username: a message with number and BSUID (Meta pairs them).
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hello' });
		await ingest(store);
		// After the username: Meta leaves the number out of the webhook.
		await sandbox.control('inbound', {
			from: PHONE,
			userId: BSUID,
			username: 'ana.store',
			hidePhone: true,
			text: 'still me',
		});
		await sandbox.control('idle');
		expect(bodies).toHaveLength(1);
		expect(JSON.stringify(bodies)).not.toContain(PHONE);
		const { events } = await ingest(store);
		expect(events).toEqual([
			expect.objectContaining({ from: BSUID, userId: BSUID, username: 'ana.store' }),
		]);
		// One customer: the window is open whichever id the workflow holds.
		const customer = await resolveCustomer(store, PN, BSUID);
		expect(customer).toMatchObject({ key: PHONE, bsuid: BSUID });
		expect((await customerWindow(store, PN, customer, new Date())).open).toBe(true);

		const reply = await runNode(node, { parameters: session(BSUID), credentials: credentials() });
		expect(reply.output[0][0].json).toMatchObject({
			recipient: BSUID,
			recipientType: 'bsuid',
			messageId: expect.stringMatching(/^wamid\./),
		});
		const template = await runNode(node, {
			parameters: {
				operation: 'sendTemplate',
				recipient: BSUID,
				template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
				variablesMode: 'mapper',
				variables: {
					mappingMode: 'defineBelow',
					value: {
						header_text_1: '#A-1042',
						body_1: 'Ana',
						body_2: '#A-1042',
						body_3: '12 March',
						button_0_url: 'A-1042',
					},
				},
				options: { pairIntervalSeconds: 0 },
				storePath: ':memory:',
			},
			credentials: credentials(),
		});
		expect(template.output[0][0].json).toMatchObject({ recipientType: 'bsuid' });
		const { data } = await sandbox.control<{ data: Array<Record<string, unknown>> }>('messages');
		expect(data.map((m) => (m.request as Record<string, unknown>).recipient)).toEqual([
			BSUID,
			BSUID,
		]);
		expect(data.every((m) => (m.request as Record<string, unknown>).to === undefined)).toBe(true);
		expect(data.every((m) => m.failure === undefined)).toBe(true);
		// Statuses name the customer by BSUID only (recipient_user_id, no recipient_id).
		await sandbox.control('idle');
		const statuses = bodies.flatMap((b) => normalizeWebhook(b)).filter((e) => e.kind === 'status');
		expect(statuses.length).toBeGreaterThan(0);
		expect(statuses[0]).toMatchObject({ recipientId: BSUID, recipientUserId: BSUID });
	});

	it('answers as Meta does: 131062 for an authentication template to a BSUID, 100 for a recipient that is not one', async () => {
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hello' });
		const otp = {
			messaging_product: 'whatsapp',
			recipient: BSUID,
			type: 'template',
			template: {
				name: 'login_otp',
				language: { code: 'en_US' },
				components: [
					{ type: 'body', parameters: [{ type: 'text', text: '123456' }] },
					{
						type: 'button',
						sub_type: 'url',
						index: '0',
						parameters: [{ type: 'text', text: '123456' }],
					},
				],
			},
		};
		const post = (body: unknown) =>
			fetch(`${sandbox.url}/v25.0/${PN}/messages`, {
				method: 'POST',
				headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
				body: JSON.stringify(body),
			}).then(async (r) => ({ status: r.status, json: (await r.json()) as GraphAnswer }));
		const refused = await post(otp);
		expect(refused.status).toBe(400);
		expect(refused.json.error?.code).toBe(131062);
		// With `to` as well, Meta delivers to `to`: the same template goes to the number.
		const both = await post({ ...otp, to: `+${PHONE}` });
		expect(both.status).toBe(200);
		const bad = await post({ ...otp, recipient: 'not-a-bsuid' });
		expect(bad.json.error?.code).toBe(100);
		expect(bad.json.error?.error_data?.details).toMatch(/recipient/);
	});

	it("pairs the number with the BSUID from a status's contacts when the message went to the number", async () => {
		// The sandbox (as Meta) knows the customer's BSUID; the store sees none of their messages, only our send's statuses.
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hi' });
		await sandbox.control('idle');
		bodies.length = 0;
		const sent = await runNode(node, {
			parameters: session(`+${PHONE}`),
			credentials: credentials(),
		});
		expect(sent.output[0][0].json).toMatchObject({ recipientType: 'phone' });
		await sandbox.control('idle');
		// Meta's shape: no recipient_user_id for a send to the number; the BSUID is in the value's contacts.
		const values = bodies.map(
			(b) =>
				(b as { entry: Array<{ changes: Array<{ value: Record<string, unknown> }> }> }).entry[0]
					.changes[0].value,
		);
		const statuses = values.flatMap((v) => (v.statuses ?? []) as Array<Record<string, unknown>>);
		expect(statuses.length).toBeGreaterThan(0);
		for (const s of statuses) {
			expect(s).toMatchObject({ recipient_id: PHONE });
			expect(s).not.toHaveProperty('recipient_user_id');
		}
		expect(values[0].contacts).toEqual([expect.objectContaining({ wa_id: PHONE, user_id: BSUID })]);
		const store = new MemoryStateStore();
		await ingest(store);
		expect(await resolveCustomer(store, PN, BSUID)).toMatchObject({
			key: PHONE,
			ids: [BSUID, PHONE],
		});
	});

	it('changes the id (user_id_update and the system message), and the old id still finds the customer', async () => {
		const store = new MemoryStateStore();
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hello' });
		await ingest(store);
		await sandbox.control('user-id-change', { userId: BSUID, newUserId: NEW_BSUID });
		const { events } = await ingest(store);
		expect(events.map((e) => e.kind).sort()).toEqual(['message', 'user_id_update']);
		expect(await resolveCustomer(store, PN, BSUID)).toMatchObject({
			key: PHONE,
			bsuid: NEW_BSUID,
		});
		const reply = await runNode(node, {
			parameters: session(NEW_BSUID),
			credentials: credentials(),
		});
		expect(reply.output[0][0].json).toMatchObject({ recipient: NEW_BSUID, recipientType: 'bsuid' });
	});
});

describe('one customer for the journey rules whichever id came first (send → pairing → send)', () => {
	/** A MARKETING journey step through the n8n Send node, on a SQLite store the test's webhook path shares. */
	const step = (recipient: string, storePath: string, journeyRules: Params = {}): Params => ({
		operation: 'sendTemplate',
		recipient,
		template: { __rl: true, mode: 'name', value: 'spring_catalog (en_US)' },
		variablesMode: 'mapper',
		variables: { mappingMode: 'defineBelow', value: { body_1: 'Ana' } },
		stateStore: 'embedded',
		storePath,
		journeyRules,
		options: { pairIntervalSeconds: 0, journey: 'spring', step: 'catalog' },
	});
	const send = (recipient: string, storePath: string, journeyRules?: Params) =>
		runNode(node, {
			parameters: step(recipient, storePath, journeyRules),
			credentials: credentials(),
			typeVersion: 2,
		});
	const accepted = async () =>
		(await sandbox.control<{ data: Array<Record<string, unknown>> }>('messages')).data;
	let storePath: string;
	let store: JourneyStateStore;
	beforeEach(() => {
		storePath = join(mkdtempSync(join(tmpdir(), 'wj-bsuid-')), 'store.sqlite');
		store = createStateStore({ backend: 'embedded', path: storePath });
	});
	afterEach(() => store.close());

	it('a step sent to a BSUID before the number was known is already sent for the number once a webhook pairs them', async () => {
		// A username customer: the business knows them by BSUID only.
		await sandbox.control('inbound', { userId: BSUID, hidePhone: true, text: 'hi' });
		await ingest(store);
		// One marketing message a day (the cap counts sends made under it, whichever journey).
		const cap = {
			frequencyCap: { cap: { maxMessages: 1, periodHours: 24, categories: ['MARKETING'] } },
		};
		const first = await send(BSUID, storePath, cap);
		expect(first.output[0][0].json).toMatchObject({
			recipientType: 'bsuid',
			policy: { decision: 'sent' },
		});
		// Later Meta sends both ids (contacts wa_id + user_id): the store pairs them; the customer's key is the number.
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'my number is fine' });
		await ingest(store);
		expect(await resolveCustomer(store, PN, BSUID)).toMatchObject({ key: PHONE });

		const again = await send(`+${PHONE}`, storePath);
		expect(again.output[0][0].json.policy).toMatchObject({
			decision: 'already_sent',
			messageId: first.output[0][0].json.messageId,
		});
		// By the BSUID too (now keyed by the number), and a frequency cap counts the BSUID's send.
		const byBsuid = await send(BSUID, storePath);
		expect(byBsuid.output[0][0].json.policy).toMatchObject({ decision: 'already_sent' });
		const capped = await runNode(node, {
			parameters: {
				...step(`+${PHONE}`, storePath, cap),
				options: { pairIntervalSeconds: 0, journey: 'spring', step: 'reminder' },
			},
			credentials: credentials(),
			typeVersion: 2,
		});
		expect(capped.output[1][0].json.policy).toMatchObject({
			decision: 'frequency_capped',
			count: 1,
		});
		expect(await accepted()).toHaveLength(1);
	});

	it('a step sent to the number before the BSUID was known is already sent for the BSUID once a webhook pairs them', async () => {
		await sandbox.control('inbound', { from: PHONE, text: 'hi' });
		await ingest(store);
		const first = await send(`+${PHONE}`, storePath);
		expect(first.output[0][0].json.policy).toMatchObject({ decision: 'sent' });
		// The customer adopts a username: Meta pairs the number with their BSUID, then hides the number.
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hello again' });
		await ingest(store);
		const again = await send(BSUID, storePath);
		expect(again.output[0][0].json).toMatchObject({
			recipient: BSUID,
			recipientType: 'bsuid',
			policy: { decision: 'already_sent', messageId: first.output[0][0].json.messageId },
		});
		expect(await accepted()).toHaveLength(1);
	});

	it('a step sent to a BSUID that Meta then replaced (user_id_update) is already sent for the new BSUID and the number', async () => {
		// A username customer known by BSUID only gets the step; then Meta replaces their BSUID, naming no number.
		await sandbox.control('inbound', { userId: BSUID, hidePhone: true, text: 'hi' });
		await ingest(store);
		const first = await send(BSUID, storePath);
		expect(first.output[0][0].json.policy).toMatchObject({ decision: 'sent' });
		await sandbox.control('user-id-change', { userId: BSUID, newUserId: NEW_BSUID });
		await ingest(store);
		// The workflow now holds the new BSUID: the old one is found through the new one's predecessors.
		const byNew = await send(NEW_BSUID, storePath);
		expect(byNew.output[0][0].json.policy).toMatchObject({
			decision: 'already_sent',
			messageId: first.output[0][0].json.messageId,
		});
		// Later Meta pairs the number with the new BSUID only (the old one was never paired with it).
		await sandbox.control('inbound', { from: PHONE, userId: NEW_BSUID, text: 'my number' });
		await ingest(store);
		expect((await resolveCustomer(store, PN, PHONE)).ids).toEqual([PHONE, NEW_BSUID, BSUID]);
		const byPhone = await send(`+${PHONE}`, storePath);
		expect(byPhone.output[0][0].json.policy).toMatchObject({
			decision: 'already_sent',
			messageId: first.output[0][0].json.messageId,
		});
		expect(await accepted()).toHaveLength(1);
	});

	it("learns the pair from Meta's answer to a send by BSUID (wa_id + user_id), before any webhook", async () => {
		// The sandbox (as Meta) knows the customer's number; the store has seen no webhook of theirs.
		await sandbox.control('inbound', { from: PHONE, userId: BSUID, text: 'hi' });
		bodies.length = 0;
		const first = await send(BSUID, storePath);
		expect(first.output[0][0].json).toMatchObject({ waId: PHONE, recipientType: 'bsuid' });
		expect(await resolveCustomer(store, PN, BSUID)).toMatchObject({ key: PHONE });
		const again = await send(`+${PHONE}`, storePath);
		expect(again.output[0][0].json.policy).toMatchObject({ decision: 'already_sent' });
		expect(await accepted()).toHaveLength(1);
	});
});
