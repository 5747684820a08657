import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CloudApiConnection, LocalSlotStore, TemplateCache } from '../../core';
import type { ConnectionConfig, HttpRequest, Transport } from '../../core';
import { metaConnection } from '../../nodes/shared/credentials';

const dir = mkdtempSync(join(tmpdir(), 'wj-connection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recording(): {
	calls: HttpRequest[];
	tokens: string[];
	factory: (t: string) => Transport;
} {
	const calls: HttpRequest[] = [];
	const tokens: string[] = [];
	return {
		calls,
		tokens,
		factory: (token) => {
			tokens.push(token);
			return async (request) => {
				calls.push(request);
				return {
					status: 200,
					body: { data: [], messages: [{ id: 'wamid.1' }], id: '106540352242922' },
				};
			};
		},
	};
}

const base: ConnectionConfig = {
	phoneNumberId: '106540352242922',
	accessToken: 'token',
	appSecret: 'secret',
	configuredIn: 'the test config',
};

describe('CloudApiConnection', () => {
	it('hands the access token to the transport and adds appsecret_proof only when switched on', async () => {
		const off = recording();
		await new CloudApiConnection({ ...base, transport: off.factory }).client().sendMessage({});
		expect(off.tokens).toEqual(['token']);
		expect(off.calls[0].query?.appsecret_proof).toBeUndefined();

		const on = recording();
		await new CloudApiConnection({ ...base, appSecretProof: true, transport: on.factory })
			.client()
			.sendMessage({});
		// echo -n token | openssl dgst -sha256 -hmac secret
		expect(on.calls[0].query?.appsecret_proof).toBe(
			'e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a',
		);
	});

	it("maps the n8n credential's signRequests field to appsecret_proof", async () => {
		const data = {
			accessToken: 'token',
			phoneNumberId: '106540352242922',
			appSecret: 'secret',
		};
		for (const signRequests of [false, true]) {
			const { calls, factory } = recording();
			const { connection, credential } = metaConnection({ ...data, signRequests }, factory);
			expect(credential.appSecretProof).toBe(signRequests);
			await connection.client().sendMessage({});
			expect(calls[0].query?.appsecret_proof !== undefined).toBe(signRequests);
		}
	});

	it('opens its store once, and opens it again after a failed open', async () => {
		const folder = join(dir, 'later');
		const connection = new CloudApiConnection({
			...base,
			store: { backend: 'embedded', path: join(folder, 'store.sqlite') },
		});
		await expect(connection.store()).rejects.toThrow();
		mkdirSync(folder);
		const store = await connection.store();
		expect((await connection.store()) === store).toBe(true);
		expect((await connection.slots()) instanceof LocalSlotStore).toBe(true);
		await connection.close();
	});

	it('says where to set the WABA when templates are asked for without one', async () => {
		const connection = new CloudApiConnection({ ...base, templates: new TemplateCache() });
		await expect(connection.listTemplates(connection.client())).rejects.toThrow(
			'set "WhatsApp Business Account ID" in the test config',
		);
	});
});
