/**
 * Batching. n8n starts and saves an execution per webhook call that returns workflowData, at ~70 ms of its CPU
 * each, while Meta usually sends one status per POST: one execution per POST caps a workflow far below Meta's
 * rates. So the first POST that finds no open batch (the leader) answers Meta itself, keeps the batch open for the
 * window, and then returns every event that joined it; later POSTs of the same trigger node in this process
 * verify and ingest their events as before, append them, answer 200 and start nothing. Batches live in this
 * process's memory: in queue mode each main/webhook process batches what it receives.
 */

export const DEFAULT_BATCH_WINDOW_MS = 200;
export const MAX_BATCH_WINDOW_MS = 10_000;
export const DEFAULT_MAX_ITEMS = 1000;
export const MAX_MAX_ITEMS = 10_000;

export interface BatchLimits {
	/** How long a leader waits for more; 0 means one execution per POST. */
	windowMs: number;
	/** A batch that reaches this many events emits at once. */
	maxItems: number;
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
	const n = typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : fallback;
	return Math.min(max, Math.max(min, n));
}

/** The limits from the node's options as saved (any value; out of range is clamped, missing is the default). */
export function batchLimits(options: {
	batchWindow?: unknown;
	maxItemsPerExecution?: unknown;
}): BatchLimits {
	return {
		windowMs: clampInt(options.batchWindow, DEFAULT_BATCH_WINDOW_MS, 0, MAX_BATCH_WINDOW_MS),
		maxItems: clampInt(options.maxItemsPerExecution, DEFAULT_MAX_ITEMS, 1, MAX_MAX_ITEMS),
	};
}

/**
 * Where a POST's events went: into the open batch (`joined`: answer and start nothing), into an execution of their
 * own (`alone`), or into a new batch this POST leads (`leader`: answer Meta now, emit `emitted` when it resolves).
 */
export type BatchPlacement<T> =
	{ role: 'joined' } | { role: 'alone' } | { role: 'leader'; emitted: Promise<T[]> };

interface OpenBatch<T> {
	events: T[];
	close(): void;
}

/** At most one open batch per key (trigger node); each holds at most its limit of events (or one larger POST alone). */
export class Batcher<T> {
	private readonly open = new Map<string, OpenBatch<T>>();

	/** Places a POST's events. Synchronous, so no batch can close between the check and the join. */
	add(key: string, events: T[], limits: BatchLimits): BatchPlacement<T> {
		if (limits.windowMs === 0) return { role: 'alone' };
		const open = this.open.get(key);
		if (open && open.events.length + events.length <= limits.maxItems) {
			open.events.push(...events);
			if (open.events.length >= limits.maxItems) open.close();
			return { role: 'joined' };
		}
		// This POST does not fit: the open batch emits now, and this POST leads the next one.
		open?.close();
		if (events.length >= limits.maxItems) return { role: 'alone' };
		return { role: 'leader', emitted: this.openBatch(key, events, limits.windowMs) };
	}

	/** Emits the open batch of `key` now (the trigger is deactivated), rather than at the end of its window. */
	close(key: string): void {
		this.open.get(key)?.close();
	}

	/** Opens a batch for `key`; the promise resolves with its events when the window ends, it fills or is closed. */
	private openBatch(key: string, events: T[], windowMs: number): Promise<T[]> {
		let resolve!: (events: T[]) => void;
		const emitted = new Promise<T[]>((r) => (resolve = r));
		let closed = false;
		const batch: OpenBatch<T> = {
			events: [...events],
			close: () => {
				if (closed) return;
				closed = true;
				clearTimeout(timer);
				// Removed synchronously, so no POST can join a batch its leader has already returned.
				if (this.open.get(key) === batch) this.open.delete(key);
				resolve(batch.events);
			},
		};
		// Not unref'd: the events it holds were acknowledged to Meta, so the process should live until they are emitted.
		const timer = setTimeout(() => batch.close(), windowMs);
		this.open.set(key, batch);
		return emitted;
	}
}
