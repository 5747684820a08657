/**
 * The sandbox in its own process for the benchmarks (a real deployment has Meta on other machines, so the
 * simulator must not share the event loop of the code under test):
 *
 *   node -r ts-node/register/transpile-only bench/sandbox-server.ts '<json>'
 *
 * `<json>` is startSandbox's options (mps, pairRateMs, apiVersions, templates …) plus, optionally,
 * `tls: { host, port, certFile, keyFile }`: an HTTPS front that hands requests to the sandbox in this process, so a
 * client that insists on https://graph.facebook.com (n8n's built-in WhatsApp nodes) can be pointed at it through a hosts entry.
 * The front also answers the three app-level Graph calls the built-in WhatsApp Trigger makes when it is activated
 * (app access token, list / create / delete the app's webhook subscription), which the sandbox does not model:
 * enough for that trigger to activate, nothing more.
 * Prints one JSON line `{"url": …, "tlsPort": …, "controlToken": …}` when listening; SIGTERM (or the parent going
 * away) stops it.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { startSandbox, type SandboxOptionsInput } from '../sandbox';

const tlsSchema = z.object({
	host: z.string().default('127.0.0.1'),
	port: z.number().int().min(1).max(65535),
	certFile: z.string(),
	keyFile: z.string(),
});

interface AppSubscription {
	object: string;
	callback_url: string;
	active: boolean;
	fields: Array<{ name: string; version: string }>;
}

function readAll(req: http.IncomingMessage): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
	const text = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(text),
	});
	res.end(text);
}

/** Meta's app-level webhook subscription endpoints, as the built-in trigger uses them. Returns false if not one. */
async function appEndpoint(
	req: http.IncomingMessage,
	res: http.ServerResponse,
	subscriptions: Map<string, AppSubscription>,
): Promise<boolean> {
	const url = new URL(req.url ?? '/', 'https://graph.facebook.com');
	const match = /^\/v\d+\.\d+\/(oauth\/access_token|(\d+)\/subscriptions)$/.exec(url.pathname);
	if (!match) return false;
	const body = (await readAll(req)).toString('utf8');
	if (match[1] === 'oauth/access_token') {
		json(res, 200, { access_token: 'bench-app-access-token', token_type: 'bearer' });
		return true;
	}
	const method = (req.method ?? 'GET').toUpperCase();
	if (method === 'GET') {
		json(res, 200, { data: [...subscriptions.values()] });
	} else if (method === 'POST') {
		const form = new URLSearchParams(body);
		const parsedJson = body.trim().startsWith('{')
			? (JSON.parse(body) as Record<string, unknown>)
			: undefined;
		const get = (k: string): string => String(parsedJson?.[k] ?? form.get(k) ?? '');
		const fields = (JSON.parse(get('fields') || '[]') as string[]).map((name) => ({
			name,
			version: 'v19.0',
		}));
		subscriptions.set(get('object'), {
			object: get('object'),
			callback_url: get('callback_url'),
			active: true,
			fields,
		});
		json(res, 200, { success: true });
	} else if (method === 'DELETE') {
		subscriptions.delete(url.searchParams.get('object') ?? 'whatsapp_business_account');
		json(res, 200, { success: true });
	} else {
		json(res, 400, { error: { message: `unsupported ${method}`, code: 100 } });
	}
	return true;
}

async function main(): Promise<void> {
	const raw = JSON.parse(process.argv[2] ?? '{}') as SandboxOptionsInput & { tls?: unknown };
	const { tls: tlsRaw, ...options } = raw;
	const sandbox = await startSandbox(options);
	let front: https.Server | undefined;
	let tlsPort: number | undefined;
	if (tlsRaw !== undefined) {
		const t = tlsSchema.parse(tlsRaw);
		const subscriptions = new Map<string, AppSubscription>();
		front = https.createServer(
			{ cert: readFileSync(t.certFile), key: readFileSync(t.keyFile), keepAlive: true },
			(req, res) => {
				void (async () => {
					if (await appEndpoint(req, res, subscriptions)) return;
					// Everything else is the sandbox's, answered in this process: no second HTTP hop to its own listener
					// (at 1,000 msg/s the sandbox then answers in 1-4 ms mean from the request's arrival).
					req.headers.host = `127.0.0.1:${sandbox.port}`;
					sandbox.handle(req, res);
				})().catch((error: unknown) => {
					if (!res.headersSent) json(res, 500, { error: { message: String(error) } });
				});
			},
		);
		// As the sandbox's own listener (sandbox/server.ts): idle connections stay open far longer than a client keeps
		// them (undici: 4 s), as at Meta's edge. With Node's default 5 s, a client whose event loop was busy for
		// seconds (n8n preparing 25,000 items) could write to a socket this side had just closed (UND_ERR_SOCKET).
		front.keepAliveTimeout = 65_000;
		front.headersTimeout = 66_000;
		await new Promise<void>((resolve, reject) => {
			front!.once('error', reject);
			front!.listen(t.port, t.host, () => resolve());
		});
		tlsPort = (front.address() as AddressInfo).port;
	}
	process.stdout.write(
		`${JSON.stringify({ url: sandbox.url, tlsPort, controlToken: sandbox.controlToken })}\n`,
	);
	const stop = (): void => {
		front?.close();
		front?.closeAllConnections();
		void sandbox.close().then(() => process.exit(0));
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	// Exit with the parent: never leave a sandbox listening on 443 behind.
	process.stdin.on('end', stop);
	process.stdin.resume();
}

main().catch((error: unknown) => {
	process.stderr.write(
		`bench sandbox: ${error instanceof Error ? error.message : String(error)}\n`,
	);
	process.exit(1);
});
