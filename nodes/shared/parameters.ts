import type { IExecuteFunctions } from 'n8n-workflow';

/** Reads a node parameter for one item, like `getNodeParameter`. */
export type ParameterReader = <T>(
	name: string,
	itemIndex: number,
	fallback: T,
	options?: { extractValue?: boolean },
) => T;

/** True when a raw parameter value holds an n8n expression anywhere (strings starting with "="). */
export function containsExpression(value: unknown): boolean {
	if (typeof value === 'string') return value.startsWith('=');
	if (Array.isArray(value)) return value.some(containsExpression);
	if (value !== null && typeof value === 'object')
		return Object.values(value).some(containsExpression);
	return false;
}

/**
 * The raw value at a dotted path; an expression met on the way covers everything below it (then `exact` is false:
 * the expression is the parent's, not this parameter's).
 */
function rawParameter(parameters: unknown, path: string): { raw: unknown; exact: boolean } {
	let current = parameters;
	for (const part of path.split('.')) {
		if (typeof current === 'string' && current.startsWith('='))
			return { raw: current, exact: false };
		if (current === null || typeof current !== 'object') return { raw: undefined, exact: true };
		current = (current as Record<string, unknown>)[part];
	}
	return { raw: current, exact: true };
}

/**
 * A per-item parameter reader that evaluates each parameter once per execution when it holds no expression.
 *
 * Why: n8n's `getNodeParameter` copies and walks the parameter and sets up expression data for every call; a send node
 * reads a dozen parameters per item, most of them the same for every item (template, options). Only parameters that
 * contain an expression can differ between items, so only those are read per item. Values are shared between items:
 * callers must not mutate them.
 */
export function itemParameterReader(ctx: IExecuteFunctions): ParameterReader {
	const parameters = ctx.getNode().parameters;
	const constant = new Map<string, unknown>();
	const fieldPaths = new Map<string, string[] | undefined>();
	return <T>(
		name: string,
		itemIndex: number,
		fallback: T,
		options?: { extractValue?: boolean },
	): T => {
		const key = options?.extractValue === false ? `${name}\u0000raw` : name;
		if (constant.has(key)) return constant.get(key) as T;
		const { raw, exact } = rawParameter(parameters, name);
		if (!fieldPaths.has(name)) fieldPaths.set(name, exact ? jsonFieldPath(raw) : undefined);
		const path = fieldPaths.get(name);
		if (path) {
			const direct = readField(ctx.getInputData()[itemIndex]?.json, path);
			if (typeof direct === 'string' || typeof direct === 'number' || typeof direct === 'boolean')
				return direct as T;
		}
		const value = ctx.getNodeParameter(name, itemIndex, fallback, options) as T;
		if (!containsExpression(raw)) constant.set(key, value);
		return value;
	};
}

/**
 * `={{ $json.a.b }}` — by far the most common per-item expression (the recipient's phone, a name) — names a field of
 * the item, so it is read from the item directly: n8n evaluates every expression in an isolated VM, the largest
 * per-item cost left in bench:overhead's profile. Anything else, or a field that is missing or not a plain value,
 * goes through n8n's evaluation (and its error messages).
 */
const JSON_FIELD_EXPRESSION = /^=\{\{\s*\$json\.([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\}\}$/;

export function jsonFieldPath(raw: unknown): string[] | undefined {
	if (typeof raw !== 'string') return undefined;
	const match = JSON_FIELD_EXPRESSION.exec(raw);
	return match ? match[1].split('.') : undefined;
}

function readField(json: unknown, path: string[]): unknown {
	let current = json;
	for (const part of path) {
		if (
			current === null ||
			typeof current !== 'object' ||
			!Object.prototype.hasOwnProperty.call(current, part)
		)
			return undefined;
		current = (current as Record<string, unknown>)[part];
	}
	return current;
}
