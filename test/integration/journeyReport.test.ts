/**
 * WhatsApp Journey Report, run in-process over an embedded store the journeys wrote to: one item per journey step
 * with its counts, the chart as an image/png binary n8n shows in the output pane, the HTML page, the journey list the
 * editor offers, and a bad period on the error output with Continue on Fail.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PNG } from 'pngjs';

import { createStateStore } from '../../core';
import { WhatsAppJourneyReport } from '../../nodes/WhatsAppJourneyReport/WhatsAppJourneyReport.node';
import { searchJourneys } from '../../nodes/WhatsAppJourneyReport/methods/listSearch';
import { loadOptionsContext, runNode } from '../../harness/n8n-context';
import type { Credentials } from '../../harness/n8n-context';

const PHONE_NUMBER_ID = '106540352242922';
const node = new WhatsAppJourneyReport();
const storePath = join(mkdtempSync(join(tmpdir(), 'wj-report-')), 'store.sqlite');
const credentials: Credentials = {
	metaWhatsAppCloudApi: {
		accessToken: 'unused-token',
		phoneNumberId: PHONE_NUMBER_ID,
		appSecret: 'unused-secret',
		baseUrl: 'http://127.0.0.1:9',
	},
};
const store = { stateStore: 'embedded', storePath };

beforeAll(async () => {
	const s = createStateStore({ backend: 'embedded', path: storePath });
	const at = new Date();
	await s.recordSends(
		['A', 'B', 'C'].map((id) => ({
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: `wamid.${id}`,
			journey: 'spring-sale',
			step: id === 'C' ? 'reminder-2' : 'reminder-1',
			at,
		})),
	);
	await s.applyEventBatch([
		{
			writes: [
				{
					kind: 'journeyStatus',
					phoneNumberId: PHONE_NUMBER_ID,
					messageId: 'wamid.A',
					status: 'failed',
					at,
					journey: 'spring-sale',
					step: 'reminder-1',
					errorCode: 131026,
				},
				{ kind: 'journeyReply', phoneNumberId: PHONE_NUMBER_ID, messageId: 'wamid.B', at },
			],
		},
	]);
	await s.close();
});

describe('WhatsApp Journey Report (in-process)', () => {
	it('outputs one item per journey step with its counts, the PNG chart and the HTML page as binaries', async () => {
		const { output } = await runNode(node, {
			parameters: {
				...store,
				journey: { __rl: true, mode: 'list', value: '' },
				period: 'today',
				options: {},
			},
			credentials,
		});
		expect(output).toHaveLength(1);
		const [first, second] = output[0];
		expect(output[0]).toHaveLength(2);
		expect(first.json).toMatchObject({
			journey: 'spring-sale',
			step: 'reminder-1',
			sent: 2,
			failed: 1,
			replied: 1,
			failures: [expect.objectContaining({ code: 131026, count: 1 })],
		});
		expect(second.json).toMatchObject({ step: 'reminder-2', sent: 1 });
		expect(first.pairedItem).toEqual({ item: 0 });
		expect(first.binary?.chart).toMatchObject({ mimeType: 'image/png' });
		expect(first.binary?.chart.fileName).toMatch(/^spring-sale-reminder-1-.*\.png$/);
		const png = PNG.sync.read(Buffer.from(first.binary!.chart.data, 'base64'));
		expect(png.width).toBe(760);
		expect(first.binary?.report).toMatchObject({ mimeType: 'text/html' });
	});

	it('reports only the chosen steps, without binaries when Chart and HTML are off', async () => {
		const { output } = await runNode(node, {
			parameters: {
				...store,
				journey: { __rl: true, mode: 'name', value: 'spring-sale' },
				steps: 'reminder-2',
				period: 'last7Days',
				options: { chart: false, html: false },
			},
			credentials,
		});
		expect(output[0].map((i) => i.json.step)).toEqual(['reminder-2']);
		expect(output[0][0].binary).toBeUndefined();
	});

	it('lists the journeys of the store in the editor, and All Journeys first', async () => {
		const ctx = loadOptionsContext(node, store, credentials);
		const list = await searchJourneys.call(ctx);
		expect(list.results).toEqual([
			{ name: 'All Journeys', value: '' },
			{ name: 'spring-sale', value: 'spring-sale' },
		]);
	});

	it('sends an item with a bad custom period to the error output under Continue on Fail', async () => {
		const { output } = await runNode(node, {
			parameters: { ...store, period: 'custom', from: 'soon', options: {} },
			credentials,
			continueOnFail: true,
		});
		expect(output[0]).toEqual([
			{ json: { error: expect.stringMatching(/From must be a date/) }, pairedItem: { item: 0 } },
		]);
	});
});
