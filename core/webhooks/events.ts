/**
 * Normalised webhook events: one flat object per thing that happened, named in Meta's words, with
 * ISO timestamps, the business number and WABA on every event, and a stable `eventId` for
 * de-duplicating Meta's retries.
 */
import type { describeMetaError } from '../errors';
import type { TrackingData } from '../tracking';
import type { StatusName } from './status';

type ErrorDescription = ReturnType<typeof describeMetaError>;

/** A Meta error as received in a webhook, with our catalogue's reading of its code. */
export interface WebhookErrorDetail {
	code: number;
	/** Meta's title when it sent one, else the catalogue's. */
	title: string;
	message?: string;
	details?: string;
	href?: string;
	meaning: ErrorDescription['meaning'];
	category: ErrorDescription['category'];
	retryable: ErrorDescription['retryable'];
	retry: ErrorDescription['retry'];
	action: ErrorDescription['action'];
}

interface BusinessNumber {
	phoneNumberId: string;
	displayPhoneNumber: string;
	wabaId: string;
}

export interface StatusEvent extends BusinessNumber {
	kind: 'status';
	/** `status:<wamid>:<status>` — the same status of the same message is the same event. */
	eventId: string;
	messageId: string;
	status: StatusName;
	/** The customer's wa_id (or the group id for group messages); their BSUID when Meta sends no phone number. */
	recipientId: string;
	/** The customer's business-scoped user id (BSUID), when Meta sends one. */
	recipientUserId?: string;
	/** The customer's parent BSUID ("US.ENT.…"), when the portfolio is enrolled in parent BSUIDs. */
	recipientParentUserId?: string;
	timestamp: string;
	timestampUnix: number;
	/** Present before v24.0 and, from v24.0, only inside a free entry point window. */
	conversation?: { id?: string; expiresAt?: string; originType?: string };
	pricing?: { billable?: boolean; pricingModel?: string; type?: string; category?: string };
	errors?: WebhookErrorDetail[];
	/** Decoded `biz_opaque_callback_data`: which journey sent this message. */
	tracking?: TrackingData;
	bizOpaqueCallbackData?: string;
	raw?: unknown;
}

export interface InboundMedia {
	type: 'image' | 'video' | 'audio' | 'document' | 'sticker';
	id: string;
	mimeType?: string;
	sha256?: string;
	caption?: string;
	filename?: string;
	/** Audio recorded in WhatsApp as a voice note. */
	voice?: boolean;
	animated?: boolean;
	url?: string;
}

export interface InboundReferral {
	sourceUrl?: string;
	sourceType?: string;
	sourceId?: string;
	headline?: string;
	body?: string;
	mediaType?: string;
	imageUrl?: string;
	videoUrl?: string;
	thumbnailUrl?: string;
	/** Click-to-WhatsApp click id (absent for WhatsApp Status ad placements). */
	ctwaClid?: string;
	welcomeMessageText?: string;
}

export interface InboundMessage extends BusinessNumber {
	kind: 'message';
	/** `message:<wamid>` */
	eventId: string;
	messageId: string;
	/**
	 * The customer's wa_id (phone number) — or, for a customer whose number Meta withholds (usernames,
	 * 2026), their BSUID, which is what you reply to then.
	 */
	from: string;
	/** The customer's business-scoped user id (BSUID), when Meta sends one. */
	userId?: string;
	/** The customer's parent BSUID ("US.ENT.…"), when the portfolio is enrolled in parent BSUIDs. */
	parentUserId?: string;
	username?: string;
	profileName?: string;
	timestamp: string;
	timestampUnix: number;
	/** Meta's message type as sent (`text`, `button`, `interactive`, `image`, ..., `unsupported`, or one we have not met). */
	type: string;
	text?: string;
	/** A quick-reply button of a template was tapped. */
	button?: { payload?: string; text?: string };
	/** A reply button or list row of an interactive message, or a Flow's response (`nfm_reply`). */
	interactive?: {
		type: string;
		id?: string;
		title?: string;
		description?: string;
		flowResponseJson?: string;
	};
	media?: InboundMedia;
	location?: { latitude: number; longitude: number; name?: string; address?: string; url?: string };
	/** `emoji` absent means the customer removed their reaction. */
	reaction?: { messageId: string; emoji?: string };
	/** Present when the customer came from a Click-to-WhatsApp ad or Page CTA: opens a free entry point. */
	referral?: InboundReferral;
	/** The message this one replies to (or `forwarded` flags). */
	context?: {
		messageId?: string;
		from?: string;
		forwarded?: boolean;
		frequentlyForwarded?: boolean;
		referredProduct?: { catalogId?: string; productRetailerId?: string };
	};
	contacts?: unknown[];
	order?: Record<string, unknown>;
	/**
	 * A system message: `user_changed_number` (the new number in `waId`/`newWaId`) or `user_changed_user_id` (the
	 * customer's business-scoped user id changed: the new one in `userId`; no phone number is included).
	 */
	system?: { type?: string; body?: string; waId?: string; newWaId?: string; userId?: string };
	/** For `unsupported` messages: why Meta could not pass the content on. */
	errors?: WebhookErrorDetail[];
	raw?: unknown;
}

interface TemplateRef {
	wabaId: string;
	templateId: string;
	templateName: string;
	language: string;
	/** From the entry's `time`, when Meta sent one. */
	timestamp?: string;
	timestampUnix?: number;
	raw?: unknown;
}

export interface TemplateStatusUpdate extends TemplateRef {
	kind: 'template_status';
	eventId: string;
	/** APPROVED, REJECTED, PENDING, PAUSED, DISABLED, ARCHIVED, UNARCHIVED, ... as Meta sends it. */
	event: string;
	reason?: string;
	category?: string;
	disableDate?: string | number;
	otherInfo?: { title?: string; description?: string };
	rejectionInfo?: { reason?: string; recommendation?: string };
}

export interface TemplateQualityUpdate extends TemplateRef {
	kind: 'template_quality';
	eventId: string;
	previousQualityScore?: string;
	newQualityScore: string;
}

export interface TemplateCategoryUpdate extends TemplateRef {
	kind: 'template_category';
	eventId: string;
	/** True for a notice of a change still to come (`correct_category` + `category_update_timestamp`). */
	impending: boolean;
	previousCategory?: string;
	newCategory: string;
	correctCategory?: string;
	categoryUpdateAt?: string;
}

export interface UserPreferenceUpdate extends BusinessNumber {
	kind: 'user_preference';
	eventId: string;
	/** The customer's wa_id, or their BSUID when Meta sends no phone number. */
	waId: string;
	userId?: string;
	profileName?: string;
	/** `marketing_messages` today. */
	category: string;
	value: 'stop' | 'resume';
	detail?: string;
	timestamp: string;
	timestampUnix: number;
	raw?: unknown;
}

/**
 * A customer's business-scoped user id (BSUID) changed (`user_id_update`; Meta makes a new one when the customer
 * changes their number). The store learns the change, so the old id still finds the customer.
 */
export interface UserIdUpdate extends BusinessNumber {
	kind: 'user_id_update';
	/** `user_id_update:<previous>:<current>` */
	eventId: string;
	previousUserId: string;
	userId: string;
	/** The customer's wa_id, when Meta may share it. */
	waId?: string;
	previousParentUserId?: string;
	parentUserId?: string;
	profileName?: string;
	detail?: string;
	timestamp: string;
	timestampUnix: number;
	raw?: unknown;
}

/**
 * A customer tapped a link in a marketing message sent through the Marketing Messages API (`user_actions`). Meta's
 * payload names neither the message nor the customer, so a click cannot be joined to a journey step here: the
 * `clickId` is also appended to the URL the customer opens, where a landing page can read it.
 */
export interface LinkClickEvent extends BusinessNumber {
	kind: 'link_click';
	/** `link_click:<click_id>`, or a digest of the action when Meta sent no click id. */
	eventId: string;
	/** `marketing_messages_link_click`, or `landing_page_view` (the page opened in WhatsApp's in-app browser). */
	actionType: string;
	/** Where the customer tapped: `cta` (the button) or `body`, lower case whatever case Meta used. */
	clickComponent?: string;
	clickId?: string;
	trackingToken?: string;
	/** The product, when one was assigned in Ads Manager or the Marketing API. */
	productId?: string;
	timestamp: string;
	timestampUnix: number;
	raw?: unknown;
}

/** An error Meta reports for the number or app rather than for one message (`value.errors`). */
export interface WebhookErrorEvent extends WebhookErrorDetail, BusinessNumber {
	kind: 'error';
	eventId: string;
	raw?: unknown;
}

/** What account events share: the WABA (entry id) and the entry's time. */
interface AccountRef {
	wabaId: string;
	timestamp?: string;
	timestampUnix?: number;
	raw?: unknown;
}

/**
 * The number's throughput or messaging limit changed (`phone_number_quality_update`); older payloads also carry
 * FLAGGED / UNFLAGGED (quality) and DOWNGRADE / UPGRADE (limit) events. Named by display number, not id, as Meta does.
 */
export interface PhoneNumberQualityUpdate extends AccountRef {
	kind: 'phone_number_quality';
	eventId: string;
	displayPhoneNumber: string;
	/** THROUGHPUT_UPGRADE, ONBOARDING, FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, … as Meta sends it. */
	event: string;
	currentLimit?: string;
	oldLimit?: string;
	/** The portfolio's limit tier (TIER_250, TIER_2K, …, TIER_UNLIMITED): the current field since October 2025. */
	maxDailyConversationsPerBusiness?: string;
}

/** The portfolio's or WABA's capabilities changed (`business_capability_update`). -1 means unlimited. */
export interface BusinessCapabilityUpdate extends AccountRef {
	kind: 'business_capability';
	eventId: string;
	maxDailyConversationsPerBusiness?: number;
	/** Before v24.0 webhooks (removed February 2026); the same portfolio limit. */
	maxDailyConversationPerPhone?: number;
	maxPhoneNumbersPerBusiness?: number;
	maxPhoneNumbersPerWaba?: number;
}

/** The number's display name review decided (`phone_number_name_update`). */
export interface PhoneNumberNameUpdate extends AccountRef {
	kind: 'phone_number_name';
	eventId: string;
	displayPhoneNumber: string;
	/** APPROVED, DEFERRED, PENDING, REJECTED, … */
	decision: string;
	requestedVerifiedName?: string;
	rejectionReason?: string;
}

/** Account lifecycle and policy events (`account_update`): violations, bans, restrictions, … */
export interface AccountUpdate extends AccountRef {
	kind: 'account_update';
	eventId: string;
	/** ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, DISABLED_UPDATE, VERIFIED_ACCOUNT, … as Meta sends it. */
	event: string;
	phoneNumber?: string;
	violationType?: string;
	banState?: string;
	banDate?: string;
	restrictions?: Array<{ type: string; expiration?: string }>;
}

export type WebhookEvent =
	| PhoneNumberQualityUpdate
	| BusinessCapabilityUpdate
	| PhoneNumberNameUpdate
	| AccountUpdate
	| StatusEvent
	| InboundMessage
	| TemplateStatusUpdate
	| TemplateQualityUpdate
	| TemplateCategoryUpdate
	| UserPreferenceUpdate
	| UserIdUpdate
	| LinkClickEvent
	| WebhookErrorEvent;

export type WebhookEventKind = WebhookEvent['kind'];
