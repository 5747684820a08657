/**
 * Each fixture under test/fixtures/webhooks is a payload in Meta's documented shape; each test
 * pins its normalised form.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeMetaError } from '../../core/errors';
import {
	normalizeWebhook,
	parseWebhookBody,
	type InboundMessage,
	type StatusEvent,
	type WebhookEvent,
} from '../../core/webhooks';

function fixture(name: string): unknown {
	const parsed = parseWebhookBody(readFileSync(join(__dirname, '../fixtures/webhooks', name)));
	if (!parsed.ok) throw new Error(`${name}: ${parsed.reason}`);
	return parsed.body;
}

function events(name: string, opts?: Parameters<typeof normalizeWebhook>[1]): WebhookEvent[] {
	return normalizeWebhook(fixture(name), opts);
}

function only<K extends WebhookEvent['kind']>(
	name: string,
	kind: K,
): Extract<WebhookEvent, { kind: K }> {
	const list = events(name);
	expect(list).toHaveLength(1);
	expect(list[0].kind).toBe(kind);
	return list[0] as Extract<WebhookEvent, { kind: K }>;
}

const NUMBER = {
	phoneNumberId: '106540352242922',
	displayPhoneNumber: '15550783881',
	wabaId: '102290129340398',
};

describe('normalizeWebhook: inbound messages', () => {
	it('flattens a text message with the sender profile name and an ISO timestamp', () => {
		expect(events('messages-text.json')).toEqual([
			{
				kind: 'message',
				eventId: 'message:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
				messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
				from: '16505551234',
				profileName: 'Sheena Nelson',
				timestamp: '2025-06-08T20:59:43.000Z',
				timestampUnix: 1749416383,
				type: 'text',
				text: 'Does it come in another color?',
				...NUMBER,
			},
		]);
	});

	it("reads the Meta dashboard's test webhook (WABA id 0)", () => {
		const m = only('messages-dashboard-test.json', 'message');
		expect(m).toMatchObject({
			wabaId: '0',
			phoneNumberId: '123456123',
			from: '16315551181',
			text: 'this is a text message',
		});
		expect(m.timestamp).toBe('2017-09-08T20:36:28.000Z');
	});

	it('keeps the Click-to-WhatsApp referral, which opens a free entry point', () => {
		const m = only('messages-text-ctwa-referral.json', 'message');
		expect(m.referral).toEqual({
			sourceUrl: 'https://fb.me/3cr4Wqqkv',
			sourceType: 'ad',
			sourceId: '120226305854810726',
			headline: 'Chat with us',
			body: 'Summer sale on all kayaks',
			mediaType: 'image',
			imageUrl: 'https://scontent.example/ad-image.jpg',
			ctwaClid:
				'Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCqTrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50',
			welcomeMessageText: 'Hi there! Let us know how we can help!',
		});
		expect(m.text).toBe('Can I get more info about this?');
	});

	it('reads a reply button tap with the message it answers', () => {
		const m = only('messages-interactive-button-reply.json', 'message');
		expect(m.interactive).toEqual({ type: 'button_reply', id: 'cancel-button', title: 'Cancel' });
		expect(m.context).toEqual({
			from: '15550783881',
			messageId: 'wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=',
		});
	});

	it('reads a list row choice with its description', () => {
		const m = only('messages-interactive-list-reply.json', 'message');
		expect(m.interactive).toEqual({
			type: 'list_reply',
			id: 'priority_express',
			title: 'Priority Mail Express',
			description: 'Next Day to 2 Days',
		});
	});

	it('reads a template quick-reply tap as button payload and text', () => {
		const m = only('messages-button-quick-reply.json', 'message');
		expect(m.type).toBe('button');
		expect(m.button).toEqual({ payload: 'Unsubscribe', text: 'Stop promotions' });
		expect(m.context?.messageId).toBe('wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA');
	});

	it('reads image, voice and document media', () => {
		expect(only('messages-image.json', 'message').media).toEqual({
			type: 'image',
			id: '2754859441498128',
			mimeType: 'image/jpeg',
			sha256: '81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3',
			caption: 'Black jacket',
		});
		expect(only('messages-audio-voice.json', 'message').media).toEqual({
			type: 'audio',
			id: '1003383421387256',
			mimeType: 'audio/ogg; codecs=opus',
			sha256: '5u4Qm4Tq6ZjZWjzcPzrQAb6dAKm2ZPNBJq7ROcwhFlE=',
			voice: true,
		});
		expect(only('messages-document.json', 'message').media).toMatchObject({
			type: 'document',
			filename: 'receipt-1234.pdf',
			caption: 'Receipt for order 1234',
			mimeType: 'application/pdf',
		});
	});

	it('reads a shared location', () => {
		expect(only('messages-location.json', 'message').location).toEqual({
			latitude: 37.4855,
			longitude: -122.1478,
			name: 'Meta Headquarters',
			address: '1 Hacker Way, Menlo Park, CA 94025',
			url: 'https://www.meta.com',
		});
	});

	it('reads a reaction, and a removed reaction as one without emoji', () => {
		const [added, removed] = events('messages-reaction.json') as InboundMessage[];
		expect(added.reaction).toEqual({
			messageId: 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA',
			emoji: '👍',
		});
		expect(removed.reaction).toEqual({
			messageId: 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA',
		});
	});

	it('explains an unsupported message with the error catalogue', () => {
		const m = only('messages-unsupported.json', 'message');
		expect(m.type).toBe('unsupported');
		expect(m.errors).toEqual([
			{
				code: 131051,
				title: 'Message type unknown',
				message: 'Message type unknown',
				details: 'Message type is currently not supported.',
				meaning: describeMetaError(131051).meaning,
				category: 'request',
				retryable: false,
				retry: 'fix_request',
				action: describeMetaError(131051).action,
			},
		]);
	});

	it('passes shared contact cards through as sent', () => {
		const m = only('messages-contacts.json', 'message');
		expect(m.contacts).toEqual([
			{
				name: { formatted_name: 'Barbara J. Johnson', first_name: 'Barbara', last_name: 'Johnson' },
				phones: [{ phone: '+1 (415) 555-0123', wa_id: '14155550123', type: 'MOBILE' }],
			},
		]);
	});

	it('passes a message type it has never seen through with its type, and ignores unknown fields', () => {
		const list = events('unknown-field-and-type.json');
		expect(list).toHaveLength(1);
		expect(list[0]).toMatchObject({
			kind: 'message',
			type: 'hologram',
			messageId: 'wamid.FUTURETYPE',
		});
	});

	it('uses the BSUID as sender when Meta withholds the phone number (usernames)', () => {
		const m = only('messages-bsuid-username.json', 'message');
		expect(m).toMatchObject({
			from: 'US.13491208655302741918',
			userId: 'US.13491208655302741918',
			username: '@sheena',
			profileName: 'Sheena Nelson',
			text: 'Hi, is my order on its way?',
		});
	});

	it('treats an empty from as absent and takes the sender from the contact entry', () => {
		const body = fixture('messages-text.json') as {
			entry: Array<{ changes: Array<{ value: { messages: Array<{ from?: string }> } }> }>;
		};
		body.entry[0].changes[0].value.messages[0].from = '';
		expect(normalizeWebhook(body)[0]).toMatchObject({
			from: '16505551234',
			profileName: 'Sheena Nelson',
		});
	});

	it('skips, and reports, a message that names no sender at all', () => {
		const body = fixture('messages-text.json') as {
			entry: Array<{
				changes: Array<{ value: { contacts?: unknown; messages: Array<{ from?: string }> } }>;
			}>;
		};
		delete body.entry[0].changes[0].value.contacts;
		delete body.entry[0].changes[0].value.messages[0].from;
		const problems: string[] = [];
		expect(normalizeWebhook(body, { onInvalid: (p) => problems.push(p.reason) })).toEqual([]);
		expect(problems).toEqual([
			'message wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA= names no sender (no from, no contact); skipped',
		]);
	});

	it('attaches the Meta object as raw only when asked', () => {
		const m = normalizeWebhook(fixture('messages-text.json'), {
			includeRaw: true,
		})[0] as InboundMessage;
		expect(m.raw).toMatchObject({
			id: m.messageId,
			text: { body: 'Does it come in another color?' },
		});
		expect(only('messages-text.json', 'message')).not.toHaveProperty('raw');
	});
});

describe('normalizeWebhook: statuses', () => {
	it('reads a sent status with conversation, pricing and the decoded journey tracking', () => {
		const s = only('statuses-sent.json', 'status');
		expect(s).toEqual<StatusEvent>({
			kind: 'status',
			eventId: 'status:wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA:sent',
			messageId: 'wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA',
			status: 'sent',
			recipientId: '16467043595',
			timestamp: '2025-06-18T16:22:53.000Z',
			timestampUnix: 1750263773,
			...NUMBER,
			conversation: {
				id: '6ceb9d929c8ff7e2d9b8d2a6c9b1f1b3',
				expiresAt: '2025-06-19T16:23:00.000Z',
				originType: 'marketing',
			},
			pricing: { billable: true, pricingModel: 'PMP', type: 'regular', category: 'marketing' },
			tracking: {
				workflowId: 'wf_42',
				executionId: '1017',
				journey: 'spring-sale',
				step: 'reminder-1',
				custom: 'order=99',
			},
			bizOpaqueCallbackData: 'wj1:w=wf_42;e=1017;j=spring-sale;s=reminder-1;c=order%3D99',
		});
	});

	it('reads a v24 delivered status, which has no conversation object', () => {
		const s = only('statuses-delivered-v24.json', 'status');
		expect(s.status).toBe('delivered');
		expect(s).not.toHaveProperty('conversation');
		expect(s.pricing).toEqual({
			billable: true,
			pricingModel: 'PMP',
			type: 'regular',
			category: 'marketing',
		});
		expect(s.tracking?.journey).toBe('spring-sale');
	});

	it('reads read and played statuses', () => {
		expect(only('statuses-read.json', 'status')).toMatchObject({
			status: 'read',
			timestamp: '2025-06-18T16:24:50.000Z',
		});
		expect(only('statuses-played.json', 'status')).toMatchObject({
			status: 'played',
			recipientId: '16467043595',
		});
	});

	it('reads a failed status with the error explained by the catalogue', () => {
		const s = only('statuses-failed.json', 'status');
		expect(s.status).toBe('failed');
		expect(s.tracking).toEqual({ journey: 'spring-sale', step: 'offer' });
		expect(s.errors).toHaveLength(1);
		expect(s.errors![0]).toMatchObject({
			code: 131050,
			title: expect.stringMatching(/^Unable to deliver the message/),
			details: expect.stringMatching(/stop receiving marketing messages/),
			href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
			category: 'opt_out',
			retryable: false,
			retry: 'never',
		});
		expect(s.errors![0].meaning).toBe(describeMetaError(131050).meaning);
	});

	it('reads free entry point pricing', () => {
		const s = only('statuses-free-entry-point.json', 'status');
		expect(s.pricing).toEqual({
			billable: false,
			pricingModel: 'PMP',
			type: 'free_entry_point',
			category: 'referral_conversion',
		});
		expect(s.conversation?.originType).toBe('referral_conversion');
	});

	it('keeps batch order, returns a foreign callback string as custom, and skips unknown statuses and broken items', () => {
		const problems: string[] = [];
		const list = normalizeWebhook(fixture('statuses-batch-mixed.json'), {
			onInvalid: (p) => problems.push(p.reason),
		});
		expect(list.map((e) => e.eventId)).toEqual([
			'status:wamid.BATCH1:read',
			'status:wamid.BATCH1:sent',
			'status:wamid.OTHERNUMBER:delivered',
		]);
		expect((list[0] as StatusEvent).tracking).toEqual({ custom: 'crm-contact-8812' });
		expect((list[2] as StatusEvent).timestampUnix).toBe(1750263910);
		expect(problems).toEqual([
			"status 'deleted' of wamid.BATCH2 is not one we know; skipped",
			'1 malformed statuses skipped',
		]);
	});

	it('reads a status sent to a BSUID, which has no recipient_id', () => {
		const s = only('statuses-delivered-bsuid.json', 'status');
		expect(s).toMatchObject({
			recipientId: 'US.13491208655302741918',
			recipientUserId: 'US.13491208655302741918',
			status: 'delivered',
		});
	});

	it('keeps only the events of one business number when asked', () => {
		const list = events('statuses-batch-mixed.json', { phoneNumberId: '106540352242923' });
		expect(list.map((e) => e.eventId)).toEqual(['status:wamid.OTHERNUMBER:delivered']);
		expect(list[0]).toMatchObject({
			phoneNumberId: '106540352242923',
			displayPhoneNumber: '15550783882',
		});
	});

	it('gives the same event id to a redelivered status, and different ids to different statuses', () => {
		const a = events('statuses-sent.json')[0].eventId;
		const b = events('statuses-sent.json')[0].eventId;
		const c = events('statuses-delivered-v24.json')[0].eventId;
		expect(a).toBe(b);
		expect(a).not.toBe(c);
	});
});

describe('normalizeWebhook: errors, templates, preferences', () => {
	it('reads an error about the number as an error event', () => {
		const e = only('value-errors.json', 'error');
		expect(e).toMatchObject({
			code: 130429,
			title: 'Rate limit hit',
			details:
				'Message failed to send because there were too many messages sent from this phone number in a short period of time',
			category: 'throttled',
			retryable: true,
			...NUMBER,
		});
		expect(e.eventId).toMatch(/^error:106540352242922:130429:[0-9a-f]{16}$/);
		expect(only('value-errors.json', 'error').eventId).toBe(e.eventId);
	});

	it('reads a template approval', () => {
		expect(only('template-status-approved.json', 'template_status')).toEqual({
			kind: 'template_status',
			eventId: 'template_status:1689556908129832:APPROVED:1751247548',
			wabaId: '102290129340398',
			templateId: '1689556908129832',
			templateName: 'order_confirmation',
			language: 'en_US',
			timestamp: '2025-06-30T01:39:08.000Z',
			timestampUnix: 1751247548,
			event: 'APPROVED',
			reason: 'NONE',
			category: 'UTILITY',
		});
	});

	it('reads a rejection with its reason and recommendation', () => {
		const t = only('template-status-rejected.json', 'template_status');
		expect(t).toMatchObject({
			event: 'REJECTED',
			reason: 'INVALID_FORMAT',
			templateName: 'summer_promo',
			category: 'MARKETING',
		});
		expect(t.rejectionInfo).toEqual({
			reason: 'The template has a variable at the start of the body.',
			recommendation: 'Move the variable so that text comes before it.',
		});
	});

	it('reads a pause (reason null) and a disable', () => {
		const paused = only('template-status-paused.json', 'template_status');
		expect(paused.event).toBe('PAUSED');
		expect(paused).not.toHaveProperty('reason');
		expect(paused.otherInfo?.title).toBe('FIRST_PAUSE');
		const disabled = only('template-status-disabled.json', 'template_status');
		expect(disabled).toMatchObject({
			event: 'DISABLED',
			disableDate: '1751416400',
			language: 'es',
		});
	});

	it('reads a template quality change', () => {
		expect(only('template-quality-update.json', 'template_quality')).toEqual({
			kind: 'template_quality',
			eventId: 'template_quality:1689556908129832:YELLOW:1751311098',
			wabaId: '102290129340398',
			templateId: '1689556908129832',
			templateName: 'order_confirmation',
			language: 'en_US',
			timestamp: '2025-06-30T19:18:18.000Z',
			timestampUnix: 1751311098,
			previousQualityScore: 'GREEN',
			newQualityScore: 'YELLOW',
		});
	});

	it('tells an impending category change from a completed one', () => {
		const soon = only('template-category-update-impending.json', 'template_category');
		expect(soon).toMatchObject({
			impending: true,
			newCategory: 'UTILITY',
			correctCategory: 'MARKETING',
			categoryUpdateAt: '2025-07-08T15:00:00.000Z',
		});
		const done = only('template-category-update-completed.json', 'template_category');
		expect(done).toMatchObject({
			impending: false,
			previousCategory: 'UTILITY',
			newCategory: 'MARKETING',
		});
		expect(done.eventId).not.toBe(soon.eventId);
	});

	it('keeps template events when filtering by business number: they belong to the WABA', () => {
		expect(
			events('template-status-approved.json', { phoneNumberId: 'some-other-number' }),
		).toHaveLength(1);
	});

	it('reads a marketing opt-out and opt-in', () => {
		expect(only('user-preferences-stop.json', 'user_preference')).toEqual({
			kind: 'user_preference',
			eventId: 'user_preference:16505551234:marketing_messages:stop:1731705721',
			waId: '16505551234',
			profileName: 'Sheena Nelson',
			category: 'marketing_messages',
			value: 'stop',
			detail: 'User requested to stop marketing messages',
			timestamp: '2024-11-15T21:22:01.000Z',
			timestampUnix: 1731705721,
			...NUMBER,
		});
		expect(only('user-preferences-resume.json', 'user_preference')).toMatchObject({
			value: 'resume',
			waId: '16505551234',
		});
	});

	it('filters user preferences by business number like messages', () => {
		expect(events('user-preferences-stop.json', { phoneNumberId: 'other' })).toEqual([]);
	});
});
