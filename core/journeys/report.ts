/**
 * The journey report: from the store's per journey, step and day counters (see state/types.ts, "Journey report
 * aggregates") to one result per journey step, with counts, rates, the top failure codes read through the error
 * catalogue, billable messages by Meta's pricing category and market, and an optional cost estimate from a rate card
 * the user supplies. Both adapters call `buildJourneyReport`; charts and pages are drawn from its result
 * (report/chart.ts, report/html.ts).
 */
import { describeMetaError } from '../errors';
import type { JourneyStateStore, ReportCount } from '../state';
import { DAY_MS } from '../state';

export type ReportPeriodPreset = 'today' | 'last7Days' | 'last30Days' | 'last90Days' | 'custom';

export interface ReportPeriod {
	/** First and last UTC day of the period, YYYY-MM-DD. */
	from: string;
	to: string;
}

export interface ReportRequest {
	phoneNumberId: string;
	/** Journeys to report; empty or absent: every journey with counts in the period. */
	journeys?: string[];
	/** Steps to report (by name, in any of the journeys); empty or absent: all. */
	steps?: string[];
	period: ReportPeriod;
	/** IANA time zone the period and generation time are shown in (days are counted in UTC). Default UTC. */
	timeZone?: string;
	rateCard?: RateCard;
	/** How many failure codes to list, most frequent first. Default 5. */
	topFailures?: number;
	now?: Date;
}

export interface ReportFailure {
	code: number;
	count: number;
	title: string;
	meaning: string;
	action: string;
}

export interface ReportRates {
	/** delivered / sent */
	delivery: number | null;
	/** read / delivered */
	read: number | null;
	/** replied / delivered */
	reply: number | null;
	/** clicked / delivered */
	click: number | null;
}

export interface BillableCount {
	category: string;
	type: string;
	market: string;
	count: number;
}

export interface CostLine {
	market: string;
	category: string;
	count: number;
	/** Price per message from the rate card; null when the card has none for this market and category. */
	rate: number | null;
	cost: number;
}

export interface JourneyStepReport {
	journey: string;
	step: string;
	period: ReportPeriod & { timeZone: string };
	sent: number;
	delivered: number;
	read: number;
	replied: number;
	clicked: number;
	failed: number;
	/** Sends a policy rule skipped, per rule. */
	skipped: Record<string, number>;
	rates: ReportRates;
	failures: ReportFailure[];
	billable: {
		total: number;
		byCategory: Array<{ category: string; type: string; count: number }>;
		byMarket: Array<{ market: string; count: number }>;
		lines: BillableCount[];
	};
	estimatedCost?: {
		currency: string;
		total: number;
		/** Billable messages the rate card has no price for (not in `total`). */
		unpriced: number;
		lines: CostLine[];
	};
	/** Per UTC day in the period with any count. */
	days: Array<{
		day: string;
		sent: number;
		delivered: number;
		read: number;
		replied: number;
		clicked: number;
		failed: number;
	}>;
	generatedAt: string;
}

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function parseDay(value: unknown, field: string): number {
	const text =
		value instanceof Date ? value.toISOString().slice(0, 10) : String(value ?? '').trim();
	const day = text.slice(0, 10);
	const ms = Date.parse(`${day}T00:00:00Z`);
	if (!DAY_RE.test(day) || !Number.isFinite(ms))
		throw new Error(`${field} must be a date (YYYY-MM-DD); got ${JSON.stringify(text)}.`);
	return ms;
}

/** The UTC days of a preset (ending today) or of a custom range, checked. */
export function reportPeriod(
	preset: ReportPeriodPreset,
	options: { from?: unknown; to?: unknown; now?: Date } = {},
): ReportPeriod {
	const today = Math.floor((options.now ?? new Date()).getTime() / DAY_MS) * DAY_MS;
	const back = { today: 0, last7Days: 6, last30Days: 29, last90Days: 89 } as const;
	if (preset !== 'custom') {
		if (!(preset in back))
			throw new Error(
				`Period must be one of today, last7Days, last30Days, last90Days, custom; got ${JSON.stringify(preset)}.`,
			);
		return { from: isoDay(today - back[preset] * DAY_MS), to: isoDay(today) };
	}
	const from = parseDay(options.from, 'From');
	const to = options.to === undefined || options.to === '' ? today : parseDay(options.to, 'To');
	if (to < from) throw new Error('To must not be before From: choose a later To date.');
	return { from: isoDay(from), to: isoDay(to) };
}

function checkTimeZone(tz: string | undefined): string {
	const zone = tz?.trim() || 'UTC';
	try {
		new Intl.DateTimeFormat('en-US', { timeZone: zone });
	} catch {
		throw new Error(
			`Time Zone must be an IANA time zone such as Europe/Berlin or America/New_York; got ${JSON.stringify(tz)}.`,
		);
	}
	return zone;
}

/** A time as shown in a time zone: `2026-12-03 14:05 (Europe/Berlin)`. */
export function formatInZone(date: Date, timeZone: string): string {
	const parts = new Intl.DateTimeFormat('en-CA', {
		timeZone,
		year: 'numeric',
		month: '2-digit',
		day: '2-digit',
		hour: '2-digit',
		minute: '2-digit',
		hourCycle: 'h23',
	}).formatToParts(date);
	const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
	return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')} (${timeZone})`;
}

const ratio = (n: number, d: number): number | null =>
	d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null;

const STAGES = ['sent', 'delivered', 'read', 'replied', 'clicked', 'failed'] as const;
type Stage = (typeof STAGES)[number];

interface StepAccumulator {
	journey: string;
	step: string;
	totals: Record<Stage, number>;
	skipped: Record<string, number>;
	failures: Map<number, number>;
	billable: Map<string, BillableCount>;
	days: Map<string, Record<Stage, number>>;
}

const zero = (): Record<Stage, number> => ({
	sent: 0,
	delivered: 0,
	read: 0,
	replied: 0,
	clicked: 0,
	failed: 0,
});

const decode = (part: string): string => (part === '-' ? '' : decodeURIComponent(part));

/** Sums the counters of a period into one accumulator per journey step. */
function accumulate(counts: ReportCount[]): StepAccumulator[] {
	const steps = new Map<string, StepAccumulator>();
	for (const c of counts) {
		const key = `${c.journey}\u001f${c.step}`;
		let acc = steps.get(key);
		if (!acc) {
			acc = {
				journey: c.journey,
				step: c.step,
				totals: zero(),
				skipped: {},
				failures: new Map(),
				billable: new Map(),
				days: new Map(),
			};
			steps.set(key, acc);
		}
		const [kind, ...rest] = c.metric.split(':');
		if ((STAGES as readonly string[]).includes(kind) && rest.length === 0) {
			acc.totals[kind as Stage] += c.count;
			const day = acc.days.get(c.day) ?? zero();
			day[kind as Stage] += c.count;
			acc.days.set(c.day, day);
		} else if (kind === 'failed') {
			const code = Number(rest[0]);
			if (Number.isInteger(code)) acc.failures.set(code, (acc.failures.get(code) ?? 0) + c.count);
		} else if (kind === 'skipped') {
			const rule = decodeURIComponent(rest.join(':'));
			acc.skipped[rule] = (acc.skipped[rule] ?? 0) + c.count;
		} else if (kind === 'billable') {
			const [category, type, market] = rest.map(decode);
			const k = `${category}|${type}|${market}`;
			const line = acc.billable.get(k) ?? { category, type, market, count: 0 };
			line.count += c.count;
			acc.billable.set(k, line);
		}
	}
	return [...steps.values()].sort(
		(a, b) => a.journey.localeCompare(b.journey) || a.step.localeCompare(b.step),
	);
}

function sumBy<T>(items: T[], key: (t: T) => string, count: (t: T) => number): Map<string, number> {
	const out = new Map<string, number>();
	for (const i of items) out.set(key(i), (out.get(key(i)) ?? 0) + count(i));
	return out;
}

const byCountThenName =
	<T extends { count: number }>(name: (t: T) => string) =>
	(a: T, b: T) =>
		b.count - a.count || name(a).localeCompare(name(b));

function stepReport(
	acc: StepAccumulator,
	request: ReportRequest,
	timeZone: string,
	generatedAt: string,
): JourneyStepReport {
	const t = acc.totals;
	const failures = [...acc.failures.entries()]
		.map(([code, count]) => {
			const info = describeMetaError(code);
			return { code, count, title: info.title, meaning: info.meaning, action: info.action };
		})
		.sort(byCountThenName((f) => String(f.code)))
		.slice(0, request.topFailures ?? 5);
	const lines = [...acc.billable.values()].sort(
		byCountThenName((l) => `${l.category}|${l.type}|${l.market}`),
	);
	const byCategory = [
		...sumBy(
			lines,
			(l) => `${l.category}|${l.type}`,
			(l) => l.count,
		),
	]
		.map(([k, count]) => {
			const [category, type] = k.split('|');
			return { category, type, count };
		})
		.sort(byCountThenName((c) => `${c.category}|${c.type}`));
	const byMarket = [
		...sumBy(
			lines,
			(l) => l.market,
			(l) => l.count,
		),
	]
		.map(([market, count]) => ({ market, count }))
		.sort(byCountThenName((m) => m.market));
	const report: JourneyStepReport = {
		journey: acc.journey,
		step: acc.step,
		period: { ...request.period, timeZone },
		...t,
		skipped: acc.skipped,
		rates: {
			delivery: ratio(t.delivered, t.sent),
			read: ratio(t.read, t.delivered),
			reply: ratio(t.replied, t.delivered),
			click: ratio(t.clicked, t.delivered),
		},
		failures,
		billable: {
			total: lines.reduce((n, l) => n + l.count, 0),
			byCategory,
			byMarket,
			lines,
		},
		days: [...acc.days.entries()]
			.sort(([a], [b]) => a.localeCompare(b))
			.map(([day, counts]) => ({ day, ...counts })),
		generatedAt,
	};
	if (request.rateCard) report.estimatedCost = estimateCost(lines, request.rateCard);
	return report;
}

/** The report of the requested journeys and steps over the period: one result per journey step with counts. */
export async function buildJourneyReport(
	store: JourneyStateStore,
	request: ReportRequest,
): Promise<JourneyStepReport[]> {
	const timeZone = checkTimeZone(request.timeZone);
	const from = parseDay(request.period?.from, 'From');
	const to = parseDay(request.period?.to, 'To');
	const counts = await store.getReportCounts({
		phoneNumberId: request.phoneNumberId,
		journeys: request.journeys?.filter((j) => j.length > 0),
		from: new Date(from),
		to: new Date(to),
	});
	return summarizeReport(counts, { ...request, timeZone });
}

/** `buildJourneyReport` over counters already read. */
export function summarizeReport(
	counts: ReportCount[],
	request: ReportRequest,
): JourneyStepReport[] {
	const timeZone = checkTimeZone(request.timeZone);
	const generatedAt = formatInZone(request.now ?? new Date(), timeZone);
	const steps = request.steps?.filter((s) => s.length > 0);
	return accumulate(counts)
		.filter((acc) => !steps?.length || steps.includes(acc.step))
		.map((acc) => stepReport(acc, request, timeZone, generatedAt));
}

// ---- Rate card (Meta's published per-message rate cards) ----

/**
 * Meta publishes its rates as a table per currency: one row per market (a country such as "India", or a region such
 * as "North America" or "Rest of Africa"), one column per pricing category: Marketing, Utility, Authentication,
 * Authentication-International, Service (https://developers.facebook.com/docs/whatsapp/pricing#rate-cards).
 * We read that table as CSV (the download, or a copy of its rows), keyed by market name or ISO country code.
 */
export interface RateCard {
	currency: string;
	/** Market (upper-case ISO code or name) → pricing category (lower-case, as in webhooks) → price per message. */
	markets: Map<string, Map<string, number>>;
}

const CATEGORY_COLUMNS: Record<string, string> = {
	marketing: 'marketing',
	utility: 'utility',
	authentication: 'authentication',
	'authentication-international': 'authentication_international',
	'authentication international': 'authentication_international',
	authentication_international: 'authentication_international',
	service: 'service',
	'marketing lite': 'marketing_lite',
	marketing_lite: 'marketing_lite',
};

function splitCsvLine(line: string): string[] {
	const out: string[] = [];
	let cur = '';
	let quoted = false;
	for (let i = 0; i < line.length; i++) {
		const ch = line[i];
		if (quoted) {
			if (ch === '"' && line[i + 1] === '"') {
				cur += '"';
				i++;
			} else if (ch === '"') quoted = false;
			else cur += ch;
		} else if (ch === '"') quoted = true;
		else if (ch === ',' || ch === ';' || ch === '\t') {
			out.push(cur.trim());
			cur = '';
		} else cur += ch;
	}
	out.push(cur.trim());
	return out;
}

/**
 * Reads a rate card: Meta's CSV (lines before the header row that starts with "Market" are skipped; prices may carry a
 * currency sign), or JSON `{ currency, rates: { "<market>": { marketing: 0.0625, ... } } }`.
 */
export function parseRateCard(text: string, currencyFallback = 'USD'): RateCard {
	const source = String(text ?? '').trim();
	if (!source)
		throw new Error(
			'Rate Card is empty: paste the rows of Meta’s rate card (CSV) or its JSON form.',
		);
	if (source.startsWith('{')) {
		let json: unknown;
		try {
			json = JSON.parse(source);
		} catch (e) {
			throw new Error(`Rate Card is not valid JSON: ${(e as Error).message}.`);
		}
		const j = json as { currency?: unknown; rates?: unknown };
		if (!j.rates || typeof j.rates !== 'object')
			throw new Error(
				'Rate Card JSON needs a "rates" object: { "<market>": { "marketing": 0.05 } }.',
			);
		const markets = new Map<string, Map<string, number>>();
		for (const [market, prices] of Object.entries(j.rates as Record<string, unknown>)) {
			const row = new Map<string, number>();
			for (const [category, price] of Object.entries((prices ?? {}) as Record<string, unknown>)) {
				const column = CATEGORY_COLUMNS[category.trim().toLowerCase()];
				const value = Number(price);
				if (column && Number.isFinite(value)) row.set(column, value);
			}
			markets.set(market.trim().toUpperCase(), row);
		}
		return { currency: typeof j.currency === 'string' ? j.currency : currencyFallback, markets };
	}
	const lines = source.split(/\r?\n/).map(splitCsvLine);
	const headerAt = lines.findIndex((cells) => cells[0]?.toLowerCase() === 'market');
	if (headerAt < 0)
		throw new Error(
			'Rate Card: no header row starting with "Market" (Meta’s columns: Market, Currency, Marketing, Utility, Authentication, Authentication-International, Service).',
		);
	const header = lines[headerAt].map((h) => h.toLowerCase());
	const currencyColumn = header.indexOf('currency');
	const markets = new Map<string, Map<string, number>>();
	let currency = currencyFallback;
	for (const cells of lines.slice(headerAt + 1)) {
		const market = cells[0]?.trim();
		if (!market) continue;
		if (currencyColumn >= 0 && cells[currencyColumn]) currency = cells[currencyColumn];
		const row = new Map<string, number>();
		header.forEach((h, i) => {
			const column = CATEGORY_COLUMNS[h];
			const value = Number((cells[i] ?? '').replace(/[^0-9.]/g, ''));
			if (column && cells[i] && /\d/.test(cells[i]) && Number.isFinite(value))
				row.set(column, value);
		});
		markets.set(market.toUpperCase(), row);
	}
	return { currency, markets };
}

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
/** Meta's rate-card markets that span several countries, by ISO code. */
const MULTI_COUNTRY_MARKETS: Record<string, string> = { US: 'NORTH AMERICA', CA: 'NORTH AMERICA' };

/** The rate card row of a market given as an ISO code: by code, by English country name, by Meta's region, or "Other". */
function rateRow(card: RateCard, market: string): Map<string, number> | undefined {
	const code = market.toUpperCase();
	let name: string | undefined;
	try {
		name = code.length === 2 ? regionNames.of(code)?.toUpperCase() : undefined;
	} catch {
		name = undefined;
	}
	return (
		card.markets.get(code) ??
		(name ? card.markets.get(name) : undefined) ??
		(MULTI_COUNTRY_MARKETS[code] ? card.markets.get(MULTI_COUNTRY_MARKETS[code]) : undefined) ??
		card.markets.get('OTHER')
	);
}

function estimateCost(lines: BillableCount[], card: RateCard): JourneyStepReport['estimatedCost'] {
	const grouped = sumBy(
		lines,
		(l) => `${l.market}|${l.category}`,
		(l) => l.count,
	);
	let total = 0;
	let unpriced = 0;
	const costLines: CostLine[] = [];
	for (const [k, count] of grouped) {
		const [market, category] = k.split('|');
		const rate = rateRow(card, market)?.get(category) ?? null;
		const cost = rate === null ? 0 : Math.round(rate * count * 1e6) / 1e6;
		if (rate === null) unpriced += count;
		total += cost;
		costLines.push({ market, category, count, rate, cost });
	}
	costLines.sort((a, b) => b.cost - a.cost || a.market.localeCompare(b.market));
	return {
		currency: card.currency,
		total: Math.round(total * 1e6) / 1e6,
		unpriced,
		lines: costLines,
	};
}
