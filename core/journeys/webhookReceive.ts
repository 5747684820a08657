/**
 * Webhook receive, for every adapter: one POST from Meta is checked against X-Hub-Signature-256 on its raw bytes,
 * parsed, normalised to events (of one business number unless all are asked for) and ingested into the journey
 * state store — all before the adapter answers Meta, so a 200 always means "recorded". The adapter then answers
 * with the status this returns and emits the events its way.
 */
import { ALL_EVENT_KINDS, ingestWebhookEvents, parseStopKeywords } from '../ingest';
import type { IngestedEvent, IngestOptions, IngestResult, LateStatusHandling } from '../ingest';
import type { JourneyStateStore } from '../state';
import { normalizeWebhook, parseWebhookBody, verifySignature } from '../webhooks';
import { resumeWaits, type ResumeAttempt } from './sendAndWait';
import type { WebhookBody, WebhookEvent } from '../webhooks';

/** The events a new receiver emits: every status and inbound messages (not template or account updates). */
export const DEFAULT_EMITTED_EVENTS: readonly string[] = ALL_EVENT_KINDS.filter(
	(kind) => kind.startsWith('status:') || kind === 'message',
);

export const DEFAULT_STOP_KEYWORDS = 'STOP, UNSUBSCRIBE';

/** The receiver's settings as adapters hold them; anything left out takes the default. */
export interface ReceiveSettings {
	/** Event kinds to emit; empty or absent means every kind. */
	events?: readonly string[];
	/** Emit each event once (default true). */
	deduplicate?: boolean;
	/** A status arriving after a higher one is dropped (default) or emitted flagged. */
	lateStatuses?: LateStatusHandling;
	/** Inbound messages open the window in the store (default true). */
	recordWindows?: boolean;
	/** user_preferences webhooks and stop keywords are recorded as opt-outs (default true). */
	recordOptOuts?: boolean;
	/** Comma- or line-separated stop keywords (default "STOP, UNSUBSCRIBE"). */
	stopKeywords?: string;
	/** Who is reading: de-duplication and status order are kept per consumer. */
	consumer?: string;
	/** Keep the events to emit in the consumer's outbox until emitted (webhookOutbox.ts); needs `consumer`. */
	outbox?: boolean;
}

/** The ingest options of a receiver: build once per settings, not per POST where the settings are fixed. */
export function receiveIngestOptions(settings: ReceiveSettings): IngestOptions {
	const events = settings.events ?? DEFAULT_EMITTED_EVENTS;
	return {
		deduplicate: settings.deduplicate !== false,
		lateStatuses: settings.lateStatuses === 'flag' ? 'flag' : 'drop',
		recordWindows: settings.recordWindows !== false,
		recordOptOuts: settings.recordOptOuts !== false,
		stopKeywords: parseStopKeywords(settings.stopKeywords ?? DEFAULT_STOP_KEYWORDS),
		emit: new Set(events.length > 0 ? events : ALL_EVENT_KINDS),
		consumer: settings.consumer,
		outbox: settings.outbox && settings.consumer ? { trigger: settings.consumer } : undefined,
	};
}

/** What the receiver knows of the business: its app secret (signatures) and phone number id (the event filter). */
export interface ReceiverCredential {
	appSecret?: string;
	phoneNumberId: string;
}

/** Whether POSTs can be accepted at all: with an app secret to verify them, or unsigned ones allowed (testing). */
export function acceptsWebhookPosts(
	credential: { appSecret?: string },
	allowUnsigned: boolean,
): boolean {
	return Boolean(credential.appSecret) || allowUnsigned;
}

export interface ReceiveWebhookRequest {
	/** The request's exact bytes: Meta signs those, re-serialised JSON does not verify. */
	raw: Buffer | string;
	/** X-Hub-Signature-256 as received. */
	signatureHeader: string | undefined;
	credential: ReceiverCredential;
	/**
	 * Read the credential again, once, before refusing a signature: with a cached reading, a rotated app secret
	 * then applies at once. Its phone number id is used from then on too.
	 */
	freshCredential?: () => Promise<ReceiverCredential>;
	/** Accept POSTs without a signature when there is no app secret (local testing only). */
	allowUnsigned: boolean;
	/** Emit events of every phone number of the app, not only the credential's. */
	allPhoneNumbers: boolean;
	/** Attach the Meta object each event came from as `raw`. */
	includeRaw: boolean;
	/** Opened only when there are events to ingest. */
	store: () => Promise<JourneyStateStore>;
	ingest: IngestOptions;
	/**
	 * How this receiver resumes a Send and Wait (n8n: POST to the execution's resume URL). With it, each emitted event
	 * that ends a wait claims it once, is marked with `resumedExecutionId`, and the resume is delivered after the answer.
	 */
	resume?: ResumeAttempt;
}

export type ReceiveOutcome =
	/** Answer `status` with `reason`: not from Meta (401) or not a webhook body (400, 413). Nothing was recorded. */
	| { kind: 'refused'; status: 400 | 401 | 413; reason: string }
	/** Recorded in the store: answer 200; emit `events` (what is left after de-duplication and the event filter). */
	| {
			kind: 'accepted';
			/** Events the POST carried for this receiver (its phone number unless all), before de-duplication. */
			received: number;
			events: IngestedEvent[];
			duplicates: number;
			/** Events stamped before Meta's retry period: acknowledged, neither recorded nor emitted. */
			stale: number;
			lateDropped: number;
			withoutSender: number;
	  }
	/**
	 * The store failed: answer `status` (500) so Meta delivers again; `body` lets the adapter hand on what could not
	 * be recorded. `reason` is safe to send; `error` is for the log.
	 */
	| { kind: 'failed'; status: 500; reason: string; error: unknown; body: WebhookBody };

/** Why a POST must be refused with 401, or undefined when its signature verifies (or unsigned is allowed). */
function signatureRefusal(
	credential: ReceiverCredential,
	request: Pick<ReceiveWebhookRequest, 'raw' | 'signatureHeader' | 'allowUnsigned'>,
): string | undefined {
	if (credential.appSecret)
		return verifySignature(request.raw, request.signatureHeader, credential.appSecret)
			? undefined
			: 'Invalid signature';
	return request.allowUnsigned
		? undefined
		: 'Signature cannot be verified: no app secret configured';
}

/** A POST that passed the checks: its events (of this receiver's number unless all), not yet recorded. */
export type CheckedWebhookPost =
	| { kind: 'refused'; status: 400 | 401 | 413; reason: string }
	| { kind: 'checked'; events: WebhookEvent[]; body: WebhookBody };

/**
 * Signature, envelope and normalising: everything about one POST that needs no store. Shared by `receiveWebhook`
 * (one POST, one unit of work) and the receiver of our own (webhookReceiver.ts), which records many POSTs' events
 * in one unit of work.
 */
export async function checkWebhookPost(
	request: Omit<ReceiveWebhookRequest, 'store' | 'ingest' | 'resume'>,
	maxBytes?: number,
): Promise<CheckedWebhookPost> {
	let credential = request.credential;
	let refusal = signatureRefusal(credential, request);
	if (refusal && request.freshCredential) {
		credential = await request.freshCredential();
		refusal = signatureRefusal(credential, request);
	}
	if (refusal) return { kind: 'refused', status: 401, reason: refusal };

	const parsed = parseWebhookBody(request.raw, { maxBytes });
	if (!parsed.ok) return { kind: 'refused', status: parsed.status, reason: parsed.reason };
	const events = normalizeWebhook(parsed.body, {
		phoneNumberId: request.allPhoneNumbers ? undefined : credential.phoneNumberId,
		includeRaw: request.includeRaw,
	});
	return { kind: 'checked', events, body: parsed.body };
}

/**
 * Records events in one unit of work and claims the Send and Wait executions they end: the claim stores the resume,
 * which the process's resume dispatcher delivers after this returns (resumeDispatcher.ts), so the answer to Meta never
 * waits for the host. Throws when the store fails (nothing may be acknowledged then). A claim that fails does not
 * throw: the events are recorded already; they are emitted without the mark and the wait ends on its timeout.
 */
export async function recordWebhookEvents(
	events: WebhookEvent[],
	store: JourneyStateStore,
	ingest: IngestOptions,
	resume?: ResumeAttempt,
): Promise<IngestResult> {
	// The wait check reads each status's link with its writes where the store can (Redis: one round trip).
	const ingested = await ingestWebhookEvents(
		events,
		store,
		resume ? { ...ingest, peekWaits: true } : ingest,
	);
	if (resume && ingested.events.length > 0) {
		const resumed = await resumeWaits(
			ingested.events,
			store,
			resume,
			Date.now,
			ingested.waitLinks,
		).catch(() => new Map<number, string>());
		for (const [index, executionId] of resumed)
			ingested.events[index].resumedExecutionId = executionId;
	}
	return ingested;
}

export async function receiveWebhook(request: ReceiveWebhookRequest): Promise<ReceiveOutcome> {
	const checked = await checkWebhookPost(request);
	if (checked.kind === 'refused') return checked;
	const { events } = checked;
	if (events.length === 0)
		return {
			kind: 'accepted',
			received: 0,
			events: [],
			duplicates: 0,
			stale: 0,
			lateDropped: 0,
			withoutSender: 0,
		};
	try {
		const store = await request.store();
		const { waitLinks, ...ingested } = await recordWebhookEvents(
			events,
			store,
			request.ingest,
			request.resume,
		);
		return { kind: 'accepted', received: events.length, ...ingested };
	} catch (error) {
		return {
			kind: 'failed',
			status: 500,
			reason: 'The events could not be recorded in the journey state store; deliver again',
			error,
			body: checked.body,
		};
	}
}
