/**
 * Journey rules in n8n queue mode (main + worker + Redis, the journey state in Redis), issue #14 (c): a worker is
 * killed (-9) in the middle of a 3,000-recipient campaign; a new worker starts and the same data is sent again.
 * No customer is accepted twice by the sandbox, and those in flight at the kill are reported, not resent.
 */
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	N8nInstance,
	disposeAll,
	newWorkflowId,
	orderConfirmationSendNode,
	sandboxCredential,
} from '../../harness';
import type { WorkflowJson } from '../../harness';
import { killGroup } from '../../harness/process';
import { deleteRedisKeys } from '../../harness/redis';

const TOKEN = 'queue-rules-token';
const APP_SECRET = 'queue-rules-secret';
const MPS = 250;
const CAMPAIGN = 3000;
const CONCURRENCY = 16;
const CREDENTIAL = { id: 'wjQRulesCred0001', name: 'WhatsApp (queue rules e2e)' };
const REDIS_CREDENTIAL = { id: 'wjQRulesRedis001', name: 'Redis (queue rules e2e)' };
const keyPrefix = `wj-e2e-rules-${process.pid}-${Date.now()}:`;
const creds = { metaWhatsAppCloudApi: CREDENTIAL, redis: REDIS_CREDENTIAL };
const workflowId = newWorkflowId();

let sandbox: Sandbox;
let n8n: N8nInstance;

const phones = Array.from(
	{ length: CAMPAIGN },
	(_, i) => `+44 7911 1${String(i).padStart(5, '0')}`,
);

const campaign: WorkflowJson = {
	id: workflowId,
	name: 'queue rules: 3,000 campaign',
	active: false,
	settings: { executionOrder: 'v1' },
	nodes: [
		{
			id: 'hook',
			name: 'Campaign request',
			type: 'n8n-nodes-base.webhook',
			typeVersion: 2,
			position: [0, 0],
			webhookId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
			// Answer at once: the campaign runs on a worker for a while, and the test kills that worker.
			parameters: {
				httpMethod: 'POST',
				path: 'queue-rules',
				responseMode: 'onReceived',
				options: {},
			},
		},
		{
			id: 'split',
			name: 'Split',
			type: 'n8n-nodes-base.splitOut',
			typeVersion: 1,
			position: [200, 0],
			parameters: { fieldToSplitOut: 'body.recipients', options: {} },
		},
		{
			...orderConfirmationSendNode({
				id: 'send',
				position: [400, 0],
				credentials: creds,
				body1: 'Ana',
				options: {
					messagesPerSecond: MPS,
					pairIntervalSeconds: 0,
					concurrency: CONCURRENCY,
					journey: 'spring',
					step: 'queue-campaign',
				},
				parameters: { stateStore: 'redis', redisKeyPrefix: keyPrefix },
			}),
			typeVersion: 2,
		},
	],
	connections: {
		'Campaign request': { main: [[{ node: 'Split', type: 'main', index: 0 }]] },
		Split: { main: [[{ node: 'Send', type: 'main', index: 0 }]] },
	},
};

const accepted = async (): Promise<string[]> =>
	((await sandbox.control('messages')) as { data: Array<{ to: string }> }).data
		.map((m) => m.to)
		.filter((to) => to.startsWith('+4479111'));

const post = () =>
	fetch(n8n.webhookUrl('queue-rules'), {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ recipients: phones.map((phone) => ({ phone })) }),
	});

beforeAll(async () => {
	n8n = await N8nInstance.create({ label: 'queue-rules', mode: 'queue' });
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: MPS,
		pairRateMs: 0,
		statusDelayMs: 600_000,
	});
	// A portfolio allowed 100,000 new customers a day: these campaigns are not what the messaging-limit guard is about.
	await sandbox.control('messaging-limit', { tier: 'TIER_100K' });
	await n8n.installPackage();
	await n8n.importCredentials([
		sandboxCredential(sandbox, {
			...CREDENTIAL,
			token: TOKEN,
			appSecret: APP_SECRET,
			verifyToken: 'v',
		}),
		{
			...REDIS_CREDENTIAL,
			type: 'redis',
			data: { host: '127.0.0.1', port: 6379, database: 0, password: '' },
		},
	]);
	await n8n.importWorkflow(campaign);
	await n8n.publishWorkflow(workflowId);
	await n8n.start();
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
	await deleteRedisKeys(keyPrefix);
}, 120_000);

describe('journey rules in n8n queue mode', () => {
	it(
		'(c) a worker killed -9 mid-campaign, then the same data again on a new worker: nobody accepted twice, the in-flight reported',
		async () => {
			const worker = await n8n.startWorker({ concurrency: 1 });
			const before = await n8n.lastExecutionId();
			expect((await post()).status).toBe(200);
			const deadline = Date.now() + 5 * 60_000;
			while ((await accepted()).length < CAMPAIGN / 3) {
				if (Date.now() > deadline || worker.hasExited)
					throw new Error(`campaign did not get going\n${worker.logs.slice(-3000)}`);
				await new Promise((r) => setTimeout(r, 100));
			}
			killGroup(worker.pid, 'SIGKILL');
			await worker.stop();
			expect((await accepted()).length).toBeLessThan(CAMPAIGN);

			await n8n.startWorker({ concurrency: 1 });
			const rerunAfter = await n8n.lastExecutionId();
			expect(rerunAfter).toBeGreaterThan(before);
			expect((await post()).status).toBe(200);
			const rerun = await n8n.waitForExecution({
				workflowId,
				afterId: rerunAfter,
				timeoutMs: 10 * 60_000,
			});
			expect(rerun.status).toBe('success');

			const sent = (rerun.data.resultData.runData.Send?.[0]?.data?.main?.[0] ?? []).map(
				(i) => i.json,
			);
			const skipped = (rerun.data.resultData.runData.Send?.[0]?.data?.main?.[1] ?? []).map(
				(i) => i.json,
			);
			expect(sent.length + skipped.length).toBe(CAMPAIGN);
			const to = await accepted();
			// Nobody twice, across the killed run and the re-run (and any retry n8n made of the stalled job).
			expect(new Set(to).size).toBe(to.length);
			// Skipped only those in flight at the kill: at most the concurrency, reported as unknown or still claimed.
			for (const item of skipped)
				expect(['outcome_unknown', 'in_progress']).toContain(
					(item.policy as { decision: string }).decision,
				);
			expect(skipped.length).toBeLessThanOrEqual(CONCURRENCY);
			const reported = new Set(skipped.map((i) => String(i.recipient)));
			const acceptedSet = new Set(to);
			for (const phone of phones) {
				const e164 = phone.replace(/ /g, '');
				expect(acceptedSet.has(e164) || reported.has(e164)).toBe(true);
			}
		},
		20 * 60_000,
	);
});
