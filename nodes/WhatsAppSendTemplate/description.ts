import type { INodeProperties } from 'n8n-workflow';

import {
	DEFAULT_MESSAGES_PER_SECOND,
	DEFAULT_PAIR_INTERVAL_MS,
	MAX_MESSAGES_PER_SECOND,
} from '../../core';
import { stateStoreProperties } from '../shared/store';

/** A literal name for the default, so n8n's lint (and the editor) see a plain value. */
const DEFAULT_PAIR_INTERVAL_SECONDS = DEFAULT_PAIR_INTERVAL_MS / 1000;

const showFor = (operation: string[]) => ({ show: { operation } });

export const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'Send Template',
			value: 'sendTemplate',
			action: 'Send an approved template message',
			description:
				'Send a Meta-approved template: works whether or not the customer service window is open',
		},
		{
			name: 'Send Session Message',
			value: 'sendSessionMessage',
			action: 'Send a free form message inside the service window',
			description:
				'Send text, media, reply buttons or a list; only while the 24-hour customer service window is open',
		},
	],
	default: 'sendTemplate',
};

export const recipientProperty: INodeProperties = {
	displayName: 'Recipient Phone Number',
	name: 'recipient',
	type: 'string',
	required: true,
	default: '',
	placeholder: '+1 415 555 2671',
	description:
		'The customer\'s number in any common format ("+44 7911 123456", "0049 30 1234567", "whatsapp:+5511…"). Numbers without a country code use the Default Country option.',
};

export const templateProperties: INodeProperties[] = [
	{
		displayName: 'Template',
		name: 'template',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		displayOptions: showFor(['sendTemplate']),
		description: 'An APPROVED template of the WhatsApp Business Account in the credential',
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a template…',
				typeOptions: { searchListMethod: 'searchTemplates', searchable: true },
			},
			{
				displayName: 'By Name',
				name: 'name',
				type: 'string',
				placeholder: 'order_confirmation (en_US)',
				hint: 'The template name, optionally followed by its language code in brackets',
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: '1234567890123456',
				validation: [
					{
						type: 'regex',
						properties: { regex: '^[0-9]+$', errorMessage: 'A template ID has digits only' },
					},
				],
			},
		],
	},
	{
		displayName: 'Variables Input',
		name: 'variablesMode',
		type: 'options',
		displayOptions: showFor(['sendTemplate']),
		options: [
			{
				name: 'Map Each Variable',
				value: 'mapper',
				description: "Fill the template's variables one by one, with their examples shown",
			},
			{
				name: 'Components JSON',
				value: 'json',
				description: 'Pass the Cloud API "components" array yourself (experts)',
			},
		],
		default: 'mapper',
	},
	{
		displayName: 'Variables',
		name: 'variables',
		type: 'resourceMapper',
		noDataExpression: true,
		default: { mappingMode: 'defineBelow', value: null },
		required: true,
		displayOptions: { show: { operation: ['sendTemplate'], variablesMode: ['mapper'] } },
		typeOptions: {
			loadOptionsDependsOn: ['template.value', 'options.templateLanguage'],
			resourceMapper: {
				resourceMapperMethod: 'getTemplateVariables',
				mode: 'add',
				fieldWords: { singular: 'variable', plural: 'variables' },
				addAllFields: true,
				multiKeyMatch: false,
				supportAutoMap: true,
				noFieldsError: 'This template has no variables',
			},
		},
	},
	{
		displayName: 'Components (JSON)',
		name: 'componentsJson',
		type: 'json',
		default: '[]',
		displayOptions: { show: { operation: ['sendTemplate'], variablesMode: ['json'] } },
		description:
			'The "components" array of the Cloud API template object; it is checked against the template before sending',
		hint: 'e.g. [{"type":"body","parameters":[{"type":"text","text":"Ana"}]}]',
	},
];

export const sessionProperties: INodeProperties[] = [
	{
		displayName: 'Message Type',
		name: 'messageType',
		type: 'options',
		displayOptions: showFor(['sendSessionMessage']),
		options: [
			{ name: 'Audio', value: 'audio' },
			{ name: 'Document', value: 'document' },
			{ name: 'Image', value: 'image' },
			{ name: 'List', value: 'list' },
			{ name: 'Raw JSON', value: 'json' },
			{ name: 'Reply Buttons', value: 'buttons' },
			{ name: 'Text', value: 'text' },
			{ name: 'Video', value: 'video' },
		],
		default: 'text',
	},
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 4 },
		default: '',
		displayOptions: {
			show: { operation: ['sendSessionMessage'], messageType: ['text', 'buttons', 'list'] },
		},
		description:
			'Message text (text messages up to 4,096 characters; interactive body up to 1,024)',
	},
	{
		displayName: 'Media',
		name: 'media',
		type: 'string',
		default: '',
		placeholder: 'https://example.com/invoice.pdf or a media ID',
		displayOptions: {
			show: {
				operation: ['sendSessionMessage'],
				messageType: ['image', 'video', 'audio', 'document'],
			},
		},
		description:
			'A public HTTPS link or an uploaded media ID. Leave empty to upload the Binary Property instead.',
	},
	{
		displayName: 'Binary Property',
		name: 'binaryProperty',
		type: 'string',
		default: '',
		placeholder: 'data',
		displayOptions: {
			show: {
				operation: ['sendSessionMessage'],
				messageType: ['image', 'video', 'audio', 'document'],
			},
		},
		description:
			'Name of the binary property holding the file to upload when Media is empty; each distinct file is uploaded once',
	},
	{
		displayName: 'Caption',
		name: 'caption',
		type: 'string',
		default: '',
		displayOptions: {
			show: { operation: ['sendSessionMessage'], messageType: ['image', 'video', 'document'] },
		},
	},
	{
		displayName: 'Buttons',
		name: 'buttons',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, maxAllowedFields: 3 },
		default: {},
		displayOptions: { show: { operation: ['sendSessionMessage'], messageType: ['buttons'] } },
		options: [
			{
				name: 'button',
				displayName: 'Button',
				values: [
					{
						displayName: 'ID',
						name: 'id',
						type: 'string',
						default: '',
						description: 'Returned in the reply webhook (max 256 characters)',
					},
					{
						displayName: 'Title',
						name: 'title',
						type: 'string',
						default: '',
						description: 'Max 20 characters',
					},
				],
			},
		],
	},
	{
		displayName: 'List Button Text',
		name: 'listButton',
		type: 'string',
		default: 'Choose',
		displayOptions: { show: { operation: ['sendSessionMessage'], messageType: ['list'] } },
	},
	{
		displayName: 'List Rows',
		name: 'rows',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		default: {},
		displayOptions: { show: { operation: ['sendSessionMessage'], messageType: ['list'] } },
		options: [
			{
				name: 'row',
				displayName: 'Row',
				values: [
					{ displayName: 'ID', name: 'id', type: 'string', default: '' },
					{
						displayName: 'Title',
						name: 'title',
						type: 'string',
						default: '',
						description: 'Max 24 characters',
					},
					{
						displayName: 'Description',
						name: 'description',
						type: 'string',
						default: '',
						description: 'Max 72 characters',
					},
					{
						displayName: 'Section',
						name: 'section',
						type: 'string',
						default: '',
						description: 'Rows with the same section title are grouped',
					},
				],
			},
		],
	},
	{
		displayName: 'Message (JSON)',
		name: 'messageJson',
		type: 'json',
		default: '{\n  "type": "text",\n  "text": { "body": "Hello" }\n}',
		displayOptions: { show: { operation: ['sendSessionMessage'], messageType: ['json'] } },
		description:
			'The Cloud API message without messaging_product and "to": type plus the object of that type',
	},
];

export const optionsProperty: INodeProperties = {
	displayName: 'Options',
	name: 'options',
	type: 'collection',
	placeholder: 'Add Option',
	default: {},
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
			typeOptions: { minValue: 1, maxValue: 256 },
			default: 64,
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
			typeOptions: { minValue: 1, maxValue: 10 },
			default: 6,
			description:
				'Attempts per message for errors that prove nothing was sent (throughput, pair rate, call-rate limits, Meta service errors)',
		},
		{
			displayName: 'Messages per Second',
			name: 'messagesPerSecond',
			type: 'number',
			typeOptions: { minValue: 0, maxValue: MAX_MESSAGES_PER_SECOND },
			default: DEFAULT_MESSAGES_PER_SECOND,
			description:
				'Throughput limit of the business phone number (80 by default at Meta, up to 1,000). Shared by every execution in this n8n (and across workers with the Redis store). 0 turns pacing off: only for a number whose limit is enforced elsewhere — Meta answers 130429 above its limit, and those sends are retried.',
		},
		{
			displayName: 'Pair Rate Interval (Seconds)',
			name: 'pairIntervalSeconds',
			type: 'number',
			typeOptions: { minValue: 0, maxValue: 60, numberPrecision: 1 },
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
			typeOptions: { minValue: 1, maxValue: 300 },
			default: 30,
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

export const sendProperties: INodeProperties[] = [
	operationProperty,
	recipientProperty,
	...templateProperties,
	...sessionProperties,
	{ ...optionsProperty },
	...stateStoreProperties.map((p) => ({ ...p })),
];
