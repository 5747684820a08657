/**
 * HTTP plumbing for routes these nodes add to Node-RED's own servers (RED.httpNode, RED.httpAdmin): reading the raw
 * body (Meta signs the exact bytes, so a parsed-and-reserialised JSON body cannot be verified), plain replies, and
 * removing a route again when its node closes — Express has no API for that, so the router stack is edited.
 *
 * Why a capture at the root app: with the usual settings Node-RED mounts its admin app and the node app on the same
 * root, and the admin app parses every JSON body first. Node-RED's own HTTP In node ("don't parse body") solves it
 * the same way: a middleware at the top of the root application reads the raw bytes of the registered paths before
 * any parser, and marks the body as read (`_body`) so the parsers pass.
 */
import type { ServerResponse } from 'node:http';

import type { HttpApp, HttpRequest, RequestHandler, RouterLayer } from '../types';

class BodyTooLargeError extends Error {}

/** body-parser's "already read" flag (`req._body`): once set, later parsers leave the request alone. */
function bodyRead(req: HttpRequest): boolean {
	return (req as { _body?: unknown })._body === true;
}

/** The request's bytes, at most `limitBytes`. */
function readRaw(req: HttpRequest, limitBytes: number): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		let settled = false;
		req.on('data', (chunk: Buffer) => {
			if (settled) return;
			size += chunk.length;
			if (size > limitBytes) {
				settled = true;
				req.resume();
				reject(new BodyTooLargeError(`The body is larger than ${limitBytes} bytes`));
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => {
			if (settled) return;
			settled = true;
			resolve(Buffer.concat(chunks));
		});
		req.on('error', (error) => {
			if (settled) return;
			settled = true;
			reject(error);
		});
	});
}

function readInto(
	req: HttpRequest,
	res: ServerResponse,
	next: (error?: unknown) => void,
	limitBytes: number,
): void {
	readRaw(req, limitBytes).then(
		(raw) => {
			req.whatsappRawBody = raw;
			(req as { _body?: unknown })._body = true;
			next();
		},
		(error: unknown) => {
			if (error instanceof BodyTooLargeError) reply(res, 413, error.message);
			else next(error);
		},
	);
}

/**
 * Route middleware: makes sure `req.whatsappRawBody` holds the bytes received. Normally the root capture (below) has
 * read them already; bytes kept by another middleware (`req.rawBody`, a Buffer `req.body`) are taken as they are.
 */
export function rawBodyReader(limitBytes: number): RequestHandler {
	return (req, res, next) => {
		if (Buffer.isBuffer(req.whatsappRawBody)) return next();
		const kept = (req as { rawBody?: unknown }).rawBody ?? req.body;
		if (Buffer.isBuffer(kept)) {
			req.whatsappRawBody = kept;
			return next();
		}
		if (req.readableEnded || bodyRead(req)) {
			// Parsed by a middleware this node could not get ahead of (e.g. settings.httpNodeMiddleware): the bytes are gone.
			reply(
				res,
				500,
				'The request body was parsed before this node could read its raw bytes, so its signature cannot be checked',
			);
			return undefined;
		}
		readInto(req, res, next, limitBytes);
		return undefined;
	};
}

function normalisePath(path: string): string {
	return (path.replace(/\/{2,}/g, '/').replace(/\/$/, '') || '/').toLowerCase();
}

/** The application Node-RED's HTTP node app is mounted on (itself when it is not mounted, e.g. in tests). */
function rootOf(app: HttpApp): HttpApp {
	let current = app;
	while (current.parent && current.parent !== current) current = current.parent;
	return current;
}

function stackOf(app: HttpApp): RouterLayer[] | undefined {
	return app._router?.stack ?? app.router?.stack;
}

/** Reads the raw body of POSTs to registered paths of RED.httpNode before any body parser of Node-RED's root app. */
export class RawBodyCapture {
	private readonly paths = new Map<string, number>();
	private installed = false;

	constructor(
		private readonly app: HttpApp,
		private readonly limitBytes: number,
	) {}

	private readonly capture: RequestHandler = (req, res, next) => {
		if (req.method !== 'POST' || bodyRead(req) || Buffer.isBuffer(req.whatsappRawBody))
			return next();
		const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
		if (!this.paths.has(normalisePath(pathname))) return next();
		readInto(req, res, next, this.limitBytes);
		return undefined;
	};

	private install(): void {
		if (this.installed) return;
		const root = rootOf(this.app);
		root.use(this.capture);
		// First in the stack, ahead of the admin app's JSON parser.
		const stack = stackOf(root);
		const index = stack?.findIndex((layer) => layer.handle === this.capture) ?? -1;
		if (stack && index > 0) stack.unshift(...stack.splice(index, 1));
		this.installed = true;
	}

	/** Captures POST bodies of `path` (relative to RED.httpNode). Returns what to pass to `remove`. */
	add(path: string): string {
		this.install();
		const mount = this.app.path?.() ?? '';
		const key = normalisePath(`${mount}/${path}`);
		this.paths.set(key, (this.paths.get(key) ?? 0) + 1);
		return key;
	}

	remove(key: string): void {
		const count = (this.paths.get(key) ?? 0) - 1;
		if (count > 0) this.paths.set(key, count);
		else this.paths.delete(key);
	}
}

export function reply(res: ServerResponse, status: number, text: string): void {
	if (res.headersSent) return;
	res.statusCode = status;
	res.setHeader('Content-Type', 'text/plain; charset=utf-8');
	res.end(text);
}

export function replyJson(res: ServerResponse, status: number, body: unknown): void {
	if (res.headersSent) return;
	res.statusCode = status;
	res.setHeader('Content-Type', 'application/json; charset=utf-8');
	res.end(JSON.stringify(body));
}

/** The query string of a request as a flat record (first value wins), without depending on Express's parser. */
export function queryOf(req: HttpRequest): Record<string, string> {
	const url = new URL(req.url ?? '/', 'http://localhost');
	const out: Record<string, string> = {};
	for (const [key, value] of url.searchParams) if (!(key in out)) out[key] = value;
	return out;
}

/** Removes every route of `app` whose handlers include one of `handlers`. Returns how many went. */
export function removeRoutes(app: HttpApp, handlers: ReadonlyArray<RequestHandler>): number {
	const stack = stackOf(app);
	if (!stack) return 0;
	const ours = new Set<unknown>(handlers);
	let removed = 0;
	for (let i = stack.length - 1; i >= 0; i--) {
		const route = stack[i].route;
		if (route?.stack?.some((layer) => ours.has(layer.handle))) {
			stack.splice(i, 1);
			removed++;
		}
	}
	return removed;
}
