/**
 * One plain description of a failed send, for n8n error items and Node-RED's msg.whatsappError alike: Meta's code,
 * its meaning and retry class from the error catalogue, or the template issue found before sending. No secrets.
 */
import { WhatsAppApiError } from './errors';
import { SendPolicyError } from './journeys/policy';
import { MediaDownloadError } from './media';
import { TemplateValidationError } from './templates';

export function describeFailure(error: unknown): Record<string, unknown> {
	if (error instanceof WhatsAppApiError) {
		return {
			message: error.message,
			code: error.code,
			meaning: error.info.meaning,
			category: error.info.category,
			retryable: error.info.retryable,
			retry: error.info.retry,
			action: error.info.action,
			httpStatus: error.httpStatus,
			details: error.details,
			fbtraceId: error.fbtraceId,
			mayHaveBeenAccepted: error.acceptedUnknown,
		};
	}
	if (error instanceof SendPolicyError) {
		return {
			message: error.message,
			code: error.metaCode,
			policy: error.code,
			reference: error.reference,
			meaning: error.info.meaning,
			category: error.info.category,
			retry: error.info.retry,
		};
	}
	if (error instanceof TemplateValidationError) {
		return {
			message: error.message,
			code: error.code,
			template: error.template,
			language: error.language,
			issues: error.issues,
		};
	}
	if (error instanceof MediaDownloadError) {
		return {
			message: error.message,
			reason: error.reason,
			mediaId: error.mediaId,
			...(error.httpStatus !== undefined ? { httpStatus: error.httpStatus } : {}),
		};
	}
	return { message: error instanceof Error ? error.message : String(error) };
}
