/** The local Redis the e2e tests and benchmarks share: each run keeps its keys under a prefix of its own. */
import { runCommand } from './process';

/** Deletes this run's journey-state keys (its own prefix) from the local Redis. */
export async function deleteRedisKeys(keyPrefix: string): Promise<void> {
	if (!/^[A-Za-z0-9:_-]+$/.test(keyPrefix)) throw new Error(`unexpected key prefix ${keyPrefix}`);
	await runCommand(
		'sh',
		[
			'-c',
			`redis-cli -h 127.0.0.1 --scan --pattern '${keyPrefix}*' | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL > /dev/null`,
		],
		{ timeoutMs: 60_000 },
	).catch(() => undefined);
}
