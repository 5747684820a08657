/**
 * The one seam between core/ and the network. core/ never opens sockets itself: n8n passes a transport built on
 * `this.helpers.httpRequest` (nodes/shared/transport.ts), Node-RED and the tests pass `createFetchTransport()`.
 */

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export interface MultipartFile {
	data: Buffer;
	fileName: string;
	mimeType: string;
}

export interface HttpRequest {
	method: HttpMethod;
	url: string;
	query?: Record<string, string | number | boolean>;
	headers?: Record<string, string>;
	/** JSON body. */
	json?: unknown;
	/** multipart/form-data body (media upload). */
	multipart?: { fields: Record<string, string>; file: MultipartFile };
	timeoutMs?: number;
	/** `buffer`: a 2xx body is returned as its bytes (a media download), not parsed. */
	responseType?: 'json' | 'buffer';
}

export interface HttpResponse {
	status: number;
	/** Parsed JSON or text; a Buffer for a 2xx answer to a `responseType: 'buffer'` request. */
	body: unknown;
}

export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

/**
 * Thrown by a transport when no HTTP answer came back. `mayHaveBeenReceived` is the idempotency question:
 * a refused connection proves Meta never saw the request, a timeout after the body left does not.
 */
export class TransportError extends Error {
	constructor(
		message: string,
		readonly mayHaveBeenReceived: boolean,
		readonly causeCode?: string,
	) {
		super(message);
		this.name = 'TransportError';
	}
}

/** Error codes that prove the request never reached the server. Everything else may have been received. */
const NOT_SENT_CODES = new Set([
	'ECONNREFUSED',
	'ENOTFOUND',
	'EAI_AGAIN',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'ERR_INVALID_URL',
	'CERT_HAS_EXPIRED',
	'DEPTH_ZERO_SELF_SIGNED_CERT',
	'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
	'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCode(error: unknown): string | undefined {
	let current: unknown = error;
	// fetch wraps the socket error in `cause`; axios puts `code` on the error itself.
	for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
		const code = (current as { code?: unknown }).code;
		if (typeof code === 'string') return code;
		current = (current as { cause?: unknown }).cause;
	}
	return undefined;
}

/** Classify a low-level failure (no HTTP status) as a TransportError. */
export function toTransportError(error: unknown): TransportError {
	if (error instanceof TransportError) return error;
	const code = errorCode(error);
	const notSent = code !== undefined && NOT_SENT_CODES.has(code);
	const message = error instanceof Error ? error.message : String(error);
	return new TransportError(
		notSent
			? `Could not reach the Graph API (${code}): ${message}`
			: `No answer from the Graph API (${code ?? 'timeout or connection lost'}); the request may have been received`,
		!notSent,
		code,
	);
}

/** The multipart/form-data body of a media upload: the fields, then the file as `file` (Meta's field name). */
export function multipartForm(multipart: NonNullable<HttpRequest['multipart']>): FormData {
	const form = new FormData();
	for (const [k, v] of Object.entries(multipart.fields)) form.append(k, v);
	const { data, fileName, mimeType } = multipart.file;
	form.append('file', new Blob([new Uint8Array(data)], { type: mimeType }), fileName);
	return form;
}

export function buildUrl(url: string, query?: HttpRequest['query']): string {
	if (!query) return url;
	const u = new URL(url);
	for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
	return u.toString();
}

/** A transport on Node's global fetch (undici, keep-alive by default). For Node-RED, tests, benchmarks. */
export function createFetchTransport(
	options: { accessToken?: string; defaultTimeoutMs?: number } = {},
): Transport {
	return async (request) => {
		const headers: Record<string, string> = { ...(request.headers ?? {}) };
		if (options.accessToken && !headers.Authorization)
			headers.Authorization = `Bearer ${options.accessToken}`;
		let body: string | FormData | undefined;
		if (request.multipart) {
			body = multipartForm(request.multipart);
		} else if (request.json !== undefined) {
			headers['Content-Type'] = 'application/json';
			body = JSON.stringify(request.json);
		}
		const timeoutMs = request.timeoutMs ?? options.defaultTimeoutMs ?? 30_000;
		let response: Response;
		try {
			response = await fetch(buildUrl(request.url, request.query), {
				method: request.method,
				headers,
				body,
				signal: AbortSignal.timeout(timeoutMs),
			});
		} catch (error) {
			throw toTransportError(error);
		}
		if (request.responseType === 'buffer' && response.ok) {
			try {
				return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
			} catch (error) {
				throw new TransportError(`The download was cut off: ${(error as Error).message}`, true);
			}
		}
		let text: string;
		try {
			text = await response.text();
		} catch (error) {
			// Headers arrived, so the server received the request.
			throw new TransportError(
				`The Graph API answer was cut off: ${(error as Error).message}`,
				true,
			);
		}
		let parsed: unknown = text;
		if (text.length > 0) {
			try {
				parsed = JSON.parse(text);
			} catch {
				parsed = text;
			}
		}
		return { status: response.status, body: parsed };
	};
}
