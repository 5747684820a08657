/**
 * Sends a batch of prepared Cloud API requests concurrently under one phone number's pacer, and reports one outcome
 * per input in input order. Shared by the n8n node, the Node-RED node and the benchmarks.
 */
import type { CloudApiClient, SendResult } from './client';
import { WhatsAppApiError } from './errors';
import type { GateRequest, GateTicket, PolicyResult, SendGate } from './journeys/gate';
import type { SendPacer } from './pacing';

export interface OutgoingMessage {
	/** Position of the input item; outcomes come back in this order. */
	itemIndex: number;
	/** Recipient wa_id (digits), or their BSUID. */
	waId: string;
	/**
	 * The customer's one key (resolveCustomer), the pair-rate key: Meta limits messages per user, so a BSUID and the
	 * number it is paired with share one pair slot. Without it, `waId`.
	 */
	customerKey?: string;
	/** The request body of POST /{phone-number-id}/messages. */
	request: unknown;
	marketingMessagesApi?: boolean;
	/** What the journey rules need to judge this send; without it a gated batch sends it ungated. */
	gate?: GateRequest;
}

/**
 * One send's outcome. With a gate, `policy` says what the journey rules decided; a send the rules refused was never
 * requested and comes back as `ok: 'skipped'` (routed by the adapter to its skipped output, not as a failure).
 */
export type SendOutcome =
	| { itemIndex: number; ok: true; result: SendResult; retries: RetryNote[]; policy?: PolicyResult }
	| {
			itemIndex: number;
			ok: false;
			error: WhatsAppApiError | Error;
			retries: RetryNote[];
			policy?: PolicyResult;
	  }
	| { itemIndex: number; ok: 'skipped'; policy: PolicyResult; retries: RetryNote[] };

export interface RetryNote {
	attempt: number;
	code?: number;
	httpStatus?: number;
}

export interface SendBatchOptions {
	client: CloudApiClient;
	pacer?: SendPacer;
	/** Requests in flight at once. Enough to keep the pacer busy at 1,000 msg/s on a ~30 ms round trip. */
	concurrency?: number;
	onOutcome?: (outcome: SendOutcome) => void;
	/**
	 * Journey rules (core/journeys/rules.ts): each gated send is admitted right before its first request leaves (just
	 * before its pacer slot, so a refused send costs no slot; a worker holds one send at a time, so a crash leaves at
	 * most `concurrency` sends pending) and settled right after its answer.
	 */
	gate?: SendGate;
}

/**
 * Messages handed to a running sendBatch as they are prepared, so a campaign's first message leaves while later items
 * are still being prepared (n8n evaluates each item's parameters, the store reads each customer). Taken in the order
 * pushed. `close()` says no more will come; `abandon()` also drops those not yet taken (a run that stops: they are
 * never requested and get no outcome).
 */
export class SendQueue<M extends OutgoingMessage = OutgoingMessage> {
	private readonly waiting: M[] = [];
	private head = 0;
	private closed = false;
	private takers: Array<(message: M | undefined) => void> = [];

	push(message: M): void {
		if (this.closed) throw new Error('SendQueue: push after close');
		const taker = this.takers.shift();
		if (taker) taker(message);
		else this.waiting.push(message);
	}

	close(): void {
		this.closed = true;
		for (const taker of this.takers.splice(0)) taker(undefined);
	}

	abandon(): void {
		this.waiting.length = this.head = 0;
		this.close();
	}

	/** The next message, waiting for one to be pushed; undefined once closed and drained. */
	take(): M | undefined | Promise<M | undefined> {
		if (this.head < this.waiting.length) {
			const message = this.waiting[this.head++];
			if (this.head > 1024) {
				this.waiting.splice(0, this.head);
				this.head = 0;
			}
			return message;
		}
		if (this.closed) return undefined;
		return new Promise((resolve) => this.takers.push(resolve));
	}
}

/** Lets timers and I/O run (a pacer's sleep, an answer) between steps of synchronous work. */
export function yieldToEventLoop(): Promise<void> {
	return new Promise((resolve) => setImmediate(resolve));
}

/** Thrown out of the client's first attempt when the gate refuses: the request never leaves. */
class GateRefusal extends Error {
	constructor(readonly policy: PolicyResult) {
		super(policy.reason);
	}
}

/**
 * Sends `messages` — an array, or a SendQueue filled while the batch runs — and returns their outcomes in the order
 * the messages were given (taken, for a queue).
 */
export async function sendBatch<M extends OutgoingMessage>(
	messages: readonly M[] | SendQueue<M>,
	options: SendBatchOptions,
): Promise<SendOutcome[]> {
	const queue = messages instanceof SendQueue ? messages : undefined;
	const list = queue ? undefined : (messages as readonly M[]);
	const outcomes: SendOutcome[] = list ? new Array<SendOutcome>(list.length) : [];
	const concurrency = Math.max(1, Math.min(options.concurrency ?? 64, list?.length ?? Infinity));
	let taken = 0;
	const worker = async (): Promise<void> => {
		for (;;) {
			let message: M | undefined;
			if (list) message = list[taken];
			else {
				const next = queue!.take();
				message = next instanceof Promise ? await next : next;
			}
			if (!message) return;
			const position = taken++;
			const retries: RetryNote[] = [];
			let outcome: SendOutcome;
			const gate = message.gate ? options.gate : undefined;
			let ticket: GateTicket | undefined;
			const admit = async (): Promise<void> => {
				if (!gate || !message.gate || ticket) return;
				const verdict = await gate.admit(message.gate);
				if (!verdict.admitted) throw new GateRefusal(verdict.policy);
				ticket = verdict.ticket;
			};
			const pacer = options.pacer;
			/** False when the send stopped while waiting for its pacer slot (a closing Node-RED node): it never left. */
			let leftBefore = true;
			/** Why the request may not leave after all: its step claim became another run's while it waited. */
			let fenced: PolicyResult | undefined;
			try {
				const result = await options.client.sendMessage(message.request, {
					marketingMessagesApi: message.marketingMessagesApi,
					beforeAttempt:
						pacer || gate
							? async () => {
									// Judged before the pacer slot: a refused send (a re-run's already-sent customers) costs no slot.
									await admit();
									let release: Awaited<ReturnType<SendPacer['acquire']>> | undefined;
									try {
										if (pacer) release = await pacer.acquire(message.customerKey ?? message.waId);
										// Stamped after the slot, right before the request: a claim without it provably sent nothing.
										fenced = gate && ticket ? await gate.leaving(ticket) : undefined;
									} catch (error) {
										release?.();
										leftBefore = false;
										throw error;
									}
									if (fenced) {
										release?.();
										leftBefore = false;
										throw new GateRefusal(fenced);
									}
									return release;
								}
							: undefined,
					onRetry: (error, attempt) =>
						retries.push({ attempt, code: error.code, httpStatus: error.httpStatus }),
				});
				outcome = { itemIndex: message.itemIndex, ok: true, result, retries };
			} catch (error) {
				outcome =
					error instanceof GateRefusal
						? { itemIndex: message.itemIndex, ok: 'skipped', policy: error.policy, retries }
						: {
								itemIndex: message.itemIndex,
								ok: false,
								error: error instanceof Error ? error : new Error(String(error)),
								retries,
							};
			}
			if (gate && ticket && fenced) {
				// Its counts go back (a sure "not sent"); the step is the other run's, so settle leaves it alone.
				await gate
					.settle(ticket, {
						ok: false,
						error: new WhatsAppApiError({ message: fenced.reason, acceptedUnknown: false }),
					})
					.catch(() => undefined);
			} else if (gate && ticket && outcome.ok !== 'skipped') {
				// A send that never left is a sure failure: its claim and counts go back instead of staying "unknown".
				const settled =
					outcome.ok === false && !leftBefore
						? {
								...outcome,
								error: new WhatsAppApiError({
									message: outcome.error.message,
									acceptedUnknown: false,
									cause: outcome.error,
								}),
							}
						: outcome;
				try {
					outcome.policy = await gate.settle(ticket, settled);
				} catch (error) {
					// The message's fate is known; only its record failed. Say so rather than hide the send.
					outcome.policy = {
						decision: 'outcome_unknown',
						code: 'WJ_OUTCOME_UNKNOWN',
						rule: 'once_per_step',
						reason: `The send's outcome could not be recorded in the state store (${error instanceof Error ? error.message : String(error)}): the step stays claimed as unknown.`,
						stepKey: message.gate?.stepKey,
					};
				}
			}
			outcomes[position] = outcome;
			options.onOutcome?.(outcome);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	return outcomes;
}
