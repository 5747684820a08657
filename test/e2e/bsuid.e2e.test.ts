/**
 * A customer known only by username in a real n8n 2.x (our tarball installed as a community package), with the sandbox
 * as Meta: the customer writes without a phone number (only their business-scoped user id, BSUID, in the webhook),
 * the trigger records their window, Check Window finds it open for the BSUID, and a session reply and a template reach
 * them by BSUID in Meta's `recipient` field. Meta's rules and sources: test/unit/bsuid.send.test.ts and
 * test/unit/bsuid.webhooks.test.ts.
 */
import { DEFAULT_GRAPH_API_VERSION } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { N8nInstance, disposeAll, jsonOf, newWorkflowId, sandboxCredential } from '../../harness';
import type { WorkflowJson } from '../../harness';

const APP_SECRET = 'e2e-bsuid-app-secret';
const TOKEN = 'e2e-bsuid-access-token';
const VERIFY_TOKEN = 'e2e-bsuid-verify-token';
const CREDENTIAL = { id: 'wjE2eBsuidCred01', name: 'WhatsApp (e2e BSUID sandbox)' };
const BSUID = 'GB.13491208655302741918';

let sandbox: Sandbox;
let n8n: N8nInstance;
const workflowId = newWorkflowId();
const webhookId = '6b5c4d3e-2f10-4b8a-9c7d-5e4f3a2b1c0d';
const cred = { metaWhatsAppCloudApi: CREDENTIAL };
const whatsapp = 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate';

function usernameWorkflow(): WorkflowJson {
	return {
		id: workflowId,
		name: 'e2e: username customer → window → reply and template by BSUID',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 't1',
				name: 'WhatsApp Webhook Status',
				type: 'n8n-nodes-whatsapp-journeys.whatsAppWebhookStatus',
				typeVersion: 1,
				position: [0, 0],
				webhookId,
				credentials: cred,
				parameters: {
					registration: 'manual',
					events: ['message'],
					options: { batchWindow: 0 },
				},
			},
			{
				id: 'cw',
				name: 'Check Window',
				type: 'n8n-nodes-whatsapp-journeys.whatsAppCheckWindow',
				typeVersion: 1,
				position: [200, 0],
				credentials: cred,
				parameters: { operation: 'checkWindow', recipient: '={{ $json.from }}', source: 'store' },
			},
			{
				id: 'reply',
				name: 'Reply',
				type: whatsapp,
				typeVersion: 2,
				position: [400, 0],
				credentials: cred,
				parameters: {
					operation: 'sendSessionMessage',
					recipient: '={{ $("WhatsApp Webhook Status").item.json.from }}',
					messageType: 'text',
					text: 'Thanks, we are on it.',
					options: { pairIntervalSeconds: 0, journey: 'support', step: 'reply' },
				},
			},
			{
				id: 'tpl',
				name: 'Template',
				type: whatsapp,
				typeVersion: 2,
				position: [600, 0],
				credentials: cred,
				parameters: {
					operation: 'sendTemplate',
					recipient: '={{ $("WhatsApp Webhook Status").item.json.from }}',
					template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
					variablesMode: 'mapper',
					variables: {
						mappingMode: 'defineBelow',
						value: {
							header_text_1: '#A-1042',
							body_1: 'Ana',
							body_2: '#A-1042',
							body_3: '12 March',
							button_0_url: 'A-1042',
						},
					},
					options: { pairIntervalSeconds: 0, journey: 'support', step: 'confirm' },
				},
			},
		],
		connections: {
			'WhatsApp Webhook Status': { main: [[{ node: 'Check Window', type: 'main', index: 0 }]] },
			'Check Window': { main: [[{ node: 'Reply', type: 'main', index: 0 }], []] },
			Reply: { main: [[{ node: 'Template', type: 'main', index: 0 }]] },
		},
	};
}

beforeAll(async () => {
	n8n = await N8nInstance.create({ label: 'bsuid' });
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 60_000,
		callbackUrl: n8n.webhookUrl(`${webhookId}/whatsapp`),
	});
	await n8n.installPackage();
	const credential = sandboxCredential(sandbox, {
		...CREDENTIAL,
		token: TOKEN,
		appSecret: APP_SECRET,
		verifyToken: VERIFY_TOKEN,
	});
	credential.data.apiVersion = DEFAULT_GRAPH_API_VERSION;
	await n8n.importCredentials([credential]);
	await n8n.importWorkflow(usernameWorkflow());
	await n8n.publishWorkflow(workflowId);
	await n8n.start();
	await n8n.waitForWebhook(`${webhookId}/whatsapp`);
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
}, 120_000);

describe('a customer known only by username in real n8n', () => {
	it('writes without a number; the window opens for their BSUID; a reply and a template reach them by BSUID', async () => {
		const before = await n8n.lastExecutionId();
		await sandbox.control('inbound', {
			from: '+447911123456',
			userId: BSUID,
			username: 'ana.store',
			hidePhone: true,
			text: 'Hi, where is my order?',
		});
		const execution = await n8n.waitForExecution({
			workflowId,
			afterId: before,
			timeoutMs: 180_000,
		});
		expect(execution.status).toBe('success');
		expect(jsonOf(execution.data, 'WhatsApp Webhook Status')[0]).toMatchObject({
			kind: 'message',
			from: BSUID,
			userId: BSUID,
			username: 'ana.store',
		});
		expect(jsonOf(execution.data, 'Check Window')[0].whatsappWindow).toMatchObject({
			open: true,
			recipient: BSUID,
			recipientType: 'bsuid',
		});
		const [reply] = jsonOf(execution.data, 'Reply');
		const [template] = jsonOf(execution.data, 'Template');
		expect(reply).toMatchObject({ recipient: BSUID, recipientType: 'bsuid' });
		expect(template).toMatchObject({ recipient: BSUID, recipientType: 'bsuid' });

		const { data } = await sandbox.control<{
			data: Array<{ id: string; request: Record<string, unknown>; failure?: unknown }>;
		}>('messages');
		for (const sent of [reply, template]) {
			const message = data.find((m) => m.id === sent.messageId);
			expect(message?.request).toMatchObject({ recipient: BSUID });
			expect(message?.request).not.toHaveProperty('to');
			expect(message?.failure).toBeUndefined();
		}
	}, 300_000);
});
