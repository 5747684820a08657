import type {
  IExecuteFunctions,
  IHookFunctions,
  IHttpRequestOptions,
  ILoadOptionsFunctions,
  IWebhookFunctions,
} from 'n8n-workflow';

import { CloudApiClient, DEFAULT_RETRY_POLICY, toTransportError } from '../../core';
import type { RetryPolicy, Transport } from '../../core';
import { CREDENTIAL_NAME, parseCredential } from './credentials';
import type { MetaCredential } from './credentials';

export type N8nContext = IExecuteFunctions | ILoadOptionsFunctions | IHookFunctions | IWebhookFunctions;

/**
 * The single place this package makes HTTP calls inside n8n: through n8n's own request helper, so proxies and TLS
 * settings are n8n's. Non-2xx answers are returned, not thrown, so core/ decides what they mean.
 *
 * The bearer header is set here from the credential read once per execution, rather than through
 * `httpRequestWithAuthentication`: that helper loads the credential from the database, decrypts it and evaluates its
 * `authenticate` expression again for every request — a third of n8n's CPU per message in bench:overhead's profile.
 * The header is the same `Bearer <access token>` the credential's `authenticate` (used by the credential test) sends.
 */
export function n8nTransport(ctx: N8nContext, accessToken: string): Transport {
  const authorization = `Bearer ${accessToken}`;
  return async (request) => {
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
    if (request.multipart) {
      const form = new FormData();
      for (const [k, v] of Object.entries(request.multipart.fields)) form.append(k, v);
      const { data, fileName, mimeType } = request.multipart.file;
      form.append('file', new Blob([new Uint8Array(data)], { type: mimeType }), fileName);
      options.body = form;
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
export async function createClient(ctx: N8nContext, retry: Partial<RetryPolicy> = {}): Promise<{ client: CloudApiClient; credential: MetaCredential }> {
  const data = await ctx.getCredentials(CREDENTIAL_NAME);
  const credential = parseCredential(data);
  const client = new CloudApiClient(credential, n8nTransport(ctx, String(data.accessToken)), { ...DEFAULT_RETRY_POLICY, ...retry });
  return { client, credential };
}
