/**
 * `npm run bench` runs every scenario; `npm run bench -- core window` (or `npm run bench:core`) some of them.
 * Each scenario writes bench/results/<name>.json; BENCHMARKS.md is regenerated from all results files after each.
 *
 * Options: `--runs N` measured runs per figure (default 3, at least 3: figures are medians);
 * `--profile` adds one unmeasured CPU-profiled run per scenario and puts its hot path in the results;
 * `--recipients N` sets the audience of scenarios that take one (queue-campaign: 25000 or 100000);
 * `--report-only` regenerates BENCHMARKS.md from the results files without running anything.
 */
import { parseArgs } from 'node:util';
import { runCleanups } from './lib/cleanup';
import { machineInfo } from './lib/machine';
import { regenerateBenchmarksMd, SCENARIOS, writeResult, type ScenarioName } from './lib/results';
import type { Scenario } from './lib/scenario';

const LOADERS: Record<ScenarioName, () => Scenario> = {
	// Loaded lazily: the core scenario must not pay for loading n8n or the sandbox.
	core: () => (require('./scenarios/core') as { scenario: Scenario }).scenario,
	window: () => (require('./scenarios/window') as { scenario: Scenario }).scenario,
	overhead: () => (require('./scenarios/overhead') as { scenario: Scenario }).scenario,
	campaign: () => (require('./scenarios/campaign') as { scenario: Scenario }).scenario,
	webhooks: () => (require('./scenarios/webhooks') as { scenario: Scenario }).scenario,
	nodered: () => (require('./scenarios/nodered') as { scenario: Scenario }).scenario,
	rules: () => (require('./scenarios/rules') as { scenario: Scenario }).scenario,
	report: () => (require('./scenarios/report') as { scenario: Scenario }).scenario,
	receiver: () => (require('./scenarios/receiver') as { scenario: Scenario }).scenario,
	'queue-campaign': () => (require('./scenarios/queueCampaign') as { scenario: Scenario }).scenario,
	wait: () => (require('./scenarios/sendAndWait') as { scenario: Scenario }).scenario,
};

function isScenario(name: string): name is ScenarioName {
	return (SCENARIOS as readonly string[]).includes(name);
}

async function main(): Promise<void> {
	const { values, positionals } = parseArgs({
		options: {
			runs: { type: 'string' },
			profile: { type: 'boolean' },
			'report-only': { type: 'boolean' },
			recipients: { type: 'string' },
		},
		allowPositionals: true,
	});
	if (values['report-only']) {
		console.log(`wrote ${regenerateBenchmarksMd()}`);
		return;
	}
	const runs = values.runs === undefined ? 3 : Number(values.runs);
	if (!Number.isInteger(runs) || runs < 1)
		throw new Error(`--runs must be a whole number ≥ 1; got ${values.runs}`);
	const recipients = values.recipients === undefined ? undefined : Number(values.recipients);
	if (recipients !== undefined && (!Number.isInteger(recipients) || recipients < 1))
		throw new Error(`--recipients must be a whole number ≥ 1; got ${values.recipients}`);
	for (const name of positionals)
		if (!isScenario(name))
			throw new Error(`Unknown scenario "${name}"; choose from ${SCENARIOS.join(', ')}`);
	const selected = positionals.length > 0 ? (positionals as ScenarioName[]) : [...SCENARIOS];
	// Figures are medians of at least 3 runs, unless every selected scenario says one run of it is a figure of its own.
	const minRuns = Math.max(...selected.map((name) => LOADERS[name]().minRuns ?? 3));
	if (!Number.isInteger(runs) || runs < minRuns)
		throw new Error(
			`--runs must be an integer ≥ ${minRuns} (figures are medians of runs); got ${values.runs}`,
		);
	// The command as typed: npm sets npm_lifecycle_event to the script name (bench, bench:core, ...).
	const argv = process.argv.slice(2);
	const script = process.env.npm_lifecycle_event;
	let command = `node -r ts-node/register/transpile-only bench/run.ts${argv.length ? ` ${argv.join(' ')}` : ''}`;
	if (script?.startsWith('bench')) {
		// Arguments written in the script itself (bench:core → "core") are not the user's.
		const own =
			(process.env.npm_lifecycle_script ?? '')
				.split('bench/run.ts')[1]
				?.trim()
				.split(/\s+/)
				.filter(Boolean).length ?? 0;
		const user = argv.slice(own);
		command = `npm run ${script}${user.length ? ` -- ${user.join(' ')}` : ''}`;
	}

	let failed = false;
	for (const name of selected) {
		const scenario = LOADERS[name]();
		const machine = machineInfo();
		const startedAt = new Date();
		const started = Date.now();
		const log = (message: string): void => console.log(`[bench:${name}] ${message}`);
		log(`start (${runs} runs; load average ${machine.loadAverage1m})`);
		try {
			const output = await scenario.run({
				runs,
				profile: values.profile === true,
				recipients,
				log,
			});
			const file = writeResult({
				scenario: name,
				command,
				startedAt: startedAt.toISOString(),
				durationS: Math.round((Date.now() - started) / 100) / 10,
				machine,
				runs,
				...output,
			});
			for (const m of output.measures) {
				const target = m.target ? ` (target ${m.target.text}: ${m.met ? 'met' : 'MISSED'})` : '';
				const theirs = m.competitor ? `; built-in ${m.competitor.median}` : '';
				log(
					`${m.label}: median ${Math.round(m.median * 1000) / 1000} ${m.unit} [${m.runs.map((v) => Math.round(v * 1000) / 1000).join(', ')}]${target}${theirs}`,
				);
			}
			log(`wrote ${file}`);
			regenerateBenchmarksMd();
		} catch (error) {
			failed = true;
			console.error(
				`[bench:${name}] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
			);
		}
	}
	console.log('BENCHMARKS.md regenerated');
	await runCleanups();
	// Stores opened by the nodes under test (process-wide caches) keep connections open; the run is over.
	process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
	console.error(error instanceof Error ? error.message : error);
	process.exit(1);
});
