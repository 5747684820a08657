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
