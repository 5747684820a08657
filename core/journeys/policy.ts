/**
 * Refusals a send path makes before any request leaves, because Meta would refuse or withhold the message anyway.
 * `code` is ours and stable (decide on it, not on the text); `metaCode` is what Meta would have answered, and `info`
 * its reading in the error catalogue (meaning, category, retry advice).
 */
import { SEND_REFUSAL_CODES, describeMetaError } from '../errors';
import type { MetaErrorInfo, SendRefusalCode } from '../errors';

export type SendPolicyCode = keyof typeof SEND_REFUSAL_CODES;

export class SendPolicyError extends Error {
	readonly info: MetaErrorInfo;
	/** Our stable code for this refusal (SEND_REFUSAL_CODES). */
	readonly reference: SendRefusalCode;

	constructor(
		readonly code: SendPolicyCode,
		readonly metaCode: number,
		message: string,
	) {
		super(message);
		this.name = 'SendPolicyError';
		this.info = describeMetaError(metaCode);
		this.reference = SEND_REFUSAL_CODES[code];
	}
}
