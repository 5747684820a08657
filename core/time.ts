/**
 * Times as people and systems hand them over (CRM fields, data tables, webhook payloads): ISO 8601, Unix seconds or
 * milliseconds (number or digits), or a Date. Shared by every adapter that takes a "last inbound" time.
 */

/** Clocks of Meta, a CRM and the automation tool differ a little; further ahead than this is a wrong unit, not skew. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Parses a timestamp; empty means "none". Errors name the field and the fix. */
export function parseTimestamp(
	value: unknown,
	field: string,
	now: Date = new Date(),
): Date | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	const fromNumber = (n: number): Date => new Date(n < 1e12 ? n * 1000 : n); // Unix seconds or milliseconds
	let date: Date;
	if (value instanceof Date) date = value;
	else if (typeof value === 'number') date = fromNumber(value);
	else if (typeof value === 'string' && /^\d+$/.test(value.trim()))
		date = fromNumber(Number(value.trim()));
	else date = new Date(String(value));
	if (Number.isNaN(date.getTime())) {
		throw new Error(
			`${field} "${String(value)}" is not a date: use an ISO 8601 time or a Unix timestamp`,
		);
	}
	// A future time would hold the window open past its real end (e.g. microseconds read as milliseconds: for ever).
	if (date.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
		throw new Error(
			`${field} "${String(value)}" is in the future (${date.toISOString()}): use Unix seconds or milliseconds (not microseconds), or an ISO 8601 time with its time zone`,
		);
	}
	return date;
}
