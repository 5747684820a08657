/**
 * Delivers the resumes of Send and Wait, for every adapter: a receiver only claims a wait and stores the resume with
 * the claim (resumeWaits in sendAndWait.ts); this dispatcher then POSTs it to the waiting execution, a few at a time,
 * retrying while the host is busy or restarting, until it is taken or the wait expires. A resume a process claimed but
 * never delivered (it died) is leased again by any dispatcher of the same store once its lease runs out.
 *
 * Why not inline: each resume is a whole execution in the host. Awaited in the webhook request, a burst of replies
 * became a burst of resumes the host could not take, and a resume given up then was lost (Meta's retry of that
 * webhook is a duplicate). Here a reply acknowledged to Meta is in the store and is delivered however long it takes.
 *
 * A second delivery is harmless: the waiting node ends the wait in the store before it resumes (acceptResumeRequest),
 * so a repeated resume is refused (410), and n8n answers a finished execution without running it again.
 */
import { createHmac } from 'node:crypto';

import type { WaitLink, WaitLinkStore } from '../state/waitLinks';

/**
 * The proof a resume request carries: HMAC-SHA256 of the exact body with the wait's secret. Here rather than in
 * sendAndWait.ts (which re-exports it) so the dispatcher, which signs each stored resume as it delivers it, and the
 * protocol module do not import each other.
 */
export function resumeProof(secret: string, body: string): string {
	return createHmac('sha256', Buffer.from(secret, 'hex')).update(body).digest('hex');
}

export interface ResumeAttempt {
	/** POST the body to the link's resume URL; the HTTP status (0 when it could not be sent). */
	post(link: WaitLink, body: string, proof: string): Promise<number>;
	/** How many resumes this process delivers at once (default DEFAULT_RESUME_CONCURRENCY). */
	concurrency?: number;
}

/** Each resume is a whole execution in the host (n8n: its database pool too); a few at a time keep it responsive. */
export const DEFAULT_RESUME_CONCURRENCY = 4;
/** How long a dispatcher holds a resume it took; after it (the process died) another may take it. */
export const RESUME_LEASE_MS = 60_000;
/** How often a dispatcher looks for resumes left behind, and renews the leases of those it holds. */
export const RESUME_SCAN_MS = 15_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

/** 409: the execution is still saving itself as waiting (n8n); 0, 429, 5xx: the host is busy or restarting. */
export function resumeRetryable(status: number): boolean {
	return status === 0 || status === 409 || status === 429 || status >= 500;
}

export interface ResumeDispatcherOptions {
	concurrency?: number;
	leaseMs?: number;
	scanMs?: number;
	firstRetryMs?: number;
	maxRetryMs?: number;
	now?: () => number;
	/** A store failure while scanning or confirming (logged by the adapter; the dispatcher goes on). */
	onError?: (error: unknown) => void;
}

interface Pending {
	key: string;
	link: WaitLink & { resume: string };
	tries: number;
	leaseUntil: number;
}

export interface ResumeCounts {
	delivered: number;
	retried: number;
	refused: number;
	expired: number;
}

const keyOf = (l: Pick<WaitLink, 'phoneNumberId' | 'messageId'>) =>
	`${l.phoneNumberId}\n${l.messageId}`;

export class ResumeDispatcher {
	readonly counts: ResumeCounts = { delivered: 0, retried: 0, refused: 0, expired: 0 };
	private readonly queue: Pending[] = [];
	/** Every resume this dispatcher holds: queued, being posted, or waiting for its next try. */
	private readonly held = new Map<string, Pending>();
	private readonly timers = new Set<ReturnType<typeof setTimeout>>();
	private running = 0;
	private scanning?: Promise<number>;
	private interval?: ReturnType<typeof setInterval>;
	private idlers: Array<() => void> = [];
	private concurrency: number;
	readonly leaseMs: number;
	private readonly now: () => number;

	constructor(
		private readonly store: WaitLinkStore,
		private attempt: ResumeAttempt,
		private readonly options: ResumeDispatcherOptions = {},
	) {
		this.concurrency = Math.max(
			1,
			options.concurrency ?? attempt.concurrency ?? DEFAULT_RESUME_CONCURRENCY,
		);
		this.leaseMs = options.leaseMs ?? RESUME_LEASE_MS;
		this.now = options.now ?? Date.now;
	}

	/** The latest way to post (an adapter's newest context), and its concurrency if it sets one. */
	use(attempt: ResumeAttempt): void {
		this.attempt = attempt;
		if (attempt.concurrency) this.concurrency = Math.max(1, attempt.concurrency);
		this.pump();
	}

	/** Looks for resumes left behind now and every `scanMs`; the timer does not keep the process alive. */
	start(): void {
		if (this.interval) return;
		void this.scan();
		this.interval = setInterval(() => {
			void this.renewHeld().then(() => this.scan());
		}, this.options.scanMs ?? RESUME_SCAN_MS);
		this.interval.unref?.();
	}

	/** Stops scanning and retrying in this process; what it held is taken by another after the lease. */
	stop(): void {
		if (this.interval) clearInterval(this.interval);
		this.interval = undefined;
		for (const t of this.timers) clearTimeout(t);
		this.timers.clear();
		this.queue.length = 0;
		this.held.clear();
		this.settleIdle();
	}

	/** Delivers a resume just claimed (with its lease) by this process. */
	enqueue(link: WaitLink): void {
		if (link.resume === undefined) return;
		const key = keyOf(link);
		if (this.held.has(key)) return;
		const pending: Pending = {
			key,
			link: link as Pending['link'],
			tries: 0,
			leaseUntil: link.leaseUntil ?? this.now() + this.leaseMs,
		};
		this.held.set(key, pending);
		this.queue.push(pending);
		this.pump();
	}

	/** Takes resumes whose lease ran out (their claimer died), as many as this dispatcher has room for. */
	scan(): Promise<number> {
		this.scanning ??= (async () => {
			try {
				const room = this.concurrency * 4 - this.held.size;
				if (room <= 0) return 0;
				const now = this.now();
				const links = await this.store.leaseWaitResumes({
					now,
					leaseUntil: now + this.leaseMs,
					limit: room,
				});
				for (const link of links) this.enqueue(link);
				return links.length;
			} catch (error) {
				this.options.onError?.(error);
				return 0;
			} finally {
				this.scanning = undefined;
			}
		})();
		return this.scanning;
	}

	/** Resolves when nothing is held (for tests and shutdown). */
	idle(): Promise<void> {
		if (this.held.size === 0) return Promise.resolve();
		return new Promise((resolve) => this.idlers.push(resolve));
	}

	get size(): number {
		return this.held.size;
	}

	private pump(): void {
		while (this.running < this.concurrency && this.queue.length > 0) {
			const pending = this.queue.shift()!;
			this.running++;
			void this.deliver(pending)
				.catch((error: unknown) => {
					this.options.onError?.(error);
					this.release(pending);
				})
				.finally(() => {
					this.running--;
					this.pump();
				});
		}
	}

	private release(pending: Pending): void {
		if (this.held.get(pending.key) === pending) this.held.delete(pending.key);
		this.settleIdle();
	}

	private settleIdle(): void {
		if (this.held.size > 0) return;
		const idlers = this.idlers;
		this.idlers = [];
		for (const resolve of idlers) resolve();
	}

	private async deliver(pending: Pending): Promise<void> {
		const { link } = pending;
		const key = { phoneNumberId: link.phoneNumberId, messageId: link.messageId };
		let now = this.now();
		if (link.expiresAt <= now) {
			// The wait has ended on its timeout (the host's own timer); nothing can resume it now.
			this.counts.expired++;
			return this.release(pending);
		}
		if (pending.leaseUntil - now < this.leaseMs / 2) {
			// Hold it for this try; false: the wait ended elsewhere (another receiver delivered it).
			pending.leaseUntil = now + this.leaseMs;
			if (!(await this.store.renewWaitResume({ ...key, leaseUntil: pending.leaseUntil })))
				return this.release(pending);
		}
		const status = await this.attempt
			.post(link, link.resume, resumeProof(link.secret, link.resume))
			.catch(() => 0);
		now = this.now();
		if (status >= 200 && status < 300) {
			this.counts.delivered++;
			// The waiting node has ended it already; this covers hosts that answer 2xx without running it (finished).
			await this.store.endWaitLink({ ...key, now }).catch(this.options.onError);
			return this.release(pending);
		}
		if (!resumeRetryable(status)) {
			// Refused for good (403 forged or unknown, 404 no such execution, 410 resumed already): nothing will change.
			this.counts.refused++;
			await this.store.endWaitLink({ ...key, now }).catch(this.options.onError);
			return this.release(pending);
		}
		pending.tries++;
		const first = this.options.firstRetryMs ?? FIRST_RETRY_MS;
		const cap = this.options.maxRetryMs ?? MAX_RETRY_MS;
		const backoff = Math.min(cap, first * 2 ** Math.min(pending.tries - 1, 20));
		// Jitter: many resumes refused at once do not all come back at once.
		const delay = Math.round(backoff * (0.75 + Math.random() * 0.5));
		if (now + delay >= link.expiresAt) {
			this.counts.expired++;
			return this.release(pending);
		}
		this.counts.retried++;
		pending.leaseUntil = now + delay + this.leaseMs;
		await this.store
			.renewWaitResume({ ...key, leaseUntil: pending.leaseUntil })
			.catch(this.options.onError);
		const timer = setTimeout(() => {
			this.timers.delete(timer);
			if (this.held.get(pending.key) !== pending) return;
			this.queue.push(pending);
			this.pump();
		}, delay);
		timer.unref?.();
		this.timers.add(timer);
	}

	/** Keeps the leases of the resumes held here (a long queue) from running out while they wait their turn. */
	private async renewHeld(): Promise<void> {
		const soon = this.now() + (this.options.scanMs ?? RESUME_SCAN_MS) * 2;
		for (const pending of [...this.held.values()]) {
			if (pending.leaseUntil > soon) continue;
			pending.leaseUntil = this.now() + this.leaseMs;
			const kept = await this.store
				.renewWaitResume({
					phoneNumberId: pending.link.phoneNumberId,
					messageId: pending.link.messageId,
					leaseUntil: pending.leaseUntil,
				})
				.catch((error: unknown) => {
					this.options.onError?.(error);
					return true;
				});
			if (!kept) {
				const i = this.queue.indexOf(pending);
				if (i >= 0) {
					this.queue.splice(i, 1);
					this.release(pending);
				}
			}
		}
	}
}

/** One dispatcher per store in this process: every receiver of the store shares its cap and its recovery. */
const dispatchers = new WeakMap<WaitLinkStore, ResumeDispatcher>();

/**
 * The process's dispatcher for a store, started (scanning for resumes left behind) on first use; `attempt` becomes the
 * way it posts from now on.
 */
export function resumeDispatcher(
	store: WaitLinkStore,
	attempt: ResumeAttempt,
	options?: ResumeDispatcherOptions,
): ResumeDispatcher {
	let dispatcher = dispatchers.get(store);
	if (dispatcher) dispatcher.use(attempt);
	else {
		dispatcher = new ResumeDispatcher(store, attempt, options);
		dispatchers.set(store, dispatcher);
		dispatcher.start();
	}
	return dispatcher;
}
