/**
 * `whatsapp-send-message` in node-red-node-test-helper's runtime, sending to the Cloud API sandbox: text, media by
 * link and from a Buffer (uploaded once per distinct content), reply buttons, lists, Meta-shaped messages, a closed
 * service window (131047 to Catch nodes), refused input (nothing sent), tracking and status badges.
 * The sandbox answers policy errors on the request (policyErrors: 'sync'), so a closed window fails the send itself.
 */
import { decodeTracking } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	CREDENTIALS,
	Collector,
	FLOW_ID,
	control,
	flow,
	helper,
	load,
	newStorePath,
} from './harness';
import type { FlowNode } from './harness';

let sandbox: Sandbox;

const CUSTOMER = '+447911123456';
const WA_ID = '447911123456';
/** A few bytes with a JPEG's start: the sandbox checks the declared type, not the picture. */
const PHOTO = Buffer.from([
	0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x02, 0x03,
]);

function sendNode(extra: Record<string, unknown> = {}): FlowNode {
	return {
		id: 'send',
		type: 'whatsapp-send-message',
		server: 'cfg',
		pairIntervalSeconds: 0,
		journey: 'support',
		step: 'reply',
		wires: [['out']],
		...extra,
	};
}

async function loadSend(
	extra: Record<string, unknown> = {},
): Promise<{ out: Collector; caught: Collector }> {
	await load(flow(sandbox, newStorePath(), [sendNode(extra), { id: 'out', type: 'helper' }]));
	return { out: new Collector('out'), caught: new Collector('caught') };
}

type Sent = {
	to: string;
	type: string;
	request: Record<string, unknown>;
	bizOpaqueCallbackData?: string;
};
const sentMessages = async (): Promise<Sent[]> =>
	(await control<{ data: Sent[] }>(sandbox, 'messages')).data;
const sentRequests = async (): Promise<number> =>
	(await control(sandbox, 'requests?path=/messages')).data.length;
const uploads = async (): Promise<Array<Record<string, unknown>>> =>
	(await control(sandbox, 'requests?path=/media')).data;

/** The customer writes: their 24-hour service window opens. */
const customerWrites = (from = CUSTOMER): Promise<unknown> =>
	control(sandbox, 'inbound', { from, text: 'Hi, where is my order?' });

beforeAll(async () => {
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: CREDENTIALS.cfg.appSecret,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		policyErrors: 'sync',
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
	await customerWrites();
});
afterEach(async () => {
	await helper.unload();
});

describe('whatsapp-send-message in Node-RED', () => {
	it('sends msg.payload.text as a text message and returns the wamid, wa_id and tracking', async () => {
		const { out } = await loadSend();
		helper.getNode('send').receive({
			_msgid: 'msg-1',
			payload: {
				to: '+44 7911 123456',
				text: 'Your order left the warehouse: https://example.com/track/A-1042',
			},
		});
		const [msg] = await out.waitFor(1);
		expect(msg.payload).toMatchObject({
			recipient: CUSTOMER,
			waId: WA_ID,
			type: 'text',
			tracking: { workflowId: FLOW_ID, executionId: 'msg-1', journey: 'support', step: 'reply' },
		});
		expect((msg.payload as { messageId: string }).messageId).toMatch(/^wamid\./);
		const [sent] = await sentMessages();
		expect(sent.request).toMatchObject({
			to: CUSTOMER,
			type: 'text',
			text: {
				body: 'Your order left the warehouse: https://example.com/track/A-1042',
				preview_url: true,
			},
		});
		expect(decodeTracking(String(sent.bizOpaqueCallbackData))).toMatchObject({
			journey: 'support',
			step: 'reply',
		});
	});

	it("replies to a customer known only by username by their BSUID, in Meta's recipient field", async () => {
		// A username customer writes: the sandbox, like Meta, leaves their number out of the webhook.
		const BSUID = 'GB.13491208655302741918';
		await control(sandbox, 'inbound', {
			from: '+447911123499',
			userId: BSUID,
			username: 'ana.store',
			hidePhone: true,
			text: 'Hi, it is me',
		});
		const { out } = await loadSend();
		helper.getNode('send').receive({ payload: { to: BSUID, text: 'Thanks, we are on it.' } });
		const [msg] = await out.waitFor(1);
		expect(msg.payload).toMatchObject({ recipient: BSUID, recipientType: 'bsuid', type: 'text' });
		const [sent] = await sentMessages();
		expect(sent.request).toMatchObject({ recipient: BSUID, type: 'text' });
		expect(sent.request).not.toHaveProperty('to');
	});

	it('sends a string msg.payload as text to the number in msg.to', async () => {
		const { out } = await loadSend({ recipient: 'to' });
		helper.getNode('send').receive({ to: CUSTOMER, payload: 'Thanks, we are on it.' });
		await out.waitFor(1);
		expect((await sentMessages())[0].request).toMatchObject({
			type: 'text',
			text: { body: 'Thanks, we are on it.' },
		});
	});

	it('sends media by link, its kind read from the extension and msg.payload.text as the caption', async () => {
		const { out } = await loadSend();
		helper.getNode('send').receive({
			payload: {
				to: CUSTOMER,
				media: 'https://example.com/menus/lunch.pdf',
				text: 'Today’s menu',
			},
		});
		const [msg] = await out.waitFor(1);
		expect((msg.payload as { type: string }).type).toBe('document');
		expect((await sentMessages())[0].request).toMatchObject({
			type: 'document',
			document: { link: 'https://example.com/menus/lunch.pdf', caption: 'Today’s menu' },
		});
		expect(await uploads()).toHaveLength(0);
	});

	it('uploads a Buffer once for two messages with the same bytes and sends both by the same media id', async () => {
		const { out } = await loadSend({ recipient: 'to' });
		const node = helper.getNode('send');
		// Both at once: the second finds the first's upload still on its way and waits for that id.
		node.receive({
			to: CUSTOMER,
			filename: '/data/photos/parcel.jpg',
			payload: Buffer.from(PHOTO),
		});
		node.receive({
			to: CUSTOMER,
			filename: '/data/photos/parcel.jpg',
			payload: Buffer.from(PHOTO),
		});
		const [first, second] = await out.waitFor(2);
		const upload = (
			first.payload as {
				upload: { mediaId: string; mimeType: string; fileName: string; bytes: number };
			}
		).upload;
		expect(upload).toMatchObject({
			mimeType: 'image/jpeg',
			fileName: 'parcel.jpg',
			bytes: PHOTO.length,
		});
		expect(upload.mediaId).toMatch(/^\d+$/);
		expect((second.payload as { upload: { mediaId: string } }).upload.mediaId).toBe(upload.mediaId);
		expect(await uploads()).toHaveLength(1);
		const sent = await sentMessages();
		expect(sent.map((m) => m.request)).toEqual([
			expect.objectContaining({ type: 'image', image: { id: upload.mediaId } }),
			expect.objectContaining({ type: 'image', image: { id: upload.mediaId } }),
		]);
	});

	it('uploads different bytes again, and takes a file from msg.payload.media with its MIME type and file name', async () => {
		const { out } = await loadSend();
		const node = helper.getNode('send');
		node.receive({
			payload: {
				to: CUSTOMER,
				media: {
					buffer: Buffer.from('invoice A-1042'),
					mimeType: 'application/pdf',
					filename: 'invoice.pdf',
					caption: 'Your invoice',
				},
			},
		});
		await out.waitFor(1);
		node.receive({
			payload: {
				to: CUSTOMER,
				media: {
					buffer: Buffer.from('invoice A-1043'),
					mimeType: 'application/pdf',
					filename: 'invoice.pdf',
				},
			},
		});
		await out.waitFor(2);
		expect(await uploads()).toHaveLength(2);
		const [sent] = await sentMessages();
		expect(sent.request).toMatchObject({
			type: 'document',
			document: { caption: 'Your invoice', filename: 'invoice.pdf' },
		});
	});

	it('sends reply buttons from titles or { id, title }', async () => {
		const { out } = await loadSend();
		helper.getNode('send').receive({
			payload: {
				to: CUSTOMER,
				text: 'Did your parcel arrive?',
				buttons: ['Yes', { id: 'no', title: 'Not yet' }],
			},
		});
		const [msg] = await out.waitFor(1);
		expect((msg.payload as { type: string }).type).toBe('interactive');
		expect((await sentMessages())[0].request).toMatchObject({
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: 'Did your parcel arrive?' },
				action: {
					buttons: [
						{ type: 'reply', reply: { id: 'Yes', title: 'Yes' } },
						{ type: 'reply', reply: { id: 'no', title: 'Not yet' } },
					],
				},
			},
		});
	});

	it('sends a list with sections', async () => {
		const { out } = await loadSend();
		helper.getNode('send').receive({
			payload: {
				to: CUSTOMER,
				text: 'When should we deliver?',
				list: {
					button: 'Pick a slot',
					sections: [
						{
							title: 'Tomorrow',
							rows: [
								{ id: 'tue-am', title: 'Morning', description: '8:00–12:00' },
								{ id: 'tue-pm', title: 'Afternoon' },
							],
						},
						{ title: 'Wednesday', rows: [{ id: 'wed-am', title: 'Morning' }] },
					],
				},
			},
		});
		await out.waitFor(1);
		expect((await sentMessages())[0].request).toMatchObject({
			type: 'interactive',
			interactive: {
				type: 'list',
				body: { text: 'When should we deliver?' },
				action: {
					button: 'Pick a slot',
					sections: [
						{
							title: 'Tomorrow',
							rows: [
								{ id: 'tue-am', title: 'Morning', description: '8:00–12:00' },
								{ id: 'tue-pm', title: 'Afternoon' },
							],
						},
						{ title: 'Wednesday', rows: [{ id: 'wed-am', title: 'Morning' }] },
					],
				},
			},
		});
	});

	it("sends a message in Meta's own shape (a location) as it is", async () => {
		const { out } = await loadSend();
		const location = {
			latitude: 38.7223,
			longitude: -9.1393,
			name: 'Lisbon Store',
			address: 'Rua Augusta 1',
		};
		helper.getNode('send').receive({ payload: { to: CUSTOMER, type: 'location', location } });
		await out.waitFor(1);
		expect((await sentMessages())[0].request).toMatchObject({ type: 'location', location });
	});

	it('sends the closed-window answer (131047) to Catch nodes with Meta\'s code and "send a template"', async () => {
		const { out, caught } = await loadSend({ maxAttempts: 3 });
		helper.getNode('send').receive({ payload: { to: '+447911123499', text: 'Hello again' } });
		const [error] = await caught.waitFor(1);
		const e = error.error as { message: string; code?: number; source: { id: string } };
		expect(e.source.id).toBe('send');
		expect(e.code).toBe(131047);
		expect(e.message).toMatch(/131047[\s\S]*template/i);
		expect(error.whatsappError).toMatchObject({ code: 131047, category: 'window', attempts: 1 });
		expect(out.messages).toHaveLength(0);
		// Once the customer writes, the same message goes.
		await customerWrites('+447911123499');
		helper.getNode('send').receive({ payload: { to: '+447911123499', text: 'Hello again' } });
		await out.waitFor(1);
	});

	it.each([
		['four buttons', { text: 'Pick one', buttons: ['A', 'B', 'C', 'D'] }, /at most 3 buttons/],
		[
			'a button title over 20 characters',
			{ text: 'Pick one', buttons: ['This title is far too long'] },
			/buttons\[0\]\.reply\.title[\s\S]*20 characters/,
		],
		[
			'eleven list rows',
			{ text: 'Pick', list: Array.from({ length: 11 }, (_, i) => `Row ${i}`) },
			/at most 10/,
		],
		['a file without a type', { media: Buffer.from('???') }, /needs its type/],
		['media of unknown kind', { media: '1234567890' }, /image, video, audio or document/],
		['buttons and a list at once', { text: 'x', buttons: ['A'], list: ['B'] }, /buttons and list/],
		['nothing to send', { variables: { body_1: 'Ana' } }, /holds no message/],
	])('refuses %s with a clear error and sends nothing', async (_what, payload, message) => {
		const { out, caught } = await loadSend();
		helper.getNode('send').receive({ payload: { to: CUSTOMER, ...payload } });
		const [error] = await caught.waitFor(1);
		expect((error.error as { message: string }).message).toMatch(message);
		expect(out.messages).toHaveLength(0);
		expect(await sentRequests()).toBe(0);
		expect(await uploads()).toHaveLength(0);
	});

	it('builds and validates in a dry run without uploading or sending', async () => {
		const { out } = await loadSend({ dryRun: true, recipient: 'to' });
		helper
			.getNode('send')
			.receive({ to: CUSTOMER, mimeType: 'image/png', payload: Buffer.from(PHOTO) });
		const [msg] = await out.waitFor(1);
		expect(msg.payload).toMatchObject({
			dryRun: true,
			type: 'image',
			request: { to: CUSTOMER, type: 'image', image: { id: '0' } },
			upload: { mimeType: 'image/png' },
		});
		expect(await uploads()).toHaveLength(0);
		expect(await sentRequests()).toBe(0);
	});

	it('shows sending / sent / failed counts as the node status', async () => {
		const statuses: string[] = [];
		const { out, caught } = await loadSend();
		helper
			.getNode('send')
			.on('call:status', (call) => statuses.push(String((call.args[0] as { text?: string }).text)));
		helper.getNode('send').receive({ payload: { to: CUSTOMER, text: 'Hello' } });
		await out.waitFor(1);
		helper.getNode('send').receive({ payload: { to: CUSTOMER, buttons: [] } });
		await caught.waitFor(1);
		expect(statuses).toContain('sending 1 · sent 0');
		expect(statuses[statuses.length - 1]).toBe('sent 1 · failed 1');
	});
});
