/**
 * `whatsapp-journey-report` in node-red-node-test-helper's runtime: the sends of a send node with a journey are in
 * the report of the same config's store, one message per journey step, with the chart as a PNG Buffer (what a
 * dashboard's image widget or an email node takes) and, when chosen, the HTML page.
 */
import { PNG } from 'pngjs';

import { createStateStore } from '../../core';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	CREDENTIALS,
	Collector,
	control,
	flow,
	helper,
	load,
	newStorePath,
	PHONE_NUMBER_ID,
} from './harness';

let sandbox: Sandbox;

beforeAll(async () => {
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: CREDENTIALS.cfg.appSecret,
		mps: 0,
		pairRateMs: 0,
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

const VARIABLES = {
	header_text_1: '#A-1042',
	body_1: 'Ana',
	body_2: '#A-1042',
	body_3: '12 March',
	button_0_url: 'A-1042',
};

describe('whatsapp-journey-report in Node-RED', () => {
	it('reports the sends of a journey step made by the send node, with the chart as a PNG Buffer', async () => {
		await load(
			flow(sandbox, newStorePath(), [
				{
					id: 'send',
					type: 'whatsapp-send-template',
					server: 'cfg',
					templateName: 'order_confirmation',
					templateLanguage: 'en_US',
					pairIntervalSeconds: 0,
					journey: 'orders',
					step: 'confirm',
					wires: [['sent']],
				},
				{ id: 'sent', type: 'helper' },
				{
					id: 'report',
					type: 'whatsapp-journey-report',
					server: 'cfg',
					period: 'today',
					html: true,
					wires: [['out']],
				},
				{ id: 'out', type: 'helper' },
			]),
		);
		const sent = new Collector('sent');
		const out = new Collector('out');
		for (const to of ['+44 7911 123456', '+44 7911 123457'])
			helper.getNode('send').receive({ payload: { to, variables: VARIABLES } });
		await sent.waitFor(2);
		helper.getNode('report').receive({ payload: 'go' });
		const [msg] = await out.waitFor(1);
		expect(msg.payload).toMatchObject({
			journey: 'orders',
			step: 'confirm',
			sent: 2,
			delivered: 0,
		});
		expect(Buffer.isBuffer(msg.chart)).toBe(true);
		const png = PNG.sync.read(msg.chart as Buffer);
		expect(png.width).toBe(760);
		expect(msg.html).toContain('data:image/png;base64,');
	});

	it('sends one message per journey step, and takes msg.journeys over the node setting', async () => {
		const storePath = newStorePath();
		const store = createStateStore({ backend: 'embedded', path: storePath });
		const at = new Date();
		await store.recordSends([
			{
				phoneNumberId: PHONE_NUMBER_ID,
				messageId: 'wamid.1',
				journey: 'welcome',
				step: 'day-1',
				at,
			},
			{
				phoneNumberId: PHONE_NUMBER_ID,
				messageId: 'wamid.2',
				journey: 'welcome',
				step: 'day-2',
				at,
			},
			{
				phoneNumberId: PHONE_NUMBER_ID,
				messageId: 'wamid.3',
				journey: 'orders',
				step: 'confirm',
				at,
			},
		]);
		await store.applyEventBatch([
			{
				writes: [
					{
						kind: 'journeyStatus',
						phoneNumberId: PHONE_NUMBER_ID,
						messageId: 'wamid.1',
						status: 'read',
						at,
						journey: 'welcome',
						step: 'day-1',
					},
				],
			},
		]);
		await store.close();
		await load(
			flow(sandbox, storePath, [
				{
					id: 'report',
					type: 'whatsapp-journey-report',
					server: 'cfg',
					journeys: 'orders',
					chart: false,
					wires: [['out']],
				},
				{ id: 'out', type: 'helper' },
			]),
		);
		const out = new Collector('out');
		helper.getNode('report').receive({ journeys: ['welcome'] });
		const messages = await out.waitFor(2);
		expect(messages.map((m) => m.payload)).toEqual([
			expect.objectContaining({
				journey: 'welcome',
				step: 'day-1',
				sent: 1,
				delivered: 1,
				read: 1,
			}),
			expect.objectContaining({ journey: 'welcome', step: 'day-2', sent: 1, delivered: 0 }),
		]);
		expect(messages[0].chart).toBeUndefined();
	});

	it('sends a bad period to Catch nodes with the field named', async () => {
		await load(
			flow(sandbox, newStorePath(), [
				{ id: 'report', type: 'whatsapp-journey-report', server: 'cfg', wires: [['out']] },
				{ id: 'out', type: 'helper' },
			]),
		);
		const caught = new Collector('caught');
		helper.getNode('report').receive({ period: { from: 'last week' } });
		const [msg] = await caught.waitFor(1);
		expect((msg.error as { message: string }).message).toMatch(/From must be a date/);
	});
});
