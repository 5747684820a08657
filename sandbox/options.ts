import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { templateDefinitionSchema, type TemplateDefinition } from '../core/templates';

/** Graph API versions the sandbox answers, as Meta lists them as current (2024-10 .. 2026-07). */
export const SUPPORTED_API_VERSIONS = [
	'v21.0',
	'v22.0',
	'v23.0',
	'v24.0',
	'v25.0',
	'v26.0',
] as const;

const phoneNumberSchema = z.object({
	id: z.string().regex(/^\d+$/, 'phone number id must be digits'),
	displayPhoneNumber: z.string().min(1),
	verifiedName: z.string().min(1).default('Sandbox Business'),
	qualityRating: z.enum(['GREEN', 'YELLOW', 'RED', 'UNKNOWN']).default('GREEN'),
});
export type SandboxPhoneNumber = z.output<typeof phoneNumberSchema>;

const nonNegativeInt = z.number().int().nonnegative();

/** 192 random bits, URL-safe: fits a header, a query string and a JSON line. */
function randomToken(): string {
	return randomBytes(24).toString('base64url');
}

export const sandboxOptionsSchema = z.object({
	port: nonNegativeInt.max(65535).default(0),
	/** Interface to listen on; loopback unless the caller decides otherwise. */
	host: z.string().default('127.0.0.1'),
	/**
	 * More names requests may carry in their Host header, besides 127.0.0.1, localhost, [::1] and `host`: the address
	 * another machine or a container reaches the sandbox at. Any other Host is refused (DNS-rebinding defence).
	 */
	allowedHosts: z.array(z.string().min(1)).default([]),
	/**
	 * Access token the Graph API accepts (`Authorization: Bearer <token>` or `?access_token=`). Random per run unless
	 * given: a constant would let any web page the developer opens call the sandbox with it.
	 */
	token: z.string().min(1).default(randomToken),
	/**
	 * Token every /__sandbox/ request must carry as `Authorization: Bearer <controlToken>`. Random per run unless
	 * given here or in the environment (SANDBOX_CONTROL_TOKEN).
	 */
	controlToken: z
		.string()
		.min(1)
		.default(() => process.env.SANDBOX_CONTROL_TOKEN || randomToken()),
	/** App secret: signs webhooks (X-Hub-Signature-256) and checks `appsecret_proof`. */
	appSecret: z.string().min(1).default('sandbox-app-secret'),
	/** The app's default callback URL (webhook overrides are looked up before it). */
	callbackUrl: z.string().url().optional(),
	wabaId: z.string().regex(/^\d+$/, 'wabaId must be digits').default('102290129340398'),
	phoneNumberId: z
		.string()
		.regex(/^\d+$/, 'phoneNumberId must be digits')
		.default('106540352242922'),
	displayPhoneNumber: z.string().default('15550783881'),
	verifiedName: z.string().default('Sandbox Business'),
	/** More business numbers on the same WABA (the first one is built from phoneNumberId). */
	extraPhoneNumbers: z.array(phoneNumberSchema).default([]),
	/** Template registry; defaults to the project's fixture templates. */
	templates: z.array(templateDefinitionSchema).optional(),
	/** Throughput per business number in any 1-second window; 0 = unlimited. */
	mps: nonNegativeInt.default(80),
	/** Minimum spacing between messages to the same user; 0 disables the pair rate. */
	pairRateMs: nonNegativeInt.default(6000),
	/** Messages to one user that may be sent in a burst before the spacing applies. */
	pairBurst: z.number().int().positive().default(45),
	/** Delay between status steps: accepted → sent → delivered → read. */
	statusDelayMs: nonNegativeInt.default(50),
	/** Share of delivered messages that are also read (0..1). */
	readRatio: z.number().min(0).max(1).default(1),
	/** Meta batches status updates: at most this many per POST ... */
	webhookMaxBatch: z.number().int().positive().max(1000).default(100),
	/** ... collected for at most this long. */
	webhookBatchMs: nonNegativeInt.default(20),
	/** Failed webhook deliveries are retried with exponential backoff from this base ... */
	webhookRetryBaseMs: nonNegativeInt.default(200),
	/** ... up to this many attempts in total (bounded so test runs end). */
	webhookMaxAttempts: z.number().int().positive().default(5),
	webhookTimeoutMs: z.number().int().positive().default(5000),
	/** Graph version of the webhook payloads: before v24.0 statuses always carry `conversation`. */
	webhookVersion: z
		.string()
		.regex(/^v\d+\.\d+$/)
		.default('v26.0'),
	/**
	 * Cloud API accepts a send and reports 131047 / 131049 / 131050 later as a `failed` status.
	 * 'sync' answers those codes on the request instead (handy for callers that only read responses).
	 */
	policyErrors: z.enum(['async', 'sync']).default('async'),
	/** Verify override callback URLs with a GET challenge before accepting them, like Meta. */
	verifyOverrides: z.boolean().default(true),
	apiVersions: z.array(z.string().regex(/^v\d+\.\d+$/)).default([...SUPPORTED_API_VERSIONS]),
	/** Seed for every random choice (ids, fault ratios, jitter): same seed, same run. */
	seed: z.number().int().optional(),
	/** Ceiling of each in-memory record (requests, webhooks, messages). */
	maxLogEntries: z.number().int().positive().default(500_000),
});

export type SandboxOptionsInput = z.input<typeof sandboxOptionsSchema> & {
	/** Clock in ms since epoch; tests may pass a fake one. */
	now?: () => number;
	templates?: TemplateDefinition[];
};
export type SandboxConfig = z.output<typeof sandboxOptionsSchema> & { now: () => number };

export function parseSandboxOptions(input: SandboxOptionsInput = {}): SandboxConfig {
	const { now, ...rest } = input;
	const parsed = sandboxOptionsSchema.safeParse(rest);
	if (!parsed.success) {
		const issues = parsed.error.issues
			.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
			.join('; ');
		throw new Error(`Invalid sandbox options: ${issues}`);
	}
	return { ...parsed.data, now: now ?? Date.now };
}
