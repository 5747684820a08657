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
 * and runs the execution meanwhile). graceMs: beyond the batch window and that delay, how long a live process may
 * take to emit before another claims its entries. drainIntervalMs: how often a process looks for entries left
 * behind, per trigger (and on its first request). Mutable for tests only.
 */
export const OUTBOX_TIMING = { doneDelayMs: 30_000, graceMs: 30_000, drainIntervalMs: 10_000 };
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
	const entries = await store.claimOutbox({
		trigger,
		olderThan: outboxCutoff(now, windowMs),
		now,
		limit: OUTBOX_CLAIM_LIMIT,
	});
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
	return events;
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
