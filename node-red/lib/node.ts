/** Small helpers the three flow nodes share: reading their settings, the config node, typed inputs, errors, badges. */
import { describeFailure, z } from '../../core';
import type { NodeAPI, NodeInstance, NodeMessage } from '../types';
import { CONFIG_NODE_TYPE, describeIssue } from './cloud';
import type { CloudConnection } from './cloud';

/** What a config node instance carries (set by whatsapp-cloud-config). */
export interface CloudConfigNodeState {
	cloud?: CloudConnection;
	/** Why the config could not be used (a field to fix), when `cloud` is missing. */
	configError?: string;
}

/** Validates a node's saved settings; the error names the node type and the field. */
export function parseNodeSettings<S extends z.ZodTypeAny>(
	schema: S,
	def: unknown,
	nodeLabel: string,
): z.output<S> {
	const parsed = schema.safeParse(def);
	if (!parsed.success) throw new Error(`${nodeLabel}: ${describeIssue(parsed.error)}`);
	return parsed.data as z.output<S>;
}

/** The CloudConnection of the config node a flow node points at, or an error saying what to set. */
export function connectionOf(RED: NodeAPI, configId: string | undefined): CloudConnection {
	const configNode = configId
		? (RED.nodes.getNode(configId) as (CloudConfigNodeState & { type?: string }) | null)
		: null;
	if (!configNode || configNode.type !== CONFIG_NODE_TYPE) {
		throw new Error('No WhatsApp Cloud config: choose one in the node (and deploy it)');
	}
	if (!configNode.cloud)
		throw new Error(configNode.configError ?? 'The WhatsApp Cloud config node is not usable');
	return configNode.cloud;
}

/** A typed input (msg property, string, flow/global context, env, JSON, JSONata) read for one message. */
export function evaluate(
	RED: NodeAPI,
	node: NodeInstance,
	msg: NodeMessage,
	value: string,
	type: string,
): Promise<unknown> {
	return new Promise((resolve, reject) => {
		try {
			RED.util.evaluateNodeProperty(value, type, node, msg, (error, result) =>
				error ? reject(error) : resolve(result),
			);
		} catch (error) {
			reject(error instanceof Error ? error : new Error(String(error)));
		}
	});
}

/** A plain object describing a failure, for `msg.whatsappError` (Catch nodes see it next to `msg.error`). */
export const errorDetails = describeFailure;

export function asError(error: unknown): Error {
	return error instanceof Error ? error : new Error(String(error));
}

/** "sending 2 · sent 10 · failed 1" under the node, coloured by how the last message went. */
export class StatusBadge {
	sending = 0;
	sent = 0;
	failed = 0;
	/** Not sent because a journey rule said so (second output). */
	skipped = 0;
	/** Kept in the node until quiet hours end. */
	held = 0;
	private lastFailed = false;

	constructor(
		private readonly node: NodeInstance,
		private readonly words: { done: string } = { done: 'sent' },
	) {}

	start(): void {
		this.sending++;
		this.render();
	}

	finish(ok: boolean): void {
		this.sending = Math.max(0, this.sending - 1);
		if (ok) this.sent++;
		else this.failed++;
		this.lastFailed = !ok;
		this.render();
	}

	/** A msg the journey rules stopped: it went to the "skipped by policy" output. */
	skip(): void {
		this.sending = Math.max(0, this.sending - 1);
		this.skipped++;
		this.render();
	}

	/** +1 when a msg is held for quiet hours, -1 when it is released (or dropped at close). */
	holding(delta: 1 | -1): void {
		this.held = Math.max(0, this.held + delta);
		this.render();
	}

	private render(): void {
		const parts: string[] = [];
		if (this.sending > 0) parts.push(`sending ${this.sending}`);
		if (this.held > 0) parts.push(`held ${this.held}`);
		parts.push(`${this.words.done} ${this.sent}`);
		if (this.skipped > 0) parts.push(`skipped ${this.skipped}`);
		if (this.failed > 0) parts.push(`failed ${this.failed}`);
		const fill = this.sending > 0 ? 'blue' : this.lastFailed ? 'red' : 'green';
		this.node.status({ fill, shape: this.sending > 0 ? 'ring' : 'dot', text: parts.join(' · ') });
	}
}
