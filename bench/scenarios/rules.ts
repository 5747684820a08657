/**
 * Scenario G — journey rules (issue #14): what the checks cost and whether a campaign notices them.
 *
 * - Gate cost per item: admit + settle of core's send gate with every rule on (once per step, a frequency cap,
 *   quiet hours that allow the send, messaging-limit and quality guards), one item after the other, on the
 *   in-memory store, the embedded SQLite file and Redis (127.0.0.1). Wall µs per item (the store round trip included).
 * - Campaign: 2,000 recipients through core's sendBatch (what both adapters call) at 80 msg/s against the sandbox
 *   process (80 msg/s limit), with the SQLite store, rules off vs all rules on, alternating runs. Target: all rules
 *   on within 5 % of the rules-off wall time. The same 2,000 unthrottled (no pacing, sandbox unlimited), where the
 *   checks are not hidden behind the pacer, shows their cost at full speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
	CloudApiConnection,
	SendPacer,
	buildEnvelope,
	buildTemplateMessage,
	createSendGate,
	createStateStore,
	stepKeyFor,
	type JourneyRules,
	type JourneyStateStore,
	type OutgoingMessage,
	type SendGate,
	type SendOutcome,
	sendBatch,
} from '../../core';
import {
	fixtureSends,
	PHONE_NUMBER_ID,
	recipientE164,
	recipientWaId,
	WABA_ID,
} from '../lib/fixtures';
import { deletePrefix, REDIS_HOST, REDIS_PORT, uniquePrefix } from '../lib/redis';
import { measure, type Measure } from '../lib/results';
import { startSandboxProcess } from '../lib/sandbox';
import { settle, type Scenario, type ScenarioContext, type ScenarioOutput } from '../lib/scenario';
import { nowMs, round } from '../lib/stats';

const GATE_ITEMS = Number(process.env.BENCH_GATE_ITEMS ?? 2_000);
const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 2_000);
const MPS = 80;
const TOKEN = 'bench-rules-token';

/** Every rule on; quiet hours placed so that they never hold the bench's sends (checked, not skipped). */
function allRules(): JourneyRules {
	const hour = new Date().getUTCHours();
	const at = (h: number) => `${String((hour + h) % 24).padStart(2, '0')}:00`;
	return {
		oncePerStep: true,
		reentryPeriodHours: 0,
		retryWhenOutcomeUnknown: false,
		frequencyCap: { maxMessages: 2, periodHours: 168, categories: ['MARKETING', 'UTILITY'] },
		quietHours: {
			start: at(3),
			end: at(5),
			timeZone: 'UTC',
			exemptCategories: [],
			whenOutside: 'skip',
		},
		messagingLimitGuard: true,
		qualityGuard: true,
	};
}

const account = async () => ({
	qualityRating: 'GREEN',
	messagingLimit: { tier: 'TIER_100K', limit: 100_000, scope: `bench-${WABA_ID}` },
});

function gateFor(store: JourneyStateStore): SendGate {
	return createSendGate({ store, phoneNumberId: PHONE_NUMBER_ID, rules: allRules(), account });
}

/** A run's requests: the same template to `count` recipients, numbered from `offset` (fresh step keys per run). */
function campaignMessages(count: number, offset: number, gated: boolean): OutgoingMessage[] {
	const order = fixtureSends().find((s) => s.def.name === 'order_confirmation')!;
	const message = buildTemplateMessage(order.def, order.values);
	return Array.from({ length: count }, (_, i) => {
		const e164 = recipientE164(offset + i);
		const waId = recipientWaId(offset + i);
		return {
			itemIndex: i,
			waId,
			request: buildEnvelope(e164, message, {}),
			...(gated
				? {
						gate: {
							waId,
							e164,
							category: 'UTILITY' as const,
							stepKey: stepKeyFor({
								phoneNumberId: PHONE_NUMBER_ID,
								journey: 'bench',
								step: 'campaign',
								scope: 'bench',
								waId,
							}),
							template: { name: 'order_confirmation', language: 'en_US' },
						},
					}
				: {}),
		};
	});
}

/** µs per item of admit + settle (a sent outcome) with every rule on. */
async function gateRun(store: JourneyStateStore, offset: number): Promise<number> {
	const gate = gateFor(store);
	const messages = campaignMessages(GATE_ITEMS, offset, true);
	const started = nowMs();
	for (const m of messages) {
		const verdict = await gate.admit(m.gate!);
		if (!verdict.admitted) throw new Error(`gate refused a fresh item: ${verdict.policy.reason}`);
		const outcome: SendOutcome = {
			itemIndex: m.itemIndex,
			ok: true,
			result: {
				messageId: `wamid.bench${offset + m.itemIndex}`,
				messageStatus: 'accepted',
				attempts: 1,
			},
			retries: [],
		};
		await gate.settle(verdict.ticket, outcome);
	}
	return ((nowMs() - started) * 1000) / GATE_ITEMS;
}

export const scenario: Scenario = {
	name: 'rules',
	async run(ctx: ScenarioContext): Promise<ScenarioOutput> {
		const measures: Measure[] = [];
		const notes: string[] = [];
		const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-rules-'));
		const prefix = uniquePrefix('rules');
		const stores: Array<{ id: string; label: string; open: () => JourneyStateStore }> = [
			{ id: 'memory', label: 'in memory', open: () => createStateStore({ backend: 'memory' }) },
			{
				id: 'sqlite',
				label: 'embedded SQLite',
				open: () => createStateStore({ backend: 'embedded', path: path.join(dir, 'gate.sqlite') }),
			},
			{
				id: 'redis',
				label: `Redis ${REDIS_HOST}:${REDIS_PORT}`,
				open: () =>
					createStateStore({
						backend: 'redis',
						redis: { host: REDIS_HOST, port: REDIS_PORT },
						keyPrefix: prefix,
					}),
			},
		];
		let offset = 0;
		try {
			for (const s of stores) {
				const store = s.open();
				await gateRun(store, 900_000 + offset); // warm-up (JIT, SQLite pages, Redis scripts)
				offset += GATE_ITEMS;
				const runs: number[] = [];
				for (let r = 0; r < ctx.runs; r++) {
					await settle();
					runs.push(round(await gateRun(store, 900_000 + offset), 1));
					offset += GATE_ITEMS;
					ctx.log(`gate ${s.id} run ${r + 1}: ${runs.at(-1)} µs/item`);
				}
				await store.close?.();
				measures.push(
					measure({
						id: `gate-${s.id}`,
						label: `Journey rules check per item (admit + settle, all rules on), ${s.label}`,
						unit: 'µs',
						runs,
						better: 'lower',
					}),
				);
			}

			// The campaign, rules off vs on, paced as in production and then unthrottled.
			for (const variant of [
				{
					id: 'paced',
					mps: MPS,
					label: `${RECIPIENTS.toLocaleString('en-US')} recipients at ${MPS} msg/s`,
				},
				{
					id: 'unthrottled',
					mps: 0,
					label: `${RECIPIENTS.toLocaleString('en-US')} recipients, unthrottled`,
				},
			]) {
				const sandbox = await startSandboxProcess({
					token: TOKEN,
					mps: variant.mps,
					pairRateMs: 0,
					statusDelayMs: 600_000,
				});
				const connection = new CloudApiConnection({
					phoneNumberId: PHONE_NUMBER_ID,
					wabaId: WABA_ID,
					apiVersion: 'v25.0',
					baseUrl: sandbox.url,
					accessToken: TOKEN,
					configuredIn: 'bench',
				});
				const client = connection.client();
				const store = createStateStore({
					backend: 'embedded',
					path: path.join(dir, `${variant.id}.sqlite`),
				});
				const wall = { off: [] as number[], on: [] as number[] };
				try {
					for (let r = 0; r < ctx.runs; r++) {
						for (const mode of ['off', 'on'] as const) {
							await sandbox.control('reset', {});
							await settle(500);
							const messages = campaignMessages(RECIPIENTS, 1_000_000 + offset, mode === 'on');
							offset += RECIPIENTS;
							const pacer =
								variant.mps > 0
									? new SendPacer(PHONE_NUMBER_ID, {
											messagesPerSecond: variant.mps,
											pairIntervalMs: 0,
										})
									: undefined;
							const started = nowMs();
							const outcomes = await sendBatch(messages, {
								client,
								pacer,
								concurrency: 64,
								gate: mode === 'on' ? gateFor(store) : undefined,
							});
							const seconds = (nowMs() - started) / 1000;
							const sent = outcomes.filter((o) => o.ok === true).length;
							if (sent !== RECIPIENTS)
								throw new Error(`${variant.id} ${mode}: ${sent}/${RECIPIENTS} sent`);
							wall[mode].push(round(seconds, 2));
							ctx.log(`campaign ${variant.id} rules ${mode} run ${r + 1}: ${round(seconds, 2)} s`);
						}
					}
				} finally {
					await store.close?.();
					await sandbox.stop();
				}
				measures.push(
					measure({
						id: `campaign-${variant.id}-off`,
						label: `Campaign, ${variant.label}, rules off`,
						unit: 's',
						runs: wall.off,
						better: 'lower',
					}),
					measure({
						id: `campaign-${variant.id}-on`,
						label: `Campaign, ${variant.label}, all rules on (SQLite store)`,
						unit: 's',
						runs: wall.on,
						better: 'lower',
					}),
				);
				const ratios = wall.on.map((on, i) => round((on / wall.off[i] - 1) * 100, 1));
				measures.push(
					measure({
						id: `campaign-${variant.id}-overhead`,
						label: `Campaign, ${variant.label}: all rules on vs off (wall time, same run pair)`,
						unit: '%',
						runs: ratios,
						better: 'lower',
						target: variant.mps > 0 ? { op: '<=', value: 5, text: '≤ 5 %' } : undefined,
					}),
				);
			}
			notes.push(
				'Gate cost is wall time per item, one item after the other, including the store round trip (SQLite write, or one Redis script call for admit and one for settle); sendBatch runs up to 64 items at once, so the campaign sees it overlapped with the requests in flight.',
				'Campaign runs alternate rules off / on with fresh recipients each run, so neither mode warms the other; "overhead" compares the two runs of each pair.',
			);
		} finally {
			rmSync(dir, { recursive: true, force: true });
			await deletePrefix(prefix).catch(() => 0);
		}
		return {
			title: 'G. Journey rules: cost per item and a campaign with all rules on',
			measures,
			notes,
		};
	},
};
