import type { Measure, ScenarioName } from './results';

export interface ScenarioContext {
	/** Measured runs per figure (at least 3). */
	runs: number;
	/** `--profile`: also make one extra, unmeasured, CPU-profiled run and summarise its hot path. */
	profile: boolean;
	/** `--recipients N`: the audience size, for scenarios that take one (queue-campaign). */
	recipients?: number;
	log(message: string): void;
}

/** What a scenario hands back; run.ts adds the command, machine and timing and writes the file. */
export interface ScenarioOutput {
	title: string;
	measures: Measure[];
	notes: string[];
	details?: Record<string, unknown>;
}

export interface Scenario {
	name: ScenarioName;
	/**
	 * Fewest measured runs it accepts (default 3). A scenario whose one run takes many minutes and measures a whole
	 * distribution (percentiles over a thousand customers) may accept 1; BENCHMARKS.md shows the runs it had.
	 */
	minRuns?: number;
	run(ctx: ScenarioContext): Promise<ScenarioOutput>;
}

/** Lets the event loop and the garbage collector catch up between runs, so one run's garbage is not the next run's cost. */
export async function settle(ms = 200): Promise<void> {
	(globalThis as { gc?: () => void }).gc?.();
	await new Promise((resolve) => setTimeout(resolve, ms));
}
