import type { INodeProperties } from 'n8n-workflow';

import { stateStoreProperties } from '../shared/store';

export const checkWindowProperties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Check Window',
				value: 'check',
				action: 'Check whether the service window is open',
				description: 'Is the customer service window open? Items go to the Open or Closed output',
			},
			{
				name: 'Record Inbound Message',
				value: 'recordInbound',
				action: 'Record that the customer wrote',
				description:
					'For inbound messages that reach n8n another way than the WhatsApp Webhook Status trigger',
			},
		],
		default: 'check',
	},
	{
		displayName: 'Recipient Phone Number',
		name: 'recipient',
		type: 'string',
		required: true,
		default: '',
		placeholder: '+44 7911 123456',
		description:
			"The customer's WhatsApp number (any common format; wa_id digits work too), or their business-scoped user ID (BSUID, e.g. US.13491208655302741918)",
	},
	{
		displayName: 'Window Source',
		name: 'source',
		type: 'options',
		displayOptions: { show: { operation: ['check'] } },
		options: [
			{
				name: 'State Store',
				value: 'store',
				description:
					'Inbound messages recorded by the WhatsApp Webhook Status trigger (or Record Inbound Message)',
			},
			{
				name: 'Timestamp From Item',
				value: 'item',
				description:
					'The last inbound time you keep yourself, e.g. in a CRM field or an n8n Data Table',
			},
		],
		default: 'store',
	},
	{
		displayName: 'Last Inbound Message At',
		name: 'lastInboundAt',
		type: 'string',
		default: '',
		placeholder: '={{ $json.lastInboundAt }}',
		required: true,
		displayOptions: { show: { source: ['item'], operation: ['check'] } },
		description:
			'When the customer last wrote: ISO 8601 time or Unix timestamp (seconds or milliseconds). Empty means never.',
	},
	{
		displayName: 'Inbound Message At',
		name: 'inboundAt',
		type: 'string',
		default: '',
		placeholder: '={{ $json.timestamp }}',
		displayOptions: { show: { operation: ['recordInbound'] } },
		description: 'When the customer wrote (ISO 8601 or Unix timestamp); empty means now',
	},
	{
		displayName: 'From an Ad (Referral)',
		name: 'fromAd',
		type: 'boolean',
		default: false,
		displayOptions: { show: { operation: ['recordInbound'] } },
		description:
			'Whether the message came from a Click-to-WhatsApp ad or Page CTA, which opens the 72-hour free entry point window',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Default Country',
				name: 'defaultCountry',
				type: 'string',
				default: '',
				placeholder: 'GB',
				description: 'Two-letter country for numbers typed without a country code',
			},
			{
				displayName: 'Minimum Time Left (Minutes)',
				name: 'minimumMinutesLeft',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 1440 },
				default: 0,
				description:
					'Treat a window closing within this many minutes as closed, so a slow journey step does not hit error 131047',
			},
		],
	},
	...stateStoreProperties,
];
