import { z } from 'zod';
import type { TemplateDefinition } from '../core/templates';
import { BoundedLog } from './log';
import { PairRateLimiter, ThroughputWindow } from './limits';
import type { SandboxConfig, SandboxPhoneNumber } from './options';

/** Faults a test can switch on through `POST /__sandbox/faults` (fields merge into the current set). */
export const faultsSchema = z
	.object({
		/** Share of API requests answered with a 5xx (the message is NOT accepted). */
		serverErrorRatio: z.number().min(0).max(1),
		/** Meta code of those 5xx answers (131000 "Something went wrong" → 500, 2 "Service unavailable" → 503). */
		serverErrorCode: z.number().int(),
		/** Answer 130429 to the next N send requests ... */
		throttleRequests: z.number().int().nonnegative(),
		/** ... and/or to every send request for this many ms from now. */
		throttleForMs: z.number().int().nonnegative(),
		/** Accept and record the next N sends (statuses follow), but never answer the HTTP request. */
		acceptThenHang: z.number().int().nonnegative(),
		/** Share of webhook events delivered twice. */
		webhookDuplicateRatio: z.number().min(0).max(1),
		/** Deliver webhook events out of order (random hold-back, then shuffled batches). */
		webhookReorder: z.boolean(),
		/** Largest random hold-back used by `webhookReorder`. */
		webhookReorderWindowMs: z.number().int().nonnegative(),
		/** Extra delay before every webhook event is queued. */
		webhookDelayMs: z.number().int().nonnegative(),
		/** The next N webhook delivery attempts fail as if the network dropped them (they are retried). */
		webhookFailures: z.number().int().nonnegative(),
		/** wa_id → Meta code: messages to that user are accepted, then fail with that code (e.g. 131026). */
		recipientFailures: z.record(
			z.string().regex(/^\d+$/, 'keys are wa_ids (digits only)'),
			z.number().int(),
		),
	})
	.partial()
	.extend({ clear: z.boolean().optional() })
	.strict();
export type FaultsInput = z.infer<typeof faultsSchema>;

export interface Faults {
	serverErrorRatio: number;
	serverErrorCode: number;
	throttleRequests: number;
	throttleUntil: number;
	acceptThenHang: number;
	webhookDuplicateRatio: number;
	webhookReorder: boolean;
	webhookReorderWindowMs: number;
	webhookDelayMs: number;
	webhookFailures: number;
	recipientFailures: Record<string, number>;
}

export function defaultFaults(): Faults {
	return {
		serverErrorRatio: 0,
		serverErrorCode: 131000,
		throttleRequests: 0,
		throttleUntil: 0,
		acceptThenHang: 0,
		webhookDuplicateRatio: 0,
		webhookReorder: false,
		webhookReorderWindowMs: 0,
		webhookDelayMs: 0,
		webhookFailures: 0,
		recipientFailures: {},
	};
}

export type PricingCategory =
	'marketing' | 'marketing_lite' | 'utility' | 'authentication' | 'service';
export type PricingType = 'regular' | 'free_customer_service' | 'free_entry_point';
export interface Pricing {
	billable: boolean;
	pricing_model: 'PMP';
	type: PricingType;
	category: PricingCategory;
}

export interface MessageFailure {
	code: number;
	reason: string;
}

/** A message the sandbox answered 200 to, with the request that carried it. */
export interface AcceptedMessage {
	id: string;
	phoneNumberId: string;
	endpoint: 'messages' | 'marketing_messages';
	to: string;
	waId: string;
	type: string;
	acceptedAt: number;
	request: unknown;
	bizOpaqueCallbackData?: string;
	template?: { name: string; language: string; category: string };
	pricing: Pricing;
	/** Set when the message was accepted but will fail (window, US marketing, opt-out, forced). */
	failure?: MessageFailure;
	/** Whether the HTTP answer was withheld (accept-then-hang fault). */
	hung: boolean;
	/** Statuses sent so far, in the order they were emitted. */
	statuses: string[];
}

/** Customer service window (and free entry point window) between one business number and one user. */
export interface ConversationWindow {
	phoneNumberId: string;
	waId: string;
	profileName?: string;
	lastInboundAt: number;
	expiresAt: number;
	/** Last inbound that came from a Click-to-WhatsApp ad / Page CTA (carried a referral). */
	referralAt?: number;
	/** Open free entry point window: set when the business answered within 24 h of the referral. */
	freeEntryPointExpiresAt?: number;
	freeEntryPointConversationId?: string;
}

export interface InboundRecord {
	id: string;
	phoneNumberId: string;
	from: string;
	timestamp: number;
	message: Record<string, unknown>;
	/** When the business marked it read (POST /messages with status "read"). */
	readAt?: number;
	/** Meta shows "typing…" from this moment until the reply is sent or 25 s pass, whichever comes first. */
	typingIndicatorAt?: number;
	/** The reply that dismissed the typing indicator was accepted at this moment. */
	typingDismissedAt?: number;
}

export interface RequestRecord {
	at: number;
	method: string;
	path: string;
	httpStatus: number;
	/** Meta error code when the answer was an error. */
	code?: number;
	phoneNumberId?: string;
	to?: string;
	messageId?: string;
}

export interface WebhookAttempt {
	at: number;
	deliveryId: number;
	attempt: number;
	url: string;
	fields: string[];
	events: number;
	/** HTTP status of the callback's answer; 0 when no answer (network error, simulated failure). */
	statusCode: number;
	ok: boolean;
	error?: string;
	signature: string;
	body: string;
}

export interface MediaRecord {
	id: string;
	phoneNumberId: string;
	mimeType: string;
	sha256: string;
	fileSize: number;
	filename?: string;
	data: Buffer;
	uploadedAt: number;
}

export interface CallbackOverride {
	uri: string;
	verifyToken: string;
}

/** What a new sandbox reports as its portfolio's messaging limit (Meta's tier after a scaling path). */
export const DEFAULT_MESSAGING_LIMIT_TIER = 'TIER_2K';
const BUSINESS_INITIATED_PERIOD_MS = 24 * 60 * 60 * 1000;

/** Unique business-initiated recipients in the rolling 24 h before `now` (older entries are dropped). */
export function businessInitiatedRecipients(seen: Map<string, number>, now: number): number {
	for (const [waId, at] of seen) if (at <= now - BUSINESS_INITIATED_PERIOD_MS) seen.delete(waId);
	return seen.size;
}

/** A customer known by a business-scoped user id (see SandboxState.users). */
export interface SandboxUser {
	bsuid: string;
	waId?: string;
	username?: string;
	/** Meta omits the number from webhooks (`from`, `wa_id`, `recipient_id`) for this customer. */
	hidePhone: boolean;
}

/** Everything the sandbox remembers. In memory only; `reset()` returns it to the start. */
export class SandboxState {
	readonly phoneNumbers = new Map<string, SandboxPhoneNumber>();
	templates: TemplateDefinition[] = [];
	/** name → language → definition, for O(1) lookup on every send. */
	private templateIndex = new Map<string, Map<string, TemplateDefinition>>();
	readonly messages = new Map<string, AcceptedMessage>();
	readonly messageLog: BoundedLog<{ id: string }>;
	readonly inbound = new Map<string, InboundRecord>();
	/** `phoneNumberId|waId` → the inbound message whose typing indicator the next reply dismisses. */
	readonly typingIndicators = new Map<string, InboundRecord>();
	readonly windows = new Map<string, ConversationWindow>();
	readonly optedOut = new Set<string>();
	/**
	 * Customers with a business-scoped user id (BSUID), by BSUID: their number (when the sandbox knows it) and whether
	 * Meta withholds it in webhooks (a username customer). `bsuidOf` finds a number's BSUID.
	 */
	readonly users = new Map<string, SandboxUser>();
	readonly bsuidOf = new Map<string, string>();
	readonly requests: BoundedLog<RequestRecord>;
	readonly webhooks: BoundedLog<WebhookAttempt>;
	readonly media = new Map<string, MediaRecord>();
	readonly phoneOverrides = new Map<string, CallbackOverride>();
	wabaOverride: CallbackOverride | undefined;
	appSubscribed = true;
	faults: Faults = defaultFaults();
	readonly throughput = new Map<string, ThroughputWindow>();
	pairRate: PairRateLimiter;
	/** `to` as sent → wa_id / E.164 (see send.ts). */
	readonly recipientCache = new Map<
		string,
		{ waId: string; e164?: string; refusal?: string; unreachable?: boolean }
	>();
	/** Events that had nowhere to go (no callback URL configured). */
	undeliverableEvents = 0;
	/**
	 * Journey rules: the portfolio's messaging limit tier (shared by every number since October 2025), and the
	 * recipients of templates sent while their window was closed (wa_id → last such send), which it limits per
	 * rolling 24 h. Meta documents no error for a send past the limit, so the sandbox counts without refusing.
	 */
	messagingLimitTier = DEFAULT_MESSAGING_LIMIT_TIER;
	readonly businessInitiated = new Map<string, number>();

	constructor(
		private readonly config: SandboxConfig,
		private readonly initialTemplates: TemplateDefinition[],
	) {
		// Messages live as long as their log entry, so memory stays bounded on long benchmarks.
		this.messageLog = new BoundedLog(config.maxLogEntries, (dropped) => {
			for (const entry of dropped) this.messages.delete(entry.id);
		});
		this.requests = new BoundedLog(config.maxLogEntries);
		this.webhooks = new BoundedLog(config.maxLogEntries);
		this.pairRate = new PairRateLimiter(config.pairRateMs, config.pairBurst);
		this.phoneNumbers.set(config.phoneNumberId, {
			id: config.phoneNumberId,
			displayPhoneNumber: config.displayPhoneNumber,
			verifiedName: config.verifiedName,
			qualityRating: 'GREEN',
		});
		for (const extra of config.extraPhoneNumbers) this.phoneNumbers.set(extra.id, { ...extra });
		this.setTemplates(initialTemplates);
	}

	reset(): void {
		this.setTemplates(this.initialTemplates);
		this.messages.clear();
		this.messageLog.clear();
		this.inbound.clear();
		this.typingIndicators.clear();
		this.windows.clear();
		this.optedOut.clear();
		this.users.clear();
		this.bsuidOf.clear();
		this.requests.clear();
		this.webhooks.clear();
		this.recipientCache.clear();
		this.media.clear();
		this.phoneOverrides.clear();
		this.wabaOverride = undefined;
		this.appSubscribed = true;
		this.faults = defaultFaults();
		this.throughput.clear();
		this.pairRate = new PairRateLimiter(this.config.pairRateMs, this.config.pairBurst);
		this.undeliverableEvents = 0;
		this.messagingLimitTier = DEFAULT_MESSAGING_LIMIT_TIER;
		this.businessInitiated.clear();
		// Quality ratings changed through the control API go back to what the sandbox started with.
		this.phoneNumbers.get(this.config.phoneNumberId)!.qualityRating = 'GREEN';
		for (const extra of this.config.extraPhoneNumbers)
			this.phoneNumbers.get(extra.id)!.qualityRating = extra.qualityRating;
	}

	setTemplates(templates: TemplateDefinition[]): void {
		this.templates = [];
		this.templateIndex = new Map();
		for (const template of templates) this.upsertTemplate(template);
	}

	/** Adds a template or replaces the one with the same id, or else the same name and language. */
	upsertTemplate(template: TemplateDefinition): TemplateDefinition {
		const existingIndex = this.templates.findIndex(
			(t) =>
				(template.id !== undefined && t.id === template.id) ||
				(t.name === template.name && t.language === template.language),
		);
		if (existingIndex >= 0) {
			const previous = this.templates[existingIndex];
			this.templateIndex.get(previous.name)?.delete(previous.language);
			this.templates[existingIndex] = template;
		} else {
			this.templates.push(template);
		}
		let byLanguage = this.templateIndex.get(template.name);
		if (!byLanguage) {
			byLanguage = new Map();
			this.templateIndex.set(template.name, byLanguage);
		}
		byLanguage.set(template.language, template);
		return template;
	}

	findTemplate(name: string, language: string): TemplateDefinition | undefined {
		return this.templateIndex.get(name)?.get(language);
	}

	throughputFor(phoneNumberId: string): ThroughputWindow {
		let window = this.throughput.get(phoneNumberId);
		if (!window) {
			window = new ThroughputWindow(this.config.mps);
			this.throughput.set(phoneNumberId, window);
		}
		return window;
	}

	windowFor(phoneNumberId: string, waId: string): ConversationWindow | undefined {
		return this.windows.get(`${phoneNumberId}:${waId}`);
	}

	setWindow(window: ConversationWindow): void {
		this.windows.set(`${window.phoneNumberId}:${window.waId}`, window);
	}

	/** Records a customer's BSUID (and number); the sandbox keys them by their number when it has one, as Meta knows it. */
	setUser(user: SandboxUser): void {
		const old = this.users.get(user.bsuid);
		if (old?.waId && old.waId !== user.waId) this.bsuidOf.delete(old.waId);
		this.users.set(user.bsuid, user);
		if (user.waId) this.bsuidOf.set(user.waId, user.bsuid);
	}

	/** The sandbox's key of a customer a send names by BSUID: their number when known, else the BSUID. */
	customerOfBsuid(bsuid: string): string {
		return this.users.get(bsuid)?.waId ?? bsuid;
	}
}
