/**
 * The receiver (webhookReceiver.ts) in a worker thread of its own.
 *
 * Why: in n8n the receiver shared one JavaScript thread with n8n itself, and per event it spent more of that thread
 * (reading the body, signature, parsing, de-duplication, the store write) than n8n's executions did; one thread
 * topped out near 1,700 events/s however idle the second core was. Here the listener, every check and every store
 * write run in a node:worker_threads Worker, and the host's thread only receives ready batches (structured clones
 * over the worker's MessagePort), emits them and answers `done` when their execution finished, so the emit window
 * (at most two executions at once) and the outbox (exactly once across kill -9) work as before.
 *
 * One worker per process hosts every receiver of that process (several workflows may share a port with different
 * paths, which needs one listener). It opens its own connection to the store (SQLite is made for several
 * connections: WAL and busy_timeout; Redis takes any number of clients).
 *
 * No in-thread fallback: a Worker is part of every Node.js n8n runs on, so a fallback would be a second path that
 * nothing exercises; when the worker cannot start, activation fails with the reason.
 *
 * Framework-free: the n8n trigger gives the entry file (a thin host that calls `serveReceiverWorker`) and its hooks.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

import { sharedStateStore } from '../connection';
import type { StoreSettings } from '../connection';
import type { IngestedEvent } from '../ingest';
import type { WaitLink } from '../state';
import type { ResumeAttempt } from './resumeDispatcher';
import { receiveIngestOptions } from './webhookReceive';
import type { ReceiverCredential, ReceiveSettings } from './webhookReceive';
import { listenWebhookReceiver, WebhookReceiver } from './webhookReceiver';
import type { ListenAddress, ReceiverBatch } from './webhookReceiver';

type Credential = ReceiverCredential & { verifyToken: string };

/** Everything a receiver needs, as plain data (it is cloned into the worker). */
export interface ReceiverWorkerConfig {
	address: ListenAddress;
	path: string;
	credential: Credential;
	allowUnsigned: boolean;
	allPhoneNumbers: boolean;
	includeRaw: boolean;
	store: StoreSettings;
	settings: ReceiveSettings;
	/** Whether events that end a Send and Wait claim it (the host then posts the resume: `hooks.resume`). */
	resume: boolean;
	batch: ReceiverBatch;
	maxBodyBytes?: number;
}

/** What the host's thread does for a receiver in the worker. */
export interface ReceiverWorkerHooks {
	/** A batch of recorded events; settles when its execution has finished (see WebhookReceiverOptions.emit). */
	emit: (events: IngestedEvent[]) => Promise<unknown>;
	/** Reads the credential again (a refused signature, or the last reading is 30 s old). */
	credential: () => Promise<Credential>;
	resume?: ResumeAttempt;
	/** Never given a secret, a body or a signature: a message and an error's message. */
	log?: (message: string, error?: string) => void;
	/** The worker died: this receiver takes no POSTs any more (what it acknowledged is in the outbox). */
	failed?: (error: Error) => void;
}

/** How long the worker uses a credential reading before it asks the host again in the background. */
const CREDENTIAL_REFRESH_MS = 30_000;

type ToWorker =
	| { type: 'add'; id: number; config: ReceiverWorkerConfig }
	| { type: 'remove'; id: number }
	| { type: 'reply'; call: number; value?: unknown; error?: string };

type FromWorker =
	| { type: 'added'; id: number }
	| { type: 'removed'; id: number }
	| { type: 'refused'; id: number; error: string }
	| { type: 'call'; id: number; call: number; what: 'emit'; events: IngestedEvent[] }
	| { type: 'call'; id: number; call: number; what: 'credential' }
	| {
			type: 'call';
			id: number;
			call: number;
			what: 'resume';
			link: WaitLink;
			body: string;
			proof: string;
	  }
	| { type: 'log'; id: number; message: string; error?: string };

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error ?? '');
}

/**
 * The worker's side: serves `add` and `remove` from the host on `port` (the worker's parentPort). The host's
 * replies settle the calls this side makes (emit, credential, resume).
 */
export function serveReceiverWorker(port: MessagePort): void {
	const stops = new Map<number, Promise<() => Promise<void>>>();
	const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
	let nextCall = 0;
	const post = (message: FromWorker) => port.postMessage(message);
	const ask = <T>(
		message: { id: number } & (
			| { what: 'emit'; events: IngestedEvent[] }
			| { what: 'credential' }
			| { what: 'resume'; link: WaitLink; body: string; proof: string }
		),
	): Promise<T> =>
		new Promise<T>((resolve, reject) => {
			const call = ++nextCall;
			calls.set(call, { resolve: resolve as (v: unknown) => void, reject });
			post({ type: 'call', call, ...message } as FromWorker);
		});

	const add = async (id: number, config: ReceiverWorkerConfig): Promise<() => Promise<void>> => {
		let credential = config.credential;
		let readAt = Date.now();
		const fresh = async () => {
			credential = await ask<Credential>({ id, what: 'credential' });
			readAt = Date.now();
			return credential;
		};
		const log = (message: string, error?: unknown) =>
			post({ type: 'log', id, message, error: error === undefined ? undefined : messageOf(error) });
		const receiver = new WebhookReceiver({
			path: config.path,
			credential: async () => {
				// The reading in hand answers at once; a newer one (another phone number id) applies from the next POST.
				if (Date.now() - readAt > CREDENTIAL_REFRESH_MS) {
					readAt = Date.now();
					fresh().catch((error: unknown) =>
						log('WhatsApp webhook receiver: could not read the credential again', error),
					);
				}
				return credential;
			},
			freshCredential: fresh,
			allowUnsigned: config.allowUnsigned,
			allPhoneNumbers: config.allPhoneNumbers,
			includeRaw: config.includeRaw,
			store: () => sharedStateStore(config.store),
			ingest: receiveIngestOptions(config.settings),
			resume: config.resume
				? {
						post: (link, body, proof) => ask<number>({ id, what: 'resume', link, body, proof }),
					}
				: undefined,
			batch: config.batch,
			emit: (events) => ask({ id, what: 'emit', events }),
			maxBodyBytes: config.maxBodyBytes,
			log,
		});
		return listenWebhookReceiver(config.address, receiver);
	};

	port.on('message', (message: ToWorker) => {
		if (message.type === 'reply') {
			const pending = calls.get(message.call);
			calls.delete(message.call);
			if (message.error !== undefined) pending?.reject(new Error(message.error));
			else pending?.resolve(message.value);
		} else if (message.type === 'add') {
			const started = add(message.id, message.config);
			stops.set(message.id, started);
			started.then(
				() => post({ type: 'added', id: message.id }),
				(error: unknown) => {
					stops.delete(message.id);
					post({ type: 'refused', id: message.id, error: messageOf(error) });
				},
			);
		} else if (message.type === 'remove') {
			const started = stops.get(message.id);
			stops.delete(message.id);
			void (started ?? Promise.resolve(async () => undefined))
				.then((stop) => stop())
				.catch((error: unknown) =>
					post({
						type: 'log',
						id: message.id,
						message: 'WhatsApp webhook receiver: stopping failed',
						error: messageOf(error),
					}),
				)
				// Everything it emitted while closing was posted before this: the host sees those batches first.
				.finally(() => post({ type: 'removed', id: message.id }));
		}
	});
}

/**
 * The worker entry `name` beside `dir`: the built `.js`, or (tests and tools running the TypeScript sources) the
 * `.ts` with ts-node loaded into the worker.
 */
export function receiverWorkerEntry(
	dir: string,
	name: string,
): { file: string; execArgv?: string[] } {
	const js = join(dir, `${name}.js`);
	if (existsSync(js)) return { file: js };
	return { file: join(dir, `${name}.ts`), execArgv: ['-r', 'ts-node/register/transpile-only'] };
}

interface HostedReceiver {
	hooks: ReceiverWorkerHooks;
	added?: { resolve: () => void; reject: (e: Error) => void };
	removed?: () => void;
}

interface RunningWorker {
	worker: Worker;
	receivers: Map<number, HostedReceiver>;
	/** Set once the worker died or is being stopped: nothing more is added to it. */
	ended: boolean;
}

/** This process's receiver worker, while it hosts a receiver. */
let running: RunningWorker | undefined;
let nextId = 0;

function startWorker(entry: { file: string; execArgv?: string[] }): RunningWorker {
	const worker = new Worker(entry.file, {
		execArgv: entry.execArgv ? [...process.execArgv, ...entry.execArgv] : undefined,
		// The worker's output is the host's log (through `hooks.log`), never the console.
		stdout: true,
		stderr: true,
	});
	const self: RunningWorker = { worker, receivers: new Map(), ended: false };
	worker.stdout.resume();
	worker.stderr.resume();
	const reply = (call: number, value: Promise<unknown>) =>
		value.then(
			(v) => worker.postMessage({ type: 'reply', call, value: v } satisfies ToWorker),
			(error: unknown) =>
				worker.postMessage({ type: 'reply', call, error: messageOf(error) } satisfies ToWorker),
		);
	worker.on('message', (message: FromWorker) => {
		const hosted = self.receivers.get(message.id);
		if (!hosted) {
			// A stopped receiver's call (a resume retried later by the worker's dispatcher) fails rather than hangs.
			if (message.type === 'call')
				void reply(message.call, Promise.reject(new Error('This receiver has stopped')));
			return;
		}
		switch (message.type) {
			case 'added':
				hosted.added?.resolve();
				hosted.added = undefined;
				break;
			case 'refused':
				self.receivers.delete(message.id);
				hosted.added?.reject(new Error(message.error));
				break;
			case 'removed':
				hosted.removed?.();
				break;
			case 'log':
				hosted.hooks.log?.(message.message, message.error);
				break;
			case 'call':
				if (message.what === 'emit')
					void reply(
						message.call,
						Promise.resolve()
							.then(() => hosted.hooks.emit(message.events))
							.then(() => undefined),
					);
				else if (message.what === 'credential') void reply(message.call, hosted.hooks.credential());
				else if (hosted.hooks.resume)
					void reply(
						message.call,
						hosted.hooks.resume.post(message.link, message.body, message.proof),
					);
				else void reply(message.call, Promise.reject(new Error('This receiver resumes nothing')));
				break;
		}
	});
	const died = (error: Error) => {
		if (running === self) running = undefined;
		const wasEnded = self.ended;
		self.ended = true;
		for (const hosted of self.receivers.values()) {
			if (hosted.added) hosted.added.reject(error);
			else if (hosted.removed) hosted.removed();
			else if (!wasEnded) hosted.hooks.failed?.(error);
		}
		self.receivers.clear();
	};
	worker.on('error', died);
	worker.on('exit', (code) =>
		died(new Error(`The WhatsApp webhook receiver's worker thread stopped (exit code ${code})`)),
	);
	return self;
}

/**
 * Serves a receiver from this process's receiver worker (started with `entry` if none runs). Resolves when it is
 * listening, rejects with the reason when it cannot (port taken, path served by another receiver). The returned
 * function stops it: no more POSTs, what it acknowledged is emitted (through `hooks.emit`) before the promise resolves;
 * the worker ends with its last receiver.
 */
export async function startReceiverWorker(
	entry: { file: string; execArgv?: string[] },
	config: ReceiverWorkerConfig,
	hooks: ReceiverWorkerHooks,
): Promise<() => Promise<void>> {
	if (!running || running.ended) running = startWorker(entry);
	const host = running;
	const id = ++nextId;
	const hosted: HostedReceiver = { hooks };
	host.receivers.set(id, hosted);
	await new Promise<void>((resolve, reject) => {
		hosted.added = { resolve, reject };
		host.worker.postMessage({ type: 'add', id, config } satisfies ToWorker);
	}).catch(async (error: unknown) => {
		await stopIfIdle(host);
		throw error;
	});
	let stopping: Promise<void> | undefined;
	return () =>
		(stopping ??= (async () => {
			if (host.receivers.has(id) && !host.ended) {
				await new Promise<void>((resolve) => {
					hosted.removed = resolve;
					host.worker.postMessage({ type: 'remove', id } satisfies ToWorker);
				});
			}
			host.receivers.delete(id);
			await stopIfIdle(host);
		})());
}

async function stopIfIdle(host: RunningWorker): Promise<void> {
	if (host.receivers.size > 0 || host.ended) return;
	host.ended = true;
	if (running === host) running = undefined;
	await host.worker.terminate();
}
