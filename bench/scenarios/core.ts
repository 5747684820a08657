/**
 * Scenario A — core only, no n8n and no network: what one message costs before it is sent, and what one status
 * event costs when it arrives.
 *
 * - Template payload: buildTemplateMessage → validateTemplateMessage → buildEnvelope, round-robin over every
 *   approved fixture template (text, media, currency, carousel, OTP, flow, catalog …). Target ≥ 100,000/s.
 * - The same plus what the send node adds per item in core (recipient normalisation with libphonenumber and the
 *   tracking data codec), to show the whole per-item core cost.
 * - Webhook: X-Hub-Signature-256 check over the raw body + JSON.parse + normalizeWebhook, per event, for Meta's
 *   batches of 100 statuses and for single-status POSTs.
 * - Store: what the trigger's ingestion (de-duplication + shared and per-consumer status, one applyEventBatch per
 *   POST) costs per status event, in CPU µs, on the embedded SQLite file, on Redis (127.0.0.1) and in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
	createStateStore,
	ingestWebhookEvents,
	type JourneyStateStore,
	type WebhookEvent,
	buildEnvelope,
	buildTemplateMessage,
	computeSignature,
	encodeTracking,
	normalizePhoneNumber,
	normalizeWebhook,
	validateTemplateMessage,
	verifySignature,
} from '../../core';
import { fixtureSends, recipientE164, statusSpecs, statusWebhookBody } from '../lib/fixtures';
import { hottest, profile, type ProfileSummary } from '../lib/profiler';
import { deletePrefix, REDIS_HOST, REDIS_PORT, uniquePrefix } from '../lib/redis';
import { measure, type Measure } from '../lib/results';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { nowMs, round } from '../lib/stats';

// Sized so a run lasts about a second at the target rate and the whole scenario a few minutes on a busy 2-core machine.
const MESSAGES_PER_RUN = 30_000;
const WARMUP_MESSAGES = 10_000;
const EVENTS_PER_RUN = 50_000;
const APP_SECRET = 'bench-app-secret';

const sends = fixtureSends();

/** Builds, validates and wraps `count` messages; returns messages per second. */
function payloadRun(count: number, withRecipientAndTracking: boolean): number {
	let check = 0;
	const started = nowMs();
	for (let i = 0; i < count; i++) {
		const { def, values } = sends[i % sends.length];
		const message = buildTemplateMessage(def, values);
		const issue = validateTemplateMessage(def, message);
		if (issue)
			throw new Error(`fixture ${def.name}/${def.language} did not validate: ${issue.message}`);
		let to = recipientE164(i % 1_000_000);
		let data: string | undefined;
		if (withRecipientAndTracking) {
			to = normalizePhoneNumber(to).e164;
			data = encodeTracking({
				workflowId: 'wf-bench',
				executionId: String(i),
				journey: 'spring-sale',
				step: 'reminder-1',
			});
		}
		const envelope = buildEnvelope(
			to,
			{ type: 'template', template: message },
			{ bizOpaqueCallbackData: data },
		);
		check += (envelope.to ?? '').length;
	}
	const seconds = (nowMs() - started) / 1000;
	if (check === 0) throw new Error('no envelopes built');
	return count / seconds;
}

/** One template alone, for the per-template breakdown in the results file. */
function singleTemplateRun(index: number, count: number): number {
	const { def, values } = sends[index];
	const started = nowMs();
	for (let i = 0; i < count; i++) {
		const message = buildTemplateMessage(def, values);
		if (validateTemplateMessage(def, message))
			throw new Error(`fixture ${def.name} did not validate`);
		buildEnvelope(recipientE164(i), { type: 'template', template: message });
	}
	return count / ((nowMs() - started) / 1000);
}

/** Microseconds per message of one stage alone, on messages built beforehand (the stage breakdown). */
function stageRun(stage: 'build' | 'validate' | 'envelope', count: number): number {
	const built = sends.map((s) => buildTemplateMessage(s.def, s.values));
	const started = nowMs();
	for (let i = 0; i < count; i++) {
		const k = i % sends.length;
		if (stage === 'build') buildTemplateMessage(sends[k].def, sends[k].values);
		else if (stage === 'validate') validateTemplateMessage(sends[k].def, built[k]);
		else buildEnvelope(recipientE164(i), { type: 'template', template: built[k] });
	}
	return ((nowMs() - started) * 1000) / count;
}

interface SignedBody {
	raw: Buffer;
	signature: string;
	events: number;
}

function signedBodies(eventsPerBody: number, totalEvents: number): SignedBody[] {
	const bodies: SignedBody[] = [];
	const base = 1_750_000_000;
	for (let first = 0; first < totalEvents; first += eventsPerBody) {
		const raw = Buffer.from(
			JSON.stringify(statusWebhookBody(statusSpecs(first, eventsPerBody, base))),
		);
		bodies.push({ raw, signature: computeSignature(raw, APP_SECRET), events: eventsPerBody });
	}
	return bodies;
}

/** verify + parse + normalise every body; returns events per second. */
function webhookRun(bodies: SignedBody[]): number {
	let events = 0;
	const started = nowMs();
	for (const body of bodies) {
		// The trigger's order: authenticity first, on the raw bytes, then parse.
		if (!verifySignature(body.raw, body.signature, APP_SECRET))
			throw new Error('signature did not verify');
		const normalised = normalizeWebhook(JSON.parse(body.raw.toString('utf8')));
		if (normalised.length !== body.events)
			throw new Error(`normalised ${normalised.length} events, expected ${body.events}`);
		events += normalised.length;
	}
	return events / ((nowMs() - started) / 1000);
}

// Scenario E's load: POSTs of 100 statuses (sent, delivered, read of each message). Each measured run ingests 300
// new POSTs into a store that already took 1,200 (120,000 event ids, 80,000 status rows), because random keys cost
// more as the tables outgrow the caches: a fresh store would flatter it.
const STORE_POSTS = 300;
const STORE_PREFILL_POSTS = 1200;
const STORE_EVENTS_PER_POST = 100;

type StoreBackend = 'embedded' | 'redis' | 'memory';

function storePostsFrom(firstPost: number, count: number): WebhookEvent[][] {
	const posts: WebhookEvent[][] = [];
	for (let p = firstPost; p < firstPost + count; p++) {
		posts.push(
			normalizeWebhook(
				statusWebhookBody(
					// Recent times: an event stamped more than 8 days ago is a stale replay, not emitted.
					statusSpecs(
						p * STORE_EVENTS_PER_POST,
						STORE_EVENTS_PER_POST,
						Math.floor(Date.now() / 1000) - 60,
					),
				),
			),
		);
	}
	return posts;
}

/** The trigger's options (nodes/WhatsAppWebhookStatus webhook()): de-duplicate per consumer, drop late statuses. */
const INGEST_OPTIONS = {
	deduplicate: true,
	lateStatuses: 'drop' as const,
	recordWindows: true,
	recordOptOuts: true,
	stopKeywords: ['stop', 'unsubscribe'],
	emit: new Set([
		'status:sent',
		'status:delivered',
		'status:read',
		'status:failed',
		'status:played',
	]),
	consumer: 'wf-bench:node-bench',
};

/** A store of `backend` and how to dispose of it (temp file or key prefix included). */
async function openStore(
	backend: StoreBackend,
): Promise<{ store: JourneyStateStore; dispose(): Promise<void> }> {
	if (backend === 'embedded') {
		const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-store-'));
		const store = createStateStore({ backend: 'embedded', path: path.join(dir, 'state.sqlite') });
		return {
			store,
			dispose: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })),
		};
	}
	if (backend === 'redis') {
		const Redis = (await import('ioredis')).default;
		const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT });
		const prefix = uniquePrefix('store');
		const store = createStateStore({ backend: 'redis', redis, keyPrefix: prefix });
		return {
			store,
			dispose: async () => {
				await store.close();
				redis.disconnect();
				await deletePrefix(prefix);
			},
		};
	}
	const store = createStateStore({ backend: 'memory' });
	return { store, dispose: () => store.close() };
}

/** Ingests every POST, awaited one after another as n8n hands them over; returns CPU and wall µs per event. */
async function storeRun(
	store: JourneyStateStore,
	posts: WebhookEvent[][],
): Promise<{ cpuUs: number; wallUs: number }> {
	let emitted = 0;
	let events = 0;
	const cpu0 = process.cpuUsage();
	const started = nowMs();
	for (const post of posts) {
		emitted += (await ingestWebhookEvents(post, store, INGEST_OPTIONS)).events.length;
		events += post.length;
	}
	const wallMs = nowMs() - started;
	const cpu = process.cpuUsage(cpu0);
	// Every event is new: each must come out exactly once, or the figure measured something else.
	if (emitted !== events) throw new Error(`store: ${emitted} of ${events} events emitted`);
	return { cpuUs: (cpu.user + cpu.system) / events, wallUs: (wallMs * 1000) / events };
}

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const measures: Measure[] = [];

	ctx.log(`warm-up (${WARMUP_MESSAGES} messages)`);
	payloadRun(WARMUP_MESSAGES, true);

	const payload: number[] = [];
	const full: number[] = [];
	for (let r = 0; r < ctx.runs; r++) {
		await settle();
		payload.push(payloadRun(MESSAGES_PER_RUN, false));
		await settle();
		full.push(payloadRun(MESSAGES_PER_RUN, true));
		ctx.log(
			`run ${r + 1}: payload ${round(payload[r])}/s, with recipient + tracking ${round(full[r])}/s`,
		);
	}
	measures.push(
		measure({
			id: 'core.templatePayload',
			label: `Template payload build + validate + envelope, ${sends.length} fixture templates round-robin`,
			unit: 'msg/s',
			runs: payload.map((v) => round(v)),
			target: { op: '>=', value: 100_000, text: '≥ 100,000 msg/s' },
		}),
		measure({
			id: 'core.templatePayloadWithRecipient',
			label:
				'Same + recipient normalisation (libphonenumber) + tracking data, the whole per-item core cost of the send node',
			unit: 'msg/s',
			runs: full.map((v) => round(v)),
		}),
	);

	const stages = { build: [] as number[], validate: [] as number[], envelope: [] as number[] };
	for (let r = 0; r < ctx.runs; r++) {
		for (const stage of ['build', 'validate', 'envelope'] as const) {
			await settle(50);
			stages[stage].push(round(stageRun(stage, 5_000), 1));
		}
	}
	measures.push(
		measure({
			id: 'core.stage.build',
			label: 'Stage alone: buildTemplateMessage',
			unit: 'µs/msg',
			better: 'lower',
			runs: stages.build,
		}),
		measure({
			id: 'core.stage.validate',
			label: 'Stage alone: validateTemplateMessage',
			unit: 'µs/msg',
			better: 'lower',
			runs: stages.validate,
		}),
		measure({
			id: 'core.stage.envelope',
			label: 'Stage alone: buildEnvelope (template message)',
			unit: 'µs/msg',
			better: 'lower',
			runs: stages.envelope,
		}),
	);

	const perTemplate: Record<string, number> = {};
	for (let t = 0; t < sends.length; t++) {
		const runs: number[] = [];
		for (let r = 0; r < ctx.runs; r++) runs.push(singleTemplateRun(t, 2_000));
		perTemplate[`${sends[t].def.name}/${sends[t].def.language}`] = round(
			runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)],
		);
	}

	const batchBodies = signedBodies(100, EVENTS_PER_RUN);
	const singleBodies = signedBodies(1, EVENTS_PER_RUN / 10);
	webhookRun(batchBodies.slice(0, 100));
	webhookRun(singleBodies.slice(0, 1000));
	const batch: number[] = [];
	const single: number[] = [];
	for (let r = 0; r < ctx.runs; r++) {
		await settle();
		batch.push(webhookRun(batchBodies));
		await settle();
		single.push(webhookRun(singleBodies));
		ctx.log(
			`run ${r + 1}: webhook batches of 100 ${round(batch[r])} events/s, single-event POSTs ${round(single[r])} events/s`,
		);
	}
	measures.push(
		measure({
			id: 'core.webhookBatch100',
			label: 'Webhook signature verify + parse + normalise, POSTs of 100 statuses',
			unit: 'events/s',
			runs: batch.map((v) => round(v)),
		}),
		measure({
			id: 'core.webhookSingle',
			label: 'Webhook signature verify + parse + normalise, one status per POST',
			unit: 'events/s',
			runs: single.map((v) => round(v)),
		}),
	);

	for (const backend of ['embedded', 'redis', 'memory'] as const) {
		const { store, dispose } = await openStore(backend);
		const cpu: number[] = [];
		const wall: number[] = [];
		try {
			for (let first = 0; first < STORE_PREFILL_POSTS; first += STORE_POSTS)
				await storeRun(store, storePostsFrom(first, STORE_POSTS));
			for (let r = 0; r < ctx.runs; r++) {
				const posts = storePostsFrom(STORE_PREFILL_POSTS + r * STORE_POSTS, STORE_POSTS);
				await settle();
				const { cpuUs, wallUs } = await storeRun(store, posts);
				cpu.push(round(cpuUs, 1));
				wall.push(round(wallUs, 1));
				ctx.log(
					`run ${r + 1}: store ${backend}: ${round(cpuUs, 1)} µs CPU, ${round(wallUs, 1)} µs wall per event`,
				);
			}
		} finally {
			await dispose();
		}
		const where = {
			embedded: 'embedded SQLite file (WAL, synchronous=NORMAL)',
			redis: 'Redis on 127.0.0.1',
			memory: 'memory store',
		}[backend];
		const label = `Store: trigger ingestion of POSTs of ${STORE_EVENTS_PER_POST} statuses into a store that took ${(STORE_PREFILL_POSTS * STORE_EVENTS_PER_POST).toLocaleString('en-US')} events (de-dup + shared and per-consumer status, one applyEventBatch per POST), ${where}`;
		measures.push(
			measure({
				id: `core.storeBatch.${backend}`,
				label: `${label}: CPU`,
				unit: 'µs CPU/event',
				better: 'lower',
				runs: cpu,
			}),
		);
		// The store is synchronous on n8n's main thread: wall time (file writes, checkpoint syncs) is time n8n does nothing else.
		measures.push(
			measure({
				id: `core.storeBatch.${backend}.wall`,
				label: `${label}: wall time`,
				unit: 'µs/event',
				better: 'lower',
				runs: wall,
			}),
		);
	}

	const notes: string[] = [];
	const payloadMeasure = measures[0];
	const stageMedian = (stage: string): number =>
		round(measures.find((m) => m.id === `core.stage.${stage}`)?.median ?? NaN, 1);
	let hotPath: ProfileSummary | undefined;
	if (ctx.profile || !payloadMeasure.met) {
		ctx.log('profiling one extra, unmeasured payload run');
		hotPath = (await profile('core-payload', () => payloadRun(10_000, false))).summary;
	}
	if (!payloadMeasure.met) {
		notes.push(
			`Template payload target missed: median ${round(payloadMeasure.median).toLocaleString('en-US')} msg/s < 100,000 msg/s. ` +
				`Stage medians: build ${stageMedian('build')} µs, validate ${stageMedian('validate')} µs, envelope ${stageMedian('envelope')} µs per message.`,
		);
	}
	if (hotPath) {
		notes.push(
			`CPU profile of one extra payload run (${hotPath.file}), inclusive time: ${hottest(hotPath, 8, /core\/|zod|garbage/)}.`,
		);
	}
	const slowest = Object.entries(perTemplate).sort((a, b) => a[1] - b[1])[0];
	notes.push(
		`Slowest fixture template alone: ${slowest[0]} at ${round(slowest[1]).toLocaleString('en-US')} msg/s (per-template medians in bench/results/core.json).`,
	);
	return {
		title: 'Core micro-benchmark',
		measures,
		notes,
		details: {
			hotPath,
			messagesPerRun: MESSAGES_PER_RUN,
			eventsPerRun: EVENTS_PER_RUN,
			templates: sends.length,
			perTemplateMsgPerSec: perTemplate,
		},
	};
}

export const scenario: Scenario = { name: 'core', run };
