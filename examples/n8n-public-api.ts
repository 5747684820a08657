/**
 * The slice of n8n's public REST API (`/api/v1`, `X-N8N-API-KEY`) that `npm run demo -- --n8n-url` needs:
 * credentials, workflows (create / activate / deactivate / delete) and executions with their run data.
 * Answers are validated at this boundary so a different n8n version fails with a field name, not deep in the report.
 */
import { z } from 'zod';

/** A problem the user can fix (wrong URL, wrong key, package missing): printed without a stack trace. */
export class DemoSetupError extends Error {}

const createdSchema = z.object({ id: z.string().min(1), name: z.string() }).passthrough();

const executionSummarySchema = z
	.object({
		id: z.union([z.string(), z.number()]).transform(String),
		workflowId: z.string(),
		status: z.string(),
	})
	.passthrough();
export type PublicExecution = z.infer<typeof executionSummarySchema>;

const executionPageSchema = z.object({
	data: z.array(executionSummarySchema),
	nextCursor: z.string().nullish(),
});
const executionWithDataSchema = executionSummarySchema.extend({ data: z.unknown() });

function messageOf(answer: { json: unknown; text: string }): string {
	return typeof answer.json === 'object' && answer.json !== null && 'message' in answer.json
		? String(answer.json.message)
		: answer.text.slice(0, 300);
}

export interface PublicWorkflow {
	name: string;
	nodes: unknown[];
	connections: Record<string, unknown>;
	settings: Record<string, unknown>;
}

export class N8nPublicApi {
	readonly baseUrl: string;

	constructor(
		baseUrl: string,
		private readonly apiKey: string,
	) {
		this.baseUrl = baseUrl.replace(/\/+$/, '');
	}

	private async call(
		method: string,
		path: string,
		body?: unknown,
	): Promise<{ status: number; json: unknown; text: string }> {
		let response: Response;
		try {
			response = await fetch(`${this.baseUrl}/api/v1${path}`, {
				method,
				headers: {
					'X-N8N-API-KEY': this.apiKey,
					accept: 'application/json',
					...(body === undefined ? {} : { 'content-type': 'application/json' }),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(30_000),
			});
		} catch (error) {
			const cause =
				error instanceof Error && error.cause instanceof Error
					? error.cause.message
					: error instanceof Error
						? error.message
						: String(error);
			throw new DemoSetupError(`cannot reach n8n at ${this.baseUrl} (${cause}); check --n8n-url`);
		}
		const text = await response.text();
		let json: unknown = undefined;
		try {
			json = text === '' ? null : (JSON.parse(text) as unknown);
		} catch {
			// Not JSON (a proxy's error page, n8n's editor HTML): keep the text for the message.
		}
		return { status: response.status, json, text };
	}

	private async ok(method: string, path: string, body?: unknown): Promise<unknown> {
		const answer = await this.call(method, path, body);
		if (answer.status >= 200 && answer.status < 300) return answer.json;
		throw new Error(
			`n8n answered ${method} /api/v1${path} with HTTP ${answer.status}: ${messageOf(answer)}`,
		);
	}

	/** Proves the URL is an n8n with the public API on and that it accepts the key. */
	async checkAccess(): Promise<void> {
		const answer = await this.call('GET', '/workflows?limit=1');
		if (answer.status === 401 || answer.status === 403) {
			throw new DemoSetupError(
				`n8n at ${this.baseUrl} refused the API key (HTTP ${answer.status}). Create one in n8n under Settings → n8n API → Create an API key, ` +
					'and pass it with --api-key or N8N_API_KEY.',
			);
		}
		if (answer.status === 404 || answer.json === undefined) {
			throw new DemoSetupError(
				`${this.baseUrl}/api/v1 is not n8n's public API (HTTP ${answer.status}). Check --n8n-url (the address you open the editor at); ` +
					'the API must not be disabled (N8N_PUBLIC_API_DISABLED).',
			);
		}
		if (answer.status >= 300)
			throw new DemoSetupError(
				`n8n at ${this.baseUrl} answered the API check with HTTP ${answer.status}: ${answer.text.slice(0, 300)}`,
			);
	}

	/** Whether n8n knows a credential type (community packages bring their own: a missing one means not installed). */
	async hasCredentialType(type: string): Promise<boolean> {
		const answer = await this.call('GET', `/credentials/schema/${encodeURIComponent(type)}`);
		if (answer.status === 404) return false;
		if (answer.status >= 300)
			throw new Error(
				`n8n answered GET /api/v1/credentials/schema/${type} with HTTP ${answer.status}: ${answer.text.slice(0, 300)}`,
			);
		return true;
	}

	async createCredential(credential: {
		name: string;
		type: string;
		data: Record<string, unknown>;
	}): Promise<{ id: string; name: string }> {
		return createdSchema.parse(await this.ok('POST', '/credentials', credential));
	}

	async deleteCredential(id: string): Promise<void> {
		await this.ok('DELETE', `/credentials/${encodeURIComponent(id)}`);
	}

	async createWorkflow(workflow: PublicWorkflow): Promise<{ id: string; name: string }> {
		return createdSchema.parse(await this.ok('POST', '/workflows', workflow));
	}

	/** `/activate` (n8n 2.x also calls it publish) works on n8n 1.x and 2.x alike. */
	async activateWorkflow(id: string): Promise<void> {
		await this.ok('POST', `/workflows/${encodeURIComponent(id)}/activate`);
	}

	async deactivateWorkflow(id: string): Promise<void> {
		await this.ok('POST', `/workflows/${encodeURIComponent(id)}/deactivate`);
	}

	/**
	 * Deletes a workflow, waiting (up to `waitMs`) while n8n cannot yet: n8n 2.x answers 409 while a deactivation is
	 * still removing webhooks and triggers, and now and then 500 for a workflow activated and deactivated moments
	 * before (1 of 20 create → activate → deactivate → delete rounds against n8n 2.40.7: its publication outbox still
	 * writes `workflow_published_version` rows after answering, and its log shows those writes and the delete colliding
	 * on the foreign key). With this retry, 60 of 60 such rounds deleted cleanly. A 404 after a retry means the earlier
	 * attempt removed it after all.
	 */
	async deleteWorkflow(id: string, { waitMs = 60_000, pauseMs = 500 } = {}): Promise<void> {
		const deadline = Date.now() + waitMs;
		for (let attempt = 0; ; attempt++) {
			const answer = await this.call('DELETE', `/workflows/${encodeURIComponent(id)}`);
			if (answer.status < 300 || (answer.status === 404 && attempt > 0)) return;
			if ((answer.status === 409 || answer.status >= 500) && Date.now() < deadline) {
				await new Promise((resolve) => setTimeout(resolve, pauseMs));
				continue;
			}
			throw new Error(
				`n8n answered DELETE /api/v1/workflows/${id} with HTTP ${answer.status}: ${messageOf(answer)}`,
			);
		}
	}

	/** Executions of one workflow, all pages. n8n lists running ones only when asked for `status=running`. */
	async executions(workflowId: string, status?: 'running' | 'waiting'): Promise<PublicExecution[]> {
		const all: PublicExecution[] = [];
		let cursor: string | null | undefined;
		do {
			const query = new URLSearchParams({ workflowId, limit: '250' });
			if (status) query.set('status', status);
			if (cursor) query.set('cursor', cursor);
			const page = executionPageSchema.parse(
				await this.ok('GET', `/executions?${query.toString()}`),
			);
			all.push(...page.data);
			cursor = page.nextCursor;
		} while (cursor);
		return all;
	}

	/** One execution with n8n's run data (`resultData.runData`), as the editor's execution view shows it. */
	async execution(id: string): Promise<z.infer<typeof executionWithDataSchema>> {
		return executionWithDataSchema.parse(
			await this.ok('GET', `/executions/${encodeURIComponent(id)}?includeData=true`),
		);
	}
}
