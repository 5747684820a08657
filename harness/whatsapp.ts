/**
 * WhatsApp fixtures shared by the e2e tests and `npm run demo`: the sandbox credential, and Meta's status webhook
 * as Meta signs it. One place, so a change in the credential's fields or Meta's payload shape is made once.
 */
import { computeSignature } from '../core';
import type { Sandbox } from '../sandbox';
import type { CredentialJson } from './n8n-instance';

export interface SandboxSecrets {
	/** Access token the sandbox accepts (its `token` option). */
	readonly token: string;
	/** App secret the sandbox signs webhooks with (its `appSecret` option). */
	readonly appSecret: string;
	readonly verifyToken: string;
}

/**
 * Data of a `metaWhatsAppCloudApi` credential that points our nodes at the sandbox instead of graph.facebook.com.
 * `baseUrl` defaults to the sandbox's own URL; pass another when n8n reaches the sandbox under a different address.
 */
export function sandboxCredentialData(
	sandbox: Pick<Sandbox, 'url' | 'config'>,
	secrets: SandboxSecrets,
	baseUrl = sandbox.url,
): Record<string, string> {
	return {
		accessToken: secrets.token,
		phoneNumberId: sandbox.config.phoneNumberId,
		wabaId: sandbox.config.wabaId,
		appSecret: secrets.appSecret,
		verifyToken: secrets.verifyToken,
		apiVersion: 'v25.0',
		baseUrl,
	};
}

/** The same credential as `n8n import:credentials` takes it (fixed id, so workflow JSON can reference it). */
export function sandboxCredential(
	sandbox: Pick<Sandbox, 'url' | 'config'>,
	credential: { id: string; name: string } & SandboxSecrets,
): CredentialJson {
	const { id, name, ...secrets } = credential;
	return { id, name, type: 'metaWhatsAppCloudApi', data: sandboxCredentialData(sandbox, secrets) };
}

export interface StatusUpdate {
	readonly messageId: string;
	readonly status: 'sent' | 'delivered' | 'read' | 'failed';
	/** wa_id of the customer (digits, no +). */
	readonly recipientId: string;
	/** When it happened, Unix seconds as Meta writes them (default: now). */
	readonly timestamp?: number;
}

/** Body of a `messages` webhook carrying status updates, exactly as Meta posts it for the sandbox's number. */
export function statusWebhookBody(
	config: Pick<Sandbox['config'], 'wabaId' | 'displayPhoneNumber' | 'phoneNumberId'>,
	statuses: readonly StatusUpdate[],
): string {
	const now = Math.floor(Date.now() / 1000);
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: config.wabaId,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: {
								display_phone_number: config.displayPhoneNumber,
								phone_number_id: config.phoneNumberId,
							},
							statuses: statuses.map((s) => ({
								id: s.messageId,
								status: s.status,
								timestamp: String(s.timestamp ?? now),
								recipient_id: s.recipientId,
							})),
						},
					},
				],
			},
		],
	});
}

/** Headers Meta sends with a webhook body: JSON, signed with the app secret (X-Hub-Signature-256). */
export function signedWebhookHeaders(body: string, appSecret: string): Record<string, string> {
	return {
		'content-type': 'application/json',
		'x-hub-signature-256': computeSignature(body, appSecret),
	};
}

/** A template as the sandbox's Graph API lists it (what the editors' pickers are compared against). */
export interface ListedTemplate {
	id: string;
	name: string;
	language: string;
	status: string;
	category: string;
}

/** Every template of the sandbox's WABA, whatever its status, as GET /{waba-id}/message_templates returns them. */
export async function listSandboxTemplates(
	sandbox: Pick<Sandbox, 'url' | 'config'>,
	token: string,
): Promise<ListedTemplate[]> {
	const listed = await fetch(
		`${sandbox.url}/v25.0/${sandbox.config.wabaId}/message_templates?limit=200&fields=name,language,status,category`,
		{
			headers: { authorization: `Bearer ${token}` },
		},
	);
	if (!listed.ok)
		throw new Error(`sandbox template list: HTTP ${listed.status} ${await listed.text()}`);
	return ((await listed.json()) as { data: ListedTemplate[] }).data;
}

/**
 * A WhatsApp Send Template node sending the sandbox's `order_confirmation (en_US)` to `={{ $json.phone }}`, as the
 * e2e workflows use it; `body1` is the customer's name (a value or an expression), `parameters` adds or overrides.
 */
export function orderConfirmationSendNode(p: {
	id: string;
	position: [number, number];
	credentials: Record<string, { id: string; name: string }>;
	body1: string;
	options: Record<string, unknown>;
	parameters?: Record<string, unknown>;
}): Record<string, unknown> {
	return {
		id: p.id,
		name: 'Send',
		type: 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
		typeVersion: 1,
		position: p.position,
		credentials: p.credentials,
		parameters: {
			operation: 'sendTemplate',
			recipient: '={{ $json.phone }}',
			template: { __rl: true, mode: 'name', value: 'order_confirmation (en_US)' },
			variablesMode: 'mapper',
			variables: {
				mappingMode: 'defineBelow',
				value: {
					header_text_1: '#1',
					body_1: p.body1,
					body_2: '#1',
					body_3: 'today',
					button_0_url: 'o1',
				},
				matchingColumns: [],
				schema: [],
			},
			options: p.options,
			...p.parameters,
		},
	};
}
