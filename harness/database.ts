import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { track } from './cleanup';
import { assertSucceeded, runCommand } from './process';

/**
 * One fresh PostgreSQL database per n8n instance. n8n runs on PostgreSQL here because its default SQLite needs a
 * native module that the --ignore-scripts install does not build. We talk to the server with `psql` so the
 * harness needs no extra npm dependency.
 */
export interface PostgresTarget {
	readonly host: string;
	readonly port: number;
	readonly user: string;
	readonly database: string;
}

const SERVER = {
	host: process.env.E2E_PGHOST ?? '127.0.0.1',
	port: Number(process.env.E2E_PGPORT ?? 5432),
	user: process.env.E2E_PGUSER ?? 'postgres',
};

const untrackers = new Map<string, () => void>();

const SAFE_IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

function psqlArgs(database: string, sql: string): string[] {
	return [
		'-X',
		'-q',
		'-A',
		'-t',
		'-v',
		'ON_ERROR_STOP=1',
		'-h',
		SERVER.host,
		'-p',
		String(SERVER.port),
		'-U',
		SERVER.user,
		'-d',
		database,
		'-c',
		sql,
	];
}

/** Runs one SQL statement and returns psql's unaligned, tuples-only output. */
export async function psql(database: string, sql: string): Promise<string> {
	const result = assertSucceeded(
		await runCommand('psql', psqlArgs(database, sql), { timeoutMs: 60_000 }),
	);
	return result.stdout.trim();
}

/** Runs a query whose single cell is JSON (build it with json_agg / row_to_json) and parses it. */
export async function psqlJson(database: string, sql: string): Promise<unknown> {
	const text = await psql(database, sql);
	return text === '' ? null : (JSON.parse(text) as unknown);
}

function dropSql(name: string): string {
	// WITH (FORCE) ends n8n connections that a killed process may have left behind (PostgreSQL 13+).
	return `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`;
}

export async function createDatabase(label = 'run'): Promise<PostgresTarget> {
	const safeLabel = label
		.toLowerCase()
		.replace(/[^a-z0-9]+/g, '_')
		.slice(0, 20);
	const name = `n8n_e2e_${safeLabel}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
	if (!SAFE_IDENTIFIER.test(name)) throw new Error(`unsafe database name ${name}`);
	await psql('postgres', `CREATE DATABASE "${name}"`);
	const target: PostgresTarget = { ...SERVER, database: name };
	const untrack = track({
		label: `database ${name}`,
		dispose: () => dropDatabase(target),
		disposeSync: () => {
			spawnSync('psql', psqlArgs('postgres', dropSql(name)), { stdio: 'ignore', timeout: 30_000 });
		},
	});
	untrackers.set(name, untrack);
	return target;
}

export async function dropDatabase(target: PostgresTarget): Promise<void> {
	if (!SAFE_IDENTIFIER.test(target.database))
		throw new Error(`refusing to drop unsafe database name ${target.database}`);
	await psql('postgres', dropSql(target.database));
	untrackers.get(target.database)?.();
	untrackers.delete(target.database);
}
