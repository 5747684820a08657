/**
 * Phone number normalisation for recipients.
 *
 * Uses libphonenumber-js with its "max" metadata (about 150 KB): the default "min" metadata only
 * checks lengths, so it would accept "+49 151 2345678" (one digit short for that mobile range) and
 * cannot tell a number's type. Exact validation catches typos before a request leaves, which matters
 * more on a server than bundle size.
 *
 * Meta wants `to` in E.164 with the "+": without it, Meta prefixes the business number's own country
 * code. The wa_id we derive is the E.164 digits; Meta's `contacts[].wa_id` in the send response is
 * authoritative and can differ for a few countries (e.g. Brazilian and Mexican mobile prefixes).
 */
import {
	getCountryCallingCode,
	isSupportedCountry,
	parsePhoneNumberFromString,
	validatePhoneNumberLength,
	type CountryCode,
	type PhoneNumber,
} from 'libphonenumber-js/max';

export interface NormalizedPhoneNumber {
	/** "+14155552671" */
	e164: string;
	/** "14155552671": E.164 without "+", the form Meta uses for wa_id and recipient_id. */
	waId: string;
	/** ISO 3166-1 alpha-2 region, when the number belongs to one (not for non-geographic numbers). */
	country?: string;
}

export type PhoneNumberErrorReason =
	| 'empty'
	| 'not_a_number'
	| 'missing_country'
	| 'invalid_default_country'
	| 'too_short'
	| 'too_long'
	| 'invalid';

export class PhoneNumberError extends Error {
	readonly input: string;
	readonly reason: PhoneNumberErrorReason;

	constructor(input: string, reason: PhoneNumberErrorReason, message: string) {
		super(message);
		this.name = 'PhoneNumberError';
		this.input = input;
		this.reason = reason;
	}
}

export interface NormalizePhoneOptions {
	/**
	 * 'valid' (default) checks the digits against the region's numbering plan.
	 * 'possible' only checks the length: for test numbers such as +1 555 01xx that no plan assigns.
	 */
	validation?: 'valid' | 'possible';
}

// Prefixes people paste from Twilio ("whatsapp:+44…"), links ("tel:") and wa.me URLs.
const PREFIX = /^(?:whatsapp:|tel:|wa:|https?:\/\/(?:api\.)?wa\.me\/)/i;
// What a human-typed phone number may contain besides digits (incl. Unicode dashes and spaces).
const ALLOWED = /^[+\d\s().\-/\u00a0\u2010-\u2015\u2212\u3000]+$/;

function clean(input: string): string {
	let text = input.trim().replace(PREFIX, '').trim();
	// International "00" prefix → "+": used across Europe, Africa and Asia.
	if (/^00[1-9]/.test(text.replace(/[^\d+]/g, ''))) {
		text = '+' + text.replace(/^[^\d]*00/, '');
	}
	return text;
}

function accepted(
	number: PhoneNumber | undefined,
	validation: 'valid' | 'possible',
): number is PhoneNumber {
	if (!number) return false;
	return validation === 'valid' ? number.isValid() : number.isPossible();
}

function toResult(number: PhoneNumber): NormalizedPhoneNumber {
	const e164 = number.number;
	return { e164, waId: e164.slice(1), ...(number.country ? { country: number.country } : {}) };
}

function lengthProblem(text: string, country: CountryCode | undefined): PhoneNumberErrorReason {
	const verdict = validatePhoneNumberLength(text, country);
	if (verdict === 'TOO_SHORT' || verdict === 'NOT_A_NUMBER') return 'too_short';
	if (verdict === 'TOO_LONG') return 'too_long';
	return 'invalid';
}

/**
 * Normalise a human-typed phone number to E.164.
 * Accepts "+1 (415) 555-2671", "00 49 30 123456", "whatsapp:+44…", digits with country code
 * ("14155552671"), and national numbers ("030 123456") when `defaultCountry` is given.
 */
export function normalizePhoneNumber(
	input: string,
	defaultCountry?: string,
	options: NormalizePhoneOptions = {},
): NormalizedPhoneNumber {
	const validation = options.validation ?? 'valid';
	const raw = typeof input === 'string' ? input : String(input);
	let country: CountryCode | undefined;
	if (defaultCountry !== undefined && defaultCountry !== '') {
		const upper = defaultCountry.trim().toUpperCase();
		if (!isSupportedCountry(upper)) {
			throw new PhoneNumberError(
				raw,
				'invalid_default_country',
				`Default country "${defaultCountry}" is not an ISO 3166-1 alpha-2 code (e.g. "DE", "US"). Fix the default country setting.`,
			);
		}
		country = upper;
	}

	const text = clean(raw);
	if (text === '') {
		throw new PhoneNumberError(
			raw,
			'empty',
			'Phone number is empty. Provide the recipient number in international format, e.g. +14155552671.',
		);
	}
	if (!ALLOWED.test(text) || !/\d/.test(text)) {
		throw new PhoneNumberError(
			raw,
			'not_a_number',
			`"${raw}" is not a phone number: it may contain only digits, spaces, "+", "-", "." and brackets. Write it like +14155552671.`,
		);
	}

	const digitsOnly = text.replace(/\D/g, '');
	const international = text.startsWith('+');
	const candidates: Array<{ text: string; country?: CountryCode }> = [];
	if (international) {
		candidates.push({ text });
	} else {
		// Digits without "+" often already carry the country code (CSV exports, wa_id values).
		const withPlus =
			digitsOnly.length >= 8 && /^[1-9]/.test(digitsOnly) ? { text: '+' + digitsOnly } : undefined;
		// "4915123456789" with default DE is a wa_id, not a national number (Germans write those with a 0).
		const startsWithOwnCode =
			country !== undefined && digitsOnly.startsWith(getCountryCallingCode(country));
		if (withPlus && startsWithOwnCode) candidates.push(withPlus);
		if (country) candidates.push({ text, country });
		if (withPlus && !startsWithOwnCode) candidates.push(withPlus);
	}

	for (const candidate of candidates) {
		const parsed = parsePhoneNumberFromString(candidate.text, candidate.country);
		if (accepted(parsed, validation)) return toResult(parsed);
	}

	if (!international && !country) {
		throw new PhoneNumberError(
			raw,
			'missing_country',
			`"${raw}" has no country code. Write it in international format (e.g. +49 30 123456) or set a default country.`,
		);
	}
	const first = candidates.find((c) => c.country !== undefined) ?? candidates[0] ?? { text };
	const reason = lengthProblem(first.text, first.country);
	const where = first.country ? ` for ${first.country}` : '';
	const why =
		reason === 'too_short'
			? 'it has too few digits'
			: reason === 'too_long'
				? 'it has too many digits'
				: 'its digits do not match any number range of that country';
	throw new PhoneNumberError(
		raw,
		reason,
		`"${raw}" is not a valid phone number${where}: ${why}. Check the digits and the country code (international format, e.g. +4915123456789).`,
	);
}

/**
 * True for numbers of the United States proper (libphonenumber region "US"), the scope of Meta's
 * pause of marketing templates to "+1 numbers with a US area code" (April 2025).
 * Decision: Canada and the other NANP regions are not US; neither are Puerto Rico, Guam, the US Virgin
 * Islands, American Samoa and the Northern Marianas, which libphonenumber gives their own regions and
 * Meta's announcement does not name. Answering false there risks a 131049, answering true would block
 * a send that may be allowed.
 */
export function isUsNumber(e164: string): boolean {
	if (!/^\+1\d{10}$/.test(e164.replace(/[\s\-().]/g, ''))) return false;
	const parsed = parsePhoneNumberFromString(e164);
	return parsed?.country === 'US';
}

/**
 * The country (ISO 3166-1 alpha-2) of a wa_id or E.164 number, Meta's pricing market for a message to it; undefined
 * for a BSUID, a group id or a non-geographic number.
 */
export function countryOfWaId(waId: string | undefined): string | undefined {
	if (!waId || !/^\+?\d{6,15}$/.test(waId)) return undefined;
	return parsePhoneNumberFromString(waId.startsWith('+') ? waId : `+${waId}`)?.country;
}

/**
 * A business-scoped user id (BSUID), Meta's id for a WhatsApp user within one business portfolio (from 2026, for
 * customers who adopt a username and may hide their phone number): the user's ISO 3166 alpha-2 country, a period,
 * and up to 128 letters and digits, e.g. "US.13491208655302741918"; a parent BSUID (linked portfolios) carries
 * "ENT." after the country ("US.ENT.11815799212886844830"). Sources: Meta's system-messages webhook reference
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/) and
 * partners' copies of Meta's BSUID guide (learn.microsoft.com "whatsapp-username-support-overview", 8x8 release
 * note 2026-07-21). Store and send it back exactly as received: it is case-sensitive and never a phone number.
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

/** Whether a value is a BSUID (see BSUID above), not a phone number. */
export function isBsuid(value: unknown): boolean {
	return typeof value === 'string' && BSUID.test(value);
}

/** Which of Meta's two ids a recipient was given as: a phone number (sent as `to`) or a BSUID (sent as `recipient`). */
export type RecipientType = 'phone' | 'bsuid';

/**
 * A customer a send goes to. For a phone number: E.164 and its wa_id. For a BSUID, both fields hold the BSUID itself
 * (it is the customer's key in the store, and what outputs show as `recipient`), and `type` says so.
 */
export interface NormalizedRecipient extends NormalizedPhoneNumber {
	type: RecipientType;
}

/**
 * A recipient as a workflow holds it: a BSUID (kept exactly, trimmed) or a phone number in any form normalizePhoneNumber
 * takes. A BSUID carries no phone number, so no country is derived from it (see quiet hours in README).
 */
export function normalizeRecipient(
	input: string,
	defaultCountry?: string,
	options: NormalizePhoneOptions = {},
): NormalizedRecipient {
	const text = typeof input === 'string' ? input.trim() : String(input).trim();
	if (isBsuid(text)) return { type: 'bsuid', e164: text, waId: text };
	return { type: 'phone', ...normalizePhoneNumber(input, defaultCountry, options) };
}
