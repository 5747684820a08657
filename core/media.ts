/**
 * Media uploaded to the Cloud API (POST /{phone-number-id}/media) once per distinct file: the same brochure sent to a
 * thousand customers is one upload, and every message after the first carries its media id.
 */
import { createHash } from 'node:crypto';

import { TtlCache } from './cache';
import type { CloudApiClient } from './client';

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
