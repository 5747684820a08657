/**
 * WhatsApp Webhook Status trigger, run in-process: Meta's verification GET, signed POSTs, every Meta example payload,
 * a shuffled storm of duplicated statuses, and the whole loop through the sandbox (send → statuses → trigger → state
 * store → Check Conversation Window), including automatic registration through a phone number callback override.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject } from 'n8n-workflow';

import {
	ALL_EVENT_KINDS,
	computeSignature,
	createStateStore,
	encodeTracking,
	normalizeWebhook,
	parseWebhookBody,
	RESUME_PROOF_HEADER,
	resumeDispatcher,
} from '../../core';
import type { JourneyStateStore, StatusName } from '../../core';
import { WhatsAppCheckWindow } from '../../nodes/WhatsAppCheckWindow/WhatsAppCheckWindow.node';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { WhatsAppWebhookStatus } from '../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node';
import { getStateStore } from '../../nodes/shared/store';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { createRng } from '../../sandbox/rng';
import { callWebhook, hookContext, runNode } from '../../harness/n8n-context';
import type { Credentials, Params, WebhookCall, WebhookResult } from '../../harness/n8n-context';
import { waitFor } from '../sandbox/helpers';
import { arriveWith } from '../webhookClock';

const TOKEN = 'sandbox-token-for-webhook-tests-1';
const APP_SECRET = 'app-secret-for-webhook-tests-xyz';
const VERIFY_TOKEN = 'verify-token-for-webhook-tests';
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
const FIXTURES = join(__dirname, '../fixtures/webhooks');

const trigger = new WhatsAppWebhookStatus();
const checkWindow = new WhatsAppCheckWindow();
const sendTemplate = new WhatsAppSendTemplate();
const tmp = mkdtempSync(join(tmpdir(), 'wj-webhook-'));
let storeSeq = 0;
const newStorePath = (): string => join(tmp, `store-${++storeSeq}.sqlite`);

let sandbox: Sandbox;

function credentials(extra: Record<string, unknown> = {}): Credentials {
	return {
		metaWhatsAppCloudApi: {
			accessToken: TOKEN,
			phoneNumberId: PHONE_NUMBER_ID,
			wabaId: WABA_ID,
			appSecret: APP_SECRET,
			verifyToken: VERIFY_TOKEN,
			apiVersion: 'v25.0',
			baseUrl: sandbox.url,
			...extra,
		},
	};
}

function triggerParams(storePath: string, options: IDataObject = {}, extra: Params = {}): Params {
	return {
		registration: 'manual',
		events: [...ALL_EVENT_KINDS],
		options,
		stateStore: 'embedded',
		storePath,
		...extra,
	};
}

function post(
	body: string | Buffer,
	parameters: Params,
	creds: Credentials = credentials(),
	signature?: string | null,
	extra: Partial<WebhookCall> = {},
): Promise<WebhookResult> {
	const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
	arriveWith(raw);
	const header = signature === undefined ? computeSignature(raw, APP_SECRET) : signature;
	return callWebhook(trigger, parameters, creds, {
		webhookName: 'default',
		headers: {
			'content-type': 'application/json',
			...(header === null ? {} : { 'x-hub-signature-256': header }),
		},
		rawBody: raw,
		...extra,
	});
}

function itemsOf(result: WebhookResult): IDataObject[] {
	return (result.response.workflowData?.[0] ?? []).map((item) => item.json);
}

interface MetaStatusInput {
	id: string;
	status: string;
	timestamp: string;
	recipient_id: string;
	biz_opaque_callback_data?: string;
}

/** A `messages` webhook carrying statuses, in Meta's envelope. */
function statusesBody(statuses: MetaStatusInput[], phoneNumberId = PHONE_NUMBER_ID): string {
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: WABA_ID,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
							statuses,
						},
					},
				],
			},
		],
	});
}

function openStore(path: string): JourneyStateStore {
	return createStateStore({ backend: 'embedded', path });
}

// ---------------------------------------------------------------- a stand-in for n8n's webhook server

interface RelayCall {
	path: string;
	method: string;
	status: number;
	items: IDataObject[];
	error?: string;
}

/** The trigger's public URL: forwards each request (raw body, headers, query) into callWebhook and answers with its result. */
interface Relay {
	url: string;
	calls: RelayCall[];
	parameters: Params;
	credentials: () => Credentials;
	close(): Promise<void>;
	/** Resolves once every call so far has returned (a batch leader returns after its window, Meta got 200 before). */
	settled(): Promise<void>;
}

async function startRelay(): Promise<Relay> {
	const pending = new Set<Promise<void>>();
	const relay: Relay = {
		url: '',
		calls: [],
		parameters: {},
		credentials: () => credentials(),
		close: async () => undefined,
		settled: async () => {
			while (pending.size > 0) await Promise.all([...pending]);
		},
	};
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const url = new URL(req.url ?? '/', 'http://relay.local');
			const headers = Object.fromEntries(
				Object.entries(req.headers).map(([k, v]) => [
					k,
					Array.isArray(v) ? v.join(',') : (v ?? ''),
				]),
			);
			// As n8n does: the HTTP answer goes out when the trigger answers; the items (the execution) when it returns.
			const onAnswer = (status: number, body: unknown): void => {
				res.writeHead(status, { 'content-type': 'text/plain' });
				res.end(typeof body === 'string' ? body : JSON.stringify(body ?? ''));
			};
			const call =
				req.method === 'GET'
					? callWebhook(trigger, relay.parameters, relay.credentials(), {
							webhookName: 'setup',
							query: Object.fromEntries(url.searchParams),
							onAnswer,
						})
					: callWebhook(trigger, relay.parameters, relay.credentials(), {
							webhookName: 'default',
							headers,
							rawBody: Buffer.concat(chunks),
							onAnswer,
						});
			const recorded = call.then(
				(result) => {
					relay.calls.push({
						path: url.pathname,
						method: req.method ?? '',
						status: result.status,
						items: itemsOf(result),
					});
				},
				(error: unknown) => {
					relay.calls.push({
						path: url.pathname,
						method: req.method ?? '',
						status: 500,
						items: [],
						error: String(error),
					});
					res.writeHead(500);
					res.end('trigger threw');
				},
			);
			pending.add(recorded);
			void recorded.finally(() => pending.delete(recorded));
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	relay.close = () =>
		new Promise<void>((resolve) => {
			server.closeAllConnections();
			server.close(() => resolve());
		});
	return relay;
}

let relay: Relay;

async function control<T = Record<string, unknown>>(
	path: string,
	body?: unknown,
	retry = true,
): Promise<{ status: number; json: T }> {
	try {
		const response = await fetch(`${sandbox.url}/__sandbox/${path}`, {
			method: body === undefined ? 'GET' : 'POST',
			headers: {
				'Content-Type': 'application/json',
				Authorization: `Bearer ${sandbox.controlToken}`,
			},
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		return { status: response.status, json: (await response.json()) as T };
	} catch (error) {
		// A keep-alive socket the sandbox closed while the event loop was busy fails once; a new one does not.
		if (!retry) throw error;
		return control<T>(path, body, false);
	}
}

const emitted = (): IDataObject[] => relay.calls.flatMap((c) => c.items);
/** Meta's deliveries are answered, and the batches they joined have been emitted. */
const idle = async (): Promise<void> => {
	await sandbox.idle();
	await relay.settled();
};

beforeAll(async () => {
	relay = await startRelay();
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		webhookBatchMs: 5,
		webhookRetryBaseMs: 20,
		webhookMaxAttempts: 2,
		callbackUrl: `${relay.url}/app`,
		seed: 7,
	});
});
afterAll(async () => {
	await sandbox.close();
	await relay.close();
});
beforeEach(async () => {
	// Through the control API rather than sandbox.reset(), so each test starts on a live connection to the sandbox.
	await control('reset', {});
	relay.calls.length = 0;
	relay.parameters = triggerParams(newStorePath());
	relay.credentials = () => credentials();
});

// ---------------------------------------------------------------- 1. verification GET

describe("verification GET (Meta's subscription handshake)", () => {
	const get = (query: Record<string, string>, creds = credentials()) =>
		callWebhook(trigger, triggerParams(newStorePath()), creds, { webhookName: 'setup', query });

	it('answers 200 with exactly the challenge text when the verify token matches', async () => {
		const result = await get({
			'hub.mode': 'subscribe',
			'hub.verify_token': VERIFY_TOKEN,
			'hub.challenge': '1158201444',
		});
		expect(result.status).toBe(200);
		expect(result.body).toBe('1158201444');
		expect(result.response.workflowData).toBeUndefined();
	});

	it('answers 403 to a wrong or missing verify token, a wrong mode, or a credential without a verify token', async () => {
		const cases: Array<[Record<string, string>, Credentials]> = [
			[
				{ 'hub.mode': 'subscribe', 'hub.verify_token': 'guess', 'hub.challenge': '42' },
				credentials(),
			],
			[
				{ 'hub.mode': 'subscribe', 'hub.verify_token': `${VERIFY_TOKEN}x`, 'hub.challenge': '42' },
				credentials(),
			],
			[{ 'hub.mode': 'subscribe', 'hub.challenge': '42' }, credentials()],
			[
				{ 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '42' },
				credentials(),
			],
			[
				{ 'hub.mode': 'subscribe', 'hub.verify_token': '', 'hub.challenge': '42' },
				credentials({ verifyToken: '' }),
			],
		];
		for (const [query, creds] of cases) {
			const result = await get(query, creds);
			expect({ query, status: result.status }).toEqual({ query, status: 403 });
			expect(String(result.body)).not.toContain('42');
			expect(String(result.body)).not.toContain(VERIFY_TOKEN);
		}
	});
});

// ---------------------------------------------------------------- 2. signatures

describe('signed POSTs', () => {
	const body = statusesBody([
		{ id: 'wamid.SIG1', status: 'delivered', timestamp: '1750263773', recipient_id: '16467043595' },
	]);

	it('accepts a correctly signed POST and starts one execution with its event', async () => {
		const result = await post(body, triggerParams(newStorePath()));
		expect(result.status).toBe(200);
		expect(result.body).toBe('EVENT_RECEIVED');
		expect(itemsOf(result)).toEqual([
			expect.objectContaining({ kind: 'status', messageId: 'wamid.SIG1', status: 'delivered' }),
		]);
	});

	it('answers 401 and starts no execution for forged, tampered or unsigned POSTs', async () => {
		const tampered = body.replace('delivered', 'read');
		const attempts: Array<[string, string, string | null]> = [
			['forged with another secret', body, computeSignature(body, 'someone-elses-secret')],
			['body changed after signing', tampered, computeSignature(body, APP_SECRET)],
			['unsigned', body, null],
			['signature of the wrong algorithm', body, `sha1=${'0'.repeat(40)}`],
			['truncated signature', body, computeSignature(body, APP_SECRET).slice(0, 40)],
		];
		const path = newStorePath();
		for (const [what, raw, signature] of attempts) {
			const result = await post(raw, triggerParams(path), credentials(), signature);
			expect({ what, status: result.status, workflowData: result.response.workflowData }).toEqual({
				what,
				status: 401,
				workflowData: undefined,
			});
			expect(String(result.body)).not.toContain(APP_SECRET);
		}
		// Nothing was recorded either: the genuine body still starts an execution afterwards.
		expect(itemsOf(await post(body, triggerParams(path)))).toHaveLength(1);
	});

	it('refuses a real sandbox webhook replayed with a signature made with the wrong secret', async () => {
		await control('inbound', { from: '+447911100001', text: 'hello' });
		await idle();
		const delivered = sandbox.state.webhooks
			.since(0)
			.find((a) => a.ok && a.fields.includes('messages'));
		expect(delivered).toBeDefined();
		const path = newStorePath();
		const replay = await post(
			delivered!.body,
			triggerParams(path),
			credentials(),
			computeSignature(delivered!.body, 'not-the-app-secret'),
		);
		expect(replay.status).toBe(401);
		expect(replay.response.workflowData).toBeUndefined();
		// The same bytes with Meta's own signature are accepted, so the 401 was the signature's doing.
		const genuine = await post(
			delivered!.body,
			triggerParams(path),
			credentials(),
			delivered!.signature,
		);
		expect(genuine.status).toBe(200);
		expect(itemsOf(genuine)).toEqual([
			expect.objectContaining({ kind: 'message', from: '447911100001', text: 'hello' }),
		]);
	});

	it('reads the credential once for many POSTs, yet a rotated app secret applies from the next POST', async () => {
		let secret = 'before-rotation-secret';
		let reads = 0;
		const counted: Credentials = {
			get metaWhatsAppCloudApi() {
				reads++;
				return credentials({ appSecret: secret }).metaWhatsAppCloudApi;
			},
		};
		const path = newStorePath();
		const send = (id: string, signedWith: string) => {
			const raw = statusesBody([
				{ id, status: 'sent', timestamp: '1750263773', recipient_id: '16467043595' },
			]);
			return post(raw, triggerParams(path), counted, computeSignature(raw, signedWith));
		};
		// Whatever an earlier test left, the first POST under this secret re-reads (its signature fails the old reading).
		expect((await send('wamid.ROT0', secret)).status).toBe(200);
		const afterFirst = reads;
		for (let i = 1; i <= 5; i++) expect((await send(`wamid.ROT${i}`, secret)).status).toBe(200);
		expect(reads).toBe(afterFirst);
		// The secret is rotated in n8n: Meta's next POST (new secret) is accepted at once, the old secret no longer is.
		secret = 'after-rotation-secret';
		expect((await send('wamid.ROT6', 'after-rotation-secret')).status).toBe(200);
		expect((await send('wamid.ROT7', 'before-rotation-secret')).status).toBe(401);
		expect(reads).toBe(afterFirst + 2);
	});

	it('without an app secret answers 401, unless "Allow Unsigned Requests" is on', async () => {
		const noSecret = credentials({ appSecret: '' });
		const refused = await post(body, triggerParams(newStorePath()), noSecret, null);
		expect(refused.status).toBe(401);
		expect(refused.response.workflowData).toBeUndefined();
		expect(String(refused.body)).toMatch(/app secret/i);
		const allowed = await post(
			body,
			triggerParams(newStorePath(), { allowUnsigned: true }),
			noSecret,
			null,
		);
		expect(allowed.status).toBe(200);
		expect(itemsOf(allowed)).toHaveLength(1);
		// allowUnsigned never weakens a configured app secret.
		const stillChecked = await post(
			body,
			triggerParams(newStorePath(), { allowUnsigned: true }),
			credentials(),
			null,
		);
		expect(stillChecked.status).toBe(401);
	});

	it('will not activate without an app secret unless unsigned requests are allowed', async () => {
		const url = `${relay.url}/hook`;
		const noSecret = credentials({ appSecret: '' });
		const refuse = hookContext(trigger, { registration: 'manual', options: {} }, noSecret, url);
		await expect(trigger.webhookMethods.default.checkExists.call(refuse)).rejects.toThrow(
			/App Secret[\s\S]*Allow Unsigned Requests/,
		);
		const allowed = hookContext(
			trigger,
			{ registration: 'manual', options: { allowUnsigned: true } },
			noSecret,
			url,
		);
		await expect(trigger.webhookMethods.default.checkExists.call(allowed)).resolves.toBe(true);
		const signed = hookContext(
			trigger,
			{ registration: 'manual', options: {} },
			credentials(),
			url,
		);
		await expect(trigger.webhookMethods.default.checkExists.call(signed)).resolves.toBe(true);
	});

	it('delivers at activation the Send and Wait resumes a stopped process had claimed, before any webhook arrives', async () => {
		// A waiting execution's resume URL, as n8n serves it: records what reaches it.
		const reached: Array<{ url?: string; proof?: string | string[]; body: string }> = [];
		const waiting = http.createServer((req, res) => {
			let body = '';
			req.on('data', (chunk: Buffer) => (body += chunk.toString()));
			req.on('end', () => {
				reached.push({ url: req.url, proof: req.headers[RESUME_PROOF_HEADER], body });
				res.end('resumed');
			});
		});
		await new Promise<void>((ok) => waiting.listen(0, '127.0.0.1', ok));
		const resumeUrl = `http://127.0.0.1:${(waiting.address() as AddressInfo).port}/webhook-waiting/4242/node?signature=s`;
		const params = {
			registration: 'manual',
			stateStore: 'embedded',
			storePath: newStorePath(),
			options: {},
		};
		const activation = hookContext(trigger, params, credentials(), `${relay.url}/hook`);
		const store = await getStateStore(activation);
		const now = Date.now();
		await store.putWaitLink({
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: 'wamid.waiting4242',
			waId: '447911000042',
			executionId: '4242',
			resumeUrl,
			secret: 'cd'.repeat(32),
			expiresAt: now + 3_600_000,
			spec: JSON.stringify({ buttons: ['Yes', 'No'] }),
			sent: JSON.stringify({ messageId: 'wamid.waiting4242' }),
			createdAt: now,
		});
		// The customer's tap was claimed by a process that stopped before it delivered the resume (its lease ran out).
		const claimed = await store.claimWaitLink({
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: 'wamid.waiting4242',
			resume: '{"button":"Yes"}',
			leaseUntil: now - 1,
		});
		expect(claimed?.executionId).toBe('4242');
		try {
			await expect(trigger.webhookMethods.default.checkExists.call(activation)).resolves.toBe(true);
			await waitFor(() => reached.length > 0, 5_000, 'the resume POST');
			expect(reached).toEqual([
				{
					url: '/webhook-waiting/4242/node?signature=s',
					proof: expect.any(String),
					body: '{"button":"Yes"}',
				},
			]);
		} finally {
			resumeDispatcher(store, { post: async () => 503 }).stop();
			await new Promise((ok) => waiting.close(ok));
		}
	});

	it('answers 400 to malformed JSON even when it is signed, and starts no execution', async () => {
		for (const raw of [
			'{"object":"whatsapp_business_account","entry":[',
			'not json at all',
			'',
			'[]',
			'{"object":"page","entry":[]}',
		]) {
			const result = await post(raw, triggerParams(newStorePath()));
			expect({ raw, status: result.status, workflowData: result.response.workflowData }).toEqual({
				raw,
				status: 400,
				workflowData: undefined,
			});
		}
	});
});

// ---------------------------------------------------------------- 3. Meta's example payloads

interface RawError {
	code: number;
}
interface RawStatus {
	id?: string;
	status?: string;
	timestamp?: string | number;
	recipient_id?: string;
	/** The business-scoped user id (BSUID) Meta sends for customers who hide their number behind a username. */
	recipient_user_id?: string;
	biz_opaque_callback_data?: string;
	pricing?: { billable?: boolean; pricing_model?: string; type?: string; category?: string };
	errors?: RawError[];
}
interface RawMedia {
	id: string;
	mime_type?: string;
	caption?: string;
	filename?: string;
	voice?: boolean;
}
interface RawMessage {
	from?: string;
	from_user_id?: string;
	id: string;
	timestamp: string;
	type: string;
	text?: { body: string };
	button?: { payload?: string; text?: string };
	interactive?: {
		type: string;
		button_reply?: { id: string; title: string };
		list_reply?: { id: string; title: string; description?: string };
	};
	image?: RawMedia;
	video?: RawMedia;
	audio?: RawMedia;
	document?: RawMedia;
	sticker?: RawMedia;
	location?: { latitude: number; longitude: number; name?: string; address?: string };
	reaction?: { message_id: string; emoji?: string };
	referral?: {
		source_url?: string;
		source_id?: string;
		source_type?: string;
		headline?: string;
		ctwa_clid?: string;
	};
	context?: { from?: string; id?: string };
	errors?: RawError[];
}
interface RawValue {
	metadata?: { phone_number_id: string; display_phone_number: string };
	contacts?: Array<{
		wa_id?: string;
		user_id?: string;
		profile?: { name?: string; username?: string };
	}>;
	messages?: RawMessage[];
	statuses?: RawStatus[];
	errors?: RawError[];
	user_preferences?: Array<{ wa_id: string; value: string; category: string; timestamp: number }>;
	event?: string;
	message_template_id?: number | string;
	message_template_name?: string;
	new_quality_score?: string;
	new_category?: string;
	display_phone_number?: string;
	decision?: string;
	max_daily_conversations_per_business?: number | string;
	user_actions?: Array<{
		action_type: string;
		timestamp: string;
		marketing_messages_link_click_data?: { click_id?: string };
	}>;
}
interface RawBody {
	entry: Array<{ id: string; changes: Array<{ field: string; value: RawValue }> }>;
}

const isoOf = (unix: string | number | undefined): string =>
	new Date(Number(unix) * 1000).toISOString();
const KNOWN_STATUSES = ['sent', 'delivered', 'read', 'failed', 'played'];
const errorShape = (list: RawError[]) =>
	list.map((e) =>
		expect.objectContaining({
			code: e.code,
			meaning: expect.stringMatching(/\w/),
			retryable: expect.any(Boolean),
		}),
	);

/** What a user should see for each event, read straight from Meta's JSON (independently of core/webhooks). */
function expectedItems(body: RawBody): Array<Record<string, unknown>> {
	const out: Array<Record<string, unknown>> = [];
	for (const entry of body.entry) {
		for (const { field, value } of entry.changes) {
			const number = { phoneNumberId: value.metadata?.phone_number_id, wabaId: entry.id };
			const contacts = value.contacts ?? [];
			if (field === 'messages') {
				for (const m of value.messages ?? []) {
					// The sender is the phone number (wa_id) when Meta shares it, else their BSUID; the contact entry completes it.
					const contact =
						contacts.find(
							(c) =>
								(m.from !== undefined && c.wa_id === m.from) ||
								(m.from_user_id !== undefined && c.user_id === m.from_user_id),
						) ?? (contacts.length === 1 ? contacts[0] : undefined);
					const from = m.from ?? contact?.wa_id ?? m.from_user_id ?? contact?.user_id;
					const e: Record<string, unknown> = {
						kind: 'message',
						messageId: m.id,
						from,
						type: m.type,
						timestamp: isoOf(m.timestamp),
						...number,
					};
					if (contact?.profile?.name) e.profileName = contact.profile.name;
					if (m.from_user_id ?? contact?.user_id) e.userId = m.from_user_id ?? contact?.user_id;
					if (m.text) e.text = m.text.body;
					if (m.button) e.button = { payload: m.button.payload, text: m.button.text };
					const reply = m.interactive?.button_reply ?? m.interactive?.list_reply;
					if (m.interactive && reply)
						e.interactive = expect.objectContaining({
							type: m.interactive.type,
							id: reply.id,
							title: reply.title,
						});
					for (const kind of ['image', 'video', 'audio', 'document', 'sticker'] as const) {
						const media = m[kind];
						if (media) {
							e.media = expect.objectContaining({
								type: kind,
								id: media.id,
								mimeType: media.mime_type,
								...(media.caption ? { caption: media.caption } : {}),
								...(media.voice ? { voice: true } : {}),
							});
						}
					}
					if (m.location)
						e.location = expect.objectContaining({
							latitude: m.location.latitude,
							longitude: m.location.longitude,
							name: m.location.name,
						});
					if (m.reaction)
						e.reaction = m.reaction.emoji
							? { messageId: m.reaction.message_id, emoji: m.reaction.emoji }
							: { messageId: m.reaction.message_id };
					if (m.referral) {
						e.referral = expect.objectContaining({
							sourceUrl: m.referral.source_url,
							sourceId: m.referral.source_id,
							sourceType: m.referral.source_type,
							ctwaClid: m.referral.ctwa_clid,
						});
					}
					if (m.context)
						e.context = expect.objectContaining({ messageId: m.context.id, from: m.context.from });
					if (m.errors) e.errors = errorShape(m.errors);
					out.push(e);
				}
				for (const s of value.statuses ?? []) {
					if (!s.id || !KNOWN_STATUSES.includes(s.status ?? '')) continue;
					const e: Record<string, unknown> = {
						kind: 'status',
						messageId: s.id,
						status: s.status,
						recipientId: s.recipient_id ?? s.recipient_user_id,
						timestamp: isoOf(s.timestamp),
						...number,
					};
					if (s.recipient_user_id) e.recipientUserId = s.recipient_user_id;
					if (s.pricing)
						e.pricing = {
							billable: s.pricing.billable,
							pricingModel: s.pricing.pricing_model,
							type: s.pricing.type,
							category: s.pricing.category,
						};
					if (s.errors) e.errors = errorShape(s.errors);
					out.push(e);
				}
				// Marketing Messages API link clicks: Meta's payload names no message and no customer.
				for (const a of value.user_actions ?? [])
					out.push({
						kind: 'link_click',
						actionType: a.action_type,
						clickId: a.marketing_messages_link_click_data?.click_id,
						timestamp: isoOf(a.timestamp),
						...number,
					});
				for (const err of value.errors ?? [])
					out.push({
						kind: 'error',
						code: err.code,
						meaning: expect.stringMatching(/\w/),
						...number,
					});
			} else if (field === 'user_preferences') {
				for (const p of value.user_preferences ?? [])
					out.push({
						kind: 'user_preference',
						waId: p.wa_id,
						value: p.value,
						category: p.category,
						timestamp: isoOf(p.timestamp),
					});
			} else if (field === 'message_template_status_update') {
				out.push({
					kind: 'template_status',
					templateId: String(value.message_template_id),
					templateName: value.message_template_name,
					event: value.event,
				});
			} else if (field === 'message_template_quality_update') {
				out.push({
					kind: 'template_quality',
					templateName: value.message_template_name,
					newQualityScore: value.new_quality_score,
				});
			} else if (field === 'phone_number_quality_update') {
				out.push({
					kind: 'phone_number_quality',
					wabaId: entry.id,
					displayPhoneNumber: value.display_phone_number,
					event: value.event,
				});
			} else if (field === 'business_capability_update') {
				out.push({
					kind: 'business_capability',
					wabaId: entry.id,
					maxDailyConversationsPerBusiness: Number(value.max_daily_conversations_per_business),
				});
			} else if (field === 'phone_number_name_update') {
				out.push({
					kind: 'phone_number_name',
					displayPhoneNumber: value.display_phone_number,
					decision: value.decision,
				});
			} else if (field === 'account_update') {
				out.push({ kind: 'account_update', wabaId: entry.id, event: value.event });
			} else if (field === 'template_category_update') {
				out.push({
					kind: 'template_category',
					templateName: value.message_template_name,
					newCategory: value.new_category,
				});
			}
		}
	}
	return out;
}

describe('Meta example payloads through the trigger', () => {
	const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

	it('has example payloads to check', () => {
		expect(files.length).toBeGreaterThanOrEqual(20);
	});

	it.each(files)("%s → one item per event, as a user reads it in Meta's JSON", async (file) => {
		const raw = readFileSync(join(FIXTURES, file));
		const result = await post(
			raw,
			triggerParams(newStorePath(), { allPhoneNumbers: true, lateStatuses: 'flag' }),
		);
		expect(result.status).toBe(200);
		const items = itemsOf(result);
		const expected = expectedItems(JSON.parse(raw.toString('utf8')) as RawBody);
		expect(items).toHaveLength(expected.length);
		items.forEach((item, i) => expect(item).toMatchObject(expected[i]));
		for (const item of items) {
			expect(typeof item.eventId).toBe('string');
			if (typeof item.timestamp === 'string')
				expect(new Date(item.timestamp).toISOString()).toBe(item.timestamp);
		}
		// And nothing is lost or altered between core's normalisation and the items.
		const parsed = parseWebhookBody(raw);
		const normalised = parsed.ok ? normalizeWebhook(parsed.body) : [];
		const strip = ({ lateStatus: _l, previousStatus: _p, optOut: _o, ...rest }: IDataObject) =>
			rest;
		expect(items.map(strip)).toEqual(normalised);
		expect(result.response.workflowData === undefined).toBe(expected.length === 0);
	});

	it('keeps only the credential\'s phone number unless "All Phone Numbers" is on', async () => {
		const raw = readFileSync(join(FIXTURES, 'statuses-batch-mixed.json'));
		const own = itemsOf(await post(raw, triggerParams(newStorePath(), { lateStatuses: 'flag' })));
		expect(own.map((i) => i.messageId)).toEqual(['wamid.BATCH1', 'wamid.BATCH1']);
		const all = itemsOf(
			await post(
				raw,
				triggerParams(newStorePath(), { lateStatuses: 'flag', allPhoneNumbers: true }),
			),
		);
		expect(all.map((i) => i.messageId)).toEqual([
			'wamid.BATCH1',
			'wamid.BATCH1',
			'wamid.OTHERNUMBER',
		]);
		// In that batch, "sent" arrives after "read": it is the late one.
		expect(all[1]).toMatchObject({ status: 'sent', lateStatus: true, previousStatus: 'read' });
		const dropped = itemsOf(await post(raw, triggerParams(newStorePath())));
		expect(dropped.map((i) => i.status)).toEqual(['read']);
	});

	it('joins a status back to its journey through tracking data made by encodeTracking', async () => {
		const tracking = {
			workflowId: 'wf_Journey7',
			executionId: '88123',
			journey: 'spring sale; EU',
			step: 'reminder #2',
		};
		const body = statusesBody([
			{
				id: 'wamid.TRACK1',
				status: 'read',
				timestamp: '1750263999',
				recipient_id: '447911123456',
				biz_opaque_callback_data: encodeTracking(tracking),
			},
			{
				id: 'wamid.TRACK2',
				status: 'read',
				timestamp: '1750263999',
				recipient_id: '447911123456',
				biz_opaque_callback_data: 'crm-contact-8812',
			},
		]);
		const items = itemsOf(await post(body, triggerParams(newStorePath())));
		expect(items[0].tracking).toEqual(tracking);
		// Someone else's callback data is passed on whole as `custom`, never mistaken for a journey of ours.
		expect(items[1].tracking).toEqual({ custom: 'crm-contact-8812' });
		expect(items[1].tracking).not.toHaveProperty('workflowId');
		expect(items[1].bizOpaqueCallbackData).toBe('crm-contact-8812');
	});

	it('emits only the chosen events, but records windows and opt-outs from every event', async () => {
		const path = newStorePath();
		const params = triggerParams(path, {}, { events: ['status:read'] });
		const inbound = await post(readFileSync(join(FIXTURES, 'messages-text.json')), params);
		expect(inbound.status).toBe(200);
		expect(inbound.response.workflowData).toBeUndefined();
		const stop = await post(readFileSync(join(FIXTURES, 'user-preferences-stop.json')), params);
		expect(stop.response.workflowData).toBeUndefined();
		const store = openStore(path);
		try {
			const window = await store.getWindow({
				phoneNumberId: PHONE_NUMBER_ID,
				waId: '16505551234',
				now: new Date(1749416383_000 + 60_000),
			});
			expect(window.open).toBe(true);
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '16505551234' })).toBe(
				true,
			);
		} finally {
			await store.close();
		}
	});
});

// ---------------------------------------------------------------- 4. a storm of duplicated, reordered statuses

const RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3 };

interface Storm {
	events: MetaStatusInput[];
	posts: string[];
}

/** 1,000 statuses (sent/delivered/read of 333 messages and one more sent), in batches of 50, each POST three times, all shuffled. */
function buildStorm(seed: number): Storm {
	const rng = createRng(seed);
	const events: MetaStatusInput[] = [];
	const base = 1_750_000_000;
	for (let m = 0; m < 334; m++) {
		const id = `wamid.STORM${String(m).padStart(4, '0')}`;
		const statuses = m === 333 ? ['sent'] : ['sent', 'delivered', 'read'];
		statuses.forEach((status, k) =>
			events.push({
				id,
				status,
				timestamp: String(base + m * 10 + k),
				recipient_id: `4479110${String(m).padStart(5, '0')}`,
			}),
		);
	}
	const shuffle = <T>(list: T[]): T[] => {
		for (let i = list.length - 1; i > 0; i--) {
			const j = rng.int(i + 1);
			[list[i], list[j]] = [list[j], list[i]];
		}
		return list;
	};
	const shuffled = shuffle([...events]);
	const bodies: string[] = [];
	for (let i = 0; i < shuffled.length; i += 50)
		bodies.push(statusesBody(shuffled.slice(i, i + 50)));
	return { events, posts: shuffle(bodies.flatMap((b) => [b, b, b])) };
}

describe('1,000 statuses, each POST delivered three times, all shuffled', () => {
	const storm = buildStorm(20240611);

	it('builds the storm it claims to', () => {
		expect(storm.events).toHaveLength(1000);
		expect(storm.posts).toHaveLength(60);
		expect(new Set(storm.events.map((e) => `${e.id}:${e.status}`)).size).toBe(1000);
	});

	it('with lateStatuses=drop, emits each status once, never one that goes backwards, and drops exactly the late ones', async () => {
		// One execution per POST, so each POST's output can be checked against the replay as it comes.
		const params = triggerParams(newStorePath(), { lateStatuses: 'drop', batchWindow: 0 });
		const emittedItems: IDataObject[] = [];
		for (const body of storm.posts) {
			const result = await post(body, params);
			expect(result.status).toBe(200);
			emittedItems.push(...itemsOf(result));
		}
		// What should be emitted, replayed independently: the first copy of each event, if it moves its message forward.
		const seen = new Set<string>();
		const highest = new Map<string, number>();
		const expected: string[] = [];
		for (const body of storm.posts) {
			for (const s of (JSON.parse(body) as RawBody).entry[0].changes[0].value.statuses ?? []) {
				const key = `${s.id}:${s.status}`;
				if (seen.has(key)) continue;
				seen.add(key);
				if (RANK[s.status!] > (highest.get(s.id!) ?? 0)) {
					highest.set(s.id!, RANK[s.status!]);
					expected.push(key);
				}
			}
		}
		expect(seen.size).toBe(1000);
		expect(emittedItems.map((i) => `${String(i.messageId)}:${String(i.status)}`)).toEqual(expected);
		expect(emittedItems.length).toBeLessThan(1000); // the shuffle does make some late
		const last = new Map<string, number>();
		for (const item of emittedItems) {
			const rank = RANK[String(item.status)];
			expect(rank).toBeGreaterThan(last.get(String(item.messageId)) ?? 0);
			last.set(String(item.messageId), rank);
			expect(item.lateStatus).toBeUndefined();
		}
	});

	it('with lateStatuses=flag, emits exactly 1,000 items, flags the late ones, and keeps the highest status stored', async () => {
		const path = newStorePath();
		const params = triggerParams(path, { lateStatuses: 'flag', batchWindow: 0 });
		const emittedItems: IDataObject[] = [];
		for (const body of storm.posts) emittedItems.push(...itemsOf(await post(body, params)));
		expect(emittedItems).toHaveLength(1000);
		expect(new Set(emittedItems.map((i) => i.eventId)).size).toBe(1000);
		const highest = new Map<string, number>();
		let late = 0;
		for (const item of emittedItems) {
			const id = String(item.messageId);
			const rank = RANK[String(item.status)];
			const before = highest.get(id) ?? 0;
			expect({ id, status: item.status, lateStatus: item.lateStatus === true }).toEqual({
				id,
				status: item.status,
				lateStatus: rank < before,
			});
			if (rank < before) late++;
			highest.set(id, Math.max(before, rank));
		}
		expect(late).toBeGreaterThan(0);
		const store = openStore(path);
		try {
			for (const m of [0, 1, 17, 200, 332]) {
				expect(
					await store.getStatus({
						phoneNumberId: PHONE_NUMBER_ID,
						messageId: `wamid.STORM${String(m).padStart(4, '0')}`,
					}),
				).toBe('read' satisfies StatusName);
			}
			expect(
				await store.getStatus({ phoneNumberId: PHONE_NUMBER_ID, messageId: 'wamid.STORM0333' }),
			).toBe('sent');
		} finally {
			await store.close();
		}
	});

	it('emits each status exactly once when the copies arrive concurrently', async () => {
		const params = triggerParams(newStorePath(), { lateStatuses: 'flag' });
		const results: WebhookResult[] = [];
		for (let i = 0; i < storm.posts.length; i += 12) {
			results.push(
				...(await Promise.all(storm.posts.slice(i, i + 12).map((body) => post(body, params)))),
			);
		}
		const all = results.flatMap(itemsOf);
		expect(results.every((r) => r.status === 200)).toBe(true);
		// With the default batch window each group of 12 concurrent POSTs starts one execution, not 12.
		expect(results.filter((r) => r.response.workflowData !== undefined).length).toBeLessThanOrEqual(
			storm.posts.length / 12,
		);
		expect(all).toHaveLength(1000);
		expect(new Set(all.map((i) => i.eventId)).size).toBe(1000);
		expect(all.filter((i) => i.status === 'read').every((i) => i.lateStatus === undefined)).toBe(
			true,
		);
	});
});

// ---------------------------------------------------------------- 4b. batching POSTs into fewer executions

describe('batching: several POSTs, one execution', () => {
	const WINDOW = 300;
	const oneStatus = (n: number, status = 'delivered'): string =>
		statusesBody([
			{
				id: `wamid.BATCH${String(n).padStart(3, '0')}`,
				status,
				timestamp: String(1_750_000_000 + n),
				recipient_id: '447911000001',
			},
		]);
	const ids = (items: IDataObject[]): string[] => items.map((i) => String(i.messageId));
	const executions = (results: WebhookResult[]): WebhookResult[] =>
		results.filter((r) => r.response.workflowData !== undefined);
	/** Posts one after another, each as soon as the previous one was answered (as Meta does), not when it returned. */
	async function postInTurn(
		bodies: string[],
		params: Params,
		extra: Partial<WebhookCall> = {},
	): Promise<WebhookResult[]> {
		const calls: Array<Promise<WebhookResult>> = [];
		for (const body of bodies) {
			let answered!: () => void;
			const answer = new Promise<void>((resolve) => (answered = resolve));
			calls.push(
				post(body, params, credentials(), undefined, { ...extra, onAnswer: () => answered() }),
			);
			await answer;
		}
		return Promise.all(calls);
	}

	it('answers every concurrent POST at once and starts one execution holding all their events, each once', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: WINDOW });
		const bodies = Array.from({ length: 10 }, (_, n) => oneStatus(n));
		const results = await Promise.all(bodies.map((b) => post(b, params)));
		expect(results.map((r) => [r.status, r.body])).toEqual(
			bodies.map(() => [200, 'EVENT_RECEIVED']),
		);
		const [leader, ...others] = executions(results);
		expect(others).toHaveLength(0);
		expect(ids(itemsOf(leader)).sort()).toEqual(
			Array.from({ length: 10 }, (_, n) => `wamid.BATCH${String(n).padStart(3, '0')}`),
		);
		// Meta had its 200s long before the window ended; the execution started when it did.
		for (const r of results) expect(r.answeredAfterMs).toBeLessThan(WINDOW);
		expect(leader.returnedAfterMs).toBeGreaterThanOrEqual(WINDOW - 5);
		// Items are paired with themselves, index for index, as n8n pairs a webhook trigger's output.
		expect(leader.response.workflowData![0].map((i) => i.pairedItem)).toEqual(
			bodies.map((_, item) => ({ item })),
		);
		// The leader answered Meta itself, so n8n must not answer again.
		expect(leader.response.noWebhookResponse).toBe(true);
		// Sent again (Meta's retries), they are answered and emitted by nobody.
		const again = await Promise.all(bodies.map((b) => post(b, params)));
		expect(again.every((r) => r.status === 200)).toBe(true);
		expect(executions(again)).toHaveLength(0);
	});

	it("keeps the order in which the POSTs arrived, and each POST's events in its own order", async () => {
		const params = triggerParams(newStorePath(), { batchWindow: WINDOW, lateStatuses: 'flag' });
		const bodies = [
			statusesBody([
				{ id: 'wamid.ORD1', status: 'sent', timestamp: '1750000001', recipient_id: '447911000001' },
				{ id: 'wamid.ORD2', status: 'sent', timestamp: '1750000002', recipient_id: '447911000002' },
			]),
			statusesBody([
				{ id: 'wamid.ORD1', status: 'read', timestamp: '1750000010', recipient_id: '447911000001' },
			]),
			statusesBody([
				{
					id: 'wamid.ORD1',
					status: 'delivered',
					timestamp: '1750000005',
					recipient_id: '447911000001',
				},
				{
					id: 'wamid.ORD2',
					status: 'delivered',
					timestamp: '1750000006',
					recipient_id: '447911000002',
				},
			]),
		];
		const results = await postInTurn(bodies, params);
		expect(executions(results)).toHaveLength(1);
		expect(
			itemsOf(executions(results)[0]).map((i) => [i.messageId, i.status, i.lateStatus === true]),
		).toEqual([
			['wamid.ORD1', 'sent', false],
			['wamid.ORD2', 'sent', false],
			['wamid.ORD1', 'read', false],
			// The delivered that came after read is flagged late, as it would be with one execution per POST.
			['wamid.ORD1', 'delivered', true],
			['wamid.ORD2', 'delivered', false],
		]);
	});

	it('with Batch Window 0 starts one execution per POST, answered after webhook() returned (as before batching)', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: 0 });
		const bodies = Array.from({ length: 6 }, (_, n) => oneStatus(100 + n));
		const results = await Promise.all(bodies.map((b) => post(b, params)));
		expect(executions(results)).toHaveLength(6);
		results.forEach((r, n) => {
			expect(ids(itemsOf(r))).toEqual([`wamid.BATCH${100 + n}`]);
			expect(r.response.noWebhookResponse).toBeUndefined();
			expect(r.response.webhookResponse).toBe('EVENT_RECEIVED');
		});
	});

	it('refuses a forged POST during an open batch with 401, and none of its events join', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: WINDOW });
		const forged = oneStatus(201, 'read');
		const results = await Promise.all([
			post(oneStatus(200), params),
			post(forged, params, credentials(), computeSignature(forged, 'someone-elses-secret')),
			post(oneStatus(202), params),
			post(oneStatus(203), params, credentials(), null),
		]);
		expect(results.map((r) => r.status)).toEqual([200, 401, 200, 401]);
		expect(results[1].response.workflowData).toBeUndefined();
		const [execution, ...more] = executions(results);
		expect(more).toHaveLength(0);
		expect(ids(itemsOf(execution)).sort()).toEqual(['wamid.BATCH200', 'wamid.BATCH202']);
	});

	it('starts an execution as soon as a batch reaches Max Items per Execution; the next POST opens a new batch', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: 2000, maxItemsPerExecution: 3 });
		const bodies = Array.from({ length: 7 }, (_, n) => oneStatus(300 + n));
		const results = await postInTurn(bodies, params);
		const batches = executions(results);
		expect(batches.map((r) => ids(itemsOf(r)))).toEqual([
			['wamid.BATCH300', 'wamid.BATCH301', 'wamid.BATCH302'],
			['wamid.BATCH303', 'wamid.BATCH304', 'wamid.BATCH305'],
			['wamid.BATCH306'],
		]);
		// The full ones did not wait for their window; the last one did.
		expect(batches[0].returnedAfterMs).toBeLessThan(1500);
		expect(batches[1].returnedAfterMs).toBeLessThan(1500);
		expect(batches[2].returnedAfterMs).toBeGreaterThanOrEqual(1995);
		// A POST that does not fit sends the open batch off and leads a new one; one larger than the limit goes alone.
		const big = statusesBody(
			Array.from({ length: 4 }, (_, k) => ({
				id: `wamid.BIG${k}`,
				status: 'sent',
				timestamp: '1750000000',
				recipient_id: '447911000001',
			})),
		);
		const mixed = await postInTurn(
			[oneStatus(310), oneStatus(311), big, oneStatus(312)],
			triggerParams(newStorePath(), { batchWindow: 300, maxItemsPerExecution: 3 }),
		);
		expect(executions(mixed).map((r) => ids(itemsOf(r)))).toEqual([
			['wamid.BATCH310', 'wamid.BATCH311'],
			['wamid.BIG0', 'wamid.BIG1', 'wamid.BIG2', 'wamid.BIG3'],
			['wamid.BATCH312'],
		]);
	});

	it('a follower that fails (its store cannot be opened) gets an error, and the batch it meant to join is emitted whole', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: WINDOW });
		const broken = triggerParams(join(tmp, 'no-such-dir', 'nested', 'store.sqlite'), {
			batchWindow: WINDOW,
		});
		const settled = await Promise.allSettled([
			post(oneStatus(400), params),
			post(oneStatus(401), broken),
			post(oneStatus(402), params),
		]);
		expect(settled[1].status).toBe('rejected');
		const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
		expect(executions(results).map((r) => ids(itemsOf(r)).sort())).toEqual([
			['wamid.BATCH400', 'wamid.BATCH402'],
		]);
	});

	it('emits an open batch at once when the workflow is deactivated', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: 5000 });
		const leader = post(oneStatus(500), params);
		await new Promise((resolve) => setTimeout(resolve, 100));
		expect((await post(oneStatus(501), params)).response.workflowData).toBeUndefined();
		const hook = hookContext(
			trigger,
			{ registration: 'manual', options: {} },
			credentials(),
			`${relay.url}/hook`,
		);
		await trigger.webhookMethods.default.delete.call(hook);
		const result = await leader;
		expect(ids(itemsOf(result))).toEqual(['wamid.BATCH500', 'wamid.BATCH501']);
		expect(result.returnedAfterMs).toBeLessThan(2000);
	});

	it('batches per trigger node, and not at all for a test webhook ("Listen for test event")', async () => {
		const params = triggerParams(newStorePath(), { batchWindow: WINDOW });
		const results = await Promise.all([
			post(oneStatus(600), params, credentials(), undefined, { nodeId: 'node-a' }),
			post(oneStatus(601), params, credentials(), undefined, { nodeId: 'node-b' }),
			post(oneStatus(602), params, credentials(), undefined, { nodeId: 'node-a' }),
			post(oneStatus(603), params, credentials(), undefined, {
				workflowId: 'wf-other',
				nodeId: 'node-a',
			}),
		]);
		// Which POST of a node leads its batch depends on which is placed first (the first request of a trigger in a
		// process also looks into its outbox): the batches are compared, not their order.
		expect(
			executions(results)
				.map((r) => ids(itemsOf(r)).sort())
				.sort((a, b) => a[0].localeCompare(b[0])),
		).toEqual([['wamid.BATCH600', 'wamid.BATCH602'], ['wamid.BATCH601'], ['wamid.BATCH603']]);
		const test = await post(oneStatus(604), params, credentials(), undefined, { mode: 'manual' });
		expect(ids(itemsOf(test))).toEqual(['wamid.BATCH604']);
		expect(test.returnedAfterMs).toBeLessThan(WINDOW);
	});
});

// ---------------------------------------------------------------- 5. end to end through the sandbox

describe('end to end through the sandbox', () => {
	const checkParams = (
		storePath: string,
		recipient: string,
		options: IDataObject = {},
	): Params => ({
		operation: 'check',
		recipient,
		source: 'store',
		options,
		stateStore: 'embedded',
		storePath,
	});
	const route = async (
		storePath: string,
		recipient: string,
		options: IDataObject = {},
	): Promise<'open' | 'closed'> => {
		const { output } = await runNode(checkWindow, {
			parameters: checkParams(storePath, recipient, options),
			credentials: credentials(),
			items: [{ json: { recipient } }],
		});
		expect(output[0].length + output[1].length).toBe(1);
		return output[0].length === 1 ? 'open' : 'closed';
	};

	it("follows a template sent by the Send Template node through sent, delivered and read, with the journey's tracking", async () => {
		const storePath = String(relay.parameters.storePath);
		// The sandbox, like Meta, may deliver "delivered" after "read" (separate POSTs race): flag such a late one rather than drop it.
		relay.parameters = triggerParams(storePath, { lateStatuses: 'flag' });
		const { output } = await runNode(sendTemplate, {
			parameters: {
				operation: 'sendTemplate',
				recipient: '+44 7911 123456',
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
				options: { pairIntervalSeconds: 0, journey: 'orders', step: 'confirm' },
				stateStore: 'embedded',
				storePath,
			},
			credentials: credentials(),
			workflowId: 'wf-orders',
			executionId: '9001',
		});
		const wamid = String(output[0][0].json.messageId);
		expect(wamid).toMatch(/^wamid\./);
		await idle();
		expect(relay.calls.every((c) => c.status === 200)).toBe(true);
		const statuses = emitted().filter((i) => i.kind === 'status' && i.messageId === wamid);
		expect(statuses.map((s) => s.status).sort()).toEqual(['delivered', 'read', 'sent']);
		let highest = 0;
		for (const s of statuses) {
			const rank = RANK[String(s.status)];
			expect(s.lateStatus === true).toBe(rank < highest);
			highest = Math.max(highest, rank);
			// The step key (k=) travels with the journey's tracking, so the status resolves its journey step.
			expect(s.tracking).toEqual({
				workflowId: 'wf-orders',
				executionId: '9001',
				journey: 'orders',
				step: 'confirm',
				stepKey: (output[0][0].json.policy as { stepKey: string }).stepKey,
			});
			expect(s.recipientId).toBe('447911123456');
		}
		const store = openStore(storePath);
		try {
			expect(await store.getStatus({ phoneNumberId: PHONE_NUMBER_ID, messageId: wamid })).toBe(
				'read',
			);
		} finally {
			await store.close();
		}
	});

	it('opens the window when the customer writes, and the Check node routes Open / Closed from it', async () => {
		const storePath = String(relay.parameters.storePath);
		expect(await route(storePath, '+447911200001')).toBe('closed');
		const { status } = await control('inbound', {
			from: '+447911200001',
			name: 'Ana',
			text: 'Hi, where is my order?',
		});
		expect(status).toBe(200);
		await idle();
		expect(emitted()).toEqual([
			expect.objectContaining({
				kind: 'message',
				from: '447911200001',
				profileName: 'Ana',
				text: 'Hi, where is my order?',
			}),
		]);
		expect(await route(storePath, '+447911200001')).toBe('open');
		expect(await route(storePath, '07911 200001', { defaultCountry: 'GB' })).toBe('open');
		expect(await route(storePath, '+447911299999')).toBe('closed');
	});

	it('keeps the window closed for a customer who last wrote 25 hours ago', async () => {
		const storePath = String(relay.parameters.storePath);
		await control('inbound', {
			from: '+447911200002',
			text: 'old message',
			timestamp: Date.now() - 25 * 3600_000,
		});
		await idle();
		expect(emitted()).toHaveLength(1);
		expect(await route(storePath, '+447911200002')).toBe('closed');
	});

	it('"Minimum Time Left" treats a window with 10 minutes left as closed', async () => {
		const storePath = String(relay.parameters.storePath);
		await control('inbound', {
			from: '+447911200003',
			text: 'hello',
			timestamp: Date.now() - (24 * 60 - 10) * 60_000,
		});
		await idle();
		expect(await route(storePath, '+447911200003')).toBe('open');
		expect(await route(storePath, '+447911200003', { minimumMinutesLeft: 5 })).toBe('open');
		expect(await route(storePath, '+447911200003', { minimumMinutesLeft: 15 })).toBe('closed');
	});

	it('records an opt-out from the user_preferences webhook, and a later resume', async () => {
		const storePath = String(relay.parameters.storePath);
		await control('opt-out', {
			wa_id: '447911200004',
			value: 'stop',
			timestamp: Date.now() - 60_000,
		});
		await idle();
		expect(relay.calls.map((c) => c.status)).toEqual([200]);
		const store = openStore(storePath);
		try {
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911200004' })).toBe(
				true,
			);
			await control('opt-out', { wa_id: '447911200004', value: 'resume' });
			await idle();
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911200004' })).toBe(
				false,
			);
		} finally {
			await store.close();
		}
	});

	it('records an opt-out when the customer writes "STOP", but not for a sentence that contains it', async () => {
		const storePath = String(relay.parameters.storePath);
		await control('inbound', { from: '+447911200005', text: 'please do not stop' });
		await control('inbound', { from: '+447911200006', text: '  Stop ' });
		await idle();
		const store = openStore(storePath);
		try {
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911200005' })).toBe(
				false,
			);
			expect(await store.isOptedOut({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911200006' })).toBe(
				true,
			);
		} finally {
			await store.close();
		}
		const items = emitted();
		expect(items.find((i) => i.from === '447911200006')).toMatchObject({ optOut: true });
		expect(items.find((i) => i.from === '447911200005')?.optOut).toBeUndefined();
	});
});

// ---------------------------------------------------------------- 7. automatic registration

describe('automatic registration through a phone number callback override', () => {
	const overrideUrl = (): string => `${relay.url}/override/wf-1`;
	const hook = (url = overrideUrl(), creds = credentials()) =>
		hookContext(
			trigger,
			{
				registration: 'automatic',
				options: {},
				stateStore: 'embedded',
				storePath: String(relay.parameters.storePath),
			},
			creds,
			url,
		);
	const methods = trigger.webhookMethods.default;
	const phoneOverride = async (): Promise<string | undefined> => {
		const response = await fetch(
			`${sandbox.url}/v25.0/${PHONE_NUMBER_ID}?fields=webhook_configuration`,
			{ headers: { Authorization: `Bearer ${TOKEN}` } },
		);
		const json = (await response.json()) as { webhook_configuration?: { phone_number?: string } };
		return json.webhook_configuration?.phone_number;
	};

	it("registers on activation (answering Meta's challenge), receives webhooks there, and unregisters on deactivation", async () => {
		await expect(methods.checkExists.call(hook())).resolves.toBe(false);
		await expect(methods.create.call(hook())).resolves.toBe(true);
		// The sandbox verified the URL with a GET challenge, which the trigger answered.
		expect(relay.calls.filter((c) => c.method === 'GET')).toEqual([
			expect.objectContaining({ path: '/override/wf-1', status: 200 }),
		]);
		expect(await phoneOverride()).toBe(overrideUrl());
		await expect(methods.checkExists.call(hook())).resolves.toBe(true);

		await control('inbound', { from: '+447911300001', text: 'via override' });
		await idle();
		const posts = relay.calls.filter((c) => c.method === 'POST');
		expect(posts.map((c) => c.path)).toEqual(['/override/wf-1']);
		expect(posts[0].items).toEqual([
			expect.objectContaining({ from: '447911300001', text: 'via override' }),
		]);

		await expect(methods.delete.call(hook())).resolves.toBe(true);
		expect(await phoneOverride()).toBeUndefined();
		await expect(methods.checkExists.call(hook())).resolves.toBe(false);
		await control('inbound', { from: '+447911300001', text: 'after delete' });
		await idle();
		expect(relay.calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual([
			'/override/wf-1',
			'/app',
		]);
	});

	it("refuses to register a URL that does not answer Meta's challenge", async () => {
		relay.credentials = () => credentials({ verifyToken: 'a-different-token' });
		await expect(methods.create.call(hook())).rejects.toThrow(/2200|verif/i);
		expect(await phoneOverride()).toBeUndefined();
	});

	it('does not remove an override that another workflow has since taken over', async () => {
		await methods.create.call(hook());
		await methods.create.call(hook(`${relay.url}/override/wf-2`));
		expect(await phoneOverride()).toBe(`${relay.url}/override/wf-2`);
		await expect(methods.delete.call(hook())).resolves.toBe(true);
		expect(await phoneOverride()).toBe(`${relay.url}/override/wf-2`);
	});

	it('manual registration touches nothing at Meta', async () => {
		const manual = hookContext(
			trigger,
			{ registration: 'manual', options: {} },
			credentials(),
			overrideUrl(),
		);
		await expect(methods.checkExists.call(manual)).resolves.toBe(true);
		await expect(methods.create.call(manual)).resolves.toBe(true);
		await expect(methods.delete.call(manual)).resolves.toBe(true);
		expect(sandbox.state.requests.since(0)).toHaveLength(0);
	});
});
