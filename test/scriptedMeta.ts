/**
 * A Cloud API client whose "Meta" answers each send from a script (a function of the recipient and how many times it
 * was sent to), one attempt, no retries: for tests of what sendBatch and the gate do with each answer.
 */
import { CloudApiClient } from '../core';
import type { HttpResponse, Transport } from '../core';

export const SCRIPTED_PHONE_NUMBER_ID = '106540352242922';

/** Records every recipient a request reached "Meta" for, in order. */
export function scriptedMeta(answer: (to: string, n: number) => HttpResponse | Error): {
	client: CloudApiClient;
	received: string[];
} {
	const received: string[] = [];
	const transport: Transport = async (request) => {
		const to = (request.json as { to: string }).to;
		received.push(to);
		const a = answer(to, received.filter((t) => t === to).length);
		if (a instanceof Error) throw a;
		return a;
	};
	const client = new CloudApiClient(
		{ phoneNumberId: SCRIPTED_PHONE_NUMBER_ID, baseUrl: 'http://graph.test' },
		transport,
		{ maxAttempts: 1, retryUncertain: false, timeoutMs: 1000 },
	);
	return { client, received };
}
