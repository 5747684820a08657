import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { CloudApiConnection, DEFAULT_GRAPH_API_VERSION, z } from '../../core';
import type { GraphLocation, Transport } from '../../core';

export const CREDENTIAL_NAME = 'metaWhatsAppCloudApi';
/** Where n8n users edit these settings, as errors name it. */
export const CONFIGURED_IN = 'the credential';

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
		.regex(/^v\d+\.\d+$/, 'Graph API Version must look like v26.0')
		.optional()
		.default(DEFAULT_GRAPH_API_VERSION),
	baseUrl: z
		.string()
		.trim()
		.url('Base URL must be a URL such as https://graph.facebook.com')
		.optional()
		.default('https://graph.facebook.com'),
});

export interface MetaCredential extends GraphLocation {
	/** Meta's "Require App Secret": every Graph call carries appsecret_proof (the credential's "signRequests"). */
	appSecretProof: boolean;
	/** The app secret: webhook signatures, and appsecret_proof when `appSecretProof` is on. */
	appSecretValue: string;
	verifyToken: string;
}

function parse(data: ICredentialDataDecryptedObject): z.infer<typeof credentialSchema> {
	const parsed = credentialSchema.safeParse(data);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw new Error(
			`Meta WhatsApp Cloud API credential: ${issue.path.join('.')}: ${issue.message}`,
		);
	}
	return parsed.data;
}

/** Reads and validates the credential; the error names the field to fix (and never echoes a secret). */
export function parseCredential(data: ICredentialDataDecryptedObject): MetaCredential {
	return toMetaCredential(parse(data));
}

function toMetaCredential(c: z.infer<typeof credentialSchema>): MetaCredential {
	return {
		phoneNumberId: c.phoneNumberId,
		wabaId: c.wabaId || undefined,
		apiVersion: c.apiVersion,
		baseUrl: c.baseUrl,
		// The credential's field keeps its saved name; core calls the switch by Meta's name.
		appSecretProof: c.signRequests,
		appSecretValue: c.appSecret,
		verifyToken: c.verifyToken,
	};
}

/** Core's connection for a credential; `transport` carries the bearer token (nodes/shared/transport.ts). */
export function metaConnection(
	data: ICredentialDataDecryptedObject,
	transport: (accessToken: string) => Transport,
): { connection: CloudApiConnection; credential: MetaCredential } {
	const c = parse(data);
	const credential = toMetaCredential(c);
	const connection = new CloudApiConnection({
		phoneNumberId: credential.phoneNumberId,
		wabaId: credential.wabaId,
		apiVersion: credential.apiVersion,
		baseUrl: credential.baseUrl,
		accessToken: c.accessToken,
		appSecret: c.appSecret,
		appSecretProof: credential.appSecretProof,
		transport,
		configuredIn: CONFIGURED_IN,
	});
	return { connection, credential };
}

/**
 * Recent credential readings, reused for a short time (`new RecentReadings(30_000)`). n8n reads a credential from its
 * database, decrypts it and evaluates its defaults on every `getCredentials` call: at Meta's webhook rates that was a
 * tenth of n8n's CPU. A failed reading, or one `keep` refuses, is not reused: the next call reads again.
 */
export { TtlCache as RecentReadings } from '../../core';
