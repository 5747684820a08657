/**
 * `npm run demo`: the example journeys running in a real n8n against the local Cloud API sandbox.
 *
 * It starts the sandbox, provisions n8n 2.x (cached; the first run downloads it), installs this package the way
 * n8n installs community packages, creates the credential, imports and activates the example journeys, then plays
 * customers through them: some write first (window open → free-form message), some never wrote (closed → template),
 * a US +1 marketing recipient, an opted-out customer, an undeliverable number. It prints a journey report read from
 * n8n's own execution data and exits non-zero if the journeys did not behave. n8n stays up for you to look around
 * until Ctrl-C, unless --exit is given (tests use that).
 *
 *   npm run demo [-- --exit] [-- --keep-sandbox-port 0]
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import { decodeTracking } from '../core';
import { startSandbox } from '../sandbox';
import type { Sandbox } from '../sandbox';
import { N8nInstance, disposeAll, freePort, jsonOf } from '../test/e2e/harness';
import type { StoredExecutionWithData, WorkflowJson } from '../test/e2e/harness';

const args = new Set(process.argv.slice(2));
const exitWhenDone = args.has('--exit') || process.env.CI === 'true';

const APP_SECRET = 'demo-app-secret-not-for-production';
const TOKEN = 'demo-access-token-not-for-production';
const VERIFY_TOKEN = 'demo-verify-token';
const CREDENTIAL = { id: 'wjSandboxCred01', name: 'WhatsApp Cloud API (sandbox)' };

export const CUSTOMERS = {
  ana: { name: 'Ana', phone: '+44 7911 123456', waId: '447911123456' }, // writes first: window open
  ben: { name: 'Ben', phone: '+49 30 1234567', waId: '49301234567' }, // never wrote: window closed
  cara: { name: 'Cara', phone: '+1 415 555 2671', waId: '14155552671' }, // US +1: marketing withheld
  dan: { name: 'Dan', phone: '+34 612 345 678', waId: '34612345678' }, // stopped marketing messages
  eve: { name: 'Eve', phone: '+33 6 12 34 56 78', waId: '33612345678' }, // undeliverable: 131026
  fay: { name: 'Fay', phone: '+55 11 98765 4321', waId: '5511987654321' }, // logs in: OTP
} as const;

const log = (line: string): void => void process.stderr.write(`demo: ${line}\n`);

function loadExample(file: string): WorkflowJson {
  return JSON.parse(readFileSync(path.join(__dirname, file), 'utf8')) as WorkflowJson;
}

function webhookPathOf(workflow: WorkflowJson, nodeName: string): string {
  const node = (workflow.nodes as Array<{ name: string; type: string; webhookId?: string; parameters: { path?: string } }>).find((n) => n.name === nodeName);
  if (!node) throw new Error(`${workflow.name} has no node ${nodeName}`);
  // n8n's Webhook node uses its path as the full path; other trigger nodes live under <webhookId>/<path>.
  return node.type === 'n8n-nodes-base.webhook' ? String(node.parameters.path) : `${node.webhookId}/whatsapp`;
}

/**
 * The sandbox calls one callback URL, as Meta does per app/number. The demo has two status journeys listening
 * (status sink, delivery-failure follow-up), so a tiny relay fans each signed webhook out to both, byte for byte.
 */
async function startRelay(targets: () => string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const signature = req.headers['x-hub-signature-256'];
      if (typeof signature === 'string') headers['x-hub-signature-256'] = signature;
      const answers = await Promise.all(
        targets().map((url) =>
          fetch(url + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''), { method: req.method, headers, body: req.method === 'GET' ? undefined : body })
            .then(async (r) => ({ status: r.status, text: await r.text() }))
            .catch(() => ({ status: 502, text: '' })),
        ),
      );
      const worst = answers.find((a) => a.status >= 300) ?? answers[0] ?? { status: 200, text: '' };
      res.writeHead(worst.status, { 'content-type': 'text/plain' }).end(worst.text);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function post(url: string, body: unknown): Promise<number> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status >= 300) log(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  return response.status;
}

async function settle(n8n: N8nInstance, sandbox: Sandbox, quietMs = 2500, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await sandbox.idle();
    const executions = await n8n.executions();
    const running = executions.filter((e) => !['success', 'error', 'crashed', 'canceled'].includes(e.status)).length;
    if (executions.length !== last || running > 0) {
      last = executions.length;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error('the journeys did not settle within 2 minutes');
}

export interface Report {
  routed: { open: string[]; closed: string[] };
  sent: Array<{ journey: string; step: string; recipient: string; messageId: string }>;
  skipped: Array<{ journey: string; recipient: string; reason: string }>;
  statuses: Record<string, Record<string, number>>;
  failures: Array<{ recipient: string; code: string; meaning: string }>;
  followUps: { retry: number; fallback: number };
}

function safeJsonOf(data: StoredExecutionWithData['data'], node: string, output = 0): Array<Record<string, unknown>> {
  try {
    return jsonOf(data, node, { output });
  } catch {
    return [];
  }
}

async function buildReport(n8n: N8nInstance, ids: Record<string, string>): Promise<Report> {
  const report: Report = { routed: { open: [], closed: [] }, sent: [], skipped: [], statuses: {}, failures: [], followUps: { retry: 0, fallback: 0 } };
  for (const summary of await n8n.executions()) {
    const { data } = await n8n.execution(summary.id);
    switch (summary.workflowId) {
      case ids.order: {
        for (const item of safeJsonOf(data, 'Window open?', 0)) report.routed.open.push(String((item.whatsappWindow as { recipient: string }).recipient));
        for (const item of safeJsonOf(data, 'Window open?', 1)) report.routed.closed.push(String((item.whatsappWindow as { recipient: string }).recipient));
        for (const node of ['Free-form confirmation', 'Template confirmation']) {
          for (const item of safeJsonOf(data, node)) {
            const tracking = item.tracking as { journey?: string; step?: string };
            report.sent.push({ journey: tracking.journey ?? '', step: tracking.step ?? '', recipient: String(item.recipient), messageId: String(item.messageId) });
          }
        }
        break;
      }
      case ids.cart:
      case ids.otp: {
        const node = summary.workflowId === ids.cart ? 'Spring sale offer' : 'Send code';
        const journey = summary.workflowId === ids.cart ? 'abandoned-cart' : 'login';
        for (const item of safeJsonOf(data, node, 0)) {
          if (item.messageId) report.sent.push({ journey, step: String((item.tracking as { step?: string }).step ?? ''), recipient: String(item.recipient), messageId: String(item.messageId) });
        }
        for (const item of safeJsonOf(data, node, 1)) {
          const error = item.error as { message?: string; recipient?: string } | string | undefined;
          const message = typeof error === 'string' ? error : error?.message ?? JSON.stringify(item);
          const recipient = typeof error === 'object' && error?.recipient ? error.recipient : String(item.phone ?? '');
          report.skipped.push({ journey, recipient, reason: message.replace(/\s+/g, ' ').slice(0, 110) });
        }
        break;
      }
      case ids.sink: {
        for (const item of safeJsonOf(data, 'Join to journey step')) {
          if (item.event === 'message' || item.event === 'user_preference') continue;
          const key = `${item.journey}/${item.step}`;
          report.statuses[key] ??= {};
          report.statuses[key][String(item.event)] = (report.statuses[key][String(item.event)] ?? 0) + 1;
        }
        for (const item of safeJsonOf(data, 'Every status')) {
          if (item.status === 'failed') {
            const error = (item.errors as Array<{ code: number; meaning: string }> | undefined)?.[0];
            report.failures.push({ recipient: String(item.recipientId), code: String(error?.code ?? '?'), meaning: error?.meaning ?? '' });
            // Tracking survives the round trip through Meta: the failed status names the sending journey step.
            decodeTracking(String(item.bizOpaqueCallbackData ?? ''));
          }
        }
        break;
      }
      case ids.failure: {
        report.followUps.retry += safeJsonOf(data, 'Retry tomorrow').length;
        report.followUps.fallback += safeJsonOf(data, 'Fall back to e-mail/SMS').length;
        break;
      }
      default:
        break;
    }
  }
  return report;
}

function printReport(report: Report, n8nUrl: string): void {
  const out: string[] = [];
  out.push('', 'WhatsApp journey report (from n8n execution data)', '='.repeat(52));
  out.push(`Window check: open → ${report.routed.open.join(', ') || '-'}; closed → ${report.routed.closed.join(', ') || '-'}`);
  out.push('', 'Sent:');
  for (const s of report.sent) out.push(`  ${s.journey}/${s.step.padEnd(18)} ${s.recipient.padEnd(16)} ${s.messageId.slice(0, 28)}…`);
  out.push('', 'Skipped by policy (before any request):');
  for (const s of report.skipped) out.push(`  ${s.journey.padEnd(15)} ${s.recipient.padEnd(16)} ${s.reason}`);
  out.push('', 'Statuses per journey step (status sink):');
  for (const [step, counts] of Object.entries(report.statuses)) {
    out.push(`  ${step.padEnd(34)} ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  out.push('', 'Failed messages:');
  for (const f of report.failures) out.push(`  ${f.recipient.padEnd(14)} ${f.code} ${f.meaning}`);
  out.push(`Delivery-failure follow-up: retry later ${report.followUps.retry}, fall back to another channel ${report.followUps.fallback}`);
  out.push('', `n8n: ${n8nUrl}`);
  console.log(out.join('\n'));
}

/** What "the journey behaved" means; each line is a promise the README makes. */
export function checkReport(report: Report): string[] {
  const problems: string[] = [];
  const expectRouted = (who: 'open' | 'closed', e164: string) => {
    if (!report.routed[who].includes(e164)) problems.push(`${e164} was not routed to ${who}`);
  };
  expectRouted('open', '+447911123456');
  expectRouted('closed', '+49301234567');
  expectRouted('closed', '+33612345678');
  const sentTo = (journey: string, e164: string) => report.sent.some((s) => s.journey === journey && s.recipient === e164);
  if (!sentTo('order-confirmation', '+447911123456')) problems.push('Ana got no order confirmation');
  if (!report.sent.some((s) => s.recipient === '+447911123456' && s.step === 'confirm-session')) problems.push('Ana (window open) did not get the free-form message');
  if (!report.sent.some((s) => s.recipient === '+49301234567' && s.step === 'confirm-template')) problems.push('Ben (window closed) did not get the template');
  if (!sentTo('abandoned-cart', '+49301234567')) problems.push('Ben got no abandoned-cart offer');
  if (!sentTo('login', '+5511987654321')) problems.push('Fay got no OTP');
  if (!report.skipped.some((s) => s.recipient.replace(/\D/g, '') === '14155552671' && /131049|US/.test(s.reason))) problems.push('the US +1 marketing recipient was not stopped');
  if (!report.skipped.some((s) => s.recipient.replace(/\D/g, '') === '34612345678' && /131050|opted|stopped/i.test(s.reason))) problems.push('the opted-out customer was not skipped');
  if (report.sent.some((s) => ['+14155552671', '+34612345678'].includes(s.recipient))) problems.push('a policy-skipped customer was messaged');
  if (!report.failures.some((f) => f.recipient === '33612345678' && f.code === '131026')) problems.push('Eve\'s undeliverable message did not come back as failed 131026');
  if ((report.statuses['order-confirmation/confirm-session']?.read ?? 0) < 1) problems.push('no read status joined back to order-confirmation/confirm-session');
  if (report.followUps.fallback !== 1 || report.followUps.retry !== 0) {
    problems.push(`the delivery-failure journey should send Eve's 131026 to the fallback channel (fallback ${report.followUps.fallback}, retry ${report.followUps.retry})`);
  }
  return problems;
}

export interface DemoResult {
  report: Report;
  problems: string[];
  n8nUrl: string;
  /** Stops n8n, the sandbox and the relay. */
  shutdown(): Promise<void>;
}

/** Runs the whole demo and returns its report; the caller decides when to shut everything down. */
export async function runDemo(): Promise<DemoResult> {
  log('starting the Cloud API sandbox');
  let sinkUrl = '';
  let failureUrl = '';
  const relay = await startRelay(() => [sinkUrl, failureUrl].filter(Boolean));
  const sandbox = await startSandbox({ token: TOKEN, appSecret: APP_SECRET, callbackUrl: relay.url, mps: 80, pairRateMs: 0, statusDelayMs: 200 });

  log('provisioning n8n (cached after the first run; the first run downloads n8n, ~5 min)');
  const n8n = await N8nInstance.create({ label: 'demo' });
  log('installing the package into ~/.n8n/nodes (npm pack + npm install, as the editor does)');
  await n8n.installPackage();
  await n8n.importCredentials([
    {
      ...CREDENTIAL,
      type: 'metaWhatsAppCloudApi',
      data: {
        accessToken: TOKEN,
        phoneNumberId: sandbox.config.phoneNumberId,
        wabaId: sandbox.config.wabaId,
        appSecret: APP_SECRET,
        verifyToken: VERIFY_TOKEN,
        apiVersion: 'v25.0',
        baseUrl: sandbox.url,
      },
    },
  ]);

  const workflows = {
    order: loadExample('order-confirmation.json'),
    cart: loadExample('abandoned-cart.json'),
    otp: loadExample('otp.json'),
    failure: loadExample('delivery-failure.json'),
    sink: loadExample('status-sink.json'),
  };
  const ids: Record<string, string> = {};
  for (const [key, workflow] of Object.entries(workflows)) {
    ids[key] = await n8n.importWorkflow(workflow);
    await n8n.publishWorkflow(ids[key]);
  }
  log('starting n8n');
  await n8n.start();
  sinkUrl = n8n.webhookUrl(webhookPathOf(workflows.sink, 'Every status'));
  failureUrl = n8n.webhookUrl(webhookPathOf(workflows.failure, 'Failed statuses'));

  log('playing customers through the journeys');
  await post(`${sandbox.url}/__sandbox/faults`, { recipientFailures: { [CUSTOMERS.eve.waId]: 131026 } });
  await post(`${sandbox.url}/__sandbox/inbound`, { from: CUSTOMERS.ana.waId, name: CUSTOMERS.ana.name, text: 'Hi! Where is my order?' });
  await post(`${sandbox.url}/__sandbox/opt-out`, { wa_id: CUSTOMERS.dan.waId, name: CUSTOMERS.dan.name });
  await settle(n8n, sandbox);

  const order = n8n.webhookUrl(webhookPathOf(workflows.order, 'Order placed'));
  for (const c of [CUSTOMERS.ana, CUSTOMERS.ben, CUSTOMERS.eve]) {
    await post(order, { phone: c.phone, name: c.name, orderId: `A-${c.waId.slice(-4)}`, deliveryDate: '12 March' });
  }
  await post(n8n.webhookUrl(webhookPathOf(workflows.cart, 'Cart abandoned')), {
    customers: [CUSTOMERS.ben, CUSTOMERS.cara, CUSTOMERS.dan].map((c) => ({ phone: c.phone, name: c.name, points: '1,250' })),
  });
  await post(n8n.webhookUrl(webhookPathOf(workflows.otp, 'Login requested')), { phone: CUSTOMERS.fay.phone });
  await settle(n8n, sandbox);

  const report = await buildReport(n8n, ids);
  const shutdown = async (): Promise<void> => {
    await disposeAll();
    await sandbox.close();
    await relay.close();
  };
  return { report, problems: checkReport(report), n8nUrl: n8n.baseUrl, shutdown };
}

async function main(): Promise<void> {
  const { report, problems, n8nUrl, shutdown } = await runDemo();
  printReport(report, n8nUrl);
  if (problems.length > 0) {
    console.log(`\nThe journeys did NOT behave:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log('\nAll journeys behaved as expected.');
  }
  if (exitWhenDone) {
    await shutdown();
    return;
  }
  log(`n8n keeps running at ${n8nUrl}; Ctrl-C stops everything the demo started`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await shutdown();
}

if (require.main === module) {
  main().catch(async (error: unknown) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    await disposeAll().catch(() => undefined);
    process.exit(1);
  });
}
