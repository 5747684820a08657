import { createHmac } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { allFixtureTemplates } from './fixtures/templates';
import {
	graphError,
	unknownObject,
	whatsappError,
	type ApiAnswer,
	type SandboxContext,
} from './context';
import { ControlApi } from './control';
import {
	deleteMedia,
	getMedia,
	getPhoneNumber,
	getWaba,
	listPhoneNumbers,
	listSubscribedApps,
	listTemplates,
	subscribeApp,
	unsubscribeApp,
	updatePhoneNumber,
	uploadMedia,
} from './graph';
import {
	allowedHostnames,
	bearerFromHeader,
	mediaType,
	namesSandbox,
	safeEqual,
	sameOriginOrNone,
	urlHostname,
} from './guard';
import { BodyTooLargeError, parseRequestBody, readBody, sendJson } from './http';
import { parseSandboxOptions, type SandboxConfig, type SandboxOptionsInput } from './options';
import { createRng } from './rng';
import { handleSend } from './send';
import { SandboxState } from './state';
import { WorkTracker } from './tracker';
import { WebhookDispatcher } from './webhooks';

export interface Sandbox {
	/** `http://127.0.0.1:<port>`: use it as the credential's base URL (paths are `/{version}/...`). */
	url: string;
	port: number;
	/** `config.token` is the Graph access token, `config.controlToken` the control API's. */
	config: SandboxConfig;
	/** The token every /__sandbox/ request carries as `Authorization: Bearer <controlToken>`. */
	controlToken: string;
	/**
	 * Calls the control API with the control token: GET `/__sandbox/<path>` without a body, POST it as JSON with one.
	 * Resolves to the JSON answer; rejects on any HTTP error, naming the route and the answer.
	 */
	control<T = unknown>(path: string, body?: unknown): Promise<T>;
	/** Live in-memory state (messages, windows, webhook attempts, requests, faults). */
	state: SandboxState;
	/** Resolves once every scheduled status and webhook delivery (including retries) is done. */
	idle(): Promise<void>;
	/** Same as POST /__sandbox/reset. */
	reset(): void;
	/**
	 * Answers one request as the sandbox's own listener does, for a front in the same process that terminates TLS
	 * (the benchmarks' https://graph.facebook.com): one HTTP hop less than proxying to `url`. The Host header must
	 * name the sandbox, as on `url`.
	 */
	handle(req: IncomingMessage, res: ServerResponse): void;
	close(): Promise<void>;
}

/** Graph takes the access token as a bearer header or as the `access_token` query parameter. */
function bearerToken(req: IncomingMessage, query: URLSearchParams): string | undefined {
	return bearerFromHeader(req) ?? query.get('access_token') ?? undefined;
}

/** A body follows the headers (a bodyless POST such as /__sandbox/reset needs no Content-Type). */
function hasBody(req: IncomingMessage): boolean {
	const length = req.headers['content-length'];
	return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function refuse(res: ServerResponse, status: number, message: string): void {
	sendJson(
		res,
		status,
		{ error: { message } },
		status === 401 ? { 'www-authenticate': 'Bearer realm="sandbox control API"' } : {},
	);
}

/** Starts a sandbox on `options.port` (0 = any free port) and resolves once it listens. */
export async function startSandbox(options: SandboxOptionsInput = {}): Promise<Sandbox> {
	const config = parseSandboxOptions(options);
	const rng = createRng(config.seed);
	const tracker = new WorkTracker();
	const state = new SandboxState(
		config,
		options.templates ?? config.templates ?? allFixtureTemplates,
	);
	const webhooks = new WebhookDispatcher(config, state, rng, tracker);
	let wamidSeq = 0;
	let numericSeq = 0;
	const numericBase = 800_000_000_000_000 + rng.int(100_000_000_000_000);
	const ctx: SandboxContext = {
		config,
		state,
		rng,
		tracker,
		webhooks,
		baseUrl: '',
		newWamid: (waId) => {
			wamidSeq += 1;
			// Opaque like Meta's (base64 of a binary record); unique by the sequence number.
			const raw = Buffer.from(
				`${waId}\u0015${wamidSeq.toString(36)}\u0002${rng.hex(9).toUpperCase()}`,
			);
			return `wamid.HBg${raw.toString('base64')}`;
		},
		newNumericId: () => {
			numericSeq += 1;
			return String(numericBase + numericSeq);
		},
	};

	const reset = (): void => {
		tracker.cancelAll();
		webhooks.clear();
		state.reset();
	};
	const control = new ControlApi(ctx, reset);
	const hung = new Set<ServerResponse>();
	const sockets = new Set<Socket>();

	const record = (
		req: IncomingMessage,
		path: string,
		answer: ApiAnswer | undefined,
		httpStatus: number,
	): void => {
		state.requests.push({
			at: config.now(),
			method: req.method ?? 'GET',
			path,
			httpStatus,
			...(answer?.code !== undefined ? { code: answer.code } : {}),
			...(answer?.phoneNumberId !== undefined ? { phoneNumberId: answer.phoneNumberId } : {}),
			...(answer?.to !== undefined ? { to: answer.to } : {}),
			...(answer?.messageId !== undefined ? { messageId: answer.messageId } : {}),
		});
	};

	async function graph(
		req: IncomingMessage,
		res: ServerResponse,
		path: string,
		query: URLSearchParams,
	): Promise<void> {
		const method = (req.method ?? 'GET').toUpperCase();
		const segments = path.split('/').filter(Boolean);
		const [version, id, edge, ...rest] = segments;
		const answer = (a: ApiAnswer): void => {
			record(req, path, a, a.status);
			sendJson(res, a.status, a.body);
		};

		if (!version || !config.apiVersions.includes(version) || !id) {
			// Graph answers unknown versions and bare paths as unknown path components.
			return answer(
				graphError(ctx, 2500, `Unknown path components: ${path}`, {
					graphLevel: true,
					status: 400,
				}),
			);
		}

		const token = bearerToken(req, query);
		if (!token || !safeEqual(token, config.token)) {
			return answer(
				graphError(
					ctx,
					190,
					token
						? 'Invalid OAuth access token - Cannot parse access token'
						: 'An active access token must be used to query information about the current user.',
					{
						graphLevel: true,
					},
				),
			);
		}
		const proof = query.get('appsecret_proof');
		if (proof !== null) {
			const expected = createHmac('sha256', config.appSecret).update(token).digest('hex');
			if (!safeEqual(proof.toLowerCase(), expected)) {
				return answer(
					graphError(ctx, 100, 'Invalid appsecret_proof provided in the API argument', {
						graphLevel: true,
						type: 'GraphMethodException',
					}),
				);
			}
		}

		const faults = state.faults;
		if (faults.serverErrorRatio > 0 && rng.next() < faults.serverErrorRatio) {
			const failure = whatsappError(
				ctx,
				faults.serverErrorCode,
				'Simulated server error (fault serverErrorRatio).',
			);
			return answer({ ...failure, status: failure.status >= 500 ? failure.status : 500 });
		}

		const isPhone = state.phoneNumbers.has(id);
		const isSend =
			isPhone &&
			method === 'POST' &&
			(edge === 'messages' || edge === 'marketing_messages') &&
			rest.length === 0;
		if (isSend) {
			const now = config.now();
			if (faults.throttleRequests > 0 || now < faults.throttleUntil) {
				if (faults.throttleRequests > 0) faults.throttleRequests -= 1;
				return answer({
					...whatsappError(ctx, 130429, 'Simulated throughput limit (fault throttle).'),
					phoneNumberId: id,
				});
			}
			const raw = await readBody(req);
			const parsed = parseRequestBody(raw, req.headers['content-type']);
			if (!parsed.ok)
				return answer({
					...graphError(ctx, 100, 'Invalid parameter', {
						details: `Body is not valid JSON: ${parsed.error}`,
					}),
					phoneNumberId: id,
				});
			const outcome = handleSend(ctx, id, edge as 'messages' | 'marketing_messages', parsed.value);
			if (outcome.message && faults.acceptThenHang > 0) {
				// Accepted and recorded (statuses will follow) but the caller never hears back.
				faults.acceptThenHang -= 1;
				outcome.message.hung = true;
				record(req, path, outcome.answer, 0);
				hung.add(res);
				res.on('close', () => hung.delete(res));
				return;
			}
			return answer(outcome.answer);
		}

		if (isPhone) {
			if (edge === undefined) {
				if (method === 'GET') return answer(getPhoneNumber(ctx, id, query));
				if (method === 'POST') {
					const parsed = parseRequestBody(await readBody(req), req.headers['content-type']);
					if (!parsed.ok)
						return answer(
							graphError(ctx, 100, 'Invalid parameter', {
								details: `Body is not valid JSON: ${parsed.error}`,
							}),
						);
					return answer(await updatePhoneNumber(ctx, id, parsed.value));
				}
			} else if (edge === 'media' && method === 'POST' && rest.length === 0) {
				return answer(uploadMedia(ctx, id, await readBody(req), req.headers['content-type']));
			}
		} else if (id === config.wabaId) {
			if (edge === undefined && method === 'GET') return answer(getWaba(ctx));
			if (edge === 'message_templates' && method === 'GET' && rest.length === 0)
				return answer(listTemplates(ctx, version, query));
			if (edge === 'phone_numbers' && method === 'GET' && rest.length === 0)
				return answer(listPhoneNumbers(ctx, query));
			if (edge === 'subscribed_apps' && rest.length === 0) {
				if (method === 'GET') return answer(listSubscribedApps(ctx));
				if (method === 'DELETE') return answer(unsubscribeApp(ctx));
				if (method === 'POST') {
					const parsed = parseRequestBody(await readBody(req), req.headers['content-type']);
					if (!parsed.ok)
						return answer(
							graphError(ctx, 100, 'Invalid parameter', {
								details: `Body is not valid JSON: ${parsed.error}`,
							}),
						);
					return answer(await subscribeApp(ctx, parsed.value));
				}
			}
		} else if (edge === undefined && state.media.has(id)) {
			const found =
				method === 'GET'
					? getMedia(ctx, id, query)
					: method === 'DELETE'
						? deleteMedia(ctx, id)
						: undefined;
			if (found) return answer(found);
		}

		const known = isPhone || id === config.wabaId || state.media.has(id);
		if (known && edge !== undefined) {
			return answer(
				graphError(ctx, 2500, `Unknown path components: /${[edge, ...rest].join('/')}`, {
					graphLevel: true,
					status: 400,
				}),
			);
		}
		return answer(unknownObject(ctx, method, id));
	}

	let hostnames = new Set<string>();
	let port = 0;
	/** Control requests: from no other origin, with the control token, JSON bodies only. */
	function admitControl(req: IncomingMessage, res: ServerResponse, path: string): boolean {
		if (!sameOriginOrNone(req.headers.origin, hostnames, port)) {
			refuse(res, 403, 'The control API answers no web page from another origin.');
			return false;
		}
		const token = bearerFromHeader(req);
		// Meta's media URLs take the access token; so do the sandbox's (GET /{media-id} answers them).
		const mediaDownload = req.method === 'GET' && /^\/__sandbox\/media\/\d+$/.test(path);
		if (
			token === undefined ||
			!(safeEqual(token, config.controlToken) || (mediaDownload && safeEqual(token, config.token)))
		) {
			refuse(
				res,
				401,
				`${token === undefined ? 'Missing' : 'Wrong'} control token: send "Authorization: Bearer <controlToken>" (startSandbox() returns it; npm run sandbox prints it; SANDBOX_CONTROL_TOKEN sets it).`,
			);
			return false;
		}
		if (hasBody(req) && mediaType(req.headers['content-type']) !== 'application/json') {
			refuse(
				res,
				415,
				'Control requests with a body must be sent as Content-Type: application/json.',
			);
			return false;
		}
		return true;
	}

	const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
		const url = new URL(req.url ?? '/', 'http://sandbox.local');
		const path = url.pathname;
		const isControl = path === '/__sandbox' || path.startsWith('/__sandbox/');
		// A page on a rebound DNS name reaches 127.0.0.1 with its own name as Host: only the sandbox's names pass.
		if (!namesSandbox(req.headers.host, hostnames, port)) {
			refuse(
				res,
				403,
				`The Host header must name this sandbox (${[...hostnames].join(', ')} on port ${port}); add another name with the allowedHosts option (--allowed-host).`,
			);
			return;
		}
		if (isControl && !admitControl(req, res, path)) return;
		const handler = isControl
			? control.handle(req, res, path, url.searchParams)
			: graph(req, res, path, url.searchParams);
		handler.catch((error: unknown) => {
			if (res.headersSent) {
				res.destroy();
				return;
			}
			if (error instanceof BodyTooLargeError) {
				sendJson(res, 413, {
					error: { message: error.message, type: 'OAuthException', code: 100 },
				});
				return;
			}
			const failure = whatsappError(
				ctx,
				131000,
				`Sandbox error: ${error instanceof Error ? error.message : String(error)}`,
			);
			if (!path.startsWith('/__sandbox')) record(req, path, failure, 500);
			sendJson(res, 500, failure.body);
		});
	};
	const server = http.createServer(onRequest);
	// Longer than clients' idle keep-alive (undici: 4 s), so a client never reuses a socket the sandbox is closing
	// ("other side closed" under load) — Meta's edge keeps connections far longer too.
	server.keepAliveTimeout = 65_000;
	server.headersTimeout = 66_000;
	server.on('connection', (socket) => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
	});

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(config.port, config.host, () => {
			server.off('error', reject);
			resolve();
		});
	});
	port = (server.address() as AddressInfo).port;
	hostnames = allowedHostnames(config.host, config.allowedHosts);
	// Listening on every interface: this machine still reaches it on loopback.
	const reachable = hostnames.has(urlHostname(config.host))
		? urlHostname(config.host)
		: '127.0.0.1';
	const url = `http://${reachable}:${port}`;
	ctx.baseUrl = url;

	const callControl = async <T>(route: string, body?: unknown): Promise<T> => {
		const response = await fetch(
			`${url}/__sandbox${route ? `/${route.replace(/^\/+/, '')}` : ''}`,
			{
				method: body === undefined ? 'GET' : 'POST',
				headers: {
					authorization: `Bearer ${config.controlToken}`,
					...(body === undefined ? {} : { 'content-type': 'application/json' }),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
			},
		);
		const text = await response.text();
		if (!response.ok)
			throw new Error(`sandbox control ${route}: HTTP ${response.status} ${text.slice(0, 500)}`);
		return (text ? JSON.parse(text) : {}) as T;
	};

	let closing: Promise<void> | undefined;
	return {
		url,
		port,
		config,
		controlToken: config.controlToken,
		control: callControl,
		state,
		idle: () => tracker.idle(),
		reset,
		handle: onRequest,
		close: () => {
			closing ??= new Promise<void>((resolve) => {
				webhooks.close();
				tracker.close();
				for (const res of hung) res.destroy();
				server.close(() => resolve());
				for (const socket of sockets) socket.destroy();
			});
			return closing;
		},
	};
}
