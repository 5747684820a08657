/**
 * The WhatsApp Webhook Receiver in a real n8n 2.x (our tarball installed as a community package): once its workflow
 * is active, it answers on its own port at the path of a WhatsApp Webhook Status production URL — Meta's handshake,
 * signed POSTs of one status each (as Meta mostly sends them), forged ones refused — and the workflow's executions
 * carry every acknowledged event once, many POSTs per execution. The sandbox, as Meta, delivers a signed inbound
 * message to it as well. Meta's signature: https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications
 */
import { randomUUID } from 'node:crypto';

import { computeSignature } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	N8nInstance,
	disposeAll,
	freePort,
	jsonOf,
	newWorkflowId,
	sandboxCredential,
} from '../../harness';
import type { WorkflowJson } from '../../harness';

const APP_SECRET = 'e2e-receiver-app-secret';
const TOKEN = 'e2e-receiver-access-token';
const VERIFY_TOKEN = 'e2e-receiver-verify-token';
const CREDENTIAL = { id: 'wjE2eRecvCred001', name: 'WhatsApp (e2e receiver sandbox)' };
const PATH = `/webhook/${randomUUID()}/whatsapp`;

let sandbox: Sandbox;
let n8n: N8nInstance;
let port: number;
let url: string;
const workflowId = newWorkflowId();

function statusBody(message: number, status: string): string {
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: sandbox.config.wabaId,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: {
								display_phone_number: '15550783881',
								phone_number_id: sandbox.config.phoneNumberId,
							},
							statuses: [
								{
									id: `wamid.E2ERECEIVER${String(message).padStart(6, '0')}`,
									status,
									timestamp: String(Math.floor(Date.now() / 1000)),
									recipient_id: '4915100000001',
								},
							],
						},
					},
				],
			},
		],
	});
}

function post(body: string, signature = computeSignature(body, APP_SECRET)): Promise<Response> {
	return fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
		body,
	});
}

function receiverWorkflow(): WorkflowJson {
	return {
		id: workflowId,
		name: 'e2e: webhook receiver',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 'r1',
				name: 'WhatsApp Webhook Receiver',
				type: 'n8n-nodes-whatsapp-journeys.whatsAppWebhookReceiver',
				typeVersion: 1,
				position: [0, 0],
				credentials: { metaWhatsAppCloudApi: CREDENTIAL },
				// Late statuses emitted flagged, so every acknowledged event must come out (a dropped late one would hide a loss).
				parameters: {
					path: PATH,
					host: '127.0.0.1',
					port,
					options: { batchWindow: 300, lateStatuses: 'flag' },
				},
			},
		],
		connections: {},
	};
}

beforeAll(async () => {
	port = await freePort();
	url = `http://127.0.0.1:${port}${PATH}`;
	n8n = await N8nInstance.create({ label: 'webhook-receiver' });
	// The sandbox delivers its webhooks (signed with the app secret) to the receiver, as Meta would after the proxy.
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 60_000,
		callbackUrl: url,
	});
	await n8n.installPackage();
	await n8n.importCredentials([
		sandboxCredential(sandbox, {
			...CREDENTIAL,
			token: TOKEN,
			appSecret: APP_SECRET,
			verifyToken: VERIFY_TOKEN,
		}),
	]);
	await n8n.importWorkflow(receiverWorkflow());
	await n8n.publishWorkflow(workflowId);
	await n8n.start();
	// Triggers are started just after n8n reports healthy: wait for the port.
	const deadline = Date.now() + 60_000;
	for (;;) {
		const ok = await fetch(`${url}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1`)
			.then((r) => r.status === 403)
			.catch(() => false);
		if (ok) break;
		if (Date.now() > deadline) throw new Error('the receiver never listened');
		await new Promise((r) => setTimeout(r, 300));
	}
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
}, 120_000);

describe('WhatsApp Webhook Receiver in real n8n', () => {
	it("answers Meta's subscription handshake on its own port", async () => {
		const ok = await fetch(
			`${url}?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=8472`,
		);
		expect(ok.status).toBe(200);
		expect(await ok.text()).toBe('8472');
	});

	it('refuses forged and unsigned POSTs with 401 and starts nothing', async () => {
		const before = await n8n.lastExecutionId();
		const body = statusBody(999, 'delivered');
		expect((await post(body, computeSignature(body, 'not-the-secret'))).status).toBe(401);
		expect(
			(
				await fetch(url, {
					method: 'POST',
					headers: { 'content-type': 'application/json' },
					body,
				})
			).status,
		).toBe(401);
		await new Promise((r) => setTimeout(r, 1500));
		expect(await n8n.executions({ workflowId, afterId: before })).toEqual([]);
	});

	it('emits every acknowledged status once, many POSTs per execution, repeats not again', async () => {
		const before = await n8n.lastExecutionId();
		const bodies = Array.from({ length: 60 }, (_, i) =>
			statusBody(Math.floor(i / 3), ['sent', 'delivered', 'read'][i % 3]),
		);
		const answers = await Promise.all(bodies.map((b) => post(b)));
		expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
		// Meta's retries of deliveries it already had answered.
		const repeats = await Promise.all(bodies.slice(0, 10).map((b) => post(b)));
		expect(repeats.map((a) => a.status)).toEqual(repeats.map(() => 200));

		let events: Array<Record<string, unknown>> = [];
		let executions = 0;
		const deadline = Date.now() + 120_000;
		while (Date.now() < deadline) {
			const runs = await n8n.executions({ workflowId, afterId: before });
			const done = runs.filter((r) => r.status === 'success');
			events = [];
			for (const r of done)
				events.push(...jsonOf((await n8n.execution(r.id)).data, 'WhatsApp Webhook Receiver'));
			executions = runs.length;
			if (events.length >= 60 && done.length === runs.length) {
				// The repeats were answered before this point; wait a window more to see that they start nothing.
				await new Promise((r) => setTimeout(r, 1500));
				const later = await n8n.executions({ workflowId, afterId: before });
				if (later.length === runs.length) break;
			}
			await new Promise((r) => setTimeout(r, 500));
		}
		// Each of the 60 exactly once (a status recorded after a higher one of its message comes flagged lateStatus).
		const keys = events.map((e) => `${String(e.messageId)}|${String(e.status)}`);
		expect(keys).toHaveLength(60);
		expect(new Set(keys).size).toBe(60);
		expect(executions).toBeLessThan(60);
		expect(events[0]).toMatchObject({
			kind: 'status',
			phoneNumberId: sandbox.config.phoneNumberId,
		});
	}, 180_000);

	it('takes an inbound message the sandbox (as Meta) delivers, signed, to the receiver', async () => {
		const before = await n8n.lastExecutionId();
		const sent = await sandbox.control<{ id: string }>('inbound', {
			from: '+447911123456',
			text: 'hello receiver',
		});
		const execution = await n8n.waitForExecution({
			workflowId,
			afterId: before,
			timeoutMs: 60_000,
		});
		expect(execution.status).toBe('success');
		expect(jsonOf(execution.data, 'WhatsApp Webhook Receiver')).toEqual([
			expect.objectContaining({ kind: 'message', messageId: sent.id, text: 'hello receiver' }),
		]);
	}, 120_000);
});
