import type { IWebhookFunctions } from 'n8n-workflow';

import { RESUME_PROOF_HEADER } from '../../core';
import type { ResumeAttempt } from '../../core';

/** What resuming needs of n8n: its HTTP helper (webhook and trigger functions both have it). */
interface CanRequest {
	helpers: Pick<IWebhookFunctions['helpers'], 'httpRequest'>;
}

/**
 * Resumes a Send and Wait execution: POSTs to its signed resume URL with the wait's proof (core checks both ends).
 * Shared by the WhatsApp Webhook Status and WhatsApp Webhook Receiver triggers.
 */
export function resumeBy(ctx: CanRequest): ResumeAttempt {
	return {
		post: async (link, body, proof) => {
			const response = (await ctx.helpers.httpRequest({
				method: 'POST',
				url: link.resumeUrl,
				body,
				headers: { 'content-type': 'application/json', [RESUME_PROOF_HEADER]: proof },
				json: false,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
				timeout: 10_000,
			})) as { statusCode?: number };
			return response.statusCode ?? 0;
		},
	};
}
