/**
 * Media uploaded to the Cloud API (POST /{phone-number-id}/media) once per distinct file: the same brochure sent to a
 * thousand customers is one upload, and every message after the first carries its media id.
 */
import { createHash } from 'node:crypto';

import { TtlCache } from './cache';
import type { CloudApiClient } from './client';
import { WhatsAppApiError } from './errors';

export interface FileToUpload {
	data: Buffer;
	fileName: string;
	mimeType: string;
}

export interface MediaUploadsOptions {
	/** How long an uploaded id is reused. Meta keeps uploaded media 30 days; the default stays well inside that. */
	reuseMs?: number;
	/** Distinct files remembered; the oldest is forgotten first (and uploaded again if sent again). */
	maxFiles?: number;
	now?: () => number;
}

export class MediaUploads {
	private readonly ids: TtlCache<string>;

	constructor(options: MediaUploadsOptions = {}) {
		this.ids = new TtlCache(options.reuseMs ?? 7 * 24 * 60 * 60 * 1000, {
			maxEntries: options.maxFiles ?? 500,
			now: options.now,
		});
	}

	static sha256(data: Buffer): string {
		return createHash('sha256').update(data).digest('hex');
	}

	/** `sha256` may be passed when the caller already hashed the file (it reports the hash), so large files are hashed once. */
	mediaId(
		client: CloudApiClient,
		file: FileToUpload,
		sha256: string = MediaUploads.sha256(file.data),
	): Promise<string> {
		// The MIME type is part of the key: the same bytes declared as another type are another upload to Meta.
		// A failed upload is not remembered: the next message with this file tries again.
		return this.ids.get(`${sha256}|${file.mimeType}`, () => client.uploadMedia(file));
	}
}

/**
 * The largest file Meta carries (documents, 100 MB); images are at most 5 MB, audio and video 16 MB, stickers 500 KB
 * (animated) or 100 KB (static).
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media/#supported-media-types
 */
export const MAX_MEDIA_BYTES = 100 * 1024 * 1024;

/**
 * Meta shows a typing indicator until the reply is sent or for 25 seconds, whichever comes first.
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/
 */
export const TYPING_INDICATOR_SECONDS = 25;

/** How long Meta's media URL (from GET /{media-id}) can be used: 5 minutes. */
export const MEDIA_URL_LIFETIME_MS = 5 * 60 * 1000;

export type MediaDownloadFailure = 'url_expired' | 'too_large' | 'checksum' | 'invalid_id';

/** A download that Meta answered but that cannot be used; `reason` says why, the message says what to do. */
export class MediaDownloadError extends Error {
	constructor(
		readonly reason: MediaDownloadFailure,
		message: string,
		readonly mediaId: string,
		readonly httpStatus?: number,
	) {
		super(message);
		this.name = 'MediaDownloadError';
	}
}

export interface DownloadedMedia {
	mediaId: string;
	data: Buffer;
	mimeType: string;
	/** Hex SHA-256 of the bytes, equal to Meta's. */
	sha256: string;
	fileSize: number;
	fileName: string;
}

export interface DownloadMediaOptions {
	/** Refuse larger files before downloading them. Default MAX_MEDIA_BYTES. */
	maxBytes?: number;
	/** The customer's file name (documents carry one in the webhook); otherwise `<media id>.<extension>`. */
	fileName?: string;
}

const EXTENSIONS: Record<string, string> = {
	'image/jpeg': 'jpg',
	'image/png': 'png',
	'image/webp': 'webp',
	'video/mp4': 'mp4',
	'video/3gp': '3gp',
	'video/3gpp': '3gp',
	'audio/aac': 'aac',
	'audio/amr': 'amr',
	'audio/mpeg': 'mp3',
	'audio/mp4': 'm4a',
	'audio/ogg': 'ogg',
	'text/plain': 'txt',
	'application/pdf': 'pdf',
	'application/msword': 'doc',
	'application/vnd.ms-excel': 'xls',
	'application/vnd.ms-powerpoint': 'ppt',
	'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
	'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
	'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
};

/** `image/jpeg; codecs=…` → `jpg`; unknown types get `bin`. */
export function mediaFileName(mediaId: string, mimeType: string): string {
	const base = mimeType.split(';')[0].trim().toLowerCase();
	return `${mediaId.replace(/[^\w.-]/g, '_')}.${EXTENSIONS[base] ?? 'bin'}`;
}

/** Meta gives hex in GET /{media-id} and base64 in some webhooks; both name the same digest. */
function sameDigest(expected: string, hex: string): boolean {
	const e = expected.trim();
	if (/^[0-9a-f]{64}$/i.test(e)) return e.toLowerCase() === hex;
	return Buffer.from(e, 'base64').toString('hex') === hex;
}

/**
 * An inbound (or uploaded) media file by its id: GET /{media-id} for a fresh URL, then the bytes with the same
 * token, checked against Meta's size and SHA-256. Meta's URL lives 5 minutes; one that has already expired (Meta
 * answers 404, or 401/403 from its CDN) is fetched once more with a new URL before giving up.
 */
export async function downloadMedia(
	client: CloudApiClient,
	mediaId: string,
	options: DownloadMediaOptions = {},
): Promise<DownloadedMedia> {
	const id = mediaId.trim();
	if (!/^[\w.-]{1,128}$/.test(id)) {
		throw new MediaDownloadError(
			'invalid_id',
			`Media ID "${mediaId}" is not a media ID: use the id from the inbound message's media (e.g. {{ $json.media.id }})`,
			mediaId,
		);
	}
	const maxBytes = options.maxBytes ?? MAX_MEDIA_BYTES;
	for (let attempt = 1; ; attempt++) {
		const info = await client.getMedia(id);
		if (info.file_size > maxBytes) {
			throw new MediaDownloadError(
				'too_large',
				`Media ${id} is ${info.file_size} bytes, over the limit of ${maxBytes}: raise Max File Size (Meta carries documents up to 100 MB)`,
				id,
			);
		}
		const answer = await client.fetchMediaUrl(info.url);
		if (answer.data) {
			const data = answer.data;
			if (data.length > maxBytes) {
				throw new MediaDownloadError(
					'too_large',
					`Media ${id} arrived with ${data.length} bytes, over the limit of ${maxBytes}`,
					id,
				);
			}
			const sha256 = MediaUploads.sha256(data);
			if (!sameDigest(info.sha256, sha256) || data.length !== info.file_size) {
				throw new MediaDownloadError(
					'checksum',
					`Media ${id} does not match what Meta announced (SHA-256 ${info.sha256}, ${info.file_size} bytes; got ${sha256}, ${data.length} bytes): the download was corrupted, run it again`,
					id,
				);
			}
			return {
				mediaId: id,
				data,
				mimeType: info.mime_type,
				sha256,
				fileSize: data.length,
				fileName: options.fileName?.trim() || mediaFileName(id, info.mime_type),
			};
		}
		const expired = [401, 403, 404].includes(answer.status);
		if (expired && attempt < 2) continue;
		if (expired) {
			throw new MediaDownloadError(
				'url_expired',
				`Meta refused the media URL of ${id} (HTTP ${answer.status}). Media URLs expire 5 minutes after GET /{media-id} and media from customers is kept 7 days: download it soon after the message arrives`,
				id,
				answer.status,
			);
		}
		throw WhatsAppApiError.fromResponse(answer.status, answer.body);
	}
}
