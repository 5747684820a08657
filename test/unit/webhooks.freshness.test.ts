/**
 * Webhook times at the point they become store writes: a replay older than Meta's retry period is acknowledged but
 * not emitted, and a timestamp far ahead of its arrival cannot hold a customer's window open (or unreadable) for ever.
 * Meta retries a failed delivery for up to 7 days
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks): 8 days is that and a day's margin.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_EVENT_KINDS, ingestWebhookEvents, type IngestOptions } from '../../core/ingest';
import { MemoryStateStore } from '../../core/state';
import { normalizeWebhook, type WebhookEvent } from '../../core/webhooks';

const DAY = 86_400_000;
const PN = '106540352242922';
const WA = '16505551234';

/** A fixture (Meta's documented shape) with every `timestamp` set to `unixSeconds`. */
function events(name: string, unixSeconds: number | string): WebhookEvent[] {
	const text = readFileSync(join(__dirname, '../fixtures/webhooks', name), 'utf8').replace(
		/"timestamp": ?"?\d+"?/g,
		`"timestamp": "${unixSeconds}"`,
	);
	return normalizeWebhook(JSON.parse(text));
}

const options: IngestOptions = {
	deduplicate: true,
	lateStatuses: 'flag',
	recordWindows: true,
	recordOptOuts: true,
	stopKeywords: ['stop'],
	emit: new Set(ALL_EVENT_KINDS),
	consumer: 'wf:node',
};

describe('webhook freshness', () => {
	const NOW = Date.UTC(2026, 2, 2, 12, 0, 0);
	const seconds = (ms: number) => Math.floor(ms / 1000);
	let store: MemoryStateStore;

	beforeEach(() => {
		jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate'] });
		store = new MemoryStateStore();
	});
	afterEach(() => jest.useRealTimers());

	it('acknowledges but neither emits nor records a status, a message or an opt-out stamped more than 8 days ago', async () => {
		const old = seconds(NOW - 8 * DAY - 1000);
		const all = [
			...events('statuses-read.json', old),
			...events('messages-text.json', old),
			...events('user-preferences-stop.json', old),
		];
		expect(all).toHaveLength(3);
		const result = await ingestWebhookEvents(all, store, options);
		expect(result.events).toEqual([]);
		expect(result.stale).toBe(3);
		expect(result.duplicates).toBe(0);
		expect((await store.getWindow({ phoneNumberId: PN, waId: WA })).lastInboundAt).toBeUndefined();
		expect(await store.isOptedOut({ phoneNumberId: PN, waId: WA })).toBe(false);
	});

	it('still emits an event stamped 7 days and 23 hours ago (Meta may still be retrying it)', async () => {
		const late = seconds(NOW - 8 * DAY + 3_600_000);
		const result = await ingestWebhookEvents(
			[...events('statuses-read.json', late), ...events('messages-text.json', late)],
			store,
			options,
		);
		expect(result.events.map((e) => e.kind)).toEqual(['status', 'message']);
		expect(result.stale).toBe(0);
	});

	it('never emits a status or a message twice, however long after the first delivery the replay comes', async () => {
		const t = seconds(NOW);
		const delivery = () => [...events('statuses-read.json', t), ...events('messages-text.json', t)];
		expect((await ingestWebhookEvents(delivery(), store, options)).events).toHaveLength(2);
		for (const later of [DAY, 7 * DAY, 8 * DAY - 1000, 8 * DAY, 9 * DAY, 40 * DAY]) {
			jest.setSystemTime(NOW + later);
			await store.prune(new Date(NOW + later));
			const replay = await ingestWebhookEvents(delivery(), store, options);
			expect({ later, emitted: replay.events.length }).toEqual({ later, emitted: 0 });
		}
	});

	it('opens the window from the arrival of a message stamped far in the future, not for ever', async () => {
		// The largest time the webhook schema accepts (it must fit in a Date): 24 h later no longer does.
		const result = await ingestWebhookEvents(
			events('messages-text.json', '8639999999999'),
			store,
			options,
		);
		expect(result.events).toHaveLength(1);
		expect(await store.getWindow({ phoneNumberId: PN, waId: WA })).toMatchObject({
			open: true,
			lastInboundAt: new Date(NOW).toISOString(),
			closesAt: new Date(NOW + DAY).toISOString(),
		});
		jest.setSystemTime(NOW + DAY);
		expect((await store.getWindow({ phoneNumberId: PN, waId: WA })).open).toBe(false);
	});
});
