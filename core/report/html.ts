/**
 * The report as one self-contained HTML page (inline CSS, the chart as a data: URI): it opens offline, can be mailed
 * as an attachment, and needs nothing from this package to be read.
 */
import type { JourneyStepReport } from '../journeys/report';

const escapeHtml = (s: unknown): string =>
	String(s).replace(
		/[&<>"']/g,
		(c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
	);
const pct = (r: number | null): string => (r === null ? '–' : `${(r * 100).toFixed(1)}%`);
const num = (n: number): string => n.toLocaleString('en-US');

function table(head: string[], rows: Array<Array<string | number>>): string {
	if (rows.length === 0) return '<p class="none">None in this period.</p>';
	return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
		.map(
			(r) =>
				`<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="n"' : ''}>${escapeHtml(typeof c === 'number' ? num(c) : c)}</td>`).join('')}</tr>`,
		)
		.join('')}</tbody></table>`;
}

function section(r: JourneyStepReport, chart?: Buffer): string {
	const title = r.step ? `${r.journey} / ${r.step}` : r.journey;
	const funnel: Array<[string, number, string]> = [
		['Sent', r.sent, ''],
		['Delivered', r.delivered, pct(r.rates.delivery)],
		['Read', r.read, pct(r.rates.read)],
		['Replied', r.replied, pct(r.rates.reply)],
		['Clicked', r.clicked, pct(r.rates.click)],
		['Failed', r.failed, ''],
		...Object.entries(r.skipped).map(([rule, n]): [string, number, string] => [
			`Skipped: ${rule}`,
			n,
			'',
		]),
	];
	const cost = r.estimatedCost;
	return `<section>
<h2>${escapeHtml(title)}</h2>
${chart ? `<img alt="Funnel of ${escapeHtml(title)}" src="data:image/png;base64,${chart.toString('base64')}">` : ''}
<h3>Funnel</h3>
${table(['Stage', 'Messages', 'Rate'], funnel)}
<h3>Top failure codes</h3>
${table(
	['Code', 'Messages', 'Meaning', 'What to do'],
	r.failures.map((f) => [String(f.code), f.count, f.meaning, f.action]),
)}
<h3>Billable messages</h3>
${table(
	['Category', 'Type', 'Messages'],
	r.billable.byCategory.map((b) => [b.category || '–', b.type || '–', b.count]),
)}
${table(
	['Market', 'Messages'],
	r.billable.byMarket.map((b) => [b.market || 'unknown', b.count]),
)}
${
	cost
		? `<h3>Estimated cost (${escapeHtml(cost.currency)})</h3>
${table(
	['Market', 'Category', 'Messages', 'Rate', 'Cost'],
	cost.lines.map((l) => [
		l.market || 'unknown',
		l.category,
		l.count,
		l.rate === null ? 'not in rate card' : String(l.rate),
		l.cost.toFixed(4),
	]),
)}
<p>Total: <b>${escapeHtml(cost.total.toFixed(4))} ${escapeHtml(cost.currency)}</b>${cost.unpriced ? ` (${num(cost.unpriced)} billable messages without a rate)` : ''}. An estimate from the rate card you supplied; Meta's invoice is authoritative.</p>`
		: ''
}
</section>`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#212529;margin:24px auto;max-width:820px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;border-top:1px solid #dee2e6;padding-top:16px;margin-top:28px}h3{font-size:14px;margin:18px 0 6px}
.meta{color:#6c757d;margin:0 0 8px}img{max-width:100%;border:1px solid #dee2e6;border-radius:6px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:#f8f9fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}.none{color:#6c757d}`;

/** The page of one or more journey step reports, each with its chart when given (same order). */
export function renderReportHtml(
	reports: JourneyStepReport[],
	charts: Array<Buffer | undefined> = [],
): string {
	const first = reports[0];
	const period = first
		? `${first.period.from} to ${first.period.to} (UTC days), generated ${first.generatedAt}`
		: '';
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>WhatsApp journey report</title><style>${CSS}</style></head>
<body><h1>WhatsApp journey report</h1><p class="meta">${escapeHtml(period)}</p>
${reports.length ? reports.map((r, i) => section(r, charts[i])).join('\n') : '<p class="none">No journey counts in this period.</p>'}
</body></html>
`;
}
