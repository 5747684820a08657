/**
 * Scenario K — a large campaign in real n8n queue mode (main + 2 workers, PostgreSQL, Redis), through the pattern
 * of examples/large-campaign-*.json: a dispatcher execution plans the audience in chunks of 1,000 on average and posts each to
 * the chunk workflow's webhook; every chunk is its own execution on a worker (`n8n worker --concurrency 4`), reads its
 * recipients from PostgreSQL and sends them with WhatsApp Send Template, the journey state and the pacer's send slots
 * in Redis. The sandbox (its own process) allows 1,000 msg/s per number and answers 130429 above it.
 *
 * By default it sends 25,000 and then 100,000 recipients, each size with 2 workers started afresh, so each worker's
 * peak RSS at one size can be set against the other's (it must not grow with the audience); `--recipients N` runs
 * one size. Each run is a new campaign (its own journey name, so once-per-step does not skip anyone), seeded in the
 * instance's database. Aggregate msg/s = accepted messages over first → last accepted; per-worker peak RSS is the
 * worker process's own (sampled every 250 ms; its task-runner child apart), over all runs of the size. CPU seconds
 * per message of each process (workers with their task runners, main, sandbox, Redis, PostgreSQL — every backend on
 * the machine) show where a shared machine's two cores go.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { N8nInstance, type CredentialJson } from '../../harness';
import {
	CHUNK_WEBHOOK_PATH,
	audienceCredential,
	audiencePhone,
	largeCampaignWorkflows,
	planChunks,
	seedAudience,
	waitForWebhooksOf,
} from '../../harness/large-campaign';
import { onCleanup } from '../lib/cleanup';
import { PHONE_NUMBER_ID, WABA_ID } from '../lib/fixtures';
import { cpuSeconds, pidsNamed } from '../lib/cpu';
import { MIB, RssSampler } from '../lib/n8n';
import { exactlyEveryRun, measure } from '../lib/results';
import { startSandboxProcess, type SandboxProcess } from '../lib/sandbox';
import type { Scenario, ScenarioContext, ScenarioOutput } from '../lib/scenario';
import { round } from '../lib/stats';
import { deleteRedisKeys } from '../../harness/redis';

const MPS = 1000;
const CHUNK = 1000;
const WORKER_CONCURRENCY = 4;
const TOKEN = 'bench-queue-token';
const START_PATH = 'bench-queue-campaign';
const CREDENTIALS = {
	metaWhatsAppCloudApi: { id: 'wjBenchQCred0001', name: 'WhatsApp (bench queue)' },
	redis: { id: 'wjBenchQRedis001', name: 'Redis (bench queue)' },
	postgres: { id: 'wjBenchQAudience', name: 'Audience (bench queue)' },
};

interface QueueRun {
	recipients: number;
	accepted: number;
	duplicated: number;
	missing: number;
	throttled: number;
	/** POST to the dispatcher → last message accepted. */
	wallS: number;
	/** Accepted messages per second between the first and the last accepted. */
	aggregateMps: number;
	/** The median of the per-second accepted counts, ramp (first 2 s) and tail (last 2 s) apart: the steady pace. */
	steadyMps: number;
	/** Messages accepted in each second from the first accepted: where the pace dips (e.g. between waves of chunks). */
	perSecond: number[];
	/** Executions of the run that did not succeed, with n8n's error. */
	failures: string[];
	/** CPU milliseconds per accepted message, by process, over the run. */
	cpuMsPerMessage: Record<string, number>;
}

/** The processes whose CPU time a run accounts for. */
type CpuGroups = Record<string, () => number[]>;

function perSecondCounts(sorted: number[]): number[] {
	if (sorted.length === 0) return [];
	const counts = new Array<number>(
		Math.floor((sorted[sorted.length - 1] - sorted[0]) / 1000) + 1,
	).fill(0);
	for (const t of sorted) counts[Math.floor((t - sorted[0]) / 1000)]++;
	return counts;
}

function steadyRate(sorted: number[]): number {
	const middle = perSecondCounts(sorted)
		.slice(2, -2)
		.sort((a, b) => a - b);
	return middle.length > 0 ? middle[Math.floor(middle.length / 2)] : 0;
}

function cpuNow(groups: CpuGroups): Record<string, number> {
	return Object.fromEntries(
		Object.entries(groups).map(([name, pids]) => [name, cpuSeconds(pids())]),
	);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const FINAL = new Set(['success', 'error', 'crashed', 'canceled']);

async function runCampaign(
	n8n: N8nInstance,
	sandbox: SandboxProcess,
	workflowIds: { dispatch: string; chunk: string },
	campaign: string,
	first: number,
	count: number,
	log: (m: string) => void,
	cpu: CpuGroups,
): Promise<QueueRun> {
	await sandbox.control('reset', {});
	await sandbox.control('messaging-limit', { tier: 'TIER_UNLIMITED' });
	await seedAudience(n8n, { campaign, first, count });
	const wanted = new Set(Array.from({ length: count }, (_, i) => audiencePhone(first + i)));
	const afterId = await n8n.lastExecutionId();
	const cpuBefore = cpuNow(cpu);
	const started = Date.now();
	const response = await fetch(n8n.webhookUrl(START_PATH), {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ campaign }),
	});
	if (!response.ok) throw new Error(`dispatcher webhook answered ${response.status}`);
	// Done when the dispatcher and every chunk execution have ended. The sandbox's log is read incrementally
	// (`since`): re-reading 100,000 messages every second would load the sandbox itself.
	const perRecipient = new Map<string, number>();
	const times: number[] = [];
	let lastSeq = 0;
	const chunks = planChunks(count, CHUNK).length;
	const deadline = Date.now() + Math.max(10 * 60_000, (count / MPS) * 4000);
	const failures: string[] = [];
	for (;;) {
		await sleep(1000);
		const { data } = await sandbox.control<{
			data: Array<{ seq: number; to: string; acceptedAt: number }>;
		}>(`messages?since=${lastSeq}`);
		for (const m of data) {
			lastSeq = Math.max(lastSeq, m.seq);
			if (!wanted.has(m.to)) continue;
			perRecipient.set(m.to, (perRecipient.get(m.to) ?? 0) + 1);
			times.push(m.acceptedAt);
		}
		if (data.length > 0) log(`${campaign}: ${perRecipient.size} accepted`);
		const runs = await n8n.executions({ afterId });
		const dispatcher = runs.filter((e) => e.workflowId === workflowIds.dispatch);
		const chunkRuns = runs.filter((e) => e.workflowId === workflowIds.chunk);
		const over =
			dispatcher.some((e) => e.status === 'error') ||
			(dispatcher.length > 0 &&
				dispatcher.every((e) => FINAL.has(e.status)) &&
				chunkRuns.length >= chunks &&
				chunkRuns.every((e) => FINAL.has(e.status)));
		if (over || Date.now() > deadline) {
			for (const e of runs.filter((r) => r.status !== 'success').slice(0, 3)) {
				const error = (await n8n.execution(e.id)).data.resultData.error as
					{ message?: string } | undefined;
				failures.push(`execution ${e.id} (${e.workflowId}) ${e.status}: ${error?.message ?? '?'}`);
			}
			if (!over) failures.push(`not over after ${Math.round((Date.now() - started) / 1000)} s`);
			break;
		}
	}
	const cpuAfter = cpuNow(cpu);
	if (failures.length) log(`${campaign}: ${failures.join('; ')}`);
	let duplicated = 0;
	for (const n of perRecipient.values()) duplicated += Math.max(0, n - 1);
	times.sort((a, b) => a - b);
	const spanS = times.length > 1 ? (times[times.length - 1] - times[0]) / 1000 : 0;
	const { data: throttled } = await sandbox.control<{ data: unknown[] }>('requests?code=130429');
	return {
		recipients: count,
		accepted: perRecipient.size,
		duplicated,
		missing: count - perRecipient.size,
		throttled: throttled.length,
		wallS: round(((times.at(-1) ?? Date.now()) - started) / 1000, 2),
		aggregateMps: spanS > 0 ? round((times.length - 1) / spanS, 1) : 0,
		steadyMps: steadyRate(times),
		perSecond: perSecondCounts(times),
		failures,
		cpuMsPerMessage: Object.fromEntries(
			Object.keys(cpu).map((name) => [
				name,
				round(((cpuAfter[name] - cpuBefore[name]) * 1000) / Math.max(1, times.length), 3),
			]),
		),
	};
}

export const scenario: Scenario = {
	name: 'queue-campaign',
	// One run of 25,000 (or 100,000) recipients is minutes of a shared machine: a figure of its own, load noted.
	minRuns: 1,
	async run(ctx: ScenarioContext): Promise<ScenarioOutput> {
		const sandbox = await startSandboxProcess({
			token: TOKEN,
			mps: MPS,
			pairRateMs: 0,
			statusDelayMs: 600_000,
			phoneNumberId: PHONE_NUMBER_ID,
			wabaId: WABA_ID,
		});
		// BENCH_QUEUE_CPU_PROF=<dir>: every n8n process writes a V8 CPU profile there when it ends (bench/profile-summary.ts).
		const profileDir = process.env.BENCH_QUEUE_CPU_PROF;
		const n8n = await N8nInstance.create({
			label: 'bench-queue',
			mode: 'queue',
			...(profileDir ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } } : {}),
		});
		const dispose = onCleanup('n8n bench-queue', () => n8n.dispose());
		const keyPrefix = `wj-bench-queue-${randomBytes(4).toString('hex')}:`;
		const samplers: RssSampler[] = [];
		try {
			ctx.log(`n8n ${n8n.installation.version} in queue mode: installing the package tarball`);
			await n8n.installPackage();
			const whatsapp: CredentialJson = {
				...CREDENTIALS.metaWhatsAppCloudApi,
				type: 'metaWhatsAppCloudApi',
				data: {
					accessToken: TOKEN,
					phoneNumberId: PHONE_NUMBER_ID,
					wabaId: WABA_ID,
					appSecret: 'bench-queue-secret',
					verifyToken: 'v',
					apiVersion: 'v25.0',
					baseUrl: sandbox.url,
				},
			};
			await n8n.importCredentials([
				whatsapp,
				{
					...CREDENTIALS.redis,
					type: 'redis',
					data: { host: '127.0.0.1', port: 6379, database: 0, password: '' },
				},
				audienceCredential(n8n, CREDENTIALS.postgres),
			]);
			const { dispatch, chunk } = largeCampaignWorkflows({
				credentials: CREDENTIALS,
				redisKeyPrefix: keyPrefix,
				messagesPerSecond: MPS,
				chunkSize: CHUNK,
				startPath: START_PATH,
				chunkWebhookUrl: n8n.webhookUrl(CHUNK_WEBHOOK_PATH),
			});
			const ids = await n8n.importWorkflows([dispatch, chunk]);
			for (const id of ids) await n8n.publishWorkflow(id);
			await n8n.start();
			await waitForWebhooksOf(n8n, ids);
			const sizes = ctx.recipients ? [ctx.recipients] : [25_000, 100_000];
			const bySize: Array<{
				recipients: number;
				runs: QueueRun[];
				peaks: ReturnType<RssSampler['stop']>[];
			}> = [];
			let workers: Array<Awaited<ReturnType<N8nInstance['startWorker']>>> = [];
			let first = 0;
			for (const recipients of sizes) {
				// Fresh workers per size: each size's peak RSS is its own.
				for (const worker of workers) await worker.stop();
				workers = [
					await n8n.startWorker({ concurrency: WORKER_CONCURRENCY }),
					await n8n.startWorker({ concurrency: WORKER_CONCURRENCY }),
				];
				const sizeSamplers = workers.map((worker) => new RssSampler(worker.pid, 250).start());
				samplers.push(...sizeSamplers);
				const mainPid = n8n.mainPid;
				const cpu: CpuGroups = {
					workers: () => workers.map((w) => w.pid),
					main: () => (mainPid ? [mainPid] : []),
					sandbox: () => [sandbox.pid],
					redis: () => pidsNamed('redis-server'),
					postgres: () => pidsNamed('postgres'),
				};
				const runs: QueueRun[] = [];
				for (let r = 0; r < ctx.runs; r++) {
					const campaign = `bench-${recipients}-${r}-${randomBytes(3).toString('hex')}`;
					const run = await runCampaign(
						n8n,
						sandbox,
						{ dispatch: ids[0] ?? '', chunk: ids[1] ?? '' },
						campaign,
						first,
						recipients,
						ctx.log,
						cpu,
					);
					// Each campaign its own numbers, so no pair-rate slot of an earlier campaign delays this one.
					first += recipients;
					ctx.log(`run ${r + 1}: ${JSON.stringify(run)}`);
					runs.push(run);
				}
				bySize.push({ recipients, runs, peaks: sizeSamplers.map((sampler) => sampler.stop()) });
			}
			const kOf = (n: number) => `${Math.round(n / 1000)}k`;
			const largest = bySize[bySize.length - 1];
			const measures = bySize.flatMap(({ recipients, runs, peaks }) => {
				const k = kOf(recipients);
				const main = recipients === largest.recipients;
				const suffix = main ? '' : `-${k}`;
				return [
					measure({
						id: `aggregate${suffix}`,
						label: `Aggregate throughput, ${k} recipients, 2 workers`,
						unit: 'msg/s',
						runs: runs.map((r) => r.aggregateMps),
						...(main ? { target: { op: '>=' as const, value: 950, text: '≥ 950 msg/s' } } : {}),
					}),
					measure({
						id: `steady${suffix}`,
						label: `Steady pace, ${k}: median accepted per second, first and last 2 s apart`,
						unit: 'msg/s',
						runs: runs.map((r) => r.steadyMps),
					}),
					measure({
						id: `wall${suffix}`,
						label: `Wall time, ${k}: dispatcher POST → last accepted (ideal ${recipients / MPS} s)`,
						unit: 's',
						runs: runs.map((r) => r.wallS),
						better: 'lower',
					}),
					// Counts that must hold in every run, not only in the median.
					...(
						[
							['throttled', '130429 answers'],
							['duplicated', 'Duplicated messages'],
							['missing', 'Recipients not accepted'],
						] as const
					).map(([field, what]) =>
						measure({
							id: `${field}${suffix}`,
							label: `${what}, ${k}`,
							unit: '',
							runs: runs.map((r) => r[field]),
							better: 'lower',
							...exactlyEveryRun(0, '0 every run'),
						}),
					),
					...peaks.map((p, i) =>
						measure({
							id: `worker${i + 1}Rss${suffix}`,
							label: `Worker ${i + 1} peak RSS, ${k} recipients`,
							unit: 'MiB',
							runs: [round(p.peakMainBytes / MIB, 0)],
							better: 'lower',
						}),
					),
				];
			});
			const cpuNote = (runs: QueueRun[]): string =>
				Object.keys(runs[0]?.cpuMsPerMessage ?? {})
					.map((name) => `${name} ${runs.map((r) => r.cpuMsPerMessage[name]).join(' / ')}`)
					.join(', ');
			const notes = [
				`${sizes.map((n) => n.toLocaleString('en-US')).join(' then ')} recipients in chunks of ${CHUNK.toLocaleString('en-US')} on average (the example plans sizes between ½ and 1½ of it, so chunks do not end together), sandbox limit ${MPS} msg/s, 2 workers × --concurrency ${WORKER_CONCURRENCY} (started afresh for each size). The workers share the number's slots and in-flight window through Redis: the aggregate can reach the limit minus the round trip.`,
				'Peak RSS is each worker process alone (its task-runner child apart), sampled every 250 ms.',
				...bySize.map(
					({ recipients, runs }) =>
						`CPU ms per accepted message, ${kOf(recipients)} (per run): ${cpuNote(runs)} — PostgreSQL counts every backend on the machine.`,
				),
				`Load average when the runs ended: ${loadavg()[0].toFixed(1)} on ${cpus().length} cores.`,
				...bySize.flatMap(({ recipients, runs }) =>
					runs.flatMap((r, i) => r.failures.map((f) => `${kOf(recipients)} run ${i + 1}: ${f}`)),
				),
			];
			return {
				title: 'Large campaign in n8n queue mode',
				measures,
				notes,
				details: { bySize },
			};
		} finally {
			for (const s of samplers) s.stop();
			await dispose();
			await sandbox.stop();
			await deleteRedisKeys(keyPrefix);
		}
	},
};
