import * as net from 'node:net';

/** n8n's default task-broker port; never hand it out so a stray default-configured n8n cannot collide with us. */
const RESERVED = new Set([5678, 5679]);
const handedOut = new Set<number>();

/** A TCP port that is free on 127.0.0.1 now and was not given out earlier in this process. */
export async function freePort(): Promise<number> {
	for (let attempt = 0; attempt < 50; attempt += 1) {
		const port = await new Promise<number>((resolve, reject) => {
			const server = net.createServer();
			server.unref();
			server.once('error', reject);
			server.listen(0, '127.0.0.1', () => {
				const address = server.address();
				const chosen = typeof address === 'object' && address !== null ? address.port : 0;
				server.close(() => resolve(chosen));
			});
		});
		if (port > 0 && !RESERVED.has(port) && !handedOut.has(port)) {
			handedOut.add(port);
			return port;
		}
	}
	throw new Error('no free TCP port found on 127.0.0.1');
}
