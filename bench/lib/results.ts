/**
 * Machine-readable results (bench/results/<scenario>.json) and the BENCHMARKS.md table generated from them.
 * Every figure in BENCHMARKS.md is read from a results file that a bench command wrote; nothing is typed by hand.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MachineInfo } from './machine';
import { median } from './stats';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
export const BENCHMARKS_MD = path.join(REPO_ROOT, 'BENCHMARKS.md');

export const SCENARIOS = [
	'core',
	'window',
	'overhead',
	'campaign',
	'campaign-1000',
	'webhooks',
	'nodered',
	'rules',
	'report',
	'receiver',
	'wait',
	'queue-campaign',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Target {
	op: '>=' | '<=' | '==';
	value: number;
	/** How the target reads in the table, e.g. "≥ 1,500 msg/s". */
	text: string;
}

export interface Measure {
	id: string;
	label: string;
	unit: string;
	/** One value per run, in run order. */
	runs: number[];
	median: number;
	better: 'higher' | 'lower' | 'none';
	target?: Target;
	met?: boolean;
	/** The same measure for n8n's built-in node, when there is one. */
	competitor?: { label: string; runs: number[]; median: number };
	/** How many times better ours is than the competitor (>1 = ours better), from the medians. */
	ratio?: number;
	note?: string;
}

export interface ScenarioResult {
	scenario: ScenarioName;
	title: string;
	/** The command that produced this file. */
	command: string;
	startedAt: string;
	durationS: number;
	machine: MachineInfo;
	runs: number;
	measures: Measure[];
	/** Findings that explain a figure (missed targets, profiles). */
	notes: string[];
	details?: Record<string, unknown>;
}

function meets(value: number, target: Target): boolean {
	switch (target.op) {
		case '>=':
			return value >= target.value;
		case '<=':
			return value <= target.value;
		case '==':
			return value === target.value;
	}
}

/** A count every run must equal, not only the median (exactly-once counts hold in each run): spread into measure(). */
export function exactlyEveryRun(
	value: number,
	text: string,
): { target: Target; targetEveryRun: true } {
	return { target: { op: '==', value, text }, targetEveryRun: true };
}

/** Builds a measure from its runs: median, target check and ratio against the competitor's median. */
export function measure(m: {
	id: string;
	label: string;
	unit: string;
	runs: number[];
	better?: 'higher' | 'lower' | 'none';
	target?: Target;
	/** Check the target on every run instead of the median (exactly-once counts must hold in each run). */
	targetEveryRun?: boolean;
	competitor?: { label: string; runs: number[] };
	note?: string;
}): Measure {
	const med = median(m.runs);
	const better = m.better ?? 'higher';
	const out: Measure = {
		id: m.id,
		label: m.label,
		unit: m.unit,
		runs: m.runs,
		median: med,
		better,
	};
	if (m.target) {
		out.target = m.target;
		out.met = m.targetEveryRun ? m.runs.every((v) => meets(v, m.target!)) : meets(med, m.target);
	}
	if (m.competitor && m.competitor.runs.length > 0) {
		const theirs = median(m.competitor.runs);
		out.competitor = { label: m.competitor.label, runs: m.competitor.runs, median: theirs };
		if (better === 'higher' && theirs > 0) out.ratio = med / theirs;
		if (better === 'lower' && med > 0) out.ratio = theirs / med;
	}
	if (m.note) out.note = m.note;
	return out;
}

export function writeResult(result: ScenarioResult): string {
	mkdirSync(RESULTS_DIR, { recursive: true });
	const file = path.join(RESULTS_DIR, `${result.scenario}.json`);
	writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
	return file;
}

export function readResults(): Partial<Record<ScenarioName, ScenarioResult>> {
	const out: Partial<Record<ScenarioName, ScenarioResult>> = {};
	for (const name of SCENARIOS) {
		const file = path.join(RESULTS_DIR, `${name}.json`);
		if (existsSync(file)) out[name] = JSON.parse(readFileSync(file, 'utf8')) as ScenarioResult;
	}
	return out;
}

/** 12345.6 → "12,346"; small values keep decimals. */
export function formatNumber(value: number): string {
	const abs = Math.abs(value);
	const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
	return value.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

function cell(value: number, unit: string): string {
	return `${formatNumber(value)} ${unit}`.trim();
}

function escape(text: string): string {
	return text.replace(/\|/g, '\\|');
}

function machineLine(m: MachineInfo): string {
	return `\`nproc\` ${m.nproc}, \`free -g\` total ${m.memTotalGiB} GiB, ${m.cpuModel}, Node ${m.node}, n8n ${m.n8n} (n8n-workflow ${m.n8nWorkflow}), load average ${m.loadAverage1m} at start`;
}

const SCENARIO_ORDER_TEXT: Record<ScenarioName, string> = {
	core: 'A. Core micro-benchmark (no n8n, no network)',
	window: 'B. Window checks with a million contacts',
	overhead: 'C. Unthrottled overhead: 10,000 template sends in one execution',
	campaign:
		"D. Throttled campaign: 2,000 recipients at 80 msg/s, side by side with n8n's WhatsApp node",
	'campaign-1000':
		'D2. Throttled campaign at 1,000 msg/s: the same ratio as D, our node only (recipients in the notes)',
	webhooks: "E. Webhook ingestion: 30,000 status events, side by side with n8n's WhatsApp Trigger",
	nodered: 'F. Node-RED 5 runtime: campaign, unthrottled sends, webhook ingestion',
	rules:
		'G. Journey rules: cost per item (memory, SQLite, Redis) and a campaign with all rules on vs off',
	report: 'H. Journey reports over a million recorded messages',
	receiver:
		"I. Webhooks as Meta sends them: one status per POST into the WhatsApp Webhook Receiver, side by side with n8n's WhatsApp Trigger",
	'queue-campaign':
		'K. Large campaign in n8n queue mode: main + 2 workers, 1,000 msg/s, audience read in chunks',
	wait: 'J. Send and Wait: 1,000 customers waiting',
};

export function renderBenchmarksMd(results: Partial<Record<ScenarioName, ScenarioResult>>): string {
	const lines: string[] = [];
	lines.push('# Benchmarks');
	lines.push('');
	lines.push(
		'Generated by `npm run bench` (all scenarios) or `npm run bench:<scenario>` from `bench/results/*.json`;',
	);
	lines.push(
		'do not edit by hand. Each figure is the **median of the runs listed** (at least 3). The machines these',
	);
	lines.push(
		'ran on are shared with other work, so absolute numbers move between runs; medians and ratios are what',
	);
	lines.push(
		'to compare. "Ratio" is how many times better ours is than n8n\'s built-in node (or than the target when',
	);
	lines.push('there is no competitor): above 1 is better.');
	lines.push('');
	const targeted = SCENARIOS.flatMap((name) =>
		(results[name]?.measures ?? []).filter((m) => m.target).map((m) => ({ name, m })),
	);
	if (targeted.length > 0) {
		lines.push('## Targets at a glance');
		lines.push('');
		lines.push('| Scenario | Measure | Target | Ours (median) | Met | n8n built-in (median) |');
		lines.push('|---|---|---|---:|:-:|---:|');
		for (const { name, m } of targeted) {
			const theirs = m.competitor ? cell(m.competitor.median, m.unit) : '';
			lines.push(
				`| ${SCENARIO_ORDER_TEXT[name].split('.')[0]} | ${escape(m.label)} | ${m.target!.text} | ${cell(m.median, m.unit)} | ${m.met ? 'yes' : '**no**'} | ${theirs} |`,
			);
		}
		lines.push('');
	}
	for (const name of SCENARIOS) {
		const r = results[name];
		lines.push(`## ${SCENARIO_ORDER_TEXT[name]}`);
		lines.push('');
		if (!r) {
			lines.push(`Not run yet: \`npm run bench:${name}\`.`);
			lines.push('');
			continue;
		}
		lines.push(
			`Command: \`${r.command}\` — ${r.startedAt}, ${formatNumber(r.durationS)} s, ${r.runs} runs.`,
		);
		lines.push('');
		lines.push(`Machine: ${machineLine(r.machine)}.`);
		lines.push('');
		const hasCompetitor = r.measures.some((m) => m.competitor);
		const header = hasCompetitor
			? '| Measure | Ours (median) | Runs | Target | Met | n8n built-in (median) | Runs | Ratio |'
			: '| Measure | Median | Runs | Target | Met | Ratio to target |';
		lines.push(header);
		lines.push(
			hasCompetitor ? '|---|---:|---|---|:-:|---:|---|---:|' : '|---|---:|---|---|:-:|---:|',
		);
		for (const m of r.measures) {
			const runs = m.runs.map(formatNumber).join(' / ');
			const target = m.target ? m.target.text : '';
			const met = m.met === undefined ? '' : m.met ? 'yes' : '**no**';
			const label = escape(m.note ? `${m.label} (${m.note})` : m.label);
			if (hasCompetitor) {
				const theirs = m.competitor ? cell(m.competitor.median, m.unit) : '';
				const theirRuns = m.competitor ? m.competitor.runs.map(formatNumber).join(' / ') : '';
				const ratio = m.ratio !== undefined ? `${formatNumber(m.ratio)}×` : '';
				lines.push(
					`| ${label} | ${cell(m.median, m.unit)} | ${runs} | ${target} | ${met} | ${theirs} | ${theirRuns} | ${ratio} |`,
				);
			} else {
				let ratio = '';
				if (m.target && m.target.value > 0 && m.target.op !== '==') {
					const x =
						m.target.op === '>='
							? m.median / m.target.value
							: m.median > 0
								? m.target.value / m.median
								: Infinity;
					ratio = `${formatNumber(x)}×`;
				}
				lines.push(
					`| ${label} | ${cell(m.median, m.unit)} | ${runs} | ${target} | ${met} | ${ratio} |`,
				);
			}
		}
		lines.push('');
		for (const note of r.notes) lines.push(`- ${note}`);
		if (r.notes.length > 0) lines.push('');
	}
	return `${lines.join('\n').trimEnd()}\n`;
}

export function regenerateBenchmarksMd(): string {
	writeFileSync(BENCHMARKS_MD, renderBenchmarksMd(readResults()));
	return BENCHMARKS_MD;
}
