/**
 * Sends a batch of prepared Cloud API requests concurrently under one phone number's pacer, and reports one outcome
 * per input in input order. Shared by the n8n node, the Node-RED node and the benchmarks.
 */
import type { CloudApiClient, SendResult } from './client';
import { WhatsAppApiError } from './errors';
import type { SendPacer } from './pacing';

export interface OutgoingMessage {
	/** Position of the input item; outcomes come back in this order. */
	itemIndex: number;
	/** Recipient wa_id (digits), the pair-rate key. */
	waId: string;
	/** The request body of POST /{phone-number-id}/messages. */
	request: unknown;
	marketingMessagesApi?: boolean;
}

export type SendOutcome =
	| { itemIndex: number; ok: true; result: SendResult; retries: RetryNote[] }
	| { itemIndex: number; ok: false; error: WhatsAppApiError | Error; retries: RetryNote[] };

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
}

export async function sendBatch(
	messages: OutgoingMessage[],
	options: SendBatchOptions,
): Promise<SendOutcome[]> {
	const outcomes = new Array<SendOutcome>(messages.length);
	const concurrency = Math.max(1, Math.min(options.concurrency ?? 64, messages.length));
	let next = 0;
	const worker = async (): Promise<void> => {
		while (next < messages.length) {
			const position = next++;
			const message = messages[position];
			const retries: RetryNote[] = [];
			let outcome: SendOutcome;
			try {
				const result = await options.client.sendMessage(message.request, {
					marketingMessagesApi: message.marketingMessagesApi,
					beforeAttempt: options.pacer ? () => options.pacer!.acquire(message.waId) : undefined,
					onRetry: (error, attempt) =>
						retries.push({ attempt, code: error.code, httpStatus: error.httpStatus }),
				});
				outcome = { itemIndex: message.itemIndex, ok: true, result, retries };
			} catch (error) {
				outcome = {
					itemIndex: message.itemIndex,
					ok: false,
					error: error instanceof Error ? error : new Error(String(error)),
					retries,
				};
			}
			outcomes[position] = outcome;
			options.onOutcome?.(outcome);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	return outcomes;
}
