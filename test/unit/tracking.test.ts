import {
	decodeTracking,
	encodeTracking,
	MAX_CALLBACK_DATA_LENGTH,
	TRACKING_PREFIX,
} from '../../core/tracking';

describe('encodeTracking / decodeTracking', () => {
	it('round-trips every field through a compact, versioned string', () => {
		const t = {
			workflowId: 'wf_12',
			executionId: '3456',
			journey: 'welcome',
			step: 'day-1',
			custom: 'order=99;vip',
		};
		const s = encodeTracking(t);
		expect(s.startsWith(TRACKING_PREFIX)).toBe(true);
		expect(s).toBe('wj1:w=wf_12;e=3456;j=welcome;s=day-1;c=order%3D99%3Bvip');
		expect(decodeTracking(s)).toEqual(t);
	});

	it('carries the journey-rules step key (k=) whole, shortening custom first to stay within 512', () => {
		const stepKey = 'AbCdEfGhIjKlMnOpQrSt_-';
		const s = encodeTracking({ journey: 'promo', step: 'day-1', stepKey, custom: 'y'.repeat(600) });
		expect(s.length).toBe(MAX_CALLBACK_DATA_LENGTH);
		expect(s.startsWith(`wj1:j=promo;s=day-1;k=${stepKey};c=y`)).toBe(true);
		expect(decodeTracking(s)).toMatchObject({ journey: 'promo', step: 'day-1', stepKey });
	});

	it('omits absent and empty fields', () => {
		expect(encodeTracking({ journey: 'j', step: '' })).toBe('wj1:j=j');
		expect(decodeTracking(encodeTracking({}))).toEqual({});
	});

	it('round-trips non-ASCII text and stays ASCII on the wire', () => {
		const t = { journey: 'Bienvenue à bord 🚀', custom: 'café;=%' };
		const s = encodeTracking(t);
		expect(/^[\x20-\x7e]*$/.test(s)).toBe(true);
		expect(decodeTracking(s)).toEqual(t);
	});

	it('shortens custom first so the result never exceeds 512 characters', () => {
		const t = { workflowId: 'wf', journey: 'promo', custom: 'x'.repeat(2000) };
		const s = encodeTracking(t);
		expect(s.length).toBe(MAX_CALLBACK_DATA_LENGTH);
		const back = decodeTracking(s)!;
		expect(back.workflowId).toBe('wf');
		expect(back.journey).toBe('promo');
		expect(back.custom!.length).toBeGreaterThan(400);
		expect('x'.repeat(2000).startsWith(back.custom!)).toBe(true);
	});

	it('shortens custom by whole characters, never splitting an escape or a surrogate pair', () => {
		const t = { journey: 'j', custom: '😀é'.repeat(300) };
		const s = encodeTracking(t);
		expect(s.length).toBeLessThanOrEqual(MAX_CALLBACK_DATA_LENGTH);
		const back = decodeTracking(s)!;
		expect(back.custom).toBeDefined();
		expect('😀é'.repeat(300).startsWith(back.custom!)).toBe(true);
	});

	it('keeps a value that is exactly 512 characters long untouched', () => {
		const base = encodeTracking({ journey: 'j', custom: '' });
		const custom = 'a'.repeat(MAX_CALLBACK_DATA_LENGTH - base.length - ';c='.length);
		const s = encodeTracking({ journey: 'j', custom });
		expect(s.length).toBe(MAX_CALLBACK_DATA_LENGTH);
		expect(decodeTracking(s)!.custom).toBe(custom);
	});

	it('throws a clear error when the fields other than custom are already too long', () => {
		expect(() =>
			encodeTracking({ journey: 'j'.repeat(400), step: 's'.repeat(200), custom: 'c' }),
		).toThrow(/allows 512\. Shorten these fields: journey \(400\), step \(200\)/);
	});

	it('replaces lone surrogates instead of failing the send', () => {
		const s = encodeTracking({ custom: 'a\uD800b' });
		expect(decodeTracking(s)).toEqual({ custom: 'a\uFFFDb' });
	});

	it('returns a foreign string whole as custom', () => {
		expect(decodeTracking('campaign-42')).toEqual({ custom: 'campaign-42' });
		expect(decodeTracking('{"crm":"abc"}')).toEqual({ custom: '{"crm":"abc"}' });
	});

	it('treats a malformed wj1 string as foreign rather than throwing', () => {
		expect(decodeTracking('wj1:j=%E0%A4%A')).toEqual({ custom: 'wj1:j=%E0%A4%A' });
		expect(decodeTracking('wj1:nonsense')).toEqual({ custom: 'wj1:nonsense' });
	});

	it('ignores keys it does not know inside a wj1 string', () => {
		expect(decodeTracking('wj1:j=a;z=later')).toEqual({ journey: 'a' });
	});

	it('returns undefined when there is nothing to decode', () => {
		expect(decodeTracking(undefined)).toBeUndefined();
		expect(decodeTracking('')).toBeUndefined();
	});
});
