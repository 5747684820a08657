/**
 * Download Media: a media id from an inbound message (or an upload) → an n8n binary with Meta's MIME type, a file
 * name and size, its SHA-256 checked against Meta's. Core does the Graph calls; this file maps items.
 */
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import { MAX_MEDIA_BYTES, describeFailure, downloadMedia } from '../../../core';
import { itemParameterReader } from '../../shared/parameters';
import { createClient } from '../../shared/transport';
import { toNodeError } from './send';

const show = { show: { operation: ['downloadMedia'] } };
const DEFAULT_MAX_MEGABYTES = MAX_MEDIA_BYTES / (1024 * 1024);

export const description: INodeProperties[] = [
	{
		displayName: 'Media ID',
		name: 'mediaId',
		type: 'string',
		required: true,
		default: '={{ $json.media?.id }}',
		displayOptions: show,
		description:
			"The media's ID: in a WhatsApp Webhook Status item it is media.ID. Meta keeps customers' media for 7 days.",
	},
	{
		displayName: 'Put Output File in Field',
		name: 'binaryPropertyName',
		type: 'string',
		required: true,
		default: 'data',
		displayOptions: show,
		hint: 'The name of the output binary field to put the file in',
	},
	{
		displayName: 'File Name',
		name: 'fileName',
		type: 'string',
		default: '={{ $json.media?.filename ?? "" }}',
		displayOptions: show,
		description:
			"Name for the file; empty gives the media ID with the extension of its MIME type (customers' documents carry their own name)",
	},
	{
		displayName: 'Max File Size (MB)',
		name: 'maxFileSizeMb',
		type: 'number',
		typeOptions: { minValue: 0.1, maxValue: DEFAULT_MAX_MEGABYTES, numberPrecision: 1 },
		default: DEFAULT_MAX_MEGABYTES,
		displayOptions: show,
		description:
			'Larger files fail before they are downloaded. Meta carries images up to 5 MB, audio and video up to 16 MB, documents up to 100 MB.',
	},
];

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const { client } = await createClient(this);
	const param = itemParameterReader(this);
	const continueOnFail = this.continueOnFail();
	const items = this.getInputData();
	const out: INodeExecutionData[] = [];
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const mediaId = String(param<unknown>('mediaId', itemIndex, '') ?? '');
		try {
			const media = await downloadMedia(client, mediaId, {
				maxBytes: Math.round(
					param<number>('maxFileSizeMb', itemIndex, DEFAULT_MAX_MEGABYTES) * 1024 * 1024,
				),
				fileName: String(param<unknown>('fileName', itemIndex, '') ?? ''),
			});
			const property = param<string>('binaryPropertyName', itemIndex, 'data').trim() || 'data';
			const binary = await this.helpers.prepareBinaryData(
				media.data,
				media.fileName,
				media.mimeType,
			);
			out.push({
				json: {
					...items[itemIndex].json,
					download: {
						mediaId: media.mediaId,
						fileName: media.fileName,
						mimeType: media.mimeType,
						fileSize: media.fileSize,
						sha256: media.sha256,
						binaryProperty: property,
					},
				},
				binary: { ...(items[itemIndex].binary ?? {}), [property]: binary },
				pairedItem: { item: itemIndex },
			});
		} catch (error) {
			if (!continueOnFail) throw toNodeError(this, error as Error, itemIndex);
			out.push({
				json: { error: { ...describeFailure(error), mediaId } as IDataObject },
				pairedItem: { item: itemIndex },
			});
		}
	}
	return [out];
}
