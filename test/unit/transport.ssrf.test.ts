import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IHttpRequestOptions } from 'n8n-workflow';

import { n8nMustCarryRequests, n8nTransport } from '../../nodes/shared/transport';
import type { N8nContext } from '../../nodes/shared/transport';

const dir = mkdtempSync(join(tmpdir(), 'wj-ssrf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
	const path = join(dir, name);
	writeFileSync(path, content);
	return path;
}

describe("n8n's SSRF protection setting, read as n8n reads it", () => {
	it.each(['true', 'TRUE', 'True', '1', ' true '])(
		'hands requests to n8n when N8N_SSRF_PROTECTION_ENABLED is %j',
		(value) => {
			expect(n8nMustCarryRequests({ N8N_SSRF_PROTECTION_ENABLED: value })).toBe(true);
		},
	);

	it.each(['false', 'FALSE', '0', 'no'])(
		'keeps the pooled connection when N8N_SSRF_PROTECTION_ENABLED is %j (n8n reads it as off)',
		(value) => {
			expect(n8nMustCarryRequests({ N8N_SSRF_PROTECTION_ENABLED: value })).toBe(false);
		},
	);

	it.each(['true', 'TRUE\n', '1'])(
		'hands requests to n8n when N8N_SSRF_PROTECTION_ENABLED_FILE names a file holding %j',
		(content) => {
			const path = file(`on-${content.trim()}`, content);
			expect(n8nMustCarryRequests({ N8N_SSRF_PROTECTION_ENABLED_FILE: path })).toBe(true);
			// An empty variable does not hide the file (older n8n versions skip it).
			expect(
				n8nMustCarryRequests({
					N8N_SSRF_PROTECTION_ENABLED: '',
					N8N_SSRF_PROTECTION_ENABLED_FILE: path,
				}),
			).toBe(true);
		},
	);

	it('follows the variable over the file, as n8n does', () => {
		const on = file('on', 'true');
		expect(
			n8nMustCarryRequests({
				N8N_SSRF_PROTECTION_ENABLED: 'false',
				N8N_SSRF_PROTECTION_ENABLED_FILE: on,
			}),
		).toBe(false);
		expect(n8nMustCarryRequests({ N8N_SSRF_PROTECTION_ENABLED_FILE: file('off', 'false') })).toBe(
			false,
		);
	});

	it('hands requests to n8n when the _FILE cannot be read (n8n would not start otherwise)', () => {
		expect(n8nMustCarryRequests({ N8N_SSRF_PROTECTION_ENABLED_FILE: join(dir, 'missing') })).toBe(
			true,
		);
	});

	it('keeps the pooled connection when nothing is set, and hands requests to n8n behind a proxy', () => {
		expect(n8nMustCarryRequests({})).toBe(false);
		expect(n8nMustCarryRequests({ https_proxy: 'http://proxy:3128' })).toBe(true);
	});

	it("sends a JSON call through n8n's request helper when protection is on as '1'", async () => {
		const calls: IHttpRequestOptions[] = [];
		const ctx = {
			helpers: {
				httpRequest: async (options: IHttpRequestOptions) => {
					calls.push(options);
					return { statusCode: 200, body: { ok: true } };
				},
			},
		} as unknown as N8nContext;
		const saved = process.env.N8N_SSRF_PROTECTION_ENABLED;
		process.env.N8N_SSRF_PROTECTION_ENABLED = '1';
		try {
			const transport = n8nTransport(ctx, 'token');
			const response = await transport({
				method: 'GET',
				url: 'http://169.254.169.254/latest/meta-data',
			});
			expect(response).toEqual({ status: 200, body: { ok: true } });
			expect(calls).toHaveLength(1);
			expect(calls[0].url).toBe('http://169.254.169.254/latest/meta-data');
		} finally {
			if (saved === undefined) delete process.env.N8N_SSRF_PROTECTION_ENABLED;
			else process.env.N8N_SSRF_PROTECTION_ENABLED = saved;
		}
	});
});
