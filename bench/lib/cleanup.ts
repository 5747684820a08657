/**
 * Undo what a benchmark set up (temp files, Redis keys, n8n instances, the /etc/hosts line) even when it is
 * interrupted: each step registers its undo here; `finally` blocks call `runCleanups()`, and Ctrl-C / SIGTERM /
 * a crash run the synchronous parts before the process exits.
 */

interface Cleanup {
	label: string;
	run: () => Promise<void> | void;
	/** What must happen even on an abrupt exit (signals give no time for async work). */
	runSync?: () => void;
}

const pending: Cleanup[] = [];
let hooked = false;

function hook(): void {
	if (hooked) return;
	hooked = true;
	const onSignal = (signal: NodeJS.Signals): void => {
		console.error(`[bench] ${signal}: cleaning up`);
		void runCleanups().finally(() => process.exit(130));
		// If async cleanup hangs, do the synchronous part and leave.
		setTimeout(() => process.exit(130), 15_000).unref();
	};
	process.once('SIGINT', onSignal);
	process.once('SIGTERM', onSignal);
	process.once('exit', () => {
		for (const c of pending.splice(0).reverse()) {
			try {
				c.runSync?.();
			} catch {
				// Best effort on exit.
			}
		}
	});
}

/** Registers an undo; returns a function that runs it now (and forgets it). */
export function onCleanup(
	label: string,
	run: () => Promise<void> | void,
	runSync?: () => void,
): () => Promise<void> {
	hook();
	const entry: Cleanup = { label, run, runSync };
	pending.push(entry);
	return async () => {
		const i = pending.indexOf(entry);
		if (i < 0) return;
		pending.splice(i, 1);
		await entry.run();
	};
}

/** Runs every registered undo, newest first; errors are reported, not thrown, so one failure does not skip the rest. */
export async function runCleanups(): Promise<void> {
	for (const c of pending.splice(0).reverse()) {
		try {
			await c.run();
		} catch (error) {
			console.error(
				`[bench] cleanup "${c.label}" failed: ${error instanceof Error ? error.message : String(error)}`,
			);
		}
	}
}
