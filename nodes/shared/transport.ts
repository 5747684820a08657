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
 * The single place this package makes HTTP calls inside n8n: through n8n's own request helper with the credential's
 * authentication, so proxies, TLS settings and secret redaction are n8n's. Non-2xx answers are returned, not thrown,
 * so core/ decides what they mean.
 */
export function n8nTransport(ctx: N8nContext): Transport {
  return async (request) => {
    const options: IHttpRequestOptions = {
      method: request.method,
      url: request.url,
      qs: request.query,
      headers: request.headers,
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
      const response = (await ctx.helpers.httpRequestWithAuthentication.call(ctx, CREDENTIAL_NAME, options)) as {
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

export async function createClient(ctx: N8nContext, retry: Partial<RetryPolicy> = {}): Promise<{ client: CloudApiClient; credential: MetaCredential }> {
  const credential = await getMetaCredential(ctx);
  const client = new CloudApiClient(credential, n8nTransport(ctx), { ...DEFAULT_RETRY_POLICY, ...retry });
  return { client, credential };
}
