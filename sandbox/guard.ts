import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * What keeps a web page in the developer's browser from driving the sandbox: the Host a request names must be the
 * sandbox's own (DNS rebinding), control requests must not come from another origin and must carry the control
 * token, and bodies are read as JSON only when they say they are JSON (a cross-site form or `text/plain` POST needs
 * no CORS preflight).
 */

const LOOPBACK_HOSTNAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/** `::1` → `[::1]`: hostnames as WHATWG URLs write them. */
export function urlHostname(host: string): string {
	return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host.toLowerCase();
}

/** The hostnames a request may name: loopback, the interface the sandbox listens on, and the allowed extra names. */
export function allowedHostnames(host: string, extra: readonly string[]): Set<string> {
	const names = new Set(LOOPBACK_HOSTNAMES);
	if (!WILDCARD_HOSTS.has(host)) names.add(urlHostname(host));
	for (const name of extra) names.add(urlHostname(name));
	return names;
}

/** A `host[:port]` that names this sandbox: one of `hostnames`, on `port` (no port = 80). */
export function namesSandbox(
	authority: string | undefined,
	hostnames: ReadonlySet<string>,
	port: number,
): boolean {
	// Userinfo, a path or other junk would let the URL parser read a different host than the header says.
	if (!authority || /[@/?#\\\s]/.test(authority)) return false;
	let url: URL;
	try {
		url = new URL(`http://${authority}`);
	} catch {
		return false;
	}
	return hostnames.has(url.hostname) && (url.port === '' ? port === 80 : Number(url.port) === port);
}

/** A request with no Origin (not from a browser page) or with the sandbox's own origin. */
export function sameOriginOrNone(
	origin: string | undefined,
	hostnames: ReadonlySet<string>,
	port: number,
): boolean {
	if (origin === undefined) return true;
	let url: URL;
	try {
		url = new URL(origin);
	} catch {
		return false; // includes the opaque origin "null"
	}
	return url.protocol === 'http:' && namesSandbox(url.host, hostnames, port);
}

export function safeEqual(a: string, b: string): boolean {
	const ab = Buffer.from(a);
	const bb = Buffer.from(b);
	return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export function bearerFromHeader(req: IncomingMessage): string | undefined {
	const header = req.headers.authorization;
	if (typeof header !== 'string') return undefined;
	return header.match(/^Bearer\s+(.+)$/i)?.[1].trim();
}

/** `application/json; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string | undefined): string | undefined {
	return contentType?.split(';')[0].trim().toLowerCase() || undefined;
}
