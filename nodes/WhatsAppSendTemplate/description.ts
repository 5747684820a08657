import type { INodeProperties } from 'n8n-workflow';

import { DELIVERY_OPTION_LIMITS } from '../../core';

/** The parameters both operations show; each operation's own are in actions/<operation>.operation.ts. */

const { messagesPerSecond, pairIntervalSeconds, maxAttempts, timeoutSeconds, concurrency } =
	DELIVERY_OPTION_LIMITS;
/** Plain names for the defaults, so n8n's lint (and the editor) see a plain value. */
const DEFAULT_CONCURRENCY = concurrency.default;
const DEFAULT_MAX_ATTEMPTS = maxAttempts.default;
const DEFAULT_MESSAGES_PER_SECOND = messagesPerSecond.default;
const DEFAULT_PAIR_INTERVAL_SECONDS = pairIntervalSeconds.default;
const DEFAULT_TIMEOUT_SECONDS = timeoutSeconds.default;

export const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	// Alphabetical (n8n's rule); Send Template stays the default.
	options: [
		{
			name: 'Download Media',
			value: 'downloadMedia',
			action: 'Download media a customer sent',
			description:
				"Fetch an image, document, audio or video by its media ID as a binary file, checked against Meta's SHA-256",
		},
		{
			name: 'Mark as Read',
			value: 'markAsRead',
			action: 'Mark a message as read',
			description:
				"Show blue ticks on a customer's message, optionally with a typing indicator before your reply",
		},
		{
			name: 'Send and Wait for Response',
			value: 'sendAndWait',
			action: 'Send a template and wait for the customer to respond',
			description:
				'Send a template with quick-reply buttons (or, inside the service window, reply buttons, a list or a text) to one customer and pause until they tap one, reply, the message is read or fails, or time runs out',
		},
		{
			name: 'Send Session Message',
			value: 'sendSessionMessage',
			action: 'Send a free form message inside the service window',
			description:
				'Send text, media, reply buttons or a list; only while the 24-hour customer service window is open',
		},
		{
			name: 'Send Template',
			value: 'sendTemplate',
			action: 'Send an approved template message',
			description:
				'Send a Meta-approved template: works whether or not the customer service window is open',
		},
	],
	default: 'sendTemplate',
};

/** Operations that send nothing to a recipient, so the send parameters are hidden for them. */
const NOT_SENDING = ['downloadMedia', 'markAsRead'];

export const recipientProperty: INodeProperties = {
	displayName: 'Recipient Phone Number',
	name: 'recipient',
	type: 'string',
	required: true,
	displayOptions: { hide: { operation: NOT_SENDING } },
	default: '',
	placeholder: '+1 415 555 2671',
	description:
		'The customer\'s number in any common format ("+44 7911 123456", "0049 30 1234567", "whatsapp:+5511…"), or their business-scoped user ID (BSUID, e.g. "US.13491208655302741918") for a customer known only by username. Numbers without a country code use the Default Country option.',
};

export const optionsProperty: INodeProperties = {
	displayName: 'Options',
	name: 'options',
	type: 'collection',
	placeholder: 'Add Option',
	default: {},
	displayOptions: { hide: { operation: NOT_SENDING } },
	options: [
		{
			displayName: 'Allow Marketing to US Numbers',
			name: 'allowUsMarketing',
			type: 'boolean',
			default: false,
			description:
				'Whether to send MARKETING templates to US (+1) numbers. Meta currently withholds them (error 131049); by default such items fail before sending.',
		},
		{
			displayName: 'Concurrency',
			name: 'concurrency',
			type: 'number',
			typeOptions: { minValue: concurrency.min, maxValue: concurrency.max },
			default: DEFAULT_CONCURRENCY,
			description: 'Requests in flight at once; the throughput limit still applies',
		},
		{
			displayName: 'Default Country',
			name: 'defaultCountry',
			type: 'string',
			default: '',
			placeholder: 'DE',
			description: 'Two-letter country (ISO 3166) used for numbers typed without a country code',
		},
		{
			displayName: 'Dry Run',
			name: 'dryRun',
			type: 'boolean',
			default: false,
			description:
				'Whether to validate and return the exact Cloud API payload without sending anything',
		},
		{
			displayName: 'Journey',
			name: 'journey',
			type: 'string',
			default: '',
			placeholder: 'order-confirmation',
			description:
				'Journey name stored in the tracking data, so the Webhook Status trigger can route statuses back',
		},
		{
			displayName: 'Journey Step',
			name: 'step',
			type: 'string',
			default: '',
			placeholder: 'reminder-1',
		},
		{
			displayName: 'Max Attempts',
			name: 'maxAttempts',
			type: 'number',
			typeOptions: { minValue: maxAttempts.min, maxValue: maxAttempts.max },
			default: DEFAULT_MAX_ATTEMPTS,
			description:
				'Attempts per message for errors that prove nothing was sent (throughput, pair rate, call-rate limits, Meta service errors)',
		},
		{
			displayName: 'Messages per Second',
			name: 'messagesPerSecond',
			type: 'number',
			typeOptions: { minValue: messagesPerSecond.min, maxValue: messagesPerSecond.max },
			default: DEFAULT_MESSAGES_PER_SECOND,
			description:
				'Throughput limit of the business phone number (80 by default at Meta, up to 1,000). Shared by every execution in this n8n (and across workers with the Redis store). 0 turns pacing off: only for a number whose limit is enforced elsewhere — Meta answers 130429 above its limit, and those sends are retried.',
		},
		{
			displayName: 'Pair Rate Interval (Seconds)',
			name: 'pairIntervalSeconds',
			type: 'number',
			typeOptions: {
				minValue: pairIntervalSeconds.min,
				maxValue: pairIntervalSeconds.max,
				numberPrecision: 1,
			},
			default: DEFAULT_PAIR_INTERVAL_SECONDS,
			description:
				'Minimum time between two messages to the same customer (Meta: about one every 6 seconds; 0 turns pacing off)',
		},
		{
			displayName: 'Retry When Outcome Unknown',
			name: 'retryUncertain',
			type: 'boolean',
			default: false,
			description:
				'Whether to resend after a timeout or a bare 5xx. Such a message may already have been accepted, so the customer could get it twice.',
		},
		{
			displayName: 'Skip Opted-Out Recipients',
			name: 'skipOptedOut',
			type: 'boolean',
			default: true,
			description:
				'Whether MARKETING templates to customers who stopped marketing messages (recorded by the trigger) fail before sending (Meta would answer 131050)',
		},
		{
			displayName: 'Template Language',
			name: 'templateLanguage',
			type: 'string',
			default: '',
			placeholder: 'en_US',
			description: 'Language code, for a template chosen by name that exists in several languages',
		},
		{
			displayName: 'Timeout (Seconds)',
			name: 'timeoutSeconds',
			type: 'number',
			typeOptions: { minValue: timeoutSeconds.min, maxValue: timeoutSeconds.max },
			default: DEFAULT_TIMEOUT_SECONDS,
		},
		{
			displayName: 'Tracking Data Override',
			name: 'bizOpaqueCallbackData',
			type: 'string',
			default: '',
			description:
				'Your own biz_opaque_callback_data (max 512 characters) instead of the workflow/execution/journey tracking this node fills in',
		},
		{
			displayName: 'Use Marketing Messages API',
			name: 'useMarketingMessagesApi',
			type: 'boolean',
			default: false,
			description:
				'Whether MARKETING templates go through the Marketing Messages API (/marketing_messages) instead of /messages',
		},
	],
};
