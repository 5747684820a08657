/**
 * The layering in docs (design.md, "Layers"): dependencies point down only, shipped code and tools never import
 * test/, and no module imports itself back through another. Read from the sources' relative imports.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SHIPPED = ['core', 'nodes', 'credentials', 'node-red'];
const TOOLS = ['sandbox', 'harness', 'bench', 'examples', 'scripts'];

function sources(dir: string): string[] {
	return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) return sources(path);
		return /\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
	});
}

/** `from '…'`, `import '…'`, `import('…')`, `require('…')` specifiers of one file. */
function specifiers(file: string): string[] {
	const text = readFileSync(join(ROOT, file), 'utf8');
	return [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\(\s*)'([^']+)'/g)].map(
		(m) => m[1],
	);
}

/** Repo-relative target of a relative import (a .ts file or a folder's index.ts); other targets as written. */
function target(file: string, specifier: string): string {
	if (!specifier.startsWith('.')) return specifier;
	const base = resolve(ROOT, dirname(file), specifier);
	const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate));
	return relative(ROOT, found ?? base);
}

function importsOf(dirs: string[]): Map<string, string[]> {
	return new Map(
		dirs.flatMap(sources).map((file) => [file, specifiers(file).map((s) => target(file, s))]),
	);
}

function importsInto(dirs: string[], into: string[]): string[] {
	return [...importsOf(dirs)].flatMap(([file, targets]) =>
		targets.filter((t) => into.some((dir) => t.startsWith(`${dir}/`))).map((t) => `${file} → ${t}`),
	);
}

describe('layers', () => {
	it('nothing outside test/ imports from test/', () => {
		expect(importsInto([...SHIPPED, ...TOOLS], ['test'])).toEqual([]);
	});

	it('the shipped package imports nothing from the sandbox, the harness, benchmarks or tools', () => {
		expect(importsInto(SHIPPED, TOOLS)).toEqual([]);
	});

	it('core imports nothing from n8n, Node-RED or the adapters', () => {
		const upward = [...importsOf(['core'])].flatMap(([file, targets]) =>
			targets
				.filter(
					(t) =>
						/^(n8n-|node-red|@node-red\/)/.test(t) || /^(nodes|credentials|node-red)\//.test(t),
				)
				.map((t) => `${file} → ${t}`),
		);
		expect(upward).toEqual([]);
	});

	it('no shipped module imports itself back through others (no import cycles)', () => {
		const graph = importsOf(SHIPPED);
		const cycles: string[] = [];
		const state = new Map<string, 'open' | 'done'>();
		const path: string[] = [];
		const visit = (file: string) => {
			state.set(file, 'open');
			path.push(file);
			for (const next of graph.get(file) ?? []) {
				if (!graph.has(next)) continue;
				if (state.get(next) === 'open')
					cycles.push([...path.slice(path.indexOf(next)), next].join(' → '));
				else if (!state.has(next)) visit(next);
			}
			path.pop();
			state.set(file, 'done');
		};
		for (const file of graph.keys()) if (!state.has(file)) visit(file);
		expect(cycles).toEqual([]);
	});
});
