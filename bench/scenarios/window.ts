/**
 * Scenario B — a million contacts in the journey state store, 100,000 window checks.
 *
 * Per backend (embedded SQLite file in a temp dir; Redis with a unique prefix): lookups/s and p50/p99 latency of
 * `getWindow` awaited one after another (what the check node does per item), plus Redis with 64 lookups in flight.
 * Then the same 100,000 checks through the WhatsApp Check Conversation Window node in-process (the n8n context
 * stand-in of the integration tests): items/s. Also the SQLite file size for a million contacts.
 *
 * Seeding is fast but goes through the store's own write path where it can:
 * - SQLite: the store's `recordInbound` inside explicit transactions of 20,000, on the store's own connection
 *   (obtained through the store's `sqlite` module option), so the rows are exactly what the store writes;
 * - Redis: `redis-cli --pipe` in the store's key layout, then checked through the store itself (a sample must read
 *   back exactly as seeded), so a layout change fails the benchmark instead of measuring misses.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as nodeSqlite from 'node:sqlite';
import type { INodeExecutionData } from 'n8n-workflow';
import {
	createStateStore,
	SERVICE_WINDOW_MS,
	SqliteStateStore,
	type JourneyStateStore,
} from '../../core';
import { WhatsAppCheckWindow } from '../lib/nodes';
import { runNode } from '../../harness/n8n-context';
import { onCleanup } from '../lib/cleanup';
import { PHONE_NUMBER_ID, recipientE164, recipientWaId } from '../lib/fixtures';
import { deletePrefix, pipeToRedis, REDIS_HOST, REDIS_PORT, uniquePrefix } from '../lib/redis';
import { measure, type Measure } from '../lib/results';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { LatencyRecorder, nowMs, round, seededRandom } from '../lib/stats';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
const CHECKS = 100_000;
const HOUR_S = 3600;

/** Seconds before `base` at which contact i last wrote: spread over 48 h, so about half the windows are open. */
function ageSeconds(i: number): number {
	return (Math.imul(i, 2654435761) >>> 0) % (48 * HOUR_S);
}

function checkOrder(seed: number): Int32Array {
	const rnd = seededRandom(seed);
	const order = new Int32Array(CHECKS);
	for (let k = 0; k < CHECKS; k++) order[k] = Math.floor(rnd() * CONTACTS);
	return order;
}

async function seedSqlite(
	file: string,
	base: number,
	log: (m: string) => void,
): Promise<{ store: SqliteStateStore; seconds: number }> {
	let connection: nodeSqlite.DatabaseSync | undefined;
	// The store's `sqlite` option exists so callers can choose how node:sqlite is obtained; wrapping the class hands
	// us the store's own connection, to group its writes into transactions.
	class CapturedDatabase extends nodeSqlite.DatabaseSync {
		constructor(location: string) {
			super(location);
			// eslint-disable-next-line @typescript-eslint/no-this-alias -- the point: hand the store's own connection out
			connection = this;
		}
	}
	const store = new SqliteStateStore({
		path: file,
		sqlite: { ...nodeSqlite, DatabaseSync: CapturedDatabase } as typeof nodeSqlite,
	});
	if (!connection) throw new Error('could not reach the store connection to seed in transactions');
	const db = connection;
	const started = nowMs();
	const TX = 20_000;
	for (let start = 0; start < CONTACTS; start += TX) {
		db.exec('BEGIN');
		try {
			for (let i = start; i < Math.min(CONTACTS, start + TX); i++) {
				await store.recordInbound({
					phoneNumberId: PHONE_NUMBER_ID,
					waId: recipientWaId(i),
					at: new Date(base - ageSeconds(i) * 1000),
				});
			}
			db.exec('COMMIT');
		} catch (error) {
			db.exec('ROLLBACK');
			throw error;
		}
		if ((start / TX) % 10 === 9) log(`sqlite: seeded ${start + TX} contacts`);
	}
	db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
	return { store, seconds: (nowMs() - started) / 1000 };
}

async function seedRedis(prefix: string, base: number): Promise<number> {
	const started = nowMs();
	// The store's layout (core/state/redis.ts): hash <prefix>w:<phone_number_id>:<wa_id> {li, fep}, expiring 72 h after li.
	await pipeToRedis(CONTACTS, (i) => {
		const key = `${prefix}w:${PHONE_NUMBER_ID}:${recipientWaId(i)}`;
		const li = base - ageSeconds(i) * 1000;
		return [
			['HSET', key, 'li', String(li), 'fep', '0'],
			['PEXPIRE', key, String(li + 72 * HOUR_S * 1000 - base)],
		];
	});
	return (nowMs() - started) / 1000;
}

/** The store must read back what was seeded, or the benchmark would be timing misses. */
async function verifySeed(store: JourneyStateStore, base: number, label: string): Promise<void> {
	for (const i of [0, 1, 12_345, CONTACTS - 1]) {
		const w = await store.getWindow({ phoneNumberId: PHONE_NUMBER_ID, waId: recipientWaId(i) });
		const expected = new Date(base - ageSeconds(i) * 1000).toISOString();
		if (w.lastInboundAt !== expected) {
			throw new Error(
				`${label}: contact ${i} reads back lastInboundAt=${w.lastInboundAt}, seeded ${expected}; the seeding no longer matches the store`,
			);
		}
	}
}

/** Sequential lookups: each awaited before the next, as the node does per item. */
async function sequentialRun(
	store: JourneyStateStore,
	order: Int32Array,
): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; open: number }> {
	const latencies = new LatencyRecorder(order.length);
	let open = 0;
	const started = nowMs();
	for (let k = 0; k < order.length; k++) {
		const t0 = nowMs();
		const w = await store.getWindow({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: recipientWaId(order[k]),
		});
		latencies.add(nowMs() - t0);
		if (w.open) open++;
		if (w.lastInboundAt === undefined) throw new Error(`contact ${order[k]} not found`);
	}
	const seconds = (nowMs() - started) / 1000;
	const { p50Ms, p99Ms } = latencies.summary();
	return { perSecond: order.length / seconds, p50Ms, p99Ms, open };
}

async function concurrentRun(
	store: JourneyStateStore,
	order: Int32Array,
	inFlight: number,
): Promise<number> {
	let next = 0;
	const started = nowMs();
	const worker = async (): Promise<void> => {
		while (next < order.length) {
			const k = next++;
			await store.getWindow({ phoneNumberId: PHONE_NUMBER_ID, waId: recipientWaId(order[k]) });
		}
	};
	await Promise.all(Array.from({ length: inFlight }, worker));
	return order.length / ((nowMs() - started) / 1000);
}

const CREDENTIALS = {
	metaWhatsAppCloudApi: {
		accessToken: 'bench-token',
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: '102290129340398',
	},
	redis: { host: REDIS_HOST, port: REDIS_PORT, database: 0 },
};

async function nodeRun(
	order: Int32Array,
	storeParams: Record<string, unknown>,
): Promise<{ perSecond: number; open: number }> {
	const items: INodeExecutionData[] = Array.from(order, (i) => ({
		json: { phone: recipientE164(i) },
	}));
	const started = nowMs();
	const { output } = await runNode(new WhatsAppCheckWindow(), {
		// In a workflow the recipient is an expression such as {{ $json.phone }}; the stand-in resolves it per item.
		parameters: (itemIndex) => ({
			operation: 'check',
			source: 'store',
			recipient: items[itemIndex].json.phone,
			options: {},
			...storeParams,
		}),
		credentials: CREDENTIALS,
		items,
	});
	const seconds = (nowMs() - started) / 1000;
	const [open, closed] = output;
	if (open.length + closed.length !== order.length)
		throw new Error(`node returned ${open.length + closed.length} items for ${order.length}`);
	return { perSecond: order.length / seconds, open: open.length };
}

async function run(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const measures: Measure[] = [];
	const notes: string[] = [];
	const details: Record<string, unknown> = { contacts: CONTACTS, checks: CHECKS };
	const base = Date.now();
	const orders = Array.from({ length: ctx.runs }, (_, r) => checkOrder(r + 1));
	const expectedOpen = (order: Int32Array): number => {
		const now = Date.now();
		let n = 0;
		for (const i of order) if (base - ageSeconds(i) * 1000 + SERVICE_WINDOW_MS > now) n++;
		return n;
	};

	// --- Embedded SQLite -------------------------------------------------------------------------------------------
	const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-window-'));
	const removeDir = onCleanup(
		`temp dir ${dir}`,
		() => rmSync(dir, { recursive: true, force: true }),
		() => rmSync(dir, { recursive: true, force: true }),
	);
	const file = path.join(dir, 'whatsapp-journeys.sqlite');
	const redisPrefix = uniquePrefix('window');
	const removeKeys = onCleanup(`redis keys ${redisPrefix}*`, async () => {
		await deletePrefix(redisPrefix);
	});
	try {
		ctx.log(`sqlite: seeding ${CONTACTS} contacts into ${file}`);
		const { store: sqlite, seconds: sqliteSeedS } = await seedSqlite(file, base, ctx.log);
		const bytes = statSync(file).size;
		details.sqliteSeedSeconds = round(sqliteSeedS, 1);
		details.sqliteFileBytes = bytes;
		ctx.log(`sqlite: seeded in ${round(sqliteSeedS, 1)} s, file ${round(bytes / 2 ** 20, 1)} MiB`);
		await verifySeed(sqlite, base, 'sqlite');

		const sq = { rate: [] as number[], p50: [] as number[], p99: [] as number[] };
		for (let r = 0; r < ctx.runs; r++) {
			await settle();
			const res = await sequentialRun(sqlite, orders[r]);
			const want = expectedOpen(orders[r]);
			if (Math.abs(res.open - want) > CHECKS * 0.001)
				throw new Error(`sqlite: ${res.open} windows open, expected about ${want}`);
			sq.rate.push(round(res.perSecond));
			sq.p50.push(round(res.p50Ms, 4));
			sq.p99.push(round(res.p99Ms, 4));
			ctx.log(
				`sqlite run ${r + 1}: ${round(res.perSecond)} lookups/s, p50 ${round(res.p50Ms, 4)} ms, p99 ${round(res.p99Ms, 4)} ms (${res.open} open)`,
			);
		}
		await sqlite.close();
		measures.push(
			measure({
				id: 'window.sqlite.lookups',
				label: 'Embedded SQLite: getWindow, one at a time',
				unit: 'lookups/s',
				runs: sq.rate,
			}),
			measure({
				id: 'window.sqlite.p50',
				label: 'Embedded SQLite: getWindow p50',
				unit: 'ms',
				better: 'lower',
				runs: sq.p50,
			}),
			measure({
				id: 'window.sqlite.p99',
				label: 'Embedded SQLite: getWindow p99',
				unit: 'ms',
				better: 'lower',
				runs: sq.p99,
			}),
			measure({
				id: 'window.sqlite.fileSize',
				label: `Embedded SQLite file for ${CONTACTS.toLocaleString('en-US')} contacts`,
				unit: 'MiB',
				better: 'lower',
				runs: [round(bytes / 2 ** 20, 1), round(bytes / 2 ** 20, 1), round(bytes / 2 ** 20, 1)],
				note: `${round(bytes / CONTACTS, 1)} bytes per contact; one file, measured once after seeding`,
			}),
		);

		// --- Redis ---------------------------------------------------------------------------------------------------
		ctx.log(`redis: seeding ${CONTACTS} contacts under ${redisPrefix}`);
		const redisSeedS = await seedRedis(redisPrefix, base);
		details.redisSeedSeconds = round(redisSeedS, 1);
		ctx.log(`redis: seeded in ${round(redisSeedS, 1)} s`);
		const redis = createStateStore({
			backend: 'redis',
			redis: { host: REDIS_HOST, port: REDIS_PORT },
			keyPrefix: redisPrefix,
		});
		try {
			await verifySeed(redis, base, 'redis');
			const rd = {
				rate: [] as number[],
				p50: [] as number[],
				p99: [] as number[],
				concurrent: [] as number[],
			};
			for (let r = 0; r < ctx.runs; r++) {
				await settle();
				const res = await sequentialRun(redis, orders[r]);
				const want = expectedOpen(orders[r]);
				if (Math.abs(res.open - want) > CHECKS * 0.001)
					throw new Error(`redis: ${res.open} windows open, expected about ${want}`);
				rd.rate.push(round(res.perSecond));
				rd.p50.push(round(res.p50Ms, 4));
				rd.p99.push(round(res.p99Ms, 4));
				await settle();
				rd.concurrent.push(round(await concurrentRun(redis, orders[r], 64)));
				ctx.log(
					`redis run ${r + 1}: ${round(res.perSecond)} lookups/s, p50 ${round(res.p50Ms, 4)} ms, p99 ${round(res.p99Ms, 4)} ms; 64 in flight ${rd.concurrent[r]} lookups/s`,
				);
			}
			measures.push(
				measure({
					id: 'window.redis.lookups',
					label: 'Redis: getWindow, one at a time',
					unit: 'lookups/s',
					runs: rd.rate,
				}),
				measure({
					id: 'window.redis.p50',
					label: 'Redis: getWindow p50',
					unit: 'ms',
					better: 'lower',
					runs: rd.p50,
				}),
				measure({
					id: 'window.redis.p99',
					label: 'Redis: getWindow p99',
					unit: 'ms',
					better: 'lower',
					runs: rd.p99,
				}),
				measure({
					id: 'window.redis.concurrent',
					label: 'Redis: getWindow, 64 in flight',
					unit: 'lookups/s',
					runs: rd.concurrent,
				}),
			);
		} finally {
			await redis.close();
		}

		// --- Through the node ------------------------------------------------------------------------------------------
		const nodeRates = { embedded: [] as number[], redis: [] as number[] };
		for (let r = 0; r < ctx.runs; r++) {
			await settle();
			const e = await nodeRun(orders[r], { stateStore: 'embedded', storePath: file });
			await settle();
			const x = await nodeRun(orders[r], { stateStore: 'redis', redisKeyPrefix: redisPrefix });
			const want = expectedOpen(orders[r]);
			for (const [label, res] of [
				['embedded', e],
				['redis', x],
			] as const) {
				if (Math.abs(res.open - want) > CHECKS * 0.001)
					throw new Error(`node (${label}): ${res.open} items on Open, expected about ${want}`);
			}
			nodeRates.embedded.push(round(e.perSecond));
			nodeRates.redis.push(round(x.perSecond));
			ctx.log(
				`node run ${r + 1}: embedded ${round(e.perSecond)} items/s, redis ${round(x.perSecond)} items/s (${e.open} open)`,
			);
		}
		measures.push(
			measure({
				id: 'window.node.embedded',
				label:
					'Check Conversation Window node, 100,000 items, embedded store (in-process n8n stand-in)',
				unit: 'items/s',
				runs: nodeRates.embedded,
			}),
			measure({
				id: 'window.node.redis',
				label:
					'Check Conversation Window node, 100,000 items, Redis store (in-process n8n stand-in)',
				unit: 'items/s',
				runs: nodeRates.redis,
			}),
		);
		notes.push(
			`${CONTACTS.toLocaleString('en-US')} contacts seeded (SQLite: the store's own writes in transactions, ${details.sqliteSeedSeconds} s; Redis: redis-cli --pipe in the store's layout, ${details.redisSeedSeconds} s), about half with an open window; ${CHECKS.toLocaleString('en-US')} checks of random contacts per run, a different random order each run. Open/closed counts are checked against the seeded times.`,
		);
	} finally {
		await removeKeys();
		await removeDir();
	}
	return { title: 'Window checks with a million contacts', measures, notes, details };
}

export const scenario: Scenario = { name: 'window', run };
