/**
 * What the `whatsapp-cloud-config` node holds for the other nodes: validated settings, the secrets, and the
 * things core's connection builds from them (Graph client, journey state store, send slots, template definitions).
 * Node-RED-free, so it is testable on its own.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

import {
	CloudApiConnection,
	DEFAULT_GRAPH_API_VERSION,
	DEFAULT_GRAPH_BASE_URL,
	z,
} from '../../core';
import type { TemplateRef } from '../../core';

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
			.regex(/^v\d+\.\d+$/, 'Graph API Version must look like v26.0')
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

/** The embedded store's file: the configured path, else beside Node-RED's own files. */
function embeddedStorePath(settings: CloudSettings, userDir: string | undefined): string {
	return settings.storePath ?? join(userDir ?? join(homedir(), '.node-red'), STORE_FILE_NAME);
}

/** One Meta app + business number, as configured in one config node: core's connection over its settings. */
export class CloudConnection extends CloudApiConnection {
	constructor(
		readonly settings: CloudSettings,
		private readonly secrets: CloudSecrets,
		/** Node-RED's user directory: the default home of the embedded store file. */
		private readonly userDir?: string,
	) {
		super({
			phoneNumberId: settings.phoneNumberId,
			wabaId: settings.wabaId,
			apiVersion: settings.apiVersion,
			baseUrl: settings.baseUrl,
			accessToken: secrets.accessToken,
			appSecret: secrets.appSecret,
			appSecretProof: settings.appSecretProof,
			store:
				settings.storeType === 'redis'
					? {
							backend: 'redis',
							redis: {
								host: settings.redisHost,
								port: settings.redisPort,
								db: settings.redisDb,
								password: secrets.redisPassword || undefined,
								tls: settings.redisTls,
							},
							keyPrefix: settings.redisKeyPrefix,
						}
					: { backend: 'embedded', path: embeddedStorePath(settings, userDir) },
			configuredIn: 'the WhatsApp Cloud config node',
		});
	}

	get appSecret(): string {
		return this.secrets.appSecret;
	}

	get verifyToken(): string {
		return this.secrets.verifyToken;
	}

	storePath(): string {
		return embeddedStorePath(this.settings, this.userDir);
	}
}
