/**
 * The window decision, for every adapter: may this customer get a free-form message now (Open), or only a template
 * (Closed)? The last inbound time comes from the journey state store (the webhook receiver records every inbound
 * message there) or from a time the journey keeps itself; a window closing within the minimum time left counts
 * as closed, so a slow next step does not meet error 131047.
 */
import { normalizeRecipient, type RecipientType } from '../phone';
import type { ConversationWindow, JourneyStateStore } from '../state';
import { customerWindow, resolveCustomer, windowFrom } from '../state';
import { parseTimestamp } from '../time';

/** Where the last inbound time comes from: the state store, or a value on the item (a CRM field, say). */
export type WindowSource = 'store' | 'item';

/** The window as decided for one customer: `open` already accounts for the minimum time left. */
export interface CheckedWindow extends ConversationWindow {
	/** The customer's number in E.164, or their business-scoped user id (BSUID) as given. */
	recipient: string;
	/** Which id the recipient was given as. `waId` is the customer's one key (their wa_id when the store knows it). */
	recipientType: RecipientType;
	checkedAt: string;
}

interface WindowRequest {
	/** The customer's WhatsApp number as typed (any common format; wa_id digits work too), or their BSUID. */
	recipient: string;
	/** Two-letter country for numbers typed without a country code. */
	defaultCountry?: string;
	/** The business phone number whose windows are meant. */
	phoneNumberId: string;
	/** Opened only when the decision needs it. */
	store: () => Promise<JourneyStateStore>;
	/** A window closing within this many minutes counts as closed (0–1440). */
	minimumMinutesLeft?: number;
	now?: Date;
}

export interface CheckWindowRequest extends WindowRequest {
	source: WindowSource;
	/** With source "item": when the customer last wrote (ISO 8601, Unix seconds or ms, Date); empty means never. */
	lastInboundAt?: unknown;
	/** How the adapter names the last inbound field, for errors. */
	lastInboundAtField?: string;
}

export interface RecordInboundRequest extends WindowRequest {
	/** When the customer wrote; empty means now. */
	inboundAt?: unknown;
	/** How the adapter names the inbound time field, for errors. */
	inboundAtField?: string;
	/** From a Click-to-WhatsApp ad or Page CTA: opens the 72-hour free entry point window too. */
	fromAd?: boolean;
}

function decide(
	window: ConversationWindow,
	recipient: { e164: string; type: RecipientType },
	minimumMinutesLeft: number | undefined,
	now: Date,
): CheckedWindow {
	const open = window.open && window.secondsLeft > (minimumMinutesLeft ?? 0) * 60;
	return {
		...window,
		open,
		recipient: recipient.e164,
		recipientType: recipient.type,
		checkedAt: now.toISOString(),
	};
}

/** Is the customer's service window open, from the store or from the given last inbound time? */
export async function checkWindow(request: CheckWindowRequest): Promise<CheckedWindow> {
	const now = request.now ?? new Date();
	const recipient = normalizeRecipient(request.recipient, request.defaultCountry || undefined);
	const waId = recipient.waId;
	const key = { phoneNumberId: request.phoneNumberId, waId };
	let window: ConversationWindow;
	if (request.source === 'item') {
		const last = parseTimestamp(
			request.lastInboundAt,
			request.lastInboundAtField ?? 'Last Inbound Message At',
			now,
		);
		window = windowFrom(key.phoneNumberId, waId, last?.getTime() ?? 0, 0, now.getTime());
	} else {
		// Every id of the customer: a username customer's message may have opened the window under their BSUID.
		const store = await request.store();
		const customer = await resolveCustomer(store, key.phoneNumberId, waId);
		window = await customerWindow(store, key.phoneNumberId, customer, now);
	}
	return decide(window, recipient, request.minimumMinutesLeft, now);
}

/** Records that the customer wrote (for inbound messages that reach the journey another way), then checks. */
export async function recordInboundAndCheck(request: RecordInboundRequest): Promise<CheckedWindow> {
	const now = request.now ?? new Date();
	const recipient = normalizeRecipient(request.recipient, request.defaultCountry || undefined);
	const at =
		parseTimestamp(request.inboundAt, request.inboundAtField ?? 'Inbound Message At', now) ?? now;
	const store = await request.store();
	const customer = await resolveCustomer(store, request.phoneNumberId, recipient.waId);
	// Recorded under the customer's one key, read over all their ids.
	await store.recordInbound({
		phoneNumberId: request.phoneNumberId,
		waId: customer.key,
		at,
		referral: request.fromAd === true,
	});
	return decide(
		await customerWindow(store, request.phoneNumberId, customer, now),
		recipient,
		request.minimumMinutesLeft,
		now,
	);
}
