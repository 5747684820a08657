/**
 * One HTTP request to a listener of ours on 127.0.0.1 (the Webhook Receiver, in its thread or in a worker), read to
 * the end. node:http rather than fetch: the tests set headers fetch forbids and post bodies the receiver cuts short.
 */
import { request as httpRequest } from 'node:http';

export interface Answer {
	status: number;
	text: string;
}

export function loopbackRequest(
	port: number,
	method: string,
	path: string,
	body?: string | Buffer,
	headers: Record<string, string> = {},
): Promise<Answer> {
	return new Promise((resolve, reject) => {
		const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
			const chunks: Buffer[] = [];
			res.on('data', (c: Buffer) => chunks.push(c));
			res.on('end', () =>
				resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
			);
		});
		req.on('error', (error: NodeJS.ErrnoException) =>
			// A 413 closes the connection while a large body is still being written.
			error.code === 'EPIPE' || error.code === 'ECONNRESET'
				? resolve({ status: -1, text: error.code })
				: reject(error),
		);
		if (body !== undefined) req.end(body);
		else req.end();
	});
}
