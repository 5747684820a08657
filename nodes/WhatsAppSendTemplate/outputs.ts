/**
 * The node's outputs, as an n8n `outputs` expression: n8n evaluates it (in the editor too) with the node's
 * parameters, so the functions it names must be self-contained. Send and Wait's output names come from core
 * (waitOutputLabels / parseWaitButtons, both self-contained); every other operation has the one main output.
 */
import type { INodeOutputConfiguration } from 'n8n-workflow';

import { parseWaitButtons, waitOutputLabels } from '../../core';

/** Self-contained: its source is evaluated by n8n with `$parameter`, the two core functions passed in. */
export const configuredOutputs = (
	parameters: { operation?: string; waitButtons?: string; waitForStatus?: string },
	parse: typeof parseWaitButtons,
	labels: typeof waitOutputLabels,
): INodeOutputConfiguration[] => {
	if (parameters.operation !== 'sendAndWait') return [{ type: 'main' }];
	return labels(
		parse(parameters.waitButtons ?? ''),
		parameters.waitForStatus === 'none' ? undefined : parameters.waitForStatus,
	).map((displayName) => ({ type: 'main', displayName }));
};

export const outputsExpression: `={{${string}}}` = `={{(${configuredOutputs})($parameter, ${parseWaitButtons}, ${waitOutputLabels})}}`;
