/**
 * The send skeleton both adapters share (core/journeys): tracking data, delivery option limits, the prepared request
 * and the one output shape of a send — sent, dry run, failed.
 */
import {
	DELIVERY_OPTION_LIMITS,
	WhatsAppApiError,
	decodeTracking,
	deliveryOptionsSchema,
	isCloudApiMessage,
	pacingOf,
	prepareSend,
	prepareSessionSend,
	retryPolicyOf,
	sessionMessageFromFields,
	toDryRunResult,
	toSendFailure,
	toSendResult,
	trackingFor,
} from '../../core';
import type { SendOutcome } from '../../core';

const recipient = { e164: '+447911123456', waId: '447911123456' };
const text = prepareSessionSend(sessionMessageFromFields({ type: 'text', text: 'Hello' }));

describe('trackingFor', () => {
	it('carries workflow, execution, journey and step to biz_opaque_callback_data, leaving out what is not given', () => {
		const { tracking, bizOpaqueCallbackData } = trackingFor(
			{ workflowId: 'wf-1', executionId: '42', journey: 'orders', step: undefined },
			'Tracking Data Override',
		);
		expect(tracking).toEqual({ workflowId: 'wf-1', executionId: '42', journey: 'orders' });
		expect(decodeTracking(bizOpaqueCallbackData)).toEqual(tracking);
	});

	it("sends the user's own callback data as is, and shows no tracking of ours", () => {
		expect(trackingFor({ workflowId: 'wf-1', callbackData: 'order=99' }, 'msg.tracking')).toEqual({
			bizOpaqueCallbackData: 'order=99',
		});
	});

	it("refuses the user's own callback data over 512 characters, naming the adapter's field", () => {
		expect(() => trackingFor({ callbackData: 'x'.repeat(512) }, 'msg.tracking')).not.toThrow();
		expect(() => trackingFor({ callbackData: 'x'.repeat(513) }, 'Tracking Data Override')).toThrow(
			/^Tracking Data Override is longer than 512 characters/,
		);
	});
});

describe('delivery options', () => {
	it('fills the defaults both adapters document', () => {
		expect(deliveryOptionsSchema.parse({})).toEqual({
			messagesPerSecond: 80,
			pairIntervalSeconds: 6,
			maxAttempts: 6,
			retryUncertain: false,
			timeoutSeconds: 30,
			concurrency: 64,
			dryRun: false,
		});
	});

	it.each([
		['messagesPerSecond', 1001],
		['messagesPerSecond', -1],
		['pairIntervalSeconds', 61],
		['maxAttempts', 0],
		['maxAttempts', 11],
		['maxAttempts', 2.5],
		['timeoutSeconds', 0],
		['timeoutSeconds', 301],
		['concurrency', 257],
	])('refuses %s = %d', (name, value) => {
		const parsed = deliveryOptionsSchema.safeParse({ [name]: value });
		expect(parsed.success).toBe(false);
		expect(parsed.error?.issues[0].path).toEqual([name]);
	});

	it('accepts the edges of every range', () => {
		for (const [name, limit] of Object.entries(DELIVERY_OPTION_LIMITS)) {
			expect(deliveryOptionsSchema.safeParse({ [name]: limit.min }).success).toBe(true);
			expect(deliveryOptionsSchema.safeParse({ [name]: limit.max }).success).toBe(true);
		}
	});

	it('turns options into the retry policy and the pacer rates; 0 and 0 leave nothing to pace', () => {
		const options = deliveryOptionsSchema.parse({ timeoutSeconds: 5, pairIntervalSeconds: 1.5 });
		expect(retryPolicyOf(options)).toEqual({
			maxAttempts: 6,
			retryUncertain: false,
			timeoutMs: 5000,
		});
		expect(pacingOf(options)).toEqual({ messagesPerSecond: 80, pairIntervalMs: 1500 });
		expect(pacingOf({ messagesPerSecond: 0, pairIntervalSeconds: 0 })).toBeUndefined();
		expect(pacingOf({ messagesPerSecond: 0, pairIntervalSeconds: 6 })).toEqual({
			messagesPerSecond: 0,
			pairIntervalMs: 6000,
		});
	});
});

describe('prepareSend and the output of a send', () => {
	const tracking = trackingFor({ workflowId: 'wf-1', journey: 'orders' }, 'Tracking Data Override');
	const prepared = prepareSend(3, recipient, text, tracking);

	it('wraps the message for its recipient with the tracking data', () => {
		expect(prepared).toMatchObject({
			itemIndex: 3,
			waId: '447911123456',
			recipient: '+447911123456',
			marketingMessagesApi: false,
			request: {
				messaging_product: 'whatsapp',
				to: '+447911123456',
				type: 'text',
				text: { body: 'Hello' },
				biz_opaque_callback_data: tracking.bizOpaqueCallbackData,
			},
		});
	});

	it('refuses a recipient that is not E.164 before anything is sent', () => {
		expect(() => prepareSend(0, { e164: '07911 123456', waId: '' }, text, tracking)).toThrow(
			/not E\.164/,
		);
	});

	it('reports a sent message with its id, recipient, summary, tracking and attempts', () => {
		const outcome: SendOutcome = {
			itemIndex: 3,
			ok: true,
			result: {
				messageId: 'wamid.X',
				waId: '447911123456',
				messageStatus: 'accepted',
				attempts: 2,
			},
			retries: [{ attempt: 1, code: 130429 }],
		};
		expect(toSendResult(prepared, outcome)).toEqual({
			messageId: 'wamid.X',
			waId: '447911123456',
			recipient: '+447911123456',
			recipientType: 'phone',
			messageStatus: 'accepted',
			type: 'text',
			marketingMessagesApi: false,
			tracking: { workflowId: 'wf-1', journey: 'orders' },
			bizOpaqueCallbackData: tracking.bizOpaqueCallbackData,
			attempts: 2,
			sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
		});
	});

	it("reports a failed send with Meta's code, the recipient and the attempts made", () => {
		const outcome: SendOutcome = {
			itemIndex: 3,
			ok: false,
			error: new WhatsAppApiError({ httpStatus: 400, code: 131026, message: 'undeliverable' }),
			retries: [],
		};
		expect(toSendResult(prepared, outcome)).toMatchObject({
			code: 131026,
			category: 'recipient',
			recipient: '+447911123456',
			type: 'text',
			attempts: 1,
		});
	});

	it('shows the exact request in a dry run', () => {
		expect(toDryRunResult(prepared)).toEqual({
			dryRun: true,
			recipient: '+447911123456',
			recipientType: 'phone',
			waId: '447911123456',
			type: 'text',
			request: prepared.request,
			marketingMessagesApi: false,
		});
	});

	it('says who an item was for when it failed before sending', () => {
		expect(toSendFailure(new Error('Phone number is empty'), 'not a number')).toEqual({
			message: 'Phone number is empty',
			recipient: 'not a number',
		});
	});
});

describe('session sends', () => {
	it("tells a message in Meta's shape from fields to build one", () => {
		expect(isCloudApiMessage({ type: 'text', text: { body: 'Hi' } })).toBe(true);
		expect(isCloudApiMessage({ type: 'contacts', contacts: [] })).toBe(true);
		expect(isCloudApiMessage({ type: 'image', media: 'https://x.test/a.png' })).toBe(false);
		expect(isCloudApiMessage({ type: 'image', image: Buffer.from('png') })).toBe(false);
		expect(isCloudApiMessage({ text: 'Hi' })).toBe(false);
	});

	it('summarises the message type and any upload', () => {
		const upload = { mediaId: '1', bytes: 3 };
		const image = sessionMessageFromFields({ type: 'image', media: { id: '1' } });
		expect(prepareSessionSend(image, upload).summary).toEqual({ type: 'image', upload });
		expect(text.summary).toEqual({ type: 'text' });
	});
});
