/**
 * The webhook outbox, for every adapter that batches. A receiver answers Meta 200 as soon as a delivery is recorded,
 * then may hold its events for a batch window before they reach a workflow: a process that dies in between would
 * lose events Meta no longer retries. So ingest keeps each event to be emitted in the trigger's outbox, in the same
 * unit of work that records it (ingest.ts `outbox`); the adapter removes the entries once it has handed them to an
 * execution, and claims entries left behind by a dead process to emit them.
 *
 * Delivery is at least once at one boundary: entries are removed OUTBOX_DONE_DELAY_MS after the adapter handed them
 * over (n8n persists the execution after the webhook returns, and gives the node no signal when it has), so a crash
 * within that delay emits them again after restart, marked `recovered` with their `eventId`. Removing them earlier
 * would lose them instead if the crash came before n8n saved the execution.
 */
import { z } from 'zod';
import type { IngestedEvent } from '../ingest';
import type { JourneyStateStore } from '../state';

/** How long after an emission was handed over its entries are removed (n8n saves the execution meanwhile). */
export const OUTBOX_DONE_DELAY_MS = 2_000;
/** Beyond the batch window and the done delay: how long a live process may take to emit before others claim. */
export const OUTBOX_GRACE_MS = 30_000;
/** A process looks for entries left behind at most this often per trigger (and on its first request). */
export const OUTBOX_DRAIN_INTERVAL_MS = 10_000;
/** At most this many left-behind events join one request's emission. */
export const OUTBOX_CLAIM_LIMIT = 1_000;

/** Entries recorded (or last claimed) before this time belong to no live batch: a process died holding them. */
export function outboxCutoff(now: number, windowMs: number): number {
	return now - windowMs - OUTBOX_DONE_DELAY_MS - OUTBOX_GRACE_MS;
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
	constructor(private readonly intervalMs = OUTBOX_DRAIN_INTERVAL_MS) {}

	due(trigger: string, now = Date.now()): boolean {
		const last = this.last.get(trigger);
		if (last !== undefined && now - last < this.intervalMs) return false;
		this.last.set(trigger, now);
		return true;
	}
}

/**
 * The events were handed to an execution: their entries go after OUTBOX_DONE_DELAY_MS. A failure to remove them
 * only means they are emitted again, recovered, after the grace period; it is reported to `onError`, not thrown.
 */
export function outboxEmitted(
	store: () => Promise<JourneyStateStore>,
	trigger: string,
	events: ReadonlyArray<{ eventId?: unknown }>,
	onError: (error: unknown) => void = () => undefined,
	delayMs = OUTBOX_DONE_DELAY_MS,
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
