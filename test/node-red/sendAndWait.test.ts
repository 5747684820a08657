/**
 * Send and Wait in Node-RED (node-red-node-test-helper's runtime): `whatsapp-send-template` with Reply Buttons holds
 * the msg; the sandbox's customer taps a quick reply (Meta's `type: "button"` payload with `context.id` = the
 * template's wamid, delivered as a signed webhook) to `whatsapp-webhook-status`, which resumes the wait:
 * - the second button → its output, once, however often the tap is delivered; the webhook event says it resumed;
 * - a resume without the wait's proof is refused (403) and the wait goes on; the same resume twice emits once (410);
 * - a message that fails (131026) → Failed; no answer in time → No Response, and a later tap resumes nothing;
 * - Node-RED redeployed (the node restarted) while waiting: the tap still comes out of the right output, with the msg;
 *   no tap: No Response at the deadline after the restart (at once if it passed while the node was down), once; a
 *   wait resumed before the restart emits nothing after it.
 */
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { createStateStore, resumeProof } from '../../core';
import { resumeInProcess } from '../../node-red/lib/waits';
import {
	APP_SECRET,
	CREDENTIALS,
	Collector,
	NodeHttpServer,
	PHONE_NUMBER_ID,
	control,
	flow,
	helper,
	load,
	newStorePath,
	sleep,
} from './harness';
import type { FlowNode } from './harness';
import { APPOINTMENT_TEMPLATE } from '../../sandbox/fixtures/appointmentReminder';

const PATH = '/whatsapp-saw';
const OUTPUTS = ['No Response', 'Confirm', 'Reschedule', 'Other Reply', 'Failed'];
const FAILING_WA_ID = '447911000131';

let sandbox: Sandbox;
const server = new NodeHttpServer();

function nodes(waitSeconds = 3600): FlowNode[] {
	return [
		{
			id: 'send',
			type: 'whatsapp-send-template',
			server: 'cfg',
			templateName: 'appointment_reminder',
			templateLanguage: 'en_US',
			pairIntervalSeconds: 0,
			waitButtons: 'Confirm\nReschedule',
			waitSeconds,
			outputs: OUTPUTS.length,
			wires: OUTPUTS.map((_, i) => [`out${i}`]),
		},
		...OUTPUTS.map((_, i) => ({ id: `out${i}`, type: 'helper' })),
		{
			id: 'hook',
			type: 'whatsapp-webhook-status',
			server: 'cfg',
			url: PATH,
			events: ['message', 'status:failed'],
			wires: [['events']],
		},
		{ id: 'events', type: 'helper' },
	];
}

interface Loaded {
	outs: Collector[];
	events: Collector;
}

async function loadFlow(storePath: string, waitSeconds?: number): Promise<Loaded> {
	const RED = await load(flow(sandbox, storePath, nodes(waitSeconds)));
	server.serve(RED);
	return {
		outs: OUTPUTS.map((_, i) => new Collector(`out${i}`)),
		events: new Collector('events'),
	};
}

/** Sends the appointment to `phone` and returns the wamid the sandbox gave it. */
async function sendTo(phone: string, extra: Record<string, unknown> = {}): Promise<string> {
	const before = (await control(sandbox, `messages?to=${encodeURIComponent(phone)}`)).data.length;
	helper.getNode('send').receive({
		payload: { to: phone, variables: { body_1: 'Ana' } },
		...extra,
	});
	for (let i = 0; i < 100; i++) {
		const sent = (await control(sandbox, `messages?to=${encodeURIComponent(phone)}`)).data;
		if (sent.length > before) {
			await sleep(100); // the link is written right after the API answers
			return String(sent[sent.length - 1].id);
		}
		await sleep(50);
	}
	throw new Error(`nothing sent to ${phone}`);
}

const tap = (phone: string, wamid: string, label: string, id?: string) =>
	control(sandbox, 'inbound', {
		from: phone,
		...(id ? { id } : {}),
		button: { payload: label, text: label },
		context: { id: wamid },
	});

const taken = (outs: Collector[]) => outs.flatMap((o, i) => o.messages.map(() => OUTPUTS[i]));

beforeAll(async () => {
	await server.start();
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 50,
		callbackUrl: `${server.url}${PATH}`,
	});
});
afterAll(async () => {
	await sandbox.close();
	await server.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
	await control(sandbox, 'templates', APPOINTMENT_TEMPLATE);
});
afterEach(async () => {
	await helper.unload();
});

describe('Send and Wait (whatsapp-send-template with Reply Buttons) in Node-RED', () => {
	it('the second button → its output once, however often the tap is delivered; the event says it resumed', async () => {
		const { outs, events } = await loadFlow(newStorePath());
		const phone = '+447911123401';
		const wamid = await sendTo(phone, { appointmentId: 'A-17' });
		await tap(phone, wamid, 'Reschedule', 'wamid.NR-TAP-1');
		await tap(phone, wamid, 'Reschedule', 'wamid.NR-TAP-1');
		await tap(phone, wamid, 'Confirm', 'wamid.NR-TAP-2');
		await events.waitFor(2);
		await sleep(300);
		expect(taken(outs)).toEqual(['Reschedule']);
		const [msg] = outs[2].messages;
		expect(msg.appointmentId).toBe('A-17');
		expect(msg.payload).toMatchObject({
			messageId: wamid,
			waitOutcome: 'button',
			button: { index: 1, label: 'Reschedule' },
			reply: { type: 'button' },
		});
		const replies = events.messages.map((m) => m.payload as Record<string, unknown>);
		expect(replies.map((r) => [r.messageId, typeof r.resumedExecutionId])).toEqual([
			['wamid.NR-TAP-1', 'string'],
			['wamid.NR-TAP-2', 'undefined'],
		]);
	});

	it('refuses a resume without the wait’s proof (403), and the wait goes on', async () => {
		const storePath = newStorePath();
		const { outs } = await loadFlow(storePath);
		const phone = '+447911123402';
		const wamid = await sendTo(phone);
		const store = createStateStore({ backend: 'embedded', path: storePath });
		const link = await store.getWaitLink({ phoneNumberId: PHONE_NUMBER_ID, messageId: wamid });
		await store.close();
		expect(link?.resumeUrl).toBe('node-red:send');
		const forged = JSON.stringify({
			v: 1,
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: wamid,
			executionId: link!.executionId,
			outcome: { kind: 'button', index: 0, label: 'Confirm' },
			event: { kind: 'message' },
			resumedAt: new Date().toISOString(),
		});
		expect(await resumeInProcess.post(link!, forged, 'ab'.repeat(32))).toBe(403);
		await sleep(200);
		expect(taken(outs)).toEqual([]);
		await tap(phone, wamid, 'Confirm');
		await outs[1].waitFor(1);
		expect(taken(outs)).toEqual(['Confirm']);
	});

	it('the same resume delivered again (a dispatcher that lost its lease) emits nothing: 410', async () => {
		const storePath = newStorePath();
		const { outs } = await loadFlow(storePath);
		const phone = '+447911123403';
		const wamid = await sendTo(phone);
		await tap(phone, wamid, 'Confirm');
		await outs[1].waitFor(1);
		const store = createStateStore({ backend: 'embedded', path: storePath });
		const link = await store.getWaitLink({ phoneNumberId: PHONE_NUMBER_ID, messageId: wamid });
		await store.close();
		// What the receiver stored with its claim, signed as the dispatcher signs it.
		expect(link?.resume).toBeDefined();
		expect(link?.endedAt).toBeDefined();
		expect(
			await resumeInProcess.post(link!, link!.resume!, resumeProof(link!.secret, link!.resume!)),
		).toBe(410);
		await sleep(200);
		expect(taken(outs)).toEqual(['Confirm']);
	});

	it('a message that fails (131026) → Failed; no answer in time → No Response, and a later tap resumes nothing', async () => {
		await control(sandbox, 'faults', { recipientFailures: { [FAILING_WA_ID]: 131026 } });
		const { outs, events } = await loadFlow(newStorePath(), 1);
		await sendTo(`+${FAILING_WA_ID}`);
		await outs[4].waitFor(1);
		expect(outs[4].messages[0].payload).toMatchObject({
			waitOutcome: 'failed',
			status: { status: 'failed', errors: [expect.objectContaining({ code: 131026 })] },
		});

		const phone = '+447911123403';
		const wamid = await sendTo(phone);
		await outs[0].waitFor(1, 5000);
		expect(outs[0].messages[0].payload).toMatchObject({ waitOutcome: 'timeout', messageId: wamid });
		const before = events.messages.length;
		await tap(phone, wamid, 'Confirm', 'wamid.NR-LATE');
		await events.waitFor(before + 1);
		await sleep(200);
		expect(taken(outs)).toEqual(['No Response', 'Failed']);
		expect((events.messages.at(-1)!.payload as Record<string, unknown>).resumedExecutionId).toBe(
			undefined,
		);
	});

	it('the node restarted (redeployed) while waiting: the tap still comes out of the right output, with the msg', async () => {
		const storePath = newStorePath();
		await loadFlow(storePath);
		const phone = '+447911123404';
		const wamid = await sendTo(phone, { appointmentId: 'A-99' });
		await helper.unload();
		const { outs } = await loadFlow(storePath);
		await tap(phone, wamid, 'Confirm');
		await outs[1].waitFor(1);
		expect(taken(outs)).toEqual(['Confirm']);
		expect(outs[1].messages[0].appointmentId).toBe('A-99');
	});

	it('redeployed while waiting, no tap: No Response at the deadline after the restart, once, with the msg', async () => {
		const storePath = newStorePath();
		await loadFlow(storePath, 3);
		const phone = '+447911123405';
		const sentAt = Date.now();
		const wamid = await sendTo(phone, { appointmentId: 'A-55' });
		await helper.unload();
		const { outs } = await loadFlow(storePath, 3);
		// Not before its time: the restart does not end the wait early.
		await sleep(Math.max(0, sentAt + 2_300 - Date.now()));
		expect(taken(outs)).toEqual([]);
		await outs[0].waitFor(1, 3_000);
		expect(Date.now() - sentAt).toBeGreaterThanOrEqual(3_000);
		expect(outs[0].messages[0].appointmentId).toBe('A-55');
		expect(outs[0].messages[0].payload).toMatchObject({ waitOutcome: 'timeout', messageId: wamid });
		await sleep(500);
		expect(taken(outs)).toEqual(['No Response']);
	});

	it('the deadline passed while Node-RED was down: No Response right after the start; a later tap resumes nothing', async () => {
		const storePath = newStorePath();
		await loadFlow(storePath, 1);
		const phone = '+447911123406';
		const wamid = await sendTo(phone, { appointmentId: 'A-56' });
		await helper.unload();
		await sleep(1_200);
		const startedAt = Date.now();
		const { outs, events } = await loadFlow(storePath, 1);
		await outs[0].waitFor(1, 2_000);
		expect(Date.now() - startedAt).toBeLessThan(1_500);
		expect(outs[0].messages[0]).toMatchObject({
			appointmentId: 'A-56',
			payload: { waitOutcome: 'timeout', messageId: wamid },
		});
		await tap(phone, wamid, 'Confirm', 'wamid.NR-AFTER-DOWN');
		await events.waitFor(1);
		await sleep(300);
		expect(taken(outs)).toEqual(['No Response']);
	});

	it('a wait resumed before the restart emits nothing after it, not even at its deadline', async () => {
		const storePath = newStorePath();
		const first = await loadFlow(storePath, 2);
		const phone = '+447911123407';
		const wamid = await sendTo(phone);
		await tap(phone, wamid, 'Reschedule');
		await first.outs[2].waitFor(1);
		await helper.unload();
		const { outs } = await loadFlow(storePath, 2);
		await sleep(2_500);
		expect(taken(outs)).toEqual([]);
	});
});

/**
 * `whatsapp-send-message` with "Wait for a response": inside the service window it sends reply buttons, a list or a
 * text from msg.payload and holds the msg; the sandbox's customer taps a reply button (Meta's `interactive.button_reply`
 * with `context.id` = our wamid,
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages)
 * or writes back, and the webhook status node resumes the wait on that output.
 */
describe('Send and Wait (whatsapp-send-message with Wait for a response) in Node-RED', () => {
	const BUTTON_OUTPUTS = [
		'No Response',
		'Keep',
		'Change date',
		'Other Reply',
		'Failed',
		'skipped by policy',
	];
	const TEXT_OUTPUTS = ['No Response', 'Reply', 'Failed', 'skipped by policy'];
	const messageFlow = (waitButtons: string, outputs: string[]): FlowNode[] => [
		{
			id: 'ask',
			type: 'whatsapp-send-message',
			server: 'cfg',
			pairIntervalSeconds: 0,
			wait: true,
			waitButtons,
			waitSeconds: 3600,
			outputs: outputs.length,
			wires: outputs.map((_, i) => [`ask${i}`]),
		},
		...outputs.map((_, i) => ({ id: `ask${i}`, type: 'helper' })),
		{
			id: 'hook',
			type: 'whatsapp-webhook-status',
			server: 'cfg',
			url: PATH,
			events: ['message', 'status:failed'],
			wires: [['events']],
		},
		{ id: 'events', type: 'helper' },
	];

	/** Loads the flow, opens the customer's window (its webhook seen first), sends `payload`, returns the wamid. */
	async function ask(phone: string, waitButtons: string, outputs: string[], payload: unknown) {
		const RED = await load(flow(sandbox, newStorePath(), messageFlow(waitButtons, outputs)));
		server.serve(RED);
		const outs = outputs.map((_, i) => new Collector(`ask${i}`));
		const events = new Collector('events');
		await control(sandbox, 'inbound', { from: phone, text: 'Hello' });
		await events.waitFor(1);
		helper.getNode('ask').receive({ payload, to: phone, orderId: 'O-9' } as never);
		for (let i = 0; i < 100; i++) {
			const sent = (await control(sandbox, `messages?to=${encodeURIComponent(phone)}`)).data;
			if (sent.length > 0) {
				await sleep(100);
				return { outs, events, wamid: String(sent[sent.length - 1].id) };
			}
			await sleep(50);
		}
		throw new Error(`nothing sent to ${phone}`);
	}

	it('reply buttons: the customer taps the second → its output, with the reply and the msg', async () => {
		const phone = '+447911123481';
		const { outs, wamid } = await ask(phone, 'Keep\nChange date', BUTTON_OUTPUTS, {
			to: phone,
			text: 'Your order ships tomorrow. Keep the date?',
			buttons: [
				{ id: 'keep-date', title: 'Keep' },
				{ id: 'change-date', title: 'Change date' },
			],
		});
		await control(sandbox, 'tap', { messageId: wamid, button: 1 });
		await outs[2].waitFor(1);
		await sleep(200);
		expect(outs.flatMap((o, i) => o.messages.map(() => BUTTON_OUTPUTS[i]))).toEqual([
			'Change date',
		]);
		const [msg] = outs[2].messages;
		expect(msg.orderId).toBe('O-9');
		expect(msg.payload).toMatchObject({
			messageId: wamid,
			type: 'interactive',
			waitOutcome: 'button',
			button: { index: 1, label: 'Change date' },
			reply: { type: 'interactive', interactive: { type: 'button_reply', id: 'change-date' } },
		});
	});

	it('a text: any reply from the customer comes out on Reply', async () => {
		const phone = '+447911123482';
		const { outs, wamid } = await ask(phone, '', TEXT_OUTPUTS, {
			to: phone,
			text: 'How did we do, 1 to 5?',
		});
		await control(sandbox, 'inbound', { from: phone, text: '5', context: { id: wamid } });
		await outs[1].waitFor(1);
		expect(outs[1].messages[0].payload).toMatchObject({
			waitOutcome: 'otherReply',
			reply: { type: 'text', text: '5' },
		});
	});
});
