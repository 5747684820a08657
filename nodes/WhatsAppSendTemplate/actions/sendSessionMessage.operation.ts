/** Send Session Message: a free-form message to each item's recipient, inside their 24-hour service window. */
import { NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import {
	buildSessionMessage,
	mediaReference,
	prepareSessionSend,
	sessionMessageFromFields,
} from '../../../core';
import type { SessionMedia, SessionMessage } from '../../../core';
import { sendItems } from './send';
import type { ContentBuilder, SendRun } from './send';

export const description: INodeProperties[] = [
	{
		displayName: 'Message Type',
		name: 'messageType',
		type: 'options',
		displayOptions: { show: { operation: ['sendSessionMessage'] } },
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

interface ButtonEntry {
	id?: string;
	title?: string;
}
interface RowEntry extends ButtonEntry {
	description?: string;
	section?: string;
}

/** The node's fields for one item; core turns them into Meta's shape (the same code the Node-RED node uses). */
async function messageFor(
	{ ctx, param, uploader }: SendRun,
	itemIndex: number,
): Promise<SessionMessage> {
	const type = param<string>('messageType', itemIndex, 'text');
	const text = param<string>('text', itemIndex, '');
	switch (type) {
		case 'text':
			return sessionMessageFromFields({ type: 'text', text });
		case 'image':
		case 'video':
		case 'audio':
		case 'document': {
			const media = param<string>('media', itemIndex, '').trim();
			const binaryProperty = param<string>('binaryProperty', itemIndex, '').trim();
			let ref: SessionMedia;
			if (media) ref = mediaReference(media);
			else if (binaryProperty) ref = { id: await uploader.mediaId(itemIndex, binaryProperty) };
			else
				throw new Error(
					`Media is empty: give a link or media ID, or the Binary Property holding the ${type}`,
				);
			// Core drops a caption where Meta takes none (audio).
			const caption = param<string>('caption', itemIndex, '');
			return sessionMessageFromFields({ type, media: { ...ref, ...(caption ? { caption } : {}) } });
		}
		case 'buttons':
			return sessionMessageFromFields({
				type: 'buttons',
				text,
				buttons: (param<IDataObject>('buttons', itemIndex, {}).button ?? []) as ButtonEntry[],
			});
		case 'list':
			return sessionMessageFromFields({
				type: 'list',
				text,
				rows: (param<IDataObject>('rows', itemIndex, {}).row ?? []) as RowEntry[],
				listButton: param<string>('listButton', itemIndex, 'Choose'),
			});
		default: {
			const raw = param<unknown>('messageJson', itemIndex, '{}');
			if (typeof raw !== 'string') return buildSessionMessage(raw);
			let parsed: unknown;
			try {
				parsed = JSON.parse(raw);
			} catch (error) {
				throw new NodeOperationError(
					ctx.getNode(),
					`Message (JSON) is not valid JSON: ${(error as Error).message}`,
					{ itemIndex },
				);
			}
			return buildSessionMessage(parsed);
		}
	}
}

const sessionSender =
	(run: SendRun): ContentBuilder =>
	async (itemIndex) =>
		prepareSessionSend(await messageFor(run, itemIndex));

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return sendItems(this, sessionSender);
}
