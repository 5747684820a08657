/**
 * Request bodies of POST /{phone-number-id}/messages: the envelope around any message, free-form
 * (session) messages for an open customer service window, and mark-as-read.
 *
 * Limits are Meta's documented ones (Cloud API "messages" reference): text body 4096, media caption
 * 1024, interactive header/footer 60, reply buttons 1–3 with title 20 and id 256, list button label
 * 20, up to 10 sections and 10 rows in total, section and row title 24, row description 72, row id 200.
 */
import { z } from 'zod';
import { templateObjectSchema, type TemplateObject } from './templates/model';
import { isBsuid } from './phone';

/** Meta: biz_opaque_callback_data is at most 512 characters. */
export const BIZ_OPAQUE_CALLBACK_DATA_MAX = 512;

export const SESSION_LIMITS = {
	textBody: 4096,
	caption: 1024,
	interactiveHeaderText: 60,
	interactiveFooterText: 60,
	buttonBody: 1024,
	listBody: 4096,
	replyButtons: 3,
	replyButtonTitle: 20,
	replyButtonId: 256,
	listButtonText: 20,
	listSections: 10,
	listRowsTotal: 10,
	listSectionTitle: 24,
	listRowTitle: 24,
	listRowDescription: 72,
	listRowId: 200,
} as const;

function text(max: number): z.ZodString {
	return z
		.string()
		.min(1, 'is empty; provide it')
		.max(max, `is longer than ${max} characters; shorten it`);
}

function isHttpUrl(value: string): boolean {
	try {
		const url = new URL(value);
		return url.protocol === 'https:' || url.protocol === 'http:';
	} catch {
		return false;
	}
}

const mediaBase = {
	id: z.string().regex(/^\d+$/, 'must be the numeric id of uploaded media').optional(),
	link: z.string().refine(isHttpUrl, 'must be a public http(s) URL').optional(),
};
const oneSource = (m: { id?: string; link?: string }): boolean =>
	(m.id === undefined) !== (m.link === undefined);
const ONE_SOURCE = { message: 'give exactly one of "id" (uploaded media) or "link" (https URL)' };

const captionedMedia = z
	.object({
		...mediaBase,
		caption: z
			.string()
			.max(
				SESSION_LIMITS.caption,
				`is longer than ${SESSION_LIMITS.caption} characters; shorten it`,
			)
			.optional(),
	})
	.strict()
	.refine(oneSource, ONE_SOURCE);
const documentMedia = z
	.object({
		...mediaBase,
		caption: z.string().max(SESSION_LIMITS.caption).optional(),
		filename: z.string().min(1).optional(),
	})
	.strict()
	.refine(oneSource, ONE_SOURCE);
const plainMedia = z.object(mediaBase).strict().refine(oneSource, ONE_SOURCE);

export interface SessionMedia {
	id?: string;
	link?: string;
	caption?: string;
	filename?: string;
}

const coordinate = (min: number, max: number) => z.number().min(min).max(max);

const interactiveHeaderSchema = z.discriminatedUnion('type', [
	z.object({ type: z.literal('text'), text: text(SESSION_LIMITS.interactiveHeaderText) }),
	z.object({ type: z.literal('image'), image: plainMedia }),
	z.object({ type: z.literal('video'), video: plainMedia }),
	z.object({ type: z.literal('document'), document: documentMedia }),
]);
const footerSchema = z.object({ text: text(SESSION_LIMITS.interactiveFooterText) });

const replyButtonsSchema = z
	.object({
		type: z.literal('button'),
		header: interactiveHeaderSchema.optional(),
		body: z.object({ text: text(SESSION_LIMITS.buttonBody) }),
		footer: footerSchema.optional(),
		action: z.object({
			buttons: z
				.array(
					z.object({
						type: z.literal('reply'),
						reply: z.object({
							id: text(SESSION_LIMITS.replyButtonId),
							title: text(SESSION_LIMITS.replyButtonTitle),
						}),
					}),
				)
				.min(1, 'needs at least one button')
				.max(SESSION_LIMITS.replyButtons, `holds at most ${SESSION_LIMITS.replyButtons} buttons`),
		}),
	})
	.superRefine((m, ctx) => {
		const ids = m.action.buttons.map((b) => b.reply.id);
		const titles = m.action.buttons.map((b) => b.reply.title);
		if (new Set(ids).size !== ids.length)
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				path: ['action', 'buttons'],
				message: 'button ids must be unique',
			});
		if (new Set(titles).size !== titles.length)
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				path: ['action', 'buttons'],
				message: 'button titles must be unique',
			});
	});

const listSchema = z
	.object({
		type: z.literal('list'),
		header: z
			.object({ type: z.literal('text'), text: text(SESSION_LIMITS.interactiveHeaderText) })
			.optional(),
		body: z.object({ text: text(SESSION_LIMITS.listBody) }),
		footer: footerSchema.optional(),
		action: z.object({
			button: text(SESSION_LIMITS.listButtonText),
			sections: z
				.array(
					z.object({
						title: text(SESSION_LIMITS.listSectionTitle).optional(),
						rows: z
							.array(
								z.object({
									id: text(SESSION_LIMITS.listRowId),
									title: text(SESSION_LIMITS.listRowTitle),
									description: z
										.string()
										.max(
											SESSION_LIMITS.listRowDescription,
											`is longer than ${SESSION_LIMITS.listRowDescription} characters; shorten it`,
										)
										.optional(),
								}),
							)
							.min(1, 'needs at least one row'),
					}),
				)
				.min(1, 'needs at least one section')
				.max(SESSION_LIMITS.listSections, `holds at most ${SESSION_LIMITS.listSections} sections`),
		}),
	})
	.superRefine((m, ctx) => {
		const rows = m.action.sections.flatMap((s) => s.rows);
		if (rows.length > SESSION_LIMITS.listRowsTotal) {
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				path: ['action', 'sections'],
				message: `hold ${rows.length} rows; a list holds at most ${SESSION_LIMITS.listRowsTotal} in total`,
			});
		}
		const ids = rows.map((r) => r.id);
		if (new Set(ids).size !== ids.length)
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				path: ['action', 'sections'],
				message: 'row ids must be unique',
			});
		if (m.action.sections.length > 1) {
			m.action.sections.forEach((s, i) => {
				if (!s.title)
					ctx.addIssue({
						code: z.ZodIssueCode.custom,
						path: ['action', 'sections', i, 'title'],
						message: 'is required when a list has more than one section',
					});
			});
		}
	});

// Other interactive types pass with their type checked only; Meta validates their content.
const otherInteractiveSchema = z
	.object({
		type: z.enum([
			'cta_url',
			'flow',
			'product',
			'product_list',
			'catalog_message',
			'location_request_message',
			'address_message',
			'call_permission_request',
			'voice_call',
		]),
	})
	.passthrough();

const contactSchema = z
	.object({ name: z.object({ formatted_name: z.string().min(1) }).passthrough() })
	.passthrough();

export const sessionMessageSchema = z.discriminatedUnion('type', [
	z.object({
		type: z.literal('text'),
		text: z
			.object({ body: text(SESSION_LIMITS.textBody), preview_url: z.boolean().optional() })
			.strict(),
	}),
	z.object({ type: z.literal('image'), image: captionedMedia }),
	z.object({ type: z.literal('video'), video: captionedMedia }),
	z.object({ type: z.literal('document'), document: documentMedia }),
	z.object({ type: z.literal('audio'), audio: plainMedia }),
	z.object({ type: z.literal('sticker'), sticker: plainMedia }),
	z.object({
		type: z.literal('location'),
		location: z
			.object({
				latitude: coordinate(-90, 90),
				longitude: coordinate(-180, 180),
				name: z.string().optional(),
				address: z.string().optional(),
			})
			.strict(),
	}),
	z.object({ type: z.literal('contacts'), contacts: z.array(contactSchema).min(1) }),
	z.object({
		type: z.literal('reaction'),
		reaction: z.object({ message_id: z.string().min(1), emoji: z.string() }).strict(),
	}),
	z.object({
		type: z.literal('interactive'),
		interactive: z.union([replyButtonsSchema, listSchema, otherInteractiveSchema]),
	}),
]);

export type SessionMessage = z.infer<typeof sessionMessageSchema>;
export type SessionMessageType = SessionMessage['type'];

export interface TemplateMessage {
	type: 'template';
	template: TemplateObject;
}

/** What goes inside the envelope: a template, or a free-form message for an open service window. */
export type OutboundMessage = TemplateMessage | SessionMessage;

export type CloudApiMessageRequest = {
	messaging_product: 'whatsapp';
	recipient_type: 'individual';
	/** E.164 with "+"; absent when the message goes to a BSUID (`recipient`). */
	to?: string;
	/** The customer's business-scoped user id (BSUID), for a customer known only by it (usernames, 2026). */
	recipient?: string;
	biz_opaque_callback_data?: string;
	context?: { message_id: string };
} & OutboundMessage;

export interface MessageIssue {
	/** "interactive.action.buttons[0].reply.title" */
	path: string;
	message: string;
}

/** Bad message input, caught before a request leaves; names the field and the fix. */
export class MessageValidationError extends Error {
	readonly issues: MessageIssue[];

	constructor(issues: MessageIssue[], what = 'Message') {
		const shown = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`);
		super(
			`${what} is invalid: ${shown.join('; ')}${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ''}.`,
		);
		this.name = 'MessageValidationError';
		this.issues = issues;
	}
}

function pathOf(path: ReadonlyArray<string | number>): string {
	return (
		path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') ||
		'(message)'
	);
}

/** zod issues as "path: message" pairs, unions flattened to their most relevant branch. */
export function messageIssuesOf(error: z.ZodError): MessageIssue[] {
	const out: MessageIssue[] = [];
	for (const issue of error.issues) {
		if (issue.code === z.ZodIssueCode.invalid_union && issue.unionErrors.length > 0) {
			// Report the branch that got furthest (deepest issue path): it is the one the sender meant.
			const best = [...issue.unionErrors].sort(
				(a, b) =>
					Math.max(...b.issues.map((i) => i.path.length)) -
					Math.max(...a.issues.map((i) => i.path.length)),
			)[0] as z.ZodError;
			out.push(...messageIssuesOf(best));
			continue;
		}
		if (issue.code === z.ZodIssueCode.invalid_union_discriminator) {
			out.push({
				path: pathOf(issue.path),
				message: `must be one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`,
			});
			continue;
		}
		out.push({ path: pathOf(issue.path), message: issue.message });
	}
	return out;
}

/**
 * Validate a free-form message in Meta's shape (`{type: "text", text: {body}}`, `{type: "image", image: {link}}`,
 * `{type: "interactive", interactive: {type: "button" | "list", …}}`) and return it typed.
 */
export function buildSessionMessage(input: unknown): SessionMessage {
	const parsed = sessionMessageSchema.safeParse(input);
	if (!parsed.success) throw new MessageValidationError(messageIssuesOf(parsed.error));
	return parsed.data;
}

/** The media message types a form can describe (stickers and the rest go as Meta's own shape). */
export type SessionMediaType = 'image' | 'video' | 'audio' | 'document';
export const SESSION_MEDIA_TYPES: readonly SessionMediaType[] = [
	'image',
	'video',
	'audio',
	'document',
];

/**
 * A session message described by simple fields, as node editors collect them (n8n's parameters, Node-RED's
 * msg.payload): one home for how fields become Meta's shape, whichever tool gathered them.
 */
export interface SessionMessageFields {
	type: 'text' | SessionMediaType | 'buttons' | 'list';
	/** The text message; the body above buttons or a list. */
	text?: string;
	media?: SessionMedia;
	buttons?: Array<{ id?: string; title?: string }>;
	/** List rows; rows naming the same section are grouped under it, in order of first appearance. */
	rows?: Array<{ id?: string; title?: string; description?: string; section?: string }>;
	/** The label of the button that opens the list. */
	listButton?: string;
	/** Optional text header and footer of reply buttons or a list (each at most 60 characters). */
	header?: string;
	footer?: string;
}

/** A media field as typed: digits are an uploaded media id, anything else a link. */
export function mediaReference(value: string): { id: string } | { link: string } {
	const v = value.trim();
	return /^\d+$/.test(v) ? { id: v } : { link: v };
}

/** The optional text header and footer of an interactive message, only when given. */
function frame(fields: SessionMessageFields): Record<string, unknown> {
	return {
		...(fields.header ? { header: { type: 'text', text: fields.header } } : {}),
		...(fields.footer ? { footer: { text: fields.footer } } : {}),
	};
}

/** Meta's shape for fields, not yet validated (buildSessionMessage names what is wrong with it). */
function sessionShape(fields: SessionMessageFields): unknown {
	const text = fields.text ?? '';
	switch (fields.type) {
		case 'text':
			// Meta renders a link preview only when asked; a text with a URL almost always wants one.
			return { type: 'text', text: { body: text, preview_url: /https?:\/\//.test(text) } };
		case 'buttons':
			return {
				type: 'interactive',
				interactive: {
					type: 'button',
					...frame(fields),
					body: { text },
					action: {
						buttons: (fields.buttons ?? []).map((b) => ({
							type: 'reply',
							reply: { id: b.id ?? '', title: b.title ?? '' },
						})),
					},
				},
			};
		case 'list': {
			const sections = new Map<
				string,
				Array<{ id: string; title: string; description?: string }>
			>();
			for (const row of fields.rows ?? []) {
				const key = row.section ?? '';
				if (!sections.has(key)) sections.set(key, []);
				sections.get(key)!.push({
					id: row.id ?? '',
					title: row.title ?? '',
					...(row.description ? { description: row.description } : {}),
				});
			}
			return {
				type: 'interactive',
				interactive: {
					type: 'list',
					...frame(fields),
					body: { text },
					action: {
						button: fields.listButton || 'Choose',
						sections: [...sections.entries()].map(([title, rows]) => ({
							...(title ? { title } : {}),
							rows,
						})),
					},
				},
			};
		}
		default: {
			const type = fields.type;
			const media = fields.media ?? {};
			const ref: SessionMedia = {};
			if (media.id !== undefined) ref.id = media.id;
			if (media.link !== undefined) ref.link = media.link;
			// Audio takes no caption and only documents a file name: drop them rather than fail on them.
			if (type !== 'audio' && media.caption) ref.caption = media.caption;
			if (type === 'document' && media.filename) ref.filename = media.filename;
			return { type, [type]: ref };
		}
	}
}

/** Builds and validates a session message from fields; a MessageValidationError names the field to fix. */
export function sessionMessageFromFields(fields: SessionMessageFields): SessionMessage {
	if (
		SESSION_MEDIA_TYPES.includes(fields.type as SessionMediaType) &&
		fields.media?.id === undefined &&
		fields.media?.link === undefined
	) {
		throw new MessageValidationError([
			{ path: fields.type, message: `needs the media: a link, a media id, or a file to upload` },
		]);
	}
	return buildSessionMessage(sessionShape(fields));
}

const E164 = /^\+[1-9]\d{6,14}$/;

const envelopeBaseSchema = z
	.object({
		messaging_product: z.literal('whatsapp'),
		recipient_type: z.literal('individual').optional(),
		// One of the two: `to` (the phone number) or `recipient` (a business-scoped user id, BSUID). When both are given
		// Meta delivers to `to`. See isBsuid in core/phone.ts for the sources.
		to: z.string().min(1, 'is empty; provide the recipient phone number').optional(),
		recipient: z
			.string()
			.min(1, "is empty; provide the customer's business-scoped user id (BSUID)")
			.optional(),
		// Meta treats a missing type as "text".
		type: z.string().optional(),
		biz_opaque_callback_data: z
			.string()
			.max(
				BIZ_OPAQUE_CALLBACK_DATA_MAX,
				`is longer than ${BIZ_OPAQUE_CALLBACK_DATA_MAX} characters; shorten it`,
			)
			.optional(),
		context: z.object({ message_id: z.string().min(1) }).optional(),
	})
	.passthrough();

const SESSION_TYPES = new Set([
	'text',
	'image',
	'video',
	'document',
	'audio',
	'sticker',
	'location',
	'contacts',
	'reaction',
	'interactive',
]);

/** The body of POST /{phone-number-id}/messages for sending a message. Failures are what Meta answers with 100. */
export const cloudApiMessageRequestSchema = envelopeBaseSchema.superRefine((body, ctx) => {
	if (body.to === undefined && body.recipient === undefined) {
		ctx.addIssue({
			code: z.ZodIssueCode.custom,
			path: ['to'],
			message:
				'is missing: give the customer\'s phone number as "to", or their business-scoped user id (BSUID) as "recipient"',
		});
	}
	const type = body.type ?? 'text';
	const content = (body as Record<string, unknown>)[type];
	if (content === undefined) {
		ctx.addIssue({
			code: z.ZodIssueCode.custom,
			path: [type],
			message: `is missing: a "${type}" message needs a "${type}" object`,
		});
		return;
	}
	if (type === 'template') {
		const parsed = templateObjectSchema.safeParse(content);
		if (!parsed.success) {
			for (const issue of parsed.error.issues) {
				ctx.addIssue({
					code: z.ZodIssueCode.custom,
					path: ['template', ...issue.path.map((k) => (typeof k === 'number' ? k : String(k)))],
					message: issue.message,
				});
			}
		}
		return;
	}
	if (!SESSION_TYPES.has(type)) {
		ctx.addIssue({
			code: z.ZodIssueCode.custom,
			path: ['type'],
			message: `"${type}" is not a supported message type`,
		});
		return;
	}
	const parsed = sessionMessageSchema.safeParse({ type, [type]: content });
	if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue(issue);
});

export interface EnvelopeExtras {
	/** Echoed on every status webhook of this message; at most 512 characters. */
	bizOpaqueCallbackData?: string;
	/** Quote a previous message (its wamid) as the reply context. */
	replyToMessageId?: string;
}

function isTemplateObject(body: OutboundMessage | TemplateObject): body is TemplateObject {
	return !('type' in body) && 'name' in body && 'language' in body;
}

/**
 * Wrap a message for POST /{phone-number-id}/messages; validates the whole request before it leaves. `to` is the
 * customer's E.164 number, or their BSUID, which goes in Meta's `recipient` field instead (and no `to`: Meta prefers
 * `to` when both are given, so a stale number would win over the id the workflow chose).
 */
export function buildEnvelope(
	to: string,
	body: OutboundMessage | TemplateObject,
	extras: EnvelopeExtras = {},
): CloudApiMessageRequest {
	const bsuid = isBsuid(to);
	if (!bsuid && !E164.test(to)) {
		throw new MessageValidationError(
			[
				{
					path: 'to',
					message: `"${to}" is not E.164 (a "+", the country code and the number, e.g. +14155552671) and not a business-scoped user id (e.g. US.13491208655302741918); normalise it with normalizeRecipient`,
				},
			],
			'Request',
		);
	}
	const message: OutboundMessage = isTemplateObject(body)
		? { type: 'template', template: body }
		: body;
	const data = extras.bizOpaqueCallbackData;
	const request = {
		messaging_product: 'whatsapp' as const,
		recipient_type: 'individual' as const,
		...(bsuid ? { recipient: to } : { to }),
		...message,
		...(data !== undefined && data !== '' ? { biz_opaque_callback_data: data } : {}),
		...(extras.replyToMessageId ? { context: { message_id: extras.replyToMessageId } } : {}),
	};
	if (message.type === 'template') {
		// Template objects come from buildTemplateMessage or were checked by validateTemplateMessage against their
		// definition, which is stricter than the envelope schema; parsing them again would double the per-message cost.
		if (data !== undefined && data.length > 512) {
			throw new MessageValidationError(
				[
					{
						path: 'biz_opaque_callback_data',
						message: `is ${data.length} characters; the Cloud API allows at most 512`,
					},
				],
				'Request',
			);
		}
		if (!message.template?.name || !message.template.language?.code) {
			throw new MessageValidationError(
				[{ path: 'template', message: 'needs a name and a language code' }],
				'Request',
			);
		}
		return request as CloudApiMessageRequest;
	}
	const parsed = cloudApiMessageRequestSchema.safeParse(request);
	if (!parsed.success) throw new MessageValidationError(messageIssuesOf(parsed.error), 'Request');
	return request as CloudApiMessageRequest;
}

export interface MarkAsReadRequest {
	messaging_product: 'whatsapp';
	status: 'read';
	message_id: string;
	typing_indicator?: { type: 'text' };
}

export const markAsReadRequestSchema = z
	.object({
		messaging_product: z.literal('whatsapp'),
		status: z.literal('read'),
		message_id: z.string().min(1),
		typing_indicator: z.object({ type: z.literal('text') }).optional(),
	})
	.strict();

/** Mark an inbound message as read, optionally showing the typing indicator (up to 25 s or until the reply). */
export function markAsReadRequest(messageId: string, typing = false): MarkAsReadRequest {
	if (!messageId)
		throw new MessageValidationError(
			[{ path: 'message_id', message: 'is empty; give the wamid of the inbound message' }],
			'Request',
		);
	return {
		messaging_product: 'whatsapp',
		status: 'read',
		message_id: messageId,
		...(typing ? { typing_indicator: { type: 'text' as const } } : {}),
	};
}
