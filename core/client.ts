/**
 * The Graph API client for WhatsApp Cloud API calls this project makes. Transport is injected (see transport.ts);
 * every answer is validated with zod; every failure becomes a WhatsAppApiError decided by the one error catalogue.
 * Retries live here, not in callers, and never resend a message that may have been accepted.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';

import { WhatsAppApiError } from './errors';
import { markAsReadRequest } from './messages';
import { backoffMs, sleep } from './pacing';
import type { HttpRequest, HttpResponse, Transport } from './transport';
import { TransportError } from './transport';

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.facebook.com';
/**
 * Meta's latest Graph API version (v26.0, introduced 29 July 2026; v25.0 stays available until 29 July 2028):
 * https://developers.facebook.com/docs/graph-api/changelog. The credential and the Node-RED config default to it.
 */
export const DEFAULT_GRAPH_API_VERSION = 'v26.0';

export interface CloudApiConfig {
	phoneNumberId: string;
	wabaId?: string;
	/** Graph API version, e.g. "v25.0". */
	apiVersion?: string;
	/** Default https://graph.facebook.com; point it at the sandbox to rehearse. */
	baseUrl?: string;
	/**
	 * Only needed here for appsecret_proof; the bearer header itself is added by the transport
	 * (n8n's credential `authenticate`, or createFetchTransport({ accessToken })).
	 */
	accessToken?: string;
	/** When set together with accessToken, every call carries appsecret_proof (Meta's "Require App Secret"). */
	appSecret?: string;
}

export interface RetryPolicy {
	/** Total attempts per message including the first. */
	maxAttempts: number;
	/**
	 * Resend after a timeout or a 5xx without a Meta error body? Such a message may already have been accepted,
	 * so a retry can reach the customer twice. Off unless the user opts in.
	 */
	retryUncertain: boolean;
	timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
	maxAttempts: 6,
	retryUncertain: false,
	timeoutMs: 30_000,
};

const sendResponseSchema = z.object({
	messaging_product: z.literal('whatsapp').optional(),
	// A send to a business-scoped user id may be answered without the customer's number (Meta withholds it for a
	// username customer): `wa_id` is optional, the BSUID comes as `user_id`.
	contacts: z
		.array(
			z.object({
				input: z.string().optional(),
				wa_id: z.string().optional(),
				user_id: z.string().optional(),
			}),
		)
		.optional(),
	messages: z
		.array(z.object({ id: z.string().min(1), message_status: z.string().optional() }))
		.min(1, 'the Graph API answered 200 without a message id'),
});

export interface SendResult {
	messageId: string;
	/** The customer's phone number, when Meta shares it (it withholds it for a username customer sent to by BSUID). */
	waId?: string;
	/** The customer's BSUID: Meta answers it for a send by BSUID (`recipient`), not for one by phone number. */
	userId?: string;
	input?: string;
	messageStatus: string;
	attempts: number;
}

const phoneNumberSchema = z
	.object({
		id: z.string(),
		display_phone_number: z.string().optional(),
		verified_name: z.string().optional(),
		quality_rating: z.string().optional(),
		code_verification_status: z.string().optional(),
		platform_type: z.string().optional(),
		throughput: z.object({ level: z.string() }).partial().optional(),
		messaging_limit_tier: z.string().optional(),
		name_status: z.string().optional(),
	})
	.passthrough();
export type PhoneNumberInfo = z.infer<typeof phoneNumberSchema>;

const templatePageSchema = z.object({
	data: z.array(z.unknown()),
	paging: z
		.object({
			cursors: z
				.object({ before: z.string().optional(), after: z.string().optional() })
				.partial()
				.optional(),
			next: z.string().optional(),
		})
		.partial()
		.optional(),
});

const mediaUploadSchema = z.object({ id: z.string().min(1) });

/**
 * GET /{media-id}. Meta documents `file_size` as a number and sends it as a string in places (its own examples and
 * partners' captures differ), so both are read.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media/
 */
const mediaInfoSchema = z
	.object({
		url: z.string().url(),
		mime_type: z.string().min(1),
		sha256: z.string().min(1),
		file_size: z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number),
		id: z.string().min(1),
		messaging_product: z.string().optional(),
	})
	.passthrough();
export type MediaInfo = z.infer<typeof mediaInfoSchema>;
const successSchema = z.object({ success: z.boolean() }).passthrough();

export interface SendOptions {
	/** Use the Marketing Messages API edge (marketing templates only). */
	marketingMessagesApi?: boolean;
	/**
	 * Awaited before each attempt (the pacer's slot); the function it may return is called when that attempt's answer
	 * (or error) arrives, `throttled` when Meta answered 130429.
	 */
	beforeAttempt?: () => Promise<void | ((answer: { throttled: boolean }) => void)>;
	onRetry?: (error: WhatsAppApiError, attempt: number) => void;
}

/** A 2xx answer we cannot read: the call probably succeeded, so never treat it as safe to resend. */
function unexpectedAnswer(what: string): WhatsAppApiError {
	return new WhatsAppApiError({
		httpStatus: 200,
		message: `unexpected Graph API answer: ${what}`,
		acceptedUnknown: true,
	});
}

const TEMPLATE_FIELDS = 'id,name,language,status,category,sub_category,parameter_format,components';

export class CloudApiClient {
	private readonly base: string;
	private readonly proof?: string;

	constructor(
		private readonly config: CloudApiConfig,
		private readonly transport: Transport,
		private readonly retry: RetryPolicy = DEFAULT_RETRY_POLICY,
		private readonly sleepFn: (ms: number) => Promise<void> = sleep,
	) {
		const baseUrl = (config.baseUrl ?? DEFAULT_GRAPH_BASE_URL).replace(/\/+$/, '');
		const version = config.apiVersion ?? DEFAULT_GRAPH_API_VERSION;
		if (!/^v\d+\.\d+$/.test(version)) {
			throw new Error(`Graph API version "${version}" is not valid: use the form v25.0`);
		}
		this.base = `${baseUrl}/${version}`;
		if (config.appSecret && config.accessToken) {
			this.proof = createHmac('sha256', config.appSecret).update(config.accessToken).digest('hex');
		}
	}

	/** One request, no retries; non-2xx becomes WhatsAppApiError. */
	private async request(
		method: HttpRequest['method'],
		path: string,
		init: Omit<HttpRequest, 'method' | 'url'> = {},
	): Promise<unknown> {
		const query = { ...(init.query ?? {}) };
		if (this.proof) query.appsecret_proof = this.proof;
		let response: HttpResponse;
		try {
			response = await this.transport({
				...init,
				method,
				url: `${this.base}/${path.replace(/^\/+/, '')}`,
				query: Object.keys(query).length > 0 ? query : undefined,
				timeoutMs: init.timeoutMs ?? this.retry.timeoutMs,
			});
		} catch (error) {
			if (error instanceof TransportError)
				throw WhatsAppApiError.transportFailure(error.mayHaveBeenReceived, error);
			throw error;
		}
		if (response.status < 200 || response.status >= 300) {
			throw WhatsAppApiError.fromResponse(response.status, response.body);
		}
		return response.body;
	}

	/**
	 * POST /{phone-number-id}/messages (or /marketing_messages). Retries only what provably was not accepted:
	 * throughput (130429), pair rate (131056), call-rate limits (4, 80007) and Meta service errors with an error body.
	 */
	async sendMessage(body: unknown, options: SendOptions = {}): Promise<SendResult> {
		const edge = options.marketingMessagesApi ? 'marketing_messages' : 'messages';
		for (let attempt = 1; ; attempt++) {
			// Pacing happens before every attempt, retries included, so a retry storm cannot exceed the limit either.
			const answered = await options.beforeAttempt?.();
			let throttled = false;
			try {
				let raw: unknown;
				try {
					raw = await this.request('POST', `${this.config.phoneNumberId}/${edge}`, {
						json: body,
					});
				} catch (error) {
					throttled = error instanceof WhatsAppApiError && error.code === 130429;
					throw error;
				} finally {
					answered?.({ throttled });
				}
				const parsed = sendResponseSchema.safeParse(raw);
				if (!parsed.success) {
					throw unexpectedAnswer(parsed.error.issues.map((i) => i.message).join('; '));
				}
				const message = parsed.data.messages[0];
				const contact = parsed.data.contacts?.[0];
				return {
					messageId: message.id,
					waId: contact?.wa_id,
					...(contact?.user_id ? { userId: contact.user_id } : {}),
					input: contact?.input,
					messageStatus: message.message_status ?? 'accepted',
					attempts: attempt,
				};
			} catch (error) {
				if (!(error instanceof WhatsAppApiError)) throw error;
				// A Meta service error (2, 131000, 5xx with an error body) is an answer: the message was refused, so a retry
				// cannot duplicate it. Only answers that leave the outcome unknown need the user's opt-in.
				const serviceError = error.info.retry === 'cautious' && !error.acceptedUnknown;
				const retryable =
					error.info.retryable ||
					serviceError ||
					(error.acceptedUnknown && this.retry.retryUncertain);
				if (!retryable || attempt >= this.retry.maxAttempts) throw error;
				options.onRetry?.(error, attempt);
				const kind =
					error.info.category === 'pair_rate'
						? 'pairRate'
						: error.info.category === 'throttled'
							? 'throughput'
							: 'server';
				await this.sleepFn(backoffMs(attempt, kind));
			}
		}
	}

	async getPhoneNumber(
		fields = 'id,display_phone_number,verified_name,quality_rating,throughput,code_verification_status,messaging_limit_tier',
	): Promise<PhoneNumberInfo> {
		const raw = await this.request('GET', this.config.phoneNumberId, { query: { fields } });
		const parsed = phoneNumberSchema.safeParse(raw);
		if (!parsed.success) throw unexpectedAnswer('phone number answer has no id');
		return parsed.data;
	}

	/**
	 * The messaging limit tier (TIER_250, TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED, …) Meta applies to this number's
	 * business portfolio: `whatsapp_business_manager_messaging_limit` (Graph v24.0+), or the deprecated
	 * `messaging_limit_tier` where the version does not know the new field.
	 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits#via-api
	 */
	async getMessagingLimitTier(): Promise<string | undefined> {
		const read = async (field: string) => {
			const raw = await this.request('GET', this.config.phoneNumberId, {
				query: { fields: field },
			});
			const parsed = z.object({ [field]: z.string().min(1).optional() }).safeParse(raw);
			if (!parsed.success) throw unexpectedAnswer(`${field} is not a string`);
			return parsed.data[field] as string | undefined;
		};
		try {
			return await read('whatsapp_business_manager_messaging_limit');
		} catch (error) {
			// (#100) "nonexisting field" on versions before v24.0: ask for the old field.
			if (error instanceof WhatsAppApiError && error.code === 100)
				return read('messaging_limit_tier');
			throw error;
		}
	}

	/** The business portfolio that owns the WABA (`owner_business_info`): the messaging limit's scope. */
	async getOwnerBusiness(): Promise<{ id: string; name?: string } | undefined> {
		const raw = await this.request('GET', this.requireWaba(), {
			query: { fields: 'owner_business_info' },
		});
		const parsed = z
			.object({
				owner_business_info: z
					.object({ id: z.string().min(1), name: z.string().optional() })
					.passthrough()
					.optional(),
			})
			.passthrough()
			.safeParse(raw);
		if (!parsed.success) throw unexpectedAnswer('owner_business_info has no id');
		const owner = parsed.data.owner_business_info;
		return owner ? { id: owner.id, name: owner.name } : undefined;
	}

	private requireWaba(): string {
		if (!this.config.wabaId) {
			throw new Error(
				'This call needs the WhatsApp Business Account ID: set it in the Meta WhatsApp Cloud API credential',
			);
		}
		return this.config.wabaId;
	}

	/** One page of GET /{waba-id}/message_templates. Items are returned unparsed; core/templates owns their schema. */
	private async listTemplatesPage(
		p: { after?: string; limit?: number; status?: string; name?: string } = {},
	): Promise<{ data: unknown[]; after?: string }> {
		const query: Record<string, string | number> = {
			fields: TEMPLATE_FIELDS,
			limit: p.limit ?? 100,
		};
		if (p.after) query.after = p.after;
		if (p.status) query.status = p.status;
		if (p.name) query.name = p.name;
		const raw = await this.request('GET', `${this.requireWaba()}/message_templates`, { query });
		const parsed = templatePageSchema.safeParse(raw);
		if (!parsed.success) throw unexpectedAnswer('message_templates answer has no data array');
		// Meta's last page carries cursors but no `next`: only follow `after` while `next` exists.
		const after = parsed.data.paging?.next ? parsed.data.paging.cursors?.after : undefined;
		return { data: parsed.data.data, after };
	}

	/** Every page of templates (bounded: a WABA holds at most 6,000). */
	async listAllTemplates(p: { status?: string; name?: string } = {}): Promise<unknown[]> {
		const all: unknown[] = [];
		let after: string | undefined;
		for (let page = 0; page < 100; page++) {
			const result = await this.listTemplatesPage({ ...p, after, limit: 250 });
			all.push(...result.data);
			if (!result.after) return all;
			after = result.after;
		}
		return all;
	}

	async uploadMedia(file: { data: Buffer; fileName: string; mimeType: string }): Promise<string> {
		const raw = await this.request('POST', `${this.config.phoneNumberId}/media`, {
			multipart: { fields: { messaging_product: 'whatsapp', type: file.mimeType }, file },
			timeoutMs: Math.max(this.retry.timeoutMs, 120_000),
		});
		const parsed = mediaUploadSchema.safeParse(raw);
		if (!parsed.success) throw unexpectedAnswer('media upload answer has no id');
		return parsed.data.id;
	}

	/**
	 * GET /{media-id}: the short-lived download URL (valid 5 minutes), MIME type, SHA-256 and size of a media file.
	 * `phone_number_id` makes Meta check the media belongs to this business number.
	 */
	async getMedia(mediaId: string): Promise<MediaInfo> {
		const raw = await this.request('GET', encodeURIComponent(mediaId), {
			query: { phone_number_id: this.config.phoneNumberId },
		});
		const parsed = mediaInfoSchema.safeParse(raw);
		if (!parsed.success) {
			throw unexpectedAnswer(
				`media answer: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
			);
		}
		return parsed.data;
	}

	/**
	 * The bytes behind a media URL from getMedia. Meta wants the same access token on it, so it only goes to an https
	 * URL or to the configured base URL's own origin (the sandbox), never to whatever host an answer names over http.
	 * Returns the HTTP status with the bytes so the caller can explain an expired URL.
	 */
	async fetchMediaUrl(url: string): Promise<{ status: number; data?: Buffer; body?: unknown }> {
		const target = new URL(url);
		const baseOrigin = new URL(this.base).origin;
		if (target.protocol !== 'https:' && target.origin !== baseOrigin) {
			throw new Error(
				`The media URL ${target.origin} is neither https nor the Graph API base URL's origin: not sending the access token there`,
			);
		}
		const query: Record<string, string> = {};
		if (this.proof && target.origin === baseOrigin) query.appsecret_proof = this.proof;
		let response: HttpResponse;
		try {
			response = await this.transport({
				method: 'GET',
				url,
				query: Object.keys(query).length > 0 ? query : undefined,
				responseType: 'buffer',
				timeoutMs: Math.max(this.retry.timeoutMs, 120_000),
			});
		} catch (error) {
			if (error instanceof TransportError)
				throw WhatsAppApiError.transportFailure(error.mayHaveBeenReceived, error);
			throw error;
		}
		if (Buffer.isBuffer(response.body)) return { status: response.status, data: response.body };
		return { status: response.status, body: response.body };
	}

	/**
	 * Marks an inbound message (and the ones before it) read: blue ticks for the customer. With `typingIndicator`
	 * the customer also sees "typing…" until the reply is sent or 25 seconds pass, whichever comes first.
	 * https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/
	 */
	async markAsRead(
		messageId: string,
		options: { typingIndicator?: boolean } = {},
	): Promise<boolean> {
		const raw = await this.request('POST', `${this.config.phoneNumberId}/messages`, {
			json: markAsReadRequest(messageId.trim(), options.typingIndicator === true),
		});
		const parsed = successSchema.safeParse(raw);
		if (!parsed.success) throw unexpectedAnswer('mark-as-read answer has no success flag');
		return parsed.data.success;
	}

	/** Phone-number-level webhook override (looked up by Meta before the WABA's and the app's callback). */
	async setPhoneNumberCallback(callbackUri: string, verifyToken: string): Promise<boolean> {
		const raw = await this.request('POST', this.config.phoneNumberId, {
			json: {
				webhook_configuration: { override_callback_uri: callbackUri, verify_token: verifyToken },
			},
		});
		return successSchema.parse(raw).success;
	}

	async clearPhoneNumberCallback(): Promise<boolean> {
		const raw = await this.request('POST', this.config.phoneNumberId, {
			json: { webhook_configuration: { override_callback_uri: '' } },
		});
		return successSchema.parse(raw).success;
	}

	async getPhoneNumberCallback(): Promise<string | undefined> {
		const raw = await this.request('GET', this.config.phoneNumberId, {
			query: { fields: 'webhook_configuration' },
		});
		const parsed = z
			.object({
				webhook_configuration: z
					.object({ phone_number: z.string().optional() })
					.passthrough()
					.optional(),
			})
			.passthrough()
			.safeParse(raw);
		return parsed.success ? parsed.data.webhook_configuration?.phone_number : undefined;
	}
}
