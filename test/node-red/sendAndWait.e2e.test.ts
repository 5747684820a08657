/**
 * Send and Wait inside a real Node-RED (the package installed as users install it, harness/node-red-runtime.ts), with
 * the Cloud API sandbox as Meta delivering signed webhooks to the flow's webhook status node. Each output of the
 * waiting nodes goes through a function node that stamps it (output name, Date.now()) into a JSON-lines file, read
 * back here; the webhook node's events go to another file. Cases:
 * - `appointment_reminder` with two quick replies: the customer taps the second → that output, with the reply and the
 *   original msg, within 2 s of the tap; the same signed delivery posted again resumes nothing more; deliveries of a
 *   tap without or with a wrong signature are refused (401) and the wait goes on;
 * - no answer in time → No Response, and a tap after it resumes nothing while the webhook node still emits it;
 * - the message fails (131026) → Failed;
 * - Node-RED killed (SIGKILL) while msgs wait and started again on the same user directory and store → a tap still
 *   comes out of the right output with the msg, and so does a tap made while it was down once the sandbox (as Meta)
 *   redelivers it; a wait open at the kill emits No Response once when its time runs out (the restarted node arms
 *   its timer again from the store; at once if the time ran out while Node-RED was down), and a tap after that
 *   resumes nothing;
 * - `whatsapp-send-message` with Wait for a response: reply buttons (tap the second), a list (a row), a text (a reply).
 *
 * Builds first (`npm run build`) when dist/ is missing or older than the sources.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { computeSignature, createStateStore } from '../../core';
import type { WaitLink } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { ensureBuilt, freePort, sleep, startNodeRed, until } from '../../harness/node-red-runtime';
import type { FlowNode, NodeRedRuntime } from '../../harness/node-red-runtime';
import { APPOINTMENT_TEMPLATE } from '../../sandbox/fixtures/appointmentReminder';

const TOKEN = 'sandbox-token-for-node-red-send-and-wait';
const APP_SECRET = 'app-secret-for-node-red-send-and-wait';
const VERIFY_TOKEN = 'verify-token-for-node-red-send-and-wait';
const PHONE_NUMBER_ID = '106540352242922';
const TAB = '5a17000000000001';
const CONFIG_ID = '5a17000000000002';
const HOOK_PATH = '/whatsapp/webhook';
const FAILING_WA_ID = '447911000131';
/** The bound: the flow continues on the tapped output within 2 s of the webhook. */
const RESUME_BOUND_MS = 2000;

/** The waiting nodes of the flow: their node, what they wait for, and their outputs in order. */
const WAITERS = {
	reminder: {
		type: 'whatsapp-send-template',
		settings: { templateName: 'appointment_reminder', templateLanguage: 'en_US' },
		waitButtons: 'Confirm\nReschedule',
		waitSeconds: 3600,
		outputs: ['No Response', 'Confirm', 'Reschedule', 'Other Reply', 'Failed', 'skipped by policy'],
	},
	shortReminder: {
		type: 'whatsapp-send-template',
		settings: { templateName: 'appointment_reminder', templateLanguage: 'en_US' },
		waitButtons: 'Confirm\nReschedule',
		waitSeconds: 2,
		outputs: ['No Response', 'Confirm', 'Reschedule', 'Other Reply', 'Failed', 'skipped by policy'],
	},
	buttons: {
		type: 'whatsapp-send-message',
		settings: { wait: true },
		waitButtons: 'Keep\nChange date',
		waitSeconds: 3600,
		outputs: ['No Response', 'Keep', 'Change date', 'Other Reply', 'Failed', 'skipped by policy'],
	},
	list: {
		type: 'whatsapp-send-message',
		settings: { wait: true },
		waitButtons: 'Morning\nAfternoon\nEvening',
		waitSeconds: 3600,
		outputs: [
			'No Response',
			'Morning',
			'Afternoon',
			'Evening',
			'Other Reply',
			'Failed',
			'skipped by policy',
		],
	},
	text: {
		type: 'whatsapp-send-message',
		settings: { wait: true },
		waitButtons: '',
		waitSeconds: 3600,
		outputs: ['No Response', 'Reply', 'Failed', 'skipped by policy'],
	},
} as const;
type Waiter = keyof typeof WAITERS;
const WAITER_NAMES = Object.keys(WAITERS) as Waiter[];

let sandbox: Sandbox;
let nodeRed: NodeRedRuntime | undefined;
let port = 0;
let nodeRedUrl = '';
const userDir = mkdtempSync(join(tmpdir(), 'wj-node-red-saw-'));
const outputsFile = join(userDir, 'out', 'outputs.jsonl');
const eventsFile = join(userDir, 'out', 'events.jsonl');
const storePath = join(userDir, 'journeys.sqlite');

/** A function node's source that writes one JSON line about the msg (file nodes append it). */
const stamp = (fields: Record<string, string>): string =>
	`msg.payload = JSON.stringify(Object.assign(${JSON.stringify(fields)}, { at: Date.now(), ref: msg.ref, payload: msg.payload })); return msg;`;

function fileNode(id: string, filename: string, y: number): FlowNode {
	return {
		id,
		type: 'file',
		z: TAB,
		filename,
		filenameType: 'str',
		appendNewline: true,
		createDir: true,
		overwriteFile: 'false',
		encoding: 'utf8',
		x: 900,
		y,
		wires: [],
	};
}

/**
 * POST /saw/<waiter> {ref, payload} → the waiter gets msg.payload (and msg.ref, kept across the wait); the request
 * is answered at once. Every output of every waiter → a stamp → outputs.jsonl; the webhook node → events.jsonl.
 */
function flows(): FlowNode[] {
	const nodes: FlowNode[] = [
		{ id: TAB, type: 'tab', label: 'send and wait' },
		{
			id: CONFIG_ID,
			type: 'whatsapp-cloud-config',
			name: 'sandbox number',
			phoneNumberId: PHONE_NUMBER_ID,
			wabaId: '102290129340398',
			apiVersion: 'v25.0',
			baseUrl: sandbox.url,
			appSecretProof: false,
			storeType: 'embedded',
			storePath,
		},
		{
			id: '5a17000000000003',
			type: 'whatsapp-webhook-status',
			z: TAB,
			server: CONFIG_ID,
			url: HOOK_PATH,
			events: ['message', 'status:failed'],
			allPhoneNumbers: false,
			deduplicate: true,
			includeRaw: false,
			lateStatuses: 'drop',
			recordWindows: true,
			recordOptOuts: true,
			stopKeywords: 'STOP',
			allowUnsigned: false,
			registration: 'manual',
			x: 130,
			y: 40,
			wires: [['5a17000000000004']],
		},
		{
			id: '5a17000000000004',
			type: 'function',
			z: TAB,
			func: stamp({ kind: 'event' }),
			outputs: 1,
			x: 500,
			y: 40,
			wires: [['5a17000000000005']],
		},
		fileNode('5a17000000000005', eventsFile, 40),
		fileNode('5a17000000000006', outputsFile, 400),
		{
			id: '5a17000000000007',
			type: 'http in',
			z: TAB,
			url: '/saw/:waiter',
			method: 'post',
			upload: false,
			x: 130,
			y: 100,
			wires: [['5a17000000000008', '5a17000000000009']],
		},
		{ id: '5a17000000000008', type: 'http response', z: TAB, statusCode: '202', x: 300, y: 80 },
		{
			id: '5a17000000000009',
			type: 'function',
			z: TAB,
			func: `const i = ${JSON.stringify(WAITER_NAMES)}.indexOf(msg.req.params.waiter);
const out = ${JSON.stringify(WAITER_NAMES.map(() => null))};
msg.ref = msg.payload.ref;
msg.payload = msg.payload.payload;
out[i] = msg;
return out;`,
			outputs: WAITER_NAMES.length,
			x: 300,
			y: 120,
			wires: WAITER_NAMES.map((name) => [`w-${name}`]),
		},
	];
	WAITER_NAMES.forEach((name, row) => {
		const waiter = WAITERS[name];
		nodes.push({
			id: `w-${name}`,
			type: waiter.type,
			z: TAB,
			name,
			server: CONFIG_ID,
			pairIntervalSeconds: 0,
			...waiter.settings,
			waitButtons: waiter.waitButtons,
			waitSeconds: waiter.waitSeconds,
			outputs: waiter.outputs.length,
			x: 500,
			y: 100 + row * 60,
			wires: waiter.outputs.map((_, i) => [`o-${name}-${i}`]),
		});
		waiter.outputs.forEach((output, i) =>
			nodes.push({
				id: `o-${name}-${i}`,
				type: 'function',
				z: TAB,
				func: stamp({ node: name, output }),
				outputs: 1,
				x: 700,
				y: 100 + row * 60 + i * 5,
				wires: [['5a17000000000006']],
			}),
		);
	});
	return nodes;
}

interface Line {
	kind?: string;
	node?: Waiter;
	output?: string;
	at: number;
	ref?: string;
	payload: Record<string, unknown>;
}

function lines(file: string): Line[] {
	if (!existsSync(file)) return [];
	return readFileSync(file, 'utf8')
		.split('\n')
		.filter((line) => line.trim() !== '')
		.map((line) => JSON.parse(line) as Line);
}
const outputsOf = (ref: string): Line[] => lines(outputsFile).filter((l) => l.ref === ref);
const eventsAbout = (wamid: string): Line[] =>
	lines(eventsFile).filter(
		(l) => (l.payload.context as { messageId?: string } | undefined)?.messageId === wamid,
	);

async function start(): Promise<void> {
	nodeRed = await startNodeRed({
		userDir,
		port,
		flows: flows(),
		credentials: {
			[CONFIG_ID]: { accessToken: TOKEN, appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
		},
	});
	nodeRedUrl = nodeRed.url;
}

/** Hands `payload` to a waiter with msg.ref = ref; returns the wamid once its wait link is in the store. */
async function send(
	waiter: Waiter,
	ref: string,
	payload: Record<string, unknown>,
): Promise<string> {
	const to = String(payload.to).replace(/\D/g, '');
	const before = ((await sandbox.control(`messages?to=${to}`)) as { data: unknown[] }).data.length;
	const response = await fetch(`${nodeRedUrl}/saw/${waiter}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ ref, payload }),
	});
	expect(response.status).toBe(202);
	const wamid = await until(`the message of ${ref} at the sandbox`, async () => {
		const { data } = (await sandbox.control(`messages?to=${to}`)) as {
			data: Array<{ id: string }>;
		};
		return data.length > before ? data[data.length - 1].id : undefined;
	});
	// The node writes the wait link right after the API answers: read it from the store Node-RED uses.
	await until(`the wait link of ${ref}`, () => waitLink(wamid));
	return wamid;
}

async function waitLink(messageId: string): Promise<WaitLink | undefined> {
	const store = createStateStore({ backend: 'embedded', path: storePath });
	try {
		return await store.getWaitLink({ phoneNumberId: PHONE_NUMBER_ID, messageId });
	} finally {
		await store.close();
	}
}

const appointment = (phone: string) => ({ to: phone, variables: { body_1: 'Ana' } });

/** Opens the customer's service window (send message needs it): they write, the webhook node records it. */
async function customerWrites(phone: string): Promise<void> {
	const { message } = (await sandbox.control('inbound', { from: phone, text: 'Hello' })) as {
		message: { id: string };
	};
	await until('the inbound message at the webhook node', () =>
		lines(eventsFile).some((l) => l.payload.messageId === message.id) ? true : undefined,
	);
}

/** The customer taps; resolves with the time of the tap and the tap's own wamid. */
async function tap(
	wamid: string,
	button: number | string,
	id?: string,
): Promise<{ at: number; id: string }> {
	const at = Date.now();
	const tapped = (await sandbox.control('tap', {
		messageId: wamid,
		button,
		...(id ? { id } : {}),
	})) as { id: string };
	return { at, id: tapped.id };
}

async function outputOf(ref: string): Promise<Line> {
	return until(`an output for ${ref}`, () => outputsOf(ref)[0]);
}

/** The signed delivery (body and signature as the sandbox posted them) that carried the inbound message `id`. */
async function deliveryOf(id: string): Promise<{ body: string; signature: string }> {
	return until(`the delivery of ${id}`, async () => {
		const { data } = (await sandbox.control(`webhooks?url=${encodeURIComponent(hookUrl())}`)) as {
			data: Array<{ body: string; signature: string; statusCode: number }>;
		};
		return data.find((a) => a.statusCode === 200 && a.body.includes(id));
	});
}

const hookUrl = (): string => `http://127.0.0.1:${port}${HOOK_PATH}`;

const postHook = (body: string, headers: Record<string, string>): Promise<Response> =>
	fetch(`${nodeRedUrl}${HOOK_PATH}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', ...headers },
		body,
	});

/** Meta's webhook of a quick-reply tap (the shape the sandbox delivers), for deliveries the sandbox did not sign. */
function tapWebhook(wamid: string, waId: string, label: string, id: string): string {
	return JSON.stringify({
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
							contacts: [{ profile: { name: 'Sandbox Customer' }, wa_id: waId }],
							messages: [
								{
									from: waId,
									id,
									timestamp: String(Math.floor(Date.now() / 1000)),
									type: 'button',
									button: { payload: label, text: label },
									context: { from: '15550783881', id: wamid },
								},
							],
						},
					},
				],
			},
		],
	});
}

beforeAll(async () => {
	ensureBuilt();
	port = await freePort();
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 20,
		// Meta retries a failed delivery for days; here long enough to outlast a Node-RED restart (1 + 2 + … + 64 s).
		webhookRetryBaseMs: 1000,
		webhookMaxAttempts: 8,
		callbackUrl: hookUrl(),
	});
	await sandbox.control('templates', APPOINTMENT_TEMPLATE);
	await sandbox.control('faults', { recipientFailures: { [FAILING_WA_ID]: 131026 } });
	await start();
}, 360_000);

afterAll(async () => {
	await nodeRed?.stop();
	await sandbox?.close();
	rmSync(userDir, { recursive: true, force: true });
});

/** Delays from the tap to the output, reported at the end (the 2 s bound is asserted per case). */
const delays: Record<string, number> = {};
afterAll(() =>
	console.log(`Send and Wait in real Node-RED, tap → output (ms): ${JSON.stringify(delays)}`),
);

describe('Send and Wait in a real Node-RED runtime', () => {
	it('appointment_reminder: the second quick reply → Reschedule within 2 s, with the reply and the msg', async () => {
		const wamid = await send('reminder', 'A-1', appointment('+447911200001'));
		const tapped = await tap(wamid, 1);
		const out = await outputOf('A-1');
		delays.template = out.at - tapped.at;
		expect(out).toMatchObject({ node: 'reminder', output: 'Reschedule', ref: 'A-1' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'button',
			button: { index: 1, label: 'Reschedule' },
			reply: { type: 'button', messageId: tapped.id },
		});
		expect(out.at - tapped.at).toBeLessThanOrEqual(RESUME_BOUND_MS);
	});

	it('a duplicate delivery of the tap resumes once; unsigned or wrongly signed deliveries are refused and the wait goes on', async () => {
		const phone = '+447911200002';
		const wamid = await send('reminder', 'B-1', appointment(phone));
		const forged = tapWebhook(wamid, '447911200002', 'Reschedule', 'wamid.FORGED-B1');
		expect((await postHook(forged, {})).status).toBe(401);
		expect(
			(
				await postHook(forged, {
					'X-Hub-Signature-256': computeSignature(forged, 'not-the-app-secret'),
				})
			).status,
		).toBe(401);
		await sleep(500);
		expect(outputsOf('B-1')).toEqual([]);
		const link = await waitLink(wamid);
		expect(link?.messageId).toBe(wamid);
		expect(link?.claimedAt).toBeUndefined();

		const tapped = await tap(wamid, 0, 'wamid.TAP-B1');
		const out = await outputOf('B-1');
		delays.afterForgery = out.at - tapped.at;
		expect(out).toMatchObject({ node: 'reminder', output: 'Confirm' });
		expect(out.at - tapped.at).toBeLessThanOrEqual(RESUME_BOUND_MS);

		// Meta retries a delivery it saw no 200 for, and may deliver a message twice (same id): one resume.
		const delivered = await deliveryOf('wamid.TAP-B1');
		expect(
			(await postHook(delivered.body, { 'X-Hub-Signature-256': delivered.signature })).status,
		).toBe(200);
		await tap(wamid, 0, 'wamid.TAP-B1');
		// A second, different tap is a new message: the webhook node emits it, the wait (claimed) does not resume.
		await tap(wamid, 1, 'wamid.TAP-B1-AGAIN');
		await until('the second tap at the webhook node', () =>
			eventsAbout(wamid).some((e) => e.payload.messageId === 'wamid.TAP-B1-AGAIN')
				? true
				: undefined,
		);
		await sleep(500);
		expect(outputsOf('B-1').map((l) => l.output)).toEqual(['Confirm']);
		expect(
			eventsAbout(wamid).map((e) => [e.payload.messageId, typeof e.payload.resumedExecutionId]),
		).toEqual([
			['wamid.TAP-B1', 'string'],
			['wamid.TAP-B1-AGAIN', 'undefined'],
		]);
	});

	it('no answer in time → No Response; a tap after it resumes nothing, and the webhook node still emits it', async () => {
		const phone = '+447911200003';
		const sentAt = Date.now();
		const wamid = await send('shortReminder', 'T-1', appointment(phone));
		const out = await outputOf('T-1');
		expect(out).toMatchObject({ node: 'shortReminder', output: 'No Response' });
		expect(out.payload).toMatchObject({ messageId: wamid, waitOutcome: 'timeout' });
		expect(out.at - sentAt).toBeGreaterThanOrEqual(WAITERS.shortReminder.waitSeconds * 1000);
		delays.timeoutAfterSend = out.at - sentAt;

		await tap(wamid, 0, 'wamid.TAP-LATE');
		const late = await until('the late tap at the webhook node', () => eventsAbout(wamid)[0]);
		expect(late.payload).toMatchObject({ messageId: 'wamid.TAP-LATE', type: 'button' });
		expect(late.payload.resumedExecutionId).toBeUndefined();
		await sleep(500);
		expect(outputsOf('T-1').map((l) => l.output)).toEqual(['No Response']);
	});

	it("a message that fails (Meta's 131026) → Failed, with the status and its error", async () => {
		const wamid = await send('reminder', 'F-1', appointment(`+${FAILING_WA_ID}`));
		const out = await outputOf('F-1');
		expect(out).toMatchObject({ node: 'reminder', output: 'Failed' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'failed',
			status: { status: 'failed', errors: [expect.objectContaining({ code: 131026 })] },
		});
	});

	it('send message, reply buttons: the customer taps the second → its output, with the reply and the msg', async () => {
		const phone = '+447911200011';
		await customerWrites(phone);
		const wamid = await send('buttons', 'M-1', {
			to: phone,
			text: 'Your order ships tomorrow. Keep the date?',
			buttons: [
				{ id: 'keep-date', title: 'Keep' },
				{ id: 'change-date', title: 'Change date' },
			],
		});
		const tapped = await tap(wamid, 1);
		const out = await outputOf('M-1');
		delays.replyButtons = out.at - tapped.at;
		expect(out).toMatchObject({ node: 'buttons', output: 'Change date' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'button',
			button: { index: 1, label: 'Change date' },
			reply: { type: 'interactive', interactive: { type: 'button_reply', id: 'change-date' } },
		});
		expect(out.at - tapped.at).toBeLessThanOrEqual(RESUME_BOUND_MS);
	});

	it('send message, a list: the customer picks a row → its output', async () => {
		const phone = '+447911200012';
		await customerWrites(phone);
		const wamid = await send('list', 'L-1', {
			to: phone,
			text: 'When should we deliver?',
			list: {
				button: 'Pick a slot',
				sections: [
					{
						title: 'Tomorrow',
						rows: [
							{ id: 'am', title: 'Morning' },
							{ id: 'pm', title: 'Afternoon' },
							{ id: 'eve', title: 'Evening' },
						],
					},
				],
			},
		});
		const tapped = await tap(wamid, 'pm');
		const out = await outputOf('L-1');
		delays.listRow = out.at - tapped.at;
		expect(out).toMatchObject({ node: 'list', output: 'Afternoon' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'button',
			reply: { type: 'interactive', interactive: { type: 'list_reply', id: 'pm' } },
		});
		expect(out.at - tapped.at).toBeLessThanOrEqual(RESUME_BOUND_MS);
	});

	it('send message, a text: the customer writes back → Reply', async () => {
		const phone = '+447911200013';
		await customerWrites(phone);
		const wamid = await send('text', 'X-1', { to: phone, text: 'How did we do, 1 to 5?' });
		const at = Date.now();
		await sandbox.control('inbound', { from: phone, text: '5', context: { id: wamid } });
		const out = await outputOf('X-1');
		delays.textReply = out.at - at;
		expect(out).toMatchObject({ node: 'text', output: 'Reply' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'otherReply',
			reply: { type: 'text', text: '5' },
		});
		expect(out.at - at).toBeLessThanOrEqual(RESUME_BOUND_MS);
	});

	it('Node-RED killed (SIGKILL) while msgs wait and started again on the same store: taps resume the right outputs with the msg, one made while it was down too once Meta redelivers', async () => {
		const wamid = await send('reminder', 'R-1', appointment('+447911200004'));
		const downWamid = await send('reminder', 'R-2', appointment('+447911200005'));
		const shortWamid = await send('shortReminder', 'T-2', appointment('+447911200006'));
		const killed = nodeRed!;
		const exited = new Promise((resolve) => killed.process.once('exit', resolve));
		killed.process.kill('SIGKILL');
		await exited;
		await expect(fetch(`${nodeRedUrl}/saw/reminder`)).rejects.toThrow();
		// Tapped while Node-RED is down: the delivery fails and the sandbox, as Meta, retries it with backoff.
		await tap(downWamid, 0, 'wamid.TAP-WHILE-DOWN');

		await start();
		const startedAt = Date.now();
		const tapped = await tap(wamid, 1);
		const out = await outputOf('R-1');
		delays.afterRestart = out.at - tapped.at;
		expect(out).toMatchObject({ node: 'reminder', output: 'Reschedule', ref: 'R-1' });
		expect(out.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'button',
			button: { index: 1, label: 'Reschedule' },
		});
		expect(out.at - tapped.at).toBeLessThanOrEqual(RESUME_BOUND_MS);

		const redelivered = await until(
			'the tap made while down, redelivered',
			() => outputsOf('R-2')[0],
			90_000,
		);
		expect(redelivered).toMatchObject({ node: 'reminder', output: 'Confirm', ref: 'R-2' });
		expect(redelivered.payload).toMatchObject({
			messageId: downWamid,
			reply: { messageId: 'wamid.TAP-WHILE-DOWN' },
		});

		// The 2 s wait was open at the kill: its timer died with the process, and the restarted node armed it again
		// from the store (README, Send and Wait in Node-RED): No Response once, not before its time, at once when its
		// time ran out while Node-RED was down. A tap after it resumes nothing (the store refuses).
		const expiresAt = (await waitLink(shortWamid))!.expiresAt;
		const timedOut = await outputOf('T-2');
		expect(timedOut).toMatchObject({ node: 'shortReminder', output: 'No Response', ref: 'T-2' });
		expect(timedOut.payload).toMatchObject({ messageId: shortWamid, waitOutcome: 'timeout' });
		expect(timedOut.at).toBeGreaterThanOrEqual(expiresAt);
		expect(timedOut.at - Math.max(expiresAt, startedAt)).toBeLessThanOrEqual(RESUME_BOUND_MS);
		delays.timeoutAfterRestart = timedOut.at - Math.max(expiresAt, startedAt);
		await tap(shortWamid, 0, 'wamid.TAP-AFTER-DEADLINE');
		const late = await until('the late tap at the webhook node', () => eventsAbout(shortWamid)[0]);
		expect(late.payload.resumedExecutionId).toBeUndefined();
		await sleep(500);
		expect(outputsOf('T-2').map((l) => l.output)).toEqual(['No Response']);
	});
});
