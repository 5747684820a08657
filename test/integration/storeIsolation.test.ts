/**
 * A Redis state store is shared only by settings that match in everything that authenticates: a second credential
 * naming the same Redis with a wrong password must get its own connection and fail, never read through the first
 * credential's authenticated one. Runs its own password-protected redis-server.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { getStateStore } from '../../nodes/shared/store';
import type { N8nContext } from '../../nodes/shared/transport';
import { CloudConnection, parseCloudConfig } from '../../node-red/lib/cloud';

const PASSWORD = 'right-password';
const PHONE = '1234567890';
const WA_ID = '4915112345678';
let redis: ChildProcess;
let port: number;

async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port: free } = server.address() as AddressInfo;
	await new Promise((resolve) => server.close(resolve));
	return free;
}

beforeAll(async () => {
	port = await freePort();
	redis = spawn(
		'redis-server',
		[
			'--port',
			String(port),
			'--bind',
			'127.0.0.1',
			'--requirepass',
			PASSWORD,
			'--save',
			'',
			'--appendonly',
			'no',
			'--daemonize',
			'no',
		],
		{ stdio: ['ignore', 'pipe', 'inherit'] },
	);
	await new Promise<void>((resolve, reject) => {
		redis.once('error', reject);
		redis.stdout!.on('data', (chunk: Buffer) => {
			if (chunk.toString().includes('Ready to accept connections')) resolve();
		});
	});
});

afterAll(() => {
	redis?.kill();
});

/** An n8n node context using the Redis store through the credential with this id. */
function n8nContext(credentialId: string, credential: ICredentialDataDecryptedObject): N8nContext {
	const parameters: Record<string, string> = { stateStore: 'redis', redisKeyPrefix: 'iso:' };
	return {
		getNodeParameter: (name: string, _item: number, fallback: unknown) =>
			parameters[name] ?? fallback,
		getNode: () => ({ credentials: { redis: { id: credentialId, name: credentialId } } }),
		getCredentials: async () => credential,
	} as unknown as N8nContext;
}

describe('Redis state store isolation between credentials', () => {
	it('n8n: a credential with a wrong password fails to read, instead of reusing the right one’s connection', async () => {
		const right = n8nContext('cred-a', {
			host: '127.0.0.1',
			port,
			password: PASSWORD,
			database: 0,
		});
		const wrong = n8nContext('cred-b', { host: '127.0.0.1', port, password: 'guess', database: 0 });
		const storeA = await getStateStore(right);
		await storeA.setOptOut({ phoneNumberId: PHONE, waId: WA_ID, optedOut: true, at: new Date() });
		expect(await storeA.isOptedOut({ phoneNumberId: PHONE, waId: WA_ID })).toBe(true);

		const storeB = await getStateStore(wrong);
		// Compared as booleans: a failure must not print the store (its connection options hold the password).
		expect(storeB === storeA).toBe(false);
		await expect(storeB.isOptedOut({ phoneNumberId: PHONE, waId: WA_ID })).rejects.toThrow(
			/WRONGPASS|NOAUTH|invalid.*password/i,
		);
		// The same settings still share one store.
		const sameSettings = n8nContext('cred-c', {
			host: '127.0.0.1',
			port,
			password: PASSWORD,
			database: 0,
		});
		expect((await getStateStore(sameSettings)) === storeA).toBe(true);
		await storeA.close();
		await storeB.close();
	});

	it('Node-RED: a config node with a wrong password fails to read the other config node’s data', async () => {
		const config = (redisPassword: string) => {
			const { settings, secrets } = parseCloudConfig(
				{
					phoneNumberId: PHONE,
					storeType: 'redis',
					redisHost: '127.0.0.1',
					redisPort: String(port),
					redisKeyPrefix: 'iso-red:',
				},
				{ accessToken: 'token', redisPassword },
			);
			return new CloudConnection(settings, secrets);
		};
		const right = config(PASSWORD);
		const wrong = config('guess');
		try {
			const storeA = await right.store();
			await storeA.setOptOut({ phoneNumberId: PHONE, waId: WA_ID, optedOut: true, at: new Date() });
			const storeB = await wrong.store();
			await expect(storeB.isOptedOut({ phoneNumberId: PHONE, waId: WA_ID })).rejects.toThrow(
				/WRONGPASS|NOAUTH|invalid.*password/i,
			);
		} finally {
			await right.close();
			await wrong.close();
		}
	});
});
