/**
 * The Receiver's outbox (core/journeys/webhookOutbox.ts ReceiverOutbox): entries stay until a batch's execution has
 * finished, and what a dead process left is returned at the next start, marked recovered, grouped under the key its
 * batch was handed over with (so n8n can refuse an execution it already created) or under new keys.
 */
import { MemoryStateStore, ReceiverOutbox, handOverTrigger } from '../../core';
import type { IngestedEvent, JourneyStateStore } from '../../core';

const TRIGGER = 'wf-recv:r1';

function event(n: number): IngestedEvent {
	return {
		kind: 'status',
		eventId: `wamid.${n}:delivered`,
		messageId: `wamid.${n}`,
		status: 'delivered',
		phoneNumberId: '106540352242922',
	} as unknown as IngestedEvent;
}

/** Records the events' outbox entries as ingest does (an entry per event, in one batch). */
async function acknowledge(store: JourneyStateStore, events: IngestedEvent[]): Promise<void> {
	await store.applyEventBatch(
		events.map((e) => ({
			writes: [],
			outbox: { trigger: TRIGGER, id: e.eventId, entry: JSON.stringify(e) },
		})),
	);
}

let seq = 0;
const keys = () => `key-${++seq}`;

/** A process: its own outbox object on a shared store (the held registry is per module, so ids differ per test). */
function processOn(store: JourneyStateStore, reuseKeys: boolean): ReceiverOutbox {
	return new ReceiverOutbox(async () => store, TRIGGER, reuseKeys, keys);
}

describe('ReceiverOutbox', () => {
	it('keeps entries until done, then removes them and the hand-over record', async () => {
		const store = new MemoryStateStore();
		const events = [event(1), event(2)];
		await acknowledge(store, events);
		const outbox = processOn(store, true);
		const key = await outbox.handOver(events);
		const later = Date.now() + 1;
		// Held by this process: a start now (a re-activated trigger) does not claim them.
		expect(await processOn(store, true).leftBehind(later, 100)).toEqual([]);
		await outbox.done(key, events);
		expect(await store.claimOutbox({ trigger: TRIGGER, olderThan: later + 1 })).toEqual([]);
		expect(
			await store.claimOutbox({ trigger: handOverTrigger(TRIGGER), olderThan: later + 1 }),
		).toEqual([]);
	});

	it('returns what a dead process handed over under its batch key (queue mode), the rest under new keys, recovered', async () => {
		const store = new MemoryStateStore();
		const handed = [event(11), event(12)];
		const buffered = [event(13), event(14), event(15)];
		await acknowledge(store, [...handed, ...buffered]);
		// The dead process: handed a batch over, never saw it finish; the others were still in its window.
		const deadKey = 'dead-batch';
		await store.applyEventBatch([
			{
				writes: [],
				outbox: {
					trigger: handOverTrigger(TRIGGER),
					id: deadKey,
					entry: JSON.stringify(handed.map((e) => e.eventId)),
				},
			},
		]);
		const startedAt = Date.now() + 1;
		const batches = await processOn(store, true).leftBehind(startedAt, 2, startedAt + 1);
		expect(batches[0]).toEqual({
			key: deadKey,
			events: handed.map((e) => ({ ...e, recovered: true })),
		});
		// The buffered ones in new batches of at most Max Items, each under a key of its own.
		expect(batches.slice(1).map((b) => b.events.map((e) => e.eventId))).toEqual([
			[buffered[0].eventId, buffered[1].eventId],
			[buffered[2].eventId],
		]);
		expect(new Set(batches.map((b) => b.key)).size).toBe(3);
		// Claimed: a second start at the same moment gets nothing.
		expect(await processOn(store, true).leftBehind(startedAt, 2, startedAt + 1)).toEqual([]);
	});

	it('gives a recovered batch a new key when executions died with the process (regular mode)', async () => {
		const store = new MemoryStateStore();
		const handed = [event(21)];
		await acknowledge(store, handed);
		await store.applyEventBatch([
			{
				writes: [],
				outbox: {
					trigger: handOverTrigger(TRIGGER),
					id: 'crashed-batch',
					entry: JSON.stringify([handed[0].eventId]),
				},
			},
		]);
		const startedAt = Date.now() + 1;
		const [batch, ...rest] = await processOn(store, false).leftBehind(
			startedAt,
			100,
			startedAt + 1,
		);
		expect(rest).toEqual([]);
		expect(batch.key).not.toBe('crashed-batch');
		expect(batch.events).toEqual([{ ...handed[0], recovered: true }]);
		// The old record is gone with it: it names no batch to re-create any more.
		expect(
			await store.claimOutbox({ trigger: handOverTrigger(TRIGGER), olderThan: startedAt + 10 }),
		).toEqual([]);
	});

	it('leaves entries recorded after the start to the live receiver', async () => {
		const store = new MemoryStateStore();
		const startedAt = Date.now() - 1;
		await acknowledge(store, [event(31)]);
		expect(await processOn(store, true).leftBehind(startedAt, 100)).toEqual([]);
	});
});
