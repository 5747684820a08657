import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isBsuid } from '../core/phone';
import { templateDefinitionSchema, type TemplateDefinition } from '../core/templates';
import { normalizePhoneNumber } from '../core/phone';
import type { SandboxContext } from './context';
import { parseJson, readBody, sendJson } from './http';
import { mediaUrlHash } from './graph';
import { isFreeEntryPointOpen, isWindowOpen, TYPING_INDICATOR_MS } from './send';
import {
	businessInitiatedRecipients,
	defaultFaults,
	faultsSchema,
	type AcceptedMessage,
	type ConversationWindow,
	type InboundRecord,
	type MediaRecord,
} from './state';
import type { WebhookEvent } from './webhooks';

/**
 * The control API under /__sandbox/: JSON in and out, behind the control token (the server checks it, the Host,
 * the Origin and the Content-Type before a request gets here). Tests and the demo use it to seed templates, play
 * the customer, inject faults and read what the sandbox saw and sent.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

type Json = Record<string, unknown>;

function badRequest(res: ServerResponse, message: string): void {
	sendJson(res, 400, { error: { message } });
}

function zodMessage(error: z.ZodError): string {
	return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

/** Unix seconds, unix ms or an ISO date → ms. */
const timestampSchema = z.union([
	z
		.number()
		.nonnegative()
		.transform((n) => (n < 1e12 ? n * 1000 : n)),
	z
		.string()
		.refine(
			(s) => !Number.isNaN(Date.parse(s)) || /^\d+$/.test(s),
			'timestamp must be unix seconds, unix ms or an ISO date',
		)
		.transform((s) =>
			/^\d+$/.test(s) ? (Number(s) < 1e12 ? Number(s) * 1000 : Number(s)) : Date.parse(s),
		),
]);

const referralSchema = z
	.object({
		source_url: z.string().default('https://fb.me/sandbox-ad'),
		source_id: z.string().default('120200000000000001'),
		source_type: z.enum(['ad', 'post']).default('ad'),
		body: z.string().default('Tap to chat with us on WhatsApp'),
		headline: z.string().default('Sandbox ad'),
		media_type: z.enum(['image', 'video']).default('image'),
		image_url: z.string().optional(),
		video_url: z.string().optional(),
		thumbnail_url: z.string().optional(),
		ctwa_clid: z.string().optional(),
	})
	.passthrough();

/** A file the customer sends: new bytes (base64) or a media id the sandbox already holds. */
const inboundMediaSchema = z
	.object({
		data: z.string().min(1, 'data (the file, base64) is required unless id is given').optional(),
		id: z.string().optional(),
		mime_type: z.string().optional(),
		caption: z.string().optional(),
		filename: z.string().optional(),
		voice: z.boolean().optional(),
	})
	.strict()
	.refine((m) => (m.data === undefined) !== (m.id === undefined), {
		message: 'give data (base64 bytes, with mime_type) or the id of seeded media',
	});

const INBOUND_MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;
const DEFAULT_MEDIA_MIME: Record<(typeof INBOUND_MEDIA_TYPES)[number], string> = {
	image: 'image/jpeg',
	video: 'video/mp4',
	audio: 'audio/ogg',
	document: 'application/pdf',
	sticker: 'image/webp',
};

const seedMediaSchema = z
	.object({
		data: z.string().min(1, 'data (the file, base64) is required'),
		mime_type: z.string().min(1, 'mime_type is required'),
		filename: z.string().optional(),
		phoneNumberId: z.string().optional(),
	})
	.strict();

/** https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/track-click-events */
const linkClickSchema = z
	.object({
		phoneNumberId: z.string().optional(),
		action_type: z.string().default('marketing_messages_link_click'),
		click_component: z.string().optional(),
		click_id: z.string().optional(),
		tracking_token: z.string().optional(),
		product_id: z.string().optional(),
		timestamp: timestampSchema.optional(),
	})
	.strict();

const bsuidSchema = z
	.string()
	.refine(isBsuid, 'is not a business-scoped user id (e.g. US.13491208655302741918)');

const inboundSchema = z
	.object({
		/** The customer's phone number; optional for a customer known only by BSUID (`userId`). */
		from: z.string().min(1, 'from (the customer phone number) is empty').optional(),
		/** The customer's business-scoped user id: webhooks carry it as from_user_id / contacts[].user_id. */
		userId: bsuidSchema.optional(),
		username: z.string().min(1).optional(),
		/** A username customer: Meta leaves the number out of the webhooks (needs userId). */
		hidePhone: z.boolean().default(false),
		name: z.string().default('Sandbox Customer'),
		phoneNumberId: z.string().optional(),
		id: z.string().optional(),
		timestamp: timestampSchema.optional(),
		text: z.union([z.string(), z.object({ body: z.string() })]).optional(),
		button: z.object({ payload: z.string(), text: z.string() }).optional(),
		interactive: z
			.discriminatedUnion('type', [
				z.object({
					type: z.literal('button_reply'),
					button_reply: z.object({ id: z.string(), title: z.string() }),
				}),
				z.object({
					type: z.literal('list_reply'),
					list_reply: z.object({
						id: z.string(),
						title: z.string(),
						description: z.string().optional(),
					}),
				}),
			])
			.optional(),
		image: inboundMediaSchema.optional(),
		video: inboundMediaSchema.optional(),
		audio: inboundMediaSchema.optional(),
		document: inboundMediaSchema.optional(),
		sticker: inboundMediaSchema.optional(),
		context: z.object({ id: z.string(), from: z.string().optional() }).optional(),
		referral: z.union([z.literal(true), referralSchema]).optional(),
	})
	.strict()
	.refine(
		(b) =>
			[b.text, b.button, b.interactive, ...INBOUND_MEDIA_TYPES.map((t) => b[t])].filter(
				(x) => x !== undefined,
			).length === 1,
		{
			message:
				'give exactly one of text, button, interactive, image, video, audio, document or sticker',
		},
	)
	.refine((b) => b.from !== undefined || b.userId !== undefined, {
		message: 'from (the customer phone number) or userId (their BSUID) is required',
	})
	.refine((b) => !b.hidePhone || b.userId !== undefined, {
		message:
			'hidePhone needs userId: a customer without a number in webhooks is known by their BSUID',
	});

/** A customer's BSUID changes (Meta makes a new one when the number changes): user_id_update + a system message. */
const userIdChangeSchema = z
	.object({
		userId: bsuidSchema,
		newUserId: bsuidSchema,
		name: z.string().default('Sandbox Customer'),
		phoneNumberId: z.string().optional(),
		timestamp: timestampSchema.optional(),
	})
	.strict();

/**
 * The customer taps a quick-reply button of a template message the sandbox accepted, a reply button of an interactive
 * button message, or picks a row of an interactive list (by index, or by title or id).
 */
const tapSchema = z
	.object({
		messageId: z
			.string()
			.min(1, 'messageId (the wamid of the template or interactive message) is required'),
		button: z.union([z.number().int().min(0), z.string().min(1)]),
		/** The reply's own wamid: give the same id twice to play Meta's retry of one delivery. */
		id: z.string().optional(),
		timestamp: timestampSchema.optional(),
	})
	.strict();

/** The part of an accepted interactive request a tap reads (the request passed core's schema when it was sent). */
interface InteractiveRequest {
	type?: string;
	action?: {
		buttons?: Array<{ reply?: { id?: unknown; title?: unknown } }>;
		sections?: Array<{ rows?: Array<{ id?: unknown; title?: unknown; description?: unknown }> }>;
	};
}

const optOutSchema = z
	.object({
		wa_id: z.string().optional(),
		from: z.string().optional(),
		value: z.enum(['stop', 'resume']).default('stop'),
		name: z.string().default('Sandbox Customer'),
		phoneNumberId: z.string().optional(),
		timestamp: timestampSchema.optional(),
	})
	.strict()
	.refine((b) => b.wa_id !== undefined || b.from !== undefined, {
		message: 'wa_id (or from) is required',
	});

const phoneQualitySchema = z.object({
	phoneNumberId: z.string().optional(),
	qualityRating: z.enum(['GREEN', 'YELLOW', 'RED', 'UNKNOWN']),
});

const messagingLimitSchema = z
	.object({
		tier: z.enum([
			'TIER_50',
			'TIER_250',
			'TIER_1K',
			'TIER_2K',
			'TIER_10K',
			'TIER_100K',
			'TIER_UNLIMITED',
			'TIER_NOT_SET',
		]),
	})
	.strict();

const templateStatusSchema = z
	.object({
		id: z.string().optional(),
		name: z.string().optional(),
		language: z.string().optional(),
		status: z
			.string()
			.min(1)
			.transform((s) => s.toUpperCase()),
		reason: z.string().optional(),
		otherInfo: z.object({ title: z.string(), description: z.string() }).optional(),
	})
	.strict()
	.refine((b) => b.id !== undefined || b.name !== undefined, { message: 'id or name is required' });

function waIdOf(input: string): string {
	try {
		return normalizePhoneNumber(input, undefined, { validation: 'possible' }).waId;
	} catch {
		return input.replace(/\D/g, '');
	}
}

function numericIdOrString(id: string): number | string {
	return /^\d{1,15}$/.test(id) ? Number(id) : id;
}

/** The signed expiry a media URL carries (see graph.ts mediaUrl). */
function mediaUrlValid(key: string, id: string, query: URLSearchParams, now: number): boolean {
	const ext = Number(query.get('ext'));
	return Number.isFinite(ext) && now < ext && query.get('hash') === mediaUrlHash(key, id, ext);
}

function inboundView(record: InboundRecord, now: number): Json {
	const typing =
		record.typingIndicatorAt !== undefined &&
		record.typingDismissedAt === undefined &&
		now < record.typingIndicatorAt + TYPING_INDICATOR_MS;
	return {
		id: record.id,
		phoneNumberId: record.phoneNumberId,
		from: record.from,
		type: record.message.type,
		read: record.readAt !== undefined,
		...(record.readAt !== undefined ? { readAt: new Date(record.readAt).toISOString() } : {}),
		...(record.typingIndicatorAt !== undefined
			? { typingIndicatorAt: new Date(record.typingIndicatorAt).toISOString() }
			: {}),
		...(record.typingDismissedAt !== undefined
			? { typingDismissedAt: new Date(record.typingDismissedAt).toISOString() }
			: {}),
		typing,
	};
}

function windowView(window: ConversationWindow, now: number): Json {
	return {
		...window,
		open: isWindowOpen(window, now),
		freeEntryPointOpen: isFreeEntryPointOpen(window, now),
	};
}

export class ControlApi {
	private nextTemplateId = 900_000_000_000_001;

	constructor(
		private readonly ctx: SandboxContext,
		private readonly onReset: () => void,
	) {}

	async handle(
		req: IncomingMessage,
		res: ServerResponse,
		path: string,
		query: URLSearchParams,
	): Promise<void> {
		const method = req.method ?? 'GET';
		const route = `${method} ${path.replace(/\/+$/, '')}`;
		const readJson = async (): Promise<{ ok: true; value: unknown } | { ok: false }> => {
			// The server admitted only `application/json` POSTs.
			const parsed = parseJson((await readBody(req)).toString('utf8'));
			if (!parsed.ok) {
				badRequest(res, `Body is not JSON: ${parsed.error}`);
				return { ok: false };
			}
			return parsed;
		};
		const { state, config } = this.ctx;
		const now = config.now();

		const mediaMatch = path.match(/^\/__sandbox\/media\/(\d+)$/);
		if (method === 'GET' && mediaMatch) {
			const media = state.media.get(mediaMatch[1]);
			if (!media) return sendJson(res, 404, { error: { message: 'no such media' } });
			// Meta's media URL works for 5 minutes after GET /{media-id}; after that its CDN refuses it.
			if (!mediaUrlValid(config.controlToken, media.id, query, now)) {
				res.writeHead(404, { 'content-type': 'text/plain' });
				res.end('URL signature expired');
				return;
			}
			res.writeHead(200, { 'content-type': media.mimeType, 'content-length': media.data.length });
			res.end(media.data);
			return;
		}

		switch (route) {
			case 'GET /__sandbox':
				return sendJson(res, 200, {
					url: this.ctx.baseUrl,
					wabaId: config.wabaId,
					phoneNumberIds: [...state.phoneNumbers.keys()],
					templates: state.templates.length,
					messages: state.messages.size,
					webhookAttempts: state.webhooks.length,
					requests: state.requests.length,
					undeliverableEvents: state.undeliverableEvents,
					busy: this.ctx.tracker.busy,
				});
			case 'POST /__sandbox/reset':
				this.onReset();
				return sendJson(res, 200, { success: true });
			case 'GET /__sandbox/idle': {
				// Waits for queued statuses and webhook deliveries to finish (bounded by timeoutMs).
				const timeoutMs = Math.min(Number(query.get('timeoutMs') ?? 10_000) || 10_000, 60_000);
				const idle = await Promise.race([
					this.ctx.tracker.idle().then(() => true),
					new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
				]);
				return sendJson(res, 200, { idle });
			}
			case 'GET /__sandbox/templates':
				return sendJson(res, 200, { data: state.templates });
			case 'POST /__sandbox/templates': {
				const body = await readJson();
				if (!body.ok) return;
				return this.addTemplates(res, body.value);
			}
			case 'POST /__sandbox/template-status': {
				const body = await readJson();
				if (!body.ok) return;
				return this.changeTemplateStatus(res, body.value);
			}
			case 'POST /__sandbox/phone-quality': {
				// Meta re-rates a number's quality from customer feedback; journeys should notice a YELLOW or RED rating.
				const body = await readJson();
				if (!body.ok) return;
				const parsed = phoneQualitySchema.safeParse(body.value);
				if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
				const phone = state.phoneNumbers.get(parsed.data.phoneNumberId ?? config.phoneNumberId);
				if (!phone)
					return sendJson(res, 404, { error: { message: 'No such phone number in the sandbox.' } });
				phone.qualityRating = parsed.data.qualityRating;
				return sendJson(res, 200, {
					success: true,
					id: phone.id,
					qualityRating: phone.qualityRating,
				});
			}
			case 'GET /__sandbox/messaging-limit':
				return sendJson(res, 200, {
					tier: state.messagingLimitTier,
					businessInitiatedRecipients24h: businessInitiatedRecipients(state.businessInitiated, now),
				});
			case 'POST /__sandbox/messaging-limit': {
				// The portfolio's tier, as the Graph API reports it (whatsapp_business_manager_messaging_limit).
				const body = await readJson();
				if (!body.ok) return;
				const parsed = messagingLimitSchema.safeParse(body.value);
				if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
				state.messagingLimitTier = parsed.data.tier;
				return sendJson(res, 200, { success: true, tier: state.messagingLimitTier });
			}
			case 'POST /__sandbox/media': {
				const body = await readJson();
				if (!body.ok) return;
				return this.seedMedia(res, body.value);
			}
			case 'GET /__sandbox/inbound': {
				const data = [...state.inbound.values()].map((r) => inboundView(r, now));
				return sendJson(res, 200, { data });
			}
			case 'POST /__sandbox/link-click': {
				const body = await readJson();
				if (!body.ok) return;
				return this.linkClick(res, body.value);
			}
			case 'POST /__sandbox/inbound': {
				const body = await readJson();
				if (!body.ok) return;
				return this.inbound(res, body.value);
			}
			case 'POST /__sandbox/tap': {
				const body = await readJson();
				if (!body.ok) return;
				return this.tap(res, body.value);
			}
			case 'POST /__sandbox/user-id-change': {
				const body = await readJson();
				if (!body.ok) return;
				return this.userIdChange(res, body.value);
			}
			case 'POST /__sandbox/opt-out': {
				const body = await readJson();
				if (!body.ok) return;
				return this.optOut(res, body.value);
			}
			case 'GET /__sandbox/messages': {
				const since = Number(query.get('since') ?? 0) || 0;
				const to = query.get('to');
				const toWaId = to ? waIdOf(to) : undefined;
				const data = [];
				for (const entry of state.messageLog.since(since)) {
					const message = state.messages.get(entry.id);
					if (!message) continue;
					if (toWaId && message.waId !== toWaId) continue;
					data.push({ seq: entry.seq, ...message });
				}
				return sendJson(res, 200, { data });
			}
			case 'GET /__sandbox/webhooks': {
				const since = Number(query.get('since') ?? 0) || 0;
				const url = query.get('url');
				const field = query.get('field');
				const data = state.webhooks
					.since(since)
					.filter((a) => (!url || a.url === url) && (!field || a.fields.includes(field)));
				return sendJson(res, 200, { data });
			}
			case 'GET /__sandbox/requests': {
				const since = Number(query.get('since') ?? 0) || 0;
				const code = query.get('code');
				const pathPart = query.get('path');
				const data = state.requests
					.since(since)
					.filter(
						(r) =>
							(code === null || String(r.code) === code) &&
							(!pathPart || r.path.includes(pathPart)),
					);
				return sendJson(res, 200, { data });
			}
			case 'GET /__sandbox/windows': {
				const data = [...state.windows.values()].map((w) => windowView(w, now));
				return sendJson(res, 200, { data });
			}
			case 'GET /__sandbox/faults':
				return sendJson(res, 200, state.faults);
			case 'POST /__sandbox/faults': {
				const body = await readJson();
				if (!body.ok) return;
				const parsed = faultsSchema.safeParse(body.value);
				if (!parsed.success) return badRequest(res, `Invalid faults: ${zodMessage(parsed.error)}`);
				const { clear, throttleForMs, recipientFailures, ...rest } = parsed.data;
				if (clear) state.faults = defaultFaults();
				Object.assign(state.faults, rest);
				if (throttleForMs !== undefined)
					state.faults.throttleUntil = throttleForMs > 0 ? now + throttleForMs : 0;
				if (recipientFailures)
					state.faults.recipientFailures = {
						...state.faults.recipientFailures,
						...recipientFailures,
					};
				return sendJson(res, 200, state.faults);
			}
			default:
				return sendJson(res, 404, {
					error: { message: `No control route ${route}. See sandbox/README.md.` },
				});
		}
	}

	private addTemplates(res: ServerResponse, body: unknown): void {
		const payload = body as Json;
		const list: unknown[] = Array.isArray(body)
			? body
			: Array.isArray(payload?.templates)
				? (payload.templates as unknown[])
				: [body];
		const templates: TemplateDefinition[] = [];
		for (const [index, raw] of list.entries()) {
			const withId =
				typeof raw === 'object' && raw !== null && !('id' in raw)
					? { ...raw, id: String(this.nextTemplateId++) }
					: raw;
			const parsed = templateDefinitionSchema.safeParse(withId);
			if (!parsed.success)
				return badRequest(res, `Invalid template at index ${index}: ${zodMessage(parsed.error)}`);
			templates.push(parsed.data);
		}
		if (!Array.isArray(body) && payload?.replace === true) this.ctx.state.setTemplates(templates);
		else for (const template of templates) this.ctx.state.upsertTemplate(template);
		sendJson(res, 200, { data: templates });
	}

	private changeTemplateStatus(res: ServerResponse, body: unknown): void {
		const parsed = templateStatusSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const change = parsed.data;
		const { state } = this.ctx;
		const targets = state.templates.filter((t) =>
			change.id !== undefined
				? String((t as { id?: unknown }).id) === change.id
				: t.name === change.name &&
					(change.language === undefined || t.language === change.language),
		);
		if (targets.length === 0)
			return sendJson(res, 404, {
				error: { message: 'No template matches that id / name / language.' },
			});
		const updated: TemplateDefinition[] = [];
		for (const target of targets) {
			const next = { ...target, status: change.status } as TemplateDefinition;
			state.upsertTemplate(next);
			updated.push(next);
			const id = String((target as { id?: unknown }).id ?? '');
			const value: Json = {
				event: change.status,
				message_template_id: numericIdOrString(id),
				message_template_name: target.name,
				message_template_language: target.language,
				reason: change.reason ?? 'NONE',
			};
			if (target.category) value.message_template_category = target.category;
			if (change.otherInfo) value.other_info = change.otherInfo;
			this.ctx.webhooks.emit({ kind: 'value', field: 'message_template_status_update', value });
		}
		sendJson(res, 200, { data: updated });
	}

	private resolvePhone(res: ServerResponse, requested: string | undefined): string | undefined {
		const id = requested ?? this.ctx.config.phoneNumberId;
		if (!this.ctx.state.phoneNumbers.has(id)) {
			badRequest(res, `phoneNumberId ${id} is not a business number of this sandbox.`);
			return undefined;
		}
		return id;
	}

	private inbound(res: ServerResponse, body: unknown): void {
		const parsed = inboundSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const input = parsed.data;
		const phoneNumberId = this.resolvePhone(res, input.phoneNumberId);
		if (!phoneNumberId) return;
		const { state, config, rng } = this.ctx;
		const now = config.now();
		const at = input.timestamp ?? now;
		const phoneWaId = input.from !== undefined ? waIdOf(input.from) : undefined;
		if (input.from !== undefined && !phoneWaId)
			return badRequest(res, 'from must contain the digits of the customer phone number');
		const known = input.userId ? state.users.get(input.userId) : undefined;
		if (input.userId)
			state.setUser({
				bsuid: input.userId,
				waId: phoneWaId ?? known?.waId,
				username: input.username ?? known?.username,
				hidePhone: input.hidePhone,
			});
		// The sandbox keys a customer by their number when it knows one (windows, opt-outs), else by the BSUID.
		const waId = phoneWaId ?? (input.userId ? state.customerOfBsuid(input.userId) : '');
		const showPhone = !input.hidePhone && waId !== input.userId;
		const id = input.id ?? this.ctx.newWamid(waId);

		const message: Json = {
			...(showPhone ? { from: waId } : {}),
			...(input.userId ? { from_user_id: input.userId } : {}),
			id,
			timestamp: String(Math.floor(at / 1000)),
		};
		const phone = state.phoneNumbers.get(phoneNumberId);
		if (input.context)
			message.context = {
				from: input.context.from ?? phone?.displayPhoneNumber ?? '',
				id: input.context.id,
			};
		if (input.text !== undefined) {
			message.type = 'text';
			message.text = typeof input.text === 'string' ? { body: input.text } : input.text;
		} else if (input.button) {
			message.type = 'button';
			message.button = input.button;
		} else if (input.interactive) {
			message.type = 'interactive';
			message.interactive = input.interactive;
		} else {
			const type = INBOUND_MEDIA_TYPES.find((t) => input[t] !== undefined);
			const media = type ? input[type] : undefined;
			if (type && media) {
				const record = media.id
					? state.media.get(media.id)
					: this.storeMedia(
							phoneNumberId,
							Buffer.from(media.data ?? '', 'base64'),
							media.mime_type ?? DEFAULT_MEDIA_MIME[type],
							media.filename,
						);
				if (!record)
					return badRequest(res, `${type}.id ${media.id} is not media the sandbox holds`);
				message.type = type;
				// Meta's inbound media object: id, mime_type, sha256 (and caption, filename, voice where they apply).
				message[type] = {
					...(media.caption !== undefined ? { caption: media.caption } : {}),
					...(type === 'document' ? { filename: media.filename ?? record.filename } : {}),
					mime_type: record.mimeType,
					sha256: record.sha256,
					id: record.id,
					...(media.voice !== undefined ? { voice: media.voice } : {}),
				};
			}
		}
		if (input.referral) {
			const referral = input.referral === true ? referralSchema.parse({}) : input.referral;
			message.referral = { ...referral, ctwa_clid: referral.ctwa_clid ?? `sandbox-${rng.hex(12)}` };
		}

		// The window runs 24 h from the customer's latest message; an older message does not shorten it.
		const existing = state.windowFor(phoneNumberId, waId);
		const window: ConversationWindow = existing ?? {
			phoneNumberId,
			waId,
			lastInboundAt: at,
			expiresAt: at + DAY_MS,
		};
		if (!existing || at >= existing.lastInboundAt) {
			window.lastInboundAt = at;
			window.expiresAt = at + DAY_MS;
		}
		window.profileName = input.name;
		if (input.referral && (window.referralAt === undefined || at >= window.referralAt)) {
			window.referralAt = at;
			if (!isFreeEntryPointOpen(window, now)) {
				delete window.freeEntryPointExpiresAt;
				delete window.freeEntryPointConversationId;
			}
		}
		state.setWindow(window);
		state.inbound.set(id, { id, phoneNumberId, from: waId, timestamp: at, message });

		const username = input.username ?? known?.username;
		const event: WebhookEvent = {
			kind: 'message',
			phoneNumberId,
			message,
			contact: {
				profile: { name: input.name, ...(username ? { username } : {}) },
				...(showPhone ? { wa_id: waId } : {}),
				...(input.userId ? { user_id: input.userId } : {}),
			},
		};
		this.ctx.webhooks.emit(event);
		sendJson(res, 200, { id, message, window: windowView(window, now) });
	}

	/**
	 * A tap on a quick reply is an inbound `button` message whose context names the template message. Its payload is
	 * the one the send gave that button (components[].sub_type quick_reply), else the button's text.
	 */
	private tap(res: ServerResponse, body: unknown): void {
		const parsed = tapSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const { messageId, button, id, timestamp } = parsed.data;
		const message = this.ctx.state.messages.get(messageId);
		const interactive = (message?.request as { interactive?: InteractiveRequest } | undefined)
			?.interactive;
		if (message && message.type === 'interactive' && interactive)
			return this.tapInteractive(res, message, interactive, parsed.data);
		if (!message?.template)
			return sendJson(res, 404, {
				error: {
					message: `No template or interactive button/list message ${messageId} was sent through the sandbox.`,
				},
			});
		const definition = this.ctx.state.templates.find(
			(t) => t.name === message.template!.name && t.language === message.template!.language,
		);
		const quickReplies = (definition?.components ?? [])
			.filter((c) => c.type === 'BUTTONS')
			.flatMap((c) => ('buttons' in c ? (c.buttons as Array<{ type: string; text: string }>) : []))
			.map((b, index) => ({ ...b, index }))
			.filter((b) => b.type === 'QUICK_REPLY');
		const chosen =
			typeof button === 'number'
				? quickReplies[button]
				: quickReplies.find((b) => b.text.toLowerCase() === button.toLowerCase());
		if (!chosen)
			return badRequest(
				res,
				`The template ${message.template.name} has no quick reply ${JSON.stringify(button)}; it has ${JSON.stringify(quickReplies.map((b) => b.text))}.`,
			);
		const request = message.request as {
			template?: {
				components?: Array<{
					type?: string;
					sub_type?: string;
					index?: string | number;
					parameters?: Array<{ payload?: string }>;
				}>;
			};
		};
		const sentPayload = request?.template?.components?.find(
			(c) =>
				c.type === 'button' && c.sub_type === 'quick_reply' && Number(c.index) === chosen.index,
		)?.parameters?.[0]?.payload;
		return this.inbound(res, {
			from: message.waId,
			...(id ? { id } : {}),
			...(timestamp !== undefined ? { timestamp } : {}),
			phoneNumberId: message.phoneNumberId,
			button: { payload: sentPayload ?? chosen.text, text: chosen.text },
			context: { id: messageId },
		});
	}

	/**
	 * A tap on a reply button is an inbound `interactive` message with `button_reply {id, title}`, a row picked from a
	 * list one with `list_reply {id, title, description}`; either carries `context.id` = the interactive message's wamid
	 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages,
	 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages).
	 */
	private tapInteractive(
		res: ServerResponse,
		message: AcceptedMessage,
		interactive: InteractiveRequest,
		tap: z.infer<typeof tapSchema>,
	): void {
		const choices: Array<{ id: string; title: string; description?: string }> =
			interactive.type === 'button'
				? (interactive.action?.buttons ?? []).map((b) => ({
						id: String(b.reply?.id ?? ''),
						title: String(b.reply?.title ?? ''),
					}))
				: interactive.type === 'list'
					? (interactive.action?.sections ?? []).flatMap((s) =>
							(s.rows ?? []).map((r) => ({
								id: String(r.id ?? ''),
								title: String(r.title ?? ''),
								...(r.description ? { description: String(r.description) } : {}),
							})),
						)
					: [];
		if (choices.length === 0)
			return badRequest(
				res,
				`The interactive ${String(interactive.type)} message ${message.id} has no reply buttons or list rows to tap.`,
			);
		const wanted = tap.button;
		const chosen =
			typeof wanted === 'number'
				? choices[wanted]
				: (choices.find((c) => c.id === wanted) ??
					choices.find((c) => c.title.toLowerCase() === wanted.toLowerCase()));
		if (!chosen)
			return badRequest(
				res,
				`The interactive message ${message.id} has no ${interactive.type === 'list' ? 'row' : 'button'} ${JSON.stringify(wanted)}; it has ${JSON.stringify(choices.map((c) => c.title))}.`,
			);
		return this.inbound(res, {
			from: message.waId,
			...(tap.id ? { id: tap.id } : {}),
			...(tap.timestamp !== undefined ? { timestamp: tap.timestamp } : {}),
			phoneNumberId: message.phoneNumberId,
			interactive:
				interactive.type === 'list'
					? { type: 'list_reply', list_reply: chosen }
					: { type: 'button_reply', button_reply: { id: chosen.id, title: chosen.title } },
			context: { id: message.id },
		});
	}

	private storeMedia(
		phoneNumberId: string,
		data: Buffer,
		mimeType: string,
		filename: string | undefined,
	): MediaRecord {
		const id = this.ctx.newNumericId();
		const record: MediaRecord = {
			id,
			phoneNumberId,
			mimeType,
			sha256: createHash('sha256').update(data).digest('hex'),
			fileSize: data.length,
			...(filename ? { filename } : {}),
			data,
			uploadedAt: this.ctx.config.now(),
		};
		this.ctx.state.media.set(id, record);
		return record;
	}

	private seedMedia(res: ServerResponse, body: unknown): void {
		const parsed = seedMediaSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const phoneNumberId = this.resolvePhone(res, parsed.data.phoneNumberId);
		if (!phoneNumberId) return;
		const data = Buffer.from(parsed.data.data, 'base64');
		if (data.length === 0) return badRequest(res, 'data: decodes to no bytes (base64 expected)');
		const record = this.storeMedia(
			phoneNumberId,
			data,
			parsed.data.mime_type,
			parsed.data.filename,
		);
		sendJson(res, 200, {
			id: record.id,
			mime_type: record.mimeType,
			sha256: record.sha256,
			file_size: record.fileSize,
		});
	}

	/** A Marketing Messages API link click, as Meta delivers it: a `messages` change carrying `user_actions`. */
	private linkClick(res: ServerResponse, body: unknown): void {
		const parsed = linkClickSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const input = parsed.data;
		const phoneNumberId = this.resolvePhone(res, input.phoneNumberId);
		if (!phoneNumberId) return;
		const { state, config, rng } = this.ctx;
		const phone = state.phoneNumbers.get(phoneNumberId);
		const action: Json = {
			action_type: input.action_type,
			timestamp: String(Math.floor((input.timestamp ?? config.now()) / 1000)),
			marketing_messages_link_click_data: {
				...(input.click_component !== undefined
					? { click_component: input.click_component }
					: { click_component: 'cta' }),
				...(input.product_id !== undefined ? { product_id: input.product_id } : {}),
				click_id: input.click_id ?? `sandbox-click-${rng.hex(12)}`,
				tracking_token: input.tracking_token ?? `AI@sandbox-${rng.hex(16)}`,
			},
		};
		const value: Json = {
			messaging_product: 'whatsapp',
			metadata: {
				display_phone_number: phone?.displayPhoneNumber ?? '',
				phone_number_id: phoneNumberId,
			},
			user_actions: [action],
		};
		this.ctx.webhooks.emit({ kind: 'value', field: 'messages', value, phoneNumberId });
		sendJson(res, 200, { user_action: action });
	}

	private optOut(res: ServerResponse, body: unknown): void {
		const parsed = optOutSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const input = parsed.data;
		const phoneNumberId = this.resolvePhone(res, input.phoneNumberId);
		if (!phoneNumberId) return;
		const { state, config } = this.ctx;
		const waId = waIdOf(input.wa_id ?? input.from ?? '');
		if (input.value === 'stop') state.optedOut.add(waId);
		else state.optedOut.delete(waId);
		const at = input.timestamp ?? config.now();
		const phone = state.phoneNumbers.get(phoneNumberId);
		const value: Json = {
			messaging_product: 'whatsapp',
			metadata: {
				display_phone_number: phone?.displayPhoneNumber ?? '',
				phone_number_id: phoneNumberId,
			},
			contacts: [{ profile: { name: input.name }, wa_id: waId }],
			user_preferences: [
				{
					wa_id: waId,
					detail:
						input.value === 'stop'
							? 'User requested to stop marketing messages'
							: 'User requested to resume marketing messages',
					category: 'marketing_messages',
					value: input.value,
					timestamp: Math.floor(at / 1000),
				},
			],
		};
		this.ctx.webhooks.emit({ kind: 'value', field: 'user_preferences', value, phoneNumberId });
		sendJson(res, 200, { wa_id: waId, optedOut: state.optedOut.has(waId) });
	}

	/**
	 * Meta's two notices of a changed BSUID: the `user_id_update` field (previous → current, with the number when it may
	 * be shared) and a `user_changed_user_id` system message (the new id only, no contacts). Shapes: see
	 * test/unit/bsuid.webhooks.test.ts for the sources.
	 */
	private userIdChange(res: ServerResponse, body: unknown): void {
		const parsed = userIdChangeSchema.safeParse(body);
		if (!parsed.success) return badRequest(res, zodMessage(parsed.error));
		const input = parsed.data;
		const phoneNumberId = this.resolvePhone(res, input.phoneNumberId);
		if (!phoneNumberId) return;
		const { state, config } = this.ctx;
		const user = state.users.get(input.userId);
		if (!user) return badRequest(res, `userId ${input.userId} is not a customer the sandbox knows`);
		state.users.delete(input.userId);
		state.setUser({ ...user, bsuid: input.newUserId });
		const at = input.timestamp ?? config.now();
		const phone = state.phoneNumbers.get(phoneNumberId);
		const metadata = {
			display_phone_number: phone?.displayPhoneNumber ?? '',
			phone_number_id: phoneNumberId,
		};
		const shownWaId = user.waId && !user.hidePhone ? user.waId : undefined;
		this.ctx.webhooks.emit({
			kind: 'value',
			field: 'user_id_update',
			phoneNumberId,
			value: {
				messaging_product: 'whatsapp',
				metadata,
				...(shownWaId ? { contacts: [{ profile: { name: input.name }, wa_id: shownWaId }] } : {}),
				user_id_update: [
					{
						...(shownWaId ? { wa_id: shownWaId } : {}),
						detail: `User id for ${input.name} has been updated.`,
						user_id: { previous: input.userId, current: input.newUserId },
						timestamp: String(Math.floor(at / 1000)),
					},
				],
			},
		});
		this.ctx.webhooks.emit({
			kind: 'value',
			field: 'messages',
			phoneNumberId,
			value: {
				messaging_product: 'whatsapp',
				metadata,
				messages: [
					{
						id: this.ctx.newWamid(input.newUserId),
						timestamp: String(Math.floor(at / 1000)),
						type: 'system',
						system: {
							body: `User ${input.name} changed from ${input.userId} to ${input.newUserId}`,
							user_id: input.newUserId,
							type: 'user_changed_user_id',
						},
					},
				],
			},
		});
		sendJson(res, 200, { userId: input.newUserId, previousUserId: input.userId });
	}
}
