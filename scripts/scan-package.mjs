// `npm run scan`: n8n's community-package scan (@n8n/scan-community-package), run locally. The published scanner
// downloads a package from npm and lints its attested source and its tarball; this package is not published, so
// this script lints the same two things here with the scanner's own `analyzePackage`: the sources it would fetch
// (nodes/, credentials/, package.json) and the tarball `npm pack` makes from the current build.
//
// Findings of rules that do not apply to this package are listed with the reason and do not fail the scan; any other
// finding fails it (exit 1). Needs `npm run build` first (the tarball ships dist/).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import {
	analyzePackage,
	SOURCE_FILE_PATTERNS,
} from '@n8n/scan-community-package/scanner/scanner.mjs';

const root = resolve(import.meta.dirname, '..');

/** Rules that do not apply, and why. `applies(line)` narrows a rule to the lines it is excused for. */
const NOT_APPLICABLE = [
	{
		rules: [
			'@n8n/community-nodes/no-restricted-globals',
			'@n8n/community-nodes/no-restricted-imports',
		],
		why: 'n8n Cloud only: this package is for self-hosted n8n (embedded SQLite state store, Redis, proxy variables, timers in the bundled Redis client)',
	},
	{
		rules: [
			'@n8n/community-nodes/no-credential-reuse',
			'@n8n/community-nodes/valid-credential-references',
			'n8n-nodes-base/node-class-description-credentials-name-unsuffixed',
		],
		applies: (line) => /['"]redis['"]/.test(line),
		why: "by design: queue-mode users share the journey state through n8n's own `redis` credential (design.md), rather than typing their Redis password twice",
	},
	{
		rules: ['@n8n/community-nodes/webhook-lifecycle-complete'],
		applies: (line) => /class WhatsAppSendTemplate\b/.test(line),
		why: "not a trigger: the action node's only webhook is n8n's own waiting webhook (restartWebhook) that resumes Send and Wait; nothing is registered with a third party",
	},
];

/** Parses ESLint's "stylish" text (all the scanner returns) into findings with the offending source line. */
function findings(details, baseDir) {
	const out = [];
	let file;
	for (const raw of (details ?? '').split('\n')) {
		const line = raw.replace(/\u001b\[[0-9;]*m/g, '');
		if (line.startsWith('/')) {
			file = line.trim();
			continue;
		}
		const m = /^\s+(\d+):(\d+)\s+(error|warning)\s+(.*?)\s+(\S+)\s*$/.exec(line);
		if (!m || !file) continue;
		const source = readFileSync(file, 'utf8').split('\n')[Number(m[1]) - 1] ?? '';
		out.push({
			file: file.slice(baseDir.length + 1),
			line: Number(m[1]),
			message: m[4],
			rule: m[5],
			source,
		});
	}
	return out;
}

function classify(list) {
	const excused = new Map();
	const failing = [];
	for (const f of list) {
		const reason = NOT_APPLICABLE.find(
			(n) => n.rules.includes(f.rule) && (!n.applies || n.applies(f.source)),
		);
		if (!reason) failing.push(f);
		else
			excused.set(`${f.rule} — ${reason.why}`, (excused.get(`${f.rule} — ${reason.why}`) ?? 0) + 1);
	}
	return { excused, failing };
}

async function scan(label, dir, patterns) {
	const result = await analyzePackage(dir, patterns);
	if (!result.passed && !result.details) throw new Error(`${label}: ${result.message}`);
	const { excused, failing } = classify(findings(result.details, dir));
	console.log(`\n${label}: ${failing.length} finding(s) that apply`);
	for (const f of failing) console.log(`  ✗ ${f.file}:${f.line}  ${f.message}  (${f.rule})`);
	for (const [what, count] of excused) console.log(`  – ${count}× ${what}`);
	return failing.length;
}

const work = mkdtempSync(join(tmpdir(), 'wj-scan-'));
try {
	let failing = await scan(
		'Sources (nodes/, credentials/, package.json)',
		root,
		SOURCE_FILE_PATTERNS,
	);
	execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], {
		cwd: root,
		stdio: ['ignore', 'ignore', 'inherit'],
	});
	const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
	execFileSync('tar', ['-xzf', tarball, '-C', work], { cwd: work });
	failing += await scan('Packed tarball (compiled .js, package.json)', join(work, 'package'), [
		'**/*.js',
		'package.json',
	]);
	console.log(
		failing === 0 ? '\nscan: clean (nothing that applies)' : `\nscan: ${failing} finding(s) to fix`,
	);
	process.exitCode = failing === 0 ? 0 : 1;
} finally {
	rmSync(work, { recursive: true, force: true });
}
