/**
 * `npm run demo`: the example journeys running in a real n8n against the local Cloud API sandbox.
 *
 * By default it starts the sandbox, provisions n8n 2.x (cached; the first run downloads it), installs this package the
 * way n8n installs community packages, creates the credential, imports and activates the example journeys, then plays
 * customers through them: some write first (window open → free-form message), some never wrote (closed → template),
 * a US +1 marketing recipient, an opted-out customer, an undeliverable number; then an appointment reminder waits for
 * each of four customers (Send and Wait): one taps Confirm, one Reschedule, one writes back, one never answers and
 * gets the second reminder. It prints a journey report read from n8n's own execution data and exits non-zero if the
 * journeys did not behave. n8n stays up for you to look around
 * until Ctrl-C, unless --exit is given (tests use that).
 *
 * With --n8n-url and an API key it runs the same journeys in an n8n you already have (with this package installed),
 * through n8n's public REST API: it creates a "[demo]" credential and "[demo]" workflows, and deactivates and deletes
 * exactly those when it ends (also on Ctrl-C).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as http from 'node:http';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { decodeTracking } from '../core';
import { startSandbox } from '../sandbox';
import type { Sandbox } from '../sandbox';
import { APPOINTMENT_TEMPLATE } from '../sandbox/fixtures/appointmentReminder';
import {
	N8nInstance,
	disposeAll,
	freePort,
	jsonOf,
	runExecutionDataSchema,
	sandboxCredential,
	sandboxCredentialData,
} from '../harness';
import type { RunExecutionData, WorkflowJson } from '../harness';
import { DemoSetupError, N8nPublicApi } from './n8n-public-api';

const USAGE = `npm run demo [-- options]

  --exit                 stop everything once the report is printed (default: keep running until Ctrl-C)
  --json                 print the report as JSON instead of a table
  --n8n-url <url>        run the journeys in this n8n instead of a provisioned one (env N8N_URL); needs
  --api-key <key>        an n8n API key (env N8N_API_KEY): Settings → n8n API → Create an API key
  --sandbox-host <host>  address your n8n reaches this machine at (default 127.0.0.1; another value makes
                         the sandbox listen on all interfaces)
  --sandbox-port <n>     sandbox port (default: any free port)
`;

const APP_SECRET = 'demo-app-secret-not-for-production';
const TOKEN = 'demo-access-token-not-for-production';
const VERIFY_TOKEN = 'demo-verify-token';
const CREDENTIAL = { id: 'wjSandboxCred01', name: 'WhatsApp Cloud API (sandbox)' };
const SECRETS = { token: TOKEN, appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN };
/** Names of everything the demo creates in someone else's n8n start with this, so it is easy to spot. */
export const DEMO_PREFIX = '[demo]';

export const CUSTOMERS = {
	ana: { name: 'Ana', phone: '+44 7911 123456', waId: '447911123456' }, // writes first: window open
	ben: { name: 'Ben', phone: '+49 30 1234567', waId: '49301234567' }, // never wrote: window closed
	cara: { name: 'Cara', phone: '+1 415 555 2671', waId: '14155552671' }, // US +1: marketing withheld
	dan: { name: 'Dan', phone: '+34 612 345 678', waId: '34612345678' }, // stopped marketing messages
	eve: { name: 'Eve', phone: '+33 6 12 34 56 78', waId: '33612345678' }, // undeliverable: 131026
	fay: { name: 'Fay', phone: '+55 11 98765 4321', waId: '5511987654321' }, // logs in: OTP
} as const;

/**
 * The example waits 24 h for an answer; the demo waits this long, so the no-answer branch (second reminder) runs while
 * you watch. n8n looks for waits that are due about once a minute, so the reminder comes within about a minute more.
 */
export const DEMO_APPOINTMENT_WAIT_SECONDS = 30;

/** Who gets an appointment reminder in the demo, and what they do with it. */
const APPOINTMENT_PLAY = [
	{ customer: 'ana', does: { tap: 'Confirm' }, outcome: 'confirmed' },
	{ customer: 'ben', does: { tap: 'Reschedule' }, outcome: 'reschedule' },
	{ customer: 'cara', does: { text: 'Could we make it 11:00 instead?' }, outcome: 'other-reply' },
	{ customer: 'fay', does: {}, outcome: 'no-response' },
] as const satisfies ReadonlyArray<{
	customer: keyof typeof CUSTOMERS;
	does: { tap?: string; text?: string };
	outcome: string;
}>;

const log = (line: string): void => void process.stderr.write(`demo: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function loadExample(file: string): WorkflowJson {
	return JSON.parse(readFileSync(path.join(__dirname, file), 'utf8')) as WorkflowJson;
}

function webhookPathOf(workflow: WorkflowJson, nodeName: string): string {
	const node = (
		workflow.nodes as Array<{
			name: string;
			type: string;
			webhookId?: string;
			parameters: { path?: string };
		}>
	).find((n) => n.name === nodeName);
	if (!node) throw new Error(`${workflow.name} has no node ${nodeName}`);
	// n8n's Webhook node uses its path as the full path; other trigger nodes live under <webhookId>/<path>.
	return node.type === 'n8n-nodes-base.webhook'
		? String(node.parameters.path)
		: `${node.webhookId}/whatsapp`;
}

/**
 * The sandbox calls one callback URL, as Meta does per app/number. The demo has two status journeys listening
 * (status sink, delivery-failure follow-up), so a tiny relay fans each signed webhook out to both, byte for byte.
 */
async function startRelay(
	targets: () => string[],
): Promise<{ url: string; close(): Promise<void> }> {
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
					fetch(url + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''), {
						method: req.method,
						headers,
						body: req.method === 'GET' ? undefined : body,
					})
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
	return {
		url: `http://127.0.0.1:${port}/`,
		close: () => new Promise((resolve) => server.close(() => resolve())),
	};
}

async function post(url: string, body: unknown): Promise<number> {
	const response = await fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(body),
	});
	const text = await response.text();
	if (response.status >= 300) log(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
	return response.status;
}

/** Runs the report workflow; its answer is the order confirmation's funnel chart (PNG), saved to a file. */
async function saveReportChart(url: string): Promise<string | undefined> {
	const response = await fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: '{}',
	});
	const body = Buffer.from(await response.arrayBuffer());
	if (response.status !== 200 || !body.subarray(1, 4).equals(Buffer.from('PNG'))) {
		log(
			`the report workflow answered ${response.status} ${response.headers.get('content-type') ?? ''}, not a PNG`,
		);
		return undefined;
	}
	const file = path.join(tmpdir(), 'whatsapp-journey-report.png');
	writeFileSync(file, body);
	return file;
}

/**
 * The appointment reminder, one execution per customer (as a campaign's Execute Workflow would start them): once all
 * four wait, Ana taps Confirm, Ben taps Reschedule, Cara writes back, Fay does nothing; their waits resume on those
 * branches, Fay's times out into the second reminder.
 */
async function playAppointments(
	host: JourneyHost,
	sandbox: Sandbox,
	workflowId: string,
	url: string,
): Promise<Report['sent']> {
	log(
		`appointment reminders (Send and Wait): Ana taps Confirm, Ben Reschedule, Cara writes back, Fay does not answer (the demo waits ${DEMO_APPOINTMENT_WAIT_SECONDS} s instead of 24 h)`,
	);
	const before = new Set((await host.executions()).map((e) => e.id));
	for (const { customer } of APPOINTMENT_PLAY) {
		const c = CUSTOMERS[customer];
		await post(url, { phone: c.phone, name: c.name, appointment: 'tomorrow 10:00' });
	}
	// The wait link is stored before the execution shows as waiting, so a tap from then on finds it.
	const deadline = Date.now() + 120_000;
	for (;;) {
		const runs = (await host.executions()).filter(
			(e) => e.workflowId === workflowId && !before.has(e.id),
		);
		if (runs.filter((e) => e.status === 'waiting').length >= APPOINTMENT_PLAY.length) break;
		if (Date.now() > deadline || runs.some((e) => FINAL.includes(e.status))) {
			const seen = await Promise.all(
				runs.map(async (e) => {
					const data = await host.executionData(e.id).catch(() => undefined);
					return `${e.id} ${e.status}${data?.resultData.error ? `: ${JSON.stringify(data.resultData.error).slice(0, 300)}` : ''}`;
				}),
			);
			throw new Error(
				`the appointment reminders should all be waiting for an answer; executions: ${seen.join('; ') || 'none'}`,
			);
		}
		await sleep(300);
	}
	// What was sent, as Meta (the sandbox) accepted it: a waiting node's output is not in n8n's execution data, and a
	// wait that ends on No Response passes the node's input on, not the send's result.
	const sent = new Map<string, Report['sent'][number]>();
	for (const { customer } of APPOINTMENT_PLAY) {
		const c = CUSTOMERS[customer];
		const accepted = (await sandbox.control(`messages?to=${c.waId}`)) as {
			data: Array<{ id: string; template?: { name: string }; bizOpaqueCallbackData?: string }>;
		};
		const message = accepted.data
			.filter((m) => m.template?.name === APPOINTMENT_TEMPLATE.name)
			.at(-1);
		if (!message) throw new Error(`the sandbox has no appointment reminder to ${c.name}`);
		const tracking = decodeTracking(message.bizOpaqueCallbackData);
		sent.set(c.waId, {
			journey: tracking?.journey ?? '',
			step: tracking?.step ?? '',
			recipient: `+${c.waId}`,
			messageId: message.id,
		});
	}
	for (const { customer, does } of APPOINTMENT_PLAY) {
		const c = CUSTOMERS[customer];
		const messageId = sent.get(c.waId)?.messageId;
		if ('tap' in does && messageId) await sandbox.control('tap', { messageId, button: does.tap });
		if ('text' in does)
			await sandbox.control('inbound', { from: c.waId, name: c.name, text: does.text });
	}
	// Fay's wait ends on its time limit; n8n checks for due waits about once a minute.
	await settle(host, sandbox, 2500, 180_000);
	return [...sent.values()];
}

/** Where the journeys run: a provisioned n8n (read through its database) or the user's (through its public API). */
interface JourneyHost {
	readonly url: string;
	webhookUrl(webhookPath: string): string;
	/** Executions of the demo's workflows so far, unfinished ones included. */
	executions(): Promise<Array<{ id: string; workflowId: string; status: string }>>;
	executionData(id: string): Promise<RunExecutionData>;
}

const FINAL = ['success', 'error', 'crashed', 'canceled'];

async function settle(
	host: JourneyHost,
	sandbox: Sandbox,
	quietMs = 2500,
	timeoutMs = 120_000,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let last = -1;
	let quietSince = Date.now();
	while (Date.now() < deadline) {
		await sandbox.idle();
		const executions = await host.executions();
		const running = executions.filter((e) => !FINAL.includes(e.status)).length;
		if (executions.length !== last || running > 0) {
			last = executions.length;
			quietSince = Date.now();
		} else if (Date.now() - quietSince >= quietMs) {
			return;
		}
		await sleep(300);
	}
	throw new Error(`the journeys did not settle within ${Math.round(timeoutMs / 1000)} s`);
}

export interface Report {
	routed: { open: string[]; closed: string[] };
	sent: Array<{ journey: string; step: string; recipient: string; messageId: string }>;
	skipped: Array<{ journey: string; recipient: string; reason: string }>;
	statuses: Record<string, Record<string, number>>;
	/**
	 * Per journey step, the messages the sink saw delivered or read: delivered is implied by read, and the sink drops a
	 * delivered that arrives after the read (Late Statuses), so its delivered count alone can be short.
	 */
	reached: Record<string, string[]>;
	failures: Array<{ recipient: string; code: string; meaning: string }>;
	followUps: { retry: number; fallback: number };
	/** The WhatsApp Journey Report node's items (today's counts per journey step, read from the state store). */
	journeyReport: Array<{
		journey: string;
		step: string;
		sent: number;
		delivered: number;
		read: number;
		replied: number;
		failed: number;
		failures: Array<{ code: number; count: number }>;
	}>;
	/** Where the report's chart (order confirmation's funnel, the webhook's PNG answer) was saved. */
	chartFile?: string;
	/** The appointment reminder (Send and Wait): which branch each customer's execution continued on. */
	appointments: Array<{ recipient: string; outcome: string; waitedSeconds?: number }>;
}

function safeJsonOf(
	data: RunExecutionData,
	node: string,
	output = 0,
): Array<Record<string, unknown>> {
	try {
		return jsonOf(data, node, { output });
	} catch {
		return [];
	}
}

async function buildReport(host: JourneyHost, ids: Record<string, string>): Promise<Report> {
	const report: Report = {
		routed: { open: [], closed: [] },
		sent: [],
		skipped: [],
		statuses: {},
		failures: [],
		followUps: { retry: 0, fallback: 0 },
		journeyReport: [],
		reached: {},
		appointments: [],
	};
	for (const summary of await host.executions()) {
		const data = await host.executionData(summary.id);
		switch (summary.workflowId) {
			case ids.order: {
				for (const item of safeJsonOf(data, 'Window open?', 0))
					report.routed.open.push(String((item.whatsappWindow as { recipient: string }).recipient));
				for (const item of safeJsonOf(data, 'Window open?', 1))
					report.routed.closed.push(
						String((item.whatsappWindow as { recipient: string }).recipient),
					);
				for (const node of ['Free-form confirmation', 'Template confirmation']) {
					for (const item of safeJsonOf(data, node)) {
						const tracking = item.tracking as { journey?: string; step?: string };
						report.sent.push({
							journey: tracking.journey ?? '',
							step: tracking.step ?? '',
							recipient: String(item.recipient),
							messageId: String(item.messageId),
						});
					}
				}
				break;
			}
			case ids.cart:
			case ids.otp: {
				const node = summary.workflowId === ids.cart ? 'Spring sale offer' : 'Send code';
				const journey = summary.workflowId === ids.cart ? 'abandoned-cart' : 'login';
				for (const item of safeJsonOf(data, node, 0)) {
					if (item.messageId)
						report.sent.push({
							journey,
							step: String((item.tracking as { step?: string }).step ?? ''),
							recipient: String(item.recipient),
							messageId: String(item.messageId),
						});
				}
				for (const item of safeJsonOf(data, node, 1)) {
					const error = item.error as { message?: string; recipient?: string } | string | undefined;
					const message =
						typeof error === 'string' ? error : (error?.message ?? JSON.stringify(item));
					const recipient =
						typeof error === 'object' && error?.recipient
							? error.recipient
							: String(item.phone ?? '');
					report.skipped.push({
						journey,
						recipient,
						reason: message.replace(/\s+/g, ' ').slice(0, 110),
					});
				}
				break;
			}
			case ids.sink: {
				for (const item of safeJsonOf(data, 'Join to journey step')) {
					if (item.event === 'message' || item.event === 'user_preference') continue;
					const key = `${item.journey}/${item.step}`;
					report.statuses[key] ??= {};
					report.statuses[key][String(item.event)] =
						(report.statuses[key][String(item.event)] ?? 0) + 1;
					const reached = (report.reached[key] ??= []);
					if (
						['delivered', 'read'].includes(String(item.event)) &&
						!reached.includes(String(item.messageId))
					)
						reached.push(String(item.messageId));
				}
				for (const item of safeJsonOf(data, 'Every status')) {
					if (item.status === 'failed') {
						const error = (
							item.errors as Array<{ code: number; meaning: string }> | undefined
						)?.[0];
						report.failures.push({
							recipient: String(item.recipientId),
							code: String(error?.code ?? '?'),
							meaning: error?.meaning ?? '',
						});
						// Tracking survives the round trip through Meta: the failed status names the sending journey step.
						decodeTracking(String(item.bizOpaqueCallbackData ?? ''));
					}
				}
				break;
			}
			case ids.report: {
				for (const item of safeJsonOf(data, 'Journey report'))
					report.journeyReport.push(item as unknown as Report['journeyReport'][number]);
				break;
			}
			case ids.appointment: {
				// Which branch the wait resumed on, by the node that ran after it. The reminders themselves are read from the
				// sandbox (playAppointments): a wait that times out passes the node's input on, not the send's result.
				const branches: Array<[string, string]> = [
					['Confirmed', 'confirmed'],
					['Wants another time', 'reschedule'],
					['Wrote something else', 'other-reply'],
					['Not delivered', 'failed'],
				];
				let recipient = `+${String(safeJsonOf(data, 'Customer')[0]?.phone ?? '').replace(/\D/g, '')}`;
				let outcome = summary.status === 'waiting' ? 'waiting' : 'none';
				let waitedSeconds: number | undefined;
				for (const [node, name] of branches) {
					const [item] = safeJsonOf(data, node);
					if (!item) continue;
					outcome = name;
					waitedSeconds = typeof item.waitedSeconds === 'number' ? item.waitedSeconds : undefined;
				}
				for (const item of safeJsonOf(data, 'Second reminder')) {
					outcome = 'no-response';
					recipient = String(item.recipient);
					const tracking = item.tracking as { journey?: string; step?: string };
					report.sent.push({
						journey: tracking.journey ?? '',
						step: tracking.step ?? '',
						recipient: String(item.recipient),
						messageId: String(item.messageId),
					});
				}
				report.appointments.push({ recipient, outcome, waitedSeconds });
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
	out.push(
		`Window check: open → ${report.routed.open.join(', ') || '-'}; closed → ${report.routed.closed.join(', ') || '-'}`,
	);
	out.push('', 'Sent:');
	for (const s of report.sent)
		out.push(
			`  ${s.journey}/${s.step.padEnd(18)} ${s.recipient.padEnd(16)} ${s.messageId.slice(0, 28)}…`,
		);
	out.push('', 'Skipped by policy (before any request):');
	for (const s of report.skipped)
		out.push(`  ${s.journey.padEnd(15)} ${s.recipient.padEnd(16)} ${s.reason}`);
	out.push('', 'Statuses per journey step (status sink):');
	for (const [step, counts] of Object.entries(report.statuses)) {
		out.push(
			`  ${step.padEnd(34)} ${Object.entries(counts)
				.map(([k, v]) => `${k} ${v}`)
				.join(', ')}`,
		);
	}
	out.push('', 'Failed messages:');
	for (const f of report.failures) out.push(`  ${f.recipient.padEnd(14)} ${f.code} ${f.meaning}`);
	out.push(
		`Delivery-failure follow-up: retry later ${report.followUps.retry}, fall back to another channel ${report.followUps.fallback}`,
	);
	out.push('', 'Appointment reminder (Send and Wait: which branch each wait resumed on):');
	for (const a of report.appointments)
		out.push(
			`  ${a.recipient.padEnd(18)} ${a.outcome}${a.waitedSeconds === undefined ? '' : ` after ${a.waitedSeconds} s`}`,
		);
	out.push('', 'WhatsApp Journey Report node (today, from the state store):');
	for (const r of report.journeyReport)
		out.push(
			`  ${`${r.journey}/${r.step}`.padEnd(34)} sent ${r.sent}, delivered ${r.delivered}, read ${r.read}, replied ${r.replied}, failed ${r.failed}`,
		);
	if (report.chartFile) out.push(`  chart (order confirmation): ${report.chartFile}`);
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
	const sentTo = (journey: string, e164: string) =>
		report.sent.some((s) => s.journey === journey && s.recipient === e164);
	if (!sentTo('order-confirmation', '+447911123456'))
		problems.push('Ana got no order confirmation');
	if (!report.sent.some((s) => s.recipient === '+447911123456' && s.step === 'confirm-session'))
		problems.push('Ana (window open) did not get the free-form message');
	if (!report.sent.some((s) => s.recipient === '+49301234567' && s.step === 'confirm-template'))
		problems.push('Ben (window closed) did not get the template');
	if (!sentTo('abandoned-cart', '+49301234567')) problems.push('Ben got no abandoned-cart offer');
	if (!sentTo('login', '+5511987654321')) problems.push('Fay got no OTP');
	if (
		!report.skipped.some(
			(s) => s.recipient.replace(/\D/g, '') === '14155552671' && /131049|US/.test(s.reason),
		)
	)
		problems.push('the US +1 marketing recipient was not stopped');
	if (
		!report.skipped.some(
			(s) =>
				s.recipient.replace(/\D/g, '') === '34612345678' && /131050|opted|stopped/i.test(s.reason),
		)
	)
		problems.push('the opted-out customer was not skipped');
	// Their marketing offer is withheld; Cara's appointment reminder (utility) is not marketing and does go out.
	if (
		report.sent.some(
			(s) =>
				s.journey === 'abandoned-cart' && ['+14155552671', '+34612345678'].includes(s.recipient),
		)
	)
		problems.push('a policy-skipped customer was messaged');
	if (!report.failures.some((f) => f.recipient === '33612345678' && f.code === '131026'))
		problems.push("Eve's undeliverable message did not come back as failed 131026");
	if ((report.statuses['order-confirmation/confirm-session']?.read ?? 0) < 1)
		problems.push('no read status joined back to order-confirmation/confirm-session');
	problems.push(...checkAppointments(report));
	problems.push(...checkJourneyReport(report));
	if (report.followUps.fallback !== 1 || report.followUps.retry !== 0) {
		problems.push(
			`the delivery-failure journey should send Eve's 131026 to the fallback channel (fallback ${report.followUps.fallback}, retry ${report.followUps.retry})`,
		);
	}
	return problems;
}

/** Each appointment wait resumed on the branch of what its customer did; no answer sent the second reminder. */
function checkAppointments(report: Report): string[] {
	const problems: string[] = [];
	for (const { customer, outcome } of APPOINTMENT_PLAY) {
		const e164 = `+${CUSTOMERS[customer].waId}`;
		const got = report.appointments.filter((a) => a.recipient === e164).map((a) => a.outcome);
		if (got.join() !== outcome)
			problems.push(
				`${CUSTOMERS[customer].name}'s appointment reminder should end on ${outcome}, it ended on ${got.join(', ') || 'nothing'}`,
			);
		if (!report.sent.some((s) => s.step === 'reminder' && s.recipient === e164))
			problems.push(`${CUSTOMERS[customer].name} got no appointment reminder`);
		const second = report.sent.filter((s) => s.step === 'second-reminder' && s.recipient === e164);
		if (second.length !== (outcome === 'no-response' ? 1 : 0))
			problems.push(
				`${CUSTOMERS[customer].name} got ${second.length} second reminder(s), expected ${outcome === 'no-response' ? 1 : 0}`,
			);
	}
	return problems;
}

/**
 * The Journey Report node counts what the journeys did, from the store alone: per journey step exactly the sends the
 * send nodes output, the statuses the status sink received (each stage once per message), and Eve's failure.
 */
function checkJourneyReport(report: Report): string[] {
	const problems: string[] = [];
	const steps = new Map(report.journeyReport.map((r) => [`${r.journey}/${r.step}`, r]));
	const sent = new Map<string, number>();
	for (const s of report.sent)
		sent.set(`${s.journey}/${s.step}`, (sent.get(`${s.journey}/${s.step}`) ?? 0) + 1);
	if ([...steps.keys()].sort().join() !== [...sent.keys()].sort().join())
		problems.push(
			`the journey report has steps ${[...steps.keys()].sort().join(', ') || 'none'}, the journeys sent from ${[...sent.keys()].sort().join(', ')}`,
		);
	for (const [key, n] of sent) {
		const r = steps.get(key);
		if (!r) continue;
		const seen = report.statuses[key] ?? {};
		const failed = report.failures.filter((f) =>
			report.sent.some(
				(x) => `${x.journey}/${x.step}` === key && x.recipient.replace(/\D/g, '') === f.recipient,
			),
		).length;
		const expected = {
			sent: n,
			delivered: report.reached[key]?.length ?? 0,
			read: seen.read ?? 0,
			failed,
			// Replies counted for a step are those whose context is its message: the customers' button taps.
			replied:
				key === 'appointments/reminder'
					? report.appointments.filter((a) => ['confirmed', 'reschedule'].includes(a.outcome))
							.length
					: 0,
		};
		const got = {
			sent: r.sent,
			delivered: r.delivered,
			read: r.read,
			failed: r.failed,
			replied: r.replied,
		};
		if (JSON.stringify(got) !== JSON.stringify(expected))
			problems.push(
				`the journey report says ${key} ${JSON.stringify(got)}, the journeys did ${JSON.stringify(expected)}`,
			);
	}
	const confirm = steps.get('order-confirmation/confirm-template');
	if (confirm && !confirm.failures.some((f) => f.code === 131026 && f.count === 1))
		problems.push(
			"the journey report does not list Eve's 131026 under order-confirmation/confirm-template",
		);
	return problems;
}

export interface DemoOptions {
	/** Run in this n8n (with the package installed) instead of provisioning one. Needs `apiKey`. */
	n8nUrl?: string;
	apiKey?: string;
	/** Address `n8nUrl`'s n8n reaches the sandbox at (default 127.0.0.1). */
	sandboxHost?: string;
	/** Sandbox port (default: any free one). */
	sandboxPort?: number;
	/** Everything started or created is registered here; pass one to release it early (Ctrl-C). */
	resources?: DemoResources;
}

export interface DemoResult {
	report: Report;
	problems: string[];
	n8nUrl: string;
	/** Stops n8n, the sandbox and the relay; in --n8n-url mode deactivates and deletes what the demo created. */
	shutdown(): Promise<void>;
}

/**
 * What the demo started or created, released newest first, once (later calls wait for the first). Steps that create
 * something run through `step()`: a release (Ctrl-C) waits for the step under way, so what it creates is released
 * too, and refuses to start new ones.
 */
export class DemoResources {
	private readonly releases: Array<{ label: string; release: () => Promise<void> }> = [];
	private releasing: Promise<void> | undefined;
	private inflight: Promise<unknown> = Promise.resolve();

	get released(): boolean {
		return this.releasing !== undefined;
	}

	step<T>(run: () => Promise<T>): Promise<T> {
		if (this.releasing) return Promise.reject(new DemoSetupError('stopped'));
		const running = run();
		this.inflight = running.catch(() => undefined);
		return running;
	}

	add(label: string, release: () => Promise<void>): void {
		this.releases.push({ label, release });
	}

	release(): Promise<void> {
		this.releasing ??= (async () => {
			await this.inflight;
			const failures: string[] = [];
			for (const { label, release } of this.releases.splice(0).reverse()) {
				try {
					await release();
				} catch (error) {
					failures.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
				}
			}
			if (failures.length > 0)
				throw new Error(`could not clean up (remove these by hand):\n  ${failures.join('\n  ')}`);
		})();
		return this.releasing;
	}
}

type Workflows = Record<
	'order' | 'cart' | 'otp' | 'failure' | 'sink' | 'report' | 'appointment',
	WorkflowJson
>;

/** appointment-reminder.json with its 24 h wait shortened to DEMO_APPOINTMENT_WAIT_SECONDS. */
function withDemoWait(workflow: WorkflowJson): WorkflowJson {
	const nodes = (
		workflow.nodes as Array<{ name: string; parameters: Record<string, unknown> }>
	).map((node) =>
		node.name === 'Remind and wait'
			? {
					...node,
					parameters: {
						...node.parameters,
						waitLimitType: 'afterTimeInterval',
						waitAmount: DEMO_APPOINTMENT_WAIT_SECONDS / 60,
						waitUnit: 'minutes',
					},
				}
			: node,
	);
	return { ...workflow, nodes } as WorkflowJson;
}

function loadWorkflows(): Workflows {
	return {
		order: loadExample('order-confirmation.json'),
		cart: loadExample('abandoned-cart.json'),
		otp: loadExample('otp.json'),
		failure: loadExample('delivery-failure.json'),
		sink: loadExample('status-sink.json'),
		report: loadExample('journey-report.json'),
		appointment: withDemoWait(loadExample('appointment-reminder.json')),
	};
}

/** The default: a fresh n8n of our own, with the package installed from this checkout. */
async function provisionedHost(
	workflows: Workflows,
	sandbox: Sandbox,
	resources: DemoResources,
): Promise<{ host: JourneyHost; ids: Record<string, string> }> {
	log('provisioning n8n (cached after the first run; the first run downloads n8n, ~5 min)');
	resources.add('n8n', () => disposeAll());
	const n8n = await N8nInstance.create({ label: 'demo' });
	log('installing the package into ~/.n8n/nodes (npm pack + npm install, as the editor does)');
	await n8n.installPackage();
	await n8n.importCredentials([sandboxCredential(sandbox, { ...CREDENTIAL, ...SECRETS })]);
	const ids: Record<string, string> = {};
	for (const [key, workflow] of Object.entries(workflows)) {
		ids[key] = await n8n.importWorkflow(workflow);
		await n8n.publishWorkflow(ids[key]);
	}
	log('starting n8n');
	await n8n.start();
	const host: JourneyHost = {
		url: n8n.baseUrl,
		webhookUrl: (webhookPath) => n8n.webhookUrl(webhookPath),
		executions: async () => (await n8n.executions()).map((e) => ({ ...e, id: String(e.id) })),
		executionData: async (id) => (await n8n.execution(Number(id))).data,
	};
	return { host, ids };
}

/**
 * The example workflow as the demo creates it in someone else's n8n: "[demo]" name, the demo credential, fresh
 * webhook ids and paths (so it cannot clash with their workflows or an earlier run), and executions saved whatever
 * the instance's defaults are (the report is read from them).
 */
function forExistingN8n(
	workflow: WorkflowJson,
	credential: { id: string; name: string },
	runTag: string,
): WorkflowJson & { settings: Record<string, unknown> } {
	const nodes = (
		workflow.nodes as Array<
			Record<string, unknown> & { type: string; parameters: Record<string, unknown> }
		>
	).map((node) => {
		const copy: Record<string, unknown> & { parameters: Record<string, unknown> } = {
			...node,
			parameters: { ...node.parameters },
		};
		if (node.credentials)
			copy.credentials = { metaWhatsAppCloudApi: { id: credential.id, name: credential.name } };
		if (node.webhookId) copy.webhookId = randomUUID();
		if (node.type === 'n8n-nodes-base.webhook')
			copy.parameters.path = `demo-${runTag}-${String(node.parameters.path)}`;
		return copy;
	});
	return {
		...workflow,
		name: `${DEMO_PREFIX} ${workflow.name}`,
		nodes,
		settings: {
			...workflow.settings,
			saveDataSuccessExecution: 'all',
			saveDataErrorExecution: 'all',
		},
	};
}

const isLoopback = (host: string): boolean =>
	host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);

/** --n8n-url: the user's n8n, driven through its public API; everything created is registered for removal. */
async function existingHost(
	options: { n8nUrl: string; apiKey: string },
	workflows: Workflows,
	sandboxBaseUrl: string,
	sandbox: Sandbox,
	resources: DemoResources,
): Promise<{ host: JourneyHost; ids: Record<string, string> }> {
	const api = new N8nPublicApi(options.n8nUrl, options.apiKey);
	log(`checking the API key at ${api.baseUrl}/api/v1`);
	await api.checkAccess();
	if (!(await api.hasCredentialType('metaWhatsAppCloudApi'))) {
		throw new DemoSetupError(
			`n8n at ${api.baseUrl} does not have the community package n8n-nodes-whatsapp-journeys installed (it does not know the ` +
				"credential type 'metaWhatsAppCloudApi'). Install it in n8n: Settings → Community Nodes → Install → n8n-nodes-whatsapp-journeys " +
				'(self-hosted without the editor: cd ~/.n8n/nodes && npm install n8n-nodes-whatsapp-journeys, then restart n8n), and run the demo again.',
		);
	}
	const runTag = randomUUID().slice(0, 8);
	const credentialName = `${DEMO_PREFIX} WhatsApp Cloud API (sandbox ${runTag})`;
	log(`creating the credential "${credentialName}" (Base URL ${sandboxBaseUrl})`);
	const credential = await resources.step(async () => {
		const created = await api.createCredential({
			name: credentialName,
			type: 'metaWhatsAppCloudApi',
			data: sandboxCredentialData(sandbox, SECRETS, sandboxBaseUrl),
		});
		resources.add(`credential ${created.id} "${created.name}"`, async () => {
			await api.deleteCredential(created.id);
			log(`deleted credential ${created.id}`);
		});
		return created;
	});
	const ids: Record<string, string> = {};
	for (const [key, example] of Object.entries(workflows) as Array<
		[keyof Workflows, WorkflowJson]
	>) {
		const workflow = forExistingN8n(example, credential, runTag);
		// Rewritten in place so the webhook URLs below follow the new paths.
		workflows[key] = workflow;
		const created = await resources.step(async () => {
			const answer = await api.createWorkflow({
				name: workflow.name,
				nodes: workflow.nodes,
				connections: workflow.connections,
				settings: workflow.settings,
			});
			resources.add(`workflow ${answer.id} "${answer.name}"`, async () => {
				// Deactivating first removes its webhooks the regular way; it fails harmlessly if activation never happened.
				await api.deactivateWorkflow(answer.id).catch(() => undefined);
				await api.deleteWorkflow(answer.id);
				log(`deactivated and deleted workflow ${answer.id} "${answer.name}"`);
			});
			return answer;
		});
		try {
			await resources.step(() => api.activateWorkflow(created.id));
		} catch (error) {
			const message = error instanceof Error ? error.message : String(error);
			if (/unrecognized node type|unknown node type|is not known/i.test(message)) {
				throw new DemoSetupError(
					`n8n could not activate "${workflow.name}": ${message}. Update n8n-nodes-whatsapp-journeys in n8n to this version and restart n8n.`,
				);
			}
			throw error;
		}
		ids[key] = created.id;
		log(`created and activated workflow ${created.id} "${created.name}"`);
	}
	const ours = new Set(Object.values(ids));
	const host: JourneyHost = {
		url: api.baseUrl,
		webhookUrl: (webhookPath) => `${api.baseUrl}/webhook/${webhookPath.replace(/^\/+/, '')}`,
		executions: async () => {
			const lists = await Promise.all([
				...[...ours].map((id) => api.executions(id)),
				...[...ours].map((id) => api.executions(id, 'running')),
				...[...ours].map((id) => api.executions(id, 'waiting')),
			]);
			const byId = new Map(lists.flat().map((e) => [e.id, e]));
			return [...byId.values()].sort((a, b) => Number(a.id) - Number(b.id));
		},
		executionData: async (id) => {
			const execution = await api.execution(id);
			const parsed = runExecutionDataSchema.safeParse(execution.data);
			if (!parsed.success)
				throw new Error(
					`execution ${id} came back without run data (redacted, or above n8n's EXECUTIONS_DATA_MAX_DISPLAY_SIZE?)`,
				);
			return parsed.data;
		},
	};
	return { host, ids };
}

/** Runs the whole demo and returns its report; the caller decides when to shut everything down. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
	const resources = options.resources ?? new DemoResources();
	const existing = options.n8nUrl !== undefined;
	if (existing && !options.apiKey)
		throw new DemoSetupError('--n8n-url needs an n8n API key: --api-key <key> or N8N_API_KEY');
	const sandboxHost = options.sandboxHost ?? '127.0.0.1';
	if (existing && isLoopback(sandboxHost) && !isLoopback(new URL(options.n8nUrl ?? '').hostname)) {
		log(
			`warning: n8n at ${options.n8nUrl} is not on this machine, but the sandbox is advertised at ${sandboxHost}; pass --sandbox-host <this machine's address as n8n sees it>`,
		);
	}
	try {
		log('starting the Cloud API sandbox');
		let sinkUrl = '';
		let failureUrl = '';
		const relay = await startRelay(() => [sinkUrl, failureUrl].filter(Boolean));
		resources.add('webhook relay', () => relay.close());
		const sandbox = await startSandbox({
			token: TOKEN,
			appSecret: APP_SECRET,
			callbackUrl: relay.url,
			mps: 80,
			pairRateMs: 0,
			statusDelayMs: 200,
			host: isLoopback(sandboxHost) ? '127.0.0.1' : '0.0.0.0',
			// n8n names the sandbox by the advertised address; any other Host is refused.
			allowedHosts: isLoopback(sandboxHost) ? [] : [sandboxHost],
			port: options.sandboxPort ?? 0,
		});
		resources.add('sandbox', () => sandbox.close());
		// The demo drives the sandbox locally (sandbox.control, with its control token); n8n calls it at the advertised address.
		const advertised = existing
			? `http://${sandboxHost.includes(':') && !sandboxHost.startsWith('[') ? `[${sandboxHost}]` : sandboxHost}:${sandbox.port}`
			: sandbox.url;
		if (existing)
			log(
				`sandbox (fake Cloud API) listening on ${isLoopback(sandboxHost) ? '127.0.0.1' : 'all interfaces'}, port ${sandbox.port}; n8n must reach it at ${advertised}`,
			);

		const workflows = loadWorkflows();
		const { host, ids } =
			existing && options.n8nUrl && options.apiKey
				? await existingHost(
						{ n8nUrl: options.n8nUrl, apiKey: options.apiKey },
						workflows,
						advertised,
						sandbox,
						resources,
					)
				: await provisionedHost(workflows, sandbox, resources);
		sinkUrl = host.webhookUrl(webhookPathOf(workflows.sink, 'Every status'));
		failureUrl = host.webhookUrl(webhookPathOf(workflows.failure, 'Failed statuses'));

		log('playing customers through the journeys');
		await sandbox.control('faults', {
			recipientFailures: { [CUSTOMERS.eve.waId]: 131026 },
		});
		await sandbox.control('templates', APPOINTMENT_TEMPLATE);
		await sandbox.control('inbound', {
			from: CUSTOMERS.ana.waId,
			name: CUSTOMERS.ana.name,
			text: 'Hi! Where is my order?',
		});
		await sandbox.control('opt-out', {
			wa_id: CUSTOMERS.dan.waId,
			name: CUSTOMERS.dan.name,
		});
		await settle(host, sandbox);

		const order = host.webhookUrl(webhookPathOf(workflows.order, 'Order placed'));
		for (const c of [CUSTOMERS.ana, CUSTOMERS.ben, CUSTOMERS.eve]) {
			await post(order, {
				phone: c.phone,
				name: c.name,
				orderId: `A-${c.waId.slice(-4)}`,
				deliveryDate: '12 March',
			});
		}
		await post(host.webhookUrl(webhookPathOf(workflows.cart, 'Cart abandoned')), {
			customers: [CUSTOMERS.ben, CUSTOMERS.cara, CUSTOMERS.dan].map((c) => ({
				phone: c.phone,
				name: c.name,
				points: '1,250',
			})),
		});
		await post(host.webhookUrl(webhookPathOf(workflows.otp, 'Login requested')), {
			phone: CUSTOMERS.fay.phone,
		});
		await settle(host, sandbox);

		const appointmentReminders = await playAppointments(
			host,
			sandbox,
			ids.appointment ?? '',
			host.webhookUrl(webhookPathOf(workflows.appointment, 'Appointment')),
		);

		log('asking the WhatsApp Journey Report node how the journeys did');
		const chartFile = await saveReportChart(
			host.webhookUrl(webhookPathOf(workflows.report, 'Report requested')),
		);
		await settle(host, sandbox);

		const report = await buildReport(host, ids);
		report.chartFile = chartFile;
		report.sent.push(...appointmentReminders);
		return {
			report,
			problems: checkReport(report),
			n8nUrl: host.url,
			shutdown: () => resources.release(),
		};
	} catch (error) {
		// Ctrl-C's release is already under way; otherwise nothing of a failed run may stay behind.
		await resources
			.release()
			.catch((cleanup: unknown) =>
				log(cleanup instanceof Error ? cleanup.message : String(cleanup)),
			);
		throw error;
	}
}

interface CliOptions extends DemoOptions {
	exit: boolean;
	json: boolean;
}

function parseCli(argv: string[]): CliOptions | undefined {
	const { values } = parseArgs({
		args: argv,
		options: {
			exit: { type: 'boolean', default: false },
			json: { type: 'boolean', default: false },
			help: { type: 'boolean', default: false },
			'n8n-url': { type: 'string' },
			'api-key': { type: 'string' },
			'sandbox-host': { type: 'string' },
			'sandbox-port': { type: 'string' },
		},
	});
	if (values.help) return undefined;
	const n8nUrl = values['n8n-url'] ?? (process.env.N8N_URL || undefined);
	if (n8nUrl !== undefined && !/^https?:\/\/[^/]+/.test(n8nUrl))
		throw new DemoSetupError(`--n8n-url must be an http(s) URL, got "${n8nUrl}"`);
	const port = values['sandbox-port'] === undefined ? undefined : Number(values['sandbox-port']);
	if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
		throw new DemoSetupError('--sandbox-port must be a port number');
	if (
		n8nUrl === undefined &&
		(values['sandbox-host'] !== undefined || values['api-key'] !== undefined)
	) {
		throw new DemoSetupError('--api-key and --sandbox-host only apply with --n8n-url (or N8N_URL)');
	}
	return {
		exit: values.exit || process.env.CI === 'true',
		json: values.json,
		n8nUrl,
		apiKey: values['api-key'] ?? (process.env.N8N_API_KEY || undefined),
		sandboxHost: values['sandbox-host'],
		sandboxPort: port,
	};
}

async function main(): Promise<void> {
	const cli = parseCli(process.argv.slice(2));
	if (!cli) {
		process.stdout.write(USAGE);
		return;
	}
	const resources = new DemoResources();
	let reported = false;
	if (cli.n8nUrl !== undefined) {
		// In someone else's n8n, Ctrl-C must remove what the demo created before it exits.
		const onSignal = (signal: NodeJS.Signals): void => {
			// After the report, the handler below shuts down and the exit code says whether the journeys behaved.
			if (reported || resources.released) return;
			log(`${signal}: removing what the demo created in n8n`);
			void resources.release().then(
				() => process.exit(130),
				(error: unknown) => {
					log(error instanceof Error ? error.message : String(error));
					process.exit(1);
				},
			);
		};
		process.on('SIGINT', onSignal);
		process.on('SIGTERM', onSignal);
	}
	const { report, problems, n8nUrl, shutdown } = await runDemo({ ...cli, resources });
	if (cli.json) {
		console.log(JSON.stringify({ report, problems, n8nUrl }));
	} else {
		printReport(report, n8nUrl);
		console.log(
			problems.length > 0
				? `\nThe journeys did NOT behave:\n${problems.map((p) => `  - ${p}`).join('\n')}`
				: '\nAll journeys behaved as expected.',
		);
	}
	if (problems.length > 0) process.exitCode = 1;
	reported = true;
	if (!cli.exit) {
		log(
			cli.n8nUrl !== undefined
				? `the "${DEMO_PREFIX}" workflows stay active in ${n8nUrl} for you to look at; Ctrl-C deactivates and deletes them and the credential`
				: `n8n keeps running at ${n8nUrl}; Ctrl-C stops everything the demo started`,
		);
		await new Promise<void>((resolve) => {
			process.once('SIGINT', () => resolve());
			process.once('SIGTERM', () => resolve());
		});
	}
	await shutdown();
}

if (require.main === module) {
	main().catch(async (error: unknown) => {
		if (error instanceof DemoSetupError) console.error(`demo: ${error.message}`);
		else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
		await disposeAll().catch(() => undefined);
		process.exit(1);
	});
}
