import http from 'node:http';
import { startSandbox, type Sandbox } from '../../sandbox';
import { CUSTOMER, TOKEN, VERSION, errorOf, orderUpdate, start } from './helpers';

interface RawAnswer {
	status: number;
	body: unknown;
}

/** node:http, because fetch will not send a Host header of our choosing. */
function raw(
	sandbox: Sandbox,
	method: string,
	path: string,
	headers: Record<string, string>,
	body?: string,
): Promise<RawAnswer> {
	return new Promise((resolve, reject) => {
		const req = http.request(
			{ host: '127.0.0.1', port: sandbox.port, method, path, headers },
			(res) => {
				let text = '';
				res.setEncoding('utf8').on('data', (c: string) => (text += c));
				res.on('end', () =>
					resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : {} }),
				);
			},
		);
		req.on('error', reject);
		req.end(body);
	});
}

const messageOf = (answer: RawAnswer): string =>
	(answer.body as { error?: { message?: string } }).error?.message ?? '';

describe('sandbox access: what a web page in the developer browser cannot do', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await start({ controlToken: 'control-token-for-access-tests' });
	});
	afterAll(() => sandbox.close());
	beforeEach(() => sandbox.reset());

	const own = (): string => `127.0.0.1:${sandbox.port}`;
	const withToken = (extra: Record<string, string> = {}): Record<string, string> => ({
		host: own(),
		authorization: 'Bearer control-token-for-access-tests',
		...extra,
	});
	const inbound = JSON.stringify({ from: CUSTOMER, text: 'STOP' });

	describe('control token', () => {
		it('refuses a control request without the control token, or with a wrong one, with 401 and a JSON error', async () => {
			const missing = await raw(sandbox, 'GET', '/__sandbox/messages', { host: own() });
			expect(missing.status).toBe(401);
			expect(messageOf(missing)).toMatch(/Missing control token.*Authorization: Bearer/);
			const wrong = await raw(sandbox, 'GET', '/__sandbox/messages', {
				host: own(),
				authorization: 'Bearer control-token-for-access-testz',
			});
			expect(wrong.status).toBe(401);
			expect(messageOf(wrong)).toMatch(/Wrong control token/);
			// The Graph access token is not the control token.
			const graphToken = await raw(sandbox, 'GET', '/__sandbox/messages', {
				host: own(),
				authorization: `Bearer ${TOKEN}`,
			});
			expect(graphToken.status).toBe(401);
			expect((await raw(sandbox, 'GET', '/__sandbox/messages', withToken())).status).toBe(200);
		});

		it('does nothing for a refused request: no customer message is played, no template is added', async () => {
			const played = await raw(
				sandbox,
				'POST',
				'/__sandbox/inbound',
				{ host: own(), 'content-type': 'application/json' },
				inbound,
			);
			expect(played.status).toBe(401);
			expect(sandbox.state.windows.size).toBe(0);
			const seeded = await raw(
				sandbox,
				'POST',
				'/__sandbox/templates',
				{ host: own(), 'content-type': 'application/json' },
				JSON.stringify({ templates: [], replace: true }),
			);
			expect(seeded.status).toBe(401);
			expect(sandbox.state.templates.length).toBeGreaterThan(0);
		});

		it('is random per run unless given, and the handle calls the control API with it', async () => {
			const previous = process.env.SANDBOX_CONTROL_TOKEN;
			delete process.env.SANDBOX_CONTROL_TOKEN;
			const a = await startSandbox();
			const b = await startSandbox();
			try {
				expect(a.controlToken).toMatch(/^[\w-]{32}$/);
				expect(a.controlToken).not.toBe(b.controlToken);
				expect(a.config.controlToken).toBe(a.controlToken);
				const summary = await a.control<{ wabaId: string }>('');
				expect(summary.wabaId).toBe(a.config.wabaId);
				await a.control('inbound', { from: CUSTOMER, text: 'hello' });
				expect(a.state.windows.size).toBe(1);
				await expect(a.control('inbound', { text: 'no sender' })).rejects.toThrow(
					/sandbox control inbound: HTTP 400/,
				);
			} finally {
				if (previous !== undefined) process.env.SANDBOX_CONTROL_TOKEN = previous;
				await Promise.all([a.close(), b.close()]);
			}
		});

		it('takes SANDBOX_CONTROL_TOKEN from the environment, and the option over it', async () => {
			const previous = process.env.SANDBOX_CONTROL_TOKEN;
			process.env.SANDBOX_CONTROL_TOKEN = 'from-the-environment-0001';
			const fromEnv = await startSandbox();
			const fromOption = await startSandbox({ controlToken: 'from-the-option-0001' });
			try {
				expect(fromEnv.controlToken).toBe('from-the-environment-0001');
				expect(fromOption.controlToken).toBe('from-the-option-0001');
			} finally {
				if (previous === undefined) delete process.env.SANDBOX_CONTROL_TOKEN;
				else process.env.SANDBOX_CONTROL_TOKEN = previous;
				await Promise.all([fromEnv.close(), fromOption.close()]);
			}
		});
	});

	describe('Graph access token', () => {
		it('is random per run unless given: the old constant "sandbox-token" is refused', async () => {
			const a = await startSandbox();
			const b = await startSandbox();
			try {
				expect(a.config.token).toMatch(/^[\w-]{32}$/);
				expect(a.config.token).not.toBe(b.config.token);
				const old = await raw(a, 'GET', `/${VERSION}/${a.config.phoneNumberId}`, {
					host: `127.0.0.1:${a.port}`,
					authorization: 'Bearer sandbox-token',
				});
				expect(old.status).toBe(401);
				const right = await raw(
					a,
					'GET',
					`/${VERSION}/${a.config.phoneNumberId}?access_token=${a.config.token}`,
					{ host: `127.0.0.1:${a.port}` },
				);
				expect(right.status).toBe(200);
			} finally {
				await Promise.all([a.close(), b.close()]);
			}
		});
	});

	describe('Host and Origin', () => {
		it('refuses any Host that does not name the sandbox, on control and Graph routes (DNS rebinding)', async () => {
			for (const host of [
				`attacker.example:${sandbox.port}`,
				'attacker.example',
				`127.0.0.1:${sandbox.port + 1}`,
				`user@127.0.0.1:${sandbox.port}`,
			]) {
				const control = await raw(sandbox, 'GET', '/__sandbox/messages', withToken({ host }));
				expect({ host, status: control.status }).toEqual({ host, status: 403 });
				expect(messageOf(control)).toMatch(/Host header must name this sandbox/);
				const graph = await raw(sandbox, 'GET', `/${VERSION}/${sandbox.config.phoneNumberId}`, {
					host,
					authorization: `Bearer ${TOKEN}`,
				});
				expect({ host, status: graph.status }).toEqual({ host, status: 403 });
			}
			expect(sandbox.state.requests).toHaveLength(0);
		});

		it('answers its loopback names: 127.0.0.1, localhost and [::1] on its port', async () => {
			for (const host of [own(), `localhost:${sandbox.port}`, `[::1]:${sandbox.port}`]) {
				const control = await raw(sandbox, 'GET', '/__sandbox/messages', withToken({ host }));
				expect({ host, status: control.status }).toEqual({ host, status: 200 });
			}
		});

		it('answers a name given in allowedHosts, and only that one', async () => {
			const shared = await startSandbox({ allowedHosts: ['sandbox.internal'] });
			try {
				const headers = (host: string): Record<string, string> => ({
					host,
					authorization: `Bearer ${shared.config.token}`,
				});
				const path = `/${VERSION}/${shared.config.phoneNumberId}`;
				expect(
					(await raw(shared, 'GET', path, headers(`sandbox.internal:${shared.port}`))).status,
				).toBe(200);
				expect(
					(await raw(shared, 'GET', path, headers(`other.internal:${shared.port}`))).status,
				).toBe(403);
			} finally {
				await shared.close();
			}
		});

		it('refuses a control request from another origin even with the token, and takes its own origin', async () => {
			for (const origin of [
				'https://attacker.example',
				'null',
				`http://localhost:${sandbox.port + 1}`,
			]) {
				const answer = await raw(
					sandbox,
					'POST',
					'/__sandbox/inbound',
					withToken({ origin, 'content-type': 'application/json' }),
					inbound,
				);
				expect({ origin, status: answer.status }).toEqual({ origin, status: 403 });
			}
			expect(sandbox.state.windows.size).toBe(0);
			const same = await raw(
				sandbox,
				'POST',
				'/__sandbox/inbound',
				withToken({ origin: `http://${own()}`, 'content-type': 'application/json' }),
				inbound,
			);
			expect(same.status).toBe(200);
		});
	});

	describe('content types', () => {
		it('refuses a control POST that is not application/json with 415 (text/plain needs no CORS preflight)', async () => {
			for (const contentType of [
				'text/plain;charset=UTF-8',
				'application/x-www-form-urlencoded',
				undefined,
			]) {
				const answer = await raw(
					sandbox,
					'POST',
					'/__sandbox/inbound',
					withToken(contentType ? { 'content-type': contentType } : {}),
					inbound,
				);
				expect({ contentType, status: answer.status }).toEqual({ contentType, status: 415 });
			}
			expect(sandbox.state.windows.size).toBe(0);
			const json = await raw(
				sandbox,
				'POST',
				'/__sandbox/inbound',
				withToken({ 'content-type': 'application/json; charset=utf-8' }),
				inbound,
			);
			expect(json.status).toBe(200);
		});

		it('ignores a Graph body sent as text/plain or without a Content-Type, like Graph: the send lacks its parameters', async () => {
			const path = `/${VERSION}/${sandbox.config.phoneNumberId}/messages?access_token=${TOKEN}`;
			for (const contentType of ['text/plain;charset=UTF-8', undefined]) {
				const answer = await raw(
					sandbox,
					'POST',
					path,
					{ host: own(), ...(contentType ? { 'content-type': contentType } : {}) },
					JSON.stringify(orderUpdate()),
				);
				expect({ contentType, status: answer.status }).toEqual({ contentType, status: 400 });
				expect(
					errorOf({ status: answer.status, body: answer.body, headers: new Headers() }).code,
				).toBe(100);
			}
			expect(sandbox.state.messages.size).toBe(0);
		});

		it('still takes Graph sends as JSON and as form-encoded fields', async () => {
			const path = `/${VERSION}/${sandbox.config.phoneNumberId}/messages`;
			const headers = { host: own(), authorization: `Bearer ${TOKEN}` };
			const json = await raw(
				sandbox,
				'POST',
				path,
				{ ...headers, 'content-type': 'application/json' },
				JSON.stringify(orderUpdate()),
			);
			expect(json.status).toBe(200);
			const fields = orderUpdate() as Record<string, unknown>;
			const form = new URLSearchParams(
				Object.entries(fields).map(([k, v]): [string, string] => [
					k,
					typeof v === 'string' ? v : JSON.stringify(v),
				]),
			);
			const formAnswer = await raw(
				sandbox,
				'POST',
				path,
				{ ...headers, 'content-type': 'application/x-www-form-urlencoded' },
				form.toString(),
			);
			expect(formAnswer.status).toBe(200);
			expect(sandbox.state.messages.size).toBe(2);
		});
	});
});
