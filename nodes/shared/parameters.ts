import type { IExecuteFunctions } from 'n8n-workflow';

/** Reads a node parameter for one item, like `getNodeParameter`. */
export type ParameterReader = <T>(name: string, itemIndex: number, fallback: T, options?: { extractValue?: boolean }) => T;

/** True when a raw parameter value holds an n8n expression anywhere (strings starting with "="). */
export function containsExpression(value: unknown): boolean {
  if (typeof value === 'string') return value.startsWith('=');
  if (Array.isArray(value)) return value.some(containsExpression);
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsExpression);
  return false;
}

/** The raw value at a dotted path; an expression met on the way covers everything below it. */
function rawParameter(parameters: unknown, path: string): unknown {
  let current = parameters;
  for (const part of path.split('.')) {
    if (typeof current === 'string' && current.startsWith('=')) return current;
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
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
  return <T>(name: string, itemIndex: number, fallback: T, options?: { extractValue?: boolean }): T => {
    const key = options?.extractValue === false ? `${name}\u0000raw` : name;
    if (constant.has(key)) return constant.get(key) as T;
    const value = ctx.getNodeParameter(name, itemIndex, fallback, options) as T;
    if (!containsExpression(rawParameter(parameters, name))) constant.set(key, value);
    return value;
  };
}
