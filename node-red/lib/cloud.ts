/**
 * What the `whatsapp-cloud-config` node holds for the other nodes: validated settings, the secrets, and the
 * things built from them (Graph client, journey state store, send slots, template definitions). Node-RED-free,
 * so the rules are testable on their own.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

import {
	CloudApiClient,
	DEFAULT_GRAPH_API_VERSION,
	DEFAULT_GRAPH_BASE_URL,
	DEFAULT_RETRY_POLICY,
	createFetchTransport,
	createStateStore,
	processSlotStore,
	processTemplateCache,
	z,
} from '../../core';
import type {
	JourneyStateStore,
	RetryPolicy,
	SlotReserver,
	TemplateDefinition,
	TemplateRef,
} from '../../core';

export const CONFIG_NODE_TYPE = 'whatsapp-cloud-config';
export const STORE_FILE_NAME = 'whatsapp-journeys.sqlite';

/** The editor saves empty inputs as "": they mean "use the default". For z.preprocess. */
export const blank = (value: unknown): unknown =>
	typeof value === 'string' && value.trim() === '' ? undefined : value;

export const cloudSettingsSchema = z.object({
	phoneNumberId: z
		.string({ required_error: 'Phone Number ID is required' })
		.trim()
		.regex(
			/^\d+$/,
			'Phone Number ID must be the numeric ID from WhatsApp Manager → API Setup, not the phone number',
		),
	wabaId: z.preprocess(
		blank,
		z.string().trim().regex(/^\d+$/, 'WhatsApp Business Account ID must be digits').optional(),
	),
	apiVersion: z.preprocess(
		blank,
		z
			.string()
			.trim()
			.regex(/^v\d+\.\d+$/, 'Graph API Version must look like v25.0')
			.default(DEFAULT_GRAPH_API_VERSION),
	),
	baseUrl: z.preprocess(
		blank,
		z
			.string()
			.trim()
			.url('Base URL must be a URL such as https://graph.facebook.com')
			.default(DEFAULT_GRAPH_BASE_URL),
	),
	/** Meta's "Require App Secret" app setting: every call then carries appsecret_proof. */
	appSecretProof: z.boolean().default(false),
	storeType: z
		.enum(['embedded', 'redis'], { message: "State Store must be 'embedded' or 'redis'" })
		.default('embedded'),
	storePath: z.preprocess(blank, z.string().trim().optional()),
	redisHost: z.preprocess(blank, z.string().trim().default('127.0.0.1')),
	redisPort: z.preprocess(
		blank,
		z.coerce.number().int().min(1).max(65535, 'Redis port must be 1–65535').default(6379),
	),
	redisDb: z.preprocess(
		blank,
		z.coerce.number().int().min(0, 'Redis database must be 0 or more').default(0),
	),
	redisKeyPrefix: z.preprocess(blank, z.string().default('wj:')),
	redisTls: z.boolean().default(false),
});
export type CloudSettings = z.infer<typeof cloudSettingsSchema>;

export const cloudSecretsSchema = z.object({
	accessToken: z
		.string({ required_error: 'Access Token is empty: paste a System User token' })
		.min(1, 'Access Token is empty: paste a System User token'),
	appSecret: z.string().optional().default(''),
	verifyToken: z.string().optional().default(''),
	redisPassword: z.string().optional().default(''),
});
export type CloudSecrets = z.infer<typeof cloudSecretsSchema>;

/** Credential fields Node-RED stores apart from the flow (never exported with it). */
export const CLOUD_CREDENTIALS = {
	accessToken: { type: 'password' },
	appSecret: { type: 'password' },
	verifyToken: { type: 'password' },
	redisPassword: { type: 'password' },
} as const;

/** First zod issue as "<field>: <message>"; never echoes the value (it may be a secret). */
export function describeIssue(error: z.ZodError): string {
	const issue = error.issues[0];
	const field = issue?.path.join('.') || 'value';
	return `${field}: ${issue?.message ?? 'invalid'}`;
}

export function parseCloudConfig(
	settings: unknown,
	secrets: unknown,
): { settings: CloudSettings; secrets: CloudSecrets } {
	const s = cloudSettingsSchema.safeParse(settings ?? {});
	if (!s.success) throw new Error(`WhatsApp Cloud config: ${describeIssue(s.error)}`);
	const c = cloudSecretsSchema.safeParse(secrets ?? {});
	if (!c.success) throw new Error(`WhatsApp Cloud config: ${describeIssue(c.error)}`);
	return { settings: s.data, secrets: c.data };
}

export type { TemplateRef };

/** One Meta app + business number, as configured in one config node. */
export class CloudConnection {
	private storePromise?: Promise<JourneyStateStore>;

	constructor(
		readonly settings: CloudSettings,
		private readonly secrets: CloudSecrets,
		/** Node-RED's user directory: the default home of the embedded store file. */
		private readonly userDir?: string,
	) {}

	get phoneNumberId(): string {
		return this.settings.phoneNumberId;
	}

	get appSecret(): string {
		return this.secrets.appSecret;
	}

	get verifyToken(): string {
		return this.secrets.verifyToken;
	}

	client(retry: Partial<RetryPolicy> = {}): CloudApiClient {
		const s = this.settings;
		const proof = s.appSecretProof && this.secrets.appSecret !== '';
		return new CloudApiClient(
			{
				phoneNumberId: s.phoneNumberId,
				wabaId: s.wabaId,
				apiVersion: s.apiVersion,
				baseUrl: s.baseUrl,
				// Only passed for appsecret_proof; the bearer header comes from the transport.
				accessToken: proof ? this.secrets.accessToken : undefined,
				appSecret: proof ? this.secrets.appSecret : undefined,
			},
			createFetchTransport({ accessToken: this.secrets.accessToken }),
			{ ...DEFAULT_RETRY_POLICY, ...retry },
		);
	}

	storePath(): string {
		return (
			this.settings.storePath ?? join(this.userDir ?? join(homedir(), '.node-red'), STORE_FILE_NAME)
		);
	}

	/** The journey state store, opened on first use and shared by every node using this config. */
	store(): Promise<JourneyStateStore> {
		if (!this.storePromise) {
			const s = this.settings;
			const pending = new Promise<JourneyStateStore>((resolve) => {
				resolve(
					s.storeType === 'redis'
						? createStateStore({
								backend: 'redis',
								redis: {
									host: s.redisHost,
									port: s.redisPort,
									db: s.redisDb,
									password: this.secrets.redisPassword || undefined,
									tls: s.redisTls,
								},
								keyPrefix: s.redisKeyPrefix,
							})
						: createStateStore({ backend: 'embedded', path: this.storePath() }),
				);
			});
			// A store that failed to open (e.g. no node:sqlite) is retried on next use, not cached broken.
			pending.catch(() => {
				if (this.storePromise === pending) this.storePromise = undefined;
			});
			this.storePromise = pending;
		}
		return this.storePromise;
	}

	/** Where send slots are reserved: the process, or Redis so several Node-RED instances share one number's budget. */
	async slots(): Promise<SlotReserver> {
		return this.settings.storeType === 'redis' ? this.store() : processSlotStore();
	}

	private templateCacheKey(): string {
		const s = this.settings;
		if (!s.wabaId) {
			throw new Error(
				'Templates live in a WhatsApp Business Account: set "WhatsApp Business Account ID" in the WhatsApp Cloud config node',
			);
		}
		return `${s.baseUrl}|${s.apiVersion}|${s.wabaId}`;
	}

	/** Every template of the WABA, from the process-wide cache (one Graph call per WABA per TTL). */
	listTemplates(client: CloudApiClient, refresh = false): Promise<TemplateDefinition[]> {
		return processTemplateCache().list(this.templateCacheKey(), client, refresh);
	}

	findTemplate(client: CloudApiClient, ref: TemplateRef): Promise<TemplateDefinition> {
		return processTemplateCache().find(this.templateCacheKey(), client, ref);
	}

	async close(): Promise<void> {
		const pending = this.storePromise;
		this.storePromise = undefined;
		if (!pending) return;
		try {
			await (await pending).close();
		} catch {
			// A store that never opened has nothing to close.
		}
	}
}
