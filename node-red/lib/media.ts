/**
 * Files carried in a msg (a Buffer, Node-RED's way): their MIME and message types. Uploading them once per distinct
 * content is core's MediaUploads.
 */
import { extname } from 'node:path';

import { downloadMedia } from '../../core';
import type { CloudApiClient, DownloadMediaOptions, SessionMediaType } from '../../core';

/** The file types the Cloud API takes, by extension (for a Buffer that comes with msg.filename but no MIME type). */
const MIME_BY_EXTENSION: Record<string, string> = {
	'.jpg': 'image/jpeg',
	'.jpeg': 'image/jpeg',
	'.png': 'image/png',
	'.webp': 'image/webp',
	'.mp4': 'video/mp4',
	'.3gp': 'video/3gpp',
	'.aac': 'audio/aac',
	'.amr': 'audio/amr',
	'.mp3': 'audio/mpeg',
	'.m4a': 'audio/mp4',
	'.ogg': 'audio/ogg',
	'.opus': 'audio/ogg',
	'.txt': 'text/plain',
	'.pdf': 'application/pdf',
	'.doc': 'application/msword',
	'.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
	'.xls': 'application/vnd.ms-excel',
	'.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
	'.ppt': 'application/vnd.ms-powerpoint',
	'.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

export function mimeTypeOf(fileName: string | undefined): string | undefined {
	return fileName ? MIME_BY_EXTENSION[extname(fileName).toLowerCase()] : undefined;
}

/** The message type a MIME type is sent as (anything not image, video or audio goes as a document). */
export function mediaTypeOf(mimeType: string): SessionMediaType {
	const major = mimeType.split('/')[0]?.toLowerCase();
	return major === 'image' || major === 'video' || major === 'audio' ? major : 'document';
}

// One MediaUploads (core/media.ts) per send node: uploads each distinct content once for all its messages.
export { MediaUploads } from '../../core';
export type { FileToUpload } from '../../core';

/** A downloaded media file as it rides on a Node-RED message (`msg.media`): the bytes as a Buffer, and Meta's facts. */
export interface MediaOnMessage {
	data: Buffer;
	mediaId: string;
	fileName: string;
	mimeType: string;
	fileSize: number;
	sha256: string;
}

/** Core's downloadMedia, shaped for a msg. */
export async function mediaOnMessage(
	client: CloudApiClient,
	mediaId: string,
	options: DownloadMediaOptions = {},
): Promise<MediaOnMessage> {
	const file = await downloadMedia(client, mediaId, options);
	return {
		data: file.data,
		mediaId: file.mediaId,
		fileName: file.fileName,
		mimeType: file.mimeType,
		fileSize: file.fileSize,
		sha256: file.sha256,
	};
}
