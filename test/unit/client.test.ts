import { CloudApiClient, TransportError, WhatsAppApiError, metaErrorBody } from '../../core';
import type { HttpRequest, HttpResponse, Transport } from '../../core';

const ok = (id: string): HttpResponse => ({
	status: 200,
	body: {
		messaging_product: 'whatsapp',
		contacts: [{ input: '+447911123456', wa_id: '447911123456' }],
		messages: [{ id, message_status: 'accepted' }],
	},
});
const fail = (code: number, status = 400): HttpResponse => ({
	status,
	body: metaErrorBody(code, `error ${code}`),
});

function scripted(answers: Array<HttpResponse | Error>): {
	transport: Transport;
	calls: HttpRequest[];
} {
	const calls: HttpRequest[] = [];
	const transport: Transport = async (request) => {
		calls.push(request);
		const next = answers.shift();
		if (!next) throw new Error('no more scripted answers');
		if (next instanceof Error) throw next;
		return next;
	};
	return { transport, calls };
}

const noSleep = async (): Promise<void> => undefined;
const config = {
	phoneNumberId: '106540352242922',
	wabaId: '102290129340398',
	baseUrl: 'http://graph.test/',
	apiVersion: 'v25.0',
};

describe('CloudApiClient.sendMessage', () => {
	it('posts to /{version}/{phone-number-id}/messages and returns the wamid and wa_id', async () => {
		const { transport, calls } = scripted([ok('wamid.1')]);
		const client = new CloudApiClient(config, transport, undefined, noSleep);
		const result = await client.sendMessage({ to: '+447911123456' });
		expect(result).toEqual({
			messageId: 'wamid.1',
			waId: '447911123456',
			input: '+447911123456',
			messageStatus: 'accepted',
			attempts: 1,
		});
		expect(calls[0].url).toBe('http://graph.test/v25.0/106540352242922/messages');
		expect(calls[0].method).toBe('POST');
	});

	it('uses the marketing_messages edge when asked', async () => {
		const { transport, calls } = scripted([ok('wamid.2')]);
		await new CloudApiClient(config, transport, undefined, noSleep).sendMessage(
			{},
			{ marketingMessagesApi: true },
		);
		expect(calls[0].url).toMatch(/\/marketing_messages$/);
	});

	it.each([130429, 131056, 4, 80007])(
		'retries %i (proof the message was not accepted) and succeeds',
		async (code) => {
			const { transport, calls } = scripted([fail(code), fail(code), ok('wamid.3')]);
			const retries: number[] = [];
			const result = await new CloudApiClient(config, transport, undefined, noSleep).sendMessage(
				{},
				{ onRetry: (e) => retries.push(e.code ?? -1) },
			);
			expect(result.attempts).toBe(3);
			expect(calls).toHaveLength(3);
			expect(retries).toEqual([code, code]);
		},
	);

	it.each([131047, 132000, 132001, 131026, 190, 131049, 131050])(
		'does not retry %i',
		async (code) => {
			const { transport, calls } = scripted([fail(code), ok('never')]);
			await expect(
				new CloudApiClient(config, transport, undefined, noSleep).sendMessage({}),
			).rejects.toMatchObject({ code });
			expect(calls).toHaveLength(1);
		},
	);

	it.each([
		[131000, 500],
		[2, 503],
		[133004, 503],
	])(
		'retries Meta service error %i (HTTP %i): an error body proves the message was refused',
		async (code, status) => {
			const { transport, calls } = scripted([fail(code, status), ok('wamid.8')]);
			expect(
				(await new CloudApiClient(config, transport, undefined, noSleep).sendMessage({})).attempts,
			).toBe(2);
			expect(calls).toHaveLength(2);
		},
	);

	it('gives up after maxAttempts', async () => {
		const { transport, calls } = scripted([fail(130429), fail(130429), fail(130429)]);
		const client = new CloudApiClient(
			config,
			transport,
			{ maxAttempts: 3, retryUncertain: false, timeoutMs: 1000 },
			noSleep,
		);
		await expect(client.sendMessage({})).rejects.toBeInstanceOf(WhatsAppApiError);
		expect(calls).toHaveLength(3);
	});

	it('never resends after a timeout that may have been accepted, unless the user opts in', async () => {
		const timeout = new TransportError('timed out', true, 'ETIMEDOUT');
		const first = scripted([timeout, ok('dup')]);
		await expect(
			new CloudApiClient(config, first.transport, undefined, noSleep).sendMessage({}),
		).rejects.toMatchObject({ acceptedUnknown: true });
		expect(first.calls).toHaveLength(1);

		const optIn = scripted([new TransportError('timed out', true, 'ETIMEDOUT'), ok('wamid.4')]);
		const client = new CloudApiClient(
			config,
			optIn.transport,
			{ maxAttempts: 3, retryUncertain: true, timeoutMs: 1000 },
			noSleep,
		);
		expect((await client.sendMessage({})).messageId).toBe('wamid.4');
	});

	it('retries a refused connection (nothing was sent)', async () => {
		const { transport, calls } = scripted([
			new TransportError('refused', false, 'ECONNREFUSED'),
			ok('wamid.5'),
		]);
		expect(
			(await new CloudApiClient(config, transport, undefined, noSleep).sendMessage({})).messageId,
		).toBe('wamid.5');
		expect(calls).toHaveLength(2);
	});

	it('treats a bare 502 without a Meta error body as possibly accepted', async () => {
		const { transport, calls } = scripted([
			{ status: 502, body: '<html>Bad gateway</html>' },
			ok('dup'),
		]);
		await expect(
			new CloudApiClient(config, transport, undefined, noSleep).sendMessage({}),
		).rejects.toMatchObject({ httpStatus: 502, acceptedUnknown: true });
		expect(calls).toHaveLength(1);
	});

	it('treats a 200 without a message id as possibly accepted, never as a retry', async () => {
		const { transport, calls } = scripted([{ status: 200, body: { messages: [] } }, ok('dup')]);
		await expect(
			new CloudApiClient(config, transport, undefined, noSleep).sendMessage({}),
		).rejects.toMatchObject({ acceptedUnknown: true });
		expect(calls).toHaveLength(1);
	});

	it('awaits the pacer before every attempt, retries included', async () => {
		const { transport } = scripted([fail(130429), ok('wamid.6')]);
		let slots = 0;
		await new CloudApiClient(config, transport, undefined, noSleep).sendMessage(
			{},
			{ beforeAttempt: async () => void slots++ },
		);
		expect(slots).toBe(2);
	});

	it('adds appsecret_proof = HMAC-SHA256(token, app secret) when configured', async () => {
		const { transport, calls } = scripted([ok('wamid.7')]);
		await new CloudApiClient(
			{ ...config, accessToken: 'token', appSecret: 'secret' },
			transport,
			undefined,
			noSleep,
		).sendMessage({});
		// echo -n token | openssl dgst -sha256 -hmac secret
		expect(calls[0].query?.appsecret_proof).toBe(
			'e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a',
		);
	});

	it('rejects a malformed Graph API version early', () => {
		expect(
			() => new CloudApiClient({ ...config, apiVersion: '25' }, scripted([]).transport),
		).toThrow(/v25\.0/);
	});
});

describe('CloudApiClient templates', () => {
	it('follows paging.cursors.after only while paging.next exists', async () => {
		const page = (names: string[], after?: string, next = true): HttpResponse => ({
			status: 200,
			body: {
				data: names.map((name) => ({ name })),
				paging: { cursors: { before: 'b', after }, ...(next ? { next: 'http://next' } : {}) },
			},
		});
		const { transport, calls } = scripted([
			page(['a', 'b'], 'c1'),
			page(['c'], 'c2'),
			page(['d'], 'c3', false),
		]);
		const all = await new CloudApiClient(config, transport, undefined, noSleep).listAllTemplates();
		expect(all).toEqual([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]);
		expect(calls.map((c) => c.query?.after)).toEqual([undefined, 'c1', 'c2']);
		expect(calls[0].url).toBe('http://graph.test/v25.0/102290129340398/message_templates');
	});

	it('explains that templates need the WABA id', async () => {
		const client = new CloudApiClient({ ...config, wabaId: undefined }, scripted([]).transport);
		await expect(client.listAllTemplates()).rejects.toThrow(/WhatsApp Business Account ID/);
	});
});
