/**
 * The skeleton every send path shares, whichever message it carries: the message and its tracking wrapped for the
 * recipient, then the one output shape of a send — sent, dry run, or failed — for n8n items and Node-RED messages.
 */
import { describeFailure } from '../failure';
import { buildEnvelope } from '../messages';
import type { OutboundMessage } from '../messages';
import type { OutgoingMessage, SendOutcome } from '../send';
import type { JourneySend, JourneyStateStore } from '../state';
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

/** The customer, normalised (see normalizePhoneNumber). */
export interface Recipient {
	e164: string;
	waId: string;
}

/** One send, ready for sendBatch: the validated request plus what its outputs report. */
export interface PreparedSend extends OutgoingMessage {
	/** The recipient in E.164. */
	recipient: string;
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
	if (!outcome.ok) {
		return toSendFailure(outcome.error, sent.recipient, {
			...sent.summary,
			attempts: outcome.retries.length + 1,
		});
	}
	const result = outcome.result;
	return {
		messageId: result.messageId,
		waId: result.waId ?? sent.waId,
		recipient: sent.recipient,
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
 * a reply to it counts for that step), in one store write for the batch. Called by both adapters right after
 * sendBatch, with its outcomes in input order. A store that fails here is not the send's failure: the messages are
 * out, and failing the items would invite a re-run that sends them twice; the statuses still count them.
 */
export async function recordJourneySends(
	phoneNumberId: string,
	prepared: readonly PreparedSend[],
	outcomes: readonly SendOutcome[],
	store: () => Promise<JourneyStateStore>,
): Promise<void> {
	const at = new Date();
	const sends: JourneySend[] = [];
	outcomes.forEach((outcome, i) => {
		const journey = prepared[i]?.tracking?.journey;
		if (!outcome.ok || !journey) return;
		sends.push({
			phoneNumberId,
			messageId: outcome.result.messageId,
			journey,
			step: prepared[i].tracking?.step,
			at,
		});
	});
	if (sends.length === 0) return;
	try {
		await (await store()).recordSends(sends);
	} catch {
		// See above: the report loses these sends' own count, never the messages.
	}
}
