/**
 * The webhook outbox, for every adapter that batches. A receiver answers Meta 200 as soon as a delivery is recorded,
 * then may hold its events for a batch window before they reach a workflow: a process that dies in between would
 * lose events Meta no longer retries. So ingest keeps each event to be emitted in the trigger's outbox, in the same
 * unit of work that records it (ingest.ts `outbox`); the adapter removes the entries once it has handed them to an
 * execution, and claims entries left behind by a dead process to emit them.
 *
 * Delivery is at least once at one boundary: entries are removed `doneDelayMs` after the adapter handed them over.
 * n8n creates and runs the execution after the webhook returns and tells the node neither; an execution a crash cuts
 * short is marked "crashed" and not run again. So the entries stay long enough for n8n to create and run a typical
 * execution, and a crash within that delay emits them again after restart, marked `recovered`, with their `eventId`
 * for a sink to drop the repeat. (Measured in real n8n with a 2 s delay: events handed over 2–10 s before kill -9 were
 * in a crashed execution or in none: test/e2e/webhook-outbox.e2e.test.ts.)
 */
import { z } from 'zod';
import type { IngestedEvent } from '../ingest';
import type { JourneyStateStore } from '../state';

/**
 * The outbox's timing. doneDelayMs: how long after an emission was handed over its entries are removed (n8n creates
 * and runs the execution meanwhile). queueDoneDelayMs: the same where executions run in other processes (n8n queue
 * mode): there the execution is safe once n8n has saved and enqueued it, which it does right after the trigger
 * returns; a worker runs it even if this process dies, so a longer delay only re-emits events a worker ran (measured:
 * 150 of 400 twice with 30 s). graceMs: beyond the batch window and that delay, how long a live process may
 * take to emit before another claims its entries. drainIntervalMs: how often a process looks for entries left
 * behind, per trigger (and on its first request). Mutable for tests only.
 */
export const OUTBOX_TIMING = {
	doneDelayMs: 30_000,
	queueDoneDelayMs: 5_000,
	graceMs: 30_000,
	drainIntervalMs: 10_000,
};
/** At most this many left-behind events join one request's emission. */
export const OUTBOX_CLAIM_LIMIT = 1_000;

/** Entries recorded (or last claimed) before this time belong to no live batch: a process died holding them. */
export function outboxCutoff(now: number, windowMs: number): number {
	return now - windowMs - OUTBOX_TIMING.doneDelayMs - OUTBOX_TIMING.graceMs;
}

/** How long after a trigger's activation every entry a dead process left can be claimed. */
export function outboxRecoveryDelay(windowMs: number): number {
	return windowMs + OUTBOX_TIMING.doneDelayMs + OUTBOX_TIMING.graceMs + 1_000;
}

const storedEvent = z.object({ eventId: z.string().min(1), kind: z.string().min(1) }).passthrough();

/**
 * Claims the trigger's left-behind entries (each once across processes, until its lease runs out) and returns them
 * as events to emit, marked `recovered`. An entry that is not an event any more (written by another version) is
 * removed rather than claimed again for ever.
 */
export async function claimLeftBehind(
	store: JourneyStateStore,
	trigger: string,
	windowMs: number,
	now = Date.now(),
): Promise<IngestedEvent[]> {
	return (await claimPage(store, trigger, outboxCutoff(now, windowMs), now)).events;
}

/**
 * One claim of up to OUTBOX_CLAIM_LIMIT entries recorded before `olderThan`, as recovered events. An entry that is not
 * an event any more (written by another version) is removed rather than claimed again for ever.
 */
async function claimPage(
	store: JourneyStateStore,
	trigger: string,
	olderThan: number,
	now: number,
): Promise<{ claimed: number; events: IngestedEvent[] }> {
	const entries = await store.claimOutbox({ trigger, olderThan, now, limit: OUTBOX_CLAIM_LIMIT });
	const events: IngestedEvent[] = [];
	const unreadable: string[] = [];
	for (const entry of entries) {
		let json: unknown;
		try {
			json = JSON.parse(entry.entry);
		} catch {
			json = undefined;
		}
		const parsed = storedEvent.safeParse(json);
		if (parsed.success)
			events.push({ ...(parsed.data as unknown as IngestedEvent), recovered: true });
		else unreadable.push(entry.id);
	}
	if (unreadable.length > 0) await store.outboxDone({ trigger, ids: unreadable });
	return { claimed: entries.length, events };
}

/** Per process: whether it is time to look for a trigger's left-behind entries (its first request, then each interval). */
export class OutboxDrainClock {
	private readonly last = new Map<string, number>();
	due(trigger: string, now = Date.now()): boolean {
		const last = this.last.get(trigger);
		if (last !== undefined && now - last < OUTBOX_TIMING.drainIntervalMs) return false;
		this.last.set(trigger, now);
		return true;
	}
}

/**
 * The events were handed to an execution: their entries go after the done delay. A failure to remove them
 * only means they are emitted again, recovered, after the grace period; it is reported to `onError`, not thrown.
 */
export function outboxEmitted(
	store: () => Promise<JourneyStateStore>,
	trigger: string,
	events: ReadonlyArray<{ eventId?: unknown }>,
	onError: (error: unknown) => void = () => undefined,
	delayMs = OUTBOX_TIMING.doneDelayMs,
): void {
	const ids = [
		...new Set(
			events.flatMap((e) => (typeof e.eventId === 'string' && e.eventId ? [e.eventId] : [])),
		),
	];
	if (ids.length === 0) return;
	// Not unref'd: until it runs, the process still owes the store this removal.
	setTimeout(() => {
		store()
			.then((s) => s.outboxDone({ trigger, ids }))
			.catch(onError);
	}, delayMs);
}

/**
 * A long-running receiver's hand-over records (WhatsApp Webhook Receiver): before a batch is handed to the host, the
 * ids of its events are kept under the batch's key in an outbox of their own, `<trigger>#batches`. The host creates
 * the batch's execution under that key (n8n 2.x refuses a second execution with one deduplication key), so a batch
 * recovered after a crash can be emitted again under the same key: where the host had created the execution already
 * (n8n queue mode: a worker runs it although the main process died) it is not run twice.
 */
export function handOverTrigger(trigger: string): string {
	return `${trigger}#batches`;
}

/** Events to emit together and the key their execution is created under. */
export interface OutboxBatch {
	key: string;
	events: IngestedEvent[];
}

/** Event ids handed over and not yet done, per trigger, in this process (a re-activated trigger must not claim them). */
const handedOver = new Map<string, Map<string, number>>();

function hold(trigger: string, ids: readonly string[], delta: 1 | -1): void {
	const held = handedOver.get(trigger) ?? new Map<string, number>();
	handedOver.set(trigger, held);
	for (const id of ids) {
		const n = (held.get(id) ?? 0) + delta;
		if (n > 0) held.set(id, n);
		else held.delete(id);
	}
	if (held.size === 0) handedOver.delete(trigger);
}

function eventIdsOf(events: ReadonlyArray<{ eventId?: unknown }>): string[] {
	return [
		...new Set(
			events.flatMap((e) => (typeof e.eventId === 'string' && e.eventId ? [e.eventId] : [])),
		),
	];
}

const storedIds = z.array(z.string().min(1));

/**
 * The outbox of a receiver that knows when an execution has finished (a trigger's `emit` with a done promise): entries
 * go when the batch's execution has finished, not after a delay, and what a dead process left is claimed when the
 * receiver starts. `reuseKeys`: a recovered batch keeps its key (the host runs an execution it created even when the
 * process that handed it over died: n8n queue mode); otherwise it gets a new one (the execution died with the process
 * and is only marked crashed: n8n regular mode).
 */
export class ReceiverOutbox {
	constructor(
		private readonly store: () => Promise<JourneyStateStore>,
		private readonly trigger: string,
		private readonly reuseKeys: boolean,
		private readonly newKey: () => string,
	) {}

	/** Records the batch's event ids under a key before it is handed over; resolves with the key. */
	async handOver(events: readonly IngestedEvent[], key = this.newKey()): Promise<string> {
		const ids = eventIdsOf(events);
		hold(this.trigger, ids, 1);
		try {
			await (
				await this.store()
			).applyEventBatch([
				{
					writes: [],
					outbox: { trigger: handOverTrigger(this.trigger), id: key, entry: JSON.stringify(ids) },
				},
			]);
		} catch (error) {
			hold(this.trigger, ids, -1);
			throw error;
		}
		return key;
	}

	/** The batch's execution finished (or the host had one under its key already): its entries go. */
	async done(key: string, events: readonly IngestedEvent[]): Promise<void> {
		const ids = eventIdsOf(events);
		try {
			const store = await this.store();
			await store.outboxDone({ trigger: this.trigger, ids });
			await store.outboxDone({ trigger: handOverTrigger(this.trigger), ids: [key] });
		} finally {
			hold(this.trigger, ids, -1);
		}
	}

	/**
	 * Claims what the trigger's outbox holds from before `startedAt` that no batch of this process holds: events a dead
	 * process acknowledged and never saw finish. Returns them (marked `recovered`) as batches of at most `maxItems`:
	 * those handed over before under their batch's key (or a new one, see `reuseKeys`), the others under new keys.
	 */
	async leftBehind(startedAt: number, maxItems: number, now = Date.now()): Promise<OutboxBatch[]> {
		const store = await this.store();
		const held = handedOver.get(this.trigger) ?? new Map<string, number>();
		const records = await store.claimOutbox({
			trigger: handOverTrigger(this.trigger),
			olderThan: startedAt,
			now,
			limit: OUTBOX_CLAIM_LIMIT,
		});
		const keyOf = new Map<string, string>();
		const staleRecords: string[] = [];
		for (const record of records) {
			let ids: string[] = [];
			try {
				ids = storedIds.parse(JSON.parse(record.entry));
			} catch {
				ids = [];
			}
			if (ids.some((id) => held.has(id))) continue;
			staleRecords.push(record.id);
			for (const id of ids) keyOf.set(id, record.id);
		}
		const events = (await claimBefore(store, this.trigger, startedAt, now)).filter(
			(e) => !held.has(e.eventId),
		);
		const groups = new Map<string, IngestedEvent[]>();
		const loose: IngestedEvent[] = [];
		for (const event of events) {
			const key = this.reuseKeys ? keyOf.get(event.eventId) : undefined;
			if (key) groups.set(key, [...(groups.get(key) ?? []), event]);
			else loose.push(event);
		}
		// Records whose events are all gone (done, or claimed into a new batch) go too; a reused key is recorded anew
		// by handOver when the batch is emitted again.
		if (staleRecords.length > 0)
			await store.outboxDone({ trigger: handOverTrigger(this.trigger), ids: staleRecords });
		const batches: OutboxBatch[] = [...groups].map(([key, list]) => ({ key, events: list }));
		const size = Math.max(1, maxItems);
		for (let i = 0; i < loose.length; i += size)
			batches.push({ key: this.newKey(), events: loose.slice(i, i + size) });
		return batches;
	}
}

/** The trigger's entries recorded before `olderThan`, all of them (in claims of OUTBOX_CLAIM_LIMIT), as recovered events. */
async function claimBefore(
	store: JourneyStateStore,
	trigger: string,
	olderThan: number,
	now: number,
): Promise<IngestedEvent[]> {
	const out: IngestedEvent[] = [];
	for (;;) {
		const page = await claimPage(store, trigger, olderThan, now);
		out.push(...page.events);
		// Claimed entries are re-stamped with `now`, after `olderThan`: the next claim gets the next ones.
		if (page.claimed < OUTBOX_CLAIM_LIMIT || now <= olderThan) return out;
	}
}
