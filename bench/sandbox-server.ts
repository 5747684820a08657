/**
 * The sandbox in its own process for the benchmarks (a real deployment has Meta on other machines, so the
 * simulator must not share the event loop of the code under test):
 *
 *   node -r ts-node/register/transpile-only bench/sandbox-server.ts '<json>'
 *
 * `<json>` is startSandbox's options (mps, pairRateMs, apiVersions, templates …) plus, optionally,
 * `tls: { host, port, certFile, keyFile }`: a TLS listener that terminates HTTPS and passes the bytes to the
 * sandbox, so a client that insists on https://graph.facebook.com (n8n's built-in WhatsApp node) can be pointed
 * at it through a hosts entry. Prints one JSON line `{"url": …, "tlsPort": …}` when listening; SIGTERM stops it.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { z } from 'zod';
import { startSandbox, type SandboxOptionsInput } from '../sandbox';

const tlsSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535),
  certFile: z.string(),
  keyFile: z.string(),
});

async function main(): Promise<void> {
  const raw = JSON.parse(process.argv[2] ?? '{}') as SandboxOptionsInput & { tls?: unknown };
  const { tls: tlsRaw, ...options } = raw;
  const sandbox = await startSandbox(options);
  let tlsServer: tls.Server | undefined;
  let tlsPort: number | undefined;
  if (tlsRaw !== undefined) {
    const t = tlsSchema.parse(tlsRaw);
    const sockets = new Set<net.Socket>();
    tlsServer = tls.createServer({ cert: readFileSync(t.certFile), key: readFileSync(t.keyFile) }, (clear) => {
      const upstream = net.connect(sandbox.port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      clear.pipe(upstream).pipe(clear);
      const drop = (): void => {
        clear.destroy();
        upstream.destroy();
      };
      clear.on('error', drop);
      upstream.on('error', drop);
    });
    await new Promise<void>((resolve, reject) => {
      tlsServer!.once('error', reject);
      tlsServer!.listen(t.port, t.host, () => resolve());
    });
    tlsPort = (tlsServer.address() as net.AddressInfo).port;
  }
  process.stdout.write(`${JSON.stringify({ url: sandbox.url, tlsPort })}\n`);
  const stop = (): void => {
    tlsServer?.close();
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Exit with the parent: never leave a sandbox listening on 443 behind.
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
