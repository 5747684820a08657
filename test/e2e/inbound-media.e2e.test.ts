/**
 * A customer's photo in a real n8n 2.x (our tarball installed as a community package), with the sandbox as Meta:
 * the sandbox delivers the signed inbound image webhook to the trigger on its production URL; "Attach Media" makes
 * the photo the item's binary, "Download Media" fetches it again by media id, n8n's own Crypto node hashes both
 * binaries (so n8n's binary storage holds the customer's bytes), then "Mark as Read" shows the typing indicator
 * before the session reply, which dismisses it (Meta's rule:
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/).
 */
import { createHash } from 'node:crypto';

import { DEFAULT_GRAPH_API_VERSION } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	N8nInstance,
	disposeAll,
	itemsOf,
	jsonOf,
	newWorkflowId,
	sandboxCredential,
} from '../../harness';
import type { WorkflowJson } from '../../harness';
import { ONE_PIXEL_PNG as PNG } from '../fixtures/media';

const APP_SECRET = 'e2e-media-app-secret';
const TOKEN = 'e2e-media-access-token';
const VERIFY_TOKEN = 'e2e-media-verify-token';
const CREDENTIAL = { id: 'wjE2eMediaCred01', name: 'WhatsApp (e2e media sandbox)' };
const CUSTOMER = '447911123456';
const PNG_SHA256 = createHash('sha256').update(PNG).digest('hex');

let sandbox: Sandbox;
let n8n: N8nInstance;
const workflowId = newWorkflowId();
const webhookId = '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';
const cred = { metaWhatsAppCloudApi: CREDENTIAL };
const whatsapp = 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate';

function hashNode(name: string, binaryPropertyName: string, x: number) {
	return {
		id: name,
		name,
		type: 'n8n-nodes-base.crypto',
		typeVersion: 2,
		position: [x, 0] as [number, number],
		parameters: {
			action: 'hash',
			binaryData: true,
			binaryPropertyName,
			type: 'SHA256',
			dataPropertyName: `${binaryPropertyName}Sha256`,
			encoding: 'hex',
		},
	};
}

function supportWorkflow(): WorkflowJson {
	const chain = [
		'WhatsApp Webhook Status',
		'Hash Attached',
		'Download Media',
		'Hash Downloaded',
		'Mark as Read',
		'Reply',
	];
	return {
		id: workflowId,
		name: 'e2e: customer photo → binary, read + typing, reply',
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
					options: { attachMedia: true, batchWindow: 0 },
				},
			},
			hashNode('Hash Attached', 'data', 200),
			{
				id: 'dl',
				name: 'Download Media',
				type: whatsapp,
				typeVersion: 1,
				position: [400, 0],
				credentials: cred,
				parameters: {
					operation: 'downloadMedia',
					mediaId: '={{ $json.media.id }}',
					binaryPropertyName: 'file',
				},
			},
			hashNode('Hash Downloaded', 'file', 600),
			{
				id: 'read',
				name: 'Mark as Read',
				type: whatsapp,
				typeVersion: 1,
				position: [800, 0],
				credentials: cred,
				parameters: {
					operation: 'markAsRead',
					messageId: '={{ $json.messageId }}',
					typingIndicator: true,
				},
			},
			{
				id: 'reply',
				name: 'Reply',
				type: whatsapp,
				typeVersion: 1,
				position: [1000, 0],
				credentials: cred,
				parameters: {
					operation: 'sendSessionMessage',
					recipient: '={{ "+" + $("WhatsApp Webhook Status").item.json.from }}',
					messageType: 'text',
					text: 'Thanks, we got your photo.',
					options: { pairIntervalSeconds: 0, journey: 'support', step: 'photo-reply' },
				},
			},
		],
		connections: Object.fromEntries(
			chain
				.slice(0, -1)
				.map((from, i) => [from, { main: [[{ node: chain[i + 1], type: 'main', index: 0 }]] }]),
		),
	};
}

beforeAll(async () => {
	n8n = await N8nInstance.create({ label: 'inbound-media' });
	// The sandbox delivers webhooks (signed with the app secret) to the trigger's production URL, as Meta would.
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
	// The version a new credential gets by default, so this run covers it.
	credential.data.apiVersion = DEFAULT_GRAPH_API_VERSION;
	await n8n.importCredentials([credential]);
	await n8n.importWorkflow(supportWorkflow());
	await n8n.publishWorkflow(workflowId);
	await n8n.start();
	await n8n.waitForWebhook(`${webhookId}/whatsapp`);
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
}, 120_000);

describe("a customer's photo in real n8n", () => {
	it('arrives as a binary through the trigger and through Download Media, is marked read with typing, and the reply dismisses typing', async () => {
		const before = await n8n.lastExecutionId();
		const sent = await sandbox.control<{ id: string; message: { image: { id: string } } }>(
			'inbound',
			{
				from: `+${CUSTOMER}`,
				image: { data: PNG.toString('base64'), mime_type: 'image/png', caption: 'the dent' },
			},
		);
		const execution = await n8n.waitForExecution({
			workflowId,
			afterId: before,
			timeoutMs: 180_000,
		});
		expect(execution.status).toBe('success');

		const [triggered] = itemsOf(execution.data, 'WhatsApp Webhook Status');
		expect(triggered.json).toMatchObject({
			kind: 'message',
			type: 'image',
			messageId: sent.id,
			from: CUSTOMER,
			media: { id: sent.message.image.id, caption: 'the dent' },
		});
		expect(triggered.binary?.data).toMatchObject({
			mimeType: 'image/png',
			fileName: `${sent.message.image.id}.png`,
		});
		expect(jsonOf(execution.data, 'Hash Attached')[0].dataSha256).toBe(PNG_SHA256);

		const [downloaded] = itemsOf(execution.data, 'Download Media');
		expect(downloaded.json.download).toMatchObject({
			mimeType: 'image/png',
			fileSize: PNG.length,
			sha256: PNG_SHA256,
		});
		expect(downloaded.binary?.file).toMatchObject({ mimeType: 'image/png' });
		expect(jsonOf(execution.data, 'Hash Downloaded')[0].fileSha256).toBe(PNG_SHA256);

		expect(jsonOf(execution.data, 'Mark as Read')[0]).toMatchObject({
			messageId: sent.id,
			status: 'read',
			success: true,
			typingIndicator: true,
		});
		const [reply] = jsonOf(execution.data, 'Reply');
		expect(reply.messageId).toEqual(expect.stringMatching(/^wamid\./));

		// What Meta (the sandbox) saw: read, typing shown, then dismissed by the reply to the same customer.
		const inbound = (
			await sandbox.control<{ data: Array<Record<string, string | boolean>> }>('inbound')
		).data.find((r) => r.id === sent.id);
		expect(inbound).toMatchObject({ read: true, typing: false });
		const messages = (
			await sandbox.control<{ data: Array<{ id: string; waId: string; acceptedAt: number }> }>(
				'messages',
			)
		).data;
		const replied = messages.find((m) => m.id === reply.messageId);
		expect(replied?.waId).toBe(CUSTOMER);
		expect(Date.parse(String(inbound?.typingIndicatorAt))).toBeLessThanOrEqual(
			replied?.acceptedAt ?? 0,
		);
		expect(inbound?.typingDismissedAt).toBe(new Date(replied?.acceptedAt ?? 0).toISOString());
	}, 300_000);
});
