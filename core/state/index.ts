/**
 * The journey state store and its backends. `createStateStore` picks one from configuration:
 * embedded SQLite (default, zero configuration), Redis (queue mode, several instances), or memory.
 */
import type Redis from 'ioredis';
import { MemoryStateStore } from './memory';
import { RedisStateStore, type RedisConnection } from './redis';
import { SqliteStateStore } from './sqlite';
import type { JourneyStateStore } from './types';

export * from './types';
export * from './waitLinks';
export * from './identity';
export { MemoryStateStore } from './memory';
export {
	SqliteStateStore,
	loadNodeSqlite,
	SQLITE_UNAVAILABLE_MESSAGE,
	type SqliteStateStoreOptions,
} from './sqlite';
export {
	fileAccessRefusal,
	fileAccessRulesFromEnv,
	resolveFilePath,
	storeFilePath,
	type FileAccessRules,
} from './fileAccess';
export { RedisStateStore, type RedisConnection, type RedisStateStoreOptions } from './redis';

export type StateStoreConfig =
	| { backend: 'embedded'; path: string }
	| { backend: 'redis'; redis: RedisConnection | Redis; keyPrefix?: string }
	| { backend: 'memory' };

export function createStateStore(config: StateStoreConfig): JourneyStateStore {
	switch (config?.backend) {
		case 'embedded':
			return new SqliteStateStore({ path: config.path });
		case 'redis':
			return new RedisStateStore({ redis: config.redis, keyPrefix: config.keyPrefix });
		case 'memory':
			return new MemoryStateStore();
		default:
			throw new Error(
				`State store backend must be 'embedded', 'redis' or 'memory'; got ${JSON.stringify((config as { backend?: unknown } | undefined)?.backend)}.`,
			);
	}
}
