import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { z } from '../../core';
import type { CloudApiConfig } from '../../core';

export const CREDENTIAL_NAME = 'metaWhatsAppCloudApi';

const credentialSchema = z.object({
	accessToken: z.string().min(1, 'Access Token is empty: paste a System User token'),
	phoneNumberId: z
		.string()
		.trim()
		.regex(
			/^\d+$/,
			'Phone Number ID must be the numeric ID from WhatsApp Manager → API Setup, not the phone number',
		),
	wabaId: z.string().trim().optional().default(''),
	appSecret: z.string().optional().default(''),
	signRequests: z.boolean().optional().default(false),
	verifyToken: z.string().optional().default(''),
	apiVersion: z
		.string()
		.trim()
		.regex(/^v\d+\.\d+$/, 'Graph API Version must look like v25.0')
		.optional()
		.default('v25.0'),
	baseUrl: z
		.string()
		.trim()
		.url('Base URL must be a URL such as https://graph.facebook.com')
		.optional()
		.default('https://graph.facebook.com'),
});

export interface MetaCredential extends CloudApiConfig {
	appSecretValue: string;
	verifyToken: string;
}

/** Reads and validates the credential; the error names the field to fix (and never echoes a secret). */
export function parseCredential(data: ICredentialDataDecryptedObject): MetaCredential {
	const parsed = credentialSchema.safeParse(data);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw new Error(
			`Meta WhatsApp Cloud API credential: ${issue.path.join('.')}: ${issue.message}`,
		);
	}
	const c = parsed.data;
	return {
		phoneNumberId: c.phoneNumberId,
		wabaId: c.wabaId || undefined,
		apiVersion: c.apiVersion,
		baseUrl: c.baseUrl,
		// Only carried for appsecret_proof; the Authorization header is set by the transport (nodes/shared/transport.ts).
		accessToken: c.signRequests ? c.accessToken : undefined,
		appSecret: c.signRequests ? c.appSecret : undefined,
		appSecretValue: c.appSecret,
		verifyToken: c.verifyToken,
	};
}

/**
 * Recent credential readings, reused for a short time. n8n reads a credential from its database, decrypts it and
 * evaluates its defaults on every `getCredentials` call: at Meta's webhook rates that was a tenth of n8n's CPU.
 * A failed reading, or one `keep` refuses, is not reused: the next call reads again.
 */
export class RecentReadings<T> {
	private readonly readings = new Map<string, { at: number; value: Promise<T> }>();

	constructor(private readonly reuseMs: number) {}

	get(
		key: string,
		read: () => Promise<T>,
		options: { fresh?: boolean; keep?: (value: T) => boolean } = {},
	): Promise<T> {
		const now = Date.now();
		const last = this.readings.get(key);
		if (!options.fresh && last && now - last.at < this.reuseMs) return last.value;
		const value = read();
		this.readings.set(key, { at: now, value });
		const forget = (): void => {
			if (this.readings.get(key)?.value === value) this.readings.delete(key);
		};
		value.then((v) => {
			if (options.keep && !options.keep(v)) forget();
		}, forget);
		return value;
	}
}
