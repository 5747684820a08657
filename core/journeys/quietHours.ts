/**
 * Quiet hours in the customer's local time. The country comes from the phone number (libphonenumber-js), its time
 * zones from countries-and-timezones (IANA data, kept current by its maintainers); local time and DST from Intl, so
 * the clocks are exactly those of the runtime's time-zone database.
 *
 * A phone number does not say where in a multi-zone country its owner lives: for those countries the zone where
 * most people live is assumed (REPRESENTATIVE_ZONES, `assumed: true`), unless the item gives its own time zone.
 */
import { getCountry } from 'countries-and-timezones';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { isBsuid } from '../phone';

export interface QuietHours {
	/** Local time the quiet hours begin, "HH:MM" (24 h). */
	start: string;
	/** Local time they end (sending is allowed again), "HH:MM"; before `start` means they cross midnight. */
	end: string;
	/** IANA zone that overrides the one derived from the number. */
	timeZone?: string;
	exemptCategories: string[];
	whenOutside: 'hold' | 'skip';
}

/**
 * Countries whose zones differ in offset: the zone assumed for their numbers (the most populous one; capitals
 * otherwise). Countries not listed with several zones take the first one countries-and-timezones lists.
 */
export const REPRESENTATIVE_ZONES: Readonly<Record<string, string>> = {
	AU: 'Australia/Sydney',
	BR: 'America/Sao_Paulo',
	CA: 'America/Toronto',
	CD: 'Africa/Kinshasa',
	CL: 'America/Santiago',
	CN: 'Asia/Shanghai',
	EC: 'America/Guayaquil',
	ES: 'Europe/Madrid',
	GL: 'America/Nuuk',
	ID: 'Asia/Jakarta',
	KI: 'Pacific/Tarawa',
	MN: 'Asia/Ulaanbaatar',
	MX: 'America/Mexico_City',
	NZ: 'Pacific/Auckland',
	PF: 'Pacific/Tahiti',
	PG: 'Pacific/Port_Moresby',
	PT: 'Europe/Lisbon',
	RU: 'Europe/Moscow',
	UA: 'Europe/Kyiv',
	US: 'America/New_York',
};

export interface CustomerTimeZone {
	timeZone: string;
	/** True when the number's country has zones with different clocks and one was assumed. */
	assumed: boolean;
	country?: string;
}

/** The customer's time zone: the item's when given, else from the number's country. */
export function customerTimeZone(e164: string, itemTimeZone?: string): CustomerTimeZone {
	if (itemTimeZone) return { timeZone: itemTimeZone, assumed: false };
	// Decision: a BSUID's leading country is where Meta places the account, not a clock; a wrong guess would send at
	// night, so a customer known only by BSUID needs the item's (or the quiet hours') time zone, like any number
	// whose country is unknown. Caps, opt-outs and the other rules need no phone and apply as usual.
	if (isBsuid(e164)) {
		throw new Error(
			`No time zone is known for ${e164}: it is a business-scoped user id (a customer known by username), which carries no phone number and so no country. Give the item a time zone (Quiet Hours > Time Zone, or the item's time zone field) for quiet hours.`,
		);
	}
	const country = parsePhoneNumberFromString(e164)?.country;
	const zones = country ? (getCountry(country)?.timezones ?? []) : [];
	if (!country || zones.length === 0) {
		throw new Error(
			`No time zone is known for ${e164} (country not recognised from the number): give the item a time zone for quiet hours.`,
		);
	}
	if (zones.length === 1) return { timeZone: zones[0], assumed: false, country };
	const timeZone = REPRESENTATIVE_ZONES[country] ?? zones[0];
	const assumed = !sameClocks(zones);
	return { timeZone, assumed, country };
}

/** True when every zone shows the same time all year (the same offsets in January and July). */
function sameClocks(zones: string[]): boolean {
	const year = new Date().getUTCFullYear();
	const probes = [Date.UTC(year, 0, 15), Date.UTC(year, 6, 15)];
	return probes.every((t) => new Set(zones.map((z) => offsetMinutes(t, z))).size === 1);
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
	let f = formatters.get(timeZone);
	if (!f) {
		f = new Intl.DateTimeFormat('en-US', {
			timeZone,
			hourCycle: 'h23',
			year: 'numeric',
			month: 'numeric',
			day: 'numeric',
			hour: 'numeric',
			minute: 'numeric',
		});
		formatters.set(timeZone, f);
	}
	return f;
}

interface Wall {
	y: number;
	mo: number;
	d: number;
	h: number;
	mi: number;
}

/** The wall clock in `timeZone` at epoch ms `t`. */
export function wallClock(t: number, timeZone: string): Wall {
	const parts: Record<string, number> = {};
	for (const p of formatter(timeZone).formatToParts(new Date(t)))
		if (p.type !== 'literal') parts[p.type] = Number(p.value);
	return { y: parts.year, mo: parts.month, d: parts.day, h: parts.hour, mi: parts.minute };
}

const wallMs = (w: Wall) => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi);

/** The zone's offset from UTC at `t`, in minutes. */
function offsetMinutes(t: number, timeZone: string): number {
	const floored = Math.floor(t / 60_000) * 60_000;
	return (wallMs(wallClock(floored, timeZone)) - floored) / 60_000;
}

/**
 * The first instant whose wall clock in `timeZone` is at or after `wall`. Equal to the wall time when it exists;
 * inside a DST gap (the clock jumps over it) the instant the clock jumps, shown at the later side's time.
 * When a wall time occurs twice (clocks go back), the first.
 */
function instantOf(wall: Wall, timeZone: string): number {
	const target = wallMs(wall);
	const candidates = [-1, 0, 1].map((days) => {
		const offset = offsetMinutes(target + days * 86_400_000, timeZone);
		return target - offset * 60_000;
	});
	const fits = candidates
		.filter((t) => wallMs(wallClock(t, timeZone)) >= target)
		.sort((a, b) => a - b);
	// In a gap, no candidate shows the exact time; the earliest showing a later time is just after the jump.
	let best = fits[0];
	// Walk back minute by minute (at most an hour) to the jump itself, so a gap delays by nothing.
	while (best !== undefined && wallMs(wallClock(best - 60_000, timeZone)) >= target) best -= 60_000;
	return best ?? target;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const pad = (n: number) => String(n).padStart(2, '0');

export type QuietHoursVerdict =
	| { allowed: true; timeZone?: string; assumed?: boolean; localTime?: string }
	| { allowed: false; resumeAt: string; timeZone: string; assumed: boolean; localTime: string };

/** Whether a send may leave now, and if not, when the quiet hours end in the customer's time zone. */
export function quietHoursDecision(p: {
	now: Date;
	e164: string;
	itemTimeZone?: string;
	quietHours: Pick<QuietHours, 'start' | 'end' | 'timeZone'> & { exemptCategories?: string[] };
	category?: string;
}): QuietHoursVerdict {
	const q = p.quietHours;
	if (p.category && q.exemptCategories?.includes(p.category)) return { allowed: true };
	const zone = customerTimeZone(p.e164, p.itemTimeZone ?? q.timeZone);
	const now = p.now.getTime();
	const wall = wallClock(now, zone.timeZone);
	const m = wall.h * 60 + wall.mi;
	const start = minutes(q.start);
	const end = minutes(q.end);
	const crossesMidnight = start > end;
	const quiet = crossesMidnight ? m >= start || m < end : m >= start && m < end;
	const localTime = `${pad(wall.h)}:${pad(wall.mi)}`;
	if (!quiet) return { allowed: true, timeZone: zone.timeZone, assumed: zone.assumed, localTime };
	// The end is later today, unless the quiet hours began this evening and end tomorrow morning.
	const addDay = crossesMidnight && m >= start ? 1 : 0;
	const day = new Date(Date.UTC(wall.y, wall.mo - 1, wall.d + addDay));
	const resume = instantOf(
		{
			y: day.getUTCFullYear(),
			mo: day.getUTCMonth() + 1,
			d: day.getUTCDate(),
			h: Math.floor(end / 60),
			mi: end % 60,
		},
		zone.timeZone,
	);
	return {
		allowed: false,
		resumeAt: new Date(Math.max(resume, now)).toISOString(),
		timeZone: zone.timeZone,
		assumed: zone.assumed,
		localTime,
	};
}
