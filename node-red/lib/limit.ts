/**
 * Runs at most `max` tasks at once; the others wait in arrival order. Node-RED hands a node every message of a split
 * at once and has no backpressure: without a bound, 10,000 messages with pacing off would open 10,000 requests (and
 * sockets) together.
 */
export function concurrencyLimit(max: number): <T>(task: () => Promise<T>) => Promise<T> {
	let active = 0;
	const waiting: Array<() => void> = [];
	return async <T>(task: () => Promise<T>): Promise<T> => {
		if (active < max) active++;
		else await new Promise<void>((resolve) => waiting.push(resolve)); // a finishing task hands its place over
		try {
			return await task();
		} finally {
			const next = waiting.shift();
			if (next) next();
			else active--;
		}
	};
}
