import {
	buildTemplateMessage,
	validateTemplateMessage,
	type TemplateDefinition,
} from '../../core/templates';
import { fixtureSendValues, fixtureTemplate } from '../../sandbox/fixtures/templates';

// Tampering reaches into arbitrary depths of Meta's JSON; typing every path would hide what each test changes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** A valid message for a fixture, as plain JSON to tamper with. */
function validMessage(name: string, language = 'en_US'): Json {
	const def = fixtureTemplate(name, language);
	return JSON.parse(
		JSON.stringify(buildTemplateMessage(def, fixtureSendValues[`${name}/${language}`] as Json)),
	) as Json;
}

function component(message: Json, type: string, index?: number): Json {
	const found = (message.components as Json[]).find(
		(c) => c.type === type && (index === undefined || c.index === index),
	);
	if (!found) throw new Error(`no ${type} component`);
	return found;
}

function without(message: Json, type: string, index?: number): Json {
	return {
		...message,
		components: (message.components as Json[]).filter(
			(c) => !(c.type === type && (index === undefined || c.index === index)),
		),
	};
}

const check = (name: string, message: unknown, def: TemplateDefinition = fixtureTemplate(name)) =>
	validateTemplateMessage(def, message);

describe('validateTemplateMessage: template lookup', () => {
	it('answers 132001 when the registry has no such template or language', () => {
		const message = validMessage('order_confirmation');
		expect(validateTemplateMessage(undefined, message)).toMatchObject({
			code: 132001,
			template: 'order_confirmation',
			language: 'en_US',
			component: 'template',
		});
		expect(
			validateTemplateMessage(fixtureTemplate('order_confirmation', 'pt_BR'), message)?.code,
		).toBe(132001);
	});

	it.each([
		['PENDING', 132001],
		['REJECTED', 132001],
		['PAUSED', 132015],
		['DISABLED', 132016],
		['APPROVED', null],
	])('answers a %s template with %p', (status, code) => {
		const def = { ...fixtureTemplate('coupon_code'), status };
		expect(validateTemplateMessage(def, validMessage('coupon_code'))?.code ?? null).toBe(code);
	});

	it('accepts a whole send request and reads the template from it', () => {
		const request = {
			messaging_product: 'whatsapp',
			to: '+14155552671',
			type: 'template',
			template: validMessage('payment_due'),
		};
		expect(check('payment_due', request)).toBeNull();
	});

	it('accepts upper-case component types and string button indexes', () => {
		const message = validMessage('order_confirmation');
		const upper = {
			...message,
			components: (message.components as Json[]).map((c) => ({
				...c,
				type: String(c.type).toUpperCase(),
				...(c.index !== undefined ? { index: String(c.index) } : {}),
			})),
		};
		expect(check('order_confirmation', upper)).toBeNull();
	});
});

describe('validateTemplateMessage: structure (100)', () => {
	it.each([
		['no language', { name: 'order_confirmation' }],
		[
			'components not a list',
			{ name: 'order_confirmation', language: { code: 'en_US' }, components: {} },
		],
		[
			'unknown component type',
			{
				name: 'order_confirmation',
				language: { code: 'en_US' },
				components: [{ type: 'footer', parameters: [] }],
			},
		],
		[
			'unknown parameter type',
			{
				name: 'order_confirmation',
				language: { code: 'en_US' },
				components: [{ type: 'body', parameters: [{ type: 'emoji' }] }],
			},
		],
		[
			'button without index',
			{
				name: 'order_confirmation',
				language: { code: 'en_US' },
				components: [{ type: 'button', sub_type: 'url', parameters: [] }],
			},
		],
		['not an object', 'order_confirmation'],
	])('answers 100 for %s, naming the field', (_, message) => {
		const issue = check('order_confirmation', message);
		expect(issue).toMatchObject({ code: 100, component: 'template' });
		expect(issue?.message).toMatch(/^Invalid parameter: /);
	});

	it('answers 100 for two body components', () => {
		const message = validMessage('order_confirmation');
		message.components.push(component(message, 'body'));
		expect(check('order_confirmation', message)?.code).toBe(100);
	});
});

describe('validateTemplateMessage: parameters', () => {
	it('answers 132000 when the body has the wrong number of parameters', () => {
		const message = validMessage('order_confirmation');
		component(message, 'body').parameters.pop();
		const issue = check('order_confirmation', message);
		expect(issue).toMatchObject({ code: 132000, component: 'body' });
		expect(issue?.message).toMatch(
			/number of parameters \(2\) does not match the expected number of params \(3\)/,
		);
	});

	it('answers 132000 when the body or the text header is left out', () => {
		expect(
			check('order_confirmation', without(validMessage('order_confirmation'), 'body')),
		).toMatchObject({ code: 132000, component: 'body' });
		expect(
			check('order_confirmation', without(validMessage('order_confirmation'), 'header')),
		).toMatchObject({ code: 132000, component: 'header' });
	});

	it('answers 132000 for a header sent to a template without header variables', () => {
		const message = validMessage('payment_due');
		message.components.unshift({ type: 'header', parameters: [{ type: 'text', text: 'x' }] });
		expect(check('payment_due', message)?.code).toBe(132000);
	});

	it('answers 132012 when a media header is left out or has the wrong type', () => {
		expect(
			check('new_collection_image', without(validMessage('new_collection_image'), 'header')),
		).toMatchObject({
			// Meta: 132012 "header: Format mismatch, expected IMAGE, received UNKNOWN"
			// (https://github.com/netflie/laravel-notification-whatsapp/issues/36)
			code: 132012,
			component: 'header',
			variable: 'header_image',
		});
		const message = validMessage('new_collection_image');
		component(message, 'header').parameters = [{ type: 'text', text: 'spring' }];
		expect(check('new_collection_image', message)).toMatchObject({
			code: 132012,
			variable: 'header_image',
		});
	});

	it('answers 100 for positional parameters sent to a NAMED template, and 132012 for the reverse', () => {
		const named = validMessage('spring_sale_named');
		for (const p of component(named, 'body').parameters) delete p.parameter_name;
		// Meta: 100 "Parameter name is missing or empty" (https://github.com/shridarpatil/whatomate/issues/144)
		expect(check('spring_sale_named', named)).toMatchObject({ code: 100, component: 'body' });

		const positional = validMessage('order_confirmation');
		component(positional, 'body').parameters[0].parameter_name = 'first_name';
		expect(check('order_confirmation', positional)).toMatchObject({
			code: 132012,
			component: 'body',
		});
	});

	it('answers 131009 for a parameter name the NAMED template does not have', () => {
		const message = validMessage('spring_sale_named');
		component(message, 'body').parameters[2].parameter_name = 'loyalty_points';
		const issue = check('spring_sale_named', message);
		expect(issue).toMatchObject({ code: 131009 });
		expect(issue?.message).toMatch(/no parameter named "loyalty_points"/);
	});

	it('accepts NAMED parameters in any order', () => {
		const message = validMessage('spring_sale_named');
		component(message, 'body').parameters.reverse();
		expect(check('spring_sale_named', message)).toBeNull();
	});

	it('answers 131008 for an empty text parameter and 131009 for a bad media link or currency', () => {
		const empty = validMessage('order_confirmation');
		component(empty, 'body').parameters[0].text = ' ';
		expect(check('order_confirmation', empty)).toMatchObject({ code: 131008, variable: 'body_1' });

		const link = validMessage('new_collection_image');
		component(link, 'header').parameters[0].image.link = 'cdn/spring.jpg';
		expect(check('new_collection_image', link)).toMatchObject({
			code: 131009,
			variable: 'header_image',
		});

		const currency = validMessage('payment_due');
		component(currency, 'body').parameters[1].currency.code = 'usd';
		expect(check('payment_due', currency)).toMatchObject({ code: 131009, variable: 'body_2' });
	});

	it('answers 132005 when the hydrated body is too long', () => {
		const message = validMessage('order_confirmation');
		component(message, 'body').parameters[2].text = 'x'.repeat(1020);
		expect(check('order_confirmation', message)).toMatchObject({
			code: 132005,
			component: 'body',
			variable: 'body_3',
		});
	});
});

describe('validateTemplateMessage: buttons', () => {
	it('answers 131008 when a required url button parameter is left out, and accepts a left-out quick reply', () => {
		expect(
			check('order_confirmation', without(validMessage('order_confirmation'), 'button')),
		).toMatchObject({
			code: 131008,
			component: 'button',
			variable: 'button_0_url',
		});
		expect(
			check('new_collection_image', without(validMessage('new_collection_image'), 'button', 0)),
		).toBeNull();
	});

	it('answers 131009 for a button index the template does not have', () => {
		const message = validMessage('order_confirmation');
		component(message, 'button').index = 3;
		expect(check('order_confirmation', message)?.code).toBe(131009);
	});

	it('answers 132012 for a sub_type that does not match the button', () => {
		const message = validMessage('order_confirmation');
		component(message, 'button').sub_type = 'quick_reply';
		expect(check('order_confirmation', message)?.code).toBe(132012);
	});

	it('answers 132000 for parameters sent to a fixed URL button and to a phone number button', () => {
		const video = validMessage('product_video');
		video.components.push({
			type: 'button',
			sub_type: 'url',
			index: 0,
			parameters: [{ type: 'text', text: 'x' }],
		});
		expect(check('product_video', video)?.code).toBe(132000);
		const pickup = validMessage('store_pickup_location');
		pickup.components.push({ type: 'button', sub_type: 'voice_call', index: 0, parameters: [] });
		expect(check('store_pickup_location', pickup)?.code).toBe(132000);
	});

	it('answers 131009 for a coupon code over 15 characters', () => {
		const message = validMessage('coupon_code');
		component(message, 'button', 0).parameters[0].coupon_code = 'SPRING2026SAVE25';
		expect(check('coupon_code', message)).toMatchObject({
			code: 131009,
			variable: 'button_0_coupon_code',
		});
	});

	it('requires the OTP code in the body and the button of an authentication template', () => {
		expect(check('login_otp', without(validMessage('login_otp'), 'body'))?.code).toBe(132000);
		expect(check('login_otp', without(validMessage('login_otp'), 'button'))).toMatchObject({
			code: 131008,
			variable: 'button_0_otp',
		});
	});
});

describe('validateTemplateMessage: carousel and limited-time offer', () => {
	it('answers 131008 without the carousel and 132000 with the wrong number of cards', () => {
		expect(
			check('product_carousel', without(validMessage('product_carousel'), 'carousel'))?.code,
		).toBe(131008);
		const message = validMessage('product_carousel');
		component(message, 'carousel').cards.pop();
		expect(check('product_carousel', message)).toMatchObject({
			code: 132000,
			component: 'carousel',
		});
	});

	it('answers 131008 for a card without its image and 131009 for an unknown card index', () => {
		const noImage = validMessage('product_carousel');
		const card = component(noImage, 'carousel').cards[1];
		card.components = card.components.filter((c: Json) => c.type !== 'header');
		expect(check('product_carousel', noImage)).toMatchObject({
			code: 131008,
			component: 'card',
			variable: 'card_1_header_image',
		});

		const badIndex = validMessage('product_carousel');
		component(badIndex, 'carousel').cards[1].card_index = 5;
		expect(check('product_carousel', badIndex)?.code).toBe(131009);
	});

	it('checks card buttons against the card', () => {
		const message = validMessage('product_carousel');
		const buttons = component(message, 'carousel').cards[0].components.filter(
			(c: Json) => c.type === 'button',
		);
		buttons[1].parameters[0].text = 'trail boots';
		expect(check('product_carousel', message)).toMatchObject({
			code: 131009,
			component: 'card',
			variable: 'card_0_button_1_url',
		});
	});

	it('answers 131008 without the offer expiration and 131009 for a bad one', () => {
		expect(
			check('limited_offer', without(validMessage('limited_offer'), 'limited_time_offer')),
		).toMatchObject({
			code: 131008,
			variable: 'lto_expiration_ms',
		});
		const message = validMessage('limited_offer');
		component(message, 'limited_time_offer').parameters[0].limited_time_offer.expiration_time_ms =
			'soon';
		expect(check('limited_offer', message)?.code).toBe(131009);
	});

	it('answers 132000 for an offer sent to a template without one', () => {
		const message = validMessage('coupon_code');
		message.components.push({
			type: 'limited_time_offer',
			parameters: [{ type: 'limited_time_offer', limited_time_offer: { expiration_time_ms: 1 } }],
		});
		expect(check('coupon_code', message)?.code).toBe(132000);
	});
});
