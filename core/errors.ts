/**
 * The one error catalogue: Meta error code → meaning, category and retry advice.
 *
 * Everything that decides "can I retry this?" reads this table (the client's retry policy, the node's
 * error output, the sandbox's fault injection). Decide on `code`, never on message text: Meta says
 * titles and messages change, codes do not.
 *
 * HTTP statuses follow the "HTTP Status Code" column of Meta's Cloud API error-codes page as mirrored
 * in 2025 (several partner copies agree). Older copies of that page listed 429 for the throttling codes
 * (4, 80007, 130429, 131056); the current page lists 400 Bad Request, so the sandbox answers 400 and
 * callers must not rely on 429 to detect throttling.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

export type ErrorCategory =
	| 'throttled'
	| 'pair_rate'
	| 'window'
	| 'template'
	| 'request'
	| 'recipient'
	| 'policy'
	| 'opt_out'
	| 'auth'
	| 'account'
	| 'server'
	| 'unknown';

export type RetryAdvice =
	| 'backoff'
	| 'recipient_later'
	| 'later'
	| 'cautious'
	| 'never'
	| 'not_within_24h'
	| 'fix_request'
	| 'fix_template'
	| 'fix_credential'
	| 'stop';

export interface MetaErrorInfo {
	/** Meta's code; -1 when the failure carried none (timeouts, proxies' 5xx pages). */
	code: number;
	title: string;
	meaning: string;
	category: ErrorCategory;
	retry: RetryAdvice;
	/** True only when the error proves the message was not accepted, so sending it again cannot duplicate it. */
	retryable: boolean;
	action: string;
}

interface CatalogueEntry {
	title: string;
	meaning: string;
	category: ErrorCategory;
	retry: RetryAdvice;
	action: string;
	httpStatus: number;
}

/** Codes whose answer proves the request was refused before acceptance: safe to send again later. */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([130429, 131056, 4, 80007]);

const SERVICE_ACTION =
	'Meta had a temporary problem and refused the message, so a retry cannot duplicate it: the send node retries with backoff. If it persists, check the WhatsApp Business Platform status page.';
const FIX_REQUEST_ACTION =
	'Fix the request (see the details) and send again; retrying unchanged fails the same way.';

const CATALOGUE: Readonly<Record<number, CatalogueEntry>> = {
	// --- Throttling ---
	4: {
		title: 'API Too Many Calls',
		meaning: 'The app reached its Graph API call rate limit.',
		category: 'throttled',
		retry: 'later',
		action:
			'Wait and retry later; reduce how often the app calls the Graph API (cache template lists).',
		httpStatus: 400,
	},
	80007: {
		title: 'Rate limit issues',
		meaning: 'The WhatsApp Business Account reached its API rate limit.',
		category: 'throttled',
		retry: 'later',
		action:
			'Wait for the hourly window to reset; cache template definitions instead of refetching them.',
		httpStatus: 400,
	},
	130429: {
		title: 'Rate limit hit',
		meaning: 'Cloud API message throughput of this business phone number has been reached.',
		category: 'throttled',
		retry: 'backoff',
		action: 'Slow down and retry with exponential backoff; pace sends per phone number.',
		httpStatus: 400,
	},
	131056: {
		title: '(Business Account, Consumer Account) pair rate limit hit',
		meaning: 'Too many messages to the same recipient in a short time.',
		category: 'pair_rate',
		retry: 'recipient_later',
		action:
			'Retry this recipient later (Meta suggests waiting 4^n seconds); other recipients are unaffected.',
		httpStatus: 400,
	},
	131048: {
		title: 'Spam rate limit hit',
		meaning:
			'Sending from this number is restricted because too many previous messages were blocked or flagged as spam.',
		category: 'policy',
		retry: 'stop',
		action: 'Pause sending from this number and check its quality rating in WhatsApp Manager.',
		httpStatus: 400,
	},
	// --- Service errors: retry cautiously, there is no idempotency key ---
	1: {
		title: 'API Unknown',
		meaning: 'Invalid request or possible server error.',
		category: 'unknown',
		retry: 'cautious',
		action:
			'Check the Platform status page; if there is no outage, check the request against the endpoint reference.',
		httpStatus: 400,
	},
	2: {
		title: 'API Service',
		meaning: 'Temporary downtime or overload.',
		category: 'server',
		retry: 'cautious',
		action: SERVICE_ACTION,
		httpStatus: 503,
	},
	131000: {
		title: 'Something went wrong',
		meaning: 'The message failed to send because of an unknown error.',
		category: 'server',
		retry: 'cautious',
		action: SERVICE_ACTION,
		httpStatus: 500,
	},
	131016: {
		title: 'Service unavailable',
		meaning: 'A service is temporarily unavailable.',
		category: 'server',
		retry: 'cautious',
		action: SERVICE_ACTION,
		httpStatus: 503,
	},
	131057: {
		title: 'Account in maintenance mode',
		meaning:
			'The business account is in maintenance mode (for example during a throughput upgrade).',
		category: 'server',
		retry: 'cautious',
		action: 'Wait a few minutes and retry; the number is being upgraded or maintained.',
		httpStatus: 500,
	},
	133004: {
		title: 'Server temporarily unavailable',
		meaning: 'The server is temporarily unavailable.',
		category: 'server',
		retry: 'cautious',
		action: SERVICE_ACTION,
		httpStatus: 503,
	},
	// --- Window, recipient, marketing limits ---
	131047: {
		title: 'Re-engagement message',
		meaning:
			'More than 24 hours have passed since the customer last replied: the customer service window is closed.',
		category: 'window',
		retry: 'never',
		action:
			'Send an approved template instead; free-form messages need an open customer service window.',
		httpStatus: 400,
	},
	131026: {
		title: 'Message undeliverable',
		meaning:
			'The recipient cannot receive this message (not on WhatsApp, old client, or terms not accepted).',
		category: 'recipient',
		retry: 'never',
		action:
			'Do not retry automatically; confirm the number is on WhatsApp and reach the customer another way.',
		httpStatus: 400,
	},
	131049: {
		title: 'Message not delivered to maintain healthy ecosystem engagement',
		meaning:
			'Meta withheld this marketing message (per-user marketing limit; marketing templates to US +1 numbers are paused since April 2025).',
		category: 'recipient',
		retry: 'not_within_24h',
		action:
			'Do not resend to this user within 24 hours; prefer a utility template or wait for the customer to write.',
		httpStatus: 400,
	},
	131050: {
		title: 'User has stopped marketing messages',
		meaning: 'The user opted out of marketing messages from this business.',
		category: 'opt_out',
		retry: 'never',
		action: 'Record the opt-out and stop sending marketing templates to this user.',
		httpStatus: 400,
	},
	// Reported for an authentication template sent to a business-scoped user id (8x8's BSUID release note of 2026-07-21,
	// https://developer.8x8.com/release-notes/2026-07-21-business-scoped-user-ids-bsuid, and this project's notes on
	// Meta's BSUID page): one-time codes go to a phone number only.
	131062: {
		title: 'Business-scoped user id not allowed for this message',
		meaning:
			'Authentication templates (one-time codes) cannot be sent to a business-scoped user id (BSUID); they need the phone number.',
		category: 'recipient',
		retry: 'never',
		action:
			"Send the authentication template to the customer's phone number, or use another template category for a BSUID.",
		httpStatus: 400,
	},
	130472: {
		title: "User's number is part of an experiment",
		meaning: 'The recipient is in a marketing message experiment and did not receive this message.',
		category: 'recipient',
		retry: 'never',
		action: 'Do not retry; this is expected for a small share of marketing sends.',
		httpStatus: 400,
	},
	131021: {
		title: 'Recipient cannot be sender',
		meaning: 'The message was addressed to the sending business number itself.',
		category: 'request',
		retry: 'fix_request',
		action: 'Send to the customer number, not the business phone number.',
		httpStatus: 400,
	},
	// --- Templates ---
	132000: {
		title: 'Template param count mismatch',
		meaning: 'The number of parameters does not match the number of variables in the template.',
		category: 'template',
		retry: 'fix_request',
		action: 'Send exactly one parameter per template variable, per component.',
		httpStatus: 400,
	},
	132001: {
		title: 'Template does not exist',
		meaning: 'The template does not exist in this language, or is not approved.',
		category: 'template',
		retry: 'fix_request',
		action: 'Check the template name and language code, and that this translation is APPROVED.',
		httpStatus: 404,
	},
	132005: {
		title: 'Template hydrated text too long',
		meaning: 'The text with parameters filled in is longer than the component allows.',
		category: 'template',
		retry: 'fix_request',
		action: 'Shorten the parameter values (header text 60 characters, body 1024).',
		httpStatus: 400,
	},
	132007: {
		title: 'Template format character policy violated',
		meaning: 'The parameter values break the format-character policy.',
		category: 'template',
		retry: 'fix_request',
		action: 'Remove disallowed formatting characters from the parameter values.',
		httpStatus: 400,
	},
	132012: {
		title: 'Template parameter format mismatch',
		meaning:
			'The parameter types or naming do not match the approved template (e.g. named vs positional, image vs text).',
		category: 'template',
		retry: 'fix_request',
		action: 'Send parameters of the type the template declares, named when the template is NAMED.',
		httpStatus: 400,
	},
	132015: {
		title: 'Template is paused',
		meaning: 'The template is paused because of low quality.',
		category: 'template',
		retry: 'fix_template',
		action: 'Edit the template or wait for it to be reinstated; use another template meanwhile.',
		httpStatus: 400,
	},
	132016: {
		title: 'Template is disabled',
		meaning: 'The template was paused too many times and is permanently disabled.',
		category: 'template',
		retry: 'fix_template',
		action: 'Create a new template with different content.',
		httpStatus: 400,
	},
	132018: {
		title: 'Template parameter issue',
		meaning:
			'A parameter value is not allowed (for example new-line or tab characters, or more than 4 consecutive spaces).',
		category: 'template',
		retry: 'fix_request',
		action: 'Remove new lines, tabs and runs of more than 4 spaces from the parameter values.',
		httpStatus: 400,
	},
	// --- Request errors ---
	100: {
		title: 'Invalid parameter',
		meaning: 'The request has unsupported, misspelled or malformed parameters.',
		category: 'request',
		retry: 'fix_request',
		action: FIX_REQUEST_ACTION,
		httpStatus: 400,
	},
	131008: {
		title: 'Required parameter is missing',
		meaning: 'The request is missing a required parameter.',
		category: 'request',
		retry: 'fix_request',
		action: FIX_REQUEST_ACTION,
		httpStatus: 400,
	},
	131009: {
		title: 'Parameter value is not valid',
		meaning: 'A parameter value is invalid.',
		category: 'request',
		retry: 'fix_request',
		action: FIX_REQUEST_ACTION,
		httpStatus: 400,
	},
	131051: {
		title: 'Unsupported message type',
		meaning: 'The message type is not supported.',
		category: 'request',
		retry: 'fix_request',
		action: 'Use a supported message type.',
		httpStatus: 400,
	},
	131052: {
		title: 'Media download error',
		meaning: 'Meta could not download the media from the link you sent.',
		category: 'request',
		retry: 'fix_request',
		action:
			'Make the media URL publicly reachable over HTTPS with a correct content type, or upload the media and send its id.',
		httpStatus: 400,
	},
	131053: {
		title: 'Media upload error',
		meaning: 'The media could not be uploaded (unsupported type or size).',
		category: 'request',
		retry: 'fix_request',
		action: 'Check the media type and size limits.',
		httpStatus: 400,
	},
	// --- Authorisation ---
	0: {
		title: 'AuthException',
		meaning: 'The app user could not be authenticated (token expired or invalidated).',
		category: 'auth',
		retry: 'fix_credential',
		action:
			'Create a new access token (a System User token for production) and update the credential.',
		httpStatus: 401,
	},
	3: {
		title: 'API Method',
		meaning: 'Capability or permissions issue.',
		category: 'auth',
		retry: 'fix_credential',
		action:
			'Check the token has whatsapp_business_messaging and whatsapp_business_management permissions.',
		httpStatus: 500,
	},
	10: {
		title: 'Permission Denied',
		meaning: 'A permission is not granted or was removed.',
		category: 'auth',
		retry: 'fix_credential',
		action: 'Grant the app the required permissions and create a new token.',
		httpStatus: 403,
	},
	190: {
		title: 'Access token has expired',
		meaning: 'The access token expired or is invalid.',
		category: 'auth',
		retry: 'fix_credential',
		action:
			'Create a new access token (a System User token does not expire) and update the credential.',
		httpStatus: 401,
	},
	131005: {
		title: 'Access denied',
		meaning: 'Permission is not granted or has been removed.',
		category: 'auth',
		retry: 'fix_credential',
		action: 'Check the token belongs to a user with access to this WhatsApp Business Account.',
		httpStatus: 403,
	},
	// --- Integrity and account ---
	368: {
		title: 'Temporarily blocked for policies violations',
		meaning: 'The WhatsApp Business Account is restricted or disabled for a policy violation.',
		category: 'policy',
		retry: 'stop',
		action: 'Stop sending; review the policy enforcement notice in WhatsApp Manager.',
		httpStatus: 403,
	},
	130497: {
		title: 'Business account is restricted from messaging users in this country',
		meaning: 'The business cannot message users in this country.',
		category: 'policy',
		retry: 'stop',
		action: 'Do not send to this country from this account.',
		httpStatus: 403,
	},
	131031: {
		title: 'Account has been locked',
		meaning: 'The business account is locked (policy violation or failed data verification).',
		category: 'account',
		retry: 'stop',
		action: 'Stop sending and resolve the lock in WhatsApp Manager.',
		httpStatus: 403,
	},
	131042: {
		title: 'Business eligibility payment issue',
		meaning: 'There is a problem with the payment method of the account.',
		category: 'account',
		retry: 'stop',
		action: 'Fix the payment method in Meta Business Suite, then resume.',
		httpStatus: 400,
	},
	133010: {
		title: 'Phone number not registered',
		meaning: 'The business phone number is not registered on the Cloud API.',
		category: 'account',
		retry: 'stop',
		action: 'Register the business phone number before sending.',
		httpStatus: 400,
	},
	// --- Marketing Messages API. Titles are our summary: Meta's wording for these codes is unconfirmed. ---
	131055: {
		title: 'Method not allowed',
		meaning:
			'This request is not allowed on this endpoint (e.g. a non-template message on the Marketing Messages API).',
		category: 'request',
		retry: 'fix_request',
		action:
			'Send only marketing template messages to /marketing_messages; use /messages for everything else.',
		httpStatus: 400,
	},
	131063: {
		title: 'Marketing Messages API restriction',
		meaning: 'The Marketing Messages API refused this message.',
		category: 'request',
		retry: 'fix_request',
		action:
			'Check the template is a MARKETING template and the account is onboarded to the Marketing Messages API.',
		httpStatus: 400,
	},
	134100: {
		title: 'Marketing Messages API restriction',
		meaning: 'The Marketing Messages API refused this message (eligibility or onboarding).',
		category: 'request',
		retry: 'fix_request',
		action: 'Check Marketing Messages API onboarding for this WABA, or send through /messages.',
		httpStatus: 400,
	},
	134101: {
		title: 'Marketing Messages API restriction',
		meaning: 'The Marketing Messages API refused this message (template not yet usable there).',
		category: 'request',
		retry: 'later',
		action:
			'Wait about 10 minutes for a new template to sync to the Marketing Messages API, then retry.',
		httpStatus: 400,
	},
	134102: {
		title: 'Marketing Messages API restriction',
		meaning: 'The Marketing Messages API refused this message.',
		category: 'request',
		retry: 'fix_request',
		action: 'Check the Marketing Messages API requirements for this template and account.',
		httpStatus: 400,
	},
};

/** Every code the catalogue knows (for tests and the sandbox's fault injection). */
export const KNOWN_META_ERROR_CODES: readonly number[] = Object.keys(CATALOGUE).map(Number);

function fromEntry(code: number, entry: CatalogueEntry): MetaErrorInfo {
	return {
		code,
		title: entry.title,
		meaning: entry.meaning,
		category: entry.category,
		retry: entry.retry,
		retryable: RETRYABLE_CODES.has(code),
		action: entry.action,
	};
}

/**
 * What a Meta error means and what a sender should do. `code` wins; `httpStatus` only decides when the
 * code is missing (a proxy's 502, a timeout, a body that is not Meta's JSON).
 */
export function describeMetaError(code: number | undefined, httpStatus?: number): MetaErrorInfo {
	if (code !== undefined) {
		const entry = CATALOGUE[code];
		if (entry) return fromEntry(code, entry);
		if (code >= 200 && code <= 299) {
			return {
				code,
				title: 'API Permission',
				meaning: 'A permission is not granted or was removed.',
				category: 'auth',
				retry: 'fix_credential',
				retryable: false,
				action: 'Grant the app the required permissions and create a new token.',
			};
		}
	}
	const status = httpStatus ?? 0;
	const reportedCode = code ?? -1;
	if (status >= 500) {
		return {
			code: reportedCode,
			title: `HTTP ${status}`,
			meaning:
				'The server failed without a WhatsApp error code; the request may or may not have been accepted.',
			category: 'server',
			retry: 'cautious',
			retryable: false,
			action: SERVICE_ACTION,
		};
	}
	if (code === undefined && (status === 401 || status === 403)) {
		return {
			code: reportedCode,
			title: `HTTP ${status}`,
			meaning: 'The request was not authorised.',
			category: 'auth',
			retry: 'fix_credential',
			retryable: false,
			action: 'Check the access token and its permissions.',
		};
	}
	if (code === undefined && status === 429) {
		return {
			code: reportedCode,
			title: 'HTTP 429',
			meaning: 'Too many requests.',
			category: 'throttled',
			retry: 'backoff',
			retryable: true,
			action: 'Slow down and retry with exponential backoff.',
		};
	}
	return {
		code: reportedCode,
		title: code === undefined ? `HTTP ${status || 'error'}` : `Error ${code}`,
		meaning:
			code === undefined
				? 'The request failed without a WhatsApp error code.'
				: `Error code ${code} is not in this package's catalogue.`,
		category: 'unknown',
		retry: 'never',
		retryable: false,
		action:
			code === undefined
				? 'Inspect the response; do not retry automatically.'
				: `Look up code ${code} in Meta's WhatsApp Cloud API error codes page; do not retry automatically.`,
	};
}

/** The HTTP status Meta answers with for a code (400 when the code is unknown). */
export function httpStatusForCode(code: number): number {
	const entry = CATALOGUE[code];
	if (entry) return entry.httpStatus;
	if (code >= 200 && code <= 299) return 403;
	return 400;
}

export interface MetaErrorBody {
	error: {
		message: string;
		type: string;
		code: number;
		error_subcode?: number;
		error_data?: { messaging_product: 'whatsapp'; details: string };
		fbtrace_id: string;
	};
}

function newFbTraceId(): string {
	return randomBytes(12).toString('base64').replace(/[+/=]/g, 'A');
}

/** Meta's synchronous error JSON for a code (what the sandbox answers). */
export function metaErrorBody(
	code: number,
	message: string,
	details?: string,
	fbtraceId?: string,
): MetaErrorBody {
	const prefixed = /^\(#\d+\)/.test(message) ? message : `(#${code}) ${message}`;
	const isGraphAuth = code === 0 || code === 190;
	const body: MetaErrorBody = {
		error: {
			message: prefixed,
			type: 'OAuthException',
			code,
			fbtrace_id: fbtraceId ?? newFbTraceId(),
		},
	};
	// Graph's own auth errors carry no WhatsApp error_data; every WhatsApp error does.
	if (!isGraphAuth || details !== undefined) {
		body.error.error_data = {
			messaging_product: 'whatsapp',
			details: details ?? CATALOGUE[code]?.meaning ?? message,
		};
	}
	return body;
}

// Tolerant on purpose: proxies answer HTML, Meta sometimes sends error_data as a string.
const metaErrorEnvelopeSchema = z.object({
	error: z
		.object({
			message: z.string().optional(),
			type: z.string().optional(),
			code: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
			error_subcode: z
				.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)])
				.optional(),
			error_data: z
				.union([z.object({ details: z.string().optional() }).passthrough(), z.string()])
				.optional(),
			error_user_msg: z.string().optional(),
			fbtrace_id: z.string().optional(),
		})
		.passthrough(),
});

/** Remove anything that looks like a Graph access token or a secret query parameter. */
export function redactSecrets(text: string): string {
	return text
		.replace(/\bEAA[A-Za-z0-9]{16,}/g, '[redacted token]')
		.replace(
			/(access_token|appsecret_proof|client_secret|verify_token)=([^&\s"']+)/gi,
			'$1=[redacted]',
		)
		.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi, '$1[redacted]');
}

export interface WhatsAppApiErrorInit {
	message?: string;
	httpStatus?: number;
	code?: number;
	subcode?: number;
	details?: string;
	fbtraceId?: string;
	type?: string;
	/** True when the request may have reached Meta and been accepted (e.g. a timeout after sending). */
	acceptedUnknown?: boolean;
	/** Overrides the catalogue's reading (used for transport failures, which have no code). */
	info?: MetaErrorInfo;
	cause?: unknown;
}

/** One error type for every Cloud API failure: synchronous errors, failed statuses and transport failures. */
export class WhatsAppApiError extends Error {
	readonly httpStatus?: number;
	readonly code?: number;
	readonly subcode?: number;
	readonly details?: string;
	readonly fbtraceId?: string;
	readonly metaType?: string;
	readonly info: MetaErrorInfo;
	readonly acceptedUnknown: boolean;

	constructor(init: WhatsAppApiErrorInit) {
		const info = init.info ?? describeMetaError(init.code, init.httpStatus);
		const details = init.details === undefined ? undefined : redactSecrets(init.details);
		const metaMessage = init.message === undefined ? undefined : redactSecrets(init.message);
		super(
			WhatsAppApiError.compose(info, init.code, metaMessage, details),
			init.cause === undefined ? undefined : { cause: init.cause },
		);
		this.name = 'WhatsAppApiError';
		this.httpStatus = init.httpStatus;
		this.code = init.code;
		this.subcode = init.subcode;
		this.details = details;
		this.fbtraceId = init.fbtraceId;
		this.metaType = init.type;
		this.info = info;
		// Without a Meta error code we cannot prove the message was refused.
		this.acceptedUnknown =
			init.acceptedUnknown ??
			(init.code === undefined && (init.httpStatus === undefined || init.httpStatus >= 500));
	}

	private static compose(
		info: MetaErrorInfo,
		code: number | undefined,
		message?: string,
		details?: string,
	): string {
		const head =
			code === undefined
				? `WhatsApp Cloud API request failed (${info.title})`
				: `WhatsApp Cloud API error ${code} (${info.title})`;
		const said = details ?? message;
		return `${head}: ${said ? `${said}. ` : ''}${info.action}`;
	}

	/** Parse Meta's error JSON (object or string); garbage bodies still give a usable error. */
	static fromResponse(httpStatus: number, body: unknown): WhatsAppApiError {
		let candidate: unknown = body;
		if (typeof body === 'string') {
			try {
				candidate = JSON.parse(body) as unknown;
			} catch {
				candidate = undefined;
			}
		}
		const parsed = metaErrorEnvelopeSchema.safeParse(candidate);
		if (!parsed.success) {
			return new WhatsAppApiError({
				httpStatus,
				message: `HTTP ${httpStatus} with a response that is not a WhatsApp error`,
			});
		}
		const e = parsed.data.error;
		const details =
			typeof e.error_data === 'string' ? e.error_data : (e.error_data?.details ?? e.error_user_msg);
		return new WhatsAppApiError({
			httpStatus,
			code: e.code,
			subcode: e.error_subcode,
			message: e.message,
			details,
			fbtraceId: e.fbtrace_id,
			type: e.type,
		});
	}

	/** An item of a `failed` status webhook's `errors[]` (asynchronous failure of an accepted message). */
	static fromStatusError(error: {
		code: number;
		title?: string;
		message?: string;
		error_data?: { details?: string };
	}): WhatsAppApiError {
		return new WhatsAppApiError({
			code: error.code,
			message: error.message ?? error.title,
			details: error.error_data?.details,
			acceptedUnknown: false,
		});
	}

	/**
	 * A request that got no HTTP answer. `sent` says whether the request may have left the machine:
	 * a timeout after sending may have been accepted, a refused connection was not.
	 */
	static transportFailure(sent: boolean, cause: unknown): WhatsAppApiError {
		const reason = redactSecrets(cause instanceof Error ? cause.message : String(cause));
		const info: MetaErrorInfo = sent
			? {
					code: -1,
					title: 'No response',
					meaning: 'The request was sent but no answer came back; Meta may have accepted it.',
					category: 'server',
					retry: 'cautious',
					retryable: false,
					action:
						'Do not resend blindly: the customer may already have the message. Check its status webhooks first.',
				}
			: {
					code: -1,
					title: 'Not sent',
					meaning: 'The request never reached Meta (connection refused, DNS failure).',
					category: 'server',
					retry: 'backoff',
					retryable: true,
					action: 'Retry with backoff; nothing was sent.',
				};
		return new WhatsAppApiError({
			message: sent ? `no response after sending (${reason})` : `request not sent (${reason})`,
			acceptedUnknown: sent,
			info,
			cause,
		});
	}

	/** A plain object for items and logs; holds no secrets (texts pass through redactSecrets). */
	toJSON(): Record<string, unknown> {
		return {
			name: this.name,
			message: this.message,
			httpStatus: this.httpStatus,
			code: this.code,
			subcode: this.subcode,
			details: this.details,
			fbtraceId: this.fbtraceId,
			type: this.metaType,
			category: this.info.category,
			retry: this.info.retry,
			retryable: this.info.retryable,
			title: this.info.title,
			action: this.info.action,
			acceptedUnknown: this.acceptedUnknown,
		};
	}
}

/**
 * Journey-rule decisions (core/journeys/rules.ts) → our stable codes, in the one catalogue beside Meta's. They are
 * ours, not Meta's: an item's `policy.code` says which rule decided (README "Journey rules").
 */
export const JOURNEY_RULE_CODES = {
	sent: 'WJ_SENT',
	already_sent: 'WJ_ALREADY_SENT',
	in_progress: 'WJ_IN_PROGRESS',
	outcome_unknown: 'WJ_OUTCOME_UNKNOWN',
	frequency_capped: 'WJ_FREQUENCY_CAPPED',
	quiet_hours: 'WJ_QUIET_HOURS',
	messaging_limit: 'WJ_MESSAGING_LIMIT',
	quality_guard: 'WJ_QUALITY_GUARD',
	opted_out: 'WJ_OPTED_OUT',
	us_marketing: 'WJ_US_MARKETING',
	dry_run: 'WJ_DRY_RUN',
	released: 'WJ_RELEASED',
} as const;
export type JourneyRuleCode = (typeof JOURNEY_RULE_CODES)[keyof typeof JOURNEY_RULE_CODES];

/**
 * Our stable codes for sends refused before any request leaves because Meta would refuse them (core/journeys/policy.ts
 * SendPolicyError): an item's `error.reference`. Decide on these, not on the text.
 */
export const SEND_REFUSAL_CODES = {
	template_not_approved: 'WJ_TEMPLATE_NOT_APPROVED',
	us_marketing: 'WJ_US_MARKETING',
	opted_out: 'WJ_OPTED_OUT',
	/** An AUTHENTICATION template to a BSUID: the Recipient field must hold the phone number (Meta: 131062). */
	bsuid_authentication: 'WJ_BSUID_AUTHENTICATION',
} as const;
export type SendRefusalCode = (typeof SEND_REFUSAL_CODES)[keyof typeof SEND_REFUSAL_CODES];
