/**
 * The node's outputs, by node version. Version 1 has one output (every item, skipped ones carry `policy`); version 2
 * adds "Skipped by Policy" so a journey can branch on a rule without an IF node.
 *
 * n8n computes outputs that are an expression with NodeHelpers.getNodeOutputs (n8n-workflow), in the editor and in the
 * engine (handleNodeErrorOutput), from `$nodeVersion` (the node's typeVersion) and `$parameter`; its Evaluation node
 * writes `={{(fn)($parameter)}}`. The function is inlined as source, so it must not refer to anything outside itself.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import type { PolicyDecision } from '../../core';

export interface OutputSpec {
	type: 'main';
	displayName?: string;
}

/** Stays self-contained: n8n evaluates its source text, not this module. */
export function outputsFor(nodeVersion: number): OutputSpec[] {
	if (nodeVersion >= 2)
		return [
			{ type: 'main', displayName: 'Sent' },
			{ type: 'main', displayName: 'Skipped by Policy' },
		];
	return [{ type: 'main' }];
}

export const outputsExpression = `={{(${outputsFor.toString()})($nodeVersion)}}` as const;

/** Output positions of version 2. */
export const OUTPUT = { sent: 0, skipped: 1 } as const;

/**
 * Decisions whose item goes to the normal output: the step is done (now, earlier, or would be in a dry run). Every
 * other decision means nothing was sent for a rule, and goes to "Skipped by Policy".
 */
const DONE: ReadonlySet<PolicyDecision> = new Set<PolicyDecision>([
	'sent',
	'already_sent',
	'dry_run',
]);

export function isSkipped(decision: PolicyDecision | undefined): boolean {
	return decision !== undefined && !DONE.has(decision);
}

/** One array per output of `nodeVersion`, items in input order within each. */
export function routeItems(
	nodeVersion: number,
	items: ReadonlyArray<{ item: INodeExecutionData; decision?: PolicyDecision }>,
): INodeExecutionData[][] {
	const outputs = outputsFor(nodeVersion).map((): INodeExecutionData[] => []);
	for (const { item, decision } of items) {
		const skipped = outputs.length > OUTPUT.skipped && isSkipped(decision);
		outputs[skipped ? OUTPUT.skipped : OUTPUT.sent].push(item);
	}
	return outputs;
}
