/**
 * Counts the sandbox's pending asynchronous work (scheduled statuses, queued and in-flight
 * webhooks) so in-process callers can await quiescence instead of sleeping, and so `close()`
 * can cancel every timer it still owns.
 */
export class WorkTracker {
	private pending = 0;
	private waiters: Array<() => void> = [];
	private readonly timers = new Set<NodeJS.Timeout>();
	private closed = false;

	begin(): void {
		this.pending += 1;
	}

	end(): void {
		this.pending -= 1;
		if (this.pending <= 0) {
			this.pending = 0;
			const waiters = this.waiters;
			this.waiters = [];
			for (const resolve of waiters) resolve();
		}
	}

	/** setTimeout that counts as pending work until it fires or is cancelled. */
	later(ms: number, fn: () => void): void {
		if (this.closed) return;
		this.begin();
		const timer = setTimeout(() => {
			this.timers.delete(timer);
			try {
				fn();
			} finally {
				this.end();
			}
		}, ms);
		this.timers.add(timer);
	}

	get busy(): boolean {
		return this.pending > 0;
	}

	idle(): Promise<void> {
		if (this.pending === 0) return Promise.resolve();
		return new Promise((resolve) => this.waiters.push(resolve));
	}

	/** Stops scheduling for good (server closed) and drops what is scheduled. */
	close(): void {
		this.closed = true;
		this.cancelAll();
	}

	/** Drops every scheduled timer (reset / close); in-flight requests finish on their own. */
	cancelAll(): void {
		for (const timer of this.timers) {
			clearTimeout(timer);
			this.end();
		}
		this.timers.clear();
	}
}
