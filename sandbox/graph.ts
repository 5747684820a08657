import { createHash, createHmac } from 'node:crypto';
import { MEDIA_URL_LIFETIME_MS } from '../core/media';
import type { TemplateDefinition } from '../core/templates';
import { graphError, ok, type ApiAnswer, type SandboxContext } from './context';
import { parseMultipart } from './http';
import type { CallbackOverride } from './state';
import { verifyCallback } from './webhooks';

type Json = Record<string, unknown>;

/** Id of the app the sandbox pretends to be (the one subscribed to the WABA). */
export const SANDBOX_APP_ID = '1234567890123456';
/** Id of the business portfolio that owns the sandbox's WABA. */
export const SANDBOX_BUSINESS_ID = '9876543210123456';
/** Meta limits override callback URLs to 200 characters. */
const MAX_OVERRIDE_URI = 200;

function isObject(value: unknown): value is Json {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonexistingField(ctx: SandboxContext, field: string, nodeType: string): ApiAnswer {
	return graphError(
		ctx,
		100,
		`(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`,
		{
			graphLevel: true,
		},
	);
}

function requestedFields(query: URLSearchParams): string[] | undefined {
	const raw = query.get('fields');
	if (raw === null || raw.trim() === '') return undefined;
	return raw
		.split(',')
		.map((f) => f.trim())
		.filter(Boolean);
}

// ---------------------------------------------------------------- phone number node

const PHONE_DEFAULT_FIELDS = [
	'verified_name',
	'code_verification_status',
	'display_phone_number',
	'quality_rating',
	'platform_type',
	'throughput',
	'webhook_configuration',
	'id',
];

function phoneFieldValues(ctx: SandboxContext, phoneNumberId: string): Record<string, unknown> {
	const phone = ctx.state.phoneNumbers.get(phoneNumberId);
	if (!phone) return {};
	const { mps } = ctx.config;
	const webhookConfiguration: Json = {};
	const phoneOverride = ctx.state.phoneOverrides.get(phoneNumberId);
	if (phoneOverride) webhookConfiguration.phone_number = phoneOverride.uri;
	if (ctx.state.wabaOverride)
		webhookConfiguration.whatsapp_business_account = ctx.state.wabaOverride.uri;
	if (ctx.config.callbackUrl) webhookConfiguration.application = ctx.config.callbackUrl;
	return {
		id: phone.id,
		verified_name: phone.verifiedName,
		display_phone_number: formatDisplayNumber(phone.displayPhoneNumber),
		quality_rating: phone.qualityRating,
		code_verification_status: 'VERIFIED',
		platform_type: 'CLOUD_API',
		// STANDARD is the default 80 mps tier; Meta upgrades numbers to HIGH (up to 1,000 mps).
		throughput: { level: mps === 0 || mps > 80 ? 'HIGH' : 'STANDARD' },
		webhook_configuration: webhookConfiguration,
		name_status: 'APPROVED',
		status: 'CONNECTED',
		account_mode: 'LIVE',
		is_official_business_account: false,
		is_pin_enabled: false,
		// The portfolio's tier (settable through POST /__sandbox/messaging-limit); the old field is deprecated.
		messaging_limit_tier: ctx.state.messagingLimitTier,
		whatsapp_business_manager_messaging_limit: ctx.state.messagingLimitTier,
	};
}

/** Meta shows display numbers formatted ("+1 555-078-3881"); the digits are what matters. */
function formatDisplayNumber(digits: string): string {
	const d = digits.replace(/\D/g, '');
	if (d.length === 11 && d.startsWith('1'))
		return `+1 ${d.slice(1, 4)}-${d.slice(4, 7)}-${d.slice(7)}`;
	return `+${d}`;
}

export function getPhoneNumber(
	ctx: SandboxContext,
	phoneNumberId: string,
	query: URLSearchParams,
): ApiAnswer {
	const values = phoneFieldValues(ctx, phoneNumberId);
	const fields = requestedFields(query) ?? PHONE_DEFAULT_FIELDS;
	const out: Json = {};
	for (const field of fields) {
		if (!(field in values)) return nonexistingField(ctx, field, 'WhatsAppBusinessPhoneNumber');
		out[field] = values[field];
	}
	out.id = values.id;
	return ok(out, { phoneNumberId });
}

export function listPhoneNumbers(ctx: SandboxContext, query: URLSearchParams): ApiAnswer {
	const fields = requestedFields(query) ?? [
		'verified_name',
		'code_verification_status',
		'display_phone_number',
		'quality_rating',
		'platform_type',
		'throughput',
		'id',
	];
	const data: Json[] = [];
	for (const id of ctx.state.phoneNumbers.keys()) {
		const values = phoneFieldValues(ctx, id);
		const item: Json = {};
		for (const field of fields) {
			if (!(field in values)) return nonexistingField(ctx, field, 'WhatsAppBusinessPhoneNumber');
			item[field] = values[field];
		}
		item.id = id;
		data.push(item);
	}
	const first = data[0]?.id as string | undefined;
	const last = data[data.length - 1]?.id as string | undefined;
	return ok({
		data,
		paging: { cursors: { before: encodeCursor(first ?? ''), after: encodeCursor(last ?? '') } },
	});
}

export function getWaba(ctx: SandboxContext): ApiAnswer {
	return ok({
		id: ctx.config.wabaId,
		name: `${ctx.config.verifiedName} (sandbox)`,
		currency: 'USD',
		timezone_id: '1',
		message_template_namespace: 'sandbox_namespace',
		// The business portfolio that owns the WABA: the scope of the messaging limit.
		owner_business_info: { id: SANDBOX_BUSINESS_ID, name: `${ctx.config.verifiedName} (sandbox)` },
	});
}

// ---------------------------------------------------------------- webhook overrides

async function checkOverride(
	ctx: SandboxContext,
	uri: unknown,
	verifyToken: unknown,
	where: string,
): Promise<ApiAnswer | CallbackOverride> {
	if (typeof uri !== 'string' || uri === '') {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: `${where}override_callback_uri is required.`,
		});
	}
	if (uri.length > MAX_OVERRIDE_URI) {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: `${where}override_callback_uri is longer than ${MAX_OVERRIDE_URI} characters.`,
		});
	}
	if (typeof verifyToken !== 'string' || verifyToken === '') {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: `${where}verify_token is required with override_callback_uri.`,
		});
	}
	if (ctx.config.verifyOverrides) {
		const challenge = String(1_000_000_000 + ctx.rng.int(1_000_000_000));
		const verdict = await verifyCallback(uri, verifyToken, challenge, ctx.config.webhookTimeoutMs);
		if (!verdict.ok) {
			return graphError(
				ctx,
				2200,
				`(#2200) Callback verification failed with the following errors: ${verdict.reason}`,
				{
					graphLevel: true,
					status: 400,
				},
			);
		}
	}
	return { uri, verifyToken };
}

/** POST /{phone-number-id}: `webhook_configuration` sets or (with an empty URI) removes the number's override. */
export async function updatePhoneNumber(
	ctx: SandboxContext,
	phoneNumberId: string,
	body: unknown,
): Promise<ApiAnswer> {
	if (!isObject(body) || !isObject(body.webhook_configuration)) {
		return graphError(ctx, 100, 'Invalid parameter', {
			details:
				'The sandbox supports updating webhook_configuration {override_callback_uri, verify_token} on a phone number.',
		});
	}
	const configuration = body.webhook_configuration;
	if (configuration.override_callback_uri === '') {
		ctx.state.phoneOverrides.delete(phoneNumberId);
		return ok({ success: true }, { phoneNumberId });
	}
	const checked = await checkOverride(
		ctx,
		configuration.override_callback_uri,
		configuration.verify_token,
		'webhook_configuration.',
	);
	if ('status' in checked) return { ...checked, phoneNumberId };
	ctx.state.phoneOverrides.set(phoneNumberId, checked);
	return ok({ success: true }, { phoneNumberId });
}

export async function subscribeApp(ctx: SandboxContext, body: unknown): Promise<ApiAnswer> {
	const payload = isObject(body) ? body : {};
	if (payload.override_callback_uri === undefined || payload.override_callback_uri === '') {
		// Subscribing without an override (re)subscribes the app and clears the WABA's override.
		ctx.state.appSubscribed = true;
		ctx.state.wabaOverride = undefined;
		return ok({ success: true });
	}
	const checked = await checkOverride(ctx, payload.override_callback_uri, payload.verify_token, '');
	if ('status' in checked) return checked;
	ctx.state.appSubscribed = true;
	ctx.state.wabaOverride = checked;
	return ok({ success: true });
}

export function listSubscribedApps(ctx: SandboxContext): ApiAnswer {
	if (!ctx.state.appSubscribed) return ok({ data: [] });
	const app: Json = {
		whatsapp_business_api_data: {
			id: SANDBOX_APP_ID,
			link: `https://www.facebook.com/games/?app_id=${SANDBOX_APP_ID}`,
			name: 'WhatsApp Journeys Sandbox',
		},
	};
	if (ctx.state.wabaOverride) app.override_callback_uri = ctx.state.wabaOverride.uri;
	return ok({ data: [app] });
}

export function unsubscribeApp(ctx: SandboxContext): ApiAnswer {
	ctx.state.appSubscribed = false;
	ctx.state.wabaOverride = undefined;
	return ok({ success: true });
}

// ---------------------------------------------------------------- templates

const DEFAULT_TEMPLATE_PAGE = 25;
const MAX_TEMPLATE_PAGE = 1000;

function encodeCursor(id: string): string {
	return Buffer.from(`sandbox:${id}`).toString('base64').replace(/=+$/, '');
}

function decodeCursor(cursor: string): string | undefined {
	const text = Buffer.from(cursor, 'base64').toString('utf8');
	return text.startsWith('sandbox:') ? text.slice('sandbox:'.length) : undefined;
}

function templateId(t: TemplateDefinition): string {
	return String((t as { id?: unknown }).id ?? `${t.name}:${t.language}`);
}

/**
 * GET /{waba-id}/message_templates with `fields`, `limit`, `status`, `category`, `language`, `name`
 * filters and cursor paging (`paging.cursors.before/after`; `next` absent on the last page).
 */
export function listTemplates(
	ctx: SandboxContext,
	version: string,
	query: URLSearchParams,
): ApiAnswer {
	const limitText = query.get('limit');
	let limit = DEFAULT_TEMPLATE_PAGE;
	if (limitText !== null) {
		limit = Number(limitText);
		if (!Number.isInteger(limit) || limit < 1) {
			return graphError(ctx, 100, '(#100) Param limit must be a positive integer', {
				graphLevel: true,
			});
		}
		limit = Math.min(limit, MAX_TEMPLATE_PAGE);
	}
	const split = (key: string): Set<string> | undefined => {
		const raw = query.get(key);
		if (raw === null || raw === '') return undefined;
		return new Set(
			raw
				.replace(/^\[|\]$/g, '')
				.split(',')
				.map((s) => s.trim().replace(/^"|"$/g, '').toUpperCase()),
		);
	};
	const statuses = split('status');
	const categories = split('category');
	const languages = query.get('language');
	const name = query.get('name')?.toLowerCase();

	const filtered = ctx.state.templates.filter(
		(t) =>
			(!statuses || statuses.has(String(t.status).toUpperCase())) &&
			(!categories || categories.has(String(t.category).toUpperCase())) &&
			(!languages || languages.split(',').includes(t.language)) &&
			(!name || t.name.toLowerCase().includes(name)),
	);

	// Window [start, pageEnd) of the filtered list; cursors are template ids, opaque to callers.
	let start = 0;
	let pageEnd = limit;
	const after = query.get('after');
	const before = query.get('before');
	const cursorKey = after ? 'after' : before ? 'before' : undefined;
	if (cursorKey) {
		const id = decodeCursor(String(query.get(cursorKey)));
		const index = id === undefined ? -1 : filtered.findIndex((t) => templateId(t) === id);
		if (index < 0)
			return graphError(ctx, 100, 'Invalid parameter', {
				details: `${cursorKey} is not a valid cursor.`,
			});
		if (cursorKey === 'after') {
			start = index + 1;
			pageEnd = start + limit;
		} else {
			pageEnd = index;
			start = Math.max(0, pageEnd - limit);
		}
	}
	const page = filtered.slice(start, pageEnd);

	const fields = requestedFields(query);
	const data = page.map((t) => {
		if (!fields) return t;
		const source = t as unknown as Json;
		const item: Json = {};
		for (const field of fields) if (source[field] !== undefined) item[field] = source[field];
		item.id = templateId(t);
		return item;
	});

	const paging: Json = {};
	if (page.length > 0) {
		paging.cursors = {
			before: encodeCursor(templateId(page[0])),
			after: encodeCursor(templateId(page[page.length - 1])),
		};
		const link = (cursorKey: 'after' | 'before', cursor: string): string => {
			const params = new URLSearchParams(query);
			params.delete('after');
			params.delete('before');
			params.set('limit', String(limit));
			params.set(cursorKey, cursor);
			return `${ctx.baseUrl}/${version}/${ctx.config.wabaId}/message_templates?${params.toString()}`;
		};
		if (pageEnd < filtered.length)
			paging.next = link('after', encodeCursor(templateId(page[page.length - 1])));
		if (start > 0) paging.previous = link('before', encodeCursor(templateId(page[0])));
	} else {
		paging.cursors = {};
	}
	return ok({ data, paging });
}

// ---------------------------------------------------------------- media

const MEDIA_TYPES =
	/^(image\/(jpeg|png|webp)|video\/(mp4|3gpp)|audio\/(aac|amr|mpeg|mp4|ogg)|text\/plain|application\/(pdf|msword|vnd\.[\w.-]+))$/;

export function uploadMedia(
	ctx: SandboxContext,
	phoneNumberId: string,
	raw: Buffer,
	contentType: string | undefined,
): ApiAnswer {
	const parts = parseMultipart(raw, contentType);
	if (!parts) {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: 'Upload media as multipart/form-data with messaging_product, file and type.',
		});
	}
	const field = (name: string) => parts.find((p) => p.name === name);
	if (field('messaging_product')?.data.toString('utf8').trim() !== 'whatsapp') {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: "messaging_product must be 'whatsapp'.",
		});
	}
	const file = field('file');
	if (!file || file.data.length === 0) {
		return graphError(ctx, 100, 'Invalid parameter', { details: 'file is required.' });
	}
	const mimeType = field('type')?.data.toString('utf8').trim() || file.contentType || '';
	if (!MEDIA_TYPES.test(mimeType)) {
		return graphError(ctx, 131053, 'Media upload error', {
			details: `Unsupported media type ${mimeType || '(none)'}.`,
		});
	}
	const id = ctx.newNumericId();
	ctx.state.media.set(id, {
		id,
		phoneNumberId,
		mimeType,
		sha256: createHash('sha256').update(file.data).digest('hex'),
		fileSize: file.data.length,
		...(file.filename ? { filename: file.filename } : {}),
		data: Buffer.from(file.data),
		uploadedAt: ctx.config.now(),
	});
	return ok({ id }, { phoneNumberId });
}

export function getMedia(
	ctx: SandboxContext,
	mediaId: string,
	query: URLSearchParams,
): ApiAnswer | undefined {
	const media = ctx.state.media.get(mediaId);
	if (!media) return undefined;
	const phoneNumberId = query.get('phone_number_id');
	if (phoneNumberId && phoneNumberId !== media.phoneNumberId) {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: 'The media was not uploaded by this phone number.',
		});
	}
	// Like Meta's lookaside URL: signed, and refused 5 minutes after this answer.
	const ext = ctx.config.now() + MEDIA_URL_LIFETIME_MS;
	return ok({
		messaging_product: 'whatsapp',
		url: `${ctx.baseUrl}/__sandbox/media/${media.id}?ext=${ext}&hash=${mediaUrlHash(ctx.config.controlToken, media.id, ext)}`,
		mime_type: media.mimeType,
		sha256: media.sha256,
		file_size: media.fileSize,
		id: media.id,
	});
}

/** Signs id and expiry with the control token, so a caller cannot lengthen a URL's life by editing `ext`. */
export function mediaUrlHash(key: string, id: string, ext: number): string {
	return createHmac('sha256', key).update(`${id}|${ext}`).digest('hex').slice(0, 32);
}

export function deleteMedia(ctx: SandboxContext, mediaId: string): ApiAnswer | undefined {
	if (!ctx.state.media.delete(mediaId)) return undefined;
	return ok({ success: true });
}
