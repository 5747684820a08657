/**
 * A customer's picture in Node-RED: the sandbox (as Meta) delivers the inbound image webhook to
 * `whatsapp-webhook-status`, whose "Attach media" puts the file on the msg as a Buffer; `whatsapp-inbound-message`
 * downloads media by id into msg.payload and marks messages read with the typing indicator. Errors (an unknown id:
 * Meta's code 100) reach Catch nodes with msg.whatsappError.
 */
import { Buffer } from 'node:buffer';

import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import type { NodeMessage } from '../../node-red/types';
import {
	APP_SECRET,
	CREDENTIALS,
	Collector,
	NodeHttpServer,
	control,
	flow,
	helper,
	load,
	newStorePath,
} from './harness';
import { ONE_PIXEL_PNG as PNG } from '../fixtures/media';

const PATH = '/wa/media-hook';
const CUSTOMER = '+447911123456';

let sandbox: Sandbox;
const server = new NodeHttpServer();

interface Inbound {
	id: string;
	message: { image?: { id: string; sha256: string } };
}
const customerSendsPhoto = (): Promise<Inbound> =>
	control<Inbound>(sandbox, 'inbound', {
		from: CUSTOMER,
		image: { data: PNG.toString('base64'), mime_type: 'image/png', caption: 'the damage' },
	}) as unknown as Promise<Inbound>;

beforeAll(async () => {
	await server.start();
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: APP_SECRET,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
		callbackUrl: `${server.url}${PATH}`,
	});
});
afterAll(async () => {
	await sandbox.close();
	await server.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

describe('inbound media and read receipts in Node-RED', () => {
	it('the webhook node attaches the photo as a Buffer; the inbound node downloads it again and marks it read with typing', async () => {
		const RED = await load(
			flow(sandbox, newStorePath(), [
				{
					id: 'hook',
					type: 'whatsapp-webhook-status',
					server: 'cfg',
					url: PATH,
					events: ['message'],
					attachMedia: true,
					wires: [['events', 'download']],
				},
				{ id: 'events', type: 'helper' },
				{
					id: 'download',
					type: 'whatsapp-inbound-message',
					server: 'cfg',
					operation: 'downloadMedia',
					wires: [['files', 'read']],
				},
				{ id: 'files', type: 'helper' },
				{
					id: 'read',
					type: 'whatsapp-inbound-message',
					server: 'cfg',
					operation: 'markAsRead',
					messageId: 'whatsappEvent.messageId',
					messageIdType: 'msg',
					typingIndicator: true,
					wires: [['done']],
				},
				{ id: 'done', type: 'helper' },
			]),
		);
		server.serve(RED);
		const events = new Collector('events');
		const files = new Collector('files');
		const done = new Collector('done');

		const sent = await customerSendsPhoto();
		const [event] = await events.waitFor(1);
		const media = event.media as {
			data: Buffer;
			mimeType: string;
			sha256: string;
			mediaId: string;
		};
		expect(Buffer.isBuffer(media.data)).toBe(true);
		expect(media.data.equals(PNG)).toBe(true);
		expect(media).toMatchObject({
			mimeType: 'image/png',
			mediaId: sent.message.image?.id,
			sha256: sent.message.image?.sha256,
		});
		expect((event.payload as { messageId: string }).messageId).toBe(sent.id);

		const [file] = await files.waitFor(1);
		expect(Buffer.isBuffer(file.payload) && (file.payload as Buffer).equals(PNG)).toBe(true);
		expect(file.filename).toBe(`${sent.message.image?.id}.png`);

		const [read] = await done.waitFor(1);
		expect(read.whatsappRead).toMatchObject({
			messageId: sent.id,
			status: 'read',
			typingIndicator: true,
		});
		const inbound = await control<{ data: Array<Record<string, unknown>> }>(sandbox, 'inbound');
		expect(inbound.data.find((r) => r.id === sent.id)).toMatchObject({ read: true, typing: true });
	});

	it("sends an unknown media id to Catch nodes with Meta's code 100", async () => {
		await load(
			flow(sandbox, newStorePath(), [
				{
					id: 'download',
					type: 'whatsapp-inbound-message',
					server: 'cfg',
					operation: 'downloadMedia',
					wires: [['files']],
				},
				{ id: 'files', type: 'helper' },
			]),
		);
		const caught = new Collector('caught');
		helper
			.getNode('download')
			.receive({ payload: { media: { id: '999999999999999' } } } as NodeMessage);
		const [msg] = await caught.waitFor(1);
		expect(msg.whatsappError).toMatchObject({ code: 100 });
	});
});
