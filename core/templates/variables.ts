/**
 * What a template asks for at send time: its variables (for forms and the n8n resource mapper) and
 * its layout (which component, button and card each parameter goes to). The builder and the
 * validator both read the layout, so they cannot disagree about what a template expects.
 */
import {
	findComponent,
	isButton,
	isComponent,
	type ButtonSubType,
	type CarouselCardComponent,
	type ParameterFormat,
	type TemplateBodyComponent,
	type TemplateButton,
	type TemplateComponent,
	type TemplateDefinition,
	type TemplateHeaderComponent,
} from './model';
import { LIMITS } from './limits';

export type TemplateVariableComponent =
	'header' | 'body' | 'button' | 'card' | 'limited_time_offer';
export type TemplateVariableKind =
	| 'text'
	| 'currency'
	| 'date_time'
	| 'image'
	| 'video'
	| 'document'
	| 'location'
	| 'payload'
	| 'url_suffix'
	| 'coupon_code'
	| 'flow'
	| 'catalog'
	| 'otp'
	| 'expiration';

export interface TemplateVariable {
	/** Stable key, [a-z0-9_] only: `body_1`, `header_text_order_id`, `button_0_url`, `card_1_header_image`. */
	key: string;
	component: TemplateVariableComponent;
	/**
	 * 'text' body variables also accept currency and date_time values: a definition does not say which
	 * type a body variable has, the sender decides.
	 */
	kind: TemplateVariableKind;
	/** NAMED templates: the placeholder name. */
	name?: string;
	/** POSITIONAL templates: the placeholder number ({{1}} → 1). */
	index?: number;
	buttonIndex?: number;
	cardIndex?: number;
	example?: string;
	required: boolean;
	maxLength?: number;
	displayName: string;
	description: string;
}

export interface HeaderLayout {
	format: TemplateHeaderComponent['format'];
	text?: string;
	/** Text: one per placeholder. Media and location: exactly one. */
	variables: TemplateVariable[];
}

export interface BodyLayout {
	text?: string;
	variables: TemplateVariable[];
	/** Longest allowed body once the parameters are filled in. */
	maxHydratedLength: number;
}

export interface ButtonLayout {
	index: number;
	/** The definition's button type (URL, QUICK_REPLY, OTP, …). */
	buttonType: string;
	text?: string;
	/** The sub_type a send request uses for this button; undefined when the button takes no parameters. */
	subType?: ButtonSubType;
	url?: string;
	variable?: TemplateVariable;
}

export interface CardLayout {
	cardIndex: number;
	header?: HeaderLayout;
	body?: BodyLayout;
	buttons: ButtonLayout[];
}

export interface TemplateLayout {
	parameterFormat: ParameterFormat;
	isAuthentication: boolean;
	header?: HeaderLayout;
	body?: BodyLayout;
	limitedTimeOffer?: { hasExpiration: boolean; variable?: TemplateVariable };
	cards?: CardLayout[];
	buttons: ButtonLayout[];
	/** Authentication templates: the one code that goes into body {{1}} and the OTP button. */
	otpVariable?: TemplateVariable;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Placeholder names in order of first appearance, without duplicates. */
export function placeholdersOf(text: string | undefined): string[] {
	if (!text) return [];
	const seen: string[] = [];
	for (const match of text.matchAll(PLACEHOLDER)) {
		const name = match[1] as string;
		if (!seen.includes(name)) seen.push(name);
	}
	return seen;
}

/** Length of a text without its placeholders: what the parameters must share with the fixed text. */
export function staticLength(text: string | undefined): number {
	return text ? text.replace(PLACEHOLDER, '').length : 0;
}

/** Replace placeholders with values (positional "1" or named); unknown placeholders stay as written. */
export function hydrate(text: string, values: ReadonlyMap<string, string>): string {
	return text.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole);
}

function parameterFormatOf(def: TemplateDefinition): ParameterFormat {
	if (def.parameter_format) return def.parameter_format;
	// Undeclared means positional, but tolerate a definition whose placeholders are clearly names.
	for (const component of def.components) {
		const text =
			isComponent(component, 'BODY') || isComponent(component, 'HEADER')
				? component.text
				: undefined;
		if (placeholdersOf(text).some((p) => !/^\d+$/.test(p))) return 'NAMED';
	}
	return 'POSITIONAL';
}

function orderedPlaceholders(text: string | undefined, format: ParameterFormat): string[] {
	const names = placeholdersOf(text);
	if (format === 'POSITIONAL')
		return names.filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
	return names;
}

function keyPart(name: string): string {
	return name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

interface Scope {
	/** Key prefix: '' at top level, 'card_0_' in a carousel card. */
	prefix: string;
	cardIndex?: number;
	/** Human prefix for display names: '' or 'Card 1 '. */
	label: string;
}

function componentFor(scope: Scope, own: TemplateVariableComponent): TemplateVariableComponent {
	return scope.cardIndex === undefined ? own : 'card';
}

function headerLayout(
	header: TemplateHeaderComponent,
	format: ParameterFormat,
	scope: Scope,
): HeaderLayout {
	const variables: TemplateVariable[] = [];
	const base = {
		component: componentFor(scope, 'header'),
		required: true,
		...(scope.cardIndex !== undefined ? { cardIndex: scope.cardIndex } : {}),
	};
	if (header.format === 'TEXT') {
		const names = orderedPlaceholders(header.text, format);
		const room = LIMITS.headerText - staticLength(header.text);
		names.forEach((name, i) => {
			const named = format === 'NAMED';
			const example = named
				? header.example?.header_text_named_params?.find((p) => p.param_name === name)?.example
				: header.example?.header_text?.[i];
			variables.push({
				...base,
				key: `${scope.prefix}header_text_${keyPart(name)}`,
				kind: 'text',
				...(named ? { name } : { index: Number(name) }),
				...(example !== undefined ? { example } : {}),
				maxLength: Math.max(1, room),
				displayName: `${scope.label}Header {{${name}}}`,
				description: `Text for {{${name}}} in the header "${header.text ?? ''}" (header at most ${LIMITS.headerText} characters in total).`,
			});
		});
	} else {
		const kind =
			header.format === 'IMAGE'
				? 'image'
				: header.format === 'VIDEO'
					? 'video'
					: header.format === 'DOCUMENT'
						? 'document'
						: 'location';
		const example = header.example?.header_handle?.[0];
		variables.push({
			...base,
			key: `${scope.prefix}header_${kind}`,
			kind,
			...(example !== undefined && kind !== 'location' ? { example } : {}),
			displayName: `${scope.label}Header ${kind}`,
			description:
				kind === 'location'
					? 'Location shown in the header: {latitude, longitude, name?, address?}.'
					: `The header ${kind}: a public https URL, an uploaded media id, or {link} / {id}${kind === 'document' ? ' (optionally with filename)' : ''}.`,
		});
	}
	return {
		format: header.format,
		...(header.text !== undefined ? { text: header.text } : {}),
		variables,
	};
}

function bodyLayout(
	body: TemplateBodyComponent,
	format: ParameterFormat,
	scope: Scope,
	maxHydratedLength: number,
): BodyLayout {
	const names = orderedPlaceholders(body.text, format);
	const room = maxHydratedLength - staticLength(body.text);
	const variables = names.map((name, i): TemplateVariable => {
		const named = format === 'NAMED';
		const example = named
			? body.example?.body_text_named_params?.find((p) => p.param_name === name)?.example
			: body.example?.body_text?.[0]?.[i];
		return {
			key: `${scope.prefix}body_${keyPart(name)}`,
			component: componentFor(scope, 'body'),
			kind: 'text',
			...(named ? { name } : { index: Number(name) }),
			...(scope.cardIndex !== undefined ? { cardIndex: scope.cardIndex } : {}),
			...(example !== undefined ? { example } : {}),
			required: true,
			maxLength: Math.max(1, room),
			displayName: `${scope.label}Body {{${name}}}`,
			description: `Value for {{${name}}} in the body. Text, or a currency {fallback_value, code, amount_1000} or date_time {fallback_value} object.`,
		};
	});
	return { ...(body.text !== undefined ? { text: body.text } : {}), variables, maxHydratedLength };
}

function isOtpUrl(url: string): boolean {
	return /^https:\/\/www\.whatsapp\.com\/otp\//.test(url);
}

function buttonLayout(
	button: TemplateButton,
	index: number,
	scope: Scope,
	isAuthentication: boolean,
): ButtonLayout {
	const base = {
		component: componentFor(scope, 'button'),
		buttonIndex: index,
		...(scope.cardIndex !== undefined ? { cardIndex: scope.cardIndex } : {}),
	};
	const label = `${scope.label}Button ${index + 1}${button.text ? ` "${button.text}"` : ''}`;
	const layout: ButtonLayout = {
		index,
		buttonType: button.type,
		...(button.text !== undefined ? { text: button.text } : {}),
	};
	const keyBase = `${scope.prefix}button_${index}_`;

	// Authentication code buttons: created as OTP, returned by GET as URL buttons on whatsapp.com/otp.
	if (
		isButton(button, 'OTP') ||
		(isAuthentication && isButton(button, 'URL') && isOtpUrl(button.url))
	) {
		layout.subType = 'url';
		if (isButton(button, 'URL')) layout.url = button.url;
		layout.variable = {
			...base,
			key: `${keyBase}otp`,
			kind: 'otp',
			required: true,
			maxLength: LIMITS.otpCode,
			displayName: 'One-time code',
			description: `The verification code (at most ${LIMITS.otpCode} characters); it fills the body {{1}} and the ${button.text ?? 'code'} button.`,
		};
		return layout;
	}
	if (isButton(button, 'URL')) {
		layout.url = button.url;
		const [placeholder] = placeholdersOf(button.url);
		if (placeholder !== undefined) {
			layout.subType = 'url';
			const prefix = button.url.slice(0, button.url.indexOf('{{'));
			const exampleUrl = button.example?.[0];
			const example =
				exampleUrl !== undefined && exampleUrl.startsWith(prefix)
					? exampleUrl.slice(prefix.length)
					: exampleUrl;
			layout.variable = {
				...base,
				key: `${keyBase}url`,
				kind: 'url_suffix',
				required: true,
				maxLength: Math.max(1, LIMITS.buttonUrl - prefix.length),
				...(example !== undefined ? { example } : {}),
				displayName: `${label} URL suffix`,
				description: `Appended to ${prefix} to make the button's link.`,
			};
		}
		return layout;
	}
	if (isButton(button, 'QUICK_REPLY')) {
		layout.subType = 'quick_reply';
		layout.variable = {
			...base,
			key: `${keyBase}payload`,
			kind: 'payload',
			required: false,
			displayName: `${label} payload`,
			description:
				'Returned in the inbound message when the customer taps this button (defaults to the button text).',
		};
		return layout;
	}
	if (isButton(button, 'COPY_CODE')) {
		layout.subType = 'copy_code';
		const example = Array.isArray(button.example) ? button.example[0] : button.example;
		layout.variable = {
			...base,
			key: `${keyBase}coupon_code`,
			kind: 'coupon_code',
			required: true,
			maxLength: LIMITS.couponCode,
			...(example !== undefined ? { example } : {}),
			displayName: `${label} coupon code`,
			description: `The code the customer copies (at most ${LIMITS.couponCode} characters).`,
		};
		return layout;
	}
	if (isButton(button, 'FLOW')) {
		layout.subType = 'flow';
		layout.variable = {
			...base,
			key: `${keyBase}flow`,
			kind: 'flow',
			required: false,
			displayName: `${label} flow token`,
			description:
				'Flow token (string), or {flow_token, flow_action_data} to prefill the first screen.',
		};
		return layout;
	}
	if (isButton(button, 'CATALOG')) {
		layout.subType = 'catalog';
		layout.variable = {
			...base,
			key: `${keyBase}catalog`,
			kind: 'catalog',
			required: false,
			displayName: `${label} thumbnail product`,
			description:
				'Retailer id of the product shown as the catalog thumbnail (defaults to the first item).',
		};
		return layout;
	}
	if (isButton(button, 'MPM')) {
		layout.subType = 'mpm';
		layout.variable = {
			...base,
			key: `${keyBase}mpm`,
			kind: 'catalog',
			required: true,
			displayName: `${label} products`,
			description:
				'{thumbnail_product_retailer_id, sections: [{title, product_items: [{product_retailer_id}]}]}.',
		};
		return layout;
	}
	// PHONE_NUMBER, VOICE_CALL and unknown types take no parameters.
	return layout;
}

function buttonsLayout(
	components: ReadonlyArray<TemplateComponent | CarouselCardComponent>,
	scope: Scope,
	isAuthentication: boolean,
): ButtonLayout[] {
	const buttons = findComponent(components, 'BUTTONS');
	return buttons
		? buttons.buttons.map((button, i) => buttonLayout(button, i, scope, isAuthentication))
		: [];
}

const layoutCache = new WeakMap<TemplateDefinition, TemplateLayout>();

/** The parameters a template expects, component by component. Cached per definition object. */
export function templateLayout(def: TemplateDefinition): TemplateLayout {
	const cached = layoutCache.get(def);
	if (cached) return cached;

	const parameterFormat = parameterFormatOf(def);
	const isAuthentication = def.category === 'AUTHENTICATION';
	const top: Scope = { prefix: '', label: '' };
	const layout: TemplateLayout = { parameterFormat, isAuthentication, buttons: [] };

	const header = findComponent(def.components, 'HEADER');
	if (header) layout.header = headerLayout(header, parameterFormat, top);

	// Meta: body parameters may total 1024 characters when other components exist, 32768 when the body
	// is the only component ("text" parameter reference). Applied to the hydrated body.
	const bodyOnly = def.components.every((c) => isComponent(c, 'BODY'));
	const body = findComponent(def.components, 'BODY');
	if (body)
		layout.body = bodyLayout(
			body,
			parameterFormat,
			top,
			bodyOnly ? LIMITS.bodyOnlyText : LIMITS.bodyText,
		);

	const lto = findComponent(def.components, 'LIMITED_TIME_OFFER');
	if (lto) {
		const hasExpiration = lto.limited_time_offer.has_expiration === true;
		layout.limitedTimeOffer = {
			hasExpiration,
			...(hasExpiration
				? {
						variable: {
							key: 'lto_expiration_ms',
							component: 'limited_time_offer',
							kind: 'expiration',
							required: true,
							displayName: 'Offer expiration',
							description:
								'When the offer expires: Unix time in milliseconds, an ISO date string, or a Date.',
						},
					}
				: {}),
		};
	}

	const carousel = findComponent(def.components, 'CAROUSEL');
	if (carousel) {
		layout.cards = carousel.cards.map((card, cardIndex): CardLayout => {
			const scope: Scope = {
				prefix: `card_${cardIndex}_`,
				cardIndex,
				label: `Card ${cardIndex + 1} `,
			};
			const cardHeader = findComponent(card.components, 'HEADER');
			const cardBody = findComponent(card.components, 'BODY');
			return {
				cardIndex,
				...(cardHeader ? { header: headerLayout(cardHeader, parameterFormat, scope) } : {}),
				// Card bodies are limited to 160 characters at creation; the hydrated limit is unconfirmed,
				// so only the general body limit is enforced here.
				...(cardBody
					? { body: bodyLayout(cardBody, parameterFormat, scope, LIMITS.bodyText) }
					: {}),
				buttons: buttonsLayout(card.components, scope, false),
			};
		});
	}

	layout.buttons = buttonsLayout(def.components, top, isAuthentication);

	if (isAuthentication) {
		const otpButton = layout.buttons.find((b) => b.variable?.kind === 'otp');
		if (otpButton?.variable) {
			layout.otpVariable = otpButton.variable;
			// Meta requires the code in body {{1}} too; the create-API shape has no body text, so assume {{1}}.
			if (layout.body) layout.body = { ...layout.body, variables: [otpButton.variable] };
		}
	}

	layoutCache.set(def, layout);
	return layout;
}

/** The variables a template needs at send time, in template order (the OTP code once). */
export function extractTemplateVariables(def: TemplateDefinition): TemplateVariable[] {
	const layout = templateLayout(def);
	const out: TemplateVariable[] = [];
	const push = (v: TemplateVariable | undefined): void => {
		if (v && !out.some((o) => o.key === v.key)) out.push(v);
	};
	layout.header?.variables.forEach(push);
	if (layout.limitedTimeOffer) push(layout.limitedTimeOffer.variable);
	layout.body?.variables.forEach(push);
	for (const card of layout.cards ?? []) {
		card.header?.variables.forEach(push);
		card.body?.variables.forEach(push);
		card.buttons.forEach((b) => push(b.variable));
	}
	layout.buttons.forEach((b) => push(b.variable));
	return out;
}
