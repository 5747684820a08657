/**
 * The skeleton every send path shares, whichever message it carries: the message and its tracking wrapped for the
 * recipient, then the one output shape of a send — sent, dry run, or failed — for n8n items and Node-RED messages.
 */
import { describeFailure } from '../failure';
import { buildEnvelope } from '../messages';
import type { OutboundMessage } from '../messages';
import type { RecipientType } from '../phone';
import type { OutgoingMessage, SendOutcome } from '../send';
import { customerOptedOut, resolveCustomer } from '../state';
import type { Customer, JourneySend, JourneyStateStore, SkippedSendRecord } from '../state';
import type { TrackingData } from '../tracking';
import type { SendTracking } from './tracking';

/** What a send path built for one recipient: the message, and what the output says about it. */
export interface SendContent {
	message: OutboundMessage;
	/** MARKETING templates through the Marketing Messages API (/marketing_messages) instead of /messages. */
	marketingMessagesApi?: boolean;
	/** Goes into every output of this send: e.g. `{ template: { id, name, language, category } }` or `{ type }`. */
	summary: Record<string, unknown>;
}

/**
 * The customer, normalised (see normalizeRecipient): a phone number (E.164 and wa_id), or a business-scoped user id
 * (BSUID) in both fields with `type: 'bsuid'`, sent in Meta's `recipient` field. Without `type`, a phone number.
 */
export interface Recipient {
	e164: string;
	waId: string;
	type?: RecipientType;
}

/**
 * The customer for the journey rules, whichever id the recipient is (see core/state/identity.ts): `key` keys step
 * claims, frequency caps and the pacer's pair rate (the wa_id when the store paired the BSUID with a number, else the
 * latest BSUID), and `ids` lets the gate check what was recorded under the customer's other ids before the pairing
 * was learnt. One store read for a number the store knows no BSUID of; one more per id followed.
 */
export async function customerOf(
	store: () => Promise<Pick<JourneyStateStore, 'getIdentity'>>,
	phoneNumberId: string,
	recipient: Recipient,
): Promise<Customer> {
	return resolveCustomer(await store(), phoneNumberId, recipient.waId);
}

/**
 * customerOf for a batch: `prefetch` starts every recipient's lookup at once, so the store reads overlap (one Redis
 * round trip's wait for the whole batch instead of one per item); `get` answers from the same lookup. A failed lookup
 * is reported by `get` (to the item), never as an unhandled rejection.
 */
export function customerResolver(
	store: () => Promise<Pick<JourneyStateStore, 'getIdentity'>>,
	phoneNumberId: string,
): { prefetch(recipient: Recipient): void; get(recipient: Recipient): Promise<Customer> } {
	const lookups = new Map<string, Promise<Customer>>();
	const get = (recipient: Recipient): Promise<Customer> => {
		let lookup = lookups.get(recipient.waId);
		if (!lookup) {
			lookup = customerOf(store, phoneNumberId, recipient);
			lookup.catch(() => undefined);
			lookups.set(recipient.waId, lookup);
		}
		return lookup;
	};
	return { prefetch: (recipient) => void get(recipient), get };
}

/** Whether the customer stopped marketing messages under any id the store knows for them (the opt-out port). */
export async function isCustomerOptedOut(
	store: Pick<JourneyStateStore, 'getIdentity' | 'isOptedOut'>,
	phoneNumberId: string,
	waId: string,
): Promise<boolean> {
	if (await store.isOptedOut({ phoneNumberId, waId })) return true;
	const customer = await resolveCustomer(store, phoneNumberId, waId);
	return customer.ids.length > 1 && customerOptedOut(store, phoneNumberId, customer);
}

/** One send, ready for sendBatch: the validated request plus what its outputs report. */
export interface PreparedSend extends OutgoingMessage {
	/** The recipient in E.164, or their BSUID. */
	recipient: string;
	/** Which id the send used: `to` for a phone number, `recipient` for a BSUID. */
	recipientType: RecipientType;
	marketingMessagesApi: boolean;
	summary: Record<string, unknown>;
	tracking?: TrackingData;
	bizOpaqueCallbackData: string;
}

/** Wraps built content for its recipient; the request is validated here, before anything leaves. */
export function prepareSend(
	itemIndex: number,
	recipient: Recipient,
	content: SendContent,
	tracking: SendTracking,
): PreparedSend {
	return {
		itemIndex,
		waId: recipient.waId,
		recipient: recipient.e164,
		recipientType: recipient.type ?? 'phone',
		request: buildEnvelope(recipient.e164, content.message, {
			bizOpaqueCallbackData: tracking.bizOpaqueCallbackData,
		}),
		marketingMessagesApi: content.marketingMessagesApi === true,
		summary: content.summary,
		tracking: tracking.tracking,
		bizOpaqueCallbackData: tracking.bizOpaqueCallbackData,
	};
}

/**
 * The output of one send: what Meta accepted (message id, wa_id, tracking, attempts), or why it failed (see
 * toSendFailure) with the attempts made. The adapter routes on `outcome.ok`.
 */
export function toSendResult(sent: PreparedSend, outcome: SendOutcome): Record<string, unknown> {
	const policy = outcome.policy ? { policy: outcome.policy } : {};
	if (outcome.ok === 'skipped') {
		// Not requested: the journey rules held it back. No message id; `policy` says which rule and why.
		return {
			skipped: true,
			recipient: sent.recipient,
			recipientType: sent.recipientType,
			waId: sent.waId,
			...sent.summary,
			tracking: sent.tracking ?? {},
			policy: outcome.policy,
		};
	}
	if (!outcome.ok) {
		return toSendFailure(outcome.error, sent.recipient, {
			recipientType: sent.recipientType,
			...sent.summary,
			attempts: outcome.retries.length + 1,
			...policy,
		});
	}
	const result = outcome.result;
	return {
		...policy,
		messageId: result.messageId,
		waId: result.waId ?? sent.waId,
		recipient: sent.recipient,
		recipientType: sent.recipientType,
		messageStatus: result.messageStatus,
		...sent.summary,
		marketingMessagesApi: sent.marketingMessagesApi,
		tracking: sent.tracking ?? {},
		bizOpaqueCallbackData: sent.bizOpaqueCallbackData,
		attempts: result.attempts,
		sentAt: new Date().toISOString(),
	};
}

/** The output of a dry run: the exact request that would have been sent. */
export function toDryRunResult(prepared: PreparedSend): Record<string, unknown> {
	return {
		dryRun: true,
		recipient: prepared.recipient,
		recipientType: prepared.recipientType,
		waId: prepared.waId,
		...prepared.summary,
		request: prepared.request,
		marketingMessagesApi: prepared.marketingMessagesApi,
	};
}

/**
 * What a failure says: Meta's code, meaning and retry advice (or the issue found before sending), and who it was for
 * (as normalised, or as typed when it could not be).
 */
export function toSendFailure(
	error: unknown,
	recipient: string | undefined,
	extra?: Record<string, unknown>,
): Record<string, unknown> {
	return { ...describeFailure(error), recipient, ...extra };
}

/**
 * The journey report's "sent": every accepted message of a named journey is counted for its step and remembered (so
 * a reply to it counts for that step), in one store write for the batch; every send a journey rule skipped is counted
 * under its decision (`skipped:<decision>`). Called by both adapters with a batch's final outcomes. A store that fails here is not the send's failure: the messages are
 * out, and failing the items would invite a re-run that sends them twice; the statuses still count them.
 */
export async function recordJourneySends(
	phoneNumberId: string,
	prepared: readonly PreparedSend[],
	outcomes: readonly SendOutcome[],
	store: () => Promise<JourneyStateStore>,
): Promise<void> {
	const at = new Date();
	// By item, not by position: a quiet-hours hold hands back outcomes in the order they were finally settled.
	const byItem = new Map(prepared.map((p) => [p.itemIndex, p]));
	const sends: JourneySend[] = [];
	const skipped: SkippedSendRecord[] = [];
	for (const outcome of outcomes) {
		const tracking = byItem.get(outcome.itemIndex)?.tracking;
		const journey = tracking?.journey;
		if (!journey) continue;
		if (outcome.ok === true)
			sends.push({
				phoneNumberId,
				messageId: outcome.result.messageId,
				journey,
				step: tracking.step,
				at,
			});
		else if (outcome.ok === 'skipped')
			skipped.push({
				phoneNumberId,
				journey,
				step: tracking.step,
				rule: outcome.policy.decision,
				at,
			});
	}
	if (sends.length === 0 && skipped.length === 0) return;
	try {
		const s = await store();
		if (sends.length > 0) await s.recordSends(sends);
		for (const decision of skipped) await s.recordPolicyDecision(decision);
	} catch {
		// See above: the report loses these sends' own count, never the messages.
	}
}
