/**
 * Scenario F — the package in a real Node-RED runtime (node-red from devDependencies, started by
 * harness/node-red-runtime.ts with the built package installed as users install it), against the sandbox on loopback.
 * The n8n scenarios' measures where they apply; there is no built-in WhatsApp node in Node-RED, so ratios are to
 * the targets.
 *
 * 1. Throttled campaign: one POST of 2,000 recipients into an `http in` → split → "whatsapp send template" (80 msg/s,
 *    its defaults) → join → `http response` flow; the sandbox limits the number to 80 msg/s (130429 above).
 *    Every recipient accepted exactly once (counted at the sandbox), wall time POST → answer vs the ideal 25 s.
 * 2. Unthrottled: the same flow with 10,000 recipients, the node's pacing at its fastest, into a sandbox with no
 *    limits: msg/s end to end and the peak RSS of the Node-RED process.
 * 3. Webhook ingestion: 30,000 status events in signed POSTs of 100 (90 new + 10 repeats of acknowledged events,
 *    4 in flight) into "whatsapp webhook status"; a function node behind it counts what was emitted, by event id.
 *    Sustained events/s = events / (first POST → last event emitted), lost and emitted twice.
 *
 * BENCH_RECIPIENTS, BENCH_SENDS and BENCH_POSTS shrink the three parts for quick runs of the bench itself.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { computeSignature } from '../../core';
import {
	startNodeRed,
	freePort,
	type FlowNode,
	type NodeRedRuntime,
} from '../../harness/node-red-runtime';
import { onCleanup } from '../lib/cleanup';
import { CpuMeter } from '../lib/cpu';
import {
	metaStatus,
	PHONE_NUMBER_ID,
	recipientE164,
	statusSpecs,
	WABA_ID,
	webhookBodyOf,
} from '../lib/fixtures';
import { buildPackage, MIB, RssSampler } from '../lib/n8n';
import type { ProfileSummary } from '../lib/profiler';
import { profileRemote } from '../lib/remote-profiler';
import { exactlyEveryRun, formatNumber, measure, REPO_ROOT, type Measure } from '../lib/results';
import {
	acceptedMessages,
	sandboxRequests,
	startSandboxProcess,
	type SandboxProcess,
} from '../lib/sandbox';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { median, nowMs, round, seededRandom } from '../lib/stats';
import { ORDER_VALUES } from '../lib/workflows';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 2_000);
const SENDS = Number(process.env.BENCH_SENDS ?? 10_000);
const POSTS = Number(process.env.BENCH_POSTS ?? 300);
const MPS = 80;
const IDEAL_S = RECIPIENTS / MPS;
const PER_POST = 100;
const NEW_PER_POST = 90;
const IN_FLIGHT = 4;
const TOKEN = 'bench-sandbox-token';
const APP_SECRET = 'bench-app-secret-0123456789';
const SEND_TARGET = { op: '>=' as const, value: 1500, text: '≥ 1,500 msg/s' };
const INGEST_TARGET = 3000;

const NODE_RED_VERSION = (
	JSON.parse(
		readFileSync(path.join(REPO_ROOT, 'node_modules', 'node-red', 'package.json'), 'utf8'),
	) as { version: string }
).version;

// ---------------------------------------------------------------- flows

const TAB = 'bench0000000tab1';
const CFG_THROTTLED = 'bench000000cfg80';
const CFG_OPEN = 'bench0000cfgopen';

function configNode(id: string, sandbox: SandboxProcess, storePath: string): FlowNode {
	return {
		id,
		type: 'whatsapp-cloud-config',
		name: `sandbox (${sandbox.url})`,
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: WABA_ID,
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
		storeType: 'embedded',
		storePath,
	};
}

/**
 * POST <url> with a JSON array of { to } → one message per recipient through the send node → joined back in order
 * (failures through a Catch node, so the join completes either way) → answered with { sent, failed, errors }.
 */
function sendFlow(
	prefix: string,
	url: string,
	config: string,
	pacing: { messagesPerSecond: number; pairIntervalSeconds: number },
	dryRun = false,
): FlowNode[] {
	const id = (suffix: string): string => `${prefix}${suffix}`.padEnd(16, '0');
	const at = (x: number, y: number) => ({ z: TAB, x, y });
	return [
		{
			id: id('in'),
			type: 'http in',
			...at(100, 100),
			url,
			method: 'post',
			upload: false,
			swaggerDoc: '',
			wires: [[id('split')]],
		},
		{
			id: id('split'),
			type: 'split',
			...at(250, 100),
			splt: '\\n',
			spltType: 'str',
			arraySplt: 1,
			arraySpltType: 'len',
			stream: false,
			addname: '',
			wires: [[id('send')]],
		},
		{
			id: id('send'),
			type: 'whatsapp-send-template',
			...at(400, 100),
			name: `send ${prefix}`,
			server: config,
			recipient: 'payload.to',
			recipientType: 'msg',
			templateName: 'order_confirmation',
			templateLanguage: 'en_US',
			variables: Object.entries(ORDER_VALUES).map(([key, value]) => ({ key, value, type: 'str' })),
			journey: 'bench',
			step: prefix,
			messagesPerSecond: pacing.messagesPerSecond,
			pairIntervalSeconds: pacing.pairIntervalSeconds,
			maxAttempts: 6,
			timeoutSeconds: 30,
			dryRun,
			wires: [[id('join')]],
		},
		{
			id: id('catch'),
			type: 'catch',
			...at(400, 200),
			scope: [id('send')],
			uncaught: false,
			wires: [[id('failed')]],
		},
		{
			id: id('failed'),
			type: 'function',
			...at(550, 200),
			func: 'msg.payload = { failed: String((msg.error && msg.error.message) || "failed").slice(0, 160) };\nreturn msg;',
			outputs: 1,
			wires: [[id('join')]],
		},
		{
			id: id('join'),
			type: 'join',
			...at(700, 100),
			mode: 'auto',
			build: 'array',
			property: 'payload',
			propertyType: 'msg',
			accumulate: false,
			wires: [[id('sum')]],
		},
		{
			id: id('sum'),
			type: 'function',
			...at(850, 100),
			func: [
				'let sent = 0, failed = 0; const errors = {};',
				'for (const p of msg.payload) {',
				'  if (p && (typeof p.messageId === "string" || p.dryRun === true)) sent++;',
				'  else { failed++; const m = String(p && p.failed); errors[m] = (errors[m] || 0) + 1; }',
				'}',
				'msg.payload = { sent, failed, errors };',
				'return msg;',
			].join('\n'),
			outputs: 1,
			wires: [[id('out')]],
		},
		{
			id: id('out'),
			type: 'http response',
			...at(1000, 100),
			statusCode: '200',
			headers: {},
			wires: [],
		},
	];
}

/** The webhook node, a counter of what it emits (event ids in flow context), and endpoints to read and reset it. */
function webhookFlow(): FlowNode[] {
	const at = (x: number, y: number) => ({ z: TAB, x, y });
	const fresh = 'flow.set("seen", { ids: new Set(), emitted: 0, lastAt: 0 });';
	return [
		{
			id: 'benchhook0000000',
			type: 'whatsapp-webhook-status',
			...at(100, 400),
			server: CFG_OPEN,
			url: '/whatsapp/webhook',
			wires: [['benchcount000000']],
		},
		{
			id: 'benchcount000000',
			type: 'function',
			...at(300, 400),
			initialize: fresh,
			func: 'const s = flow.get("seen");\ns.emitted++;\ns.ids.add(msg.payload.eventId);\ns.lastAt = Date.now();\nreturn null;',
			outputs: 1,
			wires: [[]],
		},
		{
			id: 'benchseenin00000',
			type: 'http in',
			...at(100, 500),
			url: '/bench/seen',
			method: 'get',
			upload: false,
			swaggerDoc: '',
			wires: [['benchseenread000']],
		},
		{
			id: 'benchseenread000',
			type: 'function',
			...at(300, 500),
			func: 'const s = flow.get("seen");\nmsg.payload = { emitted: s.emitted, unique: s.ids.size, lastAt: s.lastAt };\nreturn msg;',
			outputs: 1,
			wires: [['benchseenout0000']],
		},
		{
			id: 'benchseenout0000',
			type: 'http response',
			...at(500, 500),
			statusCode: '200',
			headers: {},
			wires: [],
		},
		{
			id: 'benchresetin0000',
			type: 'http in',
			...at(100, 600),
			url: '/bench/seen/reset',
			method: 'post',
			upload: false,
			swaggerDoc: '',
			wires: [['benchreset000000']],
		},
		{
			id: 'benchreset000000',
			type: 'function',
			...at(300, 600),
			func: `${fresh}\nmsg.payload = { reset: true };\nreturn msg;`,
			outputs: 1,
			wires: [['benchseenout0000']],
		},
	];
}

// The unthrottled sandbox has no limit, so the node runs with throughput pacing off (Msg/s 0), as in the n8n scenario.
const FASTEST = { messagesPerSecond: 0, pairIntervalSeconds: 0 };

/** Everything the scenario deploys: two configs (throttled and open sandbox), three send flows, the webhook flow. */
export function benchFlows(
	throttled: SandboxProcess,
	open: SandboxProcess,
	userDir: string,
): FlowNode[] {
	return [
		{ id: TAB, type: 'tab', label: 'bench' },
		configNode(CFG_THROTTLED, throttled, path.join(userDir, 'throttled.sqlite')),
		configNode(CFG_OPEN, open, path.join(userDir, 'open.sqlite')),
		...sendFlow('campaign', '/bench/campaign', CFG_THROTTLED, {
			messagesPerSecond: MPS,
			pairIntervalSeconds: 6,
		}),
		...sendFlow('fastest', '/bench/fastest', CFG_OPEN, FASTEST),
		...sendFlow('dryrun', '/bench/dryrun', CFG_OPEN, FASTEST, true),
		...webhookFlow(),
	];
}

export const BENCH_CREDENTIALS = {
	[CFG_THROTTLED]: { accessToken: TOKEN, appSecret: APP_SECRET, verifyToken: 'bench-verify' },
	[CFG_OPEN]: { accessToken: TOKEN, appSecret: APP_SECRET, verifyToken: 'bench-verify' },
};

// ---------------------------------------------------------------- sends

interface SendRun {
	wallS: number;
	firstSendS: number;
	sendSpanS: number;
	/** Longest pause between two consecutive accepted messages. */
	maxGapS: number;
	accepted: number;
	duplicated: number;
	failed: number;
	throttled: number;
	/** What the flow answered: its own count of sent / failed messages and the failures' messages. */
	flow: { sent: number; failed: number; errors: Record<string, number> };
	/** RSS when the run began (V8 keeps what earlier runs grew) and its peak during the run. */
	startRssMiB: number;
	peakRssMiB: number;
	cpuMsPerMessage: number;
}

export async function sendRun(
	nodeRed: NodeRedRuntime,
	sandbox: SandboxProcess,
	url: string,
	first: number,
	count: number,
): Promise<SendRun> {
	await sandbox.control('reset', {});
	const recipients = Array.from({ length: count }, (_, k) => recipientE164(first + k));
	const body = JSON.stringify(recipients.map((to) => ({ to })));
	const sampler = new RssSampler(nodeRed.pid).start();
	const startRss = sampler.peakMain;
	const meter = new CpuMeter([nodeRed.pid]);
	const wallStartMs = Date.now();
	const t0 = nowMs();
	const response = await fetch(`${nodeRed.url}${url}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body,
		signal: AbortSignal.timeout(600_000),
	});
	const text = await response.text();
	const wallS = (nowMs() - t0) / 1000;
	const cpuMs = meter.read().othersMs[0];
	const rss = sampler.stop();
	if (!response.ok)
		throw new Error(
			`Node-RED answered ${response.status} for ${url}: ${text.slice(0, 300)}\n--- Node-RED log ---\n${nodeRed.log().slice(-3000)}`,
		);
	const flow = JSON.parse(text) as SendRun['flow'];
	const perRecipient = new Map<string, number>();
	const messages = await acceptedMessages(sandbox);
	for (const m of messages) perRecipient.set(m.to, (perRecipient.get(m.to) ?? 0) + 1);
	let accepted = 0;
	let duplicated = 0;
	for (const to of recipients) {
		const n = perRecipient.get(to) ?? 0;
		if (n > 0) accepted++;
		if (n > 1) duplicated += n - 1;
	}
	const throttled = (await sandboxRequests(sandbox)).filter(
		(r) => r.path.endsWith('/messages') && r.code === 130429,
	).length;
	const times = messages.map((m) => m.acceptedAt).sort((a, b) => a - b);
	let maxGapMs = 0;
	for (let k = 1; k < times.length; k++) maxGapMs = Math.max(maxGapMs, times[k] - times[k - 1]);
	return {
		wallS,
		firstSendS: times.length ? (times[0] - wallStartMs) / 1000 : NaN,
		sendSpanS: times.length ? (times[times.length - 1] - times[0]) / 1000 : NaN,
		maxGapS: maxGapMs / 1000,
		accepted,
		duplicated,
		failed: count - accepted,
		throttled,
		flow,
		startRssMiB: round(startRss / MIB),
		peakRssMiB: round(rss.peakMainBytes / MIB),
		cpuMsPerMessage: cpuMs / count,
	};
}

// ---------------------------------------------------------------- webhooks

interface IngestRun {
	ackS: number;
	doneS: number;
	emitted: number;
	emittedUnique: number;
	startRssMiB: number;
	peakRssMiB: number;
	cpuMsPerEvent: number;
}

/**
 * Sends `count` signed POSTs, IN_FLIGHT at a time. Each carries 90 new events (sent, delivered, read of 30 messages)
 * and 10 repeats of events from POSTs already acknowledged, as Meta's retries are (the same rules as the webhooks
 * scenario, so the figures compare).
 */
async function sendPosts(
	url: string,
	firstEvent: number,
	count: number,
): Promise<{ ackS: number; t0: number }> {
	const rnd = seededRandom(firstEvent + 7);
	const acknowledged: Array<Record<string, unknown>> = [];
	const base = Math.floor(Date.now() / 1000) - 60;
	let next = 0;
	const t0 = nowMs();
	const worker = async (): Promise<void> => {
		while (next < count) {
			const p = next++;
			const fresh = statusSpecs(firstEvent + p * NEW_PER_POST, NEW_PER_POST, base).map(metaStatus);
			const pool = acknowledged.length > 0 ? acknowledged : fresh;
			const repeats = Array.from(
				{ length: PER_POST - NEW_PER_POST },
				() => pool[Math.floor(rnd() * pool.length)],
			);
			const raw = Buffer.from(JSON.stringify(webhookBodyOf([...fresh, ...repeats])));
			const response = await fetch(url, {
				method: 'POST',
				headers: {
					'content-type': 'application/json',
					'x-hub-signature-256': computeSignature(raw, APP_SECRET),
				},
				body: raw,
			});
			const text = await response.text();
			if (!response.ok)
				throw new Error(`POST ${p} answered ${response.status}: ${text.slice(0, 200)}`);
			acknowledged.push(...fresh);
		}
	};
	await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
	return { ackS: (nowMs() - t0) / 1000, t0 };
}

async function seen(
	nodeRed: NodeRedRuntime,
): Promise<{ emitted: number; unique: number; lastAt: number }> {
	const response = await fetch(`${nodeRed.url}/bench/seen`);
	return (await response.json()) as { emitted: number; unique: number; lastAt: number };
}

async function ingest(
	nodeRed: NodeRedRuntime,
	firstEvent: number,
	posts: number,
): Promise<IngestRun> {
	await fetch(`${nodeRed.url}/bench/seen/reset`, { method: 'POST' }).then((r) => r.text());
	const expected = posts * NEW_PER_POST;
	const sampler = new RssSampler(nodeRed.pid).start();
	const startRss = sampler.peakMain;
	const meter = new CpuMeter([nodeRed.pid]);
	const wallStart = Date.now();
	const { ackS } = await sendPosts(`${nodeRed.url}/whatsapp/webhook`, firstEvent, posts);
	// Done when every new event was emitted and nothing moved for 1 s, or nothing moved for 5 s (events lost).
	let last = { emitted: -1, unique: 0, lastAt: 0 };
	let stableSince = Date.now();
	const deadline = Date.now() + 10 * 60_000;
	for (;;) {
		const now = await seen(nodeRed);
		if (now.emitted !== last.emitted) stableSince = Date.now();
		last = now;
		const quiet = Date.now() - stableSince;
		if ((now.unique >= expected && quiet > 1000) || quiet > 5000) break;
		if (Date.now() > deadline)
			throw new Error(
				`Node-RED did not finish emitting: ${JSON.stringify(now)}\n${nodeRed.log().slice(-2000)}`,
			);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	const cpuMs = meter.read().othersMs[0];
	const rss = sampler.stop();
	const doneS = Math.max(ackS, (last.lastAt - wallStart) / 1000);
	return {
		ackS,
		doneS,
		emitted: last.emitted,
		emittedUnique: last.unique,
		startRssMiB: round(startRss / MIB),
		peakRssMiB: round(rss.peakMainBytes / MIB),
		cpuMsPerEvent: cpuMs / (posts * PER_POST),
	};
}

// ---------------------------------------------------------------- profile notes

/** The hottest functions of a profile in one line: self time of everything, inclusive time of the package's code. */
function profileNote(what: string, summary: ProfileSummary): string {
	const short = (fn: string): string =>
		fn
			.replace(/\S*node_modules\/((?:@[^/]+\/)?[^/]+)\/\S*/g, '$1')
			.replace(/\S*\/dist\//g, 'dist/');
	const self = summary.self
		.filter((l) => l.fn !== '(idle)')
		.slice(0, 8)
		.map((l) => `${l.selfPct}% ${short(l.fn)}`)
		.join('; ');
	const ours = summary.inclusive
		.filter((l) => /n8n-nodes-whatsapp-journeys/.test(l.fn))
		.slice(0, 8)
		.map((l) => `${l.totalPct}% ${short(l.fn)}`)
		.join('; ');
	const idle = summary.self.find((l) => l.fn === '(idle)')?.selfPct ?? 0;
	return `CPU profile of the Node-RED process during ${what} (${summary.file}): self time ${self}; idle ${idle}%. Inclusive, the package's code: ${ours}.`;
}

// ---------------------------------------------------------------- run

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const measures: Measure[] = [];
	const notes: string[] = [];
	const details: Record<string, unknown> = {
		nodeRed: NODE_RED_VERSION,
		recipients: RECIPIENTS,
		mps: MPS,
		sends: SENDS,
		posts: POSTS,
		eventsPerPost: PER_POST,
		newPerPost: NEW_PER_POST,
		inFlight: IN_FLIGHT,
	};

	await buildPackage(ctx.log);
	const throttled = await startSandboxProcess({
		token: TOKEN,
		mps: MPS,
		statusDelayMs: 600_000,
		readRatio: 0,
	});
	const open = await startSandboxProcess({
		token: TOKEN,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 600_000,
		readRatio: 0,
	});
	const userDir = mkdtempSync(path.join(tmpdir(), 'wj-bench-node-red-'));
	const removeDir = onCleanup(`Node-RED user dir ${userDir}`, () =>
		rmSync(userDir, { recursive: true, force: true }),
	);
	let nodeRed: NodeRedRuntime | undefined;
	try {
		const inspectPort = await freePort();
		nodeRed = await startNodeRed({
			userDir,
			flows: benchFlows(throttled, open, userDir),
			credentials: BENCH_CREDENTIALS,
			// The inspector lets the bench profile one run of the Node-RED process (lib/remote-profiler.ts); idle, it costs nothing.
			nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
		});
		const pid = nodeRed.pid;
		const stopNodeRed = onCleanup(
			`Node-RED pid ${pid}`,
			() => nodeRed!.stop(),
			() => {
				try {
					process.kill(pid, 'SIGKILL');
				} catch {
					// already gone
				}
			},
		);
		ctx.log(`Node-RED ${NODE_RED_VERSION} at ${nodeRed.url} (pid ${nodeRed.pid})`);

		ctx.log(
			'warm-up: 20 campaign recipients, 200 unthrottled sends, 200 dry-run items, 10 webhook POSTs',
		);
		const warm = await sendRun(nodeRed, throttled, '/bench/campaign', 5_000_000, 20);
		if (warm.accepted !== 20)
			throw new Error(
				`warm-up: the sandbox accepted ${warm.accepted}/20: ${JSON.stringify(warm.flow)}\n--- Node-RED log ---\n${nodeRed.log().slice(-3000)}`,
			);
		await sendRun(nodeRed, open, '/bench/fastest', 5_000_100, 200);
		await sendRun(nodeRed, open, '/bench/dryrun', 5_000_400, 200);
		await ingest(nodeRed, 50 * 9_000_000, 10);

		// 3. Webhook ingestion first, so its RSS is not what the send runs grew (fresh event ids every run: the store remembers event ids for 7 days)
		const hooks: IngestRun[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			hooks.push(await ingest(nodeRed, (r + 1) * 9_000_000, POSTS));
			ctx.log(
				`webhook run ${r + 1}: ${round((POSTS * PER_POST) / hooks[r].doneS)} events/s ${JSON.stringify(hooks[r])}`,
			);
		}

		// 1. Throttled campaign
		const campaign: SendRun[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			campaign.push(
				await sendRun(nodeRed, throttled, '/bench/campaign', 10_000 * (r + 1), RECIPIENTS),
			);
			ctx.log(`campaign run ${r + 1}: ${JSON.stringify(campaign[r])}`);
		}
		// 2. Unthrottled
		const fast: SendRun[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			fast.push(await sendRun(nodeRed, open, '/bench/fastest', 1_000_000 + 100_000 * r, SENDS));
			ctx.log(
				`unthrottled run ${r + 1}: ${round(SENDS / fast[r].wallS)} msg/s ${JSON.stringify({ ...fast[r], flow: undefined })}`,
			);
			if (fast[r].accepted !== SENDS || fast[r].duplicated !== 0)
				throw new Error(
					`unthrottled run ${r + 1}: accepted ${fast[r].accepted}, duplicated ${fast[r].duplicated} of ${SENDS}: ${JSON.stringify(fast[r].flow)}`,
				);
		}
		// The same flow with Dry Run: Node-RED's and the node's own cost per message, without pacing or HTTP to Meta.
		const dry: SendRun[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			dry.push(await sendRun(nodeRed, open, '/bench/dryrun', 3_000_000 + 100_000 * r, SENDS));
			ctx.log(`dry run ${r + 1}: ${round(SENDS / dry[r].wallS)} items/s`);
			if (dry[r].flow.sent !== SENDS || dry[r].accepted !== 0)
				throw new Error(
					`dry run ${r + 1}: ${JSON.stringify(dry[r].flow)}, ${dry[r].accepted} reached the sandbox`,
				);
		}
		const total = POSTS * PER_POST;
		const unique = POSTS * NEW_PER_POST;
		const sendRate = median(fast.map((x) => SENDS / x.wallS));
		const ingestRate = median(hooks.map((x) => total / x.doneS));
		if (ctx.profile || sendRate < SEND_TARGET.value) {
			ctx.log('profiling Node-RED during one extra, unmeasured unthrottled run of 3,000 sends');
			const { summary } = await profileRemote(inspectPort, 'nodered-send', () =>
				sendRun(nodeRed!, open, '/bench/fastest', 9_000_000, Math.min(SENDS, 3000)),
			);
			details.hotPathSend = summary;
			notes.push(profileNote('one extra unthrottled run of 3,000 sends', summary));
		}
		if (ctx.profile || ingestRate < INGEST_TARGET) {
			ctx.log('profiling Node-RED during one extra, unmeasured run of up to 100 webhook POSTs');
			const { summary } = await profileRemote(inspectPort, 'nodered-webhooks', () =>
				ingest(nodeRed!, 99 * 9_000_000, Math.min(POSTS, 100)),
			);
			details.hotPathWebhooks = summary;
			notes.push(profileNote('one extra run of 100 webhook POSTs', summary));
		}

		const of = <T>(runs: T[], f: (x: T) => number, digits = 0): number[] =>
			runs.map((x) => round(f(x), digits));
		measures.push(
			measure({
				id: 'nodered.campaign.accepted',
				label: `Campaign: recipients accepted (of ${RECIPIENTS.toLocaleString('en-US')})`,
				unit: '',
				runs: of(campaign, (x) => x.accepted),
				...exactlyEveryRun(RECIPIENTS, `all ${RECIPIENTS.toLocaleString('en-US')}, every run`),
			}),
			measure({
				id: 'nodered.campaign.duplicated',
				label: 'Campaign: duplicate messages (accepted more than once)',
				unit: '',
				better: 'lower',
				runs: of(campaign, (x) => x.duplicated),
				...exactlyEveryRun(0, '0, every run'),
			}),
			measure({
				id: 'nodered.campaign.failed',
				label: 'Campaign: recipients never accepted',
				unit: '',
				better: 'lower',
				runs: of(campaign, (x) => x.failed),
				...exactlyEveryRun(0, '0, every run'),
			}),
			measure({
				id: 'nodered.campaign.throttled',
				label: '130429 answers received (over the 80 msg/s limit)',
				unit: '',
				better: 'lower',
				runs: of(campaign, (x) => x.throttled),
			}),
			measure({
				id: 'nodered.campaign.firstSend',
				label: 'Campaign: POST to first message accepted',
				unit: 's',
				better: 'lower',
				runs: of(campaign, (x) => x.firstSendS, 2),
			}),
			measure({
				id: 'nodered.campaign.sendSpan',
				label: `Campaign: first to last message accepted (ideal ${round((RECIPIENTS - 1) / MPS, 2)} s)`,
				unit: 's',
				better: 'lower',
				runs: of(campaign, (x) => x.sendSpanS, 2),
			}),
			measure({
				id: 'nodered.campaign.wall',
				label: `Campaign: wall time, POST to the flow's answer (ideal ${IDEAL_S} s)`,
				unit: 's',
				better: 'lower',
				runs: of(campaign, (x) => x.wallS, 2),
				target: {
					op: '<=',
					value: round(IDEAL_S * 1.15, 2),
					text: `≤ ${round(IDEAL_S * 1.15, 2)} s (ideal + 15 %)`,
				},
			}),
			measure({
				id: 'nodered.send.rate',
				label: `Unthrottled: ${SENDS.toLocaleString('en-US')} template sends, Msg/s 0 (pacing off), pair interval 0, POST to answer`,
				unit: 'msg/s',
				runs: of(fast, (x) => SENDS / x.wallS),
				target: SEND_TARGET,
			}),
			measure({
				id: 'nodered.send.cpu',
				label: 'Unthrottled: CPU time of the Node-RED process per message',
				unit: 'ms',
				better: 'lower',
				runs: of(fast, (x) => x.cpuMsPerMessage, 3),
			}),
			measure({
				id: 'nodered.send.rss',
				label: 'Unthrottled: peak RSS of the Node-RED process during the run',
				unit: 'MiB',
				better: 'lower',
				runs: of(fast, (x) => x.peakRssMiB),
			}),
			measure({
				id: 'nodered.send.dryRun',
				label:
					'Same flow with Dry Run (validation and payloads, no pacing, no requests): the ceiling of Node-RED plus the node here',
				unit: 'items/s',
				runs: of(dry, (x) => SENDS / x.wallS),
			}),
			measure({
				id: 'nodered.webhooks.sustained',
				label: `Webhooks: sustained events/s, ${total.toLocaleString('en-US')} events, first POST to last event emitted`,
				unit: 'events/s',
				runs: of(hooks, (x) => total / x.doneS),
				target: { op: '>=', value: INGEST_TARGET, text: '≥ 3,000 events/s' },
			}),
			measure({
				id: 'nodered.webhooks.ack',
				label: 'Webhooks: events/s acknowledged (all POSTs answered)',
				unit: 'events/s',
				runs: of(hooks, (x) => total / x.ackS),
			}),
			measure({
				id: 'nodered.webhooks.lost',
				label: `Webhooks: events lost (of ${unique.toLocaleString('en-US')} distinct)`,
				unit: '',
				better: 'lower',
				runs: of(hooks, (x) => unique - x.emittedUnique),
				...exactlyEveryRun(0, '0, every run'),
			}),
			measure({
				id: 'nodered.webhooks.twice',
				label: 'Webhooks: events emitted more than once (the 10 % repeats)',
				unit: '',
				better: 'lower',
				runs: of(hooks, (x) => x.emitted - x.emittedUnique),
				...exactlyEveryRun(0, '0, every run'),
			}),
			measure({
				id: 'nodered.webhooks.cpu',
				label: 'Webhooks: CPU time of the Node-RED process per event',
				unit: 'ms',
				better: 'lower',
				runs: of(hooks, (x) => x.cpuMsPerEvent, 3),
			}),
			measure({
				id: 'nodered.webhooks.rss',
				label: 'Webhooks: peak RSS of the Node-RED process during the run',
				unit: 'MiB',
				better: 'lower',
				runs: of(hooks, (x) => x.peakRssMiB),
			}),
		);
		details.runs = { campaign, unthrottled: fast, dryRun: dry, webhooks: hooks };

		const med = (xs: number[]): number => round(median(xs), 2);
		notes.push(
			`Node-RED ${NODE_RED_VERSION} on Node ${process.version}, started from node_modules with the built package installed in a fresh user directory (harness/node-red-runtime.ts, as the runtime end-to-end test does); flows: http in → split → WhatsApp Send Template → join → http response (failures through a Catch node into the join), and WhatsApp Webhook Status → a function node counting emitted events by eventId. Sandboxes in their own processes on 127.0.0.1; the Node-RED process was started with --inspect (idle unless profiling).`,
			`Campaign, medians: ${med(campaign.map((x) => x.firstSendS))} s from the POST to the first accepted message, then ${med(campaign.map((x) => x.sendSpanS))} s of sending for an ideal ${round((RECIPIENTS - 1) / MPS, 2)} s (the pacer's in-flight window sends 80 per 1 s + the round trip, so no second at Meta holds more than 80); ${med(campaign.map((x) => x.throttled))} sends per run were answered 130429.`,
		);
		const gaps = campaign.filter((x) => x.maxGapS > 1);
		if (gaps.length > 0) {
			notes.push(
				`Campaign: in ${gaps.length} of ${campaign.length} runs the sandbox saw a pause of more than 1 s between two messages (longest ${round(Math.max(...gaps.map((x) => x.maxGapS)), 2)} s); a sender woken late still goes (the in-flight window bounds each second), so a pause this long means the process was starved of CPU.`,
			);
		}
		notes.push(
			`Peak RSS, unthrottled: Node-RED's split node hands all ${SENDS.toLocaleString('en-US')} messages to the send node at once (Node-RED has no backpressure), so every prepared request waits in the node's pacer together with its message until its slot; V8 grows the heap for that and for the garbage of the run rather than collecting early. A flow that sends in chunks (e.g. a delay node in rate-limit mode before the send node) holds less. RSS at the start of the runs (medians): webhooks ${med(hooks.map((x) => x.startRssMiB))} MiB, unthrottled ${med(fast.map((x) => x.startRssMiB))} MiB (V8 keeps what earlier runs grew; the webhook runs go first for that reason).`,
		);
		const sendMeasure = measures.find((m) => m.id === 'nodered.send.rate')!;
		if (!sendMeasure.met) {
			const cpuMs = median(fast.map((x) => x.cpuMsPerMessage));
			notes.push(
				`Unthrottled target missed with pacing off. ` +
					`The Node-RED process used ${round(cpuMs, 3)} ms of CPU per message (≈ ${round(1000 / cpuMs)} msg/s if one core did nothing else), and the Dry Run flow, which skips pacing and HTTP, ran at ${formatNumber(median(dry.map((x) => SENDS / x.wallS)))} items/s; see the CPU profile note for where the time went.`,
			);
		}
		await stopNodeRed();
	} finally {
		await nodeRed?.stop();
		await removeDir();
		await open.stop();
		await throttled.stop();
	}
	return { title: `Node-RED ${NODE_RED_VERSION} runtime`, measures, notes, details };
}

export const scenario: Scenario = { name: 'nodered', run };
