/**
 * Our nodes inside a real n8n 2.x (installed from the packed tarball) against the sandbox:
 * - WhatsApp Send Template sends a 500-recipient batch at the sandbox's --mps limit, each recipient accepted once;
 * - WhatsApp Webhook Status on its production URL answers Meta's challenge, refuses forged/tampered/unsigned POSTs
 *   with 401 and starts no execution for them, and emits verified events; concurrent POSTs share one execution.
 */
import { computeSignature } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	N8nInstance,
	disposeAll,
	jsonOf,
	newWorkflowId,
	orderConfirmationSendNode,
	sandboxCredential,
	signedWebhookHeaders,
	statusWebhookBody,
} from '../../harness';
import type { WorkflowJson } from '../../harness';

const APP_SECRET = 'e2e-app-secret';
const TOKEN = 'e2e-access-token';
const VERIFY_TOKEN = 'e2e-verify-token';
const CREDENTIAL = { id: 'wjE2eCred0000001', name: 'WhatsApp (e2e sandbox)' };
const MPS = 80;
const BATCH = 500;

let sandbox: Sandbox;
let n8n: N8nInstance;
const batchWorkflowId = newWorkflowId();
const triggerWorkflowId = newWorkflowId();
const triggerWebhookId = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00';

const cred = { metaWhatsAppCloudApi: CREDENTIAL };

function batchWorkflow(): WorkflowJson {
	return {
		id: batchWorkflowId,
		name: 'e2e: 500-recipient template batch',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 'n1',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: 'n2',
				name: 'Recipients',
				type: 'n8n-nodes-base.set',
				typeVersion: 3.4,
				position: [200, 0],
				parameters: {
					mode: 'raw',
					jsonOutput: `={{ JSON.stringify({ recipients: Array.from({ length: ${BATCH} }, (_, i) => ({ phone: '+44 7911 1' + String(i).padStart(5, '0'), name: 'Customer ' + i })) }) }}`,
					options: {},
				},
			},
			{
				id: 'n3',
				name: 'Split',
				type: 'n8n-nodes-base.splitOut',
				typeVersion: 1,
				position: [400, 0],
				parameters: { fieldToSplitOut: 'recipients', options: {} },
			},
			orderConfirmationSendNode({
				id: 'n4',
				position: [600, 0],
				credentials: cred,
				body1: '={{ $json.name }}',
				options: { messagesPerSecond: MPS, pairIntervalSeconds: 0, journey: 'e2e', step: 'batch' },
			}),
		],
		connections: {
			Start: { main: [[{ node: 'Recipients', type: 'main', index: 0 }]] },
			Recipients: { main: [[{ node: 'Split', type: 'main', index: 0 }]] },
			Split: { main: [[{ node: 'Send', type: 'main', index: 0 }]] },
		},
	};
}

function triggerWorkflow(): WorkflowJson {
	return {
		id: triggerWorkflowId,
		name: 'e2e: webhook status',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 't1',
				name: 'WhatsApp Webhook Status',
				type: 'n8n-nodes-whatsapp-journeys.whatsAppWebhookStatus',
				typeVersion: 1,
				position: [0, 0],
				webhookId: triggerWebhookId,
				credentials: cred,
				// A window wider than the default 200 ms, so concurrent POSTs still meet in one batch on a loaded machine.
				parameters: {
					registration: 'manual',
					events: ['status:sent', 'status:delivered', 'status:read', 'status:failed', 'message'],
					options: { batchWindow: 1500 },
				},
			},
		],
		connections: {},
	};
}

function statusBody(messageId: string, status: 'delivered' | 'read'): string {
	return statusWebhookBody(sandbox.config, [{ messageId, status, recipientId: '447911123456' }]);
}

beforeAll(async () => {
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: MPS,
		pairRateMs: 0,
		statusDelayMs: 100_000,
	});
	n8n = await N8nInstance.create({ label: 'nodes' });
	await n8n.installPackage();
	await n8n.importCredentials([
		sandboxCredential(sandbox, {
			...CREDENTIAL,
			token: TOKEN,
			appSecret: APP_SECRET,
			verifyToken: VERIFY_TOKEN,
		}),
	]);
	await n8n.importWorkflow(batchWorkflow());
	await n8n.importWorkflow(triggerWorkflow());
	await n8n.publishWorkflow(triggerWorkflowId);
	await n8n.start();
	await n8n.waitForWebhook(`${triggerWebhookId}/whatsapp`);
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
}, 120_000);

describe('Meta WhatsApp Cloud API credential test in real n8n', () => {
	const test = async (data: Record<string, unknown>) =>
		(await n8n.rest('POST', '/rest/credentials/test', {
			credentials: {
				...CREDENTIAL,
				type: 'metaWhatsAppCloudApi',
				data: { apiVersion: 'v25.0', baseUrl: sandbox.url, ...data },
			},
		})) as { data?: { status: string; message: string } };
	const good = () => ({
		accessToken: TOKEN,
		phoneNumberId: sandbox.config.phoneNumberId,
		wabaId: sandbox.config.wabaId,
	});

	it('succeeds with a working token and phone number ID, and says why when either is wrong', async () => {
		expect((await test(good())).data).toMatchObject({ status: 'OK' });

		const badToken = (await test({ ...good(), accessToken: 'expired-or-revoked' })).data;
		expect(badToken?.status).toBe('Error');
		expect(badToken?.message).toMatch(
			/^Meta refused the Access Token \(error 190\).*System User token/,
		);

		const badId = (await test({ ...good(), phoneNumberId: '999999999999999' })).data;
		expect(badId?.status).toBe('Error');
		expect(badId?.message).toMatch(
			/^Meta found no phone number with this Phone Number ID.*WhatsApp Manager → API Setup/,
		);

		const badVersion = (await test({ ...good(), apiVersion: 'v1.0' })).data;
		expect(badVersion).toMatchObject({ status: 'Error' });
		expect(badId?.message).not.toContain(TOKEN);
	}, 120_000);
});

describe('WhatsApp Send Template in real n8n', () => {
	it(
		`sends a ${BATCH}-recipient batch at the sandbox's ${MPS} msg/s limit with every recipient accepted exactly once`,
		async () => {
			const result = await n8n.execute(batchWorkflowId, { timeoutMs: 10 * 60_000 });
			expect(result.run.status).toBe('success');
			const items = jsonOf(result.data, 'Send');
			expect(items).toHaveLength(BATCH);
			expect(
				items.every(
					(i) => typeof i.messageId === 'string' && String(i.messageId).startsWith('wamid.'),
				),
			).toBe(true);
			const messages = (await sandbox.control('messages')) as {
				data: Array<{ to: string }>;
			};
			expect(messages.data).toHaveLength(BATCH);
			expect(new Set(messages.data.map((m) => m.to)).size).toBe(BATCH);
			// Pacing held: unpaced, about a third of such a batch is refused (n8n's own node: 633 of 2,000 in bench:campaign).
			// Paced, we saw 0 on a quiet box and up to 9 of 500 with a benchmark running beside it (arrivals bunch when the
			// 2 cores are starved); allow 5 %. Each refused send was retried and accepted once (checked above).
			const throttled = (await sandbox.control('requests?code=130429')) as { data: unknown[] };
			expect(throttled.data.length).toBeLessThanOrEqual(Math.floor(0.05 * BATCH));
		},
		15 * 60_000,
	);
});

describe("WhatsApp Webhook Status on n8n's production webhook URL", () => {
	const url = () => n8n.webhookUrl(`${triggerWebhookId}/whatsapp`);

	it("answers Meta's verification challenge only with the right verify token", async () => {
		const ok = await fetch(
			`${url()}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`,
		);
		expect(ok.status).toBe(200);
		expect(await ok.text()).toBe('1158201444');
		const wrong = await fetch(
			`${url()}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`,
		);
		expect(wrong.status).toBe(403);
		expect(await wrong.text()).not.toContain('1158201444');
	}, 120_000);

	it('refuses forged, tampered and unsigned POSTs with 401 and starts no execution for them', async () => {
		const before = await n8n.lastExecutionId();
		const body = statusBody('wamid.FORGED', 'delivered');
		const post = (headers: Record<string, string>, payload = body) =>
			fetch(url(), {
				method: 'POST',
				headers: { 'content-type': 'application/json', ...headers },
				body: payload,
			});
		expect(
			(await post({ 'x-hub-signature-256': computeSignature(body, 'someone-elses-secret') }))
				.status,
		).toBe(401);
		expect(
			(
				await post(
					{ 'x-hub-signature-256': computeSignature(body, APP_SECRET) },
					body.replace('delivered', 'read'),
				)
			).status,
		).toBe(401);
		expect((await post({})).status).toBe(401);
		await new Promise((r) => setTimeout(r, 3000));
		expect(await n8n.executions({ workflowId: triggerWorkflowId, afterId: before })).toHaveLength(
			0,
		);
	}, 120_000);

	it('emits a verified status once, even when Meta delivers it twice', async () => {
		const before = await n8n.lastExecutionId();
		const body = statusBody('wamid.E2E-ONE', 'read');
		const headers = signedWebhookHeaders(body, APP_SECRET);
		expect((await fetch(url(), { method: 'POST', headers, body })).status).toBe(200);
		const execution = await n8n.waitForExecution({
			workflowId: triggerWorkflowId,
			afterId: before,
			timeoutMs: 120_000,
		});
		expect(execution.status).toBe('success');
		const [event] = jsonOf(execution.data, 'WhatsApp Webhook Status');
		expect(event).toMatchObject({
			kind: 'status',
			status: 'read',
			messageId: 'wamid.E2E-ONE',
			recipientId: '447911123456',
		});
		const afterFirst = await n8n.lastExecutionId();
		expect((await fetch(url(), { method: 'POST', headers, body })).status).toBe(200);
		await new Promise((r) => setTimeout(r, 3000));
		expect(
			await n8n.executions({ workflowId: triggerWorkflowId, afterId: afterFirst }),
		).toHaveLength(0);
	}, 240_000);

	it('answers concurrent signed POSTs at once and starts ONE execution holding every event once', async () => {
		const before = await n8n.lastExecutionId();
		// Meta's usual shape: one status per POST.
		const ids = Array.from({ length: 12 }, (_, n) => `wamid.E2E-BATCH-${n}`);
		const bodies = ids.map((id) => statusBody(id, 'delivered'));
		const answers = await Promise.all(
			bodies.map(async (body) => {
				const response = await fetch(url(), {
					method: 'POST',
					headers: signedWebhookHeaders(body, APP_SECRET),
					body,
				});
				return { status: response.status, text: await response.text() };
			}),
		);
		expect(answers.map((a) => [a.status, a.text])).toEqual(
			bodies.map(() => [200, 'EVENT_RECEIVED']),
		);
		const execution = await n8n.waitForExecution({
			workflowId: triggerWorkflowId,
			afterId: before,
			timeoutMs: 120_000,
		});
		expect(execution.status).toBe('success');
		await new Promise((r) => setTimeout(r, 3000));
		expect(await n8n.executions({ workflowId: triggerWorkflowId, afterId: before })).toHaveLength(
			1,
		);
		const items = jsonOf(execution.data, 'WhatsApp Webhook Status');
		expect(items.map((i) => i.messageId).sort()).toEqual([...ids].sort());
		expect(items.every((i) => i.kind === 'status' && i.status === 'delivered')).toBe(true);
	}, 240_000);
});
