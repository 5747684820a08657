/**
 * zod schemas of the webhook bodies Meta POSTs for a WhatsApp Business Account.
 *
 * Tolerance is the rule: Meta adds fields, message types and status values without notice, and a
 * body we reject is retried for seven days and then lost. So objects pass unknown keys through,
 * only the keys we act on are required, and an array item that does not fit is dropped on its own
 * (`.catch(null)`) instead of failing its whole batch. `parseWebhookBody` never throws.
 */
import { z } from 'zod';

/** Latest instant a JavaScript Date can hold, in seconds. */
const MAX_UNIX_SECONDS = 8.64e12;

/** Unix seconds as Meta sends them: usually a string of digits, sometimes a number; must fit in a Date. */
const unixSeconds = z
	.union([z.number(), z.string().regex(/^\d+(\.\d+)?$/)])
	.transform((v) => Number(v))
	.refine((n) => Number.isFinite(n) && n >= 0 && n <= MAX_UNIX_SECONDS, {
		message: 'expected unix seconds',
	});

/** Graph ids: strings in message webhooks, numbers in template webhooks. */
const graphId = z
	.union([z.string().min(1), z.number()], {
		errorMap: (_issue, ctx) => ({
			message: ctx.data === undefined ? 'Required' : 'expected an id (string or number)',
		}),
	})
	.transform((v) => String(v));

/** An optional sub-object that, if malformed, is dropped rather than sinking its parent. */
function lenient<T extends z.ZodTypeAny>(schema: T) {
	return schema.optional().catch(undefined);
}

/** An array whose bad items are replaced by null (and skipped later) instead of failing the array. */
function tolerantArray<T extends z.ZodTypeAny>(item: T) {
	return z.array(item.nullable().catch(null));
}

const optionalString = lenient(z.string());

export const metaErrorSchema = z
	.object({
		code: z.union([
			z.number().int(),
			z
				.string()
				.regex(/^-?\d+$/)
				.transform(Number),
		]),
		title: optionalString,
		message: optionalString,
		error_data: lenient(z.object({ details: optionalString }).passthrough()),
		href: optionalString,
	})
	.passthrough();
export type MetaWebhookError = z.infer<typeof metaErrorSchema>;

/**
 * `wa_id` is the phone number; `user_id` the business-scoped user id (BSUID) Meta adds from 2026,
 * which replaces the phone number for customers who adopt a username.
 */
export const contactSchema = z
	.object({
		wa_id: optionalString,
		user_id: optionalString,
		/** The parent BSUID ("US.ENT.…"), for portfolios Meta enrolled in parent BSUIDs. */
		parent_user_id: optionalString,
		profile: lenient(z.object({ name: optionalString, username: optionalString }).passthrough()),
	})
	.passthrough();

export const metadataSchema = z
	.object({
		display_phone_number: z.string().catch(''),
		phone_number_id: z.string().min(1),
	})
	.passthrough();

export const statusSchema = z
	.object({
		id: z.string().min(1),
		/** Kept as a string: values we do not know (Meta adds some) are skipped by the normaliser, not rejected here. */
		status: z.string().min(1),
		timestamp: unixSeconds,
		recipient_id: optionalString,
		recipient_user_id: optionalString,
		/** The recipient's parent BSUID, for portfolios enrolled in parent BSUIDs (see test/unit/bsuid.webhooks.test.ts). */
		recipient_parent_user_id: optionalString,
		biz_opaque_callback_data: optionalString,
		conversation: lenient(
			z
				.object({
					id: optionalString,
					expiration_timestamp: lenient(unixSeconds),
					origin: lenient(z.object({ type: optionalString }).passthrough()),
				})
				.passthrough(),
		),
		pricing: lenient(
			z
				.object({
					billable: lenient(z.boolean()),
					pricing_model: optionalString,
					category: optionalString,
					type: optionalString,
				})
				.passthrough(),
		),
		errors: lenient(tolerantArray(metaErrorSchema)),
	})
	.passthrough();
export type MetaStatus = z.infer<typeof statusSchema>;

const FAST_STATUS_KEYS = new Set([
	'id',
	'status',
	'timestamp',
	'recipient_id',
	'recipient_user_id',
	'recipient_parent_user_id',
	'biz_opaque_callback_data',
	'pricing',
]);
const FAST_PRICING_KEYS = new Set(['billable', 'pricing_model', 'category', 'type']);
const DECIMAL = /^\d+(\.\d+)?$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `statusSchema` for the plain shape nearly every status has (strings, a unix time, an optional pricing block),
 * written out: zod took ~6 µs per status, most of normalising a POST of 100. Returns exactly what the schema
 * returns (same keys, same order), or undefined for anything else (unknown keys, conversation, errors, any odd
 * value), which then goes through the schema. test/unit/webhooks.parse.test.ts holds the two side by side.
 */
export function fastStatus(item: unknown): MetaStatus | undefined {
	if (!isPlainObject(item)) return undefined;
	for (const key in item) if (!FAST_STATUS_KEYS.has(key)) return undefined;
	const {
		id,
		status,
		timestamp,
		recipient_id,
		recipient_user_id,
		recipient_parent_user_id,
		biz_opaque_callback_data,
		pricing,
	} = item;
	if (
		typeof id !== 'string' ||
		id.length === 0 ||
		typeof status !== 'string' ||
		status.length === 0
	)
		return undefined;
	let seconds: number;
	if (typeof timestamp === 'number') seconds = timestamp;
	else if (typeof timestamp === 'string' && DECIMAL.test(timestamp)) seconds = Number(timestamp);
	else return undefined;
	if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_UNIX_SECONDS) return undefined;
	const out: Record<string, unknown> = { id, status, timestamp: seconds };
	for (const [key, value] of [
		['recipient_id', recipient_id],
		['recipient_user_id', recipient_user_id],
		['recipient_parent_user_id', recipient_parent_user_id],
		['biz_opaque_callback_data', biz_opaque_callback_data],
	] as const) {
		if (key in item) {
			if (typeof value !== 'string') return undefined;
			out[key] = value;
		}
	}
	if ('pricing' in item) {
		if (!isPlainObject(pricing)) return undefined;
		const p: Record<string, unknown> = {};
		for (const key in pricing) if (!FAST_PRICING_KEYS.has(key)) return undefined;
		// The schema's key order: billable, pricing_model, category, type.
		if ('billable' in pricing) {
			if (typeof pricing.billable !== 'boolean') return undefined;
			p.billable = pricing.billable;
		}
		for (const key of ['pricing_model', 'category', 'type'] as const) {
			if (key in pricing) {
				if (typeof pricing[key] !== 'string') return undefined;
				p[key] = pricing[key];
			}
		}
		out.pricing = p;
	}
	return out as MetaStatus;
}

const mediaSchema = z
	.object({
		id: z.string().min(1),
		mime_type: optionalString,
		sha256: optionalString,
		caption: optionalString,
		filename: optionalString,
		voice: lenient(z.boolean()),
		animated: lenient(z.boolean()),
		url: optionalString,
	})
	.passthrough();

export const inboundMessageSchema = z
	.object({
		id: z.string().min(1),
		from: optionalString,
		from_user_id: optionalString,
		from_parent_user_id: optionalString,
		timestamp: unixSeconds,
		type: z.string().min(1).catch('unknown'),
		text: lenient(z.object({ body: z.string() }).passthrough()),
		button: lenient(z.object({ payload: optionalString, text: optionalString }).passthrough()),
		interactive: lenient(
			z
				.object({
					type: z.string(),
					button_reply: lenient(
						z.object({ id: optionalString, title: optionalString }).passthrough(),
					),
					list_reply: lenient(
						z
							.object({ id: optionalString, title: optionalString, description: optionalString })
							.passthrough(),
					),
					nfm_reply: lenient(
						z
							.object({ response_json: optionalString, body: optionalString, name: optionalString })
							.passthrough(),
					),
				})
				.passthrough(),
		),
		image: lenient(mediaSchema),
		video: lenient(mediaSchema),
		audio: lenient(mediaSchema),
		document: lenient(mediaSchema),
		sticker: lenient(mediaSchema),
		location: lenient(
			z
				.object({
					latitude: z.number(),
					longitude: z.number(),
					name: optionalString,
					address: optionalString,
					url: optionalString,
				})
				.passthrough(),
		),
		reaction: lenient(z.object({ message_id: z.string(), emoji: optionalString }).passthrough()),
		referral: lenient(
			z
				.object({
					source_url: optionalString,
					source_id: optionalString,
					source_type: optionalString,
					body: optionalString,
					headline: optionalString,
					media_type: optionalString,
					image_url: optionalString,
					video_url: optionalString,
					thumbnail_url: optionalString,
					ctwa_clid: optionalString,
					welcome_message: lenient(z.object({ text: optionalString }).passthrough()),
				})
				.passthrough(),
		),
		context: lenient(
			z
				.object({
					from: optionalString,
					id: optionalString,
					forwarded: lenient(z.boolean()),
					frequently_forwarded: lenient(z.boolean()),
					referred_product: lenient(
						z
							.object({ catalog_id: optionalString, product_retailer_id: optionalString })
							.passthrough(),
					),
				})
				.passthrough(),
		),
		contacts: lenient(z.array(z.unknown())),
		order: lenient(z.record(z.unknown())),
		system: lenient(
			z
				.object({
					body: optionalString,
					type: optionalString,
					wa_id: optionalString,
					new_wa_id: optionalString,
					// The customer's (new) BSUID: user_changed_number and user_changed_user_id system messages (2026).
					user_id: optionalString,
				})
				.passthrough(),
		),
		errors: lenient(tolerantArray(metaErrorSchema)),
	})
	.passthrough();
export type MetaInboundMessage = z.infer<typeof inboundMessageSchema>;

/** `field: "messages"` — inbound messages, statuses of sent messages, and errors not tied to a message. */
/**
 * A Marketing Messages API user action (`marketing_messages_link_click`, and `landing_page_view`), delivered on the
 * `messages` field in a value with no messages or contacts. Meta's payload names no message and no customer.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/track-click-events
 */
export const userActionSchema = z
	.object({
		action_type: z.string().min(1),
		timestamp: unixSeconds,
		marketing_messages_link_click_data: lenient(
			z
				.object({
					click_component: optionalString,
					click_id: optionalString,
					tracking_token: optionalString,
					product_id: optionalString,
				})
				.passthrough(),
		),
	})
	.passthrough();
export type MetaUserAction = z.infer<typeof userActionSchema>;

export const messagesValueSchema = z
	.object({
		messaging_product: optionalString,
		metadata: metadataSchema,
		contacts: lenient(tolerantArray(contactSchema)),
		messages: lenient(tolerantArray(inboundMessageSchema)),
		statuses: lenient(tolerantArray(statusSchema)),
		errors: lenient(tolerantArray(metaErrorSchema)),
		user_actions: lenient(tolerantArray(userActionSchema)),
	})
	.passthrough();
export type MessagesValue = z.infer<typeof messagesValueSchema>;

/** `messagesValueSchema` with statuses left untouched (zod would visit every item), for `parseStatuses`. */
export const messagesValueShellSchema = messagesValueSchema.extend({ statuses: z.unknown() });
const statusItemSchema = statusSchema.nullable().catch(null);

const SHELL_KEYS = ['messaging_product', 'metadata', 'statuses'];
const METADATA_KEYS = ['display_phone_number', 'phone_number_id'];

/**
 * `messagesValueShellSchema` written out for a value of statuses only (as Meta sends a status): exactly what the
 * schema returns, or undefined for anything else (contacts, messages, errors, user actions, any odd value), which
 * then goes through the schema. test/unit/webhooks.parse.test.ts holds the two side by side.
 */
export function fastMessagesShell(
	value: unknown,
): z.infer<typeof messagesValueShellSchema> | undefined {
	if (!isPlainObject(value)) return undefined;
	for (const key of ['contacts', 'messages', 'errors', 'user_actions'])
		if (key in value) return undefined;
	const { messaging_product, metadata } = value;
	if (!isPlainObject(metadata)) return undefined;
	const { display_phone_number, phone_number_id } = metadata;
	if (typeof display_phone_number !== 'string') return undefined;
	if (typeof phone_number_id !== 'string' || phone_number_id.length === 0) return undefined;
	const out: Record<string, unknown> = {};
	if ('messaging_product' in value) {
		if (typeof messaging_product !== 'string') return undefined;
		out.messaging_product = messaging_product;
	}
	out.metadata = withExtras({ display_phone_number, phone_number_id }, metadata, METADATA_KEYS);
	if ('statuses' in value) out.statuses = value.statuses;
	return withExtras(out, value, SHELL_KEYS) as z.infer<typeof messagesValueShellSchema>;
}

/** The statuses as `messagesValueSchema` parses them (not an array: none; a bad item: null), fast path first. */
export function parseStatuses(items: unknown): MessagesValue['statuses'] {
	return Array.isArray(items)
		? items.map((item) => fastStatus(item) ?? statusItemSchema.parse(item))
		: undefined;
}

export const userPreferenceSchema = z
	.object({
		wa_id: optionalString,
		user_id: optionalString,
		detail: optionalString,
		category: z.string().min(1),
		value: z.string().min(1),
		timestamp: unixSeconds,
	})
	.passthrough()
	.refine((p) => Boolean(p.wa_id || p.user_id), { message: 'wa_id or user_id is required' });

/** `field: "user_preferences"` — a customer stopped or resumed marketing messages. */
export const userPreferencesValueSchema = z
	.object({
		messaging_product: optionalString,
		metadata: metadataSchema,
		contacts: lenient(tolerantArray(contactSchema)),
		user_preferences: tolerantArray(userPreferenceSchema),
	})
	.passthrough();
export type UserPreferencesValue = z.infer<typeof userPreferencesValueSchema>;

/**
 * `field: "user_id_update"` — a customer's business-scoped user id (BSUID) changed (Meta makes a new one when the
 * customer changes their phone number): `user_id.previous` → `user_id.current`, with the number when it may be shared.
 * Shape as in Meta's BSUID guide (copied by partners, e.g. https://docs.ycloud.com/reference/webhook-updates-bsuid
 * and 8x8's "WhatsApp Business-scoped user IDs" page, which forwards Meta's payload untouched).
 */
export const userIdUpdateSchema = z
	.object({
		wa_id: optionalString,
		detail: optionalString,
		user_id: z.object({ previous: z.string().min(1), current: z.string().min(1) }).passthrough(),
		parent_user_id: lenient(
			z.object({ previous: optionalString, current: optionalString }).passthrough(),
		),
		timestamp: unixSeconds,
	})
	.passthrough();

export const userIdUpdateValueSchema = z
	.object({
		messaging_product: optionalString,
		metadata: metadataSchema,
		contacts: lenient(tolerantArray(contactSchema)),
		user_id_update: tolerantArray(userIdUpdateSchema),
	})
	.passthrough();
export type UserIdUpdateValue = z.infer<typeof userIdUpdateValueSchema>;

/** `field: "message_template_status_update"` — approved, rejected, paused, disabled, archived... */
export const templateStatusUpdateValueSchema = z
	.object({
		event: z.string().min(1),
		message_template_id: graphId,
		message_template_name: z.string().catch(''),
		message_template_language: z.string().catch(''),
		reason: lenient(z.string().nullable()),
		message_template_category: optionalString,
		disable_info: lenient(
			z.object({ disable_date: lenient(z.union([z.string(), z.number()])) }).passthrough(),
		),
		other_info: lenient(
			z.object({ title: optionalString, description: optionalString }).passthrough(),
		),
		rejection_info: lenient(
			z.object({ reason: optionalString, recommendation: optionalString }).passthrough(),
		),
	})
	.passthrough();
export type TemplateStatusUpdateValue = z.infer<typeof templateStatusUpdateValueSchema>;

/** `field: "message_template_quality_update"` — GREEN / YELLOW / RED / UNKNOWN. */
export const templateQualityUpdateValueSchema = z
	.object({
		previous_quality_score: optionalString,
		new_quality_score: z.string().min(1),
		message_template_id: graphId,
		message_template_name: z.string().catch(''),
		message_template_language: z.string().catch(''),
	})
	.passthrough();
export type TemplateQualityUpdateValue = z.infer<typeof templateQualityUpdateValueSchema>;

/**
 * `field: "template_category_update"`. Two shapes: an impending change (`correct_category`,
 * `category_update_timestamp`) and a completed one (`previous_category`).
 */
export const templateCategoryUpdateValueSchema = z
	.object({
		message_template_id: graphId,
		message_template_name: z.string().catch(''),
		message_template_language: z.string().catch(''),
		previous_category: optionalString,
		new_category: z.string().min(1),
		correct_category: optionalString,
		category_update_timestamp: lenient(unixSeconds),
	})
	.passthrough();
export type TemplateCategoryUpdateValue = z.infer<typeof templateCategoryUpdateValueSchema>;

// --- Account fields (journey rules, issue #14/#15): the number's limit and flags, the portfolio's capabilities. ---

/** Meta sends limits as numbers or numeric strings; -1 means unlimited. */
const limitNumber = lenient(
	z
		.union([
			z.number(),
			z
				.string()
				.regex(/^-?\d+$/)
				.transform(Number),
		])
		.pipe(z.number().int()),
);

/**
 * `field: "phone_number_quality_update"` — the number's throughput or messaging limit changed (and, before the
 * portfolio limits of October 2025, FLAGGED / UNFLAGGED / DOWNGRADE / UPGRADE of the number's quality).
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
 */
export const phoneNumberQualityUpdateValueSchema = z
	.object({
		display_phone_number: z.string().min(1),
		event: z.string().min(1),
		current_limit: optionalString,
		old_limit: optionalString,
		max_daily_conversations_per_business: optionalString,
	})
	.passthrough();
export type PhoneNumberQualityUpdateValue = z.infer<typeof phoneNumberQualityUpdateValueSchema>;

/**
 * `field: "business_capability_update"` — the portfolio's messaging limit (-1 unlimited) and number limits.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/business_capability_update
 */
export const businessCapabilityUpdateValueSchema = z
	.object({
		max_daily_conversation_per_phone: limitNumber,
		max_daily_conversations_per_business: limitNumber,
		max_phone_numbers_per_business: limitNumber,
		max_phone_numbers_per_waba: limitNumber,
	})
	.passthrough();
export type BusinessCapabilityUpdateValue = z.infer<typeof businessCapabilityUpdateValueSchema>;

/**
 * `field: "phone_number_name_update"` — the display name review's decision.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_name_update
 */
export const phoneNumberNameUpdateValueSchema = z
	.object({
		display_phone_number: z.string().min(1),
		decision: z.string().min(1),
		requested_verified_name: optionalString,
		rejection_reason: lenient(z.string().nullable()),
	})
	.passthrough();
export type PhoneNumberNameUpdateValue = z.infer<typeof phoneNumberNameUpdateValueSchema>;

/**
 * `field: "account_update"` — policy violations, bans, restrictions and other account lifecycle events.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_update
 */
export const accountUpdateValueSchema = z
	.object({
		event: z.string().min(1),
		phone_number: optionalString,
		violation_info: lenient(z.object({ violation_type: optionalString }).passthrough()),
		ban_info: lenient(
			z.object({ waba_ban_state: optionalString, waba_ban_date: optionalString }).passthrough(),
		),
		restriction_info: lenient(
			z.array(z.object({ restriction_type: z.string(), expiration: optionalString }).passthrough()),
		),
	})
	.passthrough();
export type AccountUpdateValue = z.infer<typeof accountUpdateValueSchema>;

/** The fields we understand, and the schema of each one's `value`. */
export const webhookValueSchemas = {
	messages: messagesValueSchema,
	user_preferences: userPreferencesValueSchema,
	user_id_update: userIdUpdateValueSchema,
	message_template_status_update: templateStatusUpdateValueSchema,
	message_template_quality_update: templateQualityUpdateValueSchema,
	template_category_update: templateCategoryUpdateValueSchema,
	phone_number_quality_update: phoneNumberQualityUpdateValueSchema,
	business_capability_update: businessCapabilityUpdateValueSchema,
	phone_number_name_update: phoneNumberNameUpdateValueSchema,
	account_update: accountUpdateValueSchema,
} as const;
export type KnownWebhookField = keyof typeof webhookValueSchemas;

export const webhookChangeSchema = z
	.object({ field: z.string().min(1), value: z.unknown() })
	.passthrough();

/**
 * The envelope. Each change's `value` is checked against its field's schema by the normaliser,
 * so one odd change (or a field we have not met yet) cannot get a whole delivery rejected.
 */
export const webhookBodySchema = z
	.object({
		object: z.literal('whatsapp_business_account'),
		entry: z.array(
			z
				.object({
					id: graphId,
					time: lenient(unixSeconds),
					changes: z.array(webhookChangeSchema),
				})
				.passthrough(),
		),
	})
	.passthrough();
export type WebhookBody = z.infer<typeof webhookBodySchema>;

const ENVELOPE_KEYS = ['object', 'entry'];
const ENTRY_KEYS = ['id', 'time', 'changes'];
const CHANGE_KEYS = ['field', 'value'];

/** `out` then the keys of `from` not in `known`, in their order: what `.passthrough()` returns. */
function withExtras(
	out: Record<string, unknown>,
	from: Record<string, unknown>,
	known: string[],
): Record<string, unknown> {
	// zod leaves out a "__proto__" key (JSON.parse makes it an own key; assigning it would set the prototype).
	for (const key in from) if (!known.includes(key) && key !== '__proto__') out[key] = from[key];
	return out;
}

/** graphId for a plain value, or undefined (then the schema decides). */
function fastGraphId(v: unknown): string | undefined {
	if (typeof v === 'string') return v.length > 0 ? v : undefined;
	return typeof v === 'number' ? String(v) : undefined;
}

/**
 * `webhookBodySchema` written out for a well-formed envelope: zod took ~20 µs of a one-status POST, and the
 * receiver runs the envelope twice (parseWebhookBody, then normalizeWebhook). Returns exactly what the schema
 * returns (same keys, same order), or undefined for anything else, which then goes through the schema.
 * test/unit/webhooks.parse.test.ts holds the two side by side.
 */
export function fastEnvelope(json: unknown): WebhookBody | undefined {
	if (!isPlainObject(json) || json.object !== 'whatsapp_business_account') return undefined;
	if (!Array.isArray(json.entry)) return undefined;
	const entries: unknown[] = [];
	for (const entry of json.entry) {
		if (!isPlainObject(entry) || !Array.isArray(entry.changes)) return undefined;
		const id = fastGraphId(entry.id);
		if (id === undefined) return undefined;
		const out: Record<string, unknown> = { id };
		if ('time' in entry) {
			const t = entry.time;
			let seconds: number;
			if (typeof t === 'number') seconds = t;
			else if (typeof t === 'string' && DECIMAL.test(t)) seconds = Number(t);
			else return undefined;
			if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_UNIX_SECONDS) return undefined;
			out.time = seconds;
		}
		const changes: unknown[] = [];
		for (const change of entry.changes) {
			if (!isPlainObject(change) || typeof change.field !== 'string' || change.field.length === 0)
				return undefined;
			// z.unknown() keeps a present key even when its value is undefined (JSON has none).
			const c: Record<string, unknown> = { field: change.field };
			if ('value' in change) c.value = change.value;
			changes.push(withExtras(c, change, CHANGE_KEYS));
		}
		out.changes = changes;
		entries.push(withExtras(out, entry, ENTRY_KEYS));
	}
	return withExtras({ object: json.object, entry: entries }, json, ENVELOPE_KEYS) as WebhookBody;
}

/** The envelope: the written-out check for a well-formed one, the schema (and its issues) for anything else. */
export function parseEnvelope(
	json: unknown,
): { success: true; data: WebhookBody } | { success: false; error: z.ZodError } {
	const fast = fastEnvelope(json);
	if (fast) return { success: true, data: fast };
	return webhookBodySchema.safeParse(json);
}

/** Meta sends up to 3 MB; the default leaves headroom. */
export const DEFAULT_MAX_WEBHOOK_BYTES = 4 * 1024 * 1024;

/**
 * Meta's webhook bodies nest about ten levels deep. A body nested far deeper (possible inside fields we keep as they
 * came, such as a shared contact card) would overflow the stack of whatever serialises the event later — the outbox,
 * n8n's execution store — so it is refused like any other malformed body.
 */
export const MAX_WEBHOOK_DEPTH = 64;

/** Whether a parsed JSON value nests deeper than `limit` (iterative: a hostile body cannot exhaust the stack here). */
function nestsDeeperThan(value: unknown, limit: number): boolean {
	const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
	while (stack.length > 0) {
		const { v, d } = stack.pop()!;
		if (v === null || typeof v !== 'object') continue;
		if (d >= limit) return true;
		for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>))
			if (child !== null && typeof child === 'object') stack.push({ v: child, d: d + 1 });
	}
	return false;
}

export type ParsedWebhookBody =
	{ ok: true; body: WebhookBody } | { ok: false; status: 400 | 413; reason: string };

function describeIssue(issue: z.ZodIssue): string {
	const path = issue.path
		.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`))
		.join('');
	return `${path || 'body'}: ${issue.message}`;
}

/**
 * Checks size, JSON and envelope. 413 when over `maxBytes`, 400 for anything else wrong, with a
 * reason that names the offending field. Verify the signature on the same raw bytes first.
 */
export function parseWebhookBody(
	raw: Buffer | string,
	opts: { maxBytes?: number } = {},
): ParsedWebhookBody {
	const maxBytes = opts.maxBytes ?? DEFAULT_MAX_WEBHOOK_BYTES;
	const size =
		typeof raw === 'string'
			? Buffer.byteLength(raw, 'utf8')
			: Buffer.isBuffer(raw)
				? raw.length
				: -1;
	if (size < 0)
		return {
			ok: false,
			status: 400,
			reason: 'The body must be the raw request bytes (Buffer or string).',
		};
	if (size > maxBytes)
		return {
			ok: false,
			status: 413,
			reason: `The body is ${size} bytes; the limit is ${maxBytes}.`,
		};
	if (size === 0)
		return {
			ok: false,
			status: 400,
			reason: 'The body is empty; Meta always sends a JSON object.',
		};

	let json: unknown;
	try {
		json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
	} catch {
		return { ok: false, status: 400, reason: 'The body is not valid JSON.' };
	}
	if (nestsDeeperThan(json, MAX_WEBHOOK_DEPTH))
		return {
			ok: false,
			status: 400,
			reason: `The body nests deeper than ${MAX_WEBHOOK_DEPTH} levels; Meta's webhooks never do.`,
		};
	const parsed = parseEnvelope(json);
	if (!parsed.success) {
		const first = parsed.error.issues.slice(0, 3).map(describeIssue).join('; ');
		return { ok: false, status: 400, reason: `Not a WhatsApp Business Account webhook: ${first}.` };
	}
	return { ok: true, body: parsed.data };
}
