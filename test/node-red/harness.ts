/**
 * Loads the Node-RED nodes (TypeScript sources) into node-red-node-test-helper's runtime, with the Cloud API sandbox
 * as Meta. Gives tests: the captured RED API, an HTTP server in front of RED.httpNode (the helper leaves it unserved),
 * message collectors, and the sandbox's control API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { NodeAPI, NodeMessage } from '../../node-red/types';
import checkWindowNode = require('../../node-red/whatsapp-check-window');
import journeyReportNode = require('../../node-red/whatsapp-journey-report');
import cloudConfigNode = require('../../node-red/whatsapp-cloud-config');
import inboundMessageNode = require('../../node-red/whatsapp-inbound-message');
import sendMessageNode = require('../../node-red/whatsapp-send-message');
import sendTemplateNode = require('../../node-red/whatsapp-send-template');
import webhookStatusNode = require('../../node-red/whatsapp-webhook-status');
import type { Sandbox } from '../../sandbox';

export const TOKEN = 'sandbox-token-for-node-red-tests-1';
export const APP_SECRET = 'app-secret-for-node-red-tests-xyz';
export const VERIFY_TOKEN = 'verify-token-for-node-red-tests';
export const PHONE_NUMBER_ID = '106540352242922';
export const WABA_ID = '102290129340398';

type NodeModule = (RED: NodeAPI) => void;

interface HelperResponse {
	status: number;
	body: unknown;
	text: string;
}

/** The parts of node-red-node-test-helper used here (it ships no typings). */
export interface TestHelper {
	init(runtimePath?: string, settings?: Record<string, unknown>): void;
	load(
		nodes: NodeModule[],
		flow: FlowNode[],
		credentials?: Record<string, Record<string, string>>,
	): Promise<void>;
	unload(): Promise<void>;
	/** Deploys new flows into the loaded runtime ("full", "flows" or "nodes", like the editor's Deploy). */
	setFlows(
		flow: FlowNode[],
		type: 'full' | 'flows' | 'nodes',
		credentials?: Record<string, Record<string, string>>,
	): Promise<void>;
	/** Runtime settings (merged over Node-RED's defaults) for the next load. */
	settings(settings: Record<string, unknown>): Record<string, unknown>;
	getNode(id: string): HelperNode;
	request(): { get(path: string): PromiseLike<HelperResponse> };
	/** A sinon spy on Node-RED's log: one call per entry, `level` 20 for node.error. */
	log(): { args: Array<[{ level: number; id?: string; msg?: unknown }]> };
}

export interface HelperNode {
	on(event: 'input', listener: (msg: NodeMessage) => void): void;
	on(event: 'call:status', listener: (call: { args: unknown[] }) => void): void;
	receive(msg: NodeMessage): void;
}

export type FlowNode = { id: string; type: string; [property: string]: unknown };

export const helper = require('node-red-node-test-helper') as TestHelper;
helper.init(require.resolve('node-red'));

export const NODES: NodeModule[] = [
	cloudConfigNode,
	sendTemplateNode,
	sendMessageNode,
	checkWindowNode,
	webhookStatusNode,
	journeyReportNode,
	inboundMessageNode,
];

const tmp = mkdtempSync(join(tmpdir(), 'wj-node-red-'));
// Registered in the importing test file: its store files go when it ends.
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let storeSeq = 0;
export const newStorePath = (): string => join(tmp, `store-${process.pid}-${++storeSeq}.sqlite`);

export const FLOW_ID = 'flow-journeys';

export function configNode(
	sandbox: Pick<Sandbox, 'url'>,
	storePath: string,
	extra: Record<string, unknown> = {},
): FlowNode {
	return {
		id: 'cfg',
		type: 'whatsapp-cloud-config',
		name: 'sandbox number',
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: WABA_ID,
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
		storeType: 'embedded',
		storePath,
		...extra,
	};
}

export const CREDENTIALS = {
	cfg: { accessToken: TOKEN, appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
};

/** A flow tab, the config, the given nodes, and helper/catch nodes to observe them. Flow nodes need x/y to count as such. */
export function flow(
	sandbox: Pick<Sandbox, 'url'>,
	storePath: string,
	nodes: FlowNode[],
	configExtra: Record<string, unknown> = {},
): FlowNode[] {
	return [
		{ id: FLOW_ID, type: 'tab', label: 'journeys' },
		configNode(sandbox, storePath, configExtra),
		...nodes.map((n) => ({ z: FLOW_ID, x: 100, y: 100, ...n })),
		{
			id: 'catch',
			type: 'catch',
			z: FLOW_ID,
			x: 100,
			y: 200,
			scope: null,
			uncaught: false,
			wires: [['caught']],
		},
		{ id: 'caught', type: 'helper', z: FLOW_ID, x: 300, y: 200 },
	];
}

/**
 * Loads a flow and returns the RED API the nodes were given (to reach RED.httpNode). `beforeStart` gets it before
 * any node starts: a node that calls Meta on start (automatic registration) needs its route served by then.
 */
export async function load(
	flowNodes: FlowNode[],
	credentials: Record<string, Record<string, string>> = CREDENTIALS,
	beforeStart?: (RED: NodeAPI) => void,
): Promise<NodeAPI> {
	let captured: NodeAPI | undefined;
	const capture: NodeModule = (RED) => {
		captured = RED;
		beforeStart?.(RED);
	};
	await helper.load([...NODES, capture], flowNodes, credentials);
	if (!captured) throw new Error('the helper did not pass RED to the node modules');
	return captured;
}

/** Messages arriving at a helper node, with a way to wait for a count. */
export class Collector {
	readonly messages: NodeMessage[] = [];
	private waiters: Array<() => void> = [];

	constructor(id: string) {
		helper.getNode(id).on('input', (msg) => {
			this.messages.push(msg);
			for (const wake of this.waiters.splice(0)) wake();
		});
	}

	async waitFor(count: number, timeoutMs = 5000): Promise<NodeMessage[]> {
		const deadline = Date.now() + timeoutMs;
		while (this.messages.length < count) {
			const left = deadline - Date.now();
			if (left <= 0)
				throw new Error(
					`expected ${count} messages, got ${this.messages.length}: ${JSON.stringify(this.messages.map((m) => m.payload ?? m.error))}`,
				);
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, left);
				this.waiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
		return this.messages;
	}
}

/** An HTTP server whose handler can be swapped: RED.httpNode of the flow loaded for the current test. */
export class NodeHttpServer {
	handler?: http.RequestListener;
	private readonly server = http.createServer((req, res) => {
		if (this.handler) this.handler(req, res);
		else {
			res.statusCode = 503;
			res.end('no flow loaded');
		}
	});
	url = '';

	async start(): Promise<void> {
		await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
	}

	/** Serves RED.httpNode, under `httpNodeRoot` (mounted like Node-RED does) when it is not "/". */
	serve(RED: NodeAPI, httpNodeRoot = '/'): void {
		if (httpNodeRoot === '/') {
			this.handler = RED.httpNode as unknown as http.RequestListener;
			return;
		}
		const express = require('express') as () => http.RequestListener & {
			use(path: string, app: unknown): void;
		};
		const root = express();
		root.use(httpNodeRoot, RED.httpNode);
		this.handler = root;
	}

	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}
}

export function control<T = { data: Array<Record<string, unknown>> }>(
	sandbox: Sandbox,
	path: string,
	body?: unknown,
): Promise<T> {
	return sandbox.control<T>(path, body);
}

export const sleep = (ms: number): Promise<void> =>
	new Promise((resolve) => setTimeout(resolve, ms));
