import { isUsNumber, normalizePhoneNumber, PhoneNumberError } from '../../core/phone';

describe('normalizePhoneNumber', () => {
	it.each([
		['+1 (415) 555-2671', undefined, '+14155552671', 'US'],
		['00 49 30 123456', undefined, '+4930123456', 'DE'],
		['0151 23456789', 'DE', '+4915123456789', 'DE'],
		['030 123456', 'de', '+4930123456', 'DE'],
		['whatsapp:+44 7911 123456', undefined, '+447911123456', 'GG'],
		['14155552671', undefined, '+14155552671', 'US'],
		['4915123456789', 'DE', '+4915123456789', 'DE'],
		['https://wa.me/4915123456789', undefined, '+4915123456789', 'DE'],
		['+55 11 99999-9999', undefined, '+5511999999999', 'BR'],
		['(415) 555-2671', 'US', '+14155552671', 'US'],
	])('normalises %p (default country %p) to %p', (input, country, e164, region) => {
		const result = normalizePhoneNumber(input, country);
		expect(result.e164).toBe(e164);
		expect(result.waId).toBe(e164.slice(1));
		expect(result.country).toBe(region);
	});

	it('rejects a German mobile number that is one digit short, naming the input and the fix', () => {
		let caught: unknown;
		try {
			normalizePhoneNumber('0151 2345678', 'DE');
		} catch (error) {
			caught = error;
		}
		expect(caught).toBeInstanceOf(PhoneNumberError);
		const error = caught as PhoneNumberError;
		expect(error.input).toBe('0151 2345678');
		expect(error.message).toContain('0151 2345678');
		expect(error.message).toMatch(/international format/);
	});

	it('asks for a country code when a national number comes without a default country', () => {
		expect(() => normalizePhoneNumber('030 123456')).toThrow(/no country code/);
		try {
			normalizePhoneNumber('030 123456');
		} catch (error) {
			expect((error as PhoneNumberError).reason).toBe('missing_country');
		}
	});

	it.each([
		['', 'empty'],
		['   ', 'empty'],
		['call me maybe', 'not_a_number'],
		['+1 555 123', 'too_short'],
		['+49 30 1234567890123456', 'too_long'],
	])('rejects %p with reason %p', (input, reason) => {
		expect(() => normalizePhoneNumber(input)).toThrow(PhoneNumberError);
		try {
			normalizePhoneNumber(input);
		} catch (error) {
			expect((error as PhoneNumberError).reason).toBe(reason);
		}
	});

	it('rejects a default country that is not an ISO code', () => {
		expect(() => normalizePhoneNumber('030 123456', 'Germany')).toThrow(/ISO 3166-1/);
	});

	it('accepts numbers outside any numbering plan only in "possible" mode', () => {
		expect(() => normalizePhoneNumber('+1 555 123 4567')).toThrow(PhoneNumberError);
		expect(
			normalizePhoneNumber('+1 555 123 4567', undefined, { validation: 'possible' }).e164,
		).toBe('+15551234567');
	});
});

describe('isUsNumber', () => {
	it('is true for a number with a US area code', () => {
		expect(isUsNumber('+14155552671')).toBe(true);
		expect(isUsNumber('+12025550143')).toBe(true);
	});

	it('is false for Canada, Puerto Rico and other NANP regions sharing +1', () => {
		expect(isUsNumber('+16135550123')).toBe(false); // Ottawa
		expect(isUsNumber('+17875550123')).toBe(false); // Puerto Rico
		expect(isUsNumber('+18095551234')).toBe(false); // Dominican Republic
	});

	it('is false for non +1 numbers and malformed input', () => {
		expect(isUsNumber('+4930123456')).toBe(false);
		expect(isUsNumber('14155552671')).toBe(false);
		expect(isUsNumber('')).toBe(false);
	});
});
