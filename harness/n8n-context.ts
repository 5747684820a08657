/**
 * A small stand-in for n8n's execution contexts, enough to run our nodes in-process against the sandbox.
 * It implements only what the nodes call, the way n8n does it (dotted parameter paths, resource-locator
 * extraction, credential `authenticate` headers, returnFullResponse + ignoreHttpStatusErrors). The real-n8n
 * suite (test/e2e) runs the same nodes inside n8n itself.
 */
import type {
	IBinaryData,
	ICredentialDataDecryptedObject,
	IDataObject,
	IExecuteFunctions,
	IHookFunctions,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	INodeExecutionData,
	INodeType,
	IWebhookFunctions,
	IWebhookResponseData,
	NodeExecutionHint,
} from 'n8n-workflow';

import { buildUrl } from '../core/transport';

export type Params = Record<string, unknown>;
export type Credentials = Record<string, ICredentialDataDecryptedObject>;

function getPath(source: Params, path: string): unknown {
	let current: unknown = source;
	for (const part of path.split('.')) {
		if (current === null || typeof current !== 'object') return undefined;
		current = (current as Record<string, unknown>)[part];
	}
	return current;
}

function resolveParam(
	params: Params | ((itemIndex: number) => Params),
	name: string,
	itemIndex: number,
	fallback: unknown,
	options?: { extractValue?: boolean },
): unknown {
	const source = typeof params === 'function' ? params(itemIndex) : params;
	let value = getPath(source, name);
	if (value === undefined) value = fallback;
	if (
		value &&
		typeof value === 'object' &&
		'__rl' in (value as object) &&
		options?.extractValue !== false
	) {
		return (value as { value: unknown }).value;
	}
	return value;
}

export interface HttpLogEntry {
	method: string;
	url: string;
	status?: number;
	headers: Record<string, string>;
}

/** n8n's httpRequest: sends what it is given (headers included), never throws on HTTP status with ignoreHttpStatusErrors. */
function makeHttp(log: HttpLogEntry[]) {
	return async function httpRequest(options: IHttpRequestOptions): Promise<unknown> {
		const headers: Record<string, string> = {
			...((options.headers as Record<string, string>) ?? {}),
		};
		let body: string | FormData | undefined;
		if (options.body instanceof FormData) body = options.body;
		else if (options.body !== undefined) {
			if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
				headers['Content-Type'] = 'application/json';
			// As n8n's httpRequest: a string body goes out as it is (a resume's signed body must not be re-encoded).
			body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
		}
		const url = buildUrl(options.url, options.qs as Record<string, string> | undefined);
		const entry: HttpLogEntry = { method: options.method ?? 'GET', url, headers };
		log.push(entry);
		const response = await fetch(url, {
			method: options.method ?? 'GET',
			headers,
			body,
			signal: options.timeout ? AbortSignal.timeout(options.timeout) : undefined,
		});
		entry.status = response.status;
		if (options.encoding === 'arraybuffer') {
			return {
				statusCode: response.status,
				body: await response.arrayBuffer(),
				headers: Object.fromEntries(response.headers),
			};
		}
		const text = await response.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : '';
		} catch {
			// keep text
		}
		return {
			statusCode: response.status,
			body: parsed,
			headers: Object.fromEntries(response.headers),
		};
	};
}

const fakeNode = (type: string, parameters: Params = {}, typeVersion = 1) => ({
	id: 'node-1',
	name: type,
	type: `n8n-nodes-whatsapp-journeys.${type}`,
	typeVersion,
	position: [0, 0] as [number, number],
	parameters,
});

/**
 * The node's raw parameters as n8n would store them. Per-item parameters (given as a function of the item) are what
 * expressions are in n8n, so every one of them reads as an expression; fixed parameters are stored as they are.
 */
function rawParameters(parameters: RunOptions['parameters']): Params {
	if (typeof parameters !== 'function') return parameters;
	return new Proxy({}, { get: () => '={{ per item }}' }) as Params;
}

/** n8n's prepareBinaryData in its default (in-memory) binary mode: the bytes as base64, with name, type and size. */
async function prepareBinaryData(
	data: Buffer,
	fileName?: string,
	mimeType?: string,
): Promise<IBinaryData> {
	return {
		data: data.toString('base64'),
		mimeType: mimeType ?? 'application/octet-stream',
		...(fileName ? { fileName, fileExtension: fileName.split('.').pop() } : {}),
		fileSize: String(data.length),
	};
}

export interface RunOptions {
	/** The workflow's time zone (n8n's getTimezone()); default UTC. */
	timezone?: string;
	parameters: Params | ((itemIndex: number) => Params);
	credentials: Credentials;
	items?: INodeExecutionData[];
	continueOnFail?: boolean;
	workflowId?: string;
	executionId?: string;
	/** The node's typeVersion in the workflow (1 by default: what saved workflows from before version 2 hold). */
	typeVersion?: number;
	/** n8n's run index of the node in the execution ($runIndex). */
	runIndex?: number;
	binary?: Record<number, Record<string, { data: Buffer; mimeType: string; fileName: string }>>;
}

export interface RunResult {
	output: INodeExecutionData[][];
	http: HttpLogEntry[];
	/** What the node added with addExecutionHints (n8n shows them in the output pane). */
	hints: NodeExecutionHint[];
	/** The date the node put the execution to wait until (Send and Wait), if it did. */
	waitTill?: Date;
}

let executions = 0;

export async function runNode(node: INodeType, opts: RunOptions): Promise<RunResult> {
	const executionId = opts.executionId ?? `exec-${++executions}`;
	const http: HttpLogEntry[] = [];
	const hints: NodeExecutionHint[] = [];
	const items = opts.items ?? [{ json: {} }];
	const nodeName = node.description.name;
	let waitTill: Date | undefined;
	const ctx = {
		getSignedResumeUrl: () =>
			`http://n8n.test/webhook-waiting/${opts.executionId ?? 'exec-1'}/node-1?signature=test`,
		putExecutionToWait: async (date: Date) => {
			waitTill = date;
		},
		getInputData: () => items,
		getNodeParameter: (
			name: string,
			itemIndex: number,
			fallback?: unknown,
			options?: { extractValue?: boolean },
		) => resolveParam(opts.parameters, name, itemIndex, fallback, options),
		getCredentials: async (type: string) => {
			const c = opts.credentials[type];
			if (!c) throw new Error(`Node does not have any credentials set for "${type}"`);
			return c;
		},
		getNode: () => fakeNode(nodeName, rawParameters(opts.parameters), opts.typeVersion),
		getWorkflow: () => ({ id: opts.workflowId ?? 'wf-test', name: 'test', active: false }),
		// Each run is its own execution, as in n8n (once-per-step keys of steps without a journey include it).
		getExecutionId: () => executionId,
		getWorkflowDataProxy: () => ({ $runIndex: opts.runIndex ?? 0 }),
		getExecutionCancelSignal: () => undefined,
		continueOnFail: () => opts.continueOnFail === true,
		addExecutionHints: (...added: NodeExecutionHint[]) => hints.push(...added),
		helpers: {
			httpRequest: makeHttp(http),
			assertBinaryData: (itemIndex: number, property: string) => {
				const b = opts.binary?.[itemIndex]?.[property];
				if (!b) throw new Error(`Item ${itemIndex} has no binary property "${property}"`);
				return { mimeType: b.mimeType, fileName: b.fileName, data: '' };
			},
			getBinaryDataBuffer: async (itemIndex: number, property: string) => {
				const b = opts.binary?.[itemIndex]?.[property];
				if (!b) throw new Error(`Item ${itemIndex} has no binary property "${property}"`);
				return b.data;
			},
			returnJsonArray: (data: IDataObject[]) => data.map((json) => ({ json })),
			prepareBinaryData,
		},
		getTimezone: () => opts.timezone ?? 'UTC',
	} as unknown as IExecuteFunctions;
	const output = (await node.execute!.call(ctx)) as INodeExecutionData[][];
	return { output, http, hints, waitTill };
}

/** A load-options context (resource locator lists, resource mapper). */
export function loadOptionsContext(
	node: INodeType,
	parameters: Params,
	credentials: Credentials,
): ILoadOptionsFunctions {
	const http: HttpLogEntry[] = [];
	return {
		getNodeParameter: (name: string, fallback?: unknown, options?: { extractValue?: boolean }) =>
			resolveParam(parameters, name, 0, fallback, options),
		getCurrentNodeParameter: (name: string) => resolveParam(parameters, name, 0, undefined),
		getCredentials: async (type: string) => credentials[type],
		getNode: () => fakeNode(node.description.name),
		helpers: { httpRequest: makeHttp(http) },
	} as unknown as ILoadOptionsFunctions;
}

export function hookContext(
	node: INodeType,
	parameters: Params,
	credentials: Credentials,
	webhookUrl: string,
): IHookFunctions {
	const http: HttpLogEntry[] = [];
	return {
		getNodeParameter: (name: string, fallback?: unknown) =>
			resolveParam(parameters, name, 0, fallback),
		getCredentials: async (type: string) => credentials[type],
		getNode: () => fakeNode(node.description.name),
		getWorkflow: () => ({ id: 'wf-trigger', name: 'trigger', active: true }),
		getNodeWebhookUrl: () => webhookUrl,
		helpers: { httpRequest: makeHttp(http) },
	} as unknown as IHookFunctions;
}

export interface WebhookCall {
	webhookName: 'setup' | 'default';
	query?: Record<string, string>;
	headers?: Record<string, string>;
	rawBody?: Buffer;
	/** Which trigger node of which workflow is called (n8n keys a node's webhooks by both); defaults as hookContext's. */
	workflowId?: string;
	nodeId?: string;
	/** n8n's execution mode: 'webhook' for the production URL, 'manual' for "Listen for test event". */
	mode?: 'webhook' | 'manual';
	/** The request path, e.g. a waiting execution's /webhook-waiting/<execution>/<node>. */
	url?: string;
	/** The node's typeVersion in the workflow (1 by default). */
	typeVersion?: number;
	/** Called when the HTTP answer goes out: from the node's own res.send, or, as n8n does, once webhook() returned. */
	onAnswer?: (status: number, body: unknown) => void;
}

export interface WebhookResult {
	status: number;
	body: unknown;
	response: IWebhookResponseData;
	/** Milliseconds from the call to its HTTP answer, and to webhook() returning (when n8n would start the execution). */
	answeredAfterMs: number;
	returnedAfterMs: number;
}

/** Calls the trigger's webhook() as n8n would for one HTTP request, capturing what it answered and when. */
export async function callWebhook(
	node: INodeType,
	parameters: Params,
	credentials: Credentials,
	call: WebhookCall,
): Promise<WebhookResult> {
	const started = performance.now();
	let status = 200;
	let sent: unknown;
	let answeredAfterMs: number | undefined;
	const res = {
		status(code: number) {
			status = code;
			return res;
		},
		type() {
			return res;
		},
		send(body: unknown) {
			sent = body;
			answeredAfterMs = performance.now() - started;
			call.onAnswer?.(status, body);
			return res;
		},
		end() {
			return res;
		},
	};
	const headers = Object.fromEntries(
		Object.entries(call.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
	);
	let body: unknown = {};
	try {
		body = call.rawBody ? JSON.parse(call.rawBody.toString('utf8')) : {};
	} catch {
		body = {};
	}
	const req = {
		...(call.url ? { url: call.url, originalUrl: call.url } : {}),
		rawBody: call.rawBody,
		body,
		header: (name: string) => headers[name.toLowerCase()],
		headers,
	};
	const ctx = {
		getWebhookName: () => call.webhookName,
		getMode: () => call.mode ?? 'webhook',
		getWorkflow: () => ({ id: call.workflowId ?? 'wf-trigger', name: 'trigger', active: true }),
		getRequestObject: () => req,
		getResponseObject: () => res,
		getQueryData: () => call.query ?? {},
		getNodeParameter: (name: string, fallback?: unknown) =>
			resolveParam(parameters, name, 0, fallback),
		getCredentials: async (type: string) => credentials[type],
		getNode: () => ({
			...fakeNode(node.description.name, {}, call.typeVersion),
			id: call.nodeId ?? 'node-1',
		}),
		logger: { debug() {}, info() {}, warn() {}, error() {} },
		helpers: {
			returnJsonArray: (data: IDataObject[]) => data.map((json) => ({ json })),
			httpRequest: makeHttp([]),
			prepareBinaryData,
		},
	} as unknown as IWebhookFunctions;
	const response = await node.webhook!.call(ctx);
	const returnedAfterMs = performance.now() - started;
	if (answeredAfterMs === undefined) {
		// n8n answers with webhookResponse itself, after starting the execution (responseMode onReceived).
		answeredAfterMs = returnedAfterMs;
		call.onAnswer?.(status, response.webhookResponse);
	}
	return {
		status,
		body: sent ?? response.webhookResponse,
		response,
		answeredAfterMs,
		returnedAfterMs,
	};
}
