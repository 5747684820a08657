/**
 * The delivery options both send adapters offer (pacing, retries, timeout, concurrency, dry run) and the ranges
 * they accept. Adapters read them their own way (n8n's Options collection, Node-RED's saved settings) and word
 * errors with their own field names; the numbers live here.
 */
import { z } from 'zod';

import type { RetryPolicy } from '../client';
import {
	DEFAULT_MESSAGES_PER_SECOND,
	DEFAULT_PAIR_INTERVAL_MS,
	MAX_MESSAGES_PER_SECOND,
} from '../pacing';
import type { PacerOptions } from '../pacing';

interface OptionLimit {
	min: number;
	max: number;
	default: number;
	integer?: boolean;
}

export const DELIVERY_OPTION_LIMITS = {
	// 0 = no throughput pacing: for an endpoint without Meta's limit, or when something upstream already paces.
	messagesPerSecond: {
		min: 0,
		max: MAX_MESSAGES_PER_SECOND,
		default: DEFAULT_MESSAGES_PER_SECOND,
	},
	// Meta: about one message every 6 seconds to the same customer; 0 turns pair pacing off.
	pairIntervalSeconds: { min: 0, max: 60, default: DEFAULT_PAIR_INTERVAL_MS / 1000 },
	// Attempts per message, for errors that prove nothing was sent.
	maxAttempts: { min: 1, max: 10, default: 6, integer: true },
	timeoutSeconds: { min: 1, max: 300, default: 30 },
	// Requests in flight at once: enough for 1,000 msg/s at a 60 ms round trip; the pacer still applies.
	concurrency: { min: 1, max: 256, default: 64, integer: true },
} as const satisfies Record<string, OptionLimit>;

export type DeliveryOptionName = keyof typeof DELIVERY_OPTION_LIMITS;

/** A number within an option's range; `message` is the adapter's wording (naming its own field), else zod's. */
export function deliveryOptionNumber(name: DeliveryOptionName, message?: string): z.ZodNumber {
	const limit: OptionLimit = DELIVERY_OPTION_LIMITS[name];
	const number = limit.integer ? z.number().int(message) : z.number();
	return number.min(limit.min, message).max(limit.max, message);
}

const option = (name: DeliveryOptionName) =>
	deliveryOptionNumber(name).default(DELIVERY_OPTION_LIMITS[name].default);

/** Options that shape a whole run of sends, validated once per run (never per message). */
export const deliveryOptionsSchema = z.object({
	messagesPerSecond: option('messagesPerSecond'),
	pairIntervalSeconds: option('pairIntervalSeconds'),
	maxAttempts: option('maxAttempts'),
	// Off unless the user opts in: a message that timed out may already have been accepted.
	retryUncertain: z.boolean().default(false),
	timeoutSeconds: option('timeoutSeconds'),
	concurrency: option('concurrency'),
	// Validate and show the exact request, send nothing.
	dryRun: z.boolean().default(false),
});
export type DeliveryOptions = z.infer<typeof deliveryOptionsSchema>;

/** The client's retry policy for these options. */
export function retryPolicyOf(
	options: Pick<DeliveryOptions, 'maxAttempts' | 'retryUncertain' | 'timeoutSeconds'>,
): RetryPolicy {
	return {
		maxAttempts: options.maxAttempts,
		retryUncertain: options.retryUncertain,
		timeoutMs: options.timeoutSeconds * 1000,
	};
}

/** The pacer's rates for these options; `undefined` when both are 0, so there is nothing to pace. */
export function pacingOf(
	options: Pick<DeliveryOptions, 'messagesPerSecond' | 'pairIntervalSeconds'>,
): Pick<PacerOptions, 'messagesPerSecond' | 'pairIntervalMs'> | undefined {
	if (options.messagesPerSecond === 0 && options.pairIntervalSeconds === 0) return undefined;
	return {
		messagesPerSecond: options.messagesPerSecond,
		pairIntervalMs: options.pairIntervalSeconds * 1000,
	};
}
