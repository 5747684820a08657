/**
 * Scenario I — webhooks as Meta sends them: ONE status per signed POST, 64 POSTs in flight, 10 % of the POSTs
 * repeats of POSTs already acknowledged (Meta's retries, byte for byte), into a real n8n: our WhatsApp Webhook
 * Receiver (a listener of its own in a worker thread of the n8n process) and, in the same n8n, n8n's built-in
 * WhatsApp Trigger.
 *
 * Ours takes 30,000 POSTs per run (27,000 distinct statuses: sent, delivered, read of 9,000 messages, posted in that
 * order but 64 at a time, so a delivered can be recorded after its read). The receiver runs with Late Statuses =
 * "Emit and Flag", so every acknowledged distinct event must come out of n8n exactly once and a late one is counted
 * by its flag, apart from loss. The built-in trigger costs n8n ~200 ms of CPU per POST, so 30,000 POSTs would take
 * about an hour: it gets BENCH_BUILTIN_POSTS (default 3,000) of the same kind of POSTs, one run.
 *
 * Sustained events/s = events posted / (first POST → last execution finished, from n8n's database); lost = distinct
 * events acknowledged but never emitted; duplicates = emitted more than once. CPU of n8n's main process per event (all
 * its threads: the receiver's worker thread included) and its peak RSS from /proc. `--profile` samples n8n's main
 * thread only: the receiver's own per-POST work runs in its worker thread and is not in that profile.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Agent, request as httpRequest } from 'node:http';
import { computeSignature } from '../../core';
import { freePort, jsonOf, type RunExecutionData } from '../../harness';
import { metaStatus, PHONE_NUMBER_ID, statusSpecs, WABA_ID, webhookBodyOf } from '../lib/fixtures';
import {
	addHostsEntry,
	assertResolvesToLoopback,
	GRAPH_HOST,
	makeThrowawayCa,
} from '../lib/graph-route';
import { buildPackage, n8nLogTail, RssSampler, MIB, startN8n, type StartedN8n } from '../lib/n8n';
import type { ProfileSummary } from '../lib/profiler';
import { profileRemote } from '../lib/remote-profiler';
import { exactlyEveryRun, measure, type Measure } from '../lib/results';
import { startSandboxProcess } from '../lib/sandbox';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { median, nowMs, round, seededRandom } from '../lib/stats';
import { builtinTriggerWorkflow, PACKAGE } from '../lib/workflows';
import { cpuSince, cpuSnapshot, executionData, finishedExecutions, webhookPath } from './webhooks';

const POSTS = Number(process.env.BENCH_POSTS ?? 30_000);
const BUILTIN_POSTS = Number(process.env.BENCH_BUILTIN_POSTS ?? 3_000);
const IN_FLIGHT = 64;
/** Every 10th POST re-sends an acknowledged one. */
const REPEAT_EVERY = 10;
const APP_SECRET = 'bench-app-secret-0123456789';
const TARGET_RATE = 2000;

interface Post {
	raw: Buffer;
	signature: string;
}

export interface RunFigures {
	posts: number;
	distinct: number;
	ackS: number;
	doneS: number;
	executions: number;
	/** Executions whose trigger node failed (they emitted nothing). */
	failedExecutions: number;
	emitted: number;
	emittedUnique: number;
	late: number;
	lost: number;
	/** POSTs answered 5xx and delivered again (Meta's retries). */
	retries: number;
	peakRssMiB: number;
	n8nCpuMsPerEvent: number;
	pgCpuMsPerEvent: number;
	/** CPU of this process (the load generator) per POST: on a 2-core machine it competes with n8n. */
	clientCpuMsPerEvent: number;
}

/** The POSTs of one run: distinct statuses in order, every 10th a repeat of an earlier one (sent after it). */
function makePosts(count: number, firstEvent: number): Post[] {
	const rnd = seededRandom(firstEvent + 11);
	const base = Math.floor(Date.now() / 1000) - 60;
	const posts: Post[] = [];
	let event = firstEvent;
	for (let p = 0; p < count; p++) {
		// A repeat picks a POST at least IN_FLIGHT back, so it was acknowledged before it is sent again.
		if (p % REPEAT_EVERY === REPEAT_EVERY - 1 && p > IN_FLIGHT) {
			posts.push(posts[Math.floor(rnd() * (p - IN_FLIGHT))]);
			continue;
		}
		const [spec] = statusSpecs(event++, 1, base);
		const raw = Buffer.from(JSON.stringify(webhookBodyOf([metaStatus(spec)])));
		posts.push({ raw, signature: computeSignature(raw, APP_SECRET) });
	}
	return posts;
}

/** One POST over a kept-alive connection of `agent`: its status code once the answer has been read. */
function postOnce(url: URL, agent: Agent, post: Post): Promise<number> {
	return new Promise((resolve, reject) => {
		const request = httpRequest(
			url,
			{
				method: 'POST',
				agent,
				headers: {
					'content-type': 'application/json',
					'content-length': post.raw.length,
					'x-hub-signature-256': post.signature,
				},
			},
			(response) => {
				response.resume();
				response.once('end', () => resolve(response.statusCode ?? 0));
				response.once('error', reject);
			},
		);
		request.once('error', reject);
		request.end(post.raw);
	});
}

/**
 * POSTs `IN_FLIGHT` at a time, in order, until each is answered 200. A 5xx is delivered again a second later, as Meta
 * retries (n8n's webhook path answered 503 under load in one run); anything else fails the run.
 * node:http with a keep-alive agent of IN_FLIGHT sockets, not fetch(): on this 2-core machine fetch() cost the load
 * generator ~0.5 ms of CPU per POST (measured against a server that only answers 200: ~1,900 POSTs/s at most), CPU
 * taken from n8n; node:http costs ~0.1 ms. Meta's senders are not on the machine that receives.
 */
async function sendPosts(target: string, posts: Post[]): Promise<{ t0: number; retries: number }> {
	const url = new URL(target);
	const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
	let next = 0;
	let retries = 0;
	const t0 = nowMs();
	const worker = async (): Promise<void> => {
		while (next < posts.length) {
			const post = posts[next++];
			for (let attempt = 0; ; attempt++) {
				const status = await postOnce(url, agent, post);
				if (status >= 200 && status < 300) break;
				if (status < 500 || attempt >= 20) throw new Error(`POST answered ${status}`);
				retries++;
				await new Promise((resolve) => setTimeout(resolve, 1000));
			}
		}
	};
	try {
		await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
	} finally {
		agent.destroy();
	}
	return { t0, retries };
}

function keyOfOurs(item: Record<string, unknown>): string {
	const id = String(item.messageId);
	return `${id}|${String(item.status)}`;
}

/** Ours: one item per event; a late status carries lateStatus: true. */
function countOurs(data: RunExecutionData[]): { keys: string[]; late: number } {
	const keys: string[] = [];
	let late = 0;
	for (const d of data)
		for (const item of jsonOf(d, 'WhatsApp Webhook Receiver')) {
			keys.push(keyOfOurs(item));
			if (item.lateStatus === true) late++;
		}
	return { keys, late };
}

/**
 * The built-in trigger: one item per POST holding the statuses array as Meta sent it. An execution whose trigger node
 * failed (at 64 in flight n8n's own PostgreSQL pool timed out in its webhook path: "timeout exceeded when trying to
 * connect") emitted nothing: its events count as lost unless a retry of the POST emitted them.
 */
function countBuiltin(data: RunExecutionData[]): { keys: string[]; late: number; failed: number } {
	const keys: string[] = [];
	let failed = 0;
	for (const d of data) {
		if (d.resultData.runData['WhatsApp Trigger']?.[0]?.error) {
			failed++;
			continue;
		}
		for (const item of jsonOf(d, 'WhatsApp Trigger'))
			for (const s of (item.statuses as Array<{ id: string; status: string }> | undefined) ?? [])
				keys.push(`${s.id}|${s.status}`);
	}
	return { keys, late: 0, failed };
}

/** Distinct keys as the emitted items name them (wamid|status), from the posted ones (message|status). */
function postedKeys(posts: Post[]): Set<string> {
	const out = new Set<string>();
	for (const p of posts) {
		const status = (
			JSON.parse(p.raw.toString('utf8')) as {
				entry: Array<{
					changes: Array<{ value: { statuses: Array<{ id: string; status: string }> } }>;
				}>;
			}
		).entry[0].changes[0].value.statuses[0];
		out.add(`${status.id}|${status.status}`);
	}
	return out;
}

async function ingest(
	n8n: StartedN8n,
	workflowId: string,
	url: string,
	posts: Post[],
	count: (data: RunExecutionData[]) => { keys: string[]; late: number; failed?: number },
	log: (m: string) => void,
): Promise<RunFigures> {
	const afterId = await n8n.n8n.lastExecutionId();
	const sampler = new RssSampler(n8n.pid).start();
	const cpu0 = await cpuSnapshot(n8n);
	const client0 = process.cpuUsage();
	const { t0, retries } = await sendPosts(url, posts);
	const client = process.cpuUsage(client0);
	const ackS = (nowMs() - t0) / 1000;
	const wallStart = Date.now() - (nowMs() - t0);
	log(`${posts.length} POSTs acknowledged in ${round(ackS, 1)} s; waiting for the executions`);
	let last = { finished: -1, all: 0, lastStop: 0 };
	let stableSince = Date.now();
	const deadline = Date.now() + 90 * 60_000;
	for (;;) {
		const now = await finishedExecutions(n8n, workflowId, afterId);
		if (now.finished !== last.finished || now.all !== last.all) stableSince = Date.now();
		last = now;
		if (now.all > 0 && now.finished === now.all && Date.now() - stableSince > 3000) break;
		if (Date.now() > deadline)
			throw new Error(`executions did not finish: ${JSON.stringify(now)}\n${n8nLogTail(n8n)}`);
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	const rss = sampler.stop();
	const cpu = cpuSince(cpu0, await cpuSnapshot(n8n));
	const doneS = Math.max(ackS, (last.lastStop - wallStart) / 1000);
	const { keys, late, failed = 0 } = count(await executionData(n8n, workflowId, afterId));
	const expected = postedKeys(posts);
	const emittedSet = new Set(keys);
	let lost = 0;
	for (const k of expected) if (!emittedSet.has(k)) lost++;
	return {
		posts: posts.length,
		distinct: expected.size,
		ackS: round(ackS, 2),
		doneS: round(doneS, 2),
		executions: last.all,
		failedExecutions: failed,
		emitted: keys.length,
		emittedUnique: emittedSet.size,
		late,
		lost,
		retries,
		peakRssMiB: round(rss.peakMainBytes / MIB),
		n8nCpuMsPerEvent: round(cpu.n8nMs / posts.length, 2),
		pgCpuMsPerEvent: round(cpu.pgMs / posts.length, 2),
		clientCpuMsPerEvent: round((client.user + client.system) / 1000 / posts.length, 2),
	};
}

/** Our receiver in a workflow of its own, Late Statuses "Emit and Flag" (see the header), other options default. */
function receiverWorkflow(opts: {
	id: string;
	credentialId: string;
	port: number;
	path: string;
}): Parameters<typeof startN8n>[0]['workflows'][number] {
	return {
		id: opts.id,
		name: 'bench: webhook receiver (ours)',
		active: true,
		nodes: [
			{
				id: randomUUID(),
				name: 'WhatsApp Webhook Receiver',
				type: `${PACKAGE}.whatsAppWebhookReceiver`,
				typeVersion: 1,
				position: [0, 0],
				parameters: {
					path: opts.path,
					host: '127.0.0.1',
					port: opts.port,
					options: { lateStatuses: 'flag' },
				},
				credentials: {
					metaWhatsAppCloudApi: { id: opts.credentialId, name: 'Meta WhatsApp (bench sandbox)' },
				},
			},
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
}

async function waitForReceiver(url: string, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			const r = await fetch(
				`${url}?hub.mode=subscribe&hub.verify_token=bench-verify&hub.challenge=1`,
			);
			if (r.status === 200) return;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) throw new Error(`the receiver at ${url} did not answer`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

/** Where the main thread's time of a profiled run went, by the first matching frame on each sample's stack. */
export interface HotPathShare {
	part: string;
	pct: number;
	msPerEvent: number;
}

const PARTS: Array<[string, RegExp]> = [
	['idle (waiting for requests / I/O)', /^\(idle\)/],
	['garbage collector', /^\(garbage collector\)/],
	['V8 / native, unattributed', /^\(program\)/],
	[
		'ours: store write (de-duplication, status records, group commit)',
		/^(drain|recordWebhookEvents) .*whatsapp-journeys/,
	],
	['ours: checks (HMAC, JSON, zod, normalise)', /^checkWebhookPost .*whatsapp-journeys/],
	['ours: body read and answer', /^(route|handle|answer|readBody) .*whatsapp-journeys/],
	['n8n: expression isolates per execution', /expression-runtime|acquireIsolate|releaseIsolate/],
	[
		'n8n: saving executions (PostgreSQL, TypeORM, flatted)',
		/typeorm|~\/pg\/|pg-pool|pg-protocol|execution-persistence|execution-repository|flatted/,
	],
	['n8n: running the execution', /n8n-core|~\/n8n\/|n8n-workflow|@n8n\//],
	['node:http parsing and sockets', /node:_http|node:net|stream_base|node:internal\/streams/],
];

/** Shares of a .cpuprofile's samples (wall time of the main thread) by part, and ms of each per event. */
export function hotPathShares(file: string, events: number): HotPathShare[] {
	interface Node {
		id: number;
		callFrame: { functionName: string; url: string };
		children?: number[];
	}
	const profile = JSON.parse(readFileSync(file, 'utf8')) as {
		nodes: Node[];
		samples: number[];
		timeDeltas: number[];
	};
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const label = (n: Node): string =>
		`${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '~/')}`;
	const byPart = new Map<string, number>();
	let sum = 0;
	profile.samples.forEach((id, i) => {
		const dt = profile.timeDeltas[i] ?? 0;
		sum += dt;
		const stack: string[] = [];
		for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
			stack.push(label(byId.get(cur)!));
		const part = PARTS.find(([, re]) => stack.some((f) => re.test(f)))?.[0] ?? 'other';
		byPart.set(part, (byPart.get(part) ?? 0) + dt);
	});
	return [...byPart.entries()]
		.sort((a, b) => b[1] - a[1])
		.map(([part, us]) => ({
			part,
			pct: round((us / sum) * 100, 1),
			msPerEvent: round(us / 1000 / events, 3),
		}));
}

function sharesNote(shares: HotPathShare[]): string {
	const busy = shares.filter((s) => !s.part.startsWith('idle'));
	const sum = (re: RegExp): number =>
		round(
			busy.filter((s) => re.test(s.part)).reduce((t, s) => t + s.msPerEvent, 0),
			2,
		);
	return (
		`CPU profile of n8n's main thread during one extra, unmeasured run (bench/results/profiles/receiver-n8n.cpuprofile; sampled wall time, so on a loaded machine time descheduled counts against the code that ran): ` +
		shares.map((s) => `${s.part} ${s.pct}% (${s.msPerEvent} ms/event)`).join('; ') +
		`. Per event, ours and node:http ${sum(/^(ours|node:http)/)} ms, n8n's executions ${sum(/^n8n/)} ms.`
	);
}

const TITLE = 'Webhooks as Meta sends them (one status per POST)';

/** The measures and notes of a run; `builtin` is absent when n8n's side failed (`failure` says how). */
export function receiverOutput(
	ours: RunFigures[],
	builtin: RunFigures | undefined,
	n8nVersion: string,
	runs: number,
	failure?: string,
): ScenarioOutput {
	const label = 'n8n WhatsApp Trigger';
	const of = (runs: RunFigures[], f: (x: RunFigures) => number, digits = 0): number[] =>
		runs.map((x) => round(f(x), digits));
	// The built-in trigger's figure beside ours, when its run completed.
	const vs = (f: (x: RunFigures) => number, digits = 0) =>
		builtin ? { competitor: { label, runs: of([builtin], f, digits) } } : {};
	const measures: Measure[] = [];
	measures.push(
		measure({
			id: 'receiver.sustained',
			label: `Sustained events/s, one status per POST, ${IN_FLIGHT} in flight (ours ${POSTS.toLocaleString('en-US')} POSTs, built-in ${BUILTIN_POSTS.toLocaleString('en-US')}), first POST to last execution finished`,
			unit: 'events/s',
			runs: of(ours, (x) => x.posts / x.doneS),
			target: { op: '>=', value: TARGET_RATE, text: '≥ 2,000 events/s' },
			...vs((x) => x.posts / x.doneS),
		}),
		measure({
			id: 'receiver.ack',
			label: 'Events/s acknowledged (all POSTs answered 200)',
			unit: 'events/s',
			runs: of(ours, (x) => x.posts / x.ackS),
			...vs((x) => x.posts / x.ackS),
		}),
		measure({
			id: 'receiver.lost',
			label: 'Acknowledged distinct events never emitted (lost)',
			unit: '',
			better: 'lower',
			runs: of(ours, (x) => x.lost),
			...exactlyEveryRun(0, '0, every run'),
			...vs((x) => x.lost),
		}),
		measure({
			id: 'receiver.twice',
			label: 'Events emitted more than once (the 10 % repeats)',
			unit: '',
			better: 'lower',
			runs: of(ours, (x) => x.emitted - x.emittedUnique),
			...exactlyEveryRun(0, '0, every run'),
			...vs((x) => x.emitted - x.emittedUnique),
		}),
		measure({
			id: 'receiver.late',
			label:
				'Late statuses (recorded after a higher status of the same message; emitted flagged, not lost)',
			unit: '',
			better: 'none',
			runs: of(ours, (x) => x.late),
		}),
		measure({
			id: 'receiver.executions',
			label: 'Executions started',
			unit: '',
			better: 'none',
			runs: of(ours, (x) => x.executions),
			...vs((x) => x.executions),
		}),
		measure({
			id: 'receiver.failedExecutions',
			label: 'Executions whose trigger node failed (they emitted nothing)',
			unit: '',
			better: 'lower',
			runs: of(ours, (x) => x.failedExecutions),
			...vs((x) => x.failedExecutions),
		}),
		measure({
			id: 'receiver.cpuN8n',
			label: "CPU of n8n's main process per event (= per POST)",
			unit: 'ms',
			better: 'lower',
			runs: of(ours, (x) => x.n8nCpuMsPerEvent, 2),
			...vs((x) => x.n8nCpuMsPerEvent, 2),
		}),
		measure({
			id: 'receiver.cpuPostgres',
			label: "CPU of n8n's PostgreSQL backends per event",
			unit: 'ms',
			better: 'lower',
			runs: of(ours, (x) => x.pgCpuMsPerEvent, 2),
			...vs((x) => x.pgCpuMsPerEvent, 2),
		}),
		measure({
			id: 'receiver.rss',
			label: 'Peak RSS of the n8n main process during the run',
			unit: 'MiB',
			better: 'lower',
			runs: of(ours, (x) => x.peakRssMiB),
			...vs((x) => x.peakRssMiB),
		}),
	);
	const notes: string[] = [];
	notes.push(
		`Signed POSTs of one status each (sent, delivered, read of consecutive messages), ${IN_FLIGHT} in flight, every ${REPEAT_EVERY}th POST a byte-for-byte repeat of one already acknowledged; ours: ${POSTS.toLocaleString('en-US')} POSTs per run (${runs} runs) into the WhatsApp Webhook Receiver (its own port in the n8n process, default Batch Window 200 ms, Max Items 1,000, embedded SQLite store, Late Statuses "Emit and Flag" so a late status is counted by its flag, apart from loss); n8n's built-in WhatsApp Trigger: ${BUILTIN_POSTS.toLocaleString('en-US')} POSTs, one run only (at ~200 ms of n8n CPU per POST, 30,000 would take about an hour on this machine). Same n8n ${n8nVersion}; emitted events counted from n8n's execution data. The built-in trigger does not de-duplicate: the repeats come out twice there.`,
		`Median CPU per event in n8n's main process: ${median(ours.map((x) => x.n8nCpuMsPerEvent))} ms with the receiver vs ${builtin ? `${builtin.n8nCpuMsPerEvent} ms` : 'no figure (its run failed)'} through n8n's webhook path (built-in trigger). The machine (2 cores) was shared with other helpers' work during the run; CPU figures move much less with that load than wall-time ones.`,
	);
	notes.push(
		`Load generator: this process, node:http with ${IN_FLIGHT} kept-alive sockets, ${median(ours.map((x) => x.clientCpuMsPerEvent))} ms of CPU per POST (median), on the same 2 cores as n8n (until 2026-12-04 it used fetch(), ~0.5 ms per POST: that CPU was taken from n8n, so earlier figures of this scenario are not comparable).`,
	);
	if (builtin && builtin.failedExecutions > 0)
		notes.push(
			`${builtin.failedExecutions} of the built-in trigger's ${builtin.executions} executions failed in its trigger node ("timeout exceeded when trying to connect": n8n's PostgreSQL pool, DB_POSTGRESDB_POOL_SIZE default 2, gave no connection within its timeout while ${IN_FLIGHT} webhook requests waited); such an execution emitted nothing, and its events count as lost unless a retried POST emitted them.`,
		);
	if (failure)
		notes.push(
			`n8n's built-in WhatsApp Trigger run did not complete (${failure}), so it has no figures here; the issue measured it at 3,000 POSTs: ~9 events/s, 204 ms of n8n CPU per POST.`,
		);
	return {
		title: TITLE,
		measures,
		notes,
		details: {
			posts: POSTS,
			builtinPosts: BUILTIN_POSTS,
			eventsPerPost: 1,
			inFlight: IN_FLIGHT,
			repeatShare: 1 / REPEAT_EVERY,
			ours,
			builtin,
		},
	};
}

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const output: ScenarioOutput = { title: TITLE, measures: [], notes: [], details: {} };
	let failure: string | undefined;
	await buildPackage(ctx.log);
	const ca = makeThrowawayCa();
	const sandbox = await startSandboxProcess({
		tls: { host: '127.0.0.1', port: 443, certFile: ca.certFile, keyFile: ca.keyFile },
		statusDelayMs: 600_000,
	});
	const removeHosts = addHostsEntry();
	let started: StartedN8n | undefined;
	try {
		const addresses = await assertResolvesToLoopback();
		ctx.log(`${GRAPH_HOST} resolves to ${addresses.join(', ')} (loopback)`);
		const receiverPort = await freePort();
		const inspectPort = await freePort();
		// The path an existing WhatsApp Webhook Status trigger has: a proxy re-routes only this path to the receiver.
		const receiverPath = `/webhook/${randomUUID()}/whatsapp`;
		const theirsHook = randomUUID();
		started = await startN8n({
			label: 'bench-receiver',
			log: ctx.log,
			// The inspector lets the bench profile one run of n8n's main process (lib/remote-profiler.ts); idle, it costs nothing.
			env: { NODE_EXTRA_CA_CERTS: ca.caFile, NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}` },
			credentials: [
				{
					id: 'benchMetaRecv0001',
					name: 'Meta WhatsApp (bench sandbox)',
					type: 'metaWhatsAppCloudApi',
					data: {
						accessToken: 'bench-sandbox-token',
						phoneNumberId: PHONE_NUMBER_ID,
						wabaId: WABA_ID,
						appSecret: APP_SECRET,
						verifyToken: 'bench-verify',
					},
				},
				{
					id: 'benchWaTrigger002',
					name: 'WhatsApp Trigger (bench sandbox)',
					type: 'whatsAppTriggerApi',
					data: { clientId: '900000000000001', clientSecret: APP_SECRET },
				},
			],
			workflows: [
				receiverWorkflow({
					id: 'benchRecvOurs0001',
					credentialId: 'benchMetaRecv0001',
					port: receiverPort,
					path: receiverPath,
				}),
				builtinTriggerWorkflow({
					id: 'benchRecvBuilt001',
					webhookId: theirsHook,
					credentialId: 'benchWaTrigger002',
				}),
			],
		});
		const oursUrl = `http://127.0.0.1:${receiverPort}${receiverPath}`;
		await waitForReceiver(oursUrl);
		const theirsUrl = `${started.n8n.baseUrl}/webhook/${await webhookPath(started, 'benchRecvBuilt001')}`;
		ctx.log(`ours: ${oursUrl}; built-in: ${theirsUrl}`);

		const ours: RunFigures[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			const posts = makePosts(POSTS, (r + 1) * 9_000_000);
			const figures = await ingest(
				started,
				'benchRecvOurs0001',
				oursUrl,
				posts,
				countOurs,
				ctx.log,
			);
			ours.push(figures);
			ctx.log(`run ${r + 1} ours: ${JSON.stringify(figures)}`);
		}
		let profiled: ProfileSummary | undefined;
		let shares: HotPathShare[] | undefined;
		if (ctx.profile) {
			const count = Number(process.env.BENCH_PROFILE_POSTS ?? 10_000);
			ctx.log(`profiling n8n during one extra, unmeasured run of ${count} POSTs into the receiver`);
			await settle(2000);
			const posts = makePosts(count, 98 * 9_000_000);
			const { value, summary } = await profileRemote(inspectPort, 'receiver-n8n', () =>
				ingest(started!, 'benchRecvOurs0001', oursUrl, posts, countOurs, ctx.log),
			);
			ctx.log(`profiled run: ${JSON.stringify(value)}`);
			profiled = summary;
			shares = hotPathShares(path.resolve(__dirname, '..', '..', summary.file), count);
			ctx.log(`main thread by part: ${JSON.stringify(shares)}`);
		}
		await settle(2000);
		const builtinPosts = makePosts(BUILTIN_POSTS, 50 * 9_000_000);
		let builtin: RunFigures | undefined;
		if (BUILTIN_POSTS <= 0) failure = 'not run: BENCH_BUILTIN_POSTS=0';
		else
			try {
				builtin = await ingest(
					started,
					'benchRecvBuilt001',
					theirsUrl,
					builtinPosts,
					countBuiltin,
					ctx.log,
				);
				ctx.log(`built-in (one run): ${JSON.stringify(builtin)}`);
			} catch (error) {
				// Our figures stand on their own: a failure on n8n's side is reported, not a reason to discard them.
				failure = error instanceof Error ? error.message : String(error);
				ctx.log(`built-in run failed: ${failure}`);
			}
		Object.assign(
			output,
			receiverOutput(ours, builtin, started.n8n.installation.version, ctx.runs, failure),
		);
		if (profiled) output.details = { ...output.details, hotPathN8n: profiled, mainThread: shares };
		if (shares) output.notes.push(sharesNote(shares));
	} finally {
		await started?.dispose();
		await removeHosts();
		await sandbox.stop();
		await ca.remove();
	}
	return output;
}

export const scenario: Scenario = { name: 'receiver', run };
