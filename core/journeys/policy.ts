/**
 * Refusals a send path makes before any request leaves, because Meta would refuse or withhold the message anyway.
 * `code` is ours and stable (decide on it, not on the text); `metaCode` is what Meta would have answered.
 */
export type SendPolicyCode = 'template_not_approved' | 'us_marketing' | 'opted_out';

export class SendPolicyError extends Error {
	constructor(
		readonly code: SendPolicyCode,
		readonly metaCode: number,
		message: string,
	) {
		super(message);
		this.name = 'SendPolicyError';
	}
}
