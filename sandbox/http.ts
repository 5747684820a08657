import type { IncomingMessage, ServerResponse } from 'node:http';
import { mediaType } from './guard';

/** Largest request body the sandbox reads (Meta's media upload ceiling is 100 MB for documents; tests need far less). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > limit) {
				reject(new BodyTooLargeError(`request body over ${limit} bytes`));
				req.destroy();
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

export function sendJson(
	res: ServerResponse,
	status: number,
	body: unknown,
	headers: Record<string, string> = {},
): void {
	const text = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json; charset=UTF-8',
		'content-length': Buffer.byteLength(text),
		...headers,
	});
	res.end(text);
}

export function sendText(
	res: ServerResponse,
	status: number,
	text: string,
	contentType = 'text/plain; charset=UTF-8',
): void {
	res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
	res.end(text);
}

/**
 * A Graph POST body as a plain object: JSON or form-encoded, as Graph accepts both. Any other body (text/plain, no
 * Content-Type) is ignored like Graph ignores it — the request then lacks its parameters ("(#100) The parameter
 * recipient is required" for a JSON body sent without `Content-Type: application/json`, masnun/fb-bot#2) — so a
 * cross-site `text/plain` POST, which browsers send without a CORS preflight, cannot pass for a JSON one.
 */
export function parseRequestBody(
	raw: Buffer,
	contentType: string | undefined,
): { ok: true; value: unknown } | { ok: false; error: string } {
	const type = mediaType(contentType);
	if (raw.length === 0) return { ok: true, value: {} };
	const text = raw.toString('utf8');
	if (type === 'application/x-www-form-urlencoded') {
		const out: Record<string, unknown> = {};
		for (const [key, value] of new URLSearchParams(text)) {
			out[key] = tryJson(value);
		}
		return { ok: true, value: out };
	}
	if (type !== 'application/json') return { ok: true, value: {} };
	return parseJson(text);
}

export function parseJson(
	text: string,
): { ok: true; value: unknown } | { ok: false; error: string } {
	if (text.length === 0) return { ok: true, value: {} };
	try {
		return { ok: true, value: JSON.parse(text) as unknown };
	} catch (error) {
		return { ok: false, error: error instanceof Error ? error.message : 'invalid JSON' };
	}
}

/** Form values that hold JSON objects (e.g. `template={...}`) are decoded like Graph does. */
function tryJson(value: string): unknown {
	const trimmed = value.trim();
	if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
		try {
			return JSON.parse(trimmed) as unknown;
		} catch {
			return value;
		}
	}
	return value;
}

export interface MultipartPart {
	name: string;
	filename?: string;
	contentType?: string;
	data: Buffer;
}

/** Minimal multipart/form-data reader for media uploads (no streaming: bodies are small). */
export function parseMultipart(
	raw: Buffer,
	contentType: string | undefined,
): MultipartPart[] | undefined {
	const match = contentType?.match(/boundary=(?:"([^"]+)"|([^;]+))/i);
	if (!match) return undefined;
	const boundary = Buffer.from(`--${match[1] ?? match[2]}`);
	const parts: MultipartPart[] = [];
	let pos = raw.indexOf(boundary);
	if (pos < 0) return undefined;
	while (pos >= 0) {
		const start = pos + boundary.length;
		if (raw.subarray(start, start + 2).toString() === '--') break;
		const headerEnd = raw.indexOf('\r\n\r\n', start);
		if (headerEnd < 0) break;
		const headers = raw.subarray(start + 2, headerEnd).toString('utf8');
		const next = raw.indexOf(boundary, headerEnd + 4);
		if (next < 0) break;
		const data = raw.subarray(headerEnd + 4, next - 2); // strip the CRLF before the boundary
		const disposition = headers.match(/content-disposition:[^\r\n]*/i)?.[0] ?? '';
		const name = disposition.match(/\bname="([^"]*)"/i)?.[1];
		if (name !== undefined) {
			parts.push({
				name,
				filename: disposition.match(/\bfilename="([^"]*)"/i)?.[1],
				contentType: headers.match(/content-type:\s*([^\r\n]+)/i)?.[1]?.trim(),
				data,
			});
		}
		pos = next;
	}
	return parts;
}
