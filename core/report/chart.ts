/**
 * The report chart: a journey step's funnel (sent → delivered → read → replied → clicked, and failed) with counts and
 * rates, then its failures by error code, as a PNG. Drawn pixel by pixel with the embedded font (font.ts) and encoded
 * by png.ts: the same report gives the same pixels, on any machine, without native modules or network.
 */
import type { JourneyStepReport } from '../journeys/report';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font';
import { encodePng } from './png';

type Rgb = readonly [number, number, number];

const COLORS = {
	background: [255, 255, 255],
	text: [33, 37, 41],
	muted: [108, 117, 125],
	track: [236, 239, 241],
	sent: [18, 140, 126],
	delivered: [37, 211, 102],
	read: [52, 183, 241],
	replied: [123, 97, 255],
	clicked: [255, 159, 28],
	failed: [229, 57, 53],
	skipped: [158, 158, 158],
} as const satisfies Record<string, Rgb>;

/** A white RGB canvas with the few primitives a bar chart needs. */
export class Canvas {
	readonly pixels: Uint8Array;
	constructor(
		readonly width: number,
		readonly height: number,
	) {
		this.pixels = new Uint8Array(width * height * 3).fill(255);
	}

	rect(x: number, y: number, w: number, h: number, color: Rgb): void {
		const x0 = Math.max(0, Math.round(x));
		const y0 = Math.max(0, Math.round(y));
		const x1 = Math.min(this.width, Math.round(x + w));
		const y1 = Math.min(this.height, Math.round(y + h));
		for (let yy = y0; yy < y1; yy++)
			for (let xx = x0; xx < x1; xx++) this.pixels.set(color, (yy * this.width + xx) * 3);
	}

	/** Text at (x, y) (top left) at `scale` pixels per font pixel; returns the width drawn. Clipped at `maxWidth`. */
	text(x: number, y: number, s: string, color: Rgb, scale = 2, maxWidth = Infinity): number {
		const advance = (GLYPH_WIDTH + 1) * scale;
		let cx = x;
		for (const ch of s) {
			if (cx + GLYPH_WIDTH * scale - x > maxWidth) break;
			glyph(ch).forEach((row, gy) =>
				row.forEach((on, gx) => {
					if (on) this.rect(cx + gx * scale, y + gy * scale, scale, scale, color);
				}),
			);
			cx += advance;
		}
		return cx - x;
	}

	png(): Buffer {
		return encodePng(this.width, this.height, this.pixels);
	}
}

/** The width a text takes at a scale. */
export const textWidth = (s: string, scale = 2): number =>
	[...s].length * (GLYPH_WIDTH + 1) * scale;

const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const percent = (r: number | null): string => (r === null ? '' : `${(r * 100).toFixed(1)}%`);

const WIDTH = 760;
const PAD = 24;
const LABEL_W = 150;
const BAR_X = PAD + LABEL_W;
const BAR_W = 380;
const ROW_H = 30;
const BAR_H = 18;
const LINE = GLYPH_HEIGHT * 2;
/** A failure row: its bar, and the code's title from the error catalogue under it. */
const FAILURE_ROW_H = ROW_H + 10;

/** The rows of the funnel: label, count, the rate shown beside it, colour. */
function funnelRows(r: JourneyStepReport): Array<[string, number, string, Rgb]> {
	const rows: Array<[string, number, string, Rgb]> = [
		['SENT', r.sent, '', COLORS.sent],
		['DELIVERED', r.delivered, percent(r.rates.delivery), COLORS.delivered],
		['READ', r.read, percent(r.rates.read), COLORS.read],
		['REPLIED', r.replied, percent(r.rates.reply), COLORS.replied],
		['CLICKED', r.clicked, percent(r.rates.click), COLORS.clicked],
		['FAILED', r.failed, percent(r.sent > 0 ? r.failed / r.sent : null), COLORS.failed],
	];
	const skipped = Object.values(r.skipped).reduce((n, v) => n + v, 0);
	if (skipped > 0) rows.push(['SKIPPED', skipped, '', COLORS.skipped]);
	return rows;
}

/** The PNG chart of one journey step's report. */
export function renderFunnelChart(r: JourneyStepReport): Buffer {
	const rows = funnelRows(r);
	const failures = r.failures;
	const height =
		PAD +
		LINE * 2 +
		28 +
		rows.length * ROW_H +
		(failures.length ? 40 + failures.length * FAILURE_ROW_H : 0) +
		PAD;
	const c = new Canvas(WIDTH, height);
	let y = PAD;
	const title = r.step ? `${r.journey} / ${r.step}` : r.journey;
	c.text(PAD, y, title, COLORS.text, 2, WIDTH - 2 * PAD);
	y += LINE + 8;
	c.text(PAD, y, `${r.period.from} TO ${r.period.to} (UTC DAYS)`, COLORS.muted, 1);
	y += 28;
	const max = Math.max(1, ...rows.map(([, n]) => n));
	for (const [label, n, rate, color] of rows) {
		c.text(PAD, y + 2, label, COLORS.text, 2, LABEL_W - 8);
		c.rect(BAR_X, y, BAR_W, BAR_H, COLORS.track);
		if (n > 0) c.rect(BAR_X, y, Math.max(2, Math.round((BAR_W * n) / max)), BAR_H, color);
		const value = rate ? `${thousands(n)}  ${rate}` : thousands(n);
		c.text(BAR_X + BAR_W + 12, y + 2, value, COLORS.text, 2, WIDTH - BAR_X - BAR_W - 12 - PAD);
		y += ROW_H;
	}
	if (failures.length) {
		y += 12;
		c.text(PAD, y, 'FAILURES BY ERROR CODE', COLORS.text, 2);
		y += 28;
		const most = Math.max(1, ...failures.map((f) => f.count));
		for (const f of failures) {
			c.text(PAD, y + 2, String(f.code), COLORS.text, 2, LABEL_W - 8);
			c.rect(BAR_X, y, BAR_W, BAR_H, COLORS.track);
			c.rect(BAR_X, y, Math.max(2, Math.round((BAR_W * f.count) / most)), BAR_H, COLORS.failed);
			c.text(BAR_X + BAR_W + 12, y + 2, thousands(f.count), COLORS.text, 2);
			c.text(BAR_X, y + BAR_H + 4, f.title, COLORS.muted, 1, WIDTH - BAR_X - PAD);
			y += FAILURE_ROW_H;
		}
	}
	return c.png();
}
