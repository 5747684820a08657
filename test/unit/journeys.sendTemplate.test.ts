/**
 * The template-send policy both adapters apply (core/journeys): what a user is refused, and when — always before
 * any request leaves, and before the item's content is read or the opt-out store is asked when the answer is known.
 */
import {
	SendPolicyError,
	TemplateValidationError,
	normalizePhoneNumber,
	prepareTemplateSend,
	toSendFailure,
} from '../../core';
import type { TemplateContent, TemplateDefinition, TemplateSendPolicy } from '../../core';
import { fixtureSendValues, fixtureTemplate } from '../../sandbox/fixtures/templates';

const marketing = fixtureTemplate('spring_sale_named');
const utility = fixtureTemplate('order_confirmation');
const rejected = fixtureTemplate('flash_sale_rejected');
const US = normalizePhoneNumber('+1 415 555 2671');
const UK = normalizePhoneNumber('+44 7911 123456');

const policy = (extra: Partial<TemplateSendPolicy> = {}): TemplateSendPolicy => ({
	allowUsMarketing: false,
	skipOptedOut: true,
	useMarketingMessagesApi: false,
	...extra,
});

/** Ports that record what the use case asked for. */
function ports(optedOut: string[] = [], content?: TemplateContent) {
	const asked = { content: 0, optOut: [] as string[] };
	return {
		asked,
		ports: {
			allowUsMarketingSwitch: 'Allow Marketing to US Numbers',
			contentFor: async (template: TemplateDefinition) => {
				asked.content++;
				return content ?? { values: fixtureSendValues[`${template.name}/${template.language}`] };
			},
			isOptedOut: async (waId: string) => {
				asked.optOut.push(waId);
				return optedOut.includes(waId);
			},
		},
	};
}

const send = (
	template: TemplateDefinition,
	recipient: { e164: string; waId: string },
	p: ReturnType<typeof ports>['ports'],
	extra: Partial<TemplateSendPolicy> = {},
) => prepareTemplateSend({ template, recipient, item: 0, policy: policy(extra) }, p);

describe('prepareTemplateSend', () => {
	it('refuses a MARKETING template to a US number, naming the switch that allows it', async () => {
		const { ports: p, asked } = ports();
		const refusal = await send(marketing, US, p).catch((e: unknown) => e);
		expect(refusal).toBeInstanceOf(SendPolicyError);
		expect(refusal).toMatchObject({ code: 'us_marketing', metaCode: 131049 });
		expect((refusal as Error).message).toMatch(
			/"spring_sale_named" is a MARKETING template and \+14155552671 is a US number.*131049.*turn on "Allow Marketing to US Numbers"/,
		);
		expect(asked.optOut).toEqual([]);
		// What an error item (or msg.whatsappError) then says: our stable reason next to Meta's code and its meaning.
		expect(toSendFailure(refusal, US.e164)).toMatchObject({
			code: 131049,
			policy: 'us_marketing',
			meaning: expect.stringContaining('US'),
			recipient: '+14155552671',
		});
	});

	it('sends that MARKETING template to the US number once the user allows it', async () => {
		const { ports: p } = ports();
		const sent = await send(marketing, US, p, { allowUsMarketing: true });
		expect(sent.message.template.name).toBe('spring_sale_named');
	});

	it('sends a UTILITY template to a US number without asking', async () => {
		const { ports: p, asked } = ports();
		const sent = await send(utility, US, p);
		expect(sent.summary.template).toMatchObject({
			name: 'order_confirmation',
			category: 'UTILITY',
		});
		expect(asked.optOut).toEqual([]);
	});

	it('refuses a MARKETING template to a customer who opted out, and sends when the check is off', async () => {
		const { ports: p, asked } = ports([UK.waId]);
		await expect(send(marketing, UK, p)).rejects.toMatchObject({
			code: 'opted_out',
			metaCode: 131050,
			message: expect.stringMatching(/\+447911123456 stopped marketing messages/),
		});
		expect(asked.optOut).toEqual([UK.waId]);
		await expect(send(marketing, UK, p, { skipOptedOut: false })).resolves.toBeDefined();
	});

	it('still sends UTILITY templates to a customer who opted out of marketing', async () => {
		const { ports: p, asked } = ports([UK.waId]);
		await expect(send(utility, UK, p)).resolves.toBeDefined();
		expect(asked.optOut).toEqual([]);
	});

	it('refuses a template that is not APPROVED before reading the item’s values', async () => {
		const { ports: p, asked } = ports();
		await expect(send(rejected, UK, p)).rejects.toMatchObject({
			code: 'template_not_approved',
			metaCode: 132001,
			message: expect.stringMatching(
				/"flash_sale_rejected" \(en_US\) is REJECTED, not APPROVED.*132001/,
			),
		});
		expect(asked.content).toBe(0);
	});

	it('says 132015 for a PAUSED template', async () => {
		const { ports: p } = ports();
		await expect(send({ ...utility, status: 'PAUSED' }, UK, p)).rejects.toMatchObject({
			code: 'template_not_approved',
			metaCode: 132015,
		});
	});

	it('checks given components against the template, naming it', async () => {
		const { ports: p } = ports([], {
			components: [{ type: 'body', parameters: [{ type: 'text', text: 'only one' }] }],
		});
		const error = await send(utility, UK, p).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(TemplateValidationError);
		expect((error as Error).message).toMatch(/order_confirmation/);
	});

	it('refuses missing values, naming the template and the variable', async () => {
		const { body_2: _omitted, ...values } = fixtureSendValues['order_confirmation/en_US'];
		const { ports: p } = ports([], { values });
		await expect(send(utility, UK, p)).rejects.toThrow(
			/order_confirmation[\s\S]*(body_2|\{\{2\}\})/,
		);
	});

	it('routes through the Marketing Messages API only MARKETING templates, when asked', async () => {
		const { ports: p } = ports();
		expect(
			(await send(marketing, UK, p, { useMarketingMessagesApi: true })).marketingMessagesApi,
		).toBe(true);
		expect(
			(await send(utility, UK, p, { useMarketingMessagesApi: true })).marketingMessagesApi,
		).toBe(false);
		expect((await send(marketing, UK, p)).marketingMessagesApi).toBe(false);
	});

	it('summarises the template for the output', async () => {
		const { ports: p } = ports();
		const sent = await send(utility, UK, p);
		expect(sent.summary).toEqual({
			template: {
				id: utility.id,
				name: 'order_confirmation',
				language: 'en_US',
				category: 'UTILITY',
			},
		});
		expect(sent.message).toMatchObject({
			type: 'template',
			template: { name: 'order_confirmation', language: { code: 'en_US' } },
		});
	});
});
