import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeSignature, verifySignature, verifySubscription } from '../../core/webhooks';

const SECRET = 'app-secret-1234567890';
const raw = readFileSync(join(__dirname, '../fixtures/webhooks/statuses-sent.json'));

describe('computeSignature', () => {
	it('is sha256= followed by the hex HMAC-SHA256 of the raw bytes keyed with the app secret', () => {
		const expected = createHmac('sha256', SECRET).update(raw).digest('hex');
		expect(computeSignature(raw, SECRET)).toBe(`sha256=${expected}`);
	});

	it('signs a string as its UTF-8 bytes, like the Buffer Meta sends', () => {
		const text = '{"note":"café ✓"}';
		expect(computeSignature(text, SECRET)).toBe(
			computeSignature(Buffer.from(text, 'utf8'), SECRET),
		);
	});

	it('refuses to sign with an empty app secret', () => {
		expect(() => computeSignature(raw, '')).toThrow(/app secret/);
	});
});

describe('verifySignature', () => {
	const header = computeSignature(raw, SECRET);

	it('accepts the signature of exactly these bytes', () => {
		expect(verifySignature(raw, header, SECRET)).toBe(true);
		expect(verifySignature(raw.toString('utf8'), header, SECRET)).toBe(true);
	});

	it('accepts upper-case hex and surrounding whitespace', () => {
		expect(verifySignature(raw, `  sha256=${header.slice(7).toUpperCase()} `, SECRET)).toBe(true);
	});

	it('rejects a body changed by one byte', () => {
		const tampered = Buffer.from(raw);
		tampered[tampered.length - 3] ^= 1;
		expect(verifySignature(tampered, header, SECRET)).toBe(false);
	});

	it('rejects re-serialised JSON, which does not hash like the raw bytes', () => {
		const reserialised = JSON.stringify(JSON.parse(raw.toString('utf8')));
		expect(verifySignature(reserialised, header, SECRET)).toBe(false);
	});

	it('rejects a signature made with another secret', () => {
		expect(verifySignature(raw, computeSignature(raw, 'other-secret'), SECRET)).toBe(false);
	});

	it.each([
		['missing', undefined],
		['empty', ''],
		['without prefix', header.slice(7)],
		['sha1 scheme', `sha1=${header.slice(7, 47)}`],
		['too short', header.slice(0, -2)],
		['too long', `${header}00`],
		['not hex', `sha256=${'z'.repeat(64)}`],
	])('returns false, without throwing, for a %s header', (_label, value) => {
		expect(verifySignature(raw, value, SECRET)).toBe(false);
	});

	it('returns false when no app secret is configured', () => {
		expect(verifySignature(raw, header, '')).toBe(false);
	});
});

describe('verifySubscription', () => {
	const query = {
		'hub.mode': 'subscribe',
		'hub.verify_token': 'my-verify-token',
		'hub.challenge': '1158201444',
	};

	it('returns the challenge when mode and token match', () => {
		expect(verifySubscription(query, 'my-verify-token')).toEqual({
			ok: true,
			challenge: '1158201444',
		});
	});

	it('rejects a wrong token without repeating either token', () => {
		const r = verifySubscription({ ...query, 'hub.verify_token': 'guess' }, 'my-verify-token');
		expect(r.ok).toBe(false);
		if (!r.ok) {
			expect(r.reason).toMatch(/verify_token does not match/);
			expect(r.reason).not.toContain('guess');
			expect(r.reason).not.toContain('my-verify-token');
		}
	});

	it('rejects a token that is a prefix of the right one', () => {
		expect(
			verifySubscription({ ...query, 'hub.verify_token': 'my-verify' }, 'my-verify-token').ok,
		).toBe(false);
	});

	it('rejects a mode other than subscribe', () => {
		const r = verifySubscription({ ...query, 'hub.mode': 'unsubscribe' }, 'my-verify-token');
		expect(r).toEqual({ ok: false, reason: "hub.mode must be 'subscribe'." });
	});

	it('rejects a missing challenge and repeated parameters', () => {
		expect(verifySubscription({ ...query, 'hub.challenge': undefined }, 'my-verify-token').ok).toBe(
			false,
		);
		expect(
			verifySubscription({ ...query, 'hub.verify_token': ['my-verify-token'] }, 'my-verify-token')
				.ok,
		).toBe(false);
	});

	it('rejects everything when no verify token is configured', () => {
		expect(verifySubscription({ ...query, 'hub.verify_token': '' }, '').ok).toBe(false);
	});
});
