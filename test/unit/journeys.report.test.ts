/**
 * The journey report from Meta's webhook payloads (test/fixtures/webhooks, Meta's documented shapes) through the
 * trigger's ingestion into the store, then buildJourneyReport: each stage counted once per message under Meta's
 * duplicates, reordering and a failure after sent; replies by their context id; billable by pricing and market.
 * Meta: statuses may arrive out of order and be retried for up to 7 days
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples#message-status-updates,
 * https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	ALL_EVENT_KINDS,
	buildJourneyReport,
	describeMetaError,
	ingestWebhookEvents,
	MemoryStateStore,
	normalizeWebhook,
	parseRateCard,
	reportPeriod,
	type IngestOptions,
	type WebhookEvent,
} from '../../core';

const PN = '106540352242922';
/** The message messages-button-quick-reply.json replies to (its context.id). */
const REPLIED_TO = 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA';
const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const seconds = (ms: number) => String(Math.floor(ms / 1000));

/** A fixture with every timestamp moved to `atMs` (so it is fresh), parsed as the trigger parses it. */
function events(name: string, atMs: number): WebhookEvent[] {
	const text = readFileSync(join(__dirname, '../fixtures/webhooks', name), 'utf8').replace(
		/"timestamp": ?"?\d+"?/g,
		`"timestamp": "${seconds(atMs)}"`,
	);
	return normalizeWebhook(JSON.parse(text));
}

const options = (consumer: string): IngestOptions => ({
	deduplicate: true,
	lateStatuses: 'flag',
	recordWindows: true,
	recordOptOuts: false,
	stopKeywords: [],
	emit: new Set(ALL_EVENT_KINDS),
	consumer,
});

const period = { from: '2026-12-01', to: '2026-12-03' };

describe('journey report from webhook statuses', () => {
	let store: MemoryStateStore;
	beforeEach(() => {
		jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate'] });
		store = new MemoryStateStore();
	});
	afterEach(() => jest.useRealTimers());

	const ingest = (list: WebhookEvent[], consumer = 'wf1:trigger') =>
		ingestWebhookEvents(list, store, options(consumer));

	// statuses-sent / -delivered-v24 / -read are one message of journey spring-sale, step reminder-1, to +1 646….
	it('counts a message once per stage under duplicates, reordering and two triggers, with its billable market', async () => {
		const t = NOW - 3_600_000;
		// Read arrives first, then delivered (late), then sent; Meta retries delivered; a second trigger sees it all too.
		for (const consumer of ['wf1:trigger', 'wf2:trigger']) {
			await ingest(events('statuses-read.json', t + 2000), consumer);
			await ingest(events('statuses-delivered-v24.json', t + 1000), consumer);
			await ingest(events('statuses-delivered-v24.json', t + 1000), consumer);
			await ingest(events('statuses-sent.json', t), consumer);
		}
		const [report] = await buildJourneyReport(store, {
			phoneNumberId: PN,
			period,
			now: new Date(NOW),
		});
		expect(report).toMatchObject({
			journey: 'spring-sale',
			step: 'reminder-1',
			sent: 1,
			delivered: 1,
			read: 1,
			failed: 0,
			replied: 0,
			rates: { delivery: 1, read: 1, reply: 0, click: 0 },
		});
		// Pricing from the sent and delivered statuses (PMP, marketing, regular); +1 646 is a US number.
		expect(report.billable).toEqual({
			total: 1,
			byCategory: [{ category: 'marketing', type: 'regular', count: 1 }],
			byMarket: [{ market: 'US', count: 1 }],
			lines: [{ category: 'marketing', type: 'regular', market: 'US', count: 1 }],
		});
	});

	it('counts a failure after sent, with the catalogue’s meaning and action for its code, and ignores a late delivered', async () => {
		const t = NOW - 3_600_000;
		const sent = events('statuses-sent.json', t).map((e) => ({
			...e,
			messageId: 'wamid.FAILED',
			eventId: 'status:wamid.FAILED:sent',
			tracking: { journey: 'spring-sale', step: 'offer' },
		}));
		const failed = events('statuses-failed.json', t + 1000).map((e) => ({
			...e,
			messageId: 'wamid.FAILED',
			eventId: 'status:wamid.FAILED:failed',
		}));
		const lateDelivered = events('statuses-delivered-v24.json', t + 2000).map((e) => ({
			...e,
			messageId: 'wamid.FAILED',
			eventId: 'status:wamid.FAILED:delivered',
			tracking: { journey: 'spring-sale', step: 'offer' },
		}));
		await ingest([...sent, ...failed, ...failed, ...lateDelivered]);
		const [offer] = await buildJourneyReport(store, {
			phoneNumberId: PN,
			period,
			steps: ['offer'],
		});
		const info = describeMetaError(131050);
		expect(offer).toMatchObject({ step: 'offer', sent: 1, failed: 1, delivered: 0 });
		expect(offer.failures).toEqual([
			{ code: 131050, count: 1, title: info.title, meaning: info.meaning, action: info.action },
		]);
	});

	it('counts a quick-reply button tap for the step of the message it answers, once', async () => {
		await store.recordSends([
			{
				phoneNumberId: PN,
				messageId: REPLIED_TO,
				journey: 'welcome',
				step: 'day-1',
				at: new Date(NOW - 7_200_000),
			},
		]);
		const tap = events('messages-button-quick-reply.json', NOW - 3_600_000);
		await ingest(tap);
		await ingest(tap, 'wf2:trigger');
		const [report] = await buildJourneyReport(store, {
			phoneNumberId: PN,
			journeys: ['welcome'],
			period,
		});
		expect(report).toMatchObject({ journey: 'welcome', step: 'day-1', sent: 1, replied: 1 });
		expect(report.rates.reply).toBeNull(); // nothing delivered yet: no rate rather than a division by zero
	});

	it('ignores statuses of messages without a journey in their tracking data', async () => {
		const untracked = events('statuses-read.json', NOW - 1000).map((e) => ({
			...e,
			tracking: undefined,
		}));
		await ingest(untracked);
		expect(await buildJourneyReport(store, { phoneNumberId: PN, period })).toEqual([]);
	});
});

describe('rate card and cost estimate', () => {
	// The columns of Meta's per-message rate card CSV (https://developers.facebook.com/docs/whatsapp/pricing#rate-cards).
	const CSV = [
		'WhatsApp Business Platform rate card,,,,,,',
		'Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service',
		'North America,USD,$0.0250,$0.0040,$0.0135,n/a,$0.00',
		'Germany,USD,$0.1365,$0.0550,$0.0768,n/a,$0.00',
		'Other,USD,$0.0604,$0.0077,$0.0280,n/a,$0.00',
	].join('\n');

	it('reads Meta’s CSV and prices billable messages by market and category (US under North America, a country by name, the rest as Other)', async () => {
		const card = parseRateCard(CSV);
		expect(card.currency).toBe('USD');
		const store = new MemoryStateStore();
		const at = new Date(Date.UTC(2026, 11, 2, 10));
		const pricing = { billable: true, category: 'marketing', type: 'regular' };
		const writes = [
			['wamid.1', 'US'],
			['wamid.2', 'US'],
			['wamid.3', 'DE'],
			['wamid.4', 'BR'],
		].map(([messageId, market]) => ({
			writes: [
				{
					kind: 'journeyStatus' as const,
					phoneNumberId: PN,
					messageId,
					status: 'sent' as const,
					at,
					journey: 'j',
					pricing,
					market,
				},
			],
		}));
		await store.applyEventBatch(writes);
		const [r] = await buildJourneyReport(store, { phoneNumberId: PN, period, rateCard: card });
		expect(r.estimatedCost).toEqual({
			currency: 'USD',
			total: 0.2469,
			unpriced: 0,
			lines: [
				{ market: 'DE', category: 'marketing', count: 1, rate: 0.1365, cost: 0.1365 },
				{ market: 'BR', category: 'marketing', count: 1, rate: 0.0604, cost: 0.0604 },
				{ market: 'US', category: 'marketing', count: 2, rate: 0.025, cost: 0.05 },
			],
		});
	});

	it('says what is missing in a rate card without a Market header', () => {
		expect(() => parseRateCard('a,b\n1,2')).toThrow(/header row starting with "Market"/);
	});
});

describe('report period', () => {
	const now = new Date(Date.UTC(2026, 11, 3, 23, 30));
	it('ends presets today (UTC) and checks a custom range', () => {
		expect(reportPeriod('last7Days', { now })).toEqual({ from: '2026-11-27', to: '2026-12-03' });
		expect(reportPeriod('today', { now })).toEqual({ from: '2026-12-03', to: '2026-12-03' });
		expect(reportPeriod('custom', { from: '2026-11-01', to: '2026-11-30T10:00:00Z', now })).toEqual(
			{
				from: '2026-11-01',
				to: '2026-11-30',
			},
		);
		expect(() => reportPeriod('custom', { from: '2026-12-02', to: '2026-12-01', now })).toThrow(
			/To must not be before From/,
		);
		expect(() => reportPeriod('custom', { from: 'yesterday', now })).toThrow(/From must be a date/);
	});
});
