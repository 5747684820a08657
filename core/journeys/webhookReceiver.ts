/**
 * A webhook receiver of our own: a plain node:http listener that takes Meta's POSTs outside the host's webhook path.
 *
 * Why: n8n spends ~80 ms of its CPU on every webhook request (expression isolates, request handling, execution
 * bookkeeping) whatever the node does, and Meta sends about one status per POST, so n8n's webhook path tops out near
 * 25 events/s on two cores. Our own work per POST is well under a millisecond plus a share of one store write.
 *
 * What it does, per POST: the same checks as the n8n trigger (X-Hub-Signature-256 on the raw bytes, freshness,
 * envelope, body size), then the events join the next store unit of work: POSTs that arrive while one write is under
 * way are recorded together in one `applyEventBatch` (group commit), and each is answered 200 only after that write
 * succeeded (500 if it failed: Meta delivers again). Recorded events wait in an emit buffer for the Batch Window (or
 * until Max Items) and are handed to `emit` as one batch: one workflow execution for many POSTs.
 * GET answers Meta's subscription handshake (hub.challenge) with the verify token.
 *
 * Framework-free: the n8n trigger ("WhatsApp Webhook Receiver") only reads its parameters, starts this and emits.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import type { IngestedEvent, IngestOptions } from '../ingest';
import type { JourneyStateStore } from '../state';
import { DEFAULT_MAX_WEBHOOK_BYTES, verifySubscription } from '../webhooks';
import type { WebhookEvent } from '../webhooks';
import type { ResumeAttempt } from './sendAndWait';
import { checkWebhookPost, recordWebhookEvents } from './webhookReceive';
import type { ReceiverCredential } from './webhookReceive';

/** How the receiver's events are emitted: after `windowMs` from the first one, or at once when `maxItems` are held. */
export interface ReceiverBatch {
	windowMs: number;
	maxItems: number;
}

/** Events of many POSTs recorded in one store unit of work, at most this many (one large write would stall answers). */
const MAX_EVENTS_PER_WRITE = 5000;

/** Batches handed to `emit` whose executions have not finished yet, at most. */
export const MAX_EMITS_IN_FLIGHT = 2;

export interface WebhookReceiverOptions {
	/** The exact path served (e.g. today's n8n webhook path `/webhook/<id>/whatsapp`); anything else is 404. */
	path: string;
	/** The credential as last read (app secret, phone number id, verify token). */
	credential: () => Promise<ReceiverCredential & { verifyToken: string }>;
	/** Read the credential again before refusing a signature (a rotated app secret applies at once). */
	freshCredential?: () => Promise<ReceiverCredential & { verifyToken: string }>;
	allowUnsigned: boolean;
	allPhoneNumbers: boolean;
	includeRaw: boolean;
	store: () => Promise<JourneyStateStore>;
	ingest: IngestOptions;
	resume?: ResumeAttempt;
	batch: ReceiverBatch;
	/**
	 * Receives each batch of recorded events, in the order they were recorded. May return a promise that settles when
	 * the batch's execution has finished: at most `MAX_EMITS_IN_FLIGHT` run at once, and while they run new events
	 * gather into the next batch (up to Max Items), so a host that falls behind gets fewer, larger executions instead
	 * of a growing pile of them.
	 */
	emit: (events: IngestedEvent[]) => void | Promise<unknown>;
	/** Largest body accepted (413 beyond); Meta's are a few KiB, a full batch of 100 under 1 MiB. */
	maxBodyBytes?: number;
	/** For the host's log: never given a secret, a body or a signature. */
	log?: (message: string, error?: unknown) => void;
}

/** What the receiver has done since it started (for tests, the bench and a status line). */
export interface ReceiverCounts {
	posts: number;
	refused: number;
	failed: number;
	received: number;
	duplicates: number;
	lateDropped: number;
	stale: number;
	emitted: number;
	/** Store units of work: fewer than POSTs when concurrent POSTs were recorded together. */
	writes: number;
}

interface PendingWrite {
	events: WebhookEvent[];
	done: (error?: unknown) => void;
}

export class WebhookReceiver {
	readonly counts: ReceiverCounts = {
		posts: 0,
		refused: 0,
		failed: 0,
		received: 0,
		duplicates: 0,
		lateDropped: 0,
		stale: 0,
		emitted: 0,
		writes: 0,
	};
	private readonly pending: PendingWrite[] = [];
	private writing: Promise<void> | undefined;
	private buffer: IngestedEvent[] = [];
	private timer: NodeJS.Timeout | undefined;
	private closed = false;
	private emitsInFlight = 0;

	constructor(private readonly options: WebhookReceiverOptions) {
		if (!options.path.startsWith('/'))
			throw new Error(`The receiver's path must start with "/"; got "${options.path}".`);
	}

	get path(): string {
		return this.options.path;
	}

	/** A node:http request handler; the caller has matched the path. Never throws. */
	handle(req: IncomingMessage, res: ServerResponse): void {
		this.route(req, res).catch((error: unknown) => {
			this.options.log?.('WhatsApp webhook receiver: request failed', error);
			if (!res.headersSent) answer(res, 500, 'Internal error; deliver again');
		});
	}

	/**
	 * Stops taking POSTs (503 from now on), waits for the writes under way and emits what is buffered now rather
	 * than at the end of its window: everything acknowledged is handed on before this resolves.
	 */
	async close(): Promise<void> {
		this.closed = true;
		while (this.writing) await this.writing;
		this.flush(true);
	}

	private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? '/', 'http://receiver');
		if (req.method === 'GET') {
			const query = Object.fromEntries(url.searchParams);
			const check = verifySubscription(query, (await this.options.credential()).verifyToken);
			answer(res, check.ok ? 200 : 403, check.ok ? check.challenge : 'Forbidden');
			return;
		}
		if (req.method !== 'POST') {
			res.setHeader('allow', 'GET, POST');
			answer(res, 405, 'Method not allowed');
			return;
		}
		if (this.closed) {
			answer(res, 503, 'The receiver is stopping; deliver again');
			return;
		}
		this.counts.posts++;
		const maxBytes = this.options.maxBodyBytes ?? DEFAULT_MAX_WEBHOOK_BYTES;
		const raw = await readBody(req, maxBytes);
		if (raw === 'too large') {
			this.counts.refused++;
			// The rest of the body is not read: close the connection rather than drain it.
			res.setHeader('connection', 'close');
			answer(res, 413, `The body is larger than ${maxBytes} bytes`);
			return;
		}
		const signature = req.headers['x-hub-signature-256'];
		const checked = await checkWebhookPost(
			{
				raw,
				signatureHeader: Array.isArray(signature) ? signature[0] : signature,
				credential: await this.options.credential(),
				freshCredential: this.options.freshCredential,
				allowUnsigned: this.options.allowUnsigned,
				allPhoneNumbers: this.options.allPhoneNumbers,
				includeRaw: this.options.includeRaw,
			},
			maxBytes,
		);
		if (checked.kind === 'refused') {
			this.counts.refused++;
			answer(res, checked.status, checked.reason);
			return;
		}
		if (checked.events.length > 0) {
			try {
				await this.record(checked.events);
			} catch (error) {
				this.counts.failed++;
				this.options.log?.('WhatsApp webhook receiver: the store write failed', error);
				answer(
					res,
					500,
					'The events could not be recorded in the journey state store; deliver again',
				);
				return;
			}
		}
		answer(res, 200, 'EVENT_RECEIVED');
	}

	/** Resolves once these events are recorded (with whatever else arrived meanwhile), rejects if that write failed. */
	private record(events: WebhookEvent[]): Promise<void> {
		return new Promise<void>((resolve, reject) => {
			this.pending.push({ events, done: (error) => (error ? reject(error) : resolve()) });
			// Started after this turn's I/O callbacks: every POST whose body completed meanwhile joins the first write
			// too. (The SQLite store writes synchronously, so without the pause no two POSTs would ever share one.)
			this.writing ??= new Promise<void>((r) => setImmediate(r))
				.then(() => this.drain())
				.finally(() => (this.writing = undefined));
		});
	}

	/** One write after another; each takes everything that queued up while the previous one ran. */
	private async drain(): Promise<void> {
		while (this.pending.length > 0) {
			const group: PendingWrite[] = [];
			let size = 0;
			while (this.pending.length > 0 && (group.length === 0 || size < MAX_EVENTS_PER_WRITE)) {
				const next = this.pending.shift()!;
				group.push(next);
				size += next.events.length;
			}
			try {
				const events = group.flatMap((g) => g.events);
				const store = await this.options.store();
				const result = await recordWebhookEvents(
					events,
					store,
					this.options.ingest,
					this.options.resume,
				);
				this.counts.writes++;
				this.counts.received += events.length;
				this.counts.duplicates += result.duplicates;
				this.counts.lateDropped += result.lateDropped;
				this.counts.stale += result.stale;
				// Buffered before anyone is answered: an acknowledged event is always on its way to `emit`.
				this.enqueue(result.events);
				for (const g of group) g.done();
			} catch (error) {
				for (const g of group) g.done(error ?? new Error('store write failed'));
			}
		}
	}

	private enqueue(events: IngestedEvent[]): void {
		if (events.length === 0) return;
		this.buffer.push(...events);
		const { windowMs, maxItems } = this.options.batch;
		if (this.closed || windowMs <= 0 || this.buffer.length >= maxItems) {
			this.flush();
			return;
		}
		// Not unref'd: these events were acknowledged to Meta, so the process should live until they are emitted.
		this.timer ??= setTimeout(() => this.flush(), windowMs);
	}

	/** Emits what is buffered, as long as fewer than MAX_EMITS_IN_FLIGHT executions run (`all`: regardless). */
	private flush(all = false): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = undefined;
		const { maxItems } = this.options.batch;
		while (this.buffer.length > 0 && (all || this.emitsInFlight < MAX_EMITS_IN_FLIGHT)) {
			const batch = this.buffer.splice(0, Math.max(1, maxItems));
			this.counts.emitted += batch.length;
			this.emitsInFlight++;
			Promise.resolve()
				.then(() => this.options.emit(batch))
				.catch((error: unknown) =>
					this.options.log?.('WhatsApp webhook receiver: emit failed', error),
				)
				.finally(() => {
					this.emitsInFlight--;
					// What gathered meanwhile has waited at least as long as that execution ran: emit it now.
					if (this.buffer.length > 0) this.flush();
				});
		}
	}
}

function answer(res: ServerResponse, status: number, text: string): void {
	// With its length known the answer is one write (status line, headers and body), not a chunked one of three.
	res.writeHead(status, {
		'content-type': 'text/plain; charset=utf-8',
		'content-length': Buffer.byteLength(text),
	});
	res.end(text);
}

/** The raw bytes (Meta signs those), or 'too large' as soon as more than `maxBytes` arrived. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too large'> {
	const declared = Number(req.headers['content-length']);
	if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve('too large');
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > maxBytes) {
				req.removeAllListeners('data');
				req.pause();
				resolve('too large');
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

/** Where a receiver listens. Several receivers (workflows) may share one host and port with different paths. */
export interface ListenAddress {
	host: string;
	port: number;
}

interface SharedServer {
	server: Server;
	receivers: Map<string, WebhookReceiver>;
	listening: Promise<void>;
}

/** One node:http server per host:port in this process, routing by exact path. */
const servers = new Map<string, SharedServer>();

/**
 * Serves `receiver` at its path on `address`, opening the listener if this process has none there yet. Resolves
 * when it is listening; rejects (and serves nothing) when the port is taken by something else or the path by
 * another receiver. The returned function stops serving it (the listener closes with its last receiver).
 */
export async function listenWebhookReceiver(
	address: ListenAddress,
	receiver: WebhookReceiver,
): Promise<() => Promise<void>> {
	const key = `${address.host}|${address.port}`;
	let shared = servers.get(key);
	if (!shared) {
		const receivers = new Map<string, WebhookReceiver>();
		const server = createServer((req, res) => {
			const path = (req.url ?? '/').split('?')[0];
			const target = receivers.get(path);
			if (target) target.handle(req, res);
			else answer(res, 404, 'Not found');
		});
		// Meta waits up to a few seconds; a slow client must not hold a socket for ever.
		server.requestTimeout = 30_000;
		server.headersTimeout = 15_000;
		server.keepAliveTimeout = 65_000;
		const listening = new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(address.port, address.host, () => {
				server.off('error', reject);
				resolve();
			});
		});
		shared = { server, receivers, listening };
		servers.set(key, shared);
		try {
			await listening;
		} catch (error) {
			servers.delete(key);
			throw new Error(
				`The WhatsApp webhook receiver cannot listen on ${address.host}:${address.port}: ${error instanceof Error ? error.message : String(error)}`,
			);
		}
	} else {
		await shared.listening;
	}
	if (shared.receivers.has(receiver.path))
		throw new Error(
			`Another active workflow's receiver already serves ${receiver.path} on ${address.host}:${address.port}`,
		);
	shared.receivers.set(receiver.path, receiver);
	const own = shared;
	return async () => {
		if (own.receivers.get(receiver.path) === receiver) own.receivers.delete(receiver.path);
		await receiver.close();
		if (own.receivers.size === 0 && servers.get(key) === own) {
			servers.delete(key);
			await new Promise<void>((resolve) => {
				own.server.close(() => resolve());
				own.server.closeIdleConnections();
			});
		}
	};
}
