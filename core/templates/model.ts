/**
 * The template model: a template definition as GET /{waba-id}/message_templates returns it, and the
 * template object a send request carries. Both in Meta's field names.
 *
 * Definitions are parsed tolerantly (unknown fields and unknown component or button types survive, and
 * type names are accepted in either case because the create API uses lowercase and GET answers
 * uppercase) but strictly where we depend on a field: header format, body text, button urls.
 */
import { z } from 'zod';
import { z as z4 } from 'zod/v4';

// ---------------------------------------------------------------------------------------------
// Definition (GET /{waba-id}/message_templates item)
// ---------------------------------------------------------------------------------------------

export type TemplateStatus =
	| 'APPROVED'
	| 'PENDING'
	| 'REJECTED'
	| 'PAUSED'
	| 'DISABLED'
	| 'IN_APPEAL'
	| 'PENDING_DELETION'
	| 'DELETED'
	| 'LIMIT_EXCEEDED'
	| 'ARCHIVED';
export type TemplateCategory = 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
export type ParameterFormat = 'POSITIONAL' | 'NAMED';
export type HeaderFormat = 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION';
export type OtpType = 'COPY_CODE' | 'ONE_TAP' | 'ZERO_TAP';

/** Meta may add statuses and categories; unknown ones are kept as strings and treated as "not sendable". */
type Open<T extends string> = T | (string & Record<never, never>);

export interface NamedParamExample {
	param_name: string;
	example: string;
}

export interface TemplateHeaderComponent {
	type: 'HEADER';
	format: HeaderFormat;
	text?: string;
	example?: {
		header_text?: string[];
		header_text_named_params?: NamedParamExample[];
		header_handle?: string[];
	};
}

export interface TemplateBodyComponent {
	type: 'BODY';
	/** Absent only in authentication templates written in the create-API shape (Meta supplies the text). */
	text?: string;
	add_security_recommendation?: boolean;
	example?: {
		body_text?: string[][];
		body_text_named_params?: NamedParamExample[];
	};
}

export interface TemplateFooterComponent {
	type: 'FOOTER';
	text?: string;
	code_expiration_minutes?: number;
}

export interface QuickReplyButton {
	type: 'QUICK_REPLY';
	text: string;
}
export interface UrlButton {
	type: 'URL';
	text: string;
	/** May end with one variable, "{{1}}". Authentication copy-code/one-tap buttons come back as URL buttons. */
	url: string;
	example?: string[];
}
export interface PhoneNumberButton {
	type: 'PHONE_NUMBER';
	text: string;
	phone_number: string;
}
export interface CopyCodeButton {
	type: 'COPY_CODE';
	text?: string;
	example?: string | string[];
}
export interface OtpButton {
	type: 'OTP';
	otp_type: OtpType;
	text?: string;
	autofill_text?: string;
	package_name?: string;
	signature_hash?: string;
	zero_tap_terms_accepted?: boolean;
}
export interface FlowButton {
	type: 'FLOW';
	text: string;
	flow_id?: string | number;
	flow_name?: string;
	flow_json?: string;
	flow_action?: string;
	navigate_screen?: string;
}
export interface CatalogButton {
	type: 'CATALOG';
	text: string;
}
export interface MpmButton {
	type: 'MPM';
	text: string;
}
export interface VoiceCallButton {
	type: 'VOICE_CALL';
	text: string;
}
/** A button type this package does not know; kept so the template still loads, and sent without parameters. */
export interface OtherButton {
	type: Open<never>;
	text?: string;
}

export type TemplateButton =
	| QuickReplyButton
	| UrlButton
	| PhoneNumberButton
	| CopyCodeButton
	| OtpButton
	| FlowButton
	| CatalogButton
	| MpmButton
	| VoiceCallButton
	| OtherButton;

export interface TemplateButtonsComponent {
	type: 'BUTTONS';
	buttons: TemplateButton[];
}

export type CarouselCardComponent =
	TemplateHeaderComponent | TemplateBodyComponent | TemplateButtonsComponent;

export interface TemplateCarouselComponent {
	type: 'CAROUSEL';
	cards: Array<{ components: CarouselCardComponent[] }>;
}

export interface TemplateLimitedTimeOfferComponent {
	type: 'LIMITED_TIME_OFFER';
	limited_time_offer: { text: string; has_expiration?: boolean };
}

export interface OtherTemplateComponent {
	type: Open<never>;
}

export type TemplateComponent =
	| TemplateHeaderComponent
	| TemplateBodyComponent
	| TemplateFooterComponent
	| TemplateButtonsComponent
	| TemplateCarouselComponent
	| TemplateLimitedTimeOfferComponent
	| OtherTemplateComponent;

export interface TemplateDefinition {
	/** Always present in Graph answers; optional so hand-written registries (sandbox seeds) may omit it. */
	id?: string;
	name: string;
	/** Meta's locale code, e.g. "en_US", "pt_BR", "de". */
	language: string;
	status: Open<TemplateStatus>;
	category: Open<TemplateCategory>;
	/** Absent means POSITIONAL. */
	parameter_format?: ParameterFormat;
	sub_category?: string;
	components: TemplateComponent[];
}

const KNOWN_COMPONENTS = new Set([
	'HEADER',
	'BODY',
	'FOOTER',
	'BUTTONS',
	'CAROUSEL',
	'LIMITED_TIME_OFFER',
]);
const KNOWN_BUTTONS = new Set([
	'QUICK_REPLY',
	'URL',
	'PHONE_NUMBER',
	'COPY_CODE',
	'OTP',
	'FLOW',
	'CATALOG',
	'MPM',
	'VOICE_CALL',
]);

function upperCaseKeys(value: unknown, keys: readonly string[]): unknown {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
	const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
	for (const key of keys) {
		const v = copy[key];
		if (typeof v === 'string') copy[key] = v.toUpperCase();
	}
	return copy;
}

const namedExampleSchema = z
	.object({ param_name: z.string().min(1), example: z.coerce.string() })
	.passthrough();

const headerSchema = z
	.object({
		type: z.literal('HEADER'),
		format: z.enum(['TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION']),
		text: z.string().optional(),
		example: z
			.object({
				header_text: z.array(z.coerce.string()).optional(),
				header_text_named_params: z.array(namedExampleSchema).optional(),
				header_handle: z.array(z.string()).optional(),
			})
			.passthrough()
			.optional(),
	})
	.passthrough()
	.refine((h) => h.format !== 'TEXT' || typeof h.text === 'string', {
		message: 'a TEXT header needs its "text"',
		path: ['text'],
	});

const bodySchema = z
	.object({
		type: z.literal('BODY'),
		text: z.string().optional(),
		add_security_recommendation: z.boolean().optional(),
		example: z
			.object({
				body_text: z.array(z.array(z.coerce.string())).optional(),
				body_text_named_params: z.array(namedExampleSchema).optional(),
			})
			.passthrough()
			.optional(),
	})
	.passthrough();

const footerSchema = z
	.object({
		type: z.literal('FOOTER'),
		text: z.string().optional(),
		code_expiration_minutes: z.number().optional(),
	})
	.passthrough();

const knownButtonSchema = z.discriminatedUnion('type', [
	z.object({ type: z.literal('QUICK_REPLY'), text: z.string() }).passthrough(),
	z
		.object({
			type: z.literal('URL'),
			text: z.string(),
			url: z.string().min(1),
			example: z.array(z.string()).optional(),
		})
		.passthrough(),
	z
		.object({ type: z.literal('PHONE_NUMBER'), text: z.string(), phone_number: z.string() })
		.passthrough(),
	z
		.object({
			type: z.literal('COPY_CODE'),
			text: z.string().optional(),
			example: z.union([z.string(), z.array(z.string())]).optional(),
		})
		.passthrough(),
	z
		.object({
			type: z.literal('OTP'),
			otp_type: z.preprocess(
				(v) => (typeof v === 'string' ? v.toUpperCase() : v),
				z.enum(['COPY_CODE', 'ONE_TAP', 'ZERO_TAP']),
			),
			text: z.string().optional(),
			autofill_text: z.string().optional(),
			package_name: z.string().optional(),
			signature_hash: z.string().optional(),
			zero_tap_terms_accepted: z.boolean().optional(),
		})
		.passthrough(),
	z
		.object({
			type: z.literal('FLOW'),
			text: z.string(),
			flow_id: z.union([z.string(), z.number()]).optional(),
			flow_name: z.string().optional(),
			flow_json: z.string().optional(),
			flow_action: z.string().optional(),
			navigate_screen: z.string().optional(),
		})
		.passthrough(),
	z.object({ type: z.literal('CATALOG'), text: z.string() }).passthrough(),
	z.object({ type: z.literal('MPM'), text: z.string() }).passthrough(),
	z.object({ type: z.literal('VOICE_CALL'), text: z.string() }).passthrough(),
]);

const otherButtonSchema = z
	.object({
		type: z.string().refine((t) => !KNOWN_BUTTONS.has(t), { message: 'malformed button' }),
		text: z.string().optional(),
	})
	.passthrough();

const buttonSchema = z.preprocess(
	(v) => upperCaseKeys(v, ['type']),
	z.union([knownButtonSchema, otherButtonSchema]),
) as unknown as z.ZodType<TemplateButton, z.ZodTypeDef, unknown>;

const buttonsSchema = z
	.object({ type: z.literal('BUTTONS'), buttons: z.array(buttonSchema).min(1) })
	.passthrough();

const cardComponentSchema = z.preprocess(
	(v) => upperCaseKeys(v, ['type', 'format']),
	z.union([headerSchema, bodySchema, buttonsSchema]),
);

const carouselSchema = z
	.object({
		type: z.literal('CAROUSEL'),
		// Meta allows up to 10 cards per carousel.
		cards: z
			.array(z.object({ components: z.array(cardComponentSchema) }).passthrough())
			.min(1)
			.max(10),
	})
	.passthrough();

const limitedTimeOfferSchema = z
	.object({
		type: z.literal('LIMITED_TIME_OFFER'),
		limited_time_offer: z
			.object({ text: z.string(), has_expiration: z.boolean().optional() })
			.passthrough(),
	})
	.passthrough();

const otherComponentSchema = z
	.object({
		type: z.string().refine((t) => !KNOWN_COMPONENTS.has(t), { message: 'malformed component' }),
	})
	.passthrough();

const componentSchema = z.preprocess(
	(v) => upperCaseKeys(v, ['type', 'format']),
	z.union([
		headerSchema,
		bodySchema,
		footerSchema,
		buttonsSchema,
		carouselSchema,
		limitedTimeOfferSchema,
		otherComponentSchema,
	]),
);

export const templateDefinitionSchema = z.preprocess(
	(v) => upperCaseKeys(v, ['status', 'category', 'parameter_format']),
	z
		.object({
			id: z.union([z.string(), z.number().transform(String)]).optional(),
			name: z.string().min(1),
			language: z.string().min(1),
			status: z.string().min(1),
			category: z.string().min(1),
			parameter_format: z.enum(['POSITIONAL', 'NAMED']).optional(),
			sub_category: z.string().optional(),
			components: z.array(componentSchema),
		})
		.passthrough()
		.superRefine((def, ctx) => {
			const counts = new Map<string, number>();
			for (const component of def.components)
				counts.set(component.type, (counts.get(component.type) ?? 0) + 1);
			for (const single of [
				'HEADER',
				'BODY',
				'FOOTER',
				'BUTTONS',
				'CAROUSEL',
				'LIMITED_TIME_OFFER',
			]) {
				if ((counts.get(single) ?? 0) > 1) {
					ctx.addIssue({
						code: z.ZodIssueCode.custom,
						path: ['components'],
						message: `more than one ${single} component`,
					});
				}
			}
			const body = def.components.find((c) => c.type === 'BODY') as { text?: string } | undefined;
			if (!body) {
				ctx.addIssue({
					code: z.ZodIssueCode.custom,
					path: ['components'],
					message: 'a template needs a BODY component',
				});
			} else if (def.category !== 'AUTHENTICATION' && typeof body.text !== 'string') {
				ctx.addIssue({
					code: z.ZodIssueCode.custom,
					path: ['components'],
					message: 'the BODY component needs its "text"',
				});
			}
		}),
) as unknown as z.ZodType<TemplateDefinition, z.ZodTypeDef, unknown>;

interface ComponentByType {
	HEADER: TemplateHeaderComponent;
	BODY: TemplateBodyComponent;
	FOOTER: TemplateFooterComponent;
	BUTTONS: TemplateButtonsComponent;
	CAROUSEL: TemplateCarouselComponent;
	LIMITED_TIME_OFFER: TemplateLimitedTimeOfferComponent;
}
interface ButtonByType {
	QUICK_REPLY: QuickReplyButton;
	URL: UrlButton;
	PHONE_NUMBER: PhoneNumberButton;
	COPY_CODE: CopyCodeButton;
	OTP: OtpButton;
	FLOW: FlowButton;
	CATALOG: CatalogButton;
	MPM: MpmButton;
	VOICE_CALL: VoiceCallButton;
}

/** Narrow a component by type (unknown component types keep the union open, so `switch` cannot). */
export function isComponent<T extends keyof ComponentByType>(
	component: TemplateComponent | CarouselCardComponent,
	type: T,
): component is ComponentByType[T] {
	return component.type === type;
}

export function isButton<T extends keyof ButtonByType>(
	button: TemplateButton,
	type: T,
): button is ButtonByType[T] {
	return button.type === type;
}

/** The first component of a type in a component list. */
export function findComponent<T extends keyof ComponentByType>(
	components: ReadonlyArray<TemplateComponent | CarouselCardComponent>,
	type: T,
): ComponentByType[T] | undefined {
	for (const component of components) if (isComponent(component, type)) return component;
	return undefined;
}

/** Parse a definition or throw an error naming the first bad field. */
export function parseTemplateDefinition(input: unknown): TemplateDefinition {
	const parsed = templateDefinitionSchema.safeParse(input);
	if (parsed.success) return parsed.data;
	const name =
		typeof input === 'object' && input !== null && 'name' in input
			? String((input as { name: unknown }).name)
			: '(unnamed)';
	const first = parsed.error.issues[0];
	const where = first && first.path.length ? first.path.join('.') : 'template';
	throw new TypeError(
		`Template definition "${name}" is not in Meta's shape: ${where}: ${first?.message ?? 'invalid'}.`,
	);
}

// ---------------------------------------------------------------------------------------------
// Send side: the "template" object of POST /{phone-number-id}/messages
// ---------------------------------------------------------------------------------------------

export interface MediaObject {
	id?: string;
	link?: string;
	/** Documents only: the file name shown to the customer. */
	filename?: string;
}

export interface TextParameter {
	type: 'text';
	text: string;
	/** NAMED templates only. */
	parameter_name?: string;
}
export interface CurrencyParameter {
	type: 'currency';
	currency: { fallback_value: string; code: string; amount_1000: number };
	parameter_name?: string;
}
export interface DateTimeParameter {
	type: 'date_time';
	date_time: { fallback_value: string };
	parameter_name?: string;
}
export interface ImageParameter {
	type: 'image';
	image: MediaObject;
}
export interface VideoParameter {
	type: 'video';
	video: MediaObject;
}
export interface DocumentParameter {
	type: 'document';
	document: MediaObject;
}
export interface LocationParameter {
	type: 'location';
	location: {
		latitude: number | string;
		longitude: number | string;
		name?: string;
		address?: string;
	};
}
export interface PayloadParameter {
	type: 'payload';
	payload: string;
}
export interface CouponCodeParameter {
	type: 'coupon_code';
	coupon_code: string;
}
export interface ActionParameter {
	type: 'action';
	action: {
		flow_token?: string;
		flow_action_data?: Record<string, unknown>;
		thumbnail_product_retailer_id?: string;
		sections?: Array<{ title?: string; product_items: Array<{ product_retailer_id: string }> }>;
	};
}
export interface LimitedTimeOfferParameter {
	type: 'limited_time_offer';
	limited_time_offer: { expiration_time_ms: number };
}

export type TemplateParameter =
	| TextParameter
	| CurrencyParameter
	| DateTimeParameter
	| ImageParameter
	| VideoParameter
	| DocumentParameter
	| LocationParameter
	| PayloadParameter
	| CouponCodeParameter
	| ActionParameter
	| LimitedTimeOfferParameter;

export type ButtonSubType =
	'quick_reply' | 'url' | 'copy_code' | 'flow' | 'catalog' | 'mpm' | 'voice_call';

export interface HeaderComponentParam {
	type: 'header';
	parameters: TemplateParameter[];
}
export interface BodyComponentParam {
	type: 'body';
	parameters: TemplateParameter[];
}
export interface ButtonComponentParam {
	type: 'button';
	sub_type: ButtonSubType;
	/** 0-based position of the button in the template's BUTTONS component. */
	index: number;
	parameters: TemplateParameter[];
}
export interface LimitedTimeOfferComponentParam {
	type: 'limited_time_offer';
	parameters: LimitedTimeOfferParameter[];
}
export type CarouselCardComponentParam =
	HeaderComponentParam | BodyComponentParam | ButtonComponentParam;
export interface CarouselComponentParam {
	type: 'carousel';
	cards: Array<{ card_index: number; components: CarouselCardComponentParam[] }>;
}

export type TemplateComponentParam =
	| HeaderComponentParam
	| BodyComponentParam
	| ButtonComponentParam
	| LimitedTimeOfferComponentParam
	| CarouselComponentParam;

export interface TemplateObject {
	name: string;
	language: { code: string; policy?: 'deterministic' };
	components?: TemplateComponentParam[];
}

export const TEMPLATE_PARAMETER_TYPES = [
	'text',
	'currency',
	'date_time',
	'image',
	'video',
	'document',
	'location',
	'payload',
	'coupon_code',
	'action',
	'limited_time_offer',
] as const;

// The per-message structure check runs on every send (node and sandbox): zod's v4 engine (shipped inside zod 3.25)
// parses it about ten times faster than v3.
const parameterShapeSchema = z4.looseObject({ type: z4.enum(TEMPLATE_PARAMETER_TYPES) });

const indexSchema = z4.union([
	z4.number().int().min(0),
	z4.string().regex(/^\d+$/, 'must be a button position such as 0'),
]);

const lowerType = (v: unknown): unknown => lowerCaseKeys(v, ['type', 'sub_type']);

function lowerCaseKeys(value: unknown, keys: readonly string[]): unknown {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
	const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
	for (const key of keys) {
		const v = copy[key];
		if (typeof v === 'string') copy[key] = v.toLowerCase();
	}
	return copy;
}

const simpleComponentShape = z4.preprocess(
	lowerType,
	z4.discriminatedUnion('type', [
		z4.looseObject({ type: z4.literal('header'), parameters: z4.array(parameterShapeSchema) }),
		z4.looseObject({ type: z4.literal('body'), parameters: z4.array(parameterShapeSchema) }),
		z4.looseObject({
			type: z4.literal('button'),
			sub_type: z4.string().min(1),
			index: indexSchema,
			parameters: z4.array(parameterShapeSchema).optional(),
		}),
		z4.looseObject({
			type: z4.literal('limited_time_offer'),
			parameters: z4.array(parameterShapeSchema),
		}),
	]),
);

const carouselShape = z4.preprocess(
	lowerType,
	z4.looseObject({
		type: z4.literal('carousel'),
		cards: z4
			.array(
				z4.looseObject({
					card_index: z4.union([z4.number().int().min(0), z4.string().regex(/^\d+$/)]),
					components: z4.array(simpleComponentShape),
				}),
			)
			.min(1),
	}),
);

/**
 * The structure of a template object (names, nesting, parameter types). Structural failures are what
 * Meta answers with 100; whether the parameters fit the template is validateTemplateMessage's job.
 */
export const templateObjectSchema = z4.looseObject({
	name: z4.string().min(1),
	language: z4.looseObject({
		code: z4.string().min(1),
		policy: z4.literal('deterministic').optional(),
	}),
	components: z4.array(z4.union([carouselShape, simpleComponentShape])).optional(),
	namespace: z4.string().optional(),
});
