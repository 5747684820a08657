/**
 * Mark as Read: blue ticks on a customer's message, optionally with Meta's typing indicator, which shows until the
 * reply is sent or 25 seconds pass, whichever comes first — so it belongs right before a reply that is coming.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/
 */
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import { TYPING_INDICATOR_SECONDS, describeFailure } from '../../../core';
import { itemParameterReader } from '../../shared/parameters';
import { createClient } from '../../shared/transport';
import { toNodeError } from './send';

const show = { show: { operation: ['markAsRead'] } };

export const description: INodeProperties[] = [
	{
		displayName: 'Message ID',
		name: 'messageId',
		type: 'string',
		required: true,
		default: '={{ $json.messageId }}',
		displayOptions: show,
		description:
			"The wamid of the customer's message (messageId of a WhatsApp Webhook Status inbound message item); earlier messages in the chat are marked read too",
	},
	{
		displayName: 'Show Typing Indicator',
		name: 'typingIndicator',
		type: 'boolean',
		default: false,
		displayOptions: show,
		description:
			'Whether the customer sees "typing…" until your reply is sent or 25 seconds pass. Meta asks to show it only when a reply is coming.',
	},
];

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const { client } = await createClient(this);
	const param = itemParameterReader(this);
	const continueOnFail = this.continueOnFail();
	const count = this.getInputData().length;
	const out: INodeExecutionData[] = [];
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		const messageId = String(param<unknown>('messageId', itemIndex, '') ?? '').trim();
		try {
			const typingIndicator = param<boolean>('typingIndicator', itemIndex, false) === true;
			const at = Date.now();
			const success = await client.markAsRead(messageId, { typingIndicator });
			out.push({
				json: {
					messageId,
					status: 'read',
					success,
					typingIndicator,
					...(typingIndicator
						? {
								typingIndicatorUntil: new Date(at + TYPING_INDICATOR_SECONDS * 1000).toISOString(),
							}
						: {}),
				},
				pairedItem: { item: itemIndex },
			});
		} catch (error) {
			if (!continueOnFail) throw toNodeError(this, error as Error, itemIndex);
			out.push({
				json: { error: { ...describeFailure(error), messageId } as IDataObject },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return [out];
}
