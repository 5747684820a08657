/**
 * What `npm publish` would upload, read from `npm pack --dry-run`: only what n8n and Node-RED load, plus README,
 * LICENSE and CHANGELOG. Without a build it checks that `files` lets nothing else in (tests, bench, harness, sandbox
 * sources); after `npm run build` (.ci/run runs it again after the e2e build) it checks the built dist/ too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const ROOT = join(__dirname, '..', '..');

const packSchema = z.array(z.object({ files: z.array(z.object({ path: z.string() })) })).length(1);

function packedFiles(): string[] {
	// npm_* variables of an outer `npm test` would reconfigure the child npm; scripts are skipped (prepack builds).
	const env = Object.fromEntries(
		Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)),
	);
	const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
		cwd: ROOT,
		env,
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	// npm may print notices before the JSON array.
	return packSchema.parse(JSON.parse(out.slice(out.indexOf('['))))[0].files.map((f) => f.path);
}

const DOCUMENTS = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'];
// Built code n8n (nodes, credentials) and Node-RED (node-red) load, and the core bundle both import.
const SHIPPED = /^dist\/(core|nodes|credentials|node-red)\//;

describe('the published package', () => {
	const files = packedFiles();

	it('holds README, LICENSE and CHANGELOG', () => {
		expect(files).toEqual(expect.arrayContaining(DOCUMENTS));
	});

	it('holds nothing but the documents and the built nodes, credentials and core', () => {
		const extra = files.filter((file) => !DOCUMENTS.includes(file) && !SHIPPED.test(file));
		expect(extra).toEqual([]);
	});

	it('ships no source maps, type declarations or TypeScript sources (n8n and Node-RED load .js only)', () => {
		expect(files.filter((file) => /\.(map|d\.ts|ts)$/.test(file))).toEqual([]);
	});

	const built = existsSync(join(ROOT, 'dist', 'core', 'index.js'));
	(built ? it : it.skip)(
		'ships core as one bundle, not its modules (nothing can deep-import them)',
		() => {
			expect(files.filter((file) => file.startsWith('dist/core/'))).toEqual(['dist/core/index.js']);
		},
	);
});
