// Bundles core/ and its libraries (zod, libphonenumber-js, ioredis) into dist/core/index.js.
// Why: n8n community packages should not carry runtime "dependencies" (they get installed into n8n's shared
// node_modules and can clash with n8n's own); bundling makes the published tarball self-contained.
// Nodes and credentials import core only through its index ('../../core'), so they load the bundle.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'dist', 'core');

// tsc already emitted dist/core/**; drop its .js files so nothing can deep-import an unbundled module.
function removeJs(dir) {
	if (!fs.existsSync(dir)) return;
	for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, entry.name);
		if (entry.isDirectory()) removeJs(p);
		else if (/\.js(\.map)?$/.test(entry.name)) fs.rmSync(p);
	}
}
removeJs(outDir);

esbuild.buildSync({
	entryPoints: [path.join(root, 'core', 'index.ts')],
	outfile: path.join(outDir, 'index.js'),
	bundle: true,
	platform: 'node',
	format: 'cjs',
	target: 'node20',
	sourcemap: true,
	minifyWhitespace: false,
	legalComments: 'linked',
	// Shipped code must not write to the console (n8n's community-package scan: no-console). Our code never does; the
	// bundled ioredis warns through console.* and logs through `debug`: both are dropped here. Redis connection errors
	// still reach the caller as failed commands (core/state/redis.ts listens for them).
	drop: ['console'],
	alias: { debug: path.join(__dirname, 'shims', 'debug.js') },
	logLevel: 'warning',
});
