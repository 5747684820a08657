import { createRequire } from 'node:module';
import * as path from 'node:path';
import { z } from 'zod';

/**
 * The slice of n8n's run data (IRun / IRunExecutionData) the tests read. Validated at the boundary so a change in
 * n8n's shape fails here with a field name instead of as an `undefined` deep inside a test.
 */
const binarySchema = z
	.object({
		mimeType: z.string(),
		fileName: z.string().optional(),
		fileSize: z.string().optional(),
	})
	.passthrough();
const itemSchema = z
	.object({ json: z.record(z.unknown()), binary: z.record(binarySchema).optional() })
	.passthrough();

const nodeErrorSchema = z
	.object({
		message: z.string().optional(),
		description: z.string().nullish(),
		name: z.string().optional(),
		httpCode: z.string().nullish(),
	})
	.passthrough();

const taskDataSchema = z
	.object({
		executionStatus: z.string().optional(),
		error: nodeErrorSchema.optional(),
		data: z.record(z.array(z.array(itemSchema).nullable())).optional(),
	})
	.passthrough();

export const runExecutionDataSchema = z
	.object({
		resultData: z
			.object({
				runData: z.record(z.array(taskDataSchema)),
				lastNodeExecuted: z.string().optional(),
				error: nodeErrorSchema.optional(),
			})
			.passthrough(),
	})
	.passthrough();

export type RunExecutionData = z.infer<typeof runExecutionDataSchema>;
export type NodeItem = z.infer<typeof itemSchema>;

export const runSchema = z
	.object({
		data: runExecutionDataSchema,
		mode: z.string(),
		status: z.string(),
		finished: z.boolean().optional(),
		startedAt: z.string().optional(),
		stoppedAt: z.string().optional(),
	})
	.passthrough();

export type Run = z.infer<typeof runSchema>;

/** Items a node emitted on one output in one run (defaults: main output 0, first run). */
export function itemsOf(
	data: RunExecutionData,
	nodeName: string,
	options: { output?: number; runIndex?: number } = {},
): NodeItem[] {
	const runs = data.resultData.runData[nodeName];
	if (!runs) {
		throw new Error(
			`node "${nodeName}" did not run; nodes that ran: ${Object.keys(data.resultData.runData).join(', ') || '(none)'}`,
		);
	}
	const task = runs[options.runIndex ?? 0];
	if (!task) throw new Error(`node "${nodeName}" has no run #${options.runIndex ?? 0}`);
	if (task.error)
		throw new Error(
			`node "${nodeName}" failed: ${task.error.message ?? JSON.stringify(task.error)}`,
		);
	return task.data?.main?.[options.output ?? 0] ?? [];
}

/** The JSON of each item — what a user sees in the node's output panel. */
export function jsonOf(
	data: RunExecutionData,
	nodeName: string,
	options: { output?: number; runIndex?: number } = {},
): Array<Record<string, unknown>> {
	return itemsOf(data, nodeName, options).map((item) => item.json);
}

/**
 * n8n stores execution data in PostgreSQL as `flatted` text (JSON with shared/circular references). Parse it
 * with n8n's own copy of `flatted` so we follow exactly the encoding that n8n wrote.
 */
export function parseStoredExecutionData(n8nDir: string, text: string): unknown {
	const requireFromN8n = createRequire(path.join(n8nDir, 'node_modules', 'n8n', 'package.json'));
	const flatted: unknown = requireFromN8n('flatted');
	if (
		typeof flatted !== 'object' ||
		flatted === null ||
		!('parse' in flatted) ||
		typeof flatted.parse !== 'function'
	) {
		throw new Error(
			`n8n's flatted module under ${n8nDir} has no parse(); n8n's storage format may have changed`,
		);
	}
	return flatted.parse(text) as unknown;
}

/**
 * `n8n execute --rawOutput` prints log lines (n8n's logger writes to stdout) and then the run as pretty JSON,
 * which always starts with a line `{` and ends with a line `}` at column 0. On failure the same JSON is logged after
 * "Execution error:". Take the last such block.
 */
export function extractRunJson(stdout: string): unknown {
	const lines = stdout.split('\n');
	let end = -1;
	for (let i = lines.length - 1; i >= 0; i -= 1) {
		if (lines[i]?.trimEnd() === '}') {
			end = i;
			break;
		}
	}
	if (end < 0) throw new Error('no JSON run data in n8n execute output');
	for (let start = end; start >= 0; start -= 1) {
		if (lines[start]?.trimEnd() !== '{') continue;
		try {
			return JSON.parse(lines.slice(start, end + 1).join('\n')) as unknown;
		} catch {
			// A nested "{" line belongs to an inner object; keep looking further up.
		}
	}
	throw new Error('could not parse the JSON run data in n8n execute output');
}
