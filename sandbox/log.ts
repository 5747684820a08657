/**
 * Append-only record with a ceiling, so a long benchmark cannot exhaust memory. Past the
 * ceiling the oldest quarter is dropped in one splice (amortised O(1) per append).
 * `seq` numbers keep increasing across drops, so readers can page with `since`.
 */
export class BoundedLog<T> {
	private items: Array<T & { seq: number }> = [];
	private nextSeq = 1;
	dropped = 0;

	/** `onDrop` hears about entries pushed out by the ceiling (to free what they index elsewhere). */
	constructor(
		private readonly max: number,
		private readonly onDrop?: (dropped: ReadonlyArray<T & { seq: number }>) => void,
	) {}

	push(item: T): T & { seq: number } {
		const entry = Object.assign(item as object, { seq: this.nextSeq }) as T & { seq: number };
		this.nextSeq += 1;
		this.items.push(entry);
		if (this.items.length > this.max) {
			const cut = Math.max(1, Math.floor(this.max / 4));
			const removed = this.items.splice(0, cut);
			this.dropped += cut;
			this.onDrop?.(removed);
		}
		return entry;
	}

	get length(): number {
		return this.items.length;
	}

	all(): ReadonlyArray<T & { seq: number }> {
		return this.items;
	}

	/** Entries with seq > `since`, in order (binary search: seqs are sorted). */
	since(since: number): Array<T & { seq: number }> {
		let lo = 0;
		let hi = this.items.length;
		while (lo < hi) {
			const mid = (lo + hi) >>> 1;
			if (this.items[mid].seq <= since) lo = mid + 1;
			else hi = mid;
		}
		return this.items.slice(lo);
	}

	clear(): void {
		this.items = [];
		this.dropped = 0;
	}
}
