/**
 * The sandbox's customer tapping a quick reply of a template message it sent (POST /__sandbox/tap): the webhook is
 * Meta's quick-reply payload — `type: "button"`, `button.payload` (the payload the send gave that button, else its
 * text) and `button.text`, `context.id` = the template message's wamid — signed like every webhook; the same reply id
 * twice plays Meta's retry.
 */
import { messagesValueSchema, verifySignature } from '../../core/webhooks';
import type { Sandbox } from '../../sandbox';
import {
	APP_SECRET,
	CUSTOMER,
	CUSTOMER_WA_ID,
	CallbackReceiver,
	TEST_TEMPLATES,
	acceptedOf,
	control,
	send,
	start,
} from './helpers';

const APPOINTMENT = {
	id: '1099',
	name: 'appointment_reminder',
	language: 'en_US',
	status: 'APPROVED' as const,
	category: 'UTILITY' as const,
	components: [
		{ type: 'BODY' as const, text: 'Your appointment is tomorrow. Can you make it?' },
		{
			type: 'BUTTONS' as const,
			buttons: [
				{ type: 'QUICK_REPLY' as const, text: 'Confirm' },
				{ type: 'QUICK_REPLY' as const, text: 'Reschedule' },
			],
		},
	],
};

describe('sandbox: a customer taps a quick reply', () => {
	let receiver: CallbackReceiver;
	let sandbox: Sandbox;
	beforeEach(async () => {
		receiver = await new CallbackReceiver().listen();
		sandbox = await start({
			callbackUrl: receiver.url,
			templates: [...TEST_TEMPLATES, APPOINTMENT],
		});
	});
	afterEach(async () => {
		await sandbox.close();
		await receiver.close();
	});

	const sendAppointment = async (components: unknown[] = []) =>
		acceptedOf(
			await send(sandbox, {
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'template',
				template: { name: 'appointment_reminder', language: { code: 'en_US' }, components },
			}),
		).messages[0].id;

	const taps = () =>
		receiver
			.changes('messages')
			.flatMap((c) => messagesValueSchema.parse(c.value).messages ?? [])
			.filter((m): m is NonNullable<typeof m> => m?.type === 'button');

	it("sends Meta's quick-reply payload with the template's wamid as context, signed", async () => {
		const wamid = await sendAppointment();
		expect((await control(sandbox, 'POST', 'tap', { messageId: wamid, button: 1 })).status).toBe(
			200,
		);
		await sandbox.idle();
		expect(taps()).toEqual([
			expect.objectContaining({
				from: CUSTOMER_WA_ID,
				type: 'button',
				button: { payload: 'Reschedule', text: 'Reschedule' },
				context: { from: sandbox.config.displayPhoneNumber, id: wamid },
			}),
		]);
		for (const hook of receiver.received)
			expect(verifySignature(hook.raw, hook.signature, APP_SECRET)).toBe(true);
	});

	it('carries the payload the send gave the button, and plays a retry with the same reply id', async () => {
		const wamid = await sendAppointment([
			{
				type: 'button',
				sub_type: 'quick_reply',
				index: '0',
				parameters: [{ type: 'payload', payload: 'APPT-17-YES' }],
			},
		]);
		for (let i = 0; i < 2; i++)
			await control(sandbox, 'POST', 'tap', {
				messageId: wamid,
				button: 'confirm',
				id: 'wamid.TAP-1',
			});
		await sandbox.idle();
		expect(taps().map((m) => [m.id, m.button])).toEqual([
			['wamid.TAP-1', { payload: 'APPT-17-YES', text: 'Confirm' }],
			['wamid.TAP-1', { payload: 'APPT-17-YES', text: 'Confirm' }],
		]);
	});

	it('says which buttons exist when asked for one the template has not, and 404 for an unknown message', async () => {
		const wamid = await sendAppointment();
		const wrong = await control(sandbox, 'POST', 'tap', { messageId: wamid, button: 'Cancel' });
		expect(wrong.status).toBe(400);
		expect(JSON.stringify(wrong.body)).toMatch(/has no quick reply .*Cancel.*Confirm.*Reschedule/);
		expect(
			(await control(sandbox, 'POST', 'tap', { messageId: 'wamid.NOPE', button: 0 })).status,
		).toBe(404);
	});
});

/**
 * Inside the service window the customer can tap a reply button of an interactive message or pick a row of a list:
 * Meta's webhook is `type: "interactive"` with `interactive.button_reply {id, title}` or `interactive.list_reply
 * {id, title, description}` and `context.id` = the interactive message's wamid
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages,
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages).
 */
describe('sandbox: a customer taps a reply button or picks a list row', () => {
	let receiver: CallbackReceiver;
	let sandbox: Sandbox;
	beforeEach(async () => {
		receiver = await new CallbackReceiver().listen();
		sandbox = await start({ callbackUrl: receiver.url });
		// Opens the customer service window: session messages need it.
		await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hi' });
	});
	afterEach(async () => {
		await sandbox.close();
		await receiver.close();
	});

	const sendInteractive = async (interactive: unknown) =>
		send(sandbox, {
			messaging_product: 'whatsapp',
			to: CUSTOMER,
			type: 'interactive',
			interactive,
		});
	const BUTTONS = {
		type: 'button',
		body: { text: 'Your order ships tomorrow.' },
		action: {
			buttons: [
				{ type: 'reply', reply: { id: 'change-button', title: 'Change' } },
				{ type: 'reply', reply: { id: 'cancel-button', title: 'Cancel' } },
			],
		},
	};
	const replies = () =>
		receiver
			.changes('messages')
			.flatMap((c) => messagesValueSchema.parse(c.value).messages ?? [])
			.filter((m): m is NonNullable<typeof m> => m?.type === 'interactive');

	it('a reply button (by index, id or title): button_reply with context naming the message, signed', async () => {
		const wamid = acceptedOf(await sendInteractive(BUTTONS)).messages[0].id;
		for (const button of [1, 'change-button', 'cancel'])
			expect((await control(sandbox, 'POST', 'tap', { messageId: wamid, button })).status).toBe(
				200,
			);
		await sandbox.idle();
		expect(replies().map((m) => [m.interactive, m.context?.id])).toEqual([
			[{ type: 'button_reply', button_reply: { id: 'cancel-button', title: 'Cancel' } }, wamid],
			[{ type: 'button_reply', button_reply: { id: 'change-button', title: 'Change' } }, wamid],
			[{ type: 'button_reply', button_reply: { id: 'cancel-button', title: 'Cancel' } }, wamid],
		]);
		for (const hook of receiver.received)
			expect(verifySignature(hook.raw, hook.signature, APP_SECRET)).toBe(true);
		const wrong = await control(sandbox, 'POST', 'tap', { messageId: wamid, button: 'Keep' });
		expect(wrong.status).toBe(400);
		expect(JSON.stringify(wrong.body)).toMatch(/has no button .*Keep.*Change.*Cancel/);
	});

	it('a list row: list_reply with its id, title and description', async () => {
		const wamid = acceptedOf(
			await sendInteractive({
				type: 'list',
				body: { text: 'Which shipping?' },
				action: {
					button: 'Shipping options',
					sections: [
						{
							title: 'Fast',
							rows: [
								{
									id: 'priority_express',
									title: 'Priority Mail Express',
									description: 'Next Day to 2 Days',
								},
							],
						},
						{ title: 'Cheap', rows: [{ id: 'ground', title: 'Ground' }] },
					],
				},
			}),
		).messages[0].id;
		await control(sandbox, 'POST', 'tap', { messageId: wamid, button: 0 });
		await sandbox.idle();
		expect(replies().map((m) => m.interactive)).toEqual([
			{
				type: 'list_reply',
				list_reply: {
					id: 'priority_express',
					title: 'Priority Mail Express',
					description: 'Next Day to 2 Days',
				},
			},
		]);
	});

	it("answers an interactive value over Meta's limit with 131009, a missing field with 100", async () => {
		const long = await sendInteractive({
			...BUTTONS,
			action: { buttons: [{ type: 'reply', reply: { id: 'x', title: 'A title of 21 chars!!' } }] },
		});
		expect(long.status).toBe(400);
		expect(long.body).toMatchObject({
			error: {
				code: 131009,
				message: '(#131009) Parameter value is not valid',
				error_data: { details: 'Button title length invalid. Min length: 1, Max length: 20' },
			},
		});
		const four = await sendInteractive({
			...BUTTONS,
			action: {
				buttons: ['a', 'b', 'c', 'd'].map((id) => ({ type: 'reply', reply: { id, title: id } })),
			},
		});
		expect(four.body).toMatchObject({ error: { code: 131009 } });
		const missing = await sendInteractive({ type: 'button', action: BUTTONS.action });
		expect(missing.body).toMatchObject({ error: { code: 100 } });
	});
});
