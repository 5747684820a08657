/**
 * The demo's n8n public API client, against a scripted n8n: how it deletes what the demo created when n8n is not
 * ready to let go of a workflow yet. The 500 is what n8n 2.40.7 answered in CI for a workflow deleted right after
 * it was activated and deactivated (the demo's Ctrl-C during its setup).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { N8nPublicApi } from '../../examples/n8n-public-api';

let server: Server;
let answers: Array<[number, unknown]> = [];
let deletes = 0;

beforeAll(async () => {
	server = createServer((req, res) => {
		if (req.method !== 'DELETE') {
			res.writeHead(405).end();
			return;
		}
		deletes++;
		const [status, body] = answers.shift() ?? [200, { id: 'w1' }];
		res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
	answers = [];
	deletes = 0;
});

const api = () =>
	new N8nPublicApi(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'k');

describe('N8nPublicApi.deleteWorkflow', () => {
	it('asks again after a 409 (still unpublishing) and a 500, until n8n deletes it', async () => {
		answers = [
			[409, { message: 'Workflow is still being unpublished. Please try again in a few moments.' }],
			[500, { message: 'Internal server error' }],
			[200, { id: 'w1' }],
		];
		await expect(api().deleteWorkflow('w1', { pauseMs: 1 })).resolves.toBeUndefined();
		expect(deletes).toBe(3);
	});

	it('takes a 404 after a failed attempt as deleted (the 500 was answered after the row went)', async () => {
		answers = [
			[500, { message: 'Internal server error' }],
			[404, { message: 'Not Found' }],
		];
		await expect(api().deleteWorkflow('w1', { pauseMs: 1 })).resolves.toBeUndefined();
	});

	it('refuses a 404 on the first attempt: that workflow was never there', async () => {
		answers = [[404, { message: 'Not Found' }]];
		await expect(api().deleteWorkflow('w1', { pauseMs: 1 })).rejects.toThrow(
			'n8n answered DELETE /api/v1/workflows/w1 with HTTP 404: Not Found',
		);
	});

	it('gives up with n8n’s answer once the wait is over', async () => {
		answers = Array.from({ length: 50 }, () => [500, { message: 'Internal server error' }]);
		await expect(api().deleteWorkflow('w1', { waitMs: 30, pauseMs: 5 })).rejects.toThrow(
			'with HTTP 500: Internal server error',
		);
		expect(deletes).toBeGreaterThan(1);
	});

	it('does not retry a request n8n refuses for good (400: not archived)', async () => {
		answers = [[400, { message: 'Workflow must be archived before it can be deleted.' }]];
		await expect(api().deleteWorkflow('w1', { pauseMs: 1 })).rejects.toThrow('HTTP 400');
		expect(deletes).toBe(1);
	});
});
