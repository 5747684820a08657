/**
 * sessionMessageFromFields: the one place where form fields (n8n's Send Session Message parameters, Node-RED's
 * msg.payload) become Meta's session message shape, validated.
 */
import { MessageValidationError, mediaReference, sessionMessageFromFields } from '../../core';

describe('sessionMessageFromFields', () => {
	it('asks for a link preview only when the text holds a URL', () => {
		expect(sessionMessageFromFields({ type: 'text', text: 'See https://example.com/t/1' })).toEqual(
			{ type: 'text', text: { body: 'See https://example.com/t/1', preview_url: true } },
		);
		expect(sessionMessageFromFields({ type: 'text', text: 'Thanks!' })).toEqual({
			type: 'text',
			text: { body: 'Thanks!', preview_url: false },
		});
	});

	it('drops a caption on audio and a file name on anything but documents, rather than failing on them', () => {
		expect(
			sessionMessageFromFields({
				type: 'audio',
				media: { id: '123', caption: 'x', filename: 'a.ogg' },
			}),
		).toEqual({ type: 'audio', audio: { id: '123' } });
		expect(
			sessionMessageFromFields({
				type: 'image',
				media: { link: 'https://example.com/a.jpg', caption: 'Parcel', filename: 'a.jpg' },
			}),
		).toEqual({
			type: 'image',
			image: { link: 'https://example.com/a.jpg', caption: 'Parcel' },
		});
		expect(
			sessionMessageFromFields({ type: 'document', media: { id: '9', filename: 'invoice.pdf' } }),
		).toEqual({ type: 'document', document: { id: '9', filename: 'invoice.pdf' } });
	});

	it('says which media is missing', () => {
		expect(() =>
			sessionMessageFromFields({ type: 'video', media: { caption: 'only a caption' } }),
		).toThrow(/video: needs the media/);
	});

	it('groups list rows by section in order of first appearance, with the default button label', () => {
		const message = sessionMessageFromFields({
			type: 'list',
			text: 'When?',
			rows: [
				{ id: 'a', title: 'Morning', section: 'Tue' },
				{ id: 'b', title: 'Morning', section: 'Wed' },
				{ id: 'c', title: 'Evening', section: 'Tue', description: 'late' },
			],
		});
		expect(message).toEqual({
			type: 'interactive',
			interactive: {
				type: 'list',
				body: { text: 'When?' },
				action: {
					button: 'Choose',
					sections: [
						{
							title: 'Tue',
							rows: [
								{ id: 'a', title: 'Morning' },
								{ id: 'c', title: 'Evening', description: 'late' },
							],
						},
						{ title: 'Wed', rows: [{ id: 'b', title: 'Morning' }] },
					],
				},
			},
		});
	});

	it('refuses what Meta would, naming the field: too many buttons, duplicate titles', () => {
		const four = ['a', 'b', 'c', 'd'].map((t) => ({ id: t, title: t }));
		expect(() =>
			sessionMessageFromFields({ type: 'buttons', text: 'Pick', buttons: four }),
		).toThrow(MessageValidationError);
		expect(() =>
			sessionMessageFromFields({ type: 'buttons', text: 'Pick', buttons: four }),
		).toThrow(/interactive\.action\.buttons: holds at most 3 buttons/);
		expect(() =>
			sessionMessageFromFields({
				type: 'buttons',
				text: 'Pick',
				buttons: [
					{ id: '1', title: 'Yes' },
					{ id: '2', title: 'Yes' },
				],
			}),
		).toThrow(/titles must be unique/);
	});
});

describe('mediaReference', () => {
	it('reads digits as an uploaded media id and anything else as a link', () => {
		expect(mediaReference(' 1234567890 ')).toEqual({ id: '1234567890' });
		expect(mediaReference('https://example.com/a.jpg')).toEqual({
			link: 'https://example.com/a.jpg',
		});
	});
});
