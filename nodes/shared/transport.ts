import { readFileSync } from 'node:fs';

import type {
	IExecuteFunctions,
	IHookFunctions,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	ITriggerFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';

import { createFetchTransport, multipartForm, toTransportError } from '../../core';
import type { CloudApiClient, RetryPolicy, Transport } from '../../core';
import { CREDENTIAL_NAME, metaConnection, parseCredential } from './credentials';
import type { MetaCredential } from './credentials';

export type N8nContext =
	| IExecuteFunctions
	| ILoadOptionsFunctions
	| IHookFunctions
	| IWebhookFunctions
	| ITriggerFunctions;

const PROXY_VARIABLES = [
	'HTTPS_PROXY',
	'https_proxy',
	'HTTP_PROXY',
	'http_proxy',
	'ALL_PROXY',
	'all_proxy',
];

/**
 * A boolean n8n setting as n8n reads it (@n8n/config): the variable, or else the file its `<NAME>_FILE` twin names,
 * "true" or "1" in any letter case. The node context does not expose the resolved setting (only an egress filter), so
 * it is read again here, leaning to "on": surrounding whitespace is ignored and a file that cannot be read counts as
 * on, since reading a setting as on only costs pooled connections, reading it as off would bypass n8n's protection.
 */
function n8nBooleanSetting(name: string, env: NodeJS.ProcessEnv): boolean {
	const isTrue = (value: string): boolean => ['true', '1'].includes(value.trim().toLowerCase());
	const value = env[name];
	// n8n takes the variable when it is set (older versions only when it is not empty), else the file.
	if (value !== undefined && value !== '') return isTrue(value);
	const file = env[`${name}_FILE`];
	if (!file) return false;
	try {
		return isTrue(readFileSync(file, 'utf8'));
	} catch {
		return true;
	}
}

/**
 * Whether n8n's request helper must carry our requests: when a proxy is configured, or n8n's SSRF protection is on,
 * only n8n applies them. Read per client (not once at load) so a changed environment is seen by the next execution.
 */
export function n8nMustCarryRequests(env: NodeJS.ProcessEnv = process.env): boolean {
	return (
		PROXY_VARIABLES.some((name) => Boolean(env[name])) ||
		n8nBooleanSetting('N8N_SSRF_PROTECTION_ENABLED', env)
	);
}

/**
 * The single place this package makes HTTP calls inside n8n. Non-2xx answers are returned, not thrown, so core/
 * decides what they mean.
 *
 * Why not always `httpRequestWithAuthentication`: for every call it loads the credential from the database,
 * decrypts it and evaluates its `authenticate` expression (a third of n8n's CPU per message in bench:overhead), and
 * n8n's helpers open a new connection (TCP + TLS to graph.facebook.com) per request. So the bearer header is set here
 * from the credential read once per execution — the same `Bearer <access token>` as the credential's `authenticate` —
 * and JSON calls go over a kept-alive connection pool (Node's fetch), unless a proxy or n8n's SSRF protection is
 * configured: then every call goes through n8n's `helpers.httpRequest`, which applies them. Media uploads always do.
 */
export function n8nTransport(ctx: N8nContext, accessToken: string): Transport {
	const authorization = `Bearer ${accessToken}`;
	const pooled = n8nMustCarryRequests() ? undefined : createFetchTransport({ accessToken });
	return async (request) => {
		if (pooled && !request.multipart) return pooled(request);
		const options: IHttpRequestOptions = {
			method: request.method,
			url: request.url,
			qs: request.query,
			headers: { ...request.headers, Authorization: authorization },
			timeout: request.timeoutMs,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
			json: true,
		};
		if (request.responseType === 'buffer') {
			options.json = false;
			options.encoding = 'arraybuffer';
		}
		if (request.multipart) {
			options.body = multipartForm(request.multipart);
			options.json = false;
		} else if (request.json !== undefined) {
			options.body = request.json as IHttpRequestOptions['body'];
		}
		try {
			const response = (await ctx.helpers.httpRequest(options)) as {
				statusCode: number;
				body: unknown;
			};
			let body = response.body;
			const ok = response.statusCode >= 200 && response.statusCode < 300;
			if (request.responseType === 'buffer' && ok) {
				return { status: response.statusCode, body: Buffer.from(body as ArrayBuffer) };
			}
			if (body instanceof ArrayBuffer || Buffer.isBuffer(body))
				body = Buffer.from(body as ArrayBuffer).toString('utf8');
			if (typeof body === 'string' && body.length > 0) {
				try {
					body = JSON.parse(body);
				} catch {
					// keep text
				}
			}
			return { status: response.statusCode, body };
		} catch (error) {
			throw toTransportError(error);
		}
	};
}

export async function getMetaCredential(ctx: N8nContext): Promise<MetaCredential> {
	return parseCredential(await ctx.getCredentials(CREDENTIAL_NAME));
}

/** One client per execution (or per editor call): the credential is read and decrypted once, here. */
export async function createClient(
	ctx: N8nContext,
	retry: Partial<RetryPolicy> = {},
): Promise<{ client: CloudApiClient; credential: MetaCredential }> {
	const data = await ctx.getCredentials(CREDENTIAL_NAME);
	const { connection, credential } = metaConnection(data, (accessToken) =>
		n8nTransport(ctx, accessToken),
	);
	return { client: connection.client(retry), credential };
}
