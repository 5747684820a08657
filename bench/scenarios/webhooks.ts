/**
 * Scenario E — webhook ingestion in a real n8n: 30,000 status events in signed POSTs of 100 (Meta's batch size),
 * 10 % of them duplicates, into an active WhatsApp Webhook Status trigger; the same POSTs, byte for byte, into
 * n8n's built-in WhatsApp Trigger in the same n8n.
 *
 * Each POST carries 90 new events (sent, delivered, read of 30 messages, in order) and 10 repeats of events Meta
 * already delivered (taken from POSTs that were acknowledged, as Meta's retries are). POSTs go 4 at a time.
 * Sustained events/s = 30,000 / (first POST → last execution finished, read from n8n's database); the trigger's
 * executions are read back from n8n's execution data to count what was emitted: each new event exactly once
 * (27,000), none lost, none twice. The built-in trigger does not de-duplicate: we count what it emitted.
 *
 * Our trigger runs with its default options, so its Batch Window (200 ms) lets concurrent POSTs share one execution;
 * the built-in trigger starts one execution per POST. Both sides' executions are counted.
 *
 * The built-in trigger registers itself with Meta's app API on activation, so graph.facebook.com is routed to
 * the bench's sandbox front for this run (lib/graph-route.ts), which answers those app calls.
 */
import { randomUUID } from 'node:crypto';
import { computeSignature } from '../../core';
import { jsonOf, psql, type RunExecutionData } from '../../harness';
import { parseStoredExecutionData, runExecutionDataSchema } from '../../harness/run-data';
import { metaStatus, PHONE_NUMBER_ID, statusSpecs, WABA_ID, webhookBodyOf } from '../lib/fixtures';
import {
	addHostsEntry,
	assertResolvesToLoopback,
	GRAPH_HOST,
	makeThrowawayCa,
} from '../lib/graph-route';
import { freePort } from '../../harness';
import { processCpuMs } from '../lib/cpu';
import { buildPackage, n8nLogTail, RssSampler, MIB, startN8n, type StartedN8n } from '../lib/n8n';
import type { ProfileSummary } from '../lib/profiler';
import { profileRemote } from '../lib/remote-profiler';
import { exactlyEveryRun, measure, type Measure } from '../lib/results';
import { startSandboxProcess } from '../lib/sandbox';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { median, nowMs, round, seededRandom } from '../lib/stats';
import { builtinTriggerWorkflow, oursTriggerWorkflow } from '../lib/workflows';

const POSTS = Number(process.env.BENCH_POSTS ?? 300);
const PER_POST = 100;
const NEW_PER_POST = 90;
const IN_FLIGHT = 4;
const APP_SECRET = 'bench-app-secret-0123456789';
const TARGET_RATE = 3000;

interface Post {
	raw: Buffer;
	signature: string;
	newEvents: number;
}

interface IngestRun {
	ackS: number;
	doneS: number;
	executions: number;
	emitted: number;
	emittedUnique: number;
	peakRssMiB: number;
	/** CPU ms per POST of n8n's main process and of the PostgreSQL backends serving its database (from /proc). */
	n8nCpuMsPerPost: number;
	pgCpuMsPerPost: number;
}

/**
 * Sends POSTs 4 at a time. Bodies are made as they go: repeats come from POSTs already acknowledged (as Meta's
 * retries do), so a repeat never overtakes its original. `replay` sends previously made bodies unchanged.
 */
async function sendPosts(
	url: string,
	firstEvent: number,
	replay?: Post[],
	count = POSTS,
): Promise<{ posts: Post[]; ackS: number; t0: number }> {
	const rnd = seededRandom(firstEvent + 7);
	const acknowledged: Array<Record<string, unknown>> = [];
	const freshOf = new Map<Post, Array<Record<string, unknown>>>();
	const posts: Post[] = replay ? [...replay] : [];
	const base = Math.floor(Date.now() / 1000) - 60;
	let next = 0;
	const t0 = nowMs();
	const make = (p: number): Post => {
		const fresh = statusSpecs(firstEvent + p * NEW_PER_POST, NEW_PER_POST, base).map(metaStatus);
		const repeats: Array<Record<string, unknown>> = [];
		for (let k = 0; k < PER_POST - NEW_PER_POST; k++) {
			// Before anything was acknowledged, the first POST repeats its own events (after the originals).
			const pool = acknowledged.length > 0 ? acknowledged : fresh;
			repeats.push(pool[Math.floor(rnd() * pool.length)]);
		}
		const raw = Buffer.from(JSON.stringify(webhookBodyOf([...fresh, ...repeats])));
		const post = { raw, signature: computeSignature(raw, APP_SECRET), newEvents: NEW_PER_POST };
		freshOf.set(post, fresh);
		return post;
	};
	const worker = async (): Promise<void> => {
		while (next < count) {
			const p = next++;
			const post = replay ? replay[p] : make(p);
			if (!replay) posts[p] = post;
			const response = await fetch(url, {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'x-hub-signature-256': post.signature },
				body: post.raw,
			});
			await response.text();
			if (!response.ok) throw new Error(`POST ${p} answered ${response.status}`);
			if (!replay) acknowledged.push(...(freshOf.get(post) ?? []));
		}
	};
	await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
	return { posts, ackS: (nowMs() - t0) / 1000, t0 };
}

export async function finishedExecutions(
	n8n: StartedN8n,
	workflowId: string,
	afterId: number,
): Promise<{ finished: number; all: number; lastStop: number }> {
	const row = await psql(
		n8n.n8n.database.database,
		`SELECT count(*) FILTER (WHERE status IN ('success','error','crashed','canceled')) || ',' || count(*) || ',' || coalesce(extract(epoch from max("stoppedAt")) * 1000, 0) FROM execution_entity WHERE "workflowId" = '${workflowId}' AND id > ${afterId}`,
	);
	const [finished, all, lastStop] = row.split(',').map(Number);
	return { finished, all, lastStop };
}

export async function executionData(
	n8n: StartedN8n,
	workflowId: string,
	afterId: number,
): Promise<RunExecutionData[]> {
	const text = await psql(
		n8n.n8n.database.database,
		`SELECT coalesce(json_agg(d.data ORDER BY e.id), '[]') FROM execution_entity e JOIN execution_data d ON d."executionId" = e.id WHERE e."workflowId" = '${workflowId}' AND e.id > ${afterId}`,
	);
	return (JSON.parse(text) as string[]).map((t) =>
		runExecutionDataSchema.parse(parseStoredExecutionData(n8n.n8n.installation.dir, t)),
	);
}

export async function webhookPath(n8n: StartedN8n, workflowId: string): Promise<string> {
	return psql(
		n8n.n8n.database.database,
		`SELECT "webhookPath" FROM webhook_entity WHERE "workflowId" = '${workflowId}' AND method = 'POST' LIMIT 1`,
	);
}

/**
 * CPU time (ms) of n8n's main process and of each PostgreSQL backend connected to its database. CPU time, unlike
 * wall time, does not stretch when other work shares the machine, so it says what one POST costs each side.
 */
export async function cpuSnapshot(
	n8n: StartedN8n,
): Promise<{ n8nMs: number; pg: Map<number, number> }> {
	const pids = await psql(
		n8n.n8n.database.database,
		`SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
	);
	const pg = new Map<number, number>();
	for (const pid of pids.split(',').filter(Boolean).map(Number)) pg.set(pid, processCpuMs(pid));
	return { n8nMs: processCpuMs(n8n.pid), pg };
}

export function cpuSince(
	before: { n8nMs: number; pg: Map<number, number> },
	after: { n8nMs: number; pg: Map<number, number> },
): { n8nMs: number; pgMs: number } {
	let pgMs = 0;
	// A backend opened during the run counts from zero; n8n keeps its pool open, so none closes in between.
	for (const [pid, ms] of after.pg) pgMs += ms - (before.pg.get(pid) ?? 0);
	return { n8nMs: after.n8nMs - before.n8nMs, pgMs };
}

async function ingest(
	n8n: StartedN8n,
	workflowId: string,
	url: string,
	firstEvent: number,
	count: (data: RunExecutionData[]) => { emitted: number; unique: number },
	replay?: Post[],
	postCount = POSTS,
): Promise<{ run: IngestRun; posts: Post[] }> {
	const afterId = await n8n.n8n.lastExecutionId();
	const sampler = new RssSampler(n8n.pid).start();
	const cpu0 = await cpuSnapshot(n8n);
	const { posts, ackS, t0 } = await sendPosts(url, firstEvent, replay, postCount);
	const wallStart = Date.now() - (nowMs() - t0);
	// Wait until the executions the POSTs started have all finished (no new ones for 3 s and none running).
	let last = { finished: -1, all: 0, lastStop: 0 };
	let stableSince = Date.now();
	const deadline = Date.now() + 10 * 60_000;
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
	const { emitted, unique } = count(await executionData(n8n, workflowId, afterId));
	return {
		run: {
			ackS,
			doneS,
			executions: last.all,
			emitted,
			emittedUnique: unique,
			peakRssMiB: round(rss.peakMainBytes / MIB),
			n8nCpuMsPerPost: round(cpu.n8nMs / postCount, 1),
			pgCpuMsPerPost: round(cpu.pgMs / postCount, 1),
		},
		posts,
	};
}

function countOurs(data: RunExecutionData[]): { emitted: number; unique: number } {
	const ids: string[] = [];
	for (const d of data)
		for (const item of jsonOf(d, 'WhatsApp Webhook Status')) ids.push(String(item.eventId));
	return { emitted: ids.length, unique: new Set(ids).size };
}

function countBuiltin(data: RunExecutionData[]): { emitted: number; unique: number } {
	const keys: string[] = [];
	for (const d of data) {
		for (const item of jsonOf(d, 'WhatsApp Trigger')) {
			for (const s of (item.statuses as Array<{ id: string; status: string }> | undefined) ?? [])
				keys.push(`${s.id}|${s.status}`);
		}
	}
	return { emitted: keys.length, unique: new Set(keys).size };
}

/**
 * What the profile says, in a sentence. Percentages are inclusive and do not nest across awaits, so each part is
 * named on its own; they are of wall time sampled, idle included.
 */
export function profileNote(summary: ProfileSummary): string {
	const pct = (re: RegExp): number =>
		Math.max(0, ...summary.inclusive.filter((l) => re.test(l.fn)).map((l) => l.totalPct));
	const idle = summary.self.find((l) => l.fn === '(idle)')?.selfPct ?? 0;
	return (
		`CPU profile of n8n's main process during one extra run into our trigger (${summary.file}), inclusive: ` +
		`our side — webhook() ${pct(/^webhook .*WhatsAppWebhookStatus/)}%, of which de-duplication and status records (one store transaction per POST) ` +
		`${pct(/^applyEventBatch /)}% and normalise ${pct(/^normalizeWebhook /)}%; credential reads ${pct(/^getDecrypted /)}% (read once per trigger and reused); ` +
		`n8n's side — expression isolates acquired and released per webhook call, credential read and execution (${pct(/^acquireIsolate /)}% + ${pct(/^releaseIsolate /)}%), ` +
		`PostgreSQL queries (${pct(/^query .*pg\/lib\/client/)}%), request body parsing ${pct(/^parseRequestBody /)}%, executeWebhook ${pct(/^executeWebhook .*live-webhooks/)}%, ` +
		`the execution itself ${pct(/^runMainProcess /)}%; idle (waiting for PostgreSQL and for a CPU) ${idle}%.`
	);
}

/** Where a POST's CPU goes and what 3,000 events/s would take, from the CPU measures and the profile. */
function budgetNote(
	ours: IngestRun[],
	theirs: IngestRun[],
	summary: ProfileSummary | undefined,
): string {
	const n8nMs = median(ours.map((x) => x.n8nCpuMsPerPost));
	const pgMs = median(ours.map((x) => x.pgCpuMsPerPost));
	const cores = ((TARGET_RATE / PER_POST) * (n8nMs + pgMs)) / 1000;
	let share = '';
	if (summary) {
		const idle = summary.self.find((l) => l.fn === '(idle)')?.selfPct ?? 0;
		const oursPct = Math.max(
			0,
			...summary.inclusive
				.filter((l) => /^webhook .*WhatsAppWebhookStatus/.test(l.fn))
				.map((l) => l.totalPct),
		);
		const busy = 100 - idle;
		if (busy > 0)
			share = ` Of n8n's busy main-process time, our webhook() (verification, normalising, store batch) is ${round((100 * oursPct) / busy)}% (≈ ${round((n8nMs * oursPct) / busy, 1)} ms per POST); the rest is n8n's own per-request and per-execution work.`;
	}
	const ourExecutions = median(ours.map((x) => x.executions));
	const theirExecutions = median(theirs.map((x) => x.executions));
	return (
		`Executions started for ${POSTS} POSTs (medians): ${ourExecutions} with our trigger at its default Batch Window (200 ms; concurrent POSTs share one execution), ` +
		`${theirExecutions} with the built-in one (one per POST). ` +
		`CPU per POST of ${PER_POST} events (medians, from /proc): n8n's main process ${n8nMs} ms and its PostgreSQL backends ${pgMs} ms with our trigger; ` +
		`${median(theirs.map((x) => x.n8nCpuMsPerPost))} ms and ${median(theirs.map((x) => x.pgCpuMsPerPost))} ms with the built-in one.${share} ` +
		`At these costs ${TARGET_RATE.toLocaleString('en-US')} events/s (${TARGET_RATE / PER_POST} POSTs/s of ${PER_POST}) takes ${round(cores, 1)} CPU-seconds per second of n8n and PostgreSQL ` +
		`on this 2-core machine (shared with other work during the run, load average in the machine line); n8n still spends CPU per webhook call (an expression isolate, request handling) ` +
		`even when no execution starts. Wall-time figures vary with that load, the CPU figures much less.`
	);
}

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const measures: Measure[] = [];
	const notes: string[] = [];
	const total = POSTS * PER_POST;
	const uniqueExpected = POSTS * NEW_PER_POST;
	const details: Record<string, unknown> = {
		posts: POSTS,
		eventsPerPost: PER_POST,
		newPerPost: NEW_PER_POST,
		inFlight: IN_FLIGHT,
		events: total,
		uniqueEvents: uniqueExpected,
	};

	await buildPackage(ctx.log);
	const ca = makeThrowawayCa();
	const sandbox = await startSandboxProcess({
		tls: { host: '127.0.0.1', port: 443, certFile: ca.certFile, keyFile: ca.keyFile },
		statusDelayMs: 600_000,
	});
	const removeHosts = addHostsEntry();
	let started: StartedN8n | undefined;
	try {
		// n8n's built-in trigger calls graph.facebook.com when it is activated: make sure that is this machine first.
		const addresses = await assertResolvesToLoopback();
		ctx.log(`${GRAPH_HOST} resolves to ${addresses.join(', ')} (loopback)`);
		const inspectPort = await freePort();
		const oursHook = randomUUID();
		const theirsHook = randomUUID();
		started = await startN8n({
			label: 'bench-webhooks',
			log: ctx.log,
			// The inspector lets the bench profile one run of n8n's main process (lib/remote-profiler.ts).
			env: { NODE_EXTRA_CA_CERTS: ca.caFile, NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}` },
			credentials: [
				{
					id: 'benchMetaHooks001',
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
					id: 'benchWaTrigger001',
					name: 'WhatsApp Trigger (bench sandbox)',
					type: 'whatsAppTriggerApi',
					data: { clientId: '900000000000001', clientSecret: APP_SECRET },
				},
			],
			workflows: [
				oursTriggerWorkflow({
					id: 'benchHooksOurs001',
					webhookId: oursHook,
					credentialId: 'benchMetaHooks001',
				}),
				builtinTriggerWorkflow({
					id: 'benchHooksBuilt01',
					webhookId: theirsHook,
					credentialId: 'benchWaTrigger001',
				}),
			],
		});
		const oursUrl = `${started.n8n.baseUrl}/webhook/${await webhookPath(started, 'benchHooksOurs001')}`;
		const theirsUrl = `${started.n8n.baseUrl}/webhook/${await webhookPath(started, 'benchHooksBuilt01')}`;
		ctx.log(`ours: ${oursUrl}; built-in: ${theirsUrl}`);

		const ours: IngestRun[] = [];
		const theirs: IngestRun[] = [];
		for (let r = 0; r < ctx.runs; r++) {
			await settle(2000);
			// Fresh message ids every run (the store remembers event ids for 7 days), starting on a message boundary
			// (a multiple of 90 = 30 messages × 3 statuses) so no message's statuses straddle two POSTs.
			const o = await ingest(started, 'benchHooksOurs001', oursUrl, (r + 1) * 9_000_000, countOurs);
			ours.push(o.run);
			ctx.log(`run ${r + 1} ours: ${JSON.stringify(o.run)}`);
			await settle(2000);
			const t = await ingest(
				started,
				'benchHooksBuilt01',
				theirsUrl,
				(r + 1) * 9_000_000,
				countBuiltin,
				o.posts,
			);
			theirs.push(t.run);
			ctx.log(`run ${r + 1} built-in: ${JSON.stringify(t.run)}`);
		}
		const builtin = 'n8n WhatsApp Trigger';
		let profiled: ProfileSummary | undefined;
		if (ctx.profile || median(ours.map((x) => total / x.doneS)) < TARGET_RATE) {
			ctx.log('profiling n8n during one extra, unmeasured run of up to 100 POSTs into our trigger');
			const { summary } = await profileRemote(inspectPort, 'webhooks-n8n', () =>
				ingest(
					started!,
					'benchHooksOurs001',
					oursUrl,
					99 * 9_000_000,
					countOurs,
					undefined,
					Math.min(POSTS, 100),
				),
			);
			details.hotPathN8n = summary;
			profiled = summary;
			notes.push(profileNote(summary));
		}
		notes.push(budgetNote(ours, theirs, profiled));
		const of = (runs: IngestRun[], f: (x: IngestRun) => number, digits = 0): number[] =>
			runs.map((x) => round(f(x), digits));
		measures.push(
			measure({
				id: 'webhooks.sustained',
				label: `Sustained events/s: ${total.toLocaleString('en-US')} events, first POST to last execution finished`,
				unit: 'events/s',
				runs: of(ours, (x) => total / x.doneS),
				target: { op: '>=', value: TARGET_RATE, text: '≥ 3,000 events/s' },
				competitor: { label: builtin, runs: of(theirs, (x) => total / x.doneS) },
			}),
			measure({
				id: 'webhooks.ack',
				label: 'Events/s acknowledged (all POSTs answered)',
				unit: 'events/s',
				runs: of(ours, (x) => total / x.ackS),
				competitor: { label: builtin, runs: of(theirs, (x) => total / x.ackS) },
			}),
			measure({
				id: 'webhooks.executions',
				label: `Executions started (${POSTS} POSTs; ours at its default Batch Window)`,
				unit: '',
				better: 'none',
				runs: of(ours, (x) => x.executions),
				competitor: { label: builtin, runs: of(theirs, (x) => x.executions) },
			}),
			measure({
				id: 'webhooks.lost',
				label: `Events lost (of ${uniqueExpected.toLocaleString('en-US')} distinct)`,
				unit: '',
				better: 'lower',
				runs: of(ours, (x) => uniqueExpected - x.emittedUnique),
				...exactlyEveryRun(0, '0, every run'),
				competitor: { label: builtin, runs: of(theirs, (x) => uniqueExpected - x.emittedUnique) },
			}),
			measure({
				id: 'webhooks.twice',
				label: 'Events emitted more than once (the 10 % repeats)',
				unit: '',
				better: 'lower',
				runs: of(ours, (x) => x.emitted - x.emittedUnique),
				...exactlyEveryRun(0, '0, every run'),
				competitor: { label: builtin, runs: of(theirs, (x) => x.emitted - x.emittedUnique) },
			}),
			measure({
				id: 'webhooks.cpuN8n',
				label: `CPU of n8n's main process per POST of ${PER_POST} events`,
				unit: 'ms',
				better: 'lower',
				runs: of(ours, (x) => x.n8nCpuMsPerPost, 1),
				competitor: { label: builtin, runs: of(theirs, (x) => x.n8nCpuMsPerPost, 1) },
			}),
			measure({
				id: 'webhooks.cpuPostgres',
				label: `CPU of n8n's PostgreSQL backends per POST of ${PER_POST} events`,
				unit: 'ms',
				better: 'lower',
				runs: of(ours, (x) => x.pgCpuMsPerPost, 1),
				competitor: { label: builtin, runs: of(theirs, (x) => x.pgCpuMsPerPost, 1) },
			}),
			measure({
				id: 'webhooks.rss',
				label: 'Peak RSS of the n8n process during the run',
				unit: 'MiB',
				better: 'lower',
				runs: of(ours, (x) => x.peakRssMiB),
				competitor: { label: builtin, runs: of(theirs, (x) => x.peakRssMiB) },
			}),
		);
		notes.push(
			`${POSTS} signed POSTs of ${PER_POST} statuses (${NEW_PER_POST} new + ${PER_POST - NEW_PER_POST} repeats of acknowledged events), ${IN_FLIGHT} in flight, the same bytes to both triggers in the same n8n ${started.n8n.installation.version}; emitted events counted from n8n's execution data. The built-in trigger emits one item per POST holding the raw statuses array; its counts are of statuses inside those items.`,
		);
	} finally {
		await started?.dispose();
		await removeHosts();
		await sandbox.stop();
		await ca.remove();
	}
	return { title: 'Webhook ingestion', measures, notes, details };
}

export const scenario: Scenario = { name: 'webhooks', run };
