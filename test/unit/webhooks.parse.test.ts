import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
	fastEnvelope,
	fastMessagesShell,
	fastStatus,
	messagesValueShellSchema,
	messagesValueSchema,
	normalizeWebhook,
	parseWebhookBody,
	statusSchema,
	webhookBodySchema,
} from '../../core/webhooks';

const dir = join(__dirname, '../fixtures/webhooks');

describe('parseWebhookBody', () => {
	it.each(readdirSync(dir).filter((f) => f.endsWith('.json')))('accepts the fixture %s', (file) => {
		const r = parseWebhookBody(readFileSync(join(dir, file)));
		expect(r.ok).toBe(true);
	});

	it('answers 413 when the body is over maxBytes, before parsing it', () => {
		const r = parseWebhookBody('{"object":"whatsapp_business_account","entry":[]}  ', {
			maxBytes: 50,
		});
		expect(r).toEqual({ ok: false, status: 413, reason: 'The body is 51 bytes; the limit is 50.' });
	});

	it('counts bytes, not characters, against the limit', () => {
		const body = `{"object":"whatsapp_business_account","entry":[],"x":"${'é'.repeat(10)}"}`;
		expect(parseWebhookBody(body, { maxBytes: body.length }).ok).toBe(false);
		expect(parseWebhookBody(body, { maxBytes: Buffer.byteLength(body) }).ok).toBe(true);
	});

	it('answers 400 for invalid JSON', () => {
		expect(parseWebhookBody('{"object":')).toEqual({
			ok: false,
			status: 400,
			reason: 'The body is not valid JSON.',
		});
	});

	it('answers 400 for a body nested deeper than Meta ever nests, even under a field kept as it came', () => {
		// A shared contact card is kept as Meta sent it; a hostile depth there would overflow the stack of whatever
		// serialises the event later (the outbox, n8n's execution store). 64 levels is far beyond any Meta payload.
		const fixture = JSON.parse(readFileSync(join(dir, 'messages-contacts.json'), 'utf8')) as {
			entry: Array<{ changes: Array<{ value: { messages: Array<{ contacts: unknown[] }> } }> }>;
		};
		const card = fixture.entry[0].changes[0].value.messages[0].contacts[0] as Record<
			string,
			unknown
		>;
		card.future_field = 'DEEP';
		const at = (levels: number): string =>
			JSON.stringify(fixture).replace('"DEEP"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
		const refused = parseWebhookBody(at(20_000));
		expect(refused.ok === false && refused.status).toBe(400);
		expect(refused.ok === false && refused.reason).toMatch(/nests deeper than 64 levels/);
		expect(parseWebhookBody(at(40)).ok).toBe(true);
	});

	it('answers 400 for an empty body', () => {
		const r = parseWebhookBody(Buffer.alloc(0));
		expect(r.ok === false && r.status).toBe(400);
	});

	it('answers 400 naming the field when the envelope is not a WhatsApp one', () => {
		const r = parseWebhookBody('{"object":"page","entry":[]}');
		expect(r.ok).toBe(false);
		if (!r.ok) {
			expect(r.status).toBe(400);
			expect(r.reason).toMatch(/^Not a WhatsApp Business Account webhook: object: /);
		}
		const r2 = parseWebhookBody('{"object":"whatsapp_business_account","entry":[{"id":"1"}]}');
		expect(r2.ok === false && r2.reason).toMatch(/entry\[0\]\.changes: Required/);
	});

	it.each([
		['null'],
		['[]'],
		['"text"'],
		['42'],
		['{"object":"whatsapp_business_account","entry":{}}'],
	])('never throws on %s', (body) => {
		const r = parseWebhookBody(body);
		expect(r.ok).toBe(false);
	});

	it('does not throw when handed something that is not bytes', () => {
		const r = parseWebhookBody(42 as unknown as string);
		expect(r.ok === false && r.status).toBe(400);
	});

	it('accepts a batch of 1,000 statuses within the default limit', () => {
		const statuses = Array.from({ length: 1000 }, (_, i) => ({
			id: `wamid.${i}`,
			status: 'delivered',
			timestamp: '1750263775',
			recipient_id: '16467043595',
			biz_opaque_callback_data: `wj1:j=bulk;c=${'x'.repeat(400)}`,
		}));
		const body = JSON.stringify({
			object: 'whatsapp_business_account',
			entry: [
				{
					id: '1',
					changes: [
						{
							field: 'messages',
							value: { metadata: { display_phone_number: '1', phone_number_id: '2' }, statuses },
						},
					],
				},
			],
		});
		const r = parseWebhookBody(body);
		expect(r.ok).toBe(true);
		if (r.ok) expect(normalizeWebhook(r.body)).toHaveLength(1000);
	});
});

describe('normalizeWebhook on malformed input', () => {
	it.each([
		[undefined],
		[null],
		['text'],
		[{}],
		[{ object: 'whatsapp_business_account', entry: 'x' }],
	])('returns no events and does not throw for %p', (body) => {
		expect(normalizeWebhook(body)).toEqual([]);
	});

	it('skips a change whose value does not fit its field, keeps the others, and reports why', () => {
		const problems: Array<{ field: string; reason: string }> = [];
		const body = {
			object: 'whatsapp_business_account',
			entry: [
				{
					id: '1',
					changes: [
						{ field: 'messages', value: { statuses: [] } },
						{ field: 'message_template_status_update', value: { event: 'APPROVED' } },
						{
							field: 'messages',
							value: {
								metadata: { display_phone_number: '1', phone_number_id: '2' },
								statuses: [{ id: 'wamid.ok', status: 'sent', timestamp: '1' }],
							},
						},
					],
				},
			],
		};
		const events = normalizeWebhook(body, { onInvalid: (p) => problems.push(p) });
		expect(events.map((e) => e.eventId)).toEqual(['status:wamid.ok:sent']);
		expect(problems).toEqual([
			{ field: 'messages', reason: 'metadata: Required' },
			{ field: 'message_template_status_update', reason: 'message_template_id: Required' },
		]);
	});

	const withStatus = (status: Record<string, unknown>, time?: unknown) => ({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: '1',
				time,
				changes: [
					{
						field: 'messages',
						value: {
							metadata: { display_phone_number: '1', phone_number_id: '2' },
							statuses: [status],
						},
					},
				],
			},
		],
	});

	it.each([
		[9_999_999_999_999],
		['99999999999999999999'],
		['1e400'],
		[''],
		[' '],
		['-5'],
		[-1],
		[1e308],
		['not-a-number'],
	])(
		'skips a status whose timestamp %p is not a time a Date can hold, without throwing',
		(timestamp) => {
			expect(normalizeWebhook(withStatus({ id: 'wamid.t', status: 'sent', timestamp }))).toEqual(
				[],
			);
		},
	);

	it('ignores an entry time or expiry it cannot read, keeping the event', () => {
		const events = normalizeWebhook(
			withStatus(
				{
					id: 'wamid.t',
					status: 'sent',
					timestamp: '10',
					conversation: { id: 'c', expiration_timestamp: 1e308 },
				},
				1e308,
			),
		);
		expect(events).toHaveLength(1);
		expect(events[0]).toMatchObject({ conversation: { id: 'c' } });
		expect(events[0]).not.toHaveProperty('conversation.expiresAt');
	});

	it('does not serialise unknown deeply nested data (no stack overflow)', () => {
		let deep: Record<string, unknown> = {};
		for (let i = 0; i < 20_000; i++) deep = { d: deep };
		const body = {
			object: 'whatsapp_business_account',
			entry: [
				{
					id: '1',
					changes: [
						{
							field: 'messages',
							value: {
								metadata: { display_phone_number: '1', phone_number_id: '2' },
								errors: [
									{
										code: 130429,
										title: 'Rate limit hit',
										future_field: deep,
										error_data: { details: 'x', more: deep },
									},
								],
							},
						},
						{
							field: 'message_template_quality_update',
							value: { new_quality_score: 'RED', message_template_id: 5, extra: deep },
						},
					],
				},
			],
		};
		const events = normalizeWebhook(body);
		expect(events.map((e) => e.kind)).toEqual(['error', 'template_quality']);
	});

	it('drops a malformed sub-object instead of the whole status', () => {
		const body = {
			object: 'whatsapp_business_account',
			entry: [
				{
					id: '1',
					changes: [
						{
							field: 'messages',
							value: {
								metadata: { display_phone_number: '1', phone_number_id: '2' },
								statuses: [
									{ id: 'wamid.a', status: 'sent', timestamp: 'not-a-time' },
									{
										id: 'wamid.b',
										status: 'sent',
										timestamp: '10',
										pricing: 'free',
										conversation: 7,
										errors: [null, { code: 'x' }],
									},
								],
							},
						},
					],
				},
			],
		};
		const problems: string[] = [];
		const events = normalizeWebhook(body, { onInvalid: (p) => problems.push(p.reason) });
		expect(events).toEqual([
			{
				kind: 'status',
				eventId: 'status:wamid.b:sent',
				messageId: 'wamid.b',
				status: 'sent',
				recipientId: '',
				timestamp: '1970-01-01T00:00:10.000Z',
				timestampUnix: 10,
				phoneNumberId: '2',
				displayPhoneNumber: '1',
				wabaId: '1',
			},
		]);
		expect(problems).toEqual(['1 malformed statuses skipped']);
	});
});

describe('fastStatus (the written-out statusSchema for plain statuses)', () => {
	const plain = {
		id: 'wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYx',
		status: 'delivered',
		timestamp: '1750000000',
		recipient_id: '16467043595',
		biz_opaque_callback_data: 'wj1:w=1;e=2',
		pricing: { billable: true, pricing_model: 'PMP', category: 'utility', type: 'regular' },
	};
	const schema = statusSchema.nullable().catch(null);
	// Each variant either takes the fast path and must equal the schema's output exactly (keys and their order,
	// as includeRaw shows them), or is left to the schema.
	const variants: Array<[string, unknown, 'fast' | 'schema']> = [
		['the common shape', plain, 'fast'],
		[
			'keys in another order',
			{ pricing: plain.pricing, timestamp: 1750000000, status: 'read', id: 'w.1' },
			'fast',
		],
		['a number timestamp with decimals', { ...plain, timestamp: 1750000000.5 }, 'fast'],
		['a decimal string timestamp', { ...plain, timestamp: '1750000000.25' }, 'fast'],
		[
			'no pricing, a BSUID',
			{ id: 'w.2', status: 'sent', timestamp: '0', recipient_user_id: 'US.123' },
			'fast',
		],
		[
			'pricing in another order, no billable',
			{ ...plain, pricing: { type: 'regular', category: 'marketing' } },
			'fast',
		],
		['an unknown key', { ...plain, new_field: 1 }, 'schema'],
		[
			'a conversation block',
			{ ...plain, conversation: { id: 'c', origin: { type: 'service' } } },
			'schema',
		],
		['errors', { ...plain, status: 'failed', errors: [{ code: 131026, title: 'x' }] }, 'schema'],
		['an empty id', { ...plain, id: '' }, 'schema'],
		['a missing status', { id: 'w', timestamp: '1' }, 'schema'],
		['a timestamp that is not a number', { ...plain, timestamp: '17e8' }, 'schema'],
		['a negative timestamp', { ...plain, timestamp: -1 }, 'schema'],
		['a timestamp past what a Date holds', { ...plain, timestamp: 9e12 }, 'schema'],
		['an infinite timestamp', { ...plain, timestamp: Infinity }, 'schema'],
		['a number recipient id', { ...plain, recipient_id: 16467043595 }, 'schema'],
		['an undefined recipient id', { ...plain, recipient_id: undefined }, 'schema'],
		[
			'billable as a string',
			{ ...plain, pricing: { ...plain.pricing, billable: 'true' } },
			'schema',
		],
		[
			'pricing with an unknown key',
			{ ...plain, pricing: { ...plain.pricing, extra: 1 } },
			'schema',
		],
		['pricing as an array', { ...plain, pricing: [] }, 'schema'],
		['null', null, 'schema'],
		['an array', [plain], 'schema'],
		['a string', 'status', 'schema'],
	];
	it.each(variants)('%s', (_name, input, path) => {
		const fast = fastStatus(input);
		expect(fast === undefined ? 'schema' : 'fast').toBe(path);
		if (fast !== undefined) expect(JSON.stringify(fast)).toBe(JSON.stringify(schema.parse(input)));
	});

	it('gives normalizeWebhook the same events, raw included, as the schema alone', () => {
		const statuses = variants.map(([, input]) => input);
		const body = {
			object: 'whatsapp_business_account',
			entry: [
				{
					id: 'waba',
					changes: [
						{
							field: 'messages',
							value: { metadata: { display_phone_number: '1', phone_number_id: 'pn' }, statuses },
						},
					],
				},
			],
		};
		const skipped: string[] = [];
		const events = normalizeWebhook(body, {
			includeRaw: true,
			onInvalid: (i) => skipped.push(i.reason),
		});
		const bySchema = statuses.map((s) => schema.parse(s)).filter((s) => s !== null);
		// Every status the schema accepts comes out, raw equal to the schema's reading; the rest are reported.
		expect(events.map((e) => JSON.stringify(e.raw))).toEqual(
			bySchema
				.filter((s) => ['sent', 'delivered', 'read', 'played', 'failed'].includes(s.status))
				.map((s) => JSON.stringify(s)),
		);
		expect(skipped.join('\n')).toMatch(/skipped/);
	});

	it('reads statuses that are not an array as none, keeping the rest of the change, as the schema does', () => {
		for (const statuses of ['oops', { 0: {} }, 42, null]) {
			const value = {
				metadata: { display_phone_number: '1', phone_number_id: 'pn' },
				statuses,
				errors: [{ code: 131000, title: 'x' }],
			};
			expect(messagesValueSchema.parse(value).statuses).toBeUndefined();
			const events = normalizeWebhook({
				object: 'whatsapp_business_account',
				entry: [{ id: 'waba', changes: [{ field: 'messages', value }] }],
			});
			expect(events.map((e) => e.kind)).toEqual(['error']);
		}
	});
});

describe('fastEnvelope and fastMessagesShell (the written-out envelope and statuses-only value)', () => {
	const value = {
		messaging_product: 'whatsapp',
		metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
		statuses: [{ id: 'wamid.1', status: 'sent', timestamp: '1750000000' }],
	};
	const body = {
		object: 'whatsapp_business_account',
		entry: [{ id: '102290129340398', changes: [{ value, field: 'messages' }] }],
	};
	/** Each variant either takes the fast path and equals the schema's output exactly (keys and order), or not. */
	function same(fast: unknown, bySchema: () => unknown, path: 'fast' | 'schema'): void {
		expect(fast === undefined ? 'schema' : 'fast').toBe(path);
		if (fast !== undefined) expect(JSON.stringify(fast)).toBe(JSON.stringify(bySchema()));
	}

	it.each(readdirSync(dir).filter((f) => f.endsWith('.json')))(
		'reads the fixture %s as the schemas do',
		(file) => {
			const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
			const fast = fastEnvelope(json);
			if (fast === undefined) return expect(webhookBodySchema.safeParse(json).success).toBe(false);
			expect(JSON.stringify(fast)).toBe(JSON.stringify(webhookBodySchema.parse(json)));
			for (const entry of fast.entry)
				for (const change of entry.changes) {
					if (change.field !== 'messages') continue;
					const shell = fastMessagesShell(change.value);
					if (shell !== undefined)
						expect(JSON.stringify(shell)).toBe(
							JSON.stringify(messagesValueShellSchema.parse(change.value)),
						);
				}
		},
	);

	const envelopes: Array<[string, unknown, 'fast' | 'schema']> = [
		['one status as Meta sends it', body, 'fast'],
		[
			'an entry time and unknown keys at every level',
			{
				...body,
				x: 1,
				entry: [
					{
						time: 1750000000,
						...body.entry[0],
						y: 2,
						changes: [{ field: 'messages', value, z: 3 }],
					},
				],
			},
			'fast',
		],
		['a number id (template webhooks)', { ...body, entry: [{ ...body.entry[0], id: 42 }] }, 'fast'],
		['a string entry time', { ...body, entry: [{ ...body.entry[0], time: '1750000000' }] }, 'fast'],
		[
			'a change without a value',
			{ ...body, entry: [{ id: '1', changes: [{ field: 'messages' }] }] },
			'fast',
		],
		[
			'an entry time that is not a time',
			{ ...body, entry: [{ ...body.entry[0], time: 'soon' }] },
			'schema',
		],
		['another object', { ...body, object: 'page' }, 'schema'],
		['an empty id', { ...body, entry: [{ ...body.entry[0], id: '' }] }, 'schema'],
		['changes that are not an array', { ...body, entry: [{ id: '1', changes: {} }] }, 'schema'],
		[
			'an empty field',
			{ ...body, entry: [{ id: '1', changes: [{ field: '', value }] }] },
			'schema',
		],
		[
			'a __proto__ key',
			JSON.parse('{"object":"whatsapp_business_account","entry":[],"__proto__":{"polluted":1}}'),
			'fast',
		],
		['an array', [body], 'schema'],
	];
	it.each(envelopes)('envelope: %s', (_name, input, path) => {
		same(fastEnvelope(input), () => webhookBodySchema.parse(input), path);
		if (path === 'schema')
			expect(parseWebhookBody(JSON.stringify(input)).ok).toBe(
				webhookBodySchema.safeParse(input).success,
			);
	});

	const values: Array<[string, unknown, 'fast' | 'schema']> = [
		['statuses only', value, 'fast'],
		[
			'no messaging_product, unknown keys',
			{ statuses: [], metadata: { ...value.metadata, extra: 1 }, other: 2 },
			'fast',
		],
		['no statuses', { metadata: value.metadata }, 'fast'],
		['with contacts and messages', { ...value, contacts: [], messages: [] }, 'schema'],
		['with errors', { ...value, errors: [] }, 'schema'],
		['a number messaging_product', { ...value, messaging_product: 1 }, 'schema'],
		['no display number', { ...value, metadata: { phone_number_id: '1' } }, 'schema'],
		[
			'an empty phone number id',
			{ ...value, metadata: { display_phone_number: '1', phone_number_id: '' } },
			'schema',
		],
	];
	it.each(values)('messages value: %s', (_name, input, path) => {
		same(fastMessagesShell(input), () => messagesValueShellSchema.parse(input), path);
	});
});
