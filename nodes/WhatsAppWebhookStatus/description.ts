import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_EMITTED_EVENTS, DEFAULT_STOP_KEYWORDS } from '../../core';
import { stateStoreProperties } from '../shared/store';
import {
	DEFAULT_BATCH_WINDOW_MS,
	DEFAULT_MAX_ITEMS,
	MAX_BATCH_WINDOW_MS,
	MAX_MAX_ITEMS,
} from './batcher';

export const EVENT_OPTIONS: Array<{ name: string; value: string }> = [
	{ name: 'Status: Sent', value: 'status:sent' },
	{ name: 'Status: Delivered', value: 'status:delivered' },
	{ name: 'Status: Read', value: 'status:read' },
	{ name: 'Status: Failed', value: 'status:failed' },
	{ name: 'Status: Played (Voice)', value: 'status:played' },
	{ name: 'Inbound Message', value: 'message' },
	{ name: 'User Marketing Preference', value: 'user_preference' },
	{ name: 'User ID Change (BSUID)', value: 'user_id_update' },
	{ name: 'Template Status Update', value: 'template_status' },
	{ name: 'Template Quality Update', value: 'template_quality' },
	{ name: 'Template Category Update', value: 'template_category' },
	{ name: 'Marketing Message Link Click', value: 'link_click' },
	{ name: 'Webhook Error', value: 'error' },
	{ name: 'Phone Number Quality Update', value: 'phone_number_quality' },
	{ name: 'Business Capability Update', value: 'business_capability' },
	{ name: 'Phone Number Name Update', value: 'phone_number_name' },
	{ name: 'Account Update', value: 'account_update' },
];

export const webhookStatusProperties: INodeProperties[] = [
	{
		displayName: 'Registration',
		name: 'registration',
		type: 'options',
		options: [
			{
				name: 'Manual',
				value: 'manual',
				description:
					"Paste this node's Production URL and the credential's verify token into your Meta app's WhatsApp webhook settings",
			},
			{
				name: 'Automatic (Phone Number Override)',
				value: 'automatic',
				description:
					"On activation, point the credential's phone number at this workflow with a callback override; removed on deactivation. Lets several workflows and numbers share one Meta app.",
			},
		],
		default: 'manual',
	},
	{
		displayName:
			'Manual registration: in your Meta app (WhatsApp → Configuration) set the Callback URL to this node\'s Production URL, the Verify Token to the credential\'s, and subscribe to the "messages" field.',
		name: 'manualNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { registration: ['manual'] } },
	},
	{
		displayName: 'Events',
		name: 'events',
		type: 'multiOptions',
		options: EVENT_OPTIONS,
		default: [...DEFAULT_EMITTED_EVENTS],
		description:
			'Which events start the workflow. Window, opt-out and status records are kept for every event either way.',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'All Phone Numbers',
				name: 'allPhoneNumbers',
				type: 'boolean',
				default: false,
				description:
					"Whether to emit events of every phone number of the app, not only the credential's phone number",
			},
			{
				displayName: 'Allow Unsigned Requests (Insecure, Local Testing)',
				name: 'allowUnsigned',
				type: 'boolean',
				default: false,
				description:
					'Whether to accept POSTs without a valid X-Hub-Signature-256 when the credential has no app secret. Anyone who knows the URL could then fake statuses. Never for production.',
			},
			{
				displayName: 'Attach Media',
				name: 'attachMedia',
				type: 'boolean',
				default: false,
				description:
					'Whether an inbound image, video, audio, document or sticker is downloaded and attached to its item as the binary field "data" (SHA-256 checked against Meta\'s). A download that fails leaves the item without it and says why in mediaError.',
			},
			{
				displayName: 'Batch Window (Milliseconds)',
				name: 'batchWindow',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: MAX_BATCH_WINDOW_MS },
				default: DEFAULT_BATCH_WINDOW_MS,
				description:
					'How long the first POST waits for more before starting one execution with all their events: n8n spends far more per execution than per event, and Meta sends about one status per POST. 0 starts one execution per POST. Events are acknowledged to Meta before they are emitted, so a crash within the window loses them.',
			},
			{
				displayName: 'De-Duplicate',
				name: 'deduplicate',
				type: 'boolean',
				default: true,
				description:
					'Whether to emit each event once: Meta retries webhooks for up to 7 days and sends duplicates',
			},
			{
				displayName: 'Include Raw Payload',
				name: 'includeRaw',
				type: 'boolean',
				default: false,
			},
			{
				displayName: 'Late Statuses',
				name: 'lateStatuses',
				type: 'options',
				options: [
					{
						name: 'Drop',
						value: 'drop',
						description: 'A delivered that arrives after read is not emitted',
					},
					{
						name: 'Emit and Flag',
						value: 'flag',
						description: 'Emit it with lateStatus: true; the stored status stays the higher one',
					},
				],
				default: 'drop',
			},
			{
				displayName: 'Max Items per Execution',
				name: 'maxItemsPerExecution',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_MAX_ITEMS },
				default: DEFAULT_MAX_ITEMS,
				description:
					'A batch that reaches this many events starts its execution at once; the next POST opens a new batch. A single POST is never split, so one carrying more events than this starts an execution of its own.',
			},
			{
				displayName: 'Record Conversation Windows',
				name: 'recordWindows',
				type: 'boolean',
				default: true,
				description:
					'Whether inbound messages open the 24-hour window (and ad referrals the 72-hour free entry point window) in the state store',
			},
			{
				displayName: 'Record Opt-Outs',
				name: 'recordOptOuts',
				type: 'boolean',
				default: true,
				description:
					'Whether user marketing preference webhooks and stop keywords are recorded as opt-outs',
			},
			{
				displayName: 'Stop Keywords',
				name: 'stopKeywords',
				type: 'string',
				default: DEFAULT_STOP_KEYWORDS,
				description:
					'Comma-separated inbound texts that count as "stop marketing" (whole message, any case)',
			},
		],
	},
	...stateStoreProperties,
];
