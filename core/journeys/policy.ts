/**
 * Refusals a send path makes before any request leaves, because Meta would refuse or withhold the message anyway.
 * `code` is ours and stable (decide on it, not on the text); `metaCode` is what Meta would have answered, and `info`
 * its reading in the error catalogue (meaning, category, retry advice).
 */
import { describeMetaError } from '../errors';
import type { MetaErrorInfo } from '../errors';

export type SendPolicyCode = 'template_not_approved' | 'us_marketing' | 'opted_out';

export class SendPolicyError extends Error {
	readonly info: MetaErrorInfo;

	constructor(
		readonly code: SendPolicyCode,
		readonly metaCode: number,
		message: string,
	) {
		super(message);
		this.name = 'SendPolicyError';
		this.info = describeMetaError(metaCode);
	}
}
