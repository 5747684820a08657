/**
 * The report chart: a valid PNG any viewer opens (decoded here by pngjs, an independent decoder), of a size that fits
 * n8n's output pane and an email, drawn the same way every time: compared pixel by pixel with the committed reference
 * (scripts/render-report-reference.ts draws it from test/fixtures/report/funnel-input.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { PNG } from 'pngjs';

import { renderFunnelChart, renderReportHtml } from '../../core';
import { referenceReport } from '../../scripts/render-report-reference';

const REFERENCE = join(__dirname, '..', 'fixtures', 'report', 'funnel-reference.png');

/** RGB bytes of a decoded PNG (pngjs gives RGBA). */
function rgbOf(png: PNG): Buffer {
	const out = Buffer.alloc(png.width * png.height * 3);
	for (let i = 0, j = 0; i < png.data.length; i += 4, j += 3) png.data.copy(out, j, i, i + 3);
	return out;
}

describe('funnel chart', () => {
	const report = referenceReport();

	it('is a valid PNG of a sensible size', () => {
		const png = PNG.sync.read(renderFunnelChart(report));
		expect(png.width).toBe(760);
		expect(png.height).toBeGreaterThan(300);
		expect(png.height).toBeLessThan(800);
		expect(renderFunnelChart(report).length).toBeLessThan(50_000);
	});

	it('draws the reference pixels for the reference counts (same pixels on every run and machine)', () => {
		const drawn = PNG.sync.read(renderFunnelChart(report));
		const reference = PNG.sync.read(readFileSync(REFERENCE));
		expect([drawn.width, drawn.height]).toEqual([reference.width, reference.height]);
		expect(rgbOf(drawn).equals(rgbOf(reference))).toBe(true);
	});

	it('draws different pixels when a count changes (the numbers are in the picture)', () => {
		const drawn = rgbOf(
			PNG.sync.read(renderFunnelChart({ ...report, replied: report.replied + 1 })),
		);
		const reference = rgbOf(PNG.sync.read(readFileSync(REFERENCE)));
		expect(drawn.equals(reference)).toBe(false);
	});

	it('embeds the chart in a self-contained HTML page, names escaped', () => {
		const chart = renderFunnelChart(report);
		const html = renderReportHtml([{ ...report, journey: '<b>sale</b>' }], [chart]);
		expect(html).toContain(`data:image/png;base64,${chart.toString('base64')}`);
		expect(html).toContain('&lt;b&gt;sale&lt;/b&gt;');
		expect(html).not.toMatch(/<(script|link)\b|src="http/);
		expect(html).toContain('131050');
	});
});
