/**
 * The one time-limited cache of this package: template definitions, sender details, credential readings, media
 * upload ids and opened state stores all go through it. Values are promises, so callers that ask while a value is
 * being loaded share that one load; a load that fails is forgotten, so the next caller tries again.
 */

export interface TtlCacheOptions {
	/** Entries kept; the oldest loaded is forgotten first. Unbounded by default. */
	maxEntries?: number;
	now?: () => number;
}

export interface CacheGetOptions<T> {
	/** Load again even if a loaded value is still within its time (a load already under way is shared). */
	fresh?: boolean;
	/** Whether a loaded value may be reused; a refused value is returned once and then forgotten. */
	keep?: (value: T) => boolean;
}

interface Entry<T> {
	at: number;
	value: Promise<T>;
	settled: boolean;
}

export class TtlCache<T> {
	private readonly entries = new Map<string, Entry<T>>();
	private readonly now: () => number;

	/** `ttlMs` may be Infinity: kept until deleted (or until a load fails). */
	constructor(
		private readonly ttlMs: number,
		private readonly options: TtlCacheOptions = {},
	) {
		this.now = options.now ?? Date.now;
	}

	get(key: string, load: () => Promise<T>, options: CacheGetOptions<T> = {}): Promise<T> {
		const known = this.peekEntry(key);
		if (known && !(options.fresh && known.settled)) return known.value;
		const entry: Entry<T> = { at: this.now(), value: load(), settled: false };
		this.entries.delete(key);
		this.entries.set(key, entry);
		const forget = (): void => {
			if (this.entries.get(key) === entry) this.entries.delete(key);
		};
		entry.value.then(
			(value) => {
				entry.settled = true;
				if (options.keep && !options.keep(value)) forget();
			},
			() => {
				entry.settled = true;
				forget();
			},
		);
		const max = this.options.maxEntries;
		if (max !== undefined) {
			while (this.entries.size > max) this.entries.delete(this.entries.keys().next().value!);
		}
		return entry.value;
	}

	/** The value held for `key` if still within its time, without loading. */
	peek(key: string): Promise<T> | undefined {
		return this.peekEntry(key)?.value;
	}

	/** Milliseconds since the value held for `key` was loaded; undefined when none is held. */
	age(key: string): number | undefined {
		const entry = this.peekEntry(key);
		return entry ? this.now() - entry.at : undefined;
	}

	delete(key: string): void {
		this.entries.delete(key);
	}

	clear(): void {
		this.entries.clear();
	}

	private peekEntry(key: string): Entry<T> | undefined {
		const entry = this.entries.get(key);
		if (!entry) return undefined;
		if (this.now() - entry.at < this.ttlMs) return entry;
		this.entries.delete(key);
		return undefined;
	}
}
