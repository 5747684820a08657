import {
	BIZ_OPAQUE_CALLBACK_DATA_MAX,
	buildEnvelope,
	buildSessionMessage,
	cloudApiMessageRequestSchema,
	markAsReadRequest,
	markAsReadRequestSchema,
	MessageValidationError,
} from '../../core/messages';
import { buildTemplateMessage } from '../../core/templates';
import { fixtureSendValues, fixtureTemplate } from '../../sandbox/fixtures/templates';

function issuesOf(fn: () => unknown): string[] {
	try {
		fn();
	} catch (error) {
		expect(error).toBeInstanceOf(MessageValidationError);
		return (error as MessageValidationError).issues.map((i) => `${i.path}: ${i.message}`);
	}
	throw new Error('expected a MessageValidationError');
}

const buttons = (n: number, title = (i: number) => `Option ${i}`) =>
	Array.from({ length: n }, (_, i) => ({
		type: 'reply',
		reply: { id: `opt_${i}`, title: title(i) },
	}));

describe('buildSessionMessage', () => {
	it('accepts a text message with a link preview', () => {
		expect(
			buildSessionMessage({
				type: 'text',
				text: { body: 'Your order shipped: https://t.example.com/1', preview_url: true },
			}),
		).toEqual({
			type: 'text',
			text: { body: 'Your order shipped: https://t.example.com/1', preview_url: true },
		});
	});

	it('rejects a text body over 4096 characters, naming the field', () => {
		const [issue] = issuesOf(() =>
			buildSessionMessage({ type: 'text', text: { body: 'x'.repeat(4097) } }),
		);
		expect(issue).toMatch(/^text\.body: is longer than 4096/);
		expect(() =>
			buildSessionMessage({ type: 'text', text: { body: 'x'.repeat(4096) } }),
		).not.toThrow();
	});

	it('accepts media by link or id, with caption and document filename', () => {
		expect(
			buildSessionMessage({
				type: 'image',
				image: { link: 'https://cdn.example.com/a.jpg', caption: 'New in' },
			}).type,
		).toBe('image');
		expect(
			buildSessionMessage({
				type: 'document',
				document: { id: '1234567890', filename: 'invoice.pdf' },
			}).type,
		).toBe('document');
		expect(buildSessionMessage({ type: 'audio', audio: { id: '1234567890' } }).type).toBe('audio');
	});

	it('rejects media with both or neither of id and link, and captions on audio', () => {
		expect(
			issuesOf(() =>
				buildSessionMessage({ type: 'image', image: { id: '1', link: 'https://x.example/a.jpg' } }),
			)[0],
		).toMatch(/exactly one of "id"/);
		expect(issuesOf(() => buildSessionMessage({ type: 'video', video: {} }))[0]).toMatch(
			/exactly one of "id"/,
		);
		expect(
			issuesOf(() =>
				buildSessionMessage({ type: 'image', image: { link: 'ftp://x.example/a.jpg' } }),
			)[0],
		).toMatch(/image\.link: must be a public http/);
		expect(() => buildSessionMessage({ type: 'audio', audio: { id: '1', caption: 'hi' } })).toThrow(
			MessageValidationError,
		);
	});

	it('accepts 1 to 3 reply buttons and rejects a fourth', () => {
		const message = (n: number) => ({
			type: 'interactive',
			interactive: { type: 'button', body: { text: 'Pick one' }, action: { buttons: buttons(n) } },
		});
		expect(() => buildSessionMessage(message(3))).not.toThrow();
		expect(issuesOf(() => buildSessionMessage(message(4)))[0]).toMatch(
			/interactive\.action\.buttons: holds at most 3 buttons/,
		);
		expect(issuesOf(() => buildSessionMessage(message(0)))[0]).toMatch(/at least one button/);
	});

	it('rejects a reply button title over 20 characters and duplicate ids', () => {
		const long = {
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: 'Pick' },
				action: { buttons: buttons(1, () => 'x'.repeat(21)) },
			},
		};
		expect(issuesOf(() => buildSessionMessage(long))[0]).toMatch(
			/interactive\.action\.buttons\[0\]\.reply\.title: is longer than 20/,
		);
		const dup = {
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: 'Pick' },
				action: {
					buttons: [buttons(1)[0], { type: 'reply', reply: { id: 'opt_0', title: 'Other' } }],
				},
			},
		};
		expect(issuesOf(() => buildSessionMessage(dup))[0]).toMatch(/button ids must be unique/);
	});

	it('accepts a list of up to 10 rows and rejects an 11th row across sections', () => {
		const rows = (n: number, from = 0) =>
			Array.from({ length: n }, (_, i) => ({
				id: `r${from + i}`,
				title: `Row ${from + i}`,
				description: 'A short line',
			}));
		const list = (a: number, b: number) => ({
			type: 'interactive',
			interactive: {
				type: 'list',
				body: { text: 'Choose a slot' },
				action: {
					button: 'Slots',
					sections: [
						{ title: 'Morning', rows: rows(a) },
						{ title: 'Evening', rows: rows(b, 100) },
					],
				},
			},
		});
		expect(() => buildSessionMessage(list(5, 5))).not.toThrow();
		expect(issuesOf(() => buildSessionMessage(list(6, 5)))[0]).toMatch(/at most 10 in total/);
	});

	it('enforces list row title 24, description 72, button label 20 and section titles when there are several', () => {
		const base = (
			row: Record<string, unknown>,
			button = 'Slots',
			sectionTitle = 'Morning',
			twoSections = false,
		) => ({
			type: 'interactive',
			interactive: {
				type: 'list',
				body: { text: 'Choose' },
				action: {
					button,
					sections: [
						{
							...(sectionTitle ? { title: sectionTitle } : {}),
							rows: [{ id: 'a', title: 'A', ...row }],
						},
						...(twoSections ? [{ title: 'Evening', rows: [{ id: 'b', title: 'B' }] }] : []),
					],
				},
			},
		});
		expect(issuesOf(() => buildSessionMessage(base({ title: 'x'.repeat(25) })))[0]).toMatch(
			/rows\[0\]\.title: is longer than 24/,
		);
		expect(issuesOf(() => buildSessionMessage(base({ description: 'x'.repeat(73) })))[0]).toMatch(
			/rows\[0\]\.description: is longer than 72/,
		);
		expect(issuesOf(() => buildSessionMessage(base({}, 'x'.repeat(21))))[0]).toMatch(
			/action\.button: is longer than 20/,
		);
		expect(issuesOf(() => buildSessionMessage(base({}, 'Slots', '', true)))[0]).toMatch(
			/sections\[0\]\.title: is required/,
		);
	});

	it('names the allowed types when the type is unknown', () => {
		expect(issuesOf(() => buildSessionMessage({ type: 'fax', fax: {} }))[0]).toMatch(
			/^type: must be one of "text"/,
		);
	});
});

describe('buildEnvelope', () => {
	it('wraps a template object with tracking data and a reply context', () => {
		const template = buildTemplateMessage(
			fixtureTemplate('order_confirmation'),
			fixtureSendValues['order_confirmation/en_US'] as Record<string, unknown>,
		);
		const request = buildEnvelope('+14155552671', template, {
			bizOpaqueCallbackData: 'j1:s2',
			replyToMessageId: 'wamid.ABC',
		});
		expect(request).toEqual({
			messaging_product: 'whatsapp',
			recipient_type: 'individual',
			to: '+14155552671',
			type: 'template',
			template,
			biz_opaque_callback_data: 'j1:s2',
			context: { message_id: 'wamid.ABC' },
		});
		expect(cloudApiMessageRequestSchema.safeParse(request).success).toBe(true);
	});

	it('wraps a session message as is', () => {
		const request = buildEnvelope(
			'+4915123456789',
			buildSessionMessage({ type: 'text', text: { body: 'Hi' } }),
		);
		expect(request).toMatchObject({ type: 'text', text: { body: 'Hi' }, to: '+4915123456789' });
		expect(request).not.toHaveProperty('biz_opaque_callback_data');
	});

	it('refuses tracking data longer than 512 characters', () => {
		const message = buildSessionMessage({ type: 'text', text: { body: 'Hi' } });
		expect(() =>
			buildEnvelope('+14155552671', message, {
				bizOpaqueCallbackData: 'x'.repeat(BIZ_OPAQUE_CALLBACK_DATA_MAX),
			}),
		).not.toThrow();
		expect(
			issuesOf(() =>
				buildEnvelope('+14155552671', message, { bizOpaqueCallbackData: 'x'.repeat(513) }),
			)[0],
		).toMatch(/^biz_opaque_callback_data: is longer than 512/);
	});

	it('refuses a recipient that is not E.164 and says how to fix it', () => {
		const message = buildSessionMessage({ type: 'text', text: { body: 'Hi' } });
		expect(issuesOf(() => buildEnvelope('14155552671', message))[0]).toMatch(
			/^to: .*normalizeRecipient/,
		);
	});
});

describe('cloudApiMessageRequestSchema', () => {
	const envelope = { messaging_product: 'whatsapp', to: '+14155552671' };

	it('treats a missing type as text', () => {
		expect(
			cloudApiMessageRequestSchema.safeParse({ ...envelope, text: { body: 'Hi' } }).success,
		).toBe(true);
		expect(cloudApiMessageRequestSchema.safeParse({ ...envelope }).success).toBe(false);
	});

	it('rejects a type without its object, an unknown type and a malformed template', () => {
		const missing = cloudApiMessageRequestSchema.safeParse({ ...envelope, type: 'image' });
		expect(missing.success).toBe(false);
		expect(missing.error?.issues[0]?.path).toEqual(['image']);
		expect(
			cloudApiMessageRequestSchema.safeParse({ ...envelope, type: 'fax', fax: {} }).success,
		).toBe(false);
		const badTemplate = cloudApiMessageRequestSchema.safeParse({
			...envelope,
			type: 'template',
			template: { name: 'x' },
		});
		expect(badTemplate.success).toBe(false);
		expect(badTemplate.error?.issues[0]?.path.slice(0, 2)).toEqual(['template', 'language']);
	});

	it('rejects a messaging_product other than whatsapp', () => {
		expect(
			cloudApiMessageRequestSchema.safeParse({
				...envelope,
				messaging_product: 'sms',
				text: { body: 'Hi' },
			}).success,
		).toBe(false);
	});
});

describe('markAsReadRequest', () => {
	it('marks a message read, with the typing indicator on request', () => {
		expect(markAsReadRequest('wamid.IN1')).toEqual({
			messaging_product: 'whatsapp',
			status: 'read',
			message_id: 'wamid.IN1',
		});
		const typing = markAsReadRequest('wamid.IN1', true);
		expect(typing.typing_indicator).toEqual({ type: 'text' });
		expect(markAsReadRequestSchema.safeParse(typing).success).toBe(true);
		expect(() => markAsReadRequest('')).toThrow(MessageValidationError);
	});
});
