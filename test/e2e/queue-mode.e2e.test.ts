/**
 * Smoke test of the harness in n8n's queue mode (EXECUTIONS_MODE=queue): the main process takes the webhook and
 * enqueues the run in Redis (Bull, a prefix unique to this run); a separate `n8n worker` process executes it.
 * This is the deployment where the journey state must live in Redis, so later tests of our nodes build on it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { disposeAll, jsonOf, N8nInstance, type WorkflowJson } from '../../harness';
import { runCommand } from '../../harness/process';

const webhookWorkflow = JSON.parse(
	readFileSync(path.join(__dirname, 'workflows', 'builtin-webhook-set.json'), 'utf8'),
) as WorkflowJson;
let n8n: N8nInstance;

beforeAll(async () => {
	n8n = await N8nInstance.create({ label: 'queue-mode', mode: 'queue' });
	await n8n.importWorkflow(webhookWorkflow);
	await n8n.publishWorkflow(webhookWorkflow.id ?? '');
	await n8n.start();
	await n8n.startWorker({ concurrency: 2 });
}, 15 * 60_000);

afterAll(() => disposeAll(), 120_000);

/** Bull's job counter for the queue `jobs` under a prefix: how many jobs were ever enqueued there. */
async function enqueuedJobs(prefix: string): Promise<number> {
	const result = await runCommand(
		'redis-cli',
		['-h', '127.0.0.1', '-p', '6379', 'GET', `${prefix}:jobs:id`],
		{ timeoutMs: 10_000 },
	);
	return Number(result.stdout.trim() || 0);
}

describe('n8n in queue mode with one worker', () => {
	it('runs a webhook-triggered workflow on the worker through this run’s Bull queue', async () => {
		const jobsBefore = await enqueuedJobs(n8n.bullPrefix);
		const afterId = await n8n.lastExecutionId();
		const response = await fetch(n8n.webhookUrl('e2e-builtin-echo'), {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ ping: 'queued' }),
		});
		expect(response.status).toBe(200);
		expect(await response.json()).toMatchObject({ echoed: 'queued' });

		const execution = await n8n.waitForExecution({ workflowId: webhookWorkflow.id, afterId });
		expect(execution).toMatchObject({ mode: 'webhook', status: 'success' });
		expect(jsonOf(execution.data, 'Echo')).toEqual([expect.objectContaining({ echoed: 'queued' })]);
		// The run went through Redis under this run's prefix: in queue mode only workers take jobs from there.
		expect(await enqueuedJobs(n8n.bullPrefix)).toBe(jobsBefore + 1);
	});
});
