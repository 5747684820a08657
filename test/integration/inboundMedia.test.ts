/**
 * Inbound media, read receipts and link clicks through the n8n nodes (in-process) against the sandbox, which answers
 * like Meta: GET /{media-id} with a URL that works for 5 minutes, the file behind it for the same token, code 100 for
 * an id or message it does not know, and "typing…" shown until the reply or 25 s.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IBinaryData, IDataObject } from 'n8n-workflow';

import {
	CloudApiClient,
	DEFAULT_GRAPH_API_VERSION,
	computeSignature,
	createFetchTransport,
	downloadMedia,
} from '../../core';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { WhatsAppWebhookStatus } from '../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node';
import { callWebhook, runNode } from '../../harness/n8n-context';
import type { Credentials } from '../../harness/n8n-context';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { ONE_PIXEL_PNG as PNG } from '../fixtures/media';

const TOKEN = 'sandbox-token-for-media-tests-1';
const APP_SECRET = 'app-secret-for-media-tests-xyz';
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
const CUSTOMER = '447911123456';
const PDF = Buffer.from('%PDF-1.4\n% invoice A-1042\n%%EOF\n');

let sandbox: Sandbox;
let clock = Date.now();
const node = new WhatsAppSendTemplate();
const trigger = new WhatsAppWebhookStatus();
const tmp = mkdtempSync(join(tmpdir(), 'wj-media-'));

function credentials(): Credentials {
	return {
		metaWhatsAppCloudApi: {
			accessToken: TOKEN,
			phoneNumberId: PHONE_NUMBER_ID,
			wabaId: WABA_ID,
			appSecret: APP_SECRET,
			verifyToken: 'verify-me',
			apiVersion: DEFAULT_GRAPH_API_VERSION,
			baseUrl: sandbox.url,
		},
	};
}

interface Inbound {
	id: string;
	message: Record<string, Record<string, string> | string>;
}

/** The customer sends something; the sandbox answers with the message as Meta's webhook will carry it. */
function customerSends(body: Record<string, unknown>): Promise<Inbound> {
	return sandbox.control<Inbound>('inbound', { from: `+${CUSTOMER}`, ...body });
}

function webhookBody(message: Inbound['message']): string {
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: WABA_ID,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
							contacts: [{ profile: { name: 'Ana' }, wa_id: CUSTOMER }],
							messages: [message],
						},
					},
				],
			},
		],
	});
}

const bytesOf = (binary: IBinaryData | undefined): Buffer =>
	Buffer.from(binary?.data ?? '', 'base64');

beforeAll(async () => {
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		now: () => clock,
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	clock = Date.now();
	await sandbox.control('reset', {});
});

describe('Download Media', () => {
	it("turns a customer's image into an n8n binary with its type, size and Meta's SHA-256", async () => {
		const sent = await customerSends({
			image: { data: PNG.toString('base64'), mime_type: 'image/png', caption: 'my receipt' },
		});
		const image = sent.message.image as Record<string, string>;
		const { output } = await runNode(node, {
			parameters: {
				operation: 'downloadMedia',
				mediaId: image.id,
				binaryPropertyName: 'data',
				fileName: '',
				maxFileSizeMb: 100,
			},
			credentials: credentials(),
			items: [{ json: { messageId: sent.id, media: { id: image.id } } }],
		});
		const [item] = output[0];
		expect(bytesOf(item.binary?.data)).toEqual(PNG);
		expect(item.binary?.data).toMatchObject({
			mimeType: 'image/png',
			fileName: `${image.id}.png`,
			fileSize: String(PNG.length),
		});
		expect(item.json).toMatchObject({
			messageId: sent.id,
			download: {
				mediaId: image.id,
				mimeType: 'image/png',
				fileSize: PNG.length,
				sha256: image.sha256,
			},
		});
	});

	it("keeps a document's file name, and answers an unknown id with Meta's code 100 on the error output", async () => {
		const sent = await customerSends({
			document: {
				data: PDF.toString('base64'),
				mime_type: 'application/pdf',
				filename: 'invoice-A-1042.pdf',
			},
		});
		const document = sent.message.document as Record<string, string>;
		const { output } = await runNode(node, {
			parameters: (i) => ({
				operation: 'downloadMedia',
				mediaId: i === 0 ? document.id : '999999999999999',
				binaryPropertyName: 'file',
				fileName: i === 0 ? document.filename : '',
				maxFileSizeMb: 100,
			}),
			credentials: credentials(),
			items: [{ json: {} }, { json: {} }],
			continueOnFail: true,
		});
		expect(output[0][0].binary?.file).toMatchObject({
			fileName: 'invoice-A-1042.pdf',
			mimeType: 'application/pdf',
		});
		expect(bytesOf(output[0][0].binary?.file)).toEqual(PDF);
		expect(output[0][1].json.error).toMatchObject({
			code: 100,
			httpStatus: 400,
			mediaId: '999999999999999',
		});
	});

	it('refuses a file over Max File Size before downloading it', async () => {
		const sent = await customerSends({
			image: { data: Buffer.alloc(300_000, 1).toString('base64'), mime_type: 'image/jpeg' },
		});
		const image = sent.message.image as Record<string, string>;
		const { output } = await runNode(node, {
			parameters: {
				operation: 'downloadMedia',
				mediaId: image.id,
				binaryPropertyName: 'data',
				fileName: '',
				maxFileSizeMb: 0.1,
			},
			credentials: credentials(),
			continueOnFail: true,
		});
		expect(output[0][0].json.error).toMatchObject({ reason: 'too_large' });
		expect(output[0][0].binary).toBeUndefined();
	});

	it('refuses the media URL 5 minutes after it was issued, and core then asks for a fresh one', async () => {
		const sent = await customerSends({
			image: { data: PNG.toString('base64'), mime_type: 'image/png' },
		});
		const id = (sent.message.image as Record<string, string>).id;
		const client = new CloudApiClient(
			{ phoneNumberId: PHONE_NUMBER_ID, baseUrl: sandbox.url },
			createFetchTransport({ accessToken: TOKEN }),
		);
		const info = await client.getMedia(id);
		expect(info).toMatchObject({ mime_type: 'image/png', file_size: PNG.length, id });
		clock += 4 * 60 * 1000;
		await expect(client.fetchMediaUrl(info.url)).resolves.toMatchObject({ status: 200, data: PNG });
		clock += 60 * 1000 + 1;
		await expect(client.fetchMediaUrl(info.url)).resolves.toMatchObject({ status: 404 });
		await expect(downloadMedia(client, id)).resolves.toMatchObject({ data: PNG });
		// The URL still takes the access token only: the control token's holder is not enough.
		const anonymous = await fetch((await client.getMedia(id)).url);
		expect(anonymous.status).toBe(401);
	});
});

describe('Mark as Read', () => {
	it("marks the customer's message read and shows typing until the session reply goes out", async () => {
		const sent = await customerSends({ text: 'Where is my order?' });
		const { output } = await runNode(node, {
			parameters: { operation: 'markAsRead', messageId: sent.id, typingIndicator: true },
			credentials: credentials(),
		});
		expect(output[0][0].json).toMatchObject({
			messageId: sent.id,
			status: 'read',
			success: true,
			typingIndicator: true,
		});
		const inbound = async () =>
			(await sandbox.control<{ data: Array<Record<string, unknown>> }>('inbound')).data.find(
				(r) => r.id === sent.id,
			);
		expect(await inbound()).toMatchObject({ read: true, typing: true });

		await runNode(node, {
			parameters: {
				operation: 'sendSessionMessage',
				recipient: `+${CUSTOMER}`,
				messageType: 'text',
				text: 'It ships today.',
				options: { pairIntervalSeconds: 0 },
				stateStore: 'embedded',
				storePath: ':memory:',
			},
			credentials: credentials(),
		});
		expect(await inbound()).toMatchObject({
			read: true,
			typing: false,
			typingDismissedAt: expect.any(String),
		});
	});

	it('lets the typing indicator lapse after 25 seconds without a reply', async () => {
		const sent = await customerSends({ text: 'Hello?' });
		await runNode(node, {
			parameters: { operation: 'markAsRead', messageId: sent.id, typingIndicator: true },
			credentials: credentials(),
		});
		clock += 25_000;
		const [record] = (await sandbox.control<{ data: Array<Record<string, unknown>> }>('inbound'))
			.data;
		expect(record).toMatchObject({ read: true, typing: false });
	});

	it("answers a message id the number never received with Meta's code 100", async () => {
		const { output } = await runNode(node, {
			parameters: { operation: 'markAsRead', messageId: 'wamid.unknown', typingIndicator: false },
			credentials: credentials(),
			continueOnFail: true,
		});
		expect(output[0][0].json.error).toMatchObject({ code: 100, messageId: 'wamid.unknown' });
	});
});

describe('the trigger with Attach Media', () => {
	it("emits a customer's image as the item's binary (n8n answers Meta before the download)", async () => {
		const photo = await customerSends({
			image: { data: PNG.toString('base64'), mime_type: 'image/png' },
		});
		const raw = Buffer.from(webhookBody(photo.message));
		const result = await callWebhook(
			trigger,
			{
				registration: 'manual',
				events: ['message'],
				options: { attachMedia: true },
				stateStore: 'embedded',
				storePath: join(tmp, 'store.sqlite'),
			},
			credentials(),
			{
				webhookName: 'default',
				headers: { 'x-hub-signature-256': computeSignature(raw, APP_SECRET) },
				rawBody: raw,
			},
		);
		// Answered by the node itself (res.send) before it downloads, not by n8n after webhook() returns.
		expect(result.response.noWebhookResponse).toBe(true);
		expect([result.status, result.body]).toEqual([200, 'EVENT_RECEIVED']);
		const [item] = result.response.workflowData?.[0] ?? [];
		expect(item.json).toMatchObject({
			kind: 'message',
			type: 'image',
			media: { id: (photo.message.image as Record<string, string>).id },
		});
		expect(bytesOf(item.binary?.data)).toEqual(PNG);
		expect(item.binary?.data.mimeType).toBe('image/png');
	});

	it('says why a download failed in mediaError and still emits the message', async () => {
		const message = {
			from: CUSTOMER,
			id: 'wamid.gone',
			timestamp: String(Math.floor(Date.now() / 1000)),
			type: 'image',
			image: { id: '123456789012345', mime_type: 'image/jpeg', sha256: 'x' },
		};
		const raw = Buffer.from(webhookBody(message));
		const result = await callWebhook(
			trigger,
			{
				registration: 'manual',
				events: ['message'],
				options: { attachMedia: true },
				stateStore: 'embedded',
				storePath: join(tmp, 'store-2.sqlite'),
			},
			credentials(),
			{
				webhookName: 'default',
				headers: { 'x-hub-signature-256': computeSignature(raw, APP_SECRET) },
				rawBody: raw,
			},
		);
		const [item] = result.response.workflowData?.[0] ?? [];
		expect(item.binary).toBeUndefined();
		expect((item.json as IDataObject).mediaError).toMatchObject({ code: 100 });
	});
});

describe('link clicks from the sandbox', () => {
	it("are delivered as Meta's user_actions webhook and reach the trigger as link_click", async () => {
		const answer = await sandbox.control<{ user_action: Record<string, unknown> }>('link-click', {
			click_id: 'click-1',
			product_id: 'sku-9',
		});
		const value = {
			messaging_product: 'whatsapp',
			metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
			user_actions: [answer.user_action],
		};
		const raw = Buffer.from(
			JSON.stringify({
				object: 'whatsapp_business_account',
				entry: [{ id: WABA_ID, changes: [{ field: 'messages', value }] }],
			}),
		);
		const result = await callWebhook(
			trigger,
			{
				registration: 'manual',
				events: ['link_click'],
				options: {},
				stateStore: 'embedded',
				storePath: join(tmp, 'store-3.sqlite'),
			},
			credentials(),
			{
				webhookName: 'default',
				headers: { 'x-hub-signature-256': computeSignature(raw, APP_SECRET) },
				rawBody: raw,
			},
		);
		expect((result.response.workflowData?.[0] ?? []).map((i) => i.json)).toEqual([
			expect.objectContaining({
				kind: 'link_click',
				clickId: 'click-1',
				productId: 'sku-9',
				clickComponent: 'cta',
				actionType: 'marketing_messages_link_click',
			}),
		]);
	});
});
