/**
 * Send and Wait's rules: the outputs a wait has, which webhook event ends it on which output, the timeout, and the
 * resume proof (refused when forged, or delivered twice), plus resumeWaits as a receiver runs it (once per wait, late
 * replies ignored).
 *
 * The replies are Meta's payloads as kept in test/fixtures/webhooks: a template quick-reply tap arrives as
 * `type: "button"` with `button.payload` / `button.text` and `context.id` = the template message's wamid; a reply
 * button as `interactive.button_reply {id, title}` with the same context ("Users can respond to a message by selecting
 * one of the predefined buttons, which triggers a messages webhook describing their selection":
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	acceptResumeRequest,
	buildResumeRequest,
	matchWaitEvent,
	MemoryStateStore,
	normalizeWebhook,
	ResumeDispatcher,
	resumeWaits,
	verifyResumeRequest,
	waitDeadline,
	waitOutputIndex,
	waitOutputNames,
	waitMessageFrom,
	waitSpecForMessage,
	waitSpecFrom,
	waitSpecSchema,
	sessionMessageFromFields,
} from '../../core';
import type { IngestedEvent, WaitLink } from '../../core';

const fixture = (name: string): IngestedEvent[] =>
	normalizeWebhook(
		JSON.parse(readFileSync(join(__dirname, '../fixtures/webhooks', name), 'utf8')),
	) as IngestedEvent[];

const QUICK_REPLY = fixture('messages-button-quick-reply.json')[0];
const BUTTON_REPLY = fixture('messages-interactive-button-reply.json')[0];
const TEMPLATE_WAMID = 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA';
const PN = '106540352242922';
const T = Date.UTC(2026, 0, 5, 9, 0, 0);

function link(over: Partial<WaitLink> = {}): WaitLink {
	return {
		phoneNumberId: PN,
		messageId: TEMPLATE_WAMID,
		waId: '16505551234',
		executionId: '77',
		resumeUrl: 'http://n8n.local/webhook-waiting/77/node?signature=x',
		secret: 'ab'.repeat(32),
		expiresAt: T + 3_600_000,
		spec: JSON.stringify({ buttons: ['Keep promotions', 'Stop promotions'] }),
		sent: JSON.stringify({ messageId: TEMPLATE_WAMID, recipient: '+16505551234' }),
		createdAt: T,
		...over,
	};
}

describe('waitOutputNames / waitOutputIndex', () => {
	it('has No Response first (n8n passes a timed-out wait on output 0), then buttons, Other Reply, Status, Failed', () => {
		const spec = waitSpecFrom({ buttons: 'Confirm\nReschedule', status: 'read' });
		expect(waitOutputNames(spec)).toEqual([
			'No Response',
			'Confirm',
			'Reschedule',
			'Other Reply',
			'Status: read',
			'Failed',
		]);
		expect(waitOutputIndex(spec, { kind: 'button', index: 1, label: 'Reschedule' })).toBe(2);
		expect(waitOutputIndex(spec, { kind: 'otherReply' })).toBe(3);
		expect(waitOutputIndex(spec, { kind: 'status', status: 'read' })).toBe(4);
		expect(waitOutputIndex(spec, { kind: 'failed' })).toBe(5);
		expect(waitOutputIndex(spec, { kind: 'timeout' })).toBe(0);
		expect(waitOutputNames(waitSpecFrom({ buttons: 'Yes, No' }))).toEqual([
			'No Response',
			'Yes',
			'No',
			'Other Reply',
			'Failed',
		]);
	});

	it('refuses duplicate or too many buttons, naming the parameter', () => {
		expect(() => waitSpecFrom({ buttons: 'Yes, yes' })).toThrow(
			/Reply Buttons: "yes" is listed twice/,
		);
		expect(() => waitSpecFrom({ buttons: Array.from({ length: 11 }, (_, i) => `b${i}`) })).toThrow(
			/Reply Buttons: at most 10/,
		);
	});
});

describe('matchWaitEvent', () => {
	const spec = waitSpecFrom({ buttons: 'Keep promotions, Stop promotions', status: 'delivered' });

	it("a quick-reply tap whose context names our wamid → that button's output (by its text)", () => {
		expect(matchWaitEvent(link(), spec, QUICK_REPLY)).toEqual({
			kind: 'button',
			index: 1,
			label: 'Stop promotions',
		});
	});

	it('a tap on another message (context names another wamid) does not end this wait', () => {
		expect(matchWaitEvent(link({ messageId: 'wamid.other' }), spec, QUICK_REPLY)).toBeUndefined();
	});

	it('an interactive reply button matches by its id or title; an unknown button is Other Reply', () => {
		const ctx = BUTTON_REPLY.kind === 'message' ? BUTTON_REPLY.context!.messageId! : '';
		const l = link({ messageId: ctx, waId: (BUTTON_REPLY as { from: string }).from });
		expect(matchWaitEvent(l, waitSpecFrom({ buttons: 'Change, Cancel' }), BUTTON_REPLY)).toEqual({
			kind: 'button',
			index: 1,
			label: 'Cancel',
		});
		expect(matchWaitEvent(l, spec, BUTTON_REPLY)).toEqual({ kind: 'otherReply' });
	});

	it('free text from the customer without context is Other Reply; from someone else, nothing', () => {
		const text = fixture('messages-text.json')[0] as Extract<IngestedEvent, { kind: 'message' }>;
		expect(matchWaitEvent(link({ waId: text.from }), spec, text)).toEqual({ kind: 'otherReply' });
		expect(matchWaitEvent(link({ waId: '4915112345678' }), spec, text)).toBeUndefined();
	});

	it('statuses: failed → Failed; the chosen status (or a later one, out of order) → Status; others nothing', () => {
		const status = (s: string): IngestedEvent =>
			({
				kind: 'status',
				messageId: TEMPLATE_WAMID,
				status: s,
				phoneNumberId: PN,
			}) as IngestedEvent;
		expect(matchWaitEvent(link(), spec, status('failed'))).toEqual({ kind: 'failed' });
		expect(matchWaitEvent(link(), spec, status('sent'))).toBeUndefined();
		expect(matchWaitEvent(link(), spec, status('read'))).toEqual({
			kind: 'status',
			status: 'delivered',
		});
		expect(matchWaitEvent(link(), waitSpecFrom({ buttons: 'a' }), status('read'))).toBeUndefined();
	});
});

describe('waitDeadline', () => {
	it('defaults to 24 h, takes an interval or a date, and names a bad one', () => {
		expect(waitDeadline(undefined, T)).toBe(T + 24 * 3_600_000);
		expect(waitDeadline({ after: { amount: 2, unit: 'hours' } }, T)).toBe(T + 7_200_000);
		expect(waitDeadline({ until: new Date(T + 1000) }, T)).toBe(T + 1000);
		expect(() => waitDeadline({ until: 'soon' }, T)).toThrow(/Wait Until/);
		expect(() => waitDeadline({ until: new Date(T - 1) }, T)).toThrow(/in the past/);
		expect(() => waitDeadline({ after: { amount: 0, unit: 'hours' } }, T)).toThrow(/Wait Time/);
	});
});

describe('resume proof', () => {
	it("verifies a request signed with the claimed link's secret, and refuses forged or replayed ones with 403", async () => {
		const store = new MemoryStateStore();
		const l = link({ expiresAt: Date.now() + 60_000 });
		await store.putWaitLink(l);
		const { body, proof } = buildResumeRequest(
			l,
			{ kind: 'button', index: 1, label: 'Stop promotions' },
			QUICK_REPLY,
		);
		// Not claimed yet: nobody went through the receiver.
		expect(await verifyResumeRequest(body, proof, '77', store)).toMatchObject({
			ok: false,
			status: 403,
		});
		await store.claimWaitLink({ phoneNumberId: PN, messageId: TEMPLATE_WAMID });
		const ok = await verifyResumeRequest(body, proof, '77', store);
		expect(ok).toMatchObject({ ok: true, body: { outcome: { kind: 'button', index: 1 } } });
		// Another answer with the same proof, a made-up proof, another execution, no proof, not JSON.
		const changed = body.replace('"index":1', '"index":0');
		expect(await verifyResumeRequest(changed, proof, '77', store)).toMatchObject({ status: 403 });
		expect(await verifyResumeRequest(body, 'f'.repeat(64), '77', store)).toMatchObject({
			status: 403,
		});
		expect(await verifyResumeRequest(body, proof, '78', store)).toMatchObject({ status: 403 });
		expect(await verifyResumeRequest(body, undefined, '77', store)).toMatchObject({ status: 403 });
		expect(await verifyResumeRequest('{', proof, '77', store)).toMatchObject({ status: 400 });
	});
});

describe('resumeWaits', () => {
	it('resumes a wait once for duplicate taps, and not at all after its timeout', async () => {
		const store = new MemoryStateStore();
		const now = Date.now();
		await store.putWaitLink(link({ expiresAt: now + 60_000, createdAt: now }));
		const posts: string[] = [];
		const dispatcher = new ResumeDispatcher(store, {
			post: async (_l: WaitLink, body: string) => {
				posts.push(body);
				return 200;
			},
		});
		const first = await resumeWaits([QUICK_REPLY, QUICK_REPLY], store, dispatcher);
		const again = await resumeWaits([QUICK_REPLY], store, dispatcher);
		await dispatcher.idle();
		expect(posts).toHaveLength(1);
		expect([...first.values()]).toEqual(['77']);
		expect(again.size).toBe(0);

		const late = new MemoryStateStore();
		await late.putWaitLink(link({ expiresAt: now - 1 }));
		expect((await resumeWaits([QUICK_REPLY], late, dispatcher)).size).toBe(0);
		await dispatcher.idle();
		expect(posts).toHaveLength(1);
	});

	it('returns once the claim and its resume are stored, without waiting for the host to take it', async () => {
		const store = new MemoryStateStore();
		await store.putWaitLink(link({ expiresAt: Date.now() + 60_000 }));
		let answer: (status: number) => void = () => undefined;
		const dispatcher = new ResumeDispatcher(store, {
			post: () => new Promise<number>((resolve) => (answer = resolve)),
		});
		const claimed = await resumeWaits([QUICK_REPLY], store, dispatcher);
		expect(claimed.get(0)).toBe('77');
		const stored = await store.getWaitLink({ phoneNumberId: PN, messageId: TEMPLATE_WAMID });
		expect(stored?.claimedAt).toBeDefined();
		expect(stored?.endedAt).toBeUndefined();
		// What is stored is what is delivered: the body, signed with the wait's secret.
		const body = JSON.parse(stored!.resume!) as { executionId: string; outcome: unknown };
		expect(body).toMatchObject({ executionId: '77', outcome: { kind: 'button', index: 1 } });
		answer(200);
		await dispatcher.idle();
		expect(
			(await store.getWaitLink({ phoneNumberId: PN, messageId: TEMPLATE_WAMID }))?.endedAt,
		).toBeDefined();
	});
});

describe('acceptResumeRequest', () => {
	it('takes a resume once: a second delivery of the same request is refused with 410', async () => {
		const store = new MemoryStateStore();
		await store.putWaitLink(link());
		const claimed = await store.claimWaitLink({
			phoneNumberId: PN,
			messageId: TEMPLATE_WAMID,
			now: T + 1,
		});
		const { body, proof } = buildResumeRequest(
			claimed!,
			{ kind: 'otherReply' },
			QUICK_REPLY,
			T + 2,
		);
		expect(await acceptResumeRequest(body, proof, '77', store)).toMatchObject({ ok: true });
		expect(await acceptResumeRequest(body, proof, '77', store)).toMatchObject({
			ok: false,
			status: 410,
		});
		// A forged one is still refused as forged.
		expect(await acceptResumeRequest(body, 'ab'.repeat(32), '77', store)).toMatchObject({
			status: 403,
		});
	});
});

/**
 * Send and Wait's own messages (inside the service window): reply buttons, a list or a text. Meta's limits, pinned by
 * core's one payload builder (sessionMessageFromFields):
 * - reply buttons: at most 3, title ≤ 20 characters, id ≤ 256, body ≤ 1024; header and footer optional
 *   (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages,
 *   https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/ButtonObject);
 * - lists: "up to 10 sections, with up to 10 rows for all sections combined", button text ≤ 20, row title ≤ 24,
 *   description ≤ 72, id ≤ 200
 *   (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages,
 *   https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/RowObject).
 * The replies are Meta's webhook payloads (fixtures): `interactive.button_reply {id, title}` and
 * `interactive.list_reply {id, title, description}`, with `context.id` naming the message answered.
 */
describe('waitMessageFrom: the interactive or text message a wait sends, and its outputs', () => {
	const LIST_REPLY = fixture('messages-interactive-list-reply.json')[0] as Extract<
		IngestedEvent,
		{ kind: 'message' }
	>;
	const answered = (BUTTON_REPLY as Extract<IngestedEvent, { kind: 'message' }>).context!
		.messageId!;
	const onThat = link({ messageId: answered, waId: '16505551234' });

	it('reply buttons: Meta\'s interactive "button" payload, one output per button, matched by the reply id', () => {
		const { message, spec } = waitMessageFrom(
			{
				type: 'buttons',
				text: 'Your order ships tomorrow.',
				buttons: [
					{ id: 'change-button', title: 'Change' },
					{ id: 'cancel-button', title: 'Cancel' },
				],
			},
			'read',
		);
		expect(message).toEqual({
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: 'Your order ships tomorrow.' },
				action: {
					buttons: [
						{ type: 'reply', reply: { id: 'change-button', title: 'Change' } },
						{ type: 'reply', reply: { id: 'cancel-button', title: 'Cancel' } },
					],
				},
			},
		});
		expect(waitOutputNames(spec)).toEqual([
			'No Response',
			'Change',
			'Cancel',
			'Other Reply',
			'Status: read',
			'Failed',
		]);
		expect(matchWaitEvent(onThat, spec, BUTTON_REPLY)).toEqual({
			kind: 'button',
			index: 1,
			label: 'Cancel',
		});
		// The spec is what the link keeps: it reads back as written.
		expect(waitSpecSchema.parse(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
	});

	it('matches a tap by id even when the title shown differs (the id is what Meta returns unchanged)', () => {
		const { spec } = waitMessageFrom({
			type: 'buttons',
			text: 'Pick',
			buttons: [
				{ id: 'keep', title: 'Keep it' },
				{ id: 'cancel-button', title: 'Stop it' },
			],
		});
		expect(matchWaitEvent(onThat, spec, BUTTON_REPLY)).toEqual({
			kind: 'button',
			index: 1,
			label: 'Stop it',
		});
	});

	it('takes an optional text header and footer (each at most 60 characters), as Meta allows', () => {
		const { message } = waitMessageFrom({
			type: 'buttons',
			text: 'Keep the date?',
			header: 'Delivery',
			footer: 'Reply by tonight',
			buttons: [{ title: 'Keep' }],
		});
		expect(message).toMatchObject({
			interactive: {
				header: { type: 'text', text: 'Delivery' },
				footer: { text: 'Reply by tonight' },
			},
		});
		expect(() =>
			waitMessageFrom({ type: 'list', text: 'x', footer: 'f'.repeat(61), rows: [{ title: 'r' }] }),
		).toThrow(/footer\.text: is longer than 60 characters/);
	});

	it('a button without an id gets its title as id', () => {
		const { message, spec } = waitMessageFrom({
			type: 'buttons',
			text: 'Pick',
			buttons: [{ title: 'Change' }, { title: 'Cancel' }],
		});
		expect(message).toMatchObject({
			interactive: {
				action: { buttons: [{ reply: { id: 'Change' } }, { reply: { id: 'Cancel' } }] },
			},
		});
		expect(spec.ids).toEqual(['Change', 'Cancel']);
	});

	it('refuses what Meta refuses: a 4th button, a title over 20, an id over 256, a body over 1024', () => {
		const b = (title: string, id?: string) => ({ title, ...(id ? { id } : {}) });
		expect(() =>
			waitMessageFrom({ type: 'buttons', text: 'x', buttons: [b('a'), b('b'), b('c'), b('d')] }),
		).toThrow(/at most 3 buttons/);
		expect(() =>
			waitMessageFrom({ type: 'buttons', text: 'x', buttons: [b('a'.repeat(21))] }),
		).toThrow(/title: is longer than 20 characters/);
		expect(() =>
			waitMessageFrom({ type: 'buttons', text: 'x', buttons: [b('a', 'i'.repeat(257))] }),
		).toThrow(/id: is longer than 256 characters/);
		expect(
			waitMessageFrom({ type: 'buttons', text: 'x', buttons: [b('a'.repeat(20), 'i'.repeat(256))] })
				.spec.buttons,
		).toEqual(['a'.repeat(20)]);
		expect(() =>
			waitMessageFrom({ type: 'buttons', text: 'x'.repeat(1025), buttons: [b('a')] }),
		).toThrow(/body\.text: is longer than 1024 characters/);
		expect(() => waitMessageFrom({ type: 'buttons', text: 'x', buttons: [] })).toThrow(
			/needs 1 to 3 buttons/,
		);
	});

	it('a list: one output per row (Meta allows 10 rows in all, so at most 10 outputs), matched by row id', () => {
		const { message, spec } = waitMessageFrom({
			type: 'list',
			text: 'Which shipping?',
			listButton: 'Shipping options',
			rows: [
				{
					id: 'priority_express',
					title: 'Priority Mail Express',
					description: 'Next Day to 2 Days',
					section: 'Fast',
				},
				{ id: 'ground', title: 'Ground', section: 'Cheap' },
			],
		});
		expect(message).toMatchObject({
			interactive: {
				type: 'list',
				action: {
					button: 'Shipping options',
					sections: [
						{
							title: 'Fast',
							rows: [{ id: 'priority_express', description: 'Next Day to 2 Days' }],
						},
						{ title: 'Cheap', rows: [{ id: 'ground', title: 'Ground' }] },
					],
				},
			},
		});
		expect(waitOutputNames(spec)).toEqual([
			'No Response',
			'Priority Mail Express',
			'Ground',
			'Other Reply',
			'Failed',
		]);
		expect(matchWaitEvent(onThat, spec, LIST_REPLY)).toEqual({
			kind: 'button',
			index: 0,
			label: 'Priority Mail Express',
		});
	});

	it('refuses a list Meta refuses: 11 rows, a row title over 24, a description over 72, an id over 200, a button over 20', () => {
		const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ title: `Row ${i}` }));
		expect(() => waitMessageFrom({ type: 'list', text: 'x', rows: rows(11) })).toThrow(
			/at most 10 in total/,
		);
		expect(waitMessageFrom({ type: 'list', text: 'x', rows: rows(10) }).spec.buttons).toHaveLength(
			10,
		);
		expect(() =>
			waitMessageFrom({ type: 'list', text: 'x', rows: [{ title: 'r'.repeat(25) }] }),
		).toThrow(/title: is longer than 24 characters/);
		expect(() =>
			waitMessageFrom({
				type: 'list',
				text: 'x',
				rows: [{ title: 'r', description: 'd'.repeat(73) }],
			}),
		).toThrow(/description: is longer than 72 characters/);
		expect(() =>
			waitMessageFrom({ type: 'list', text: 'x', rows: [{ title: 'r', id: 'i'.repeat(201) }] }),
		).toThrow(/id: is longer than 200 characters/);
		expect(() =>
			waitMessageFrom({ type: 'list', text: 'x', listButton: 'b'.repeat(21), rows: rows(1) }),
		).toThrow(/button: is longer than 20 characters/);
	});

	it('a text: no buttons, any reply is the answer on "Reply"', () => {
		const { message, spec } = waitMessageFrom({ type: 'text', text: 'How did we do, 1-5?' });
		expect(message).toEqual({
			type: 'text',
			text: { body: 'How did we do, 1-5?', preview_url: false },
		});
		expect(waitOutputNames(spec)).toEqual(['No Response', 'Reply', 'Failed']);
		const text = fixture('messages-text.json')[0] as Extract<IngestedEvent, { kind: 'message' }>;
		const outcome = matchWaitEvent(link({ waId: text.from }), spec, text);
		expect(outcome).toEqual({ kind: 'otherReply' });
		expect(waitOutputIndex(spec, outcome!)).toBe(1);
	});

	it('links written before interactive waits (no ids, no kind) still read and match by label', () => {
		const old = waitSpecSchema.parse({ buttons: ['Change', 'Cancel'] });
		expect(matchWaitEvent(onThat, old, BUTTON_REPLY)).toMatchObject({ index: 1 });
		expect(waitOutputNames(old)).toContain('Other Reply');
	});
});

describe('waitSpecForMessage: outputs fixed in advance (Node-RED), the message built per msg', () => {
	const buttons = sessionMessageFromFields({
		type: 'buttons',
		text: 'Keep the date?',
		buttons: [
			{ id: 'keep-date', title: 'Keep' },
			{ id: 'change-date', title: 'Change date' },
		],
	});

	it("takes the reply ids of the message's buttons in the node's output order (by title or id)", () => {
		expect(waitSpecForMessage(waitSpecFrom({ buttons: 'change-date\nkeep' }), buttons)).toEqual({
			buttons: ['change-date', 'keep'],
			ids: ['change-date', 'keep-date'],
			kind: 'buttons',
		});
	});

	it('refuses a message whose buttons and the outputs differ, and a text when buttons are listed', () => {
		expect(() => waitSpecForMessage(waitSpecFrom({ buttons: 'Keep' }), buttons)).toThrow(
			/"Change date" has no output: add it to Reply Buttons/,
		);
		expect(() =>
			waitSpecForMessage(waitSpecFrom({ buttons: 'Keep\nChange date\nCancel' }), buttons),
		).toThrow(/"Cancel" is not a button of this message/);
		const text = sessionMessageFromFields({ type: 'text', text: 'Rate us 1-5' });
		expect(waitSpecForMessage(waitSpecFrom({ buttons: '' }), text)).toEqual({
			buttons: [],
			kind: 'text',
		});
		expect(() => waitSpecForMessage(waitSpecFrom({ buttons: 'Keep' }), text)).toThrow(
			/the message is a text without buttons/,
		);
		const image = sessionMessageFromFields({
			type: 'image',
			media: { link: 'https://x.example/a.jpg' },
		});
		expect(() => waitSpecForMessage(waitSpecFrom({ buttons: '' }), image)).toThrow(
			/reply buttons, a list or a text; this message is of type "image"/,
		);
	});
});
