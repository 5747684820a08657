import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { TemplateDefinition } from '../../core/templates';
import {
	messagesValueSchema,
	webhookBodySchema,
	type MetaStatus,
	type WebhookBody,
} from '../../core/webhooks';
import { startSandbox, type Sandbox, type SandboxOptionsInput } from '../../sandbox';

export const TOKEN = 'test-token';
export const APP_SECRET = 'test-app-secret';
export const VERSION = 'v23.0';

/** A customer number outside the US (131049 applies to US numbers only). */
export const CUSTOMER = '+447700900123';
export const CUSTOMER_WA_ID = '447700900123';
export const US_CUSTOMER = '+12025550143';

/** Small registry written for these tests, so they do not depend on the shared fixtures' contents. */
export const TEST_TEMPLATES: TemplateDefinition[] = [
	{
		id: '1001',
		name: 'order_update',
		language: 'en_US',
		status: 'APPROVED',
		category: 'UTILITY',
		parameter_format: 'POSITIONAL',
		components: [
			{
				type: 'BODY',
				text: 'Hi {{1}}, your order {{2}} ships today.',
				example: { body_text: [['Ana', 'A-100']] },
			},
		],
	},
	{
		id: '1002',
		name: 'spring_sale',
		language: 'en_US',
		status: 'APPROVED',
		category: 'MARKETING',
		parameter_format: 'NAMED',
		components: [
			{
				type: 'BODY',
				text: 'Hello {{first_name}}, spring sale starts now!',
				example: { body_text_named_params: [{ param_name: 'first_name', example: 'Ana' }] },
			},
		],
	},
	{
		id: '1003',
		name: 'paused_promo',
		language: 'en_US',
		status: 'PAUSED',
		category: 'MARKETING',
		components: [{ type: 'BODY', text: 'Promo for you.' }],
	},
	{
		id: '1004',
		name: 'disabled_promo',
		language: 'en_US',
		status: 'DISABLED',
		category: 'MARKETING',
		components: [{ type: 'BODY', text: 'Old promo.' }],
	},
	{
		id: '1005',
		name: 'pending_notice',
		language: 'en_US',
		status: 'PENDING',
		category: 'UTILITY',
		components: [{ type: 'BODY', text: 'Notice.' }],
	},
	{
		id: '1007',
		name: 'receipt_notice',
		language: 'en_US',
		status: 'APPROVED',
		category: 'UTILITY',
		components: [
			{ type: 'BODY', text: 'Your receipt: {{1}}', example: { body_text: [['#123']] } },
			{ type: 'FOOTER', text: 'Thank you' },
		],
	},
	{
		id: '1006',
		name: 'hello_static',
		language: 'en_US',
		status: 'APPROVED',
		category: 'UTILITY',
		components: [{ type: 'BODY', text: 'Hello from the sandbox.' }],
	},
] as TemplateDefinition[];

export function orderUpdate(
	to = CUSTOMER,
	params: string[] = ['Ana', 'A-100'],
	extra: Record<string, unknown> = {},
): Record<string, unknown> {
	return {
		messaging_product: 'whatsapp',
		recipient_type: 'individual',
		to,
		type: 'template',
		template: {
			name: 'order_update',
			language: { code: 'en_US' },
			components: [{ type: 'body', parameters: params.map((text) => ({ type: 'text', text })) }],
		},
		...extra,
	};
}

export function springSale(to = CUSTOMER): Record<string, unknown> {
	return {
		messaging_product: 'whatsapp',
		to,
		type: 'template',
		template: {
			name: 'spring_sale',
			language: { code: 'en_US' },
			components: [
				{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Ana' }] },
			],
		},
	};
}

export function textMessage(to = CUSTOMER, body = 'Thanks for writing!'): Record<string, unknown> {
	return {
		messaging_product: 'whatsapp',
		recipient_type: 'individual',
		to,
		type: 'text',
		text: { body },
	};
}

export async function start(options: SandboxOptionsInput = {}): Promise<Sandbox> {
	return startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		templates: TEST_TEMPLATES,
		statusDelayMs: 5,
		webhookBatchMs: 10,
		webhookRetryBaseMs: 20,
		pairRateMs: 0,
		seed: 42,
		...options,
	});
}

export interface ApiResponse {
	status: number;
	body: unknown;
	headers: Headers;
}

/** Meta's synchronous error JSON. */
export const errorResponseSchema = z.object({
	error: z
		.object({
			message: z.string(),
			type: z.string(),
			code: z.number().int(),
			error_subcode: z.number().int().optional(),
			error_data: z
				.object({ messaging_product: z.literal('whatsapp'), details: z.string() })
				.optional(),
			fbtrace_id: z.string().min(1),
		})
		.strict(),
});

/** Meta's answer to an accepted send. */
export const sendResponseSchema = z
	.object({
		messaging_product: z.literal('whatsapp'),
		contacts: z.array(z.object({ input: z.string(), wa_id: z.string() }).strict()).length(1),
		messages: z
			.array(
				z
					.object({ id: z.string().startsWith('wamid.'), message_status: z.literal('accepted') })
					.strict(),
			)
			.length(1),
	})
	.strict();

export function errorOf(res: ApiResponse): z.infer<typeof errorResponseSchema>['error'] {
	return errorResponseSchema.parse(res.body).error;
}

export function acceptedOf(res: ApiResponse): z.infer<typeof sendResponseSchema> {
	return sendResponseSchema.parse(res.body);
}

/** For control API answers, whose shapes are the sandbox's own. */
export function bodyAs<T>(res: ApiResponse): T {
	return res.body as T;
}

export async function api(
	sandbox: Sandbox,
	method: string,
	path: string,
	body?: unknown,
	options: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
	const headers: Record<string, string> = { ...options.headers };
	const token = options.token === undefined ? TOKEN : options.token;
	if (token !== null) headers.authorization = `Bearer ${token}`;
	let payload: string | undefined;
	if (body !== undefined) {
		payload = typeof body === 'string' ? body : JSON.stringify(body);
		headers['content-type'] ??= 'application/json';
	}
	const url = path.startsWith('http')
		? path
		: `${sandbox.url}${path.startsWith('/__sandbox') ? '' : `/${VERSION}`}${path}`;
	const res = await fetch(url, { method, headers, body: payload });
	const text = await res.text();
	return {
		status: res.status,
		body: text ? (JSON.parse(text) as unknown) : {},
		headers: res.headers,
	};
}

export function send(sandbox: Sandbox, body: unknown, edge = 'messages'): Promise<ApiResponse> {
	return api(sandbox, 'POST', `/${sandbox.config.phoneNumberId}/${edge}`, body);
}

export function control(
	sandbox: Sandbox,
	method: string,
	path: string,
	body?: unknown,
): Promise<ApiResponse> {
	return api(sandbox, method, `/__sandbox/${path}`, body, { token: sandbox.controlToken });
}

export interface ReceivedWebhook {
	raw: Buffer;
	signature: string | undefined;
	body: WebhookBody;
	path: string;
}

/** A callback server: records what it receives and answers with `respond()` (200 by default). */
export class CallbackReceiver {
	readonly received: ReceivedWebhook[] = [];
	readonly challenges: URLSearchParams[] = [];
	/** Status for the next POSTs (shifted per request; falls back to 200). */
	readonly statuses: number[] = [];
	verifyToken = 'verify-me';
	private server = http.createServer((req, res) => {
		const url = new URL(req.url ?? '/', 'http://receiver');
		if (req.method === 'GET') {
			this.challenges.push(url.searchParams);
			if (
				url.searchParams.get('hub.mode') === 'subscribe' &&
				url.searchParams.get('hub.verify_token') === this.verifyToken
			) {
				res.writeHead(200, { 'content-type': 'text/plain' });
				res.end(url.searchParams.get('hub.challenge') ?? '');
			} else {
				res.writeHead(403);
				res.end();
			}
			return;
		}
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks);
			const signature = req.headers['x-hub-signature-256'];
			this.received.push({
				raw,
				signature: typeof signature === 'string' ? signature : undefined,
				body: webhookBodySchema.parse(JSON.parse(raw.toString('utf8'))),
				path: url.pathname,
			});
			res.writeHead(this.statuses.shift() ?? 200);
			res.end();
		});
	});
	url = '';

	async listen(): Promise<this> {
		await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhook`;
		return this;
	}

	close(): Promise<void> {
		return new Promise((resolve) => {
			this.server.closeAllConnections();
			this.server.close(() => resolve());
		});
	}

	/** Every change of `field` received so far, in arrival order. */
	changes(field: string): Array<{ field: string; value: unknown }> {
		return this.received.flatMap((w) =>
			w.body.entry.flatMap((e) =>
				e.changes
					.filter((c) => c.field === field)
					.map((c) => ({ field: c.field, value: c.value as unknown })),
			),
		);
	}

	/** Every status item received so far (checked against core's schema), in arrival order. */
	statusItems(): MetaStatus[] {
		return this.changes('messages').flatMap((c) =>
			(messagesValueSchema.parse(c.value).statuses ?? []).filter(
				(s): s is MetaStatus => s !== null,
			),
		);
	}
}

export async function waitFor(
	predicate: () => boolean,
	timeoutMs = 5000,
	what = 'condition',
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}
