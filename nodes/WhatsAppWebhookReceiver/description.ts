import type { INodeProperties } from 'n8n-workflow';

import { webhookStatusProperties } from '../WhatsAppWebhookStatus/description';

export const DEFAULT_RECEIVER_HOST = '127.0.0.1';
export const DEFAULT_RECEIVER_PORT = 5690;
export const DEFAULT_RECEIVER_PATH = '/webhook/whatsapp';

/** The WhatsApp Webhook Status trigger's options this receiver has too (media download stays with that trigger). */
const SHARED_OPTIONS = new Set([
	'allPhoneNumbers',
	'allowUnsigned',
	'batchWindow',
	'deduplicate',
	'includeRaw',
	'lateStatuses',
	'maxItemsPerExecution',
	'recordOptOuts',
	'recordWindows',
	'stopKeywords',
]);

function sharedProperty(name: string): INodeProperties {
	const property = webhookStatusProperties.find((p) => p.name === name);
	if (!property) throw new Error(`WhatsApp Webhook Status has no parameter ${name}`);
	return property;
}

const statusOptions = sharedProperty('options');

export const webhookReceiverProperties: INodeProperties[] = [
	{
		displayName:
			"This trigger listens on a port of its own inside the n8n process, outside n8n's webhook handling, for Meta's full webhook rate. Point your reverse proxy's route for the path below at this host and port. In queue mode it listens on the main instance only (the leader in multi-main).",
		name: 'receiverNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Path',
		name: 'path',
		type: 'string',
		default: DEFAULT_RECEIVER_PATH,
		required: true,
		placeholder: '/webhook/1f0c2f5e-…/whatsapp',
		description:
			"The path Meta posts to. To move an existing WhatsApp Webhook Status trigger here without touching the Meta app, use the path of that trigger's Production URL and route only that path to this receiver's port.",
	},
	{
		displayName: 'Listen Host',
		name: 'host',
		type: 'string',
		default: DEFAULT_RECEIVER_HOST,
		description:
			'Address to listen on. 127.0.0.1 takes requests from a reverse proxy on the same machine only; in Docker use 0.0.0.0 and publish the port to the proxy.',
	},
	{
		displayName: 'Port',
		name: 'port',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 65535 },
		default: DEFAULT_RECEIVER_PORT,
		description:
			"TCP port of the receiver (not n8n's 5678, nor its task broker's 5679). Several workflows may share one port with different paths.",
	},
	sharedProperty('events'),
	{
		...statusOptions,
		options: (statusOptions.options ?? []).filter((o) => 'name' in o && SHARED_OPTIONS.has(o.name)),
	},
	...webhookStatusProperties.filter((p) =>
		['stateStore', 'storePath', 'redisKeyPrefix'].includes(p.name),
	),
];
