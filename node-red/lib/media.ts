/**
 * Files carried in a msg (a Buffer, Node-RED's way) uploaded to the Cloud API: once per distinct content, since the
 * same brochure sent to a thousand customers is one file to Meta, and by media id afterwards.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';

import type { CloudApiClient, SessionMediaType } from '../../core';

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

/** Meta keeps uploaded media 30 days; reuse an id well inside that. */
const REUSE_MS = 7 * 24 * 60 * 60 * 1000;
/** Distinct files remembered per node; the oldest is forgotten first (it is uploaded again if sent again). */
const MAX_FILES = 500;

export interface FileToUpload {
  data: Buffer;
  fileName: string;
  mimeType: string;
}

/** One per send node: uploads each distinct content once and hands every later message the same media id. */
export class MediaUploads {
  private readonly ids = new Map<string, { id: Promise<string>; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  static sha256(data: Buffer): string {
    return createHash('sha256').update(data).digest('hex');
  }

  mediaId(client: CloudApiClient, file: FileToUpload): Promise<string> {
    // The MIME type is part of the key: the same bytes declared as another type are another upload to Meta.
    const key = `${MediaUploads.sha256(file.data)}|${file.mimeType}`;
    const known = this.ids.get(key);
    if (known && this.now() - known.at < REUSE_MS) return known.id;
    const id = client.uploadMedia(file);
    const entry = { id, at: this.now() };
    this.ids.delete(key);
    this.ids.set(key, entry);
    // A failed upload is not remembered: the next message with this file tries again.
    id.catch(() => {
      if (this.ids.get(key) === entry) this.ids.delete(key);
    });
    while (this.ids.size > MAX_FILES) this.ids.delete(this.ids.keys().next().value as string);
    return id;
  }
}
