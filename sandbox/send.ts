import {
	cloudApiMessageRequestSchema,
	markAsReadRequestSchema,
	messageIssuesOf,
} from '../core/messages';
import { isBsuid, isUsNumber, normalizePhoneNumber, PhoneNumberError } from '../core/phone';
import { validateTemplateMessage } from '../core/templates';
import { describeMetaError } from '../core/errors';
import { graphError, ok, whatsappError, type ApiAnswer, type SandboxContext } from './context';
import type {
	AcceptedMessage,
	ConversationWindow,
	MessageFailure,
	Pricing,
	SandboxUser,
} from './state';
import type { WhatsAppContact } from './webhooks';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A free entry point window lasts 72 h from the business's reply. */
const FREE_ENTRY_POINT_MS = 72 * 60 * 60 * 1000;
const ERROR_CODES_HREF =
	'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/';
const PRODUCT_POLICIES = new Set(['CLOUD_API_FALLBACK', 'STRICT']);
const TEMPLATE_STAND_IN = { name: 'stand_in', language: { code: 'en_US' } };
/** Recipients seen recently: normalising with full metadata is the costliest step of a send. */
const RECIPIENT_CACHE_MAX = 100_000;

type Recipient = { waId: string; e164?: string; refusal?: string; unreachable?: boolean };

/** The customer record of a sandbox key (a number with a BSUID, or a BSUID), if they have a BSUID. */
function userOf(ctx: SandboxContext, key: string): SandboxUser | undefined {
	const bsuid = ctx.state.users.has(key) ? key : ctx.state.bsuidOf.get(key);
	return bsuid ? ctx.state.users.get(bsuid) : undefined;
}

/**
 * The send answer's contact: the input, the number unless withheld, and the BSUID for a send to the BSUID (Meta's
 * BSUID guide: `user_id` only then, otherwise omitted).
 */
function contactOf(ctx: SandboxContext, input: string, key: string): Record<string, string> {
	const user = userOf(ctx, key);
	const showNumber = !user || (!user.hidePhone && user.bsuid !== key);
	return {
		input,
		...(showNumber ? { wa_id: key } : {}),
		...(user && isBsuid(input) ? { user_id: user.bsuid } : {}),
	};
}

function recipientOf(cache: Map<string, Recipient>, to: string): Recipient {
	const cached = cache.get(to);
	if (cached) return cached;
	let recipient: Recipient;
	try {
		const normalized = normalizePhoneNumber(to, undefined, { validation: 'possible' });
		recipient = { waId: normalized.waId, e164: normalized.e164 };
	} catch (error) {
		// Garbage is refused now; a number Meta cannot reach is accepted and fails later (131026).
		if (
			error instanceof PhoneNumberError &&
			(error.reason === 'empty' || error.reason === 'not_a_number')
		) {
			recipient = { waId: '', refusal: error.message };
		} else {
			recipient = { waId: to.replace(/\D/g, ''), unreachable: true };
		}
	}
	if (cache.size >= RECIPIENT_CACHE_MAX) cache.clear();
	cache.set(to, recipient);
	return recipient;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeZodError(error: Parameters<typeof messageIssuesOf>[0]): string {
	return messageIssuesOf(error)
		.slice(0, 5)
		.map((issue) => `${issue.path}: ${issue.message}`)
		.join('; ');
}

/**
 * An interactive message whose every fault is a value over Meta's limit (a title or id too long, too many buttons,
 * sections or rows): Meta answers 131009 "Parameter value is not valid" and names the limit, e.g. "Button title length
 * invalid. Min length: 1, Max length: 20" (https://github.com/Secreto31126/whatsapp-api-js/issues/54 shows the 131009
 * shape for an interactive message). A missing or mistyped field stays 100 "Invalid parameter".
 */
function interactiveLimitError(
	type: unknown,
	error: Parameters<typeof messageIssuesOf>[0],
): string | undefined {
	if (type !== 'interactive') return undefined;
	const issues = messageIssuesOf(error);
	if (!issues.every((i) => /is longer than \d+ characters|at most \d+/.test(i.message)))
		return undefined;
	return issues
		.slice(0, 5)
		.map((i) => {
			const max = /(\d+)/.exec(i.message)?.[1];
			if (/buttons\[\d+\]\.reply\.title$/.test(i.path))
				return `Button title length invalid. Min length: 1, Max length: ${max}`;
			return `${i.path}: ${i.message}`;
		})
		.join('; ');
}

export function isWindowOpen(window: ConversationWindow | undefined, now: number): boolean {
	return window !== undefined && now < window.expiresAt;
}

export function isFreeEntryPointOpen(window: ConversationWindow | undefined, now: number): boolean {
	return window?.freeEntryPointExpiresAt !== undefined && now < window.freeEntryPointExpiresAt;
}

export type SendOutcome = { answer: ApiAnswer; message?: AcceptedMessage };

/**
 * POST /{phone-number-id}/messages and /marketing_messages: validation, limits and policy in
 * Meta's order, then acceptance (200 + wamid) and the asynchronous status lifecycle.
 */
export function handleSend(
	ctx: SandboxContext,
	phoneNumberId: string,
	endpoint: 'messages' | 'marketing_messages',
	body: unknown,
): SendOutcome {
	const { state, config } = ctx;
	const now = config.now();

	if (!isObject(body))
		return {
			answer: graphError(ctx, 100, 'Invalid parameter', {
				details: 'The request body must be a JSON object.',
			}),
		};

	// Mark as read (and typing indicator) shares the /messages path.
	if (endpoint === 'messages' && body.status === 'read')
		return { answer: markAsRead(ctx, phoneNumberId, body) };

	// Marketing Messages API options are not part of the message itself.
	const messageBody: Json = { ...body };
	const productPolicy = messageBody.product_policy;
	delete messageBody.product_policy;
	delete messageBody.message_activity_sharing;
	if (
		endpoint === 'marketing_messages' &&
		productPolicy !== undefined &&
		!(typeof productPolicy === 'string' && PRODUCT_POLICIES.has(productPolicy))
	) {
		return {
			answer: graphError(ctx, 100, 'Invalid parameter', {
				details: 'product_policy must be CLOUD_API_FALLBACK or STRICT.',
			}),
		};
	}

	// The template object is checked once, by validateTemplateMessage below (which answers 100 when it is
	// malformed); the envelope check gets a minimal stand-in so zod does not walk it twice per send.
	const envelope =
		messageBody.type === 'template' && isObject(messageBody.template)
			? { ...messageBody, template: TEMPLATE_STAND_IN }
			: messageBody;
	const parsed = cloudApiMessageRequestSchema.safeParse(envelope);
	if (!parsed.success) {
		const overLimit = interactiveLimitError(messageBody.type, parsed.error);
		if (overLimit)
			return {
				answer: graphError(ctx, 131009, 'Parameter value is not valid', { details: overLimit }),
			};
		return {
			answer: graphError(ctx, 100, 'Invalid parameter', {
				details: describeZodError(parsed.error),
			}),
		};
	}

	// A business-scoped user id goes in `recipient`; when `to` is given too, Meta delivers to `to`.
	const bsuid =
		messageBody.to === undefined && typeof messageBody.recipient === 'string'
			? messageBody.recipient
			: undefined;
	if (bsuid !== undefined && !isBsuid(bsuid)) {
		return {
			answer: graphError(ctx, 100, 'Invalid parameter', {
				details: `recipient: "${bsuid}" is not a business-scoped user ID (e.g. US.13491208655302741918).`,
			}),
		};
	}
	const to = String(messageBody.to ?? bsuid ?? '');
	const type = typeof messageBody.type === 'string' ? messageBody.type : 'text';
	const extra = { phoneNumberId, to };

	if (endpoint === 'marketing_messages' && type !== 'template') {
		return {
			answer: {
				...graphError(ctx, 100, 'Invalid parameter', {
					details: 'Message must be a template message.',
				}),
				...extra,
			},
		};
	}

	// The sandbox, like Meta, knows the person behind a BSUID: their number when it has one (windows, opt-outs).
	const recipient = bsuid
		? {
				waId: state.customerOfBsuid(bsuid),
				refusal: undefined,
				unreachable: false,
				e164: undefined,
			}
		: recipientOf(state.recipientCache, to);
	if (recipient.refusal !== undefined) {
		return {
			answer: {
				...graphError(ctx, 100, 'Invalid parameter', { details: `to: ${recipient.refusal}` }),
				...extra,
			},
		};
	}
	const { waId, e164 } = recipient;
	const unreachable = recipient.unreachable === true;
	const phone = state.phoneNumbers.get(phoneNumberId);
	if (phone && waId === phone.displayPhoneNumber.replace(/\D/g, '')) {
		return {
			answer: {
				...whatsappError(ctx, 131021, 'The recipient is the sending business phone number.'),
				...extra,
			},
		};
	}

	// Templates: Meta's template validation against the registry.
	let template: AcceptedMessage['template'];
	if (type === 'template') {
		const templateObject = isObject(messageBody.template) ? messageBody.template : {};
		const name = typeof templateObject.name === 'string' ? templateObject.name : '';
		const language =
			isObject(templateObject.language) && typeof templateObject.language.code === 'string'
				? templateObject.language.code
				: '';
		const definition = state.findTemplate(name, language);
		const issue = validateTemplateMessage(definition, templateObject);
		if (issue) {
			return {
				answer: {
					// Meta's own wording where known; our actionable message stands in for unknown details.
					...graphError(ctx, issue.code, issue.metaMessage ?? describeMetaError(issue.code).title, {
						details: issue.details ?? issue.message,
					}),
					...extra,
				},
			};
		}
		const category = String(definition?.category ?? 'UTILITY');
		if (endpoint === 'marketing_messages' && category !== 'MARKETING') {
			return {
				answer: {
					...graphError(ctx, 100, 'Invalid parameter', {
						details: `Template ${name} (${language}) is ${category}: the Marketing Messages API sends MARKETING templates only; use /messages.`,
					}),
					...extra,
				},
			};
		}
		if (bsuid !== undefined && category === 'AUTHENTICATION') {
			return {
				answer: {
					...whatsappError(
						ctx,
						131062,
						'Authentication templates cannot be sent to a business-scoped user ID; send them to the phone number.',
					),
					...extra,
				},
			};
		}
		template = { name, language, category };
	}

	const window = state.windowFor(phoneNumberId, waId);
	const windowOpen = isWindowOpen(window, now);
	const isMarketing = template?.category === 'MARKETING';

	// Policy failures Meta reports on the request only when asked to (policyErrors: 'sync').
	let failure: MessageFailure | undefined;
	const forced = state.faults.recipientFailures[waId];
	if (forced !== undefined)
		failure = { code: forced, reason: `forced failure for ${waId} (fault recipientFailures)` };
	else if (unreachable) failure = { code: 131026, reason: `${to} is not a WhatsApp phone number.` };
	else if (type !== 'template' && !windowOpen) {
		failure = {
			code: 131047,
			reason: window
				? `The customer last wrote at ${new Date(window.lastInboundAt).toISOString()}: more than 24 hours ago.`
				: 'The customer has never written to this business number.',
		};
	} else if (isMarketing && state.optedOut.has(waId)) {
		failure = {
			code: 131050,
			reason: 'The user has stopped marketing messages from this business.',
		};
	} else if (isMarketing && e164 !== undefined && isUsNumber(e164)) {
		failure = {
			code: 131049,
			reason: 'Marketing template messages to US phone numbers are not delivered.',
		};
	}
	if (
		failure &&
		config.policyErrors === 'sync' &&
		forced === undefined &&
		failure.code !== 131026
	) {
		return { answer: { ...whatsappError(ctx, failure.code, failure.reason), ...extra } };
	}

	// Limits: throughput per business number, then the pair rate per recipient.
	const throughput = state.throughputFor(phoneNumberId);
	if (!throughput.allows(now)) {
		return {
			answer: {
				...whatsappError(
					ctx,
					130429,
					`Cloud API message throughput of ${config.mps} messages per second has been reached.`,
				),
				...extra,
			},
		};
	}
	const pairKey = `${phoneNumberId}:${waId}`;
	if (!state.pairRate.allows(pairKey, now)) {
		return {
			answer: {
				...whatsappError(
					ctx,
					131056,
					`Too many messages to ${waId}; retry in ${state.pairRate.waitMs(pairKey, now)} ms.`,
				),
				...extra,
			},
		};
	}
	throughput.record(now);
	state.pairRate.record(pairKey, now);

	// Accepted.
	const id = ctx.newWamid(waId);
	if (
		!failure &&
		window &&
		window.referralAt !== undefined &&
		window.freeEntryPointExpiresAt === undefined &&
		now - window.referralAt <= DAY_MS
	) {
		window.freeEntryPointExpiresAt = now + FREE_ENTRY_POINT_MS;
		window.freeEntryPointConversationId = ctx.rng.hex(16);
	}
	const message: AcceptedMessage = {
		id,
		phoneNumberId,
		endpoint,
		to,
		waId,
		type,
		acceptedAt: now,
		request: body,
		...(typeof messageBody.biz_opaque_callback_data === 'string'
			? { bizOpaqueCallbackData: messageBody.biz_opaque_callback_data }
			: {}),
		...(template ? { template } : {}),
		pricing: pricingFor(
			endpoint,
			template?.category,
			windowOpen,
			isFreeEntryPointOpen(window, now),
		),
		...(failure ? { failure } : {}),
		hung: false,
		statuses: [],
	};
	state.messages.set(id, message);
	// Journey rules: a template while the window is closed is business-initiated and counts toward the limit.
	if (!failure && type === 'template' && !windowOpen) state.businessInitiated.set(waId, now);
	state.messageLog.push({ id });
	dismissTypingIndicator(ctx, phoneNumberId, waId, now);
	scheduleStatuses(ctx, message);

	return {
		message,
		answer: ok(
			{
				messaging_product: 'whatsapp',
				contacts: [contactOf(ctx, to, waId)],
				messages: [{ id, message_status: 'accepted' }],
			},
			{ ...extra, messageId: id },
		),
	};
}

/** Per-message pricing as Meta reports it since July 2025 (PMP). */
export function pricingFor(
	endpoint: 'messages' | 'marketing_messages',
	templateCategory: string | undefined,
	serviceWindowOpen: boolean,
	freeEntryPoint: boolean,
): Pricing {
	const category: Pricing['category'] =
		templateCategory === undefined
			? 'service'
			: templateCategory === 'MARKETING'
				? endpoint === 'marketing_messages'
					? 'marketing_lite'
					: 'marketing'
				: templateCategory === 'AUTHENTICATION'
					? 'authentication'
					: 'utility';
	if (freeEntryPoint)
		return { billable: false, pricing_model: 'PMP', type: 'free_entry_point', category };
	if (category === 'service' || (category === 'utility' && serviceWindowOpen)) {
		return { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category };
	}
	return { billable: true, pricing_model: 'PMP', type: 'regular', category };
}

function markAsRead(ctx: SandboxContext, phoneNumberId: string, body: Json): ApiAnswer {
	const parsed = markAsReadRequestSchema.safeParse(body);
	if (!parsed.success)
		return graphError(ctx, 100, 'Invalid parameter', { details: describeZodError(parsed.error) });
	const messageId = parsed.data.message_id;
	const inbound = ctx.state.inbound.get(messageId);
	if (!inbound || inbound.phoneNumberId !== phoneNumberId) {
		return graphError(ctx, 100, 'Invalid parameter', {
			details: `message_id ${messageId} is not a message received by this business number.`,
		});
	}
	const now = ctx.config.now();
	inbound.readAt ??= now;
	if (parsed.data.typing_indicator) {
		inbound.typingIndicatorAt = now;
		delete inbound.typingDismissedAt;
		ctx.state.typingIndicators.set(`${phoneNumberId}|${inbound.from}`, inbound);
	}
	return ok({ success: true }, { phoneNumberId, messageId });
}

/** Meta dismisses a typing indicator when the business replies (or after 25 s, which the view computes). */
function dismissTypingIndicator(
	ctx: SandboxContext,
	phoneNumberId: string,
	waId: string,
	now: number,
): void {
	const key = `${phoneNumberId}|${waId}`;
	const record = ctx.state.typingIndicators.get(key);
	if (!record) return;
	ctx.state.typingIndicators.delete(key);
	if (
		record.typingIndicatorAt !== undefined &&
		now < record.typingIndicatorAt + TYPING_INDICATOR_MS
	)
		record.typingDismissedAt = now;
}

/** https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/ */
export const TYPING_INDICATOR_MS = 25_000;

/** sent → delivered → read (or failed) status webhooks, `statusDelayMs` apart. */
function scheduleStatuses(ctx: SandboxContext, message: AcceptedMessage): void {
	const delay = ctx.config.statusDelayMs;
	if (message.failure) {
		ctx.tracker.later(delay, () => emitStatus(ctx, message, 'failed'));
		return;
	}
	ctx.tracker.later(delay, () => {
		emitStatus(ctx, message, 'sent');
		ctx.tracker.later(delay, () => {
			emitStatus(ctx, message, 'delivered');
			if (ctx.config.readRatio >= 1 || ctx.rng.next() < ctx.config.readRatio) {
				ctx.tracker.later(delay, () => emitStatus(ctx, message, 'read'));
			}
		});
	});
}

function webhookVersionBefore(version: string, major: number): boolean {
	const parsed = Number(version.slice(1).split('.')[0]);
	return Number.isFinite(parsed) && parsed < major;
}

export function buildStatus(
	ctx: SandboxContext,
	message: AcceptedMessage,
	status: 'sent' | 'delivered' | 'read' | 'failed',
): Record<string, unknown> {
	const nowSeconds = Math.floor(ctx.config.now() / 1000);
	// A customer with a BSUID (Meta's BSUID guide, status messages webhooks): recipient_user_id only for a message sent
	// to the BSUID, recipient_id left out when Meta withholds the number; both ids in the value's contacts (statusContact).
	const user = userOf(ctx, message.waId);
	const out: Record<string, unknown> = {
		id: message.id,
		status,
		timestamp: String(nowSeconds),
		...(user?.hidePhone || user?.bsuid === message.waId ? {} : { recipient_id: message.waId }),
		...(user && isBsuid(message.to) ? { recipient_user_id: user.bsuid } : {}),
	};
	if (message.bizOpaqueCallbackData !== undefined)
		out.biz_opaque_callback_data = message.bizOpaqueCallbackData;
	if (status === 'failed') {
		const failure = message.failure ?? { code: 131000, reason: 'unknown failure' };
		const info = describeMetaError(failure.code);
		out.errors = [
			{
				code: failure.code,
				title: info.title,
				message: info.title,
				error_data: { details: failure.reason },
				href: ERROR_CODES_HREF,
			},
		];
		return out;
	}
	const window = ctx.state.windowFor(message.phoneNumberId, message.waId);
	const freeEntryPoint = message.pricing.type === 'free_entry_point';
	// From v24.0 `conversation` is only sent inside a free entry point window.
	if (freeEntryPoint || webhookVersionBefore(ctx.config.webhookVersion, 24)) {
		const conversation: Record<string, unknown> = {
			id:
				freeEntryPoint && window?.freeEntryPointConversationId
					? window.freeEntryPointConversationId
					: message.id.slice(-32),
			origin: { type: freeEntryPoint ? 'referral_conversion' : message.pricing.category },
		};
		if (status === 'sent') {
			const expires =
				freeEntryPoint && window?.freeEntryPointExpiresAt
					? window.freeEntryPointExpiresAt
					: message.acceptedAt + DAY_MS;
			conversation.expiration_timestamp = String(Math.floor(expires / 1000));
		}
		out.conversation = conversation;
	}
	out.pricing = { ...message.pricing };
	return out;
}

/**
 * The recipient's entry in a status value's contacts: Meta sends it for sent, delivered and read (not failed) statuses,
 * with the BSUID and the number (empty when withheld); a customer without a BSUID gets none here, as before 2026.
 */
export function statusContact(
	ctx: SandboxContext,
	message: AcceptedMessage,
	status: 'sent' | 'delivered' | 'read' | 'failed',
): WhatsAppContact | undefined {
	const user = userOf(ctx, message.waId);
	if (!user || status === 'failed') return undefined;
	const shown = !user.hidePhone && user.bsuid !== message.waId;
	return {
		profile: {
			name: ctx.state.windowFor(message.phoneNumberId, message.waId)?.profileName ?? '',
			...(user.username && status !== 'sent' ? { username: user.username } : {}),
		},
		wa_id: shown ? message.waId : '',
		user_id: user.bsuid,
	};
}

function emitStatus(
	ctx: SandboxContext,
	message: AcceptedMessage,
	status: 'sent' | 'delivered' | 'read' | 'failed',
): void {
	message.statuses.push(status);
	const contact = statusContact(ctx, message, status);
	ctx.webhooks.emit({
		kind: 'status',
		phoneNumberId: message.phoneNumberId,
		status: buildStatus(ctx, message, status),
		...(contact ? { contact } : {}),
	});
}
