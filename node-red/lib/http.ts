/**
 * HTTP plumbing for routes these nodes add to Node-RED's own servers (RED.httpNode, RED.httpAdmin): a raw body
 * reader (Meta signs the exact bytes, so a parsed-and-reserialised JSON body cannot be verified), plain replies,
 * and removing a route again when its node closes — Express has no API for that, so the router stack is edited.
 */
import type { ServerResponse } from 'node:http';

import type { HttpApp, HttpRequest, RequestHandler, RouterLayer } from '../types';

/**
 * Reads the request body as bytes into `req.whatsappRawBody`. 413 past `limitBytes`. Bytes kept by an earlier
 * middleware (`req.rawBody`, or a Buffer `req.body` from a raw parser) are taken as they are.
 */
export function rawBodyReader(limitBytes: number): RequestHandler {
  return (req, res, next) => {
    const kept = (req as { rawBody?: unknown }).rawBody ?? req.body;
    if (Buffer.isBuffer(kept)) {
      req.whatsappRawBody = kept;
      return next();
    }
    if (req.readableEnded) {
      // Another middleware (e.g. a body parser in settings.httpNodeMiddleware) already consumed the stream.
      reply(res, 500, 'The request body was consumed before this node could read it: remove body parsers from httpNodeMiddleware for this path');
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        reply(res, 413, `The body is larger than ${limitBytes} bytes`);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      req.whatsappRawBody = Buffer.concat(chunks);
      next();
    });
    req.on('error', (error) => {
      if (failed) return;
      failed = true;
      next(error);
    });
    return undefined;
  };
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
  const stack: RouterLayer[] | undefined = app._router?.stack ?? app.router?.stack;
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
