/**
 * Redis helpers for the benchmarks: a unique key prefix per run, mass insertion through `redis-cli --pipe`
 * (Redis's own bulk-load path: the client is C, so a busy Node process does not slow the seeding), and cleanup.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';

export const REDIS_HOST = process.env.BENCH_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 6379);

export function uniquePrefix(label: string): string {
	return `bench:${label}:${randomBytes(4).toString('hex')}:`;
}

function resp(args: string[]): string {
	let out = `*${args.length}\r\n`;
	for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
	return out;
}

/**
 * Streams commands into `redis-cli --pipe`. `commands(i)` gives the commands of record i (0 ≤ i < count).
 * Resolves with the number of replies; throws when Redis reported errors.
 */
export async function pipeToRedis(
	count: number,
	commands: (i: number) => string[][],
): Promise<number> {
	const child = spawn('redis-cli', ['-h', REDIS_HOST, '-p', String(REDIS_PORT), '--pipe'], {
		stdio: ['pipe', 'pipe', 'pipe'],
	});
	let output = '';
	child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
	child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
	const exited = new Promise<number | null>((resolve, reject) => {
		child.once('error', reject);
		child.once('close', resolve);
	});
	const CHUNK = 5_000;
	for (let start = 0; start < count; start += CHUNK) {
		let text = '';
		for (let i = start; i < Math.min(count, start + CHUNK); i++)
			for (const c of commands(i)) text += resp(c);
		if (!child.stdin.write(text))
			await new Promise((resolve) => child.stdin.once('drain', resolve));
	}
	child.stdin.end();
	const code = await exited;
	const summary = /errors:\s*(\d+),\s*replies:\s*(\d+)/.exec(output);
	if (code !== 0 || !summary || summary[1] !== '0')
		throw new Error(`redis-cli --pipe failed (exit ${code}): ${output.trim().slice(-500)}`);
	return Number(summary[2]);
}

/** Deletes every key under the prefix (SCAN + UNLINK, so Redis is never blocked for long). */
export async function deletePrefix(prefix: string): Promise<number> {
	if (!/^bench:/.test(prefix))
		throw new Error(`refusing to delete keys outside the bench: namespace (${prefix})`);
	const redis = new Redis({
		host: REDIS_HOST,
		port: REDIS_PORT,
		lazyConnect: true,
		maxRetriesPerRequest: 2,
	});
	await redis.connect();
	let deleted = 0;
	try {
		let cursor = '0';
		do {
			const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
			cursor = next;
			if (keys.length) deleted += await redis.unlink(...keys);
		} while (cursor !== '0');
	} finally {
		redis.disconnect();
	}
	return deleted;
}
