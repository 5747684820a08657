import {
	describeMetaError,
	httpStatusForCode,
	KNOWN_META_ERROR_CODES,
	metaErrorBody,
	redactSecrets,
	WhatsAppApiError,
	type ErrorCategory,
	type RetryAdvice,
} from '../../core/errors';

// Every code of the error table in docs/meta-cloud-api.md, with the class the table gives it.
const TABLE: Array<[number, ErrorCategory, RetryAdvice]> = [
	[130429, 'throttled', 'backoff'],
	[131056, 'pair_rate', 'recipient_later'],
	[4, 'throttled', 'later'],
	[80007, 'throttled', 'later'],
	[2, 'server', 'cautious'],
	[131000, 'server', 'cautious'],
	[131016, 'server', 'cautious'],
	[131057, 'server', 'cautious'],
	[133004, 'server', 'cautious'],
	[131047, 'window', 'never'],
	[131026, 'recipient', 'never'],
	[131049, 'recipient', 'not_within_24h'],
	[131050, 'opt_out', 'never'],
	[131048, 'policy', 'stop'],
	[130472, 'recipient', 'never'],
	[132000, 'template', 'fix_request'],
	[132001, 'template', 'fix_request'],
	[132005, 'template', 'fix_request'],
	[132007, 'template', 'fix_request'],
	[132012, 'template', 'fix_request'],
	[132015, 'template', 'fix_template'],
	[132016, 'template', 'fix_template'],
	[131008, 'request', 'fix_request'],
	[131009, 'request', 'fix_request'],
	[131051, 'request', 'fix_request'],
	[100, 'request', 'fix_request'],
	[190, 'auth', 'fix_credential'],
	[0, 'auth', 'fix_credential'],
	[368, 'policy', 'stop'],
	[131031, 'account', 'stop'],
	[131042, 'account', 'stop'],
	[133010, 'account', 'stop'],
	[131063, 'request', 'fix_request'],
	[131055, 'request', 'fix_request'],
	[134100, 'request', 'fix_request'],
	[134101, 'request', 'later'],
	[134102, 'request', 'fix_request'],
];

describe('describeMetaError', () => {
	it.each(TABLE)('classifies code %p as %p with advice %p', (code, category, retry) => {
		const info = describeMetaError(code);
		expect(info.code).toBe(code);
		expect(info.category).toBe(category);
		expect(info.retry).toBe(retry);
		expect(info.title.length).toBeGreaterThan(0);
		expect(info.action.length).toBeGreaterThan(0);
		expect(KNOWN_META_ERROR_CODES).toContain(code);
	});

	it('marks as retryable only the codes that prove the message was refused', () => {
		const retryable = KNOWN_META_ERROR_CODES.filter(
			(code) => describeMetaError(code).retryable,
		).sort((a, b) => a - b);
		expect(retryable).toEqual([4, 80007, 130429, 131056]);
	});

	it('treats service errors as cautious, never as plainly retryable', () => {
		for (const code of [2, 131000, 131016, 131057, 133004]) {
			expect(describeMetaError(code)).toMatchObject({ retry: 'cautious', retryable: false });
		}
	});

	it('reads an HTTP 5xx without a code as a cautious server error', () => {
		expect(describeMetaError(undefined, 502)).toMatchObject({
			category: 'server',
			retry: 'cautious',
			retryable: false,
			code: -1,
		});
	});

	it('decides on the code, not on the HTTP status', () => {
		expect(describeMetaError(131047, 500).category).toBe('window');
	});

	it('reads permission codes 200-299 as auth problems', () => {
		expect(describeMetaError(230)).toMatchObject({ category: 'auth', retry: 'fix_credential' });
	});

	it('does not advise retrying an unknown code', () => {
		const info = describeMetaError(999999, 400);
		expect(info).toMatchObject({ category: 'unknown', retry: 'never', retryable: false });
		expect(info.action).toContain('999999');
	});
});

describe('httpStatusForCode', () => {
	it.each([
		[190, 401],
		[0, 401],
		[132001, 404],
		[131047, 400],
		[100, 400],
		[132000, 400],
		[131008, 400],
		[130429, 400],
		[131056, 400],
		[2, 503],
		[131000, 500],
		[368, 403],
		[424242, 400],
	])('answers code %p with HTTP %p', (code, status) => {
		expect(httpStatusForCode(code)).toBe(status);
	});
});

describe('metaErrorBody', () => {
	it("builds Meta's error JSON with the code in the message and WhatsApp error_data", () => {
		const body = metaErrorBody(
			131047,
			'Re-engagement message',
			'Message failed to send because more than 24 hours have passed',
			'trace-1',
		);
		expect(body).toEqual({
			error: {
				message: '(#131047) Re-engagement message',
				type: 'OAuthException',
				code: 131047,
				error_data: {
					messaging_product: 'whatsapp',
					details: 'Message failed to send because more than 24 hours have passed',
				},
				fbtrace_id: 'trace-1',
			},
		});
	});

	it('generates a trace id and leaves error_data out of Graph auth errors', () => {
		const body = metaErrorBody(190, 'Error validating access token');
		expect(body.error.fbtrace_id).toMatch(/^[A-Za-z0-9]{8,}$/);
		expect(body.error.error_data).toBeUndefined();
	});
});

describe('WhatsAppApiError', () => {
	it("parses Meta's error JSON and carries the catalogue's reading", () => {
		const error = WhatsAppApiError.fromResponse(
			400,
			metaErrorBody(130429, 'Rate limit hit', 'too many messages', 'AbC'),
		);
		expect(error).toBeInstanceOf(Error);
		expect(error).toMatchObject({
			httpStatus: 400,
			code: 130429,
			details: 'too many messages',
			fbtraceId: 'AbC',
			acceptedUnknown: false,
		});
		expect(error.info).toMatchObject({ category: 'throttled', retryable: true });
		expect(error.message).toContain('130429');
		expect(error.message).toContain('too many messages');
	});

	it('parses a JSON string body and error_data given as a string', () => {
		const raw = JSON.stringify({
			error: {
				message: '(#132001) Template name does not exist in the translation',
				code: 132001,
				error_data: 'template name (x) does not exist in en_US',
				fbtrace_id: 't',
			},
		});
		const error = WhatsAppApiError.fromResponse(404, raw);
		expect(error.code).toBe(132001);
		expect(error.details).toBe('template name (x) does not exist in en_US');
	});

	it('survives a garbage body and marks a 5xx without a code as possibly accepted', () => {
		const error = WhatsAppApiError.fromResponse(502, '<html>Bad gateway</html>');
		expect(error.code).toBeUndefined();
		expect(error.info).toMatchObject({ category: 'server', retry: 'cautious' });
		expect(error.acceptedUnknown).toBe(true);
		expect(error.message).not.toContain('<html>');
	});

	it('does not mark a 4xx garbage body as possibly accepted', () => {
		const error = WhatsAppApiError.fromResponse(400, { unexpected: true });
		expect(error.acceptedUnknown).toBe(false);
		expect(error.info.category).toBe('unknown');
	});

	it('tells a timeout after sending from a connection that never left', () => {
		const timedOut = WhatsAppApiError.transportFailure(true, new Error('socket timeout'));
		expect(timedOut).toMatchObject({ acceptedUnknown: true });
		expect(timedOut.info).toMatchObject({ retry: 'cautious', retryable: false });
		const refused = WhatsAppApiError.transportFailure(false, new Error('ECONNREFUSED'));
		expect(refused).toMatchObject({ acceptedUnknown: false });
		expect(refused.info.retryable).toBe(true);
	});

	it('reads a failed status webhook error', () => {
		const error = WhatsAppApiError.fromStatusError({
			code: 131050,
			title: 'User has stopped marketing messages',
			error_data: { details: 'opted out' },
		});
		expect(error.info.category).toBe('opt_out');
		expect(error.acceptedUnknown).toBe(false);
	});

	it('never exposes a token in its message or JSON', () => {
		// Shaped like a Meta user access token (EAA + letters and digits), made up at run time: no real token is kept here.
		const token = ['E', 'A', 'A'].join('') + 'SYNTHETICTESTONLY'.repeat(3);
		const error = WhatsAppApiError.fromResponse(400, {
			error: {
				message: `Invalid OAuth access token - Cannot parse access token ${token}`,
				code: 190,
				fbtrace_id: 't',
				error_data: { details: `url?access_token=${token}` },
			},
		});
		const json = JSON.stringify(error.toJSON());
		expect(json).not.toContain(token);
		expect(error.message).not.toContain(token);
		expect(error.toJSON()).toMatchObject({
			code: 190,
			category: 'auth',
			retry: 'fix_credential',
			acceptedUnknown: false,
		});
	});
});

describe('redactSecrets', () => {
	it('removes bearer tokens and secret query parameters', () => {
		expect(redactSecrets('Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123')).toBe(
			'Authorization: Bearer [redacted]',
		);
		expect(redactSecrets('GET /x?appsecret_proof=deadbeef&y=1')).toBe(
			'GET /x?appsecret_proof=[redacted]&y=1',
		);
	});
});
