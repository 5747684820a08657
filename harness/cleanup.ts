/**
 * Everything the harness starts or creates (processes, temp folders, databases) is tracked here so it is
 * released even when a test fails: `afterAll` calls `disposeAll()`, and an exit/signal hook releases whatever
 * is left synchronously if jest dies before that.
 */
export interface TrackedResource {
	readonly label: string;
	dispose(): Promise<void>;
	/** Best-effort synchronous release, used from `process.on('exit')` where async work never runs. */
	disposeSync(): void;
}

const live = new Set<TrackedResource>();
let hooksInstalled = false;

function disposeAllSync(): void {
	for (const resource of [...live].reverse()) {
		live.delete(resource);
		try {
			resource.disposeSync();
		} catch {
			// Exit path: keep releasing the rest.
		}
	}
}

function installHooks(): void {
	if (hooksInstalled) return;
	hooksInstalled = true;
	process.once('exit', disposeAllSync);
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, () => {
			disposeAllSync();
			process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
		});
	}
}

/** Tracks a resource; the returned function forgets it (call it once it was released normally). */
export function track(resource: TrackedResource): () => void {
	installHooks();
	live.add(resource);
	return () => {
		live.delete(resource);
	};
}

/** Releases every tracked resource, newest first; collects failures and reports them together. */
export async function disposeAll(): Promise<void> {
	const failures: string[] = [];
	for (const resource of [...live].reverse()) {
		live.delete(resource);
		try {
			await resource.dispose();
		} catch (error) {
			failures.push(`${resource.label}: ${error instanceof Error ? error.message : String(error)}`);
		}
	}
	if (failures.length > 0) throw new Error(`e2e cleanup failed for:\n${failures.join('\n')}`);
}

export function liveResources(): string[] {
	return [...live].map((resource) => resource.label);
}
