import http from 'node:http';
import https from 'node:https';
import { computeSignature } from '../core/webhooks';
import type { SandboxConfig } from './options';
import type { Rng } from './rng';
import type { SandboxState } from './state';
import type { WorkTracker } from './tracker';

/**
 * Webhook fields Meta routes through callback overrides (phone number, then WABA, then app).
 * Template and account webhooks always go to the app's own callback URL.
 */
const OVERRIDABLE_FIELDS = new Set([
	'messages',
	'message_echoes',
	'calls',
	'account_settings_update',
	'history',
]);

export interface WhatsAppContact {
	profile: { name: string; username?: string };
	/** Absent for a username customer whose number Meta withholds. */
	wa_id?: string;
	/** The customer's business-scoped user id (2026). */
	user_id?: string;
}

/** One update for the callback: a status or an inbound message of a business number, or a whole `value`. */
export type WebhookEvent =
	| {
			kind: 'status';
			phoneNumberId: string;
			status: Record<string, unknown>;
			/** The recipient's entry in the value's contacts (Meta: sent, delivered, read of a customer with a BSUID). */
			contact?: WhatsAppContact;
	  }
	| {
			kind: 'message';
			phoneNumberId: string;
			message: Record<string, unknown>;
			contact: WhatsAppContact;
	  }
	| { kind: 'value'; field: string; value: Record<string, unknown>; phoneNumberId?: string };

interface Delivery {
	id: number;
	url: string;
	body: string;
	signature: string;
	fields: string[];
	events: number;
}

/**
 * Sends signed webhooks the way Meta does: statuses and inbound messages batched per callback
 * (up to `webhookMaxBatch` per POST), failed POSTs retried with backoff, and — when a fault asks —
 * duplicated, delayed, reordered or dropped. Every attempt is recorded in `state.webhooks`.
 */
export class WebhookDispatcher {
	private readonly queues = new Map<string, WebhookEvent[]>();
	private readonly flushScheduled = new Set<string>();
	private nextDeliveryId = 1;
	private closed = false;
	private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
	private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });

	constructor(
		private readonly config: SandboxConfig,
		private readonly state: SandboxState,
		private readonly rng: Rng,
		private readonly tracker: WorkTracker,
	) {}

	/** Routes one event, applying the webhook faults currently switched on. */
	emit(event: WebhookEvent): void {
		if (this.closed) return;
		const faults = this.state.faults;
		const copies =
			faults.webhookDuplicateRatio > 0 && this.rng.next() < faults.webhookDuplicateRatio ? 2 : 1;
		for (let i = 0; i < copies; i += 1) {
			let delay = faults.webhookDelayMs;
			if (faults.webhookReorder) {
				const window = faults.webhookReorderWindowMs || Math.max(3 * this.config.statusDelayMs, 50);
				delay += this.rng.int(window + 1);
			}
			if (i > 0) delay += this.rng.int(Math.max(this.config.webhookBatchMs, 10) * 2 + 1);
			if (delay > 0) this.tracker.later(delay, () => this.route(event));
			else this.route(event);
		}
	}

	private fieldOf(event: WebhookEvent): string {
		return event.kind === 'value' ? event.field : 'messages';
	}

	/** Callback URL for an event: phone number override > WABA override > app callback. */
	resolveUrl(field: string, phoneNumberId: string | undefined): string | undefined {
		if (OVERRIDABLE_FIELDS.has(field)) {
			if (phoneNumberId) {
				const phone = this.state.phoneOverrides.get(phoneNumberId);
				if (phone) return phone.uri;
			}
			if (this.state.wabaOverride) return this.state.wabaOverride.uri;
		}
		return this.config.callbackUrl;
	}

	private route(event: WebhookEvent): void {
		if (this.closed) return;
		// An app unsubscribed from the WABA receives none of its webhooks.
		if (!this.state.appSubscribed) return;
		const field = this.fieldOf(event);
		const url = this.resolveUrl(field, event.phoneNumberId);
		if (!url) {
			this.state.undeliverableEvents += 1;
			return;
		}
		if (event.kind === 'value') {
			// Template and preference updates are single-change webhooks.
			this.send(url, [event]);
			return;
		}
		let queue = this.queues.get(url);
		if (!queue) {
			queue = [];
			this.queues.set(url, queue);
		}
		queue.push(event);
		if (queue.length >= this.config.webhookMaxBatch) {
			this.flush(url);
		} else if (!this.flushScheduled.has(url)) {
			this.flushScheduled.add(url);
			this.tracker.later(this.config.webhookBatchMs, () => {
				this.flushScheduled.delete(url);
				this.flush(url);
			});
		}
	}

	private flush(url: string): void {
		const queue = this.queues.get(url);
		if (!queue || queue.length === 0) return;
		while (queue.length > 0) {
			const batch = queue.splice(0, this.config.webhookMaxBatch);
			if (this.state.faults.webhookReorder) this.shuffle(batch);
			this.send(url, batch);
		}
	}

	private shuffle<T>(items: T[]): void {
		for (let i = items.length - 1; i > 0; i -= 1) {
			const j = this.rng.int(i + 1);
			[items[i], items[j]] = [items[j], items[i]];
		}
	}

	/** Meta's envelope: one entry for the WABA, one change per (field, business number, kind). */
	buildEnvelope(events: WebhookEvent[]): { body: Record<string, unknown>; fields: string[] } {
		const changes: Array<{ field: string; value: Record<string, unknown> }> = [];
		const grouped = new Map<
			string,
			Record<string, unknown> & {
				contacts?: WhatsAppContact[];
				messages?: unknown[];
				statuses?: unknown[];
			}
		>();
		let hasTemplateEvent = false;
		for (const event of events) {
			if (event.kind === 'value') {
				changes.push({ field: event.field, value: event.value });
				if (event.field.startsWith('message_template')) hasTemplateEvent = true;
				continue;
			}
			const key = `${event.kind}|${event.phoneNumberId}`;
			let value = grouped.get(key);
			if (!value) {
				const phone = this.state.phoneNumbers.get(event.phoneNumberId);
				value = {
					messaging_product: 'whatsapp',
					metadata: {
						display_phone_number: phone?.displayPhoneNumber ?? '',
						phone_number_id: event.phoneNumberId,
					},
				};
				grouped.set(key, value);
				changes.push({ field: 'messages', value });
			}
			const contact = event.contact;
			if (contact) {
				const contacts = (value.contacts ??= []);
				if (
					!contacts.some(
						(c) =>
							(c.wa_id !== undefined && c.wa_id !== '' && c.wa_id === contact.wa_id) ||
							(c.user_id !== undefined && c.user_id === contact.user_id),
					)
				)
					contacts.push(contact);
			}
			if (event.kind === 'status') (value.statuses ??= []).push(event.status);
			else (value.messages ??= []).push(event.message);
		}
		const entry: Record<string, unknown> = { id: this.config.wabaId, changes };
		if (hasTemplateEvent) entry.time = Math.floor(this.config.now() / 1000);
		return {
			body: { object: 'whatsapp_business_account', entry: [entry] },
			fields: [...new Set(changes.map((c) => c.field))],
		};
	}

	private send(url: string, events: WebhookEvent[]): void {
		const { body, fields } = this.buildEnvelope(events);
		const text = JSON.stringify(body);
		const delivery: Delivery = {
			id: this.nextDeliveryId++,
			url,
			body: text,
			signature: computeSignature(text, this.config.appSecret),
			fields,
			events: events.length,
		};
		this.attempt(delivery, 1);
	}

	private attempt(delivery: Delivery, attempt: number): void {
		if (this.closed) return;
		const faults = this.state.faults;
		if (faults.webhookFailures > 0) {
			faults.webhookFailures -= 1;
			this.record(delivery, attempt, 0, 'simulated delivery failure (fault webhookFailures)');
			this.retryLater(delivery, attempt);
			return;
		}
		this.tracker.begin();
		this.post(delivery)
			.then(
				(statusCode) => {
					const ok = statusCode >= 200 && statusCode < 300;
					this.record(
						delivery,
						attempt,
						statusCode,
						ok ? undefined : `callback answered HTTP ${statusCode}`,
					);
					if (!ok) this.retryLater(delivery, attempt);
				},
				(error: unknown) => {
					this.record(delivery, attempt, 0, error instanceof Error ? error.message : String(error));
					this.retryLater(delivery, attempt);
				},
			)
			.finally(() => this.tracker.end());
	}

	private retryLater(delivery: Delivery, attempt: number): void {
		if (this.closed || attempt >= this.config.webhookMaxAttempts) return;
		const wait = this.config.webhookRetryBaseMs * 2 ** (attempt - 1);
		this.tracker.later(wait, () => this.attempt(delivery, attempt + 1));
	}

	private record(
		delivery: Delivery,
		attempt: number,
		statusCode: number,
		error: string | undefined,
	): void {
		this.state.webhooks.push({
			at: this.config.now(),
			deliveryId: delivery.id,
			attempt,
			url: delivery.url,
			fields: delivery.fields,
			events: delivery.events,
			statusCode,
			ok: error === undefined,
			...(error === undefined ? {} : { error }),
			signature: delivery.signature,
			body: delivery.body,
		});
	}

	private post(delivery: Delivery): Promise<number> {
		return new Promise((resolve, reject) => {
			let target: URL;
			try {
				target = new URL(delivery.url);
			} catch {
				reject(new Error(`invalid callback URL ${delivery.url}`));
				return;
			}
			const client = target.protocol === 'https:' ? https : http;
			const req = client.request(
				target,
				{
					method: 'POST',
					agent: target.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
					timeout: this.config.webhookTimeoutMs,
					headers: {
						'content-type': 'application/json',
						'content-length': Buffer.byteLength(delivery.body),
						'x-hub-signature-256': delivery.signature,
						'user-agent': 'facebookexternalua',
					},
				},
				(res) => {
					res.resume();
					res.on('end', () => resolve(res.statusCode ?? 0));
					res.on('error', reject);
				},
			);
			req.on('timeout', () =>
				req.destroy(new Error(`callback did not answer within ${this.config.webhookTimeoutMs} ms`)),
			);
			req.on('error', reject);
			req.end(delivery.body);
		});
	}

	/** Drops queued events (reset). */
	clear(): void {
		this.queues.clear();
		this.flushScheduled.clear();
	}

	close(): void {
		this.closed = true;
		this.clear();
		this.httpAgent.destroy();
		this.httpsAgent.destroy();
	}
}

/** GET challenge Meta sends before accepting a callback URL (`hub.mode=subscribe`). */
export function verifyCallback(
	url: string,
	verifyToken: string,
	challenge: string,
	timeoutMs: number,
): Promise<{ ok: boolean; reason?: string }> {
	return new Promise((resolve) => {
		let target: URL;
		try {
			target = new URL(url);
		} catch {
			resolve({ ok: false, reason: 'override_callback_uri is not a valid URL' });
			return;
		}
		target.searchParams.set('hub.mode', 'subscribe');
		target.searchParams.set('hub.challenge', challenge);
		target.searchParams.set('hub.verify_token', verifyToken);
		const client = target.protocol === 'https:' ? https : http;
		const req = client.get(target, { timeout: timeoutMs, agent: false }, (res) => {
			const chunks: Buffer[] = [];
			res.on('data', (c: Buffer) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8').trim();
				if (res.statusCode !== 200)
					resolve({ ok: false, reason: `HTTP Status Code = ${res.statusCode}` });
				else if (text !== challenge)
					resolve({
						ok: false,
						reason: "The URL couldn't be validated. Response does not match challenge",
					});
				else resolve({ ok: true });
			});
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (error) =>
			resolve({ ok: false, reason: `Couldn't connect to server: ${error.message}` }),
		);
	});
}
