/**
 * Inbound media and read receipts, against Meta's documented request and answer shapes:
 * - GET /{media-id} answers url, mime_type, sha256, file_size, id; the URL takes the same access token and works for
 *   5 minutes (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media/).
 * - Mark as read + typing indicator: POST /{phone-number-id}/messages
 *   {"messaging_product":"whatsapp","status":"read","message_id":…,"typing_indicator":{"type":"text"}} → {"success":true}
 *   (https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/).
 */
import { createHash } from 'node:crypto';

import {
	CloudApiClient,
	MediaDownloadError,
	WhatsAppApiError,
	describeFailure,
	downloadMedia,
	mediaFileName,
	metaErrorBody,
} from '../../core';
import type { HttpRequest, HttpResponse, Transport } from '../../core';

const config = {
	phoneNumberId: '106540352242922',
	baseUrl: 'https://graph.test',
	apiVersion: 'v25.0',
};
const MEDIA_ID = '1037543291543636';
const MEDIA_URL = `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${MEDIA_ID}&ext=1&hash=x`;
const JPEG = Buffer.from('\xff\xd8\xff\xe0 a small picture', 'latin1');
const hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Meta's documented answer to GET /{media-id}; `file_size` arrives as a string in Meta's example. */
const mediaAnswer = (overrides: Record<string, unknown> = {}): HttpResponse => ({
	status: 200,
	body: {
		messaging_product: 'whatsapp',
		url: MEDIA_URL,
		mime_type: 'image/jpeg',
		sha256: hex(JPEG),
		file_size: String(JPEG.length),
		id: MEDIA_ID,
		...overrides,
	},
});

function scripted(answers: HttpResponse[]): { transport: Transport; calls: HttpRequest[] } {
	const calls: HttpRequest[] = [];
	return {
		calls,
		transport: async (request) => {
			calls.push(request);
			const next = answers.shift();
			if (!next) throw new Error('no more scripted answers');
			return next;
		},
	};
}

describe('downloadMedia', () => {
	it("asks Graph for the media's URL, downloads it with the token's transport, and returns bytes, type, size and SHA-256", async () => {
		const { transport, calls } = scripted([mediaAnswer(), { status: 200, body: JPEG }]);
		const media = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID);
		expect(media).toEqual({
			mediaId: MEDIA_ID,
			data: JPEG,
			mimeType: 'image/jpeg',
			sha256: hex(JPEG),
			fileSize: JPEG.length,
			fileName: `${MEDIA_ID}.jpg`,
		});
		expect(calls[0]).toMatchObject({
			method: 'GET',
			url: `https://graph.test/v25.0/${MEDIA_ID}`,
			query: { phone_number_id: config.phoneNumberId },
		});
		expect(calls[1]).toMatchObject({ method: 'GET', url: MEDIA_URL, responseType: 'buffer' });
	});

	it("keeps a customer's document name", async () => {
		const pdf = Buffer.from('%PDF-1.4 invoice');
		const { transport } = scripted([
			mediaAnswer({ mime_type: 'application/pdf', sha256: hex(pdf), file_size: pdf.length }),
			{ status: 200, body: pdf },
		]);
		const media = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID, {
			fileName: 'invoice-A-1042.pdf',
		});
		expect(media.fileName).toBe('invoice-A-1042.pdf');
		expect(mediaFileName('9', 'audio/ogg; codecs=opus')).toBe('9.ogg');
	});

	it("refuses bytes whose SHA-256 is not Meta's", async () => {
		const { transport } = scripted([
			mediaAnswer(),
			{ status: 200, body: Buffer.from('something else entirely') },
		]);
		const error = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(MediaDownloadError);
		expect((error as MediaDownloadError).reason).toBe('checksum');
	});

	it('refuses a file over the size limit before downloading it', async () => {
		const { transport, calls } = scripted([mediaAnswer({ file_size: 6 * 1024 * 1024 })]);
		const error = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID, {
			maxBytes: 5 * 1024 * 1024,
		}).catch((e: unknown) => e);
		expect((error as MediaDownloadError).reason).toBe('too_large');
		expect(calls).toHaveLength(1);
	});

	it('asks for a fresh URL once when the first has expired, then explains the 5-minute rule', async () => {
		const expired: HttpResponse = { status: 404, body: 'URL signature expired' };
		const recovered = scripted([
			mediaAnswer(),
			expired,
			mediaAnswer(),
			{ status: 200, body: JPEG },
		]);
		await expect(
			downloadMedia(new CloudApiClient(config, recovered.transport), MEDIA_ID),
		).resolves.toMatchObject({ data: JPEG });
		expect(recovered.calls.map((c) => c.url.split('?')[0])).toHaveLength(4);

		const { transport } = scripted([mediaAnswer(), expired, mediaAnswer(), expired]);
		const error = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(MediaDownloadError);
		expect((error as Error).message).toMatch(/expire 5 minutes/);
		expect(describeFailure(error)).toMatchObject({ reason: 'url_expired', httpStatus: 404 });
	});

	it("passes on Graph's error for an unknown media id (code 100, subcode 33)", async () => {
		const body = metaErrorBody(
			100,
			`Unsupported get request. Object with ID '${MEDIA_ID}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
		);
		body.error.error_subcode = 33;
		const { transport } = scripted([{ status: 400, body }]);
		const error = await downloadMedia(new CloudApiClient(config, transport), MEDIA_ID).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(WhatsAppApiError);
		expect((error as WhatsAppApiError).code).toBe(100);
	});

	it('never sends the access token to a plain-http URL of another host', async () => {
		const { transport, calls } = scripted([mediaAnswer({ url: 'http://evil.test/file' })]);
		await expect(downloadMedia(new CloudApiClient(config, transport), MEDIA_ID)).rejects.toThrow(
			/not sending the access token/,
		);
		expect(calls).toHaveLength(1);
	});

	it('names a value that is not a media id before any request', async () => {
		const { transport, calls } = scripted([]);
		await expect(
			downloadMedia(new CloudApiClient(config, transport), 'https://example.com/a.jpg'),
		).rejects.toThrow(/is not a media ID/);
		expect(calls).toHaveLength(0);
	});
});

describe('CloudApiClient.markAsRead', () => {
	it("posts Meta's documented read receipt, with the typing indicator when asked", async () => {
		const { transport, calls } = scripted([
			{ status: 200, body: { success: true } },
			{ status: 200, body: { success: true } },
		]);
		const client = new CloudApiClient(config, transport);
		await expect(
			client.markAsRead('wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA', {
				typingIndicator: true,
			}),
		).resolves.toBe(true);
		await client.markAsRead('wamid.B');
		expect(calls[0]).toMatchObject({
			method: 'POST',
			url: `https://graph.test/v25.0/${config.phoneNumberId}/messages`,
			json: {
				messaging_product: 'whatsapp',
				status: 'read',
				message_id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA',
				typing_indicator: { type: 'text' },
			},
		});
		expect(calls[1].json).toEqual({
			messaging_product: 'whatsapp',
			status: 'read',
			message_id: 'wamid.B',
		});
	});

	it('refuses an empty message id before sending', async () => {
		const { transport, calls } = scripted([]);
		await expect(new CloudApiClient(config, transport).markAsRead('  ')).rejects.toThrow(
			/message_id/,
		);
		expect(calls).toHaveLength(0);
	});
});
