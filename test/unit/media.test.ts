import { MediaUploads } from '../../core';
import type { CloudApiClient } from '../../core';

/** A client whose uploads are counted; `fail` makes the next upload fail. */
function client() {
	const uploads: string[] = [];
	let fail = false;
	const fake = {
		uploadMedia: async (file: { data: Buffer; fileName: string; mimeType: string }) => {
			uploads.push(`${file.fileName}|${file.mimeType}`);
			if (fail) {
				fail = false;
				throw new Error('upload refused');
			}
			return String(1000 + uploads.length);
		},
	} as unknown as CloudApiClient;
	return { fake, uploads, failNext: () => (fail = true) };
}

const pdf = (text: string) => ({
	data: Buffer.from(text),
	fileName: 'brochure.pdf',
	mimeType: 'application/pdf',
});

describe('MediaUploads', () => {
	it('uploads each distinct file once and hands later messages the same media id', async () => {
		const { fake, uploads } = client();
		const media = new MediaUploads();
		const ids = await Promise.all([
			media.mediaId(fake, pdf('A')),
			media.mediaId(fake, pdf('A')),
			media.mediaId(fake, pdf('B')),
		]);
		expect(ids[0]).toBe(ids[1]);
		expect(ids[2]).not.toBe(ids[0]);
		expect(uploads).toHaveLength(2);
	});

	it('uploads the same bytes again under another MIME type, after the reuse time, and after a failed upload', async () => {
		let clock = 0;
		const { fake, uploads, failNext } = client();
		const media = new MediaUploads({ reuseMs: 1000, now: () => clock });
		await media.mediaId(fake, pdf('A'));
		await media.mediaId(fake, { ...pdf('A'), mimeType: 'text/plain' });
		clock = 1500;
		await media.mediaId(fake, pdf('A'));
		expect(uploads).toHaveLength(3);

		failNext();
		await expect(media.mediaId(fake, pdf('C'))).rejects.toThrow('upload refused');
		await expect(media.mediaId(fake, pdf('C'))).resolves.toMatch(/^\d+$/);
		expect(uploads).toHaveLength(5);
	});

	it('forgets the oldest file beyond maxFiles', async () => {
		const { fake, uploads } = client();
		const media = new MediaUploads({ maxFiles: 2 });
		for (const text of ['A', 'B', 'C']) await media.mediaId(fake, pdf(text));
		await media.mediaId(fake, pdf('C')); // still remembered
		await media.mediaId(fake, pdf('A')); // forgotten: uploaded again
		expect(uploads).toHaveLength(4);
	});
});
