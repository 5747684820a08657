/**
 * Customers known by a business-scoped user id (BSUID) instead of a phone number (WhatsApp usernames, 2026).
 *
 * Meta's rules pinned here, with their sources:
 * - A BSUID is the user's ISO 3166 alpha-2 country, a period and up to 128 letters/digits ("US.13491208655302741918");
 *   a parent BSUID has "ENT." after the country. Meta's system-messages webhook reference shows them:
 *   https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/
 *   and partners' copies of Meta's BSUID guide give the format:
 *   https://learn.microsoft.com/pt-br/azure/communication-services/concepts/advanced-messaging/whatsapp/whatsapp-username-support-overview
 * - A message goes to a BSUID in the `recipient` field; when `to` is given too, `to` wins:
 *   https://partner-docs.gupshup.io/reference/post_partner-app-appid-v3-message-9.md ("When both `to` and
 *   `recipient` fields are used in the payload, the `to` field gets the priority"),
 *   https://developer.8x8.com/release-notes/2026-07-21-business-scoped-user-ids-bsuid
 * - Authentication templates cannot be sent to a BSUID (131062):
 *   https://developer.8x8.com/release-notes/2026-07-21-business-scoped-user-ids-bsuid
 *   Meta's own title and message text for 131062 are not public (searched Meta's pages and partners' copies, client
 *   libraries and their issues): core/errors.ts and the sandbox use our own wording, and code matching goes by the number.
 * - The send answer's contact for a BSUID recipient is `input` (the id sent), `user_id` (the BSUID) and `wa_id` only
 *   when Meta shares the number; a send by phone number has no `user_id`: Meta's BSUID page, section "Send message
 *   response", as quoted by a client library's maintainer in
 *   https://github.com/gabrieldwight/Whatsapp-Business-Cloud-Api-Net/issues/209 , and whatsapp-api-js's contact type
 *   (wa_id omitted for a username customer): https://whatsappapijs--pr507-renovate-typescript-vnea1vb3.web.app/types/types.ServerContacts.html
 * - A parent BSUID ("US.ENT.…") is accepted in `recipient` like a BSUID (enrolled portfolios only):
 *   https://docs.ycloud.com/reference/webhook-updates-bsuid , https://dualhook.com/docs/contacts-bsuid-parent-user-ids
 */
import {
	CloudApiClient,
	SEND_REFUSAL_CODES,
	SendPolicyError,
	buildEnvelope,
	cloudApiMessageRequestSchema,
	customerTimeZone,
	describeMetaError,
	isBsuid,
	normalizeRecipient,
	prepareSend,
	prepareTemplateSend,
	toDryRunResult,
	toSendFailure,
	toSendResult,
} from '../../core';
import type { TemplateDefinition } from '../../core';
import { fixtureSendValues, fixtureTemplate } from '../../sandbox/fixtures/templates';

const BSUID = 'US.13491208655302741918';

describe('BSUID recipients', () => {
	it('tells a BSUID from a phone number, exactly as Meta writes them', () => {
		expect(isBsuid(BSUID)).toBe(true);
		expect(isBsuid('US.ENT.11815799212886844830')).toBe(true);
		expect(isBsuid('HK.abcDEF123')).toBe(true);
		expect(isBsuid('+14155552671')).toBe(false);
		expect(isBsuid('14155552671')).toBe(false);
		expect(isBsuid('us.1349')).toBe(false); // the country is upper case
		expect(isBsuid('US.')).toBe(false);
		expect(isBsuid(`US.${'1'.repeat(129)}`)).toBe(false);
		expect(isBsuid('US.12 34')).toBe(false);
	});

	it('keeps a BSUID as given (trimmed) and normalises a phone number as before, saying which it is', () => {
		expect(normalizeRecipient(`  ${BSUID} `)).toEqual({ type: 'bsuid', e164: BSUID, waId: BSUID });
		expect(normalizeRecipient('+1 (415) 555-2671')).toEqual({
			type: 'phone',
			e164: '+14155552671',
			waId: '14155552671',
			country: 'US',
		});
		expect(() => normalizeRecipient('US-1349')).toThrow(/not a phone number/);
	});

	it('sends to a BSUID in the `recipient` field, without `to` (Meta would prefer a `to`)', () => {
		const request = buildEnvelope(BSUID, { type: 'text', text: { body: 'Hi' } });
		expect(request).toEqual({
			messaging_product: 'whatsapp',
			recipient_type: 'individual',
			recipient: BSUID,
			type: 'text',
			text: { body: 'Hi' },
		});
		expect(request).not.toHaveProperty('to');
		expect(buildEnvelope('+14155552671', { type: 'text', text: { body: 'Hi' } })).toMatchObject({
			to: '+14155552671',
		});
		expect(() => buildEnvelope('US-1349', { type: 'text', text: { body: 'Hi' } })).toThrow(
			/not E\.164 .* not a business-scoped user id/,
		);
	});

	it('accepts a request with `to` or `recipient`, and refuses one with neither', () => {
		const body = { messaging_product: 'whatsapp', type: 'text', text: { body: 'Hi' } };
		expect(cloudApiMessageRequestSchema.safeParse({ ...body, recipient: BSUID }).success).toBe(
			true,
		);
		expect(cloudApiMessageRequestSchema.safeParse({ ...body, to: '+14155552671' }).success).toBe(
			true,
		);
		const neither = cloudApiMessageRequestSchema.safeParse(body);
		expect(neither.success).toBe(false);
		expect(neither.error?.issues[0]).toMatchObject({ path: ['to'] });
		expect(neither.error?.issues[0].message).toMatch(/"to".*"recipient"/);
	});

	it('says in every output which id a send used', () => {
		const recipient = normalizeRecipient(BSUID);
		const prepared = prepareSend(
			0,
			recipient,
			{ message: { type: 'text', text: { body: 'Hi' } }, summary: { type: 'text' } },
			{ bizOpaqueCallbackData: '' },
		);
		expect(toDryRunResult(prepared)).toMatchObject({
			recipient: BSUID,
			recipientType: 'bsuid',
			request: { recipient: BSUID },
		});
		const sent = toSendResult(prepared, {
			itemIndex: 0,
			ok: true,
			result: { messageId: 'wamid.1', attempts: 1 } as never,
			retries: [],
		});
		expect(sent).toMatchObject({ messageId: 'wamid.1', recipient: BSUID, recipientType: 'bsuid' });
		const phone = prepareSend(
			0,
			normalizeRecipient('+14155552671'),
			{ message: { type: 'text', text: { body: 'Hi' } }, summary: { type: 'text' } },
			{ bizOpaqueCallbackData: '' },
		);
		expect(phone.recipientType).toBe('phone');
	});
});

describe('authentication templates and BSUIDs', () => {
	const otp = fixtureTemplate('login_otp');
	const utility = fixtureTemplate('order_confirmation');
	const ports = {
		allowUsMarketingSwitch: 'Allow Marketing to US Numbers',
		contentFor: async (template: TemplateDefinition) => ({
			values: fixtureSendValues[`${template.name}/${template.language}`],
		}),
		isOptedOut: async () => false,
	};
	const policy = { allowUsMarketing: false, skipOptedOut: true, useMarketingMessagesApi: false };

	it('refuses an AUTHENTICATION template to a BSUID before sending, naming the field and the fix', async () => {
		const refusal = await prepareTemplateSend(
			{ template: otp, recipient: normalizeRecipient(BSUID), item: 0, policy },
			ports,
		).catch((e: unknown) => e);
		expect(refusal).toBeInstanceOf(SendPolicyError);
		expect(refusal).toMatchObject({
			code: 'bsuid_authentication',
			metaCode: 131062,
			reference: 'WJ_BSUID_AUTHENTICATION',
		});
		expect((refusal as Error).message).toMatch(/Recipient field/);
		expect((refusal as Error).message).toMatch(/phone number/);
		expect(toSendFailure(refusal, BSUID)).toMatchObject({
			code: 131062,
			reference: SEND_REFUSAL_CODES.bsuid_authentication,
			recipient: BSUID,
			retry: 'never',
		});
		expect(describeMetaError(131062).category).toBe('recipient');
	});

	it('sends the same AUTHENTICATION template to a phone number, and other templates to a BSUID', async () => {
		await expect(
			prepareTemplateSend(
				{ template: otp, recipient: normalizeRecipient('+14155552671'), item: 0, policy },
				ports,
			),
		).resolves.toMatchObject({ message: { type: 'template' } });
		await expect(
			prepareTemplateSend(
				{ template: utility, recipient: normalizeRecipient(BSUID), item: 0, policy },
				ports,
			),
		).resolves.toMatchObject({ message: { type: 'template' } });
	});
});

describe('quiet hours for a customer known only by BSUID', () => {
	it('needs a time zone: a BSUID carries no phone number, so no country to take one from', () => {
		expect(() => customerTimeZone(BSUID)).toThrow(/business-scoped user id.*time zone/);
		expect(customerTimeZone(BSUID, 'America/Chicago')).toEqual({
			timeZone: 'America/Chicago',
			assumed: false,
		});
	});
});

describe("Meta's answer to a send by BSUID", () => {
	const answer = (contact: Record<string, string>) => ({
		status: 200,
		body: {
			messaging_product: 'whatsapp',
			contacts: [contact],
			messages: [{ id: 'wamid.B1', message_status: 'accepted' }],
		},
	});
	const send = async (contact: Record<string, string>) =>
		new CloudApiClient({ phoneNumberId: '1', baseUrl: 'http://graph.test' }, async () =>
			answer(contact),
		).sendMessage(buildEnvelope(BSUID, { type: 'text', text: { body: 'hi' } }));

	it('reads the BSUID (user_id) and the number only when Meta shares it', async () => {
		expect(await send({ input: BSUID, user_id: BSUID })).toMatchObject({
			messageId: 'wamid.B1',
			input: BSUID,
			userId: BSUID,
			waId: undefined,
		});
		expect(await send({ input: BSUID, wa_id: '16505551234', user_id: BSUID })).toMatchObject({
			waId: '16505551234',
			userId: BSUID,
		});
	});

	it('sends a parent BSUID in `recipient` like a BSUID', () => {
		const parent = 'US.ENT.11815799212886844830';
		expect(normalizeRecipient(parent)).toEqual({ type: 'bsuid', e164: parent, waId: parent });
		expect(buildEnvelope(parent, { type: 'text', text: { body: 'hi' } })).toMatchObject({
			recipient: parent,
		});
		expect(buildEnvelope(parent, { type: 'text', text: { body: 'hi' } })).not.toHaveProperty('to');
	});
});
