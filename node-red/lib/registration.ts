/**
 * "Registration: automatic" of the webhook status node: the phone number's callback override at Meta
 * (POST /{phone-number-id} webhook_configuration), set when the node starts and removed when it is deleted — only
 * while Meta still has this node's URL, since another flow or app may have taken the number over since.
 *
 * Node-RED restarts a node on every deploy that touches it (or its config): the old instance closes with
 * `removed === false`, then the new one starts. Clearing on that close and setting again on start would leave the
 * number without an override for a moment (Meta then falls back to the app's callback) and make Meta run its GET
 * challenge each time. So a restarting node hands its registration over; its successor keeps it when nothing Meta
 * needs to know changed, and once the deploy has started ("flows:started") a registration nobody took over is
 * released as if the node had been removed.
 */
import { WhatsAppApiError, z } from '../../core';
import type { CloudConnection } from './cloud';

/** Meta calls only https; plain http is allowed for this machine, to try the flow against the sandbox. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export const publicUrlSchema = z
	.string({
		required_error: 'Public URL is required for automatic registration, e.g. https://example.com',
	})
	.trim()
	.min(1, 'Public URL is required for automatic registration, e.g. https://example.com')
	.superRefine((value, ctx) => {
		let url: URL;
		try {
			url = new URL(value);
		} catch {
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				message: 'Public URL must be an address such as https://example.com',
			});
			return;
		}
		const loopback = LOOPBACK_HOSTS.has(url.hostname) || url.hostname.startsWith('127.');
		if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				message:
					'Public URL must start with https:// (Meta calls only https; http is allowed for localhost only)',
			});
		} else if (url.username || url.password || url.search || url.hash) {
			ctx.addIssue({
				code: z.ZodIssueCode.custom,
				message: 'Public URL must be the base address only: no user, query or #fragment',
			});
		}
	})
	.transform((value) => value.replace(/\/+$/, ''));

/**
 * The URL Meta is given: public base + Node-RED's httpNodeRoot + the node's path. Node-RED mounts its HTTP nodes
 * under httpNodeRoot, which a reverse proxy in front does not add for us.
 */
export function callbackUrl(publicUrl: string, httpNodeRoot: unknown, path: string): string {
	if (httpNodeRoot === false)
		throw new Error(
			'httpNodeRoot is false in settings.js: Node-RED serves no HTTP nodes, so Meta cannot reach this one',
		);
	const root = typeof httpNodeRoot === 'string' ? httpNodeRoot : '/';
	const joined = `/${root}/${path}`.replace(/\/{2,}/g, '/');
	return `${publicUrl.replace(/\/+$/, '')}${joined === '/' ? '' : joined.replace(/(.)\/$/, '$1')}`;
}

/** What one node instance asked Meta for. */
export interface Registration {
	cloud: CloudConnection;
	url: string;
	verifyToken: string;
	/** Settles when the instance's own call to Meta (set or check) has finished. */
	settled: Promise<unknown>;
	/** Where errors go: the node that made the registration. */
	report(error: unknown, action: string): void;
}

/** Graph calls here run inside deploys and node close (15 s budget by default): two attempts, 10 s each. */
const REGISTRATION_RETRY = { maxAttempts: 2, timeoutMs: 10_000 };

const numberKey = (cloud: CloudConnection): string =>
	`${cloud.settings.baseUrl}|${cloud.phoneNumberId}`;

/** Same number, same URL, same verify token: Meta's override already says what the successor would set. */
export function sameRegistration(
	a: Pick<Registration, 'cloud' | 'url' | 'verifyToken'>,
	b: Pick<Registration, 'cloud' | 'url' | 'verifyToken'>,
): boolean {
	return (
		numberKey(a.cloud) === numberKey(b.cloud) && a.url === b.url && a.verifyToken === b.verifyToken
	);
}

export function sameNumber(
	a: Pick<Registration, 'cloud'>,
	b: Pick<Registration, 'cloud'>,
): boolean {
	return numberKey(a.cloud) === numberKey(b.cloud);
}

export async function currentCallback(cloud: CloudConnection): Promise<string | undefined> {
	return cloud.client(REGISTRATION_RETRY).getPhoneNumberCallback();
}

/** Sets the override; Meta answers only after its GET challenge to `url` succeeded. */
export async function setCallback(
	cloud: CloudConnection,
	url: string,
	verifyToken: string,
): Promise<void> {
	const ok = await cloud.client(REGISTRATION_RETRY).setPhoneNumberCallback(url, verifyToken);
	if (!ok) throw new Error('Meta did not confirm the callback override (success: false)');
}

/** Removes the override if it is still `url`. Returns whether it was removed. */
export async function releaseCallback(
	registration: Pick<Registration, 'cloud' | 'url'>,
): Promise<boolean> {
	const client = registration.cloud.client(REGISTRATION_RETRY);
	if ((await client.getPhoneNumberCallback()) !== registration.url) return false;
	const ok = await client.clearPhoneNumberCallback();
	if (!ok) throw new Error('Meta did not confirm removing the callback override (success: false)');
	return true;
}

/** A short reason for the status badge: Meta's code and what it said. */
export function shortReason(error: unknown): string {
	if (error instanceof WhatsAppApiError) {
		// Meta's own words, without the catalogue's title and advice (the error message has those).
		const said = (
			error.details ?? error.message.replace(/^WhatsApp Cloud API [^:]*:\s*/, '')
		).replace(/^\(#\d+\)\s*/, '');
		// A refused challenge: what Meta got back from the URL is the useful part.
		const challenge = /Callback verification failed with the following errors:\s*([^.]*)/.exec(
			said,
		)?.[1];
		const reason = challenge ? `challenge failed: ${challenge}` : said;
		return error.code === undefined ? reason : `#${error.code} ${reason}`;
	}
	return error instanceof Error ? error.message : String(error);
}

interface EventsApi {
	on(event: string, listener: () => void): unknown;
	removeListener(event: string, listener: () => void): unknown;
}

/** Registrations of nodes that closed for a restart, by node id, until their successor starts or the deploy ends. */
export class RegistrationHandovers {
	private readonly waiting = new Map<string, Registration>();
	private listening = false;

	constructor(private readonly events: EventsApi | undefined) {}

	private readonly sweep = (): void => {
		this.events?.removeListener('flows:started', this.sweep);
		this.listening = false;
		const left = [...this.waiting.values()];
		this.waiting.clear();
		for (const registration of left) void releaseLater(registration);
	};

	/** The node closed with `removed === false`: it may start again in this deploy. */
	handOver(nodeId: string, registration: Registration): void {
		this.waiting.set(nodeId, registration);
		if (!this.listening && this.events) {
			this.events.on('flows:started', this.sweep);
			this.listening = true;
		}
	}

	/** The registration the previous instance of this node left, if any (the caller now decides about it). */
	take(nodeId: string): Registration | undefined {
		const registration = this.waiting.get(nodeId);
		this.waiting.delete(nodeId);
		return registration;
	}
}

/** Releases a registration once its own call to Meta is over; errors go to its node. */
export async function releaseLater(registration: Registration): Promise<void> {
	await registration.settled.catch(() => undefined);
	try {
		await releaseCallback(registration);
	} catch (error) {
		registration.report(error, `removing the callback override ${registration.url}`);
	}
}
