import {
	extractTemplateVariables,
	parseTemplateDefinition,
	TEMPLATE_LIMITS,
	templateSummary,
} from '../../core/templates';
import { allFixtureTemplates, fixtureTemplate } from '../../sandbox/fixtures/templates';

const keys = (name: string, language?: string) =>
	extractTemplateVariables(fixtureTemplate(name, language)).map((v) => v.key);

describe('extractTemplateVariables', () => {
	it('lists a positional template header, body and url button in template order', () => {
		const variables = extractTemplateVariables(fixtureTemplate('order_confirmation'));
		expect(variables.map((v) => v.key)).toEqual([
			'header_text_1',
			'body_1',
			'body_2',
			'body_3',
			'button_0_url',
		]);
		expect(variables.map((v) => v.component)).toEqual(['header', 'body', 'body', 'body', 'button']);
		expect(variables[1]).toMatchObject({ kind: 'text', index: 1, example: 'Ana', required: true });
	});

	it('orders positional placeholders by number, not by where they appear', () => {
		const def = parseTemplateDefinition({
			name: 'reorder',
			language: 'en',
			status: 'APPROVED',
			category: 'UTILITY',
			components: [
				{
					type: 'BODY',
					text: 'On {{2}}, {{1}} ordered.',
					example: { body_text: [['Ana', 'Monday']] },
				},
			],
		});
		const variables = extractTemplateVariables(def);
		expect(variables.map((v) => [v.key, v.index, v.example])).toEqual([
			['body_1', 1, 'Ana'],
			['body_2', 2, 'Monday'],
		]);
	});

	it('names the variables of a NAMED template after its placeholders', () => {
		const variables = extractTemplateVariables(fixtureTemplate('spring_sale_named'));
		expect(variables.map((v) => v.key)).toEqual([
			'header_text_store_name',
			'body_first_name',
			'body_end_date',
			'body_points',
			'button_0_payload',
		]);
		expect(variables[1]).toMatchObject({ name: 'first_name', example: 'Ana' });
		expect(variables[0]?.index).toBeUndefined();
	});

	it('limits a header variable to what the fixed header text leaves of 60 characters', () => {
		const def = fixtureTemplate('order_confirmation');
		const [header] = extractTemplateVariables(def);
		expect(header?.maxLength).toBe(TEMPLATE_LIMITS.headerText - 'Order  confirmed'.length);
	});

	it('gives media and location headers one variable each', () => {
		expect(keys('new_collection_image')[0]).toBe('header_image');
		expect(keys('invoice_document')[0]).toBe('header_document');
		expect(keys('product_video')[0]).toBe('header_video');
		expect(keys('store_pickup_location')[0]).toBe('header_location');
		const [image] = extractTemplateVariables(fixtureTemplate('new_collection_image'));
		expect(image).toMatchObject({ kind: 'image', required: true });
	});

	it('makes quick-reply payloads optional and url suffixes required, with the example reduced to the suffix', () => {
		const variables = extractTemplateVariables(fixtureTemplate('new_collection_image'));
		const byKey = new Map(variables.map((v) => [v.key, v]));
		expect(byKey.get('button_0_payload')).toMatchObject({
			kind: 'payload',
			required: false,
			buttonIndex: 0,
		});
		expect(byKey.get('button_2_url')).toMatchObject({
			kind: 'url_suffix',
			required: true,
			buttonIndex: 2,
			example: 'spring-26',
		});
	});

	it('gives no variable to phone number buttons and fixed URLs', () => {
		expect(keys('store_pickup_location')).toEqual(['header_location', 'body_1', 'body_2']);
		expect(keys('product_video')).toEqual(['header_video', 'body_1']);
	});

	it('asks an authentication template for the code once', () => {
		const variables = extractTemplateVariables(fixtureTemplate('login_otp'));
		expect(variables).toHaveLength(1);
		expect(variables[0]).toMatchObject({
			key: 'button_0_otp',
			kind: 'otp',
			required: true,
			maxLength: 15,
		});
	});

	it('recognises an OTP button in the create-API shape', () => {
		const def = parseTemplateDefinition({
			name: 'login_code',
			language: 'en_US',
			status: 'APPROVED',
			category: 'AUTHENTICATION',
			components: [
				{ type: 'body' },
				{
					type: 'buttons',
					buttons: [
						{
							type: 'otp',
							otp_type: 'one_tap',
							package_name: 'com.example',
							signature_hash: 'K8a/AINcGX7',
						},
					],
				},
			],
		});
		expect(extractTemplateVariables(def).map((v) => v.key)).toEqual(['button_0_otp']);
	});

	it('gives coupon codes, flows, catalogs and offer expirations their own kinds', () => {
		expect(
			extractTemplateVariables(fixtureTemplate('coupon_code')).find(
				(v) => v.key === 'button_0_coupon_code',
			),
		).toMatchObject({
			kind: 'coupon_code',
			example: 'SPRING25',
			maxLength: 15,
		});
		expect(
			extractTemplateVariables(fixtureTemplate('delivery_feedback_flow')).at(-1),
		).toMatchObject({ key: 'button_0_flow', kind: 'flow', required: false });
		expect(extractTemplateVariables(fixtureTemplate('spring_catalog')).at(-1)).toMatchObject({
			key: 'button_0_catalog',
			kind: 'catalog',
			required: false,
		});
		expect(keys('limited_offer')).toEqual([
			'header_image',
			'lto_expiration_ms',
			'body_1',
			'body_2',
			'button_0_coupon_code',
			'button_1_url',
		]);
	});

	it('prefixes carousel card variables with their card index', () => {
		expect(keys('product_carousel')).toEqual([
			'body_1',
			'card_0_header_image',
			'card_0_body_1',
			'card_0_body_2',
			'card_0_button_0_payload',
			'card_0_button_1_url',
			'card_1_header_image',
			'card_1_body_1',
			'card_1_body_2',
			'card_1_button_0_payload',
			'card_1_button_1_url',
		]);
		const card = extractTemplateVariables(fixtureTemplate('product_carousel')).find(
			(v) => v.key === 'card_1_button_1_url',
		);
		expect(card).toMatchObject({ component: 'card', cardIndex: 1, buttonIndex: 1 });
	});

	it('produces unique keys usable as object keys for every fixture, each with a display name and description', () => {
		for (const def of allFixtureTemplates) {
			const variables = extractTemplateVariables(def);
			expect(new Set(variables.map((v) => v.key)).size).toBe(variables.length);
			for (const v of variables) {
				expect(v.key).toMatch(/^[a-z0-9_]+$/);
				expect(v.displayName.length).toBeGreaterThan(0);
				expect(v.description.length).toBeGreaterThan(0);
			}
		}
	});
});

describe('templateSummary', () => {
	it('summarises a template for list UIs', () => {
		expect(templateSummary(fixtureTemplate('spring_sale_named'))).toEqual({
			name: 'spring_sale_named',
			language: 'en_US',
			category: 'MARKETING',
			status: 'APPROVED',
			parameterFormat: 'NAMED',
			variableCount: 5,
		});
		expect(templateSummary(fixtureTemplate('order_confirmation', 'pt_BR'))).toMatchObject({
			language: 'pt_BR',
			parameterFormat: 'POSITIONAL',
			variableCount: 5,
		});
	});

	it('treats a template without parameter_format whose placeholders are names as NAMED', () => {
		const def = parseTemplateDefinition({
			name: 'n',
			language: 'en',
			status: 'APPROVED',
			category: 'UTILITY',
			components: [{ type: 'BODY', text: 'Hi {{first_name}}' }],
		});
		expect(templateSummary(def).parameterFormat).toBe('NAMED');
	});
});
