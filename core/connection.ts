/**
 * One Meta app + business phone number, as both adapters configure it (n8n's credential, Node-RED's config node):
 * the Graph client with its appsecret_proof, the journey state store, where send slots are reserved, and the WABA's
 * template definitions through the process-wide template cache. Adapters turn their settings into a
 * `ConnectionConfig` and use what this builds; none of these rules lives in an adapter.
 */
import { createHash } from 'node:crypto';

import { TtlCache } from './cache';
import {
	CloudApiClient,
	DEFAULT_GRAPH_API_VERSION,
	DEFAULT_GRAPH_BASE_URL,
	DEFAULT_RETRY_POLICY,
} from './client';
import type { RetryPolicy } from './client';
import { processSlotStore } from './pacing';
import type { SlotReserver } from './pacing';
import { createStateStore } from './state';
import type { JourneyStateStore, RedisConnection } from './state';
import { processTemplateCache } from './templateCache';
import type { TemplateCache, TemplateRef } from './templateCache';
import type { TemplateDefinition } from './templates';
import { createFetchTransport } from './transport';
import type { Transport } from './transport';

/** Where the journey state lives, as plain settings (so equal settings can share one opened store). */
export type StoreSettings =
	| { backend: 'embedded'; path: string }
	| { backend: 'redis'; redis: RedisConnection; keyPrefix: string };

/** What the Graph calls need to find the business number and its WABA. */
export interface GraphLocation {
	phoneNumberId: string;
	wabaId?: string;
	/** Graph API version, e.g. "v25.0". */
	apiVersion?: string;
	/** Default https://graph.facebook.com; the sandbox's URL to rehearse. */
	baseUrl?: string;
}

export interface ConnectionConfig extends GraphLocation {
	accessToken: string;
	appSecret?: string;
	/** Meta's "Require App Secret" app setting: every call then carries appsecret_proof (needs the app secret). */
	appSecretProof?: boolean;
	store?: StoreSettings;
	/** Builds the transport that carries the bearer token; Node's fetch by default. */
	transport?: (accessToken: string) => Transport;
	/** Where these settings are edited, for errors that name the fix (e.g. "the credential"). */
	configuredIn: string;
	templates?: TemplateCache;
}

/** Every template of the WABA, from the template cache (one Graph call per WABA per TTL). */
export async function listWabaTemplates(
	where: GraphLocation,
	client: CloudApiClient,
	options: { refresh?: boolean; configuredIn: string; templates?: TemplateCache },
): Promise<TemplateDefinition[]> {
	const templates = options.templates ?? processTemplateCache();
	return templates.list(templateCacheKey(where, options.configuredIn), client, options.refresh);
}

/** One template of the WABA by id or name (+ language); a miss refetches once before failing with what exists. */
export async function findWabaTemplate(
	where: GraphLocation,
	client: CloudApiClient,
	ref: TemplateRef,
	options: { configuredIn: string; templates?: TemplateCache },
): Promise<TemplateDefinition> {
	const templates = options.templates ?? processTemplateCache();
	return templates.find(templateCacheKey(where, options.configuredIn), client, ref);
}

/** Base URL + version + WABA: the sandbox's templates and Meta's never mix. */
function templateCacheKey(where: GraphLocation, configuredIn: string): string {
	if (!where.wabaId) {
		throw new Error(
			`Templates live in a WhatsApp Business Account: set "WhatsApp Business Account ID" in ${configuredIn}`,
		);
	}
	return `${where.baseUrl ?? DEFAULT_GRAPH_BASE_URL}|${where.apiVersion ?? DEFAULT_GRAPH_API_VERSION}|${where.wabaId}`;
}

/**
 * Where send slots are reserved: in the process, or in the Redis store so several instances (n8n queue-mode workers,
 * Node-RED instances) share one number's throughput budget.
 */
export async function sendSlots(
	backend: StoreSettings['backend'] | undefined,
	openStore: () => Promise<JourneyStateStore>,
): Promise<SlotReserver> {
	return backend === 'redis' ? openStore() : processSlotStore();
}

/**
 * The store settings' identity: a digest of every field that locates or authenticates the store (password and TLS
 * included), so settings with another password never reuse a connection the right password opened.
 */
export function storeSettingsKey(settings: StoreSettings): string {
	const fields =
		settings.backend === 'embedded'
			? ['embedded', settings.path]
			: [
					'redis',
					settings.redis.host,
					settings.redis.port,
					settings.redis.db ?? 0,
					settings.redis.username ?? '',
					settings.redis.password ?? '',
					settings.redis.tls === true,
					settings.keyPrefix,
				];
	return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

function openStore(settings: StoreSettings): Promise<JourneyStateStore> {
	// In a promise, so a store that cannot open (no node:sqlite, bad settings) is a rejection the cache forgets.
	return new Promise((resolve) => resolve(createStateStore(settings)));
}

const processStores = new TtlCache<JourneyStateStore>(Infinity);

/**
 * The store for these settings, opened once per process and shared by every execution (n8n runs executions
 * concurrently in one process; connections are not per item). A store that failed to open is opened again next time.
 */
export function sharedStateStore(settings: StoreSettings): Promise<JourneyStateStore> {
	return processStores.get(storeSettingsKey(settings), () => openStore(settings));
}

export class CloudApiConnection {
	/** The store this connection opened; held once (a failed open is retried) and closed with the connection. */
	private readonly opened = new TtlCache<JourneyStateStore>(Infinity);

	constructor(private readonly config: ConnectionConfig) {}

	get phoneNumberId(): string {
		return this.config.phoneNumberId;
	}

	client(retry: Partial<RetryPolicy> = {}): CloudApiClient {
		const c = this.config;
		const proof = c.appSecretProof === true && Boolean(c.appSecret);
		const transport = (c.transport ?? defaultTransport)(c.accessToken);
		return new CloudApiClient(
			{
				phoneNumberId: c.phoneNumberId,
				wabaId: c.wabaId,
				apiVersion: c.apiVersion,
				baseUrl: c.baseUrl,
				// Only passed for appsecret_proof; the bearer header comes from the transport.
				accessToken: proof ? c.accessToken : undefined,
				appSecret: proof ? c.appSecret : undefined,
			},
			transport,
			{ ...DEFAULT_RETRY_POLICY, ...retry },
		);
	}

	/** The journey state store, opened on first use and shared by everything using this connection. */
	store(): Promise<JourneyStateStore> {
		const settings = this.config.store;
		if (!settings) {
			return Promise.reject(
				new Error(`No state store is configured in ${this.config.configuredIn}`),
			);
		}
		return this.opened.get('store', () => openStore(settings));
	}

	/** Where send slots are reserved (see sendSlots). */
	slots(): Promise<SlotReserver> {
		return sendSlots(this.config.store?.backend, () => this.store());
	}

	listTemplates(client: CloudApiClient, refresh = false): Promise<TemplateDefinition[]> {
		return listWabaTemplates(this.config, client, { ...this.templateOptions(), refresh });
	}

	findTemplate(client: CloudApiClient, ref: TemplateRef): Promise<TemplateDefinition> {
		return findWabaTemplate(this.config, client, ref, this.templateOptions());
	}

	async close(): Promise<void> {
		const pending = this.opened.peek('store');
		this.opened.clear();
		if (!pending) return;
		try {
			await (await pending).close();
		} catch {
			// A store that never opened has nothing to close.
		}
	}

	private templateOptions(): { configuredIn: string; templates?: TemplateCache } {
		return { configuredIn: this.config.configuredIn, templates: this.config.templates };
	}
}

function defaultTransport(accessToken: string): Transport {
	return createFetchTransport({ accessToken });
}
