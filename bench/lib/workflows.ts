/**
 * Workflows the benchmarks import into n8n, built as n8n exports them. Sends are started by a webhook whose body
 * carries the recipients (`{"recipients": [{"phone": "+49…"}, …]}`), split into items by n8n's Split Out node, so
 * one POST = one execution with N items, and the response returns when the last node has finished.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowJson } from '../../harness';
import { PHONE_NUMBER_ID } from './fixtures';

export const PACKAGE = 'n8n-nodes-whatsapp-journeys';

/** order_confirmation (en_US) from the fixtures: header text, three body variables, a URL button. */
export const ORDER_VALUES = {
	header_text_1: '#A-1042',
	body_1: 'Ana',
	body_2: '#A-1042',
	body_3: '12 March',
	button_0_url: 'A-1042',
};

function node(
	name: string,
	type: string,
	typeVersion: number,
	position: [number, number],
	parameters: Record<string, unknown>,
	extra: Record<string, unknown> = {},
) {
	return { id: randomUUID(), name, type, typeVersion, position, parameters, ...extra };
}

function chain(names: string[]): Record<string, unknown> {
	const connections: Record<string, unknown> = {};
	for (let i = 0; i < names.length - 1; i++)
		connections[names[i]] = { main: [[{ node: names[i + 1], type: 'main', index: 0 }]] };
	return connections;
}

function webhookAndSplit(path: string) {
	return [
		node(
			'Webhook',
			'n8n-nodes-base.webhook',
			2,
			[0, 0],
			{ httpMethod: 'POST', path, responseMode: 'lastNode', options: {} },
			{ webhookId: randomUUID() },
		),
		node('Split Out', 'n8n-nodes-base.splitOut', 1, [220, 0], {
			fieldToSplitOut: 'body.recipients',
			include: 'noOtherFields',
			options: {},
		}),
	];
}

export function oursSendWorkflow(opts: {
	id: string;
	path: string;
	credentialId: string;
	messagesPerSecond: number;
	pairIntervalSeconds: number;
	/** The node's Concurrency option (its default, 64, when not given). */
	concurrency?: number;
}): WorkflowJson {
	const send = node(
		'WhatsApp Send Template',
		`${PACKAGE}.whatsAppSendTemplate`,
		1,
		[440, 0],
		{
			operation: 'sendTemplate',
			recipient: '={{ $json.phone }}',
			template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
			variablesMode: 'mapper',
			variables: {
				mappingMode: 'defineBelow',
				value: ORDER_VALUES,
				matchingColumns: [],
				schema: [],
			},
			options: {
				messagesPerSecond: opts.messagesPerSecond,
				pairIntervalSeconds: opts.pairIntervalSeconds,
				...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
			},
		},
		{
			credentials: {
				metaWhatsAppCloudApi: { id: opts.credentialId, name: 'Meta WhatsApp (bench sandbox)' },
			},
		},
	);
	return {
		id: opts.id,
		name: `bench: ${opts.path}`,
		active: true,
		nodes: [...webhookAndSplit(opts.path), send],
		connections: chain(['Webhook', 'Split Out', 'WhatsApp Send Template']),
		settings: { executionOrder: 'v1' },
	};
}

/**
 * n8n's own WhatsApp Business Cloud node, Send Template, with the same template and values as ours. "On Error:
 * Continue" lets it attempt every item, so its accepted and failed counts can be read from one run.
 */
export function builtinSendWorkflow(opts: {
	id: string;
	path: string;
	credentialId: string;
}): WorkflowJson {
	const text = (t: string) => ({ type: 'text', text: t });
	const send = node(
		'WhatsApp Business Cloud',
		'n8n-nodes-base.whatsApp',
		1.1,
		[440, 0],
		{
			resource: 'message',
			operation: 'sendTemplate',
			phoneNumberId: PHONE_NUMBER_ID,
			recipientPhoneNumber: '={{ $json.phone }}',
			template: 'order_confirmation|en_US',
			components: {
				component: [
					{ type: 'header', headerParameters: { parameter: [text(ORDER_VALUES.header_text_1)] } },
					{
						type: 'body',
						bodyParameters: {
							parameter: [
								text(ORDER_VALUES.body_1),
								text(ORDER_VALUES.body_2),
								text(ORDER_VALUES.body_3),
							],
						},
					},
					{
						type: 'button',
						sub_type: 'url',
						index: 0,
						buttonParameters: { parameter: text(ORDER_VALUES.button_0_url) },
					},
				],
			},
		},
		{
			credentials: { whatsAppApi: { id: opts.credentialId, name: 'WhatsApp (bench sandbox)' } },
			onError: 'continueRegularOutput',
		},
	);
	return {
		id: opts.id,
		name: `bench: ${opts.path}`,
		active: true,
		nodes: [...webhookAndSplit(opts.path), send],
		connections: chain(['Webhook', 'Split Out', 'WhatsApp Business Cloud']),
		settings: { executionOrder: 'v1' },
	};
}

/**
 * Our WhatsApp Webhook Status trigger alone, manual registration and every option at its default: de-duplication on,
 * embedded store, Batch Window 200 ms and Max Items per Execution 1,000 (concurrent POSTs share one execution).
 */
export function oursTriggerWorkflow(opts: {
	id: string;
	webhookId: string;
	credentialId: string;
}): WorkflowJson {
	return {
		id: opts.id,
		name: 'bench: webhook status (ours)',
		active: true,
		nodes: [
			node(
				'WhatsApp Webhook Status',
				`${PACKAGE}.whatsAppWebhookStatus`,
				1,
				[0, 0],
				{ registration: 'manual', options: {} },
				{
					webhookId: opts.webhookId,
					credentials: {
						metaWhatsAppCloudApi: { id: opts.credentialId, name: 'Meta WhatsApp (bench sandbox)' },
					},
				},
			),
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
}

/** n8n's built-in WhatsApp Trigger on the "messages" field (statuses arrive there), default options. */
export function builtinTriggerWorkflow(opts: {
	id: string;
	webhookId: string;
	credentialId: string;
}): WorkflowJson {
	return {
		id: opts.id,
		name: 'bench: WhatsApp Trigger (built-in)',
		active: true,
		nodes: [
			node(
				'WhatsApp Trigger',
				'n8n-nodes-base.whatsAppTrigger',
				1,
				[0, 0],
				{ updates: ['messages'], options: {} },
				{
					webhookId: opts.webhookId,
					credentials: {
						whatsAppTriggerApi: { id: opts.credentialId, name: 'WhatsApp Trigger (bench sandbox)' },
					},
				},
			),
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
}
