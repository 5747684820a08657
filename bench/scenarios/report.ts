/**
 * Scenario G — journey reports over a million recorded messages.
 *
 * Per backend (embedded SQLite file in a temp dir; Redis with a unique prefix): 1,000,000 messages of 10 journeys × 5
 * steps over 30 days go through the store's own write paths — `recordSends` (as the send node records a batch), then
 * `applyEventBatch` POSTs of 100 `delivered` and then `read` statuses with their journey (as the trigger ingests them).
 * Measured: the time and heap to build the 30-day report of every journey step (`buildJourneyReport`, what the Journey
 * Report node does), and the store cost per status event with and without the journey report's counting, on the same
 * store (POSTs of 100 fresh messages' statuses): what a tracked status adds to ingestion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
	buildJourneyReport,
	createStateStore,
	DAY_MS,
	type EventBatchItem,
	type JourneyStateStore,
} from '../../core';
import { onCleanup } from '../lib/cleanup';
import { PHONE_NUMBER_ID } from '../lib/fixtures';
import { deletePrefix, REDIS_HOST, REDIS_PORT, uniquePrefix } from '../lib/redis';
import { measure, type Measure } from '../lib/results';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { nowMs, round } from '../lib/stats';

const MESSAGES = Number(process.env.BENCH_REPORT_MESSAGES ?? 1_000_000);
const JOURNEYS = 10;
const STEPS = 5;
const DAYS = 30;
const SEND_BATCH = 5_000;
const POST = 100;
const COST_EVENTS = 20_000;

const journeyOf = (i: number) => `journey-${i % JOURNEYS}`;
const stepOf = (i: number) => `step-${Math.floor(i / JOURNEYS) % STEPS}`;
const messageId = (i: number) => `wamid.BENCH${i.toString(36).padStart(8, '0')}`;

async function seed(
	store: JourneyStateStore,
	today: number,
	log: (m: string) => void,
): Promise<number> {
	const started = nowMs();
	const at = (i: number) => new Date(today - (i % DAYS) * DAY_MS - 3_600_000);
	for (let first = 0; first < MESSAGES; first += SEND_BATCH) {
		const sends = [];
		for (let i = first; i < Math.min(MESSAGES, first + SEND_BATCH); i++)
			sends.push({
				phoneNumberId: PHONE_NUMBER_ID,
				messageId: messageId(i),
				journey: journeyOf(i),
				step: stepOf(i),
				at: at(i),
			});
		await store.recordSends(sends);
	}
	log(`sends recorded after ${round((nowMs() - started) / 1000, 1)} s`);
	// 95 % delivered, 70 % read, as status POSTs of 100.
	for (const [status, share] of [
		['delivered', 0.95],
		['read', 0.7],
	] as const) {
		const count = Math.floor(MESSAGES * share);
		for (let first = 0; first < count; first += POST) {
			const items: EventBatchItem[] = [];
			for (let i = first; i < Math.min(count, first + POST); i++)
				items.push({
					writes: [
						{
							kind: 'journeyStatus',
							phoneNumberId: PHONE_NUMBER_ID,
							messageId: messageId(i),
							status,
							at: new Date(at(i).getTime() + 60_000),
							journey: journeyOf(i),
							step: stepOf(i),
							pricing: { billable: true, category: 'marketing', type: 'regular' },
							market: 'DE',
						},
					],
				});
			await store.applyEventBatch(items);
		}
		log(`${status} recorded after ${round((nowMs() - started) / 1000, 1)} s`);
	}
	return (nowMs() - started) / 1000;
}

/** µs of store time per status event, for POSTs of fresh messages' statuses, with or without the report's write. */
async function statusCost(
	store: JourneyStateStore,
	offset: number,
	withReport: boolean,
): Promise<number> {
	const at = new Date();
	const started = nowMs();
	for (let first = 0; first < COST_EVENTS; first += POST) {
		const items: EventBatchItem[] = [];
		for (let k = first; k < first + POST; k++) {
			const i = offset + k;
			const id = `wamid.COST${withReport ? 'R' : 'P'}${i}`;
			items.push({
				remember: { phoneNumberId: PHONE_NUMBER_ID, eventId: `status:${id}:delivered`, at },
				writes: [
					{
						kind: 'status',
						phoneNumberId: PHONE_NUMBER_ID,
						messageId: id,
						status: 'delivered',
						at,
					},
					...(withReport
						? [
								{
									kind: 'journeyStatus' as const,
									phoneNumberId: PHONE_NUMBER_ID,
									messageId: id,
									status: 'delivered' as const,
									at,
									journey: journeyOf(i),
									step: stepOf(i),
								},
							]
						: []),
				],
				seenBy: 0,
			});
		}
		await store.applyEventBatch(items);
	}
	return ((nowMs() - started) * 1000) / COST_EVENTS;
}

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const measures: Measure[] = [];
	const notes: string[] = [];
	const today = Math.floor(Date.now() / DAY_MS) * DAY_MS + 12 * 3_600_000;
	const period = {
		from: new Date(today - (DAYS - 1) * DAY_MS).toISOString().slice(0, 10),
		to: new Date(today).toISOString().slice(0, 10),
	};
	const details: Record<string, unknown> = {
		messages: MESSAGES,
		journeys: JOURNEYS,
		steps: STEPS,
		days: DAYS,
	};
	for (const backend of ['embedded', 'redis'] as const) {
		let store: JourneyStateStore;
		let dispose: () => Promise<void>;
		if (backend === 'embedded') {
			const dir = mkdtempSync(path.join(os.tmpdir(), 'wj-bench-report-'));
			store = createStateStore({ backend: 'embedded', path: path.join(dir, 'store.sqlite') });
			dispose = async () => {
				await store.close();
				rmSync(dir, { recursive: true, force: true });
			};
		} else {
			const prefix = uniquePrefix('report');
			store = createStateStore({
				backend: 'redis',
				redis: { host: REDIS_HOST, port: REDIS_PORT },
				keyPrefix: prefix,
			});
			dispose = async () => {
				await store.close();
				await deletePrefix(prefix);
			};
		}
		const release = onCleanup(`report store ${backend}`, dispose);
		try {
			ctx.log(`${backend}: recording ${MESSAGES.toLocaleString('en-US')} messages`);
			details[`seedSeconds.${backend}`] = round(await seed(store, today, ctx.log), 1);
			const ms: number[] = [];
			const heap: number[] = [];
			let steps = 0;
			let sent = 0;
			for (let r = 0; r < ctx.runs; r++) {
				await settle();
				const before = process.memoryUsage().heapUsed;
				const started = nowMs();
				const report = await buildJourneyReport(store, { phoneNumberId: PHONE_NUMBER_ID, period });
				ms.push(round(nowMs() - started, 1));
				heap.push(round((process.memoryUsage().heapUsed - before) / 1024 / 1024, 2));
				steps = report.length;
				sent = report.reduce((n, s) => n + s.sent, 0);
				ctx.log(`run ${r + 1}: ${backend}: report of ${steps} steps in ${ms[ms.length - 1]} ms`);
			}
			if (sent !== MESSAGES || steps !== JOURNEYS * STEPS)
				notes.push(
					`${backend}: the report counted ${sent} sends in ${steps} steps, expected ${MESSAGES} in ${JOURNEYS * STEPS}.`,
				);
			const label = `30-day report of ${JOURNEYS * STEPS} journey steps over ${MESSAGES.toLocaleString('en-US')} recorded messages, ${backend === 'embedded' ? 'embedded SQLite file' : 'Redis on 127.0.0.1'}`;
			measures.push(
				measure({
					id: `report.build.${backend}`,
					label: `${label}: time`,
					unit: 'ms',
					better: 'lower',
					runs: ms,
				}),
				measure({
					id: `report.heap.${backend}`,
					label: `${label}: heap growth while building`,
					unit: 'MB',
					better: 'lower',
					runs: heap,
				}),
			);
			const plain: number[] = [];
			const tracked: number[] = [];
			for (let r = 0; r < ctx.runs; r++) {
				await settle();
				plain.push(round(await statusCost(store, r * COST_EVENTS, false), 1));
				tracked.push(round(await statusCost(store, r * COST_EVENTS, true), 1));
				ctx.log(
					`run ${r + 1}: ${backend}: status ${plain[r]} µs, with journey report ${tracked[r]} µs per event`,
				);
			}
			const where = backend === 'embedded' ? 'embedded SQLite file' : 'Redis on 127.0.0.1';
			measures.push(
				measure({
					id: `report.statusCost.${backend}`,
					label: `Store time per status event (POSTs of ${POST}, de-dup + status), untracked message, ${where} holding the million messages`,
					unit: 'µs/event',
					better: 'lower',
					runs: plain,
				}),
				measure({
					id: `report.statusCostTracked.${backend}`,
					label: `Same, message with a journey in its tracking data (+ the report's counting in the same unit of work), ${where}`,
					unit: 'µs/event',
					better: 'lower',
					runs: tracked,
				}),
			);
		} finally {
			await release();
		}
	}
	return { title: 'Journey reports over a million recorded messages', measures, notes, details };
}

export const scenario: Scenario = { name: 'report', run };
