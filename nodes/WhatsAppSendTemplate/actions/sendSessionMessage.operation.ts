import { NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { buildSessionMessage, mediaReference, sessionMessageFromFields } from '../../../core';
import type { SessionMedia, SessionMessage } from '../../../core';
import { runSendOperation } from './common';
import type { BinaryUploader } from './common';
import type { ParameterReader } from '../../shared/parameters';

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
	ctx: IExecuteFunctions,
	param: ParameterReader,
	itemIndex: number,
	uploader: BinaryUploader,
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
			const caption = type === 'audio' ? '' : param<string>('caption', itemIndex, '');
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

export async function sendSessionMessage(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return runSendOperation(ctx, async (itemIndex, _recipient, { uploader, param }) => {
		const message = await messageFor(ctx, param, itemIndex, uploader);
		return { message, summary: { type: message.type } };
	});
}
