/**
 * Turns a webhook body into flat `WebhookEvent`s. Never throws: items that do not fit their
 * schema are skipped and reported through `onInvalid`, unknown fields and status values are
 * skipped, unknown message types pass through with their `type`.
 */
import { createHash } from 'node:crypto';
import { describeMetaError } from '../errors';
import { decodeTracking } from '../tracking';
import type {
	AccountUpdate,
	BusinessCapabilityUpdate,
	PhoneNumberNameUpdate,
	PhoneNumberQualityUpdate,
	LinkClickEvent,
	InboundMessage,
	StatusEvent,
	TemplateCategoryUpdate,
	TemplateQualityUpdate,
	TemplateStatusUpdate,
	UserPreferenceUpdate,
	UserIdUpdate,
	WebhookErrorDetail,
	WebhookErrorEvent,
	WebhookEvent,
} from './events';
import {
	accountUpdateValueSchema,
	businessCapabilityUpdateValueSchema,
	phoneNumberNameUpdateValueSchema,
	phoneNumberQualityUpdateValueSchema,
	type MessagesValue,
	type MetaInboundMessage,
	type MetaStatus,
	type MetaUserAction,
	type MetaWebhookError,
	type UserPreferencesValue,
	templateCategoryUpdateValueSchema,
	templateQualityUpdateValueSchema,
	templateStatusUpdateValueSchema,
	userPreferencesValueSchema,
	userIdUpdateValueSchema,
	type UserIdUpdateValue,
	messagesValueShellSchema,
	parseStatuses,
	fastMessagesShell,
	parseEnvelope,
} from './schema';
import { isStatusName } from './status';

export interface NormalizeOptions {
	/** Keep only events of this business number (WABA-level template events are kept: they belong to no number). */
	phoneNumberId?: string;
	/** Attach the Meta object each event came from as `raw`. */
	includeRaw?: boolean;
	/** Told about each part of the body that was skipped as malformed (for logging). */
	onInvalid?: (problem: { field: string; reason: string }) => void;
}

interface Context {
	wabaId: string;
	entryTime?: number;
	phoneNumberId: string;
	displayPhoneNumber: string;
}

const MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;

function iso(unixSeconds: number): string {
	return new Date(unixSeconds * 1000).toISOString();
}

/**
 * Short content hash, for event ids of things Meta gives no id to. Callers pass only the fields
 * they know, never raw input: unknown, deeply nested data must not be serialised.
 */
function digest(parts: Array<string | number | undefined>): string {
	return createHash('sha256')
		.update(parts.map((p) => (p === undefined ? '' : String(p))).join('\u0000'))
		.digest('hex')
		.slice(0, 16);
}

/** Drops keys whose value is undefined, so events compare and serialise cleanly. */
function compact<T extends object>(o: T): T {
	for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
	return o;
}

export function describeWebhookError(e: MetaWebhookError): WebhookErrorDetail {
	const d = describeMetaError(e.code);
	return compact({
		code: e.code,
		title: e.title ?? d.title,
		message: e.message,
		details: e.error_data?.details,
		href: e.href,
		meaning: d.meaning,
		category: d.category,
		retryable: d.retryable,
		retry: d.retry,
		action: d.action,
	});
}

function describeErrors(
	list: Array<MetaWebhookError | null> | undefined,
): WebhookErrorDetail[] | undefined {
	const errors = (list ?? [])
		.filter((e): e is MetaWebhookError => e !== null)
		.map(describeWebhookError);
	return errors.length ? errors : undefined;
}

function businessNumber(ctx: Context) {
	return {
		phoneNumberId: ctx.phoneNumberId,
		displayPhoneNumber: ctx.displayPhoneNumber,
		wabaId: ctx.wabaId,
	};
}

function toStatusEvent(
	s: MetaStatus,
	ctx: Context,
	includeRaw: boolean,
	recipients?: Recipients,
): StatusEvent | undefined {
	if (!isStatusName(s.status)) return undefined;
	// The value's contacts name the recipient with both ids (sent, delivered, read): a status of a message sent to the
	// number has no recipient_user_id, so the contact entry is where its BSUID comes from.
	const contact =
		recipients &&
		((s.recipient_id ? recipients.byWaId.get(s.recipient_id) : undefined) ??
			(s.recipient_user_id ? recipients.byUserId.get(s.recipient_user_id) : undefined));
	const conv = s.conversation;
	const conversation =
		conv &&
		compact({
			id: conv.id,
			expiresAt:
				conv.expiration_timestamp !== undefined ? iso(conv.expiration_timestamp) : undefined,
			originType: conv.origin?.type,
		});
	const p = s.pricing;
	const pricing =
		p &&
		compact({
			billable: p.billable,
			pricingModel: p.pricing_model,
			type: p.type,
			category: p.category,
		});
	return compact<StatusEvent>({
		kind: 'status',
		eventId: `status:${s.id}:${s.status}`,
		messageId: s.id,
		status: s.status,
		recipientId: s.recipient_id || s.recipient_user_id || '',
		recipientUserId: s.recipient_user_id || contact?.userId || undefined,
		recipientParentUserId: s.recipient_parent_user_id || contact?.parentUserId || undefined,
		timestamp: iso(s.timestamp),
		timestampUnix: s.timestamp,
		...businessNumber(ctx),
		conversation,
		pricing,
		errors: describeErrors(s.errors),
		tracking: decodeTracking(s.biz_opaque_callback_data),
		bizOpaqueCallbackData: s.biz_opaque_callback_data,
		raw: includeRaw ? s : undefined,
	});
}

/** A status value's contact entries by each id (matched by id only: a lone contact is not guessed to be anyone's). */
interface Recipients {
	byWaId: Map<string, Sender>;
	byUserId: Map<string, Sender>;
}

function recipientsOf(contacts: Sender[]): Recipients | undefined {
	if (contacts.length === 0) return undefined;
	const byWaId = new Map<string, Sender>();
	const byUserId = new Map<string, Sender>();
	for (const c of contacts) {
		if (c.waId) byWaId.set(c.waId, c);
		if (c.userId) byUserId.set(c.userId, c);
	}
	return { byWaId, byUserId };
}

interface Sender {
	waId?: string;
	userId?: string;
	parentUserId?: string;
	name?: string;
	username?: string;
}

/**
 * Who wrote: the message's `from` / `from_user_id`, completed from the matching contact entry
 * (or the only one). Undefined when nothing identifies the sender.
 */
function senderOf(
	m: MetaInboundMessage,
	contacts: Sender[],
): (Sender & { from: string }) | undefined {
	const contact =
		contacts.find(
			(c) => (m.from && c.waId === m.from) || (m.from_user_id && c.userId === m.from_user_id),
		) ?? (contacts.length === 1 ? contacts[0] : undefined);
	// `||`, not `??`: an empty string identifies nobody.
	const waId = m.from || contact?.waId || undefined;
	const userId = m.from_user_id || contact?.userId || undefined;
	const parentUserId = m.from_parent_user_id || contact?.parentUserId || undefined;
	const from = waId || userId;
	if (!from) return undefined;
	return {
		from,
		waId,
		userId,
		parentUserId,
		name: contact?.name,
		username: contact?.username,
	};
}

function toInboundMessage(
	m: MetaInboundMessage,
	sender: Sender & { from: string },
	ctx: Context,
	includeRaw: boolean,
): InboundMessage {
	const mediaType = MEDIA_TYPES.find((t) => t === m.type && m[t]) ?? MEDIA_TYPES.find((t) => m[t]);
	const media = mediaType ? m[mediaType] : undefined;
	const ia = m.interactive;
	const reply = ia?.button_reply ?? ia?.list_reply;
	const r = m.referral;
	const c = m.context;
	return compact<InboundMessage>({
		kind: 'message',
		eventId: `message:${m.id}`,
		messageId: m.id,
		from: sender.from,
		userId: sender.userId,
		parentUserId: sender.parentUserId,
		username: sender.username,
		profileName: sender.name,
		timestamp: iso(m.timestamp),
		timestampUnix: m.timestamp,
		type: m.type,
		...businessNumber(ctx),
		text: m.text?.body,
		button: m.button && compact({ payload: m.button.payload, text: m.button.text }),
		interactive:
			ia &&
			compact({
				type: ia.type,
				id: reply?.id ?? ia.nfm_reply?.name,
				title: reply?.title ?? ia.nfm_reply?.body,
				description: ia.list_reply?.description,
				flowResponseJson: ia.nfm_reply?.response_json,
			}),
		media:
			mediaType && media
				? compact({
						type: mediaType,
						id: media.id,
						mimeType: media.mime_type,
						sha256: media.sha256,
						caption: media.caption,
						filename: media.filename,
						voice: media.voice,
						animated: media.animated,
						url: media.url,
					})
				: undefined,
		location:
			m.location &&
			compact({
				latitude: m.location.latitude,
				longitude: m.location.longitude,
				name: m.location.name,
				address: m.location.address,
				url: m.location.url,
			}),
		reaction:
			m.reaction &&
			compact({ messageId: m.reaction.message_id, emoji: m.reaction.emoji || undefined }),
		referral:
			r &&
			compact({
				sourceUrl: r.source_url,
				sourceType: r.source_type,
				sourceId: r.source_id,
				headline: r.headline,
				body: r.body,
				mediaType: r.media_type,
				imageUrl: r.image_url,
				videoUrl: r.video_url,
				thumbnailUrl: r.thumbnail_url,
				ctwaClid: r.ctwa_clid,
				welcomeMessageText: r.welcome_message?.text,
			}),
		context:
			c &&
			compact({
				messageId: c.id,
				from: c.from,
				forwarded: c.forwarded,
				frequentlyForwarded: c.frequently_forwarded,
				referredProduct:
					c.referred_product &&
					compact({
						catalogId: c.referred_product.catalog_id,
						productRetailerId: c.referred_product.product_retailer_id,
					}),
			}),
		contacts: m.contacts,
		order: m.order,
		system:
			m.system &&
			compact({
				type: m.system.type,
				body: m.system.body,
				waId: m.system.wa_id,
				newWaId: m.system.new_wa_id,
				userId: m.system.user_id,
			}),
		errors: describeErrors(m.errors),
		raw: includeRaw ? m : undefined,
	});
}

function sendersOf(list: UserPreferencesValue['contacts'] | MessagesValue['contacts']): Sender[] {
	return (list ?? [])
		.filter((c): c is NonNullable<typeof c> => c !== null && Boolean(c.wa_id || c.user_id))
		.map((c) => ({
			waId: c.wa_id,
			userId: c.user_id,
			parentUserId: c.parent_user_id,
			name: c.profile?.name,
			username: c.profile?.username,
		}));
}

function countSkipped(
	items: unknown[] | undefined,
	field: string,
	what: string,
	opts: NormalizeOptions,
): void {
	const skipped = (items ?? []).filter((i) => i === null).length;
	if (skipped) opts.onInvalid?.({ field, reason: `${skipped} malformed ${what} skipped` });
}

function fromMessages(
	value: MessagesValue,
	ctx: Context,
	opts: NormalizeOptions,
	out: WebhookEvent[],
): void {
	const includeRaw = opts.includeRaw === true;
	const contacts = sendersOf(value.contacts);
	for (const m of value.messages ?? []) {
		if (!m) continue;
		// Meta's user_changed_user_id system message names no sender and has no contacts: the customer is the new BSUID.
		const changed = m.type === 'system' ? m.system?.user_id : undefined;
		const sender =
			senderOf(m, contacts) ?? (changed ? { from: changed, userId: changed } : undefined);
		if (sender) out.push(toInboundMessage(m, sender, ctx, includeRaw));
		else
			opts.onInvalid?.({
				field: 'messages',
				reason: `message ${m.id} names no sender (no from, no contact); skipped`,
			});
	}
	const recipients = value.statuses?.length ? recipientsOf(contacts) : undefined;
	for (const s of value.statuses ?? []) {
		if (!s) continue;
		const ev = toStatusEvent(s, ctx, includeRaw, recipients);
		if (ev) out.push(ev);
		else
			opts.onInvalid?.({
				field: 'messages',
				reason: `status '${s.status}' of ${s.id} is not one we know; skipped`,
			});
	}
	for (const e of value.errors ?? []) {
		if (!e) continue;
		out.push(
			compact<WebhookErrorEvent>({
				kind: 'error',
				eventId: `error:${ctx.phoneNumberId}:${e.code}:${digest([ctx.entryTime, e.title, e.message, e.error_data?.details, e.href])}`,
				...describeWebhookError(e),
				...businessNumber(ctx),
				raw: includeRaw ? e : undefined,
			}),
		);
	}
	for (const a of value.user_actions ?? []) {
		if (a) out.push(toLinkClick(a, ctx, includeRaw));
	}
	countSkipped(value.messages, 'messages', 'messages', opts);
	countSkipped(value.statuses, 'messages', 'statuses', opts);
	countSkipped(value.errors, 'messages', 'errors', opts);
	countSkipped(value.user_actions, 'messages', 'user actions', opts);
}

/**
 * One click id is one tap; a landing page view of the same tap is another event. A click without an id is known by
 * its number, action, time and tracking token.
 */
function linkClickEventId(a: MetaUserAction, ctx: Context): string {
	const data = a.marketing_messages_link_click_data;
	if (data?.click_id) return `link_click:${a.action_type}:${data.click_id}`;
	return `link_click:${digest([ctx.phoneNumberId, a.action_type, a.timestamp, data?.tracking_token])}`;
}

function toLinkClick(a: MetaUserAction, ctx: Context, includeRaw: boolean): LinkClickEvent {
	const data = a.marketing_messages_link_click_data;
	const clickId = data?.click_id;
	return compact<LinkClickEvent>({
		kind: 'link_click',
		eventId: linkClickEventId(a, ctx),
		...businessNumber(ctx),
		actionType: a.action_type,
		clickComponent: data?.click_component?.toLowerCase(),
		clickId,
		trackingToken: data?.tracking_token,
		productId: data?.product_id,
		timestamp: iso(a.timestamp),
		timestampUnix: a.timestamp,
		raw: includeRaw ? a : undefined,
	});
}

function fromUserPreferences(
	value: UserPreferencesValue,
	ctx: Context,
	opts: NormalizeOptions,
	out: WebhookEvent[],
): void {
	const contacts = sendersOf(value.contacts);
	for (const p of value.user_preferences) {
		if (!p) continue;
		const waId = (p.wa_id || p.user_id)!;
		const contact = contacts.find(
			(c) => (p.wa_id && c.waId === p.wa_id) || (p.user_id && c.userId === p.user_id),
		);
		if (p.value !== 'stop' && p.value !== 'resume') {
			opts.onInvalid?.({
				field: 'user_preferences',
				reason: `preference value '${p.value}' is not stop/resume; skipped`,
			});
			continue;
		}
		out.push(
			compact<UserPreferenceUpdate>({
				kind: 'user_preference',
				eventId: `user_preference:${waId}:${p.category}:${p.value}:${p.timestamp}`,
				waId,
				userId: p.user_id,
				profileName: contact?.name,
				category: p.category,
				value: p.value,
				detail: p.detail,
				timestamp: iso(p.timestamp),
				timestampUnix: p.timestamp,
				...businessNumber(ctx),
				raw: opts.includeRaw ? p : undefined,
			}),
		);
	}
	countSkipped(value.user_preferences, 'user_preferences', 'preferences', opts);
}

function fromUserIdUpdates(
	value: UserIdUpdateValue,
	ctx: Context,
	opts: NormalizeOptions,
	out: WebhookEvent[],
): void {
	const contacts = sendersOf(value.contacts);
	for (const u of value.user_id_update) {
		if (!u) continue;
		const contact = contacts.find(
			(c) =>
				(u.wa_id && c.waId === u.wa_id) ||
				(c.userId !== undefined && c.userId === u.user_id.current),
		);
		out.push(
			compact<UserIdUpdate>({
				kind: 'user_id_update',
				eventId: `user_id_update:${u.user_id.previous}:${u.user_id.current}`,
				previousUserId: u.user_id.previous,
				userId: u.user_id.current,
				waId: u.wa_id || contact?.waId || undefined,
				previousParentUserId: u.parent_user_id?.previous,
				parentUserId: u.parent_user_id?.current,
				profileName: contact?.name,
				detail: u.detail,
				timestamp: iso(u.timestamp),
				timestampUnix: u.timestamp,
				...businessNumber(ctx),
				raw: opts.includeRaw ? u : undefined,
			}),
		);
	}
	countSkipped(value.user_id_update, 'user_id_update', 'updates', opts);
}

function templateRef(
	v: {
		message_template_id: string;
		message_template_name: string;
		message_template_language: string;
	},
	wabaId: string,
	entryTime: number | undefined,
) {
	return {
		wabaId,
		templateId: v.message_template_id,
		templateName: v.message_template_name,
		language: v.message_template_language,
		timestamp: entryTime !== undefined ? iso(entryTime) : undefined,
		timestampUnix: entryTime,
	};
}

/** Template events carry no id of their own; the entry time (or the fields we read) tells repeats from new events. */
function templateEventSuffix(
	entryTime: number | undefined,
	fields: Array<string | number | undefined>,
): string {
	return entryTime !== undefined ? String(entryTime) : digest(fields);
}

/**
 * Flattens a webhook body into events, in the order Meta listed them (per change: messages,
 * then statuses, then errors). Accepts the result of `parseWebhookBody` or any parsed JSON.
 */
export function normalizeWebhook(body: unknown, opts: NormalizeOptions = {}): WebhookEvent[] {
	const envelope = parseEnvelope(body);
	if (!envelope.success) {
		opts.onInvalid?.({ field: 'body', reason: 'not a WhatsApp Business Account webhook body' });
		return [];
	}
	const out: WebhookEvent[] = [];
	for (const entry of envelope.data.entry) {
		const wabaId = entry.id;
		const entryTime = entry.time;
		for (const change of entry.changes) {
			const { field, value } = change;
			const raw = opts.includeRaw ? value : undefined;
			const invalid = (error: {
				issues: Array<{ path: Array<string | number>; message: string }>;
			}) =>
				opts.onInvalid?.({
					field,
					reason: error.issues
						.slice(0, 3)
						.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`)
						.join('; '),
				});

			switch (field) {
				case 'messages':
				case 'user_preferences':
				case 'user_id_update': {
					const fastShell = field === 'messages' ? fastMessagesShell(value) : undefined;
					const parsed = fastShell
						? { success: true as const, data: fastShell }
						: field === 'messages'
							? messagesValueShellSchema.safeParse(value)
							: field === 'user_id_update'
								? userIdUpdateValueSchema.safeParse(value)
								: userPreferencesValueSchema.safeParse(value);
					if (!parsed.success) {
						invalid(parsed.error);
						break;
					}
					const meta = parsed.data.metadata;
					if (opts.phoneNumberId && meta.phone_number_id !== opts.phoneNumberId) break;
					const ctx: Context = {
						wabaId,
						entryTime,
						phoneNumberId: meta.phone_number_id,
						displayPhoneNumber: meta.display_phone_number,
					};
					if (field === 'messages') {
						const shell = parsed.data as MessagesValue;
						fromMessages(
							{
								...shell,
								statuses: parseStatuses((parsed.data as { statuses?: unknown }).statuses),
							},
							ctx,
							opts,
							out,
						);
					} else if (field === 'user_id_update')
						fromUserIdUpdates(parsed.data as UserIdUpdateValue, ctx, opts, out);
					else fromUserPreferences(parsed.data as UserPreferencesValue, ctx, opts, out);
					break;
				}
				case 'message_template_status_update': {
					const parsed = templateStatusUpdateValueSchema.safeParse(value);
					if (!parsed.success) {
						invalid(parsed.error);
						break;
					}
					const v = parsed.data;
					out.push(
						compact<TemplateStatusUpdate>({
							kind: 'template_status',
							eventId: `template_status:${v.message_template_id}:${v.event}:${templateEventSuffix(entryTime, [v.message_template_language, v.reason ?? undefined, v.message_template_category])}`,
							...templateRef(v, wabaId, entryTime),
							event: v.event,
							reason: v.reason ?? undefined,
							category: v.message_template_category,
							disableDate: v.disable_info?.disable_date,
							otherInfo:
								v.other_info &&
								compact({ title: v.other_info.title, description: v.other_info.description }),
							rejectionInfo:
								v.rejection_info &&
								compact({
									reason: v.rejection_info.reason,
									recommendation: v.rejection_info.recommendation,
								}),
							raw,
						}),
					);
					break;
				}
				case 'message_template_quality_update': {
					const parsed = templateQualityUpdateValueSchema.safeParse(value);
					if (!parsed.success) {
						invalid(parsed.error);
						break;
					}
					const v = parsed.data;
					out.push(
						compact<TemplateQualityUpdate>({
							kind: 'template_quality',
							eventId: `template_quality:${v.message_template_id}:${v.new_quality_score}:${templateEventSuffix(entryTime, [v.message_template_language, v.previous_quality_score])}`,
							...templateRef(v, wabaId, entryTime),
							previousQualityScore: v.previous_quality_score,
							newQualityScore: v.new_quality_score,
							raw,
						}),
					);
					break;
				}
				case 'template_category_update': {
					const parsed = templateCategoryUpdateValueSchema.safeParse(value);
					if (!parsed.success) {
						invalid(parsed.error);
						break;
					}
					const v = parsed.data;
					const impending =
						v.correct_category !== undefined || v.category_update_timestamp !== undefined;
					out.push(
						compact<TemplateCategoryUpdate>({
							kind: 'template_category',
							eventId: `template_category:${v.message_template_id}:${impending ? 'impending' : 'changed'}:${v.new_category}:${templateEventSuffix(entryTime, [v.message_template_language, v.previous_category, v.correct_category, v.category_update_timestamp])}`,
							...templateRef(v, wabaId, entryTime),
							impending,
							previousCategory: v.previous_category,
							newCategory: v.new_category,
							correctCategory: v.correct_category,
							categoryUpdateAt:
								v.category_update_timestamp !== undefined
									? iso(v.category_update_timestamp)
									: undefined,
							raw,
						}),
					);
					break;
				}
				case 'phone_number_quality_update':
				case 'business_capability_update':
				case 'phone_number_name_update':
				case 'account_update': {
					const event = accountEvent(field, value, wabaId, entryTime, raw, invalid);
					if (event) out.push(event);
					break;
				}
				default:
					// A field we do not handle (security, account_alerts, ...): not an error.
					break;
			}
		}
	}
	return out;
}

/**
 * Account fields (journey rules): the number's limit and flags, the portfolio's capabilities, name reviews, account
 * events. They carry no id of their own: the entry time (or a digest of what they say) tells repeats from news.
 */
function accountEvent(
	field:
		| 'phone_number_quality_update'
		| 'business_capability_update'
		| 'phone_number_name_update'
		| 'account_update',
	value: unknown,
	wabaId: string,
	entryTime: number | undefined,
	raw: unknown,
	invalid: (error: { issues: Array<{ path: Array<string | number>; message: string }> }) => void,
): WebhookEvent | undefined {
	const ref = {
		wabaId,
		timestamp: entryTime !== undefined ? iso(entryTime) : undefined,
		timestampUnix: entryTime,
		raw,
	};
	switch (field) {
		case 'phone_number_quality_update': {
			const parsed = phoneNumberQualityUpdateValueSchema.safeParse(value);
			if (!parsed.success) return void invalid(parsed.error);
			const v = parsed.data;
			return compact<PhoneNumberQualityUpdate>({
				kind: 'phone_number_quality',
				eventId: `phone_number_quality:${wabaId}:${v.display_phone_number}:${v.event}:${templateEventSuffix(entryTime, [v.current_limit, v.old_limit, v.max_daily_conversations_per_business])}`,
				...ref,
				displayPhoneNumber: v.display_phone_number,
				event: v.event,
				currentLimit: v.current_limit,
				oldLimit: v.old_limit,
				maxDailyConversationsPerBusiness: v.max_daily_conversations_per_business,
			});
		}
		case 'business_capability_update': {
			const parsed = businessCapabilityUpdateValueSchema.safeParse(value);
			if (!parsed.success) return void invalid(parsed.error);
			const v = parsed.data;
			return compact<BusinessCapabilityUpdate>({
				kind: 'business_capability',
				eventId: `business_capability:${wabaId}:${templateEventSuffix(entryTime, [v.max_daily_conversations_per_business, v.max_daily_conversation_per_phone, v.max_phone_numbers_per_business, v.max_phone_numbers_per_waba])}`,
				...ref,
				maxDailyConversationsPerBusiness: v.max_daily_conversations_per_business,
				maxDailyConversationPerPhone: v.max_daily_conversation_per_phone,
				maxPhoneNumbersPerBusiness: v.max_phone_numbers_per_business,
				maxPhoneNumbersPerWaba: v.max_phone_numbers_per_waba,
			});
		}
		case 'phone_number_name_update': {
			const parsed = phoneNumberNameUpdateValueSchema.safeParse(value);
			if (!parsed.success) return void invalid(parsed.error);
			const v = parsed.data;
			return compact<PhoneNumberNameUpdate>({
				kind: 'phone_number_name',
				eventId: `phone_number_name:${wabaId}:${v.display_phone_number}:${v.decision}:${templateEventSuffix(entryTime, [v.requested_verified_name, v.rejection_reason ?? undefined])}`,
				...ref,
				displayPhoneNumber: v.display_phone_number,
				decision: v.decision,
				requestedVerifiedName: v.requested_verified_name,
				rejectionReason: v.rejection_reason ?? undefined,
			});
		}
		case 'account_update': {
			const parsed = accountUpdateValueSchema.safeParse(value);
			if (!parsed.success) return void invalid(parsed.error);
			const v = parsed.data;
			return compact<AccountUpdate>({
				kind: 'account_update',
				eventId: `account_update:${wabaId}:${v.event}:${templateEventSuffix(entryTime, [v.phone_number, v.violation_info?.violation_type, v.ban_info?.waba_ban_state])}`,
				...ref,
				event: v.event,
				phoneNumber: v.phone_number,
				violationType: v.violation_info?.violation_type,
				banState: v.ban_info?.waba_ban_state,
				banDate: v.ban_info?.waba_ban_date,
				restrictions: v.restriction_info?.map((r) =>
					compact({ type: r.restriction_type, expiration: r.expiration }),
				),
			});
		}
	}
}
