#!/usr/bin/env bash
# Loads every node and credential file that package.json declares (n8n.nodes / n8n.credentials) with Node 20,
# the runtime of n8n 1.x installs and of this machine's /usr/bin/node, and checks that each file exports, under its
# file name, a class n8n can instantiate: nodes with a `description`, credentials with `name` and `properties`.
# Why: our development and e2e run on Node 24; a Node-22+-only API used at load time would break older n8n hosts.
# Run after `npm run build` (npm run check:node20 does both). Fails loudly, listing every broken file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_BIN="${NODE20_BIN:-/usr/bin/node}"
if [ ! -x "$NODE_BIN" ]; then
  echo "load-check: no Node binary at $NODE_BIN (set NODE20_BIN)" >&2
  exit 2
fi
major="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
if [ "$major" != "20" ]; then
  echo "load-check: $NODE_BIN is Node $("$NODE_BIN" --version), expected Node 20" >&2
  exit 2
fi

cd "$ROOT"
"$NODE_BIN" - "$ROOT" <<'JS'
const path = require('node:path');
const root = process.argv[2];
const manifest = require(path.join(root, 'package.json'));
const declared = [
  ...((manifest.n8n && manifest.n8n.nodes) || []).map((file) => ({ kind: 'node', file })),
  ...((manifest.n8n && manifest.n8n.credentials) || []).map((file) => ({ kind: 'credential', file })),
];
const failures = [];
if (declared.length === 0) failures.push('package.json declares no n8n.nodes or n8n.credentials');

for (const { kind, file } of declared) {
  // n8n picks the export named like the file: dist/nodes/Foo/Foo.node.js → exports.Foo
  const className = path.basename(file).split('.')[0];
  let exported;
  try {
    exported = require(path.join(root, file));
  } catch (error) {
    failures.push(`${file}: require() failed on Node ${process.versions.node}: ${error && error.stack ? error.stack.split('\n').slice(0, 4).join('\n    ') : error}`);
    continue;
  }
  const Type = exported[className];
  if (typeof Type !== 'function') {
    failures.push(`${file}: exports no class named ${className} (exports: ${Object.keys(exported).join(', ') || 'nothing'})`);
    continue;
  }
  let instance;
  try {
    instance = new Type();
  } catch (error) {
    failures.push(`${file}: new ${className}() threw: ${error && error.message}`);
    continue;
  }
  if (kind === 'node') {
    const d = instance.description;
    if (!d || typeof d !== 'object') failures.push(`${file}: ${className} instance has no description object`);
    else if (typeof d.name !== 'string' || d.name === '') failures.push(`${file}: ${className}.description.name is missing`);
    else console.log(`ok  node        ${file} → ${manifest.name}.${d.name}`);
  } else {
    if (typeof instance.name !== 'string' || !Array.isArray(instance.properties)) {
      failures.push(`${file}: ${className} instance lacks a credential name or properties array`);
    } else console.log(`ok  credential  ${file} → ${instance.name}`);
  }
}

if (failures.length > 0) {
  console.error(`\nload-check FAILED on Node ${process.versions.node}: ${failures.length} problem(s)\n`);
  for (const failure of failures) console.error(`  ✗ ${failure}`);
  console.error('\n(run `npm run build` first if files are missing)');
  process.exit(1);
}
console.log(`load-check passed: ${declared.length} file(s) load on Node ${process.versions.node}`);
JS
