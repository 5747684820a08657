/**
 * Draws the reference chart the chart test compares pixel by pixel: test/fixtures/report/funnel-reference.png from
 * test/fixtures/report/funnel-input.json. Run it (and commit the PNG) after a deliberate change to the chart's look:
 *   node -r ts-node/register/transpile-only scripts/render-report-reference.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { renderFunnelChart, summarizeReport, type ReportCount } from '../core';

const dir = join(__dirname, '..', 'test', 'fixtures', 'report');

export function referenceReport() {
	const input = JSON.parse(readFileSync(join(dir, 'funnel-input.json'), 'utf8')) as {
		period: { from: string; to: string };
		counts: ReportCount[];
	};
	const [report] = summarizeReport(input.counts, {
		phoneNumberId: 'reference',
		period: input.period,
		now: new Date(Date.UTC(2026, 11, 3, 12)),
	});
	return report;
}

if (require.main === module) {
	const png = renderFunnelChart(referenceReport());
	writeFileSync(join(dir, 'funnel-reference.png'), png);
	console.log(`wrote ${join(dir, 'funnel-reference.png')} (${png.length} bytes)`);
}
