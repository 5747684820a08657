/**
 * The node's outputs, by node version and operation. Version 1 has one output (every item, skipped ones carry
 * `policy`); version 2 adds "Skipped by Policy" so a journey can branch on a rule without an IF node. Send and Wait's
 * outputs (No Response, one per button, Other Reply, Status, Failed) come from core (waitOutputLabels /
 * parseWaitButtons, both self-contained), followed in version 2 by "Skipped by Policy".
 *
 * n8n computes outputs that are an expression with NodeHelpers.getNodeOutputs (n8n-workflow), in the editor and in the
 * engine (handleNodeErrorOutput), from `$nodeVersion` (the node's typeVersion) and `$parameter`; its Evaluation node
 * writes `={{(fn)($parameter)}}`. The functions are inlined as source, so they must not refer to anything outside.
 */
import type { INodeExecutionData, INodeOutputConfiguration } from 'n8n-workflow';

import { isSkippedDecision, parseWaitButtons, waitOutputLabels } from '../../core';
import type { PolicyDecision } from '../../core';

export interface OutputParameters {
	operation?: string;
	waitButtons?: string;
	waitForStatus?: string;
	/** Send and Wait's message: template (default), buttons, list or text. */
	waitMessageType?: string;
	waitReplyButtons?: { button?: Array<{ title?: string }> };
	waitListRows?: { row?: Array<{ title?: string }> };
}

/** Self-contained: its source is evaluated by n8n with `$nodeVersion`, `$parameter` and the two core functions. */
export const configuredOutputs = (
	nodeVersion: number,
	parameters: OutputParameters,
	parse: typeof parseWaitButtons,
	labels: typeof waitOutputLabels,
): INodeOutputConfiguration[] => {
	const skipped: INodeOutputConfiguration[] =
		nodeVersion >= 2 ? [{ type: 'main', displayName: 'Skipped by Policy' }] : [];
	if (parameters.operation === 'sendAndWait') {
		// The outputs follow the buttons or rows as configured, in order (core's waitMessageFrom keeps that order).
		const kind = parameters.waitMessageType || 'template';
		const titles = (choices?: Array<{ title?: string }>): string[] =>
			parse((choices ?? []).map((c) => String(c?.title ?? '')));
		const buttons =
			kind === 'buttons'
				? titles(parameters.waitReplyButtons?.button)
				: kind === 'list'
					? titles(parameters.waitListRows?.row)
					: kind === 'text'
						? []
						: parse(parameters.waitButtons ?? '');
		const names = labels(
			buttons,
			parameters.waitForStatus === 'none' ? undefined : parameters.waitForStatus,
			kind,
		);
		return names
			.map((displayName): INodeOutputConfiguration => ({ type: 'main', displayName }))
			.concat(skipped);
	}
	if (nodeVersion >= 2)
		return [{ type: 'main', displayName: 'Sent' } as INodeOutputConfiguration].concat(skipped);
	return [{ type: 'main' }];
};

export const outputsExpression: `={{${string}}}` = `={{(${configuredOutputs})($nodeVersion, $parameter, ${parseWaitButtons}, ${waitOutputLabels})}}`;

/** The outputs of a node of `nodeVersion` with these parameters, as n8n computes them. */
export function outputsFor(
	nodeVersion: number,
	parameters: OutputParameters = {},
): INodeOutputConfiguration[] {
	return configuredOutputs(nodeVersion, parameters, parseWaitButtons, waitOutputLabels);
}

/** Output positions of version 2's send operations. */
export const OUTPUT = { sent: 0, skipped: 1 } as const;

/** One array per output of a send operation of `nodeVersion`, items in input order within each. */
export function routeItems(
	nodeVersion: number,
	items: ReadonlyArray<{ item: INodeExecutionData; decision?: PolicyDecision }>,
): INodeExecutionData[][] {
	const outputs = outputsFor(nodeVersion).map((): INodeExecutionData[] => []);
	for (const { item, decision } of items) {
		const skipped = outputs.length > OUTPUT.skipped && isSkippedDecision(decision);
		outputs[skipped ? OUTPUT.skipped : OUTPUT.sent].push(item);
	}
	return outputs;
}
