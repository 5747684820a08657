/**
 * Webhook authenticity: Meta's `X-Hub-Signature-256` and the subscription handshake.
 *
 * Used by the trigger (which checks what Meta sends) and by the sandbox (which signs what it sends),
 * so both sides agree on one definition.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_PREFIX = 'sha256=';

/** `sha256=<hex HMAC-SHA256 of the raw body, keyed with the app secret>`, as Meta sends it. */
export function computeSignature(rawBody: Buffer | string, appSecret: string): string {
	if (!appSecret) throw new Error('computeSignature needs the app secret; it is empty.');
	return SIGNATURE_PREFIX + createHmac('sha256', appSecret).update(rawBody).digest('hex');
}

/**
 * True only when `header` is the signature of exactly these bytes. The comparison is constant
 * time and never throws: a missing, malformed or wrong-length header is simply false. The body
 * must be the raw bytes received — re-serialised JSON does not hash the same.
 */
export function verifySignature(
	rawBody: Buffer | string,
	header: string | undefined,
	appSecret: string,
): boolean {
	if (!appSecret || typeof header !== 'string') return false;
	const value = header.trim();
	if (value.slice(0, SIGNATURE_PREFIX.length).toLowerCase() !== SIGNATURE_PREFIX) return false;
	const hex = value.slice(SIGNATURE_PREFIX.length);
	if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
	const given = Buffer.from(hex, 'hex');
	const expected = createHmac('sha256', appSecret).update(rawBody).digest();
	return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Compares two secrets in constant time whatever their lengths (hashing first evens the lengths out). */
function sameSecret(a: string, b: string): boolean {
	const ha = createHash('sha256').update(a, 'utf8').digest();
	const hb = createHash('sha256').update(b, 'utf8').digest();
	return timingSafeEqual(ha, hb);
}

export type SubscriptionCheck = { ok: true; challenge: string } | { ok: false; reason: string };

function single(v: unknown): string | undefined {
	return typeof v === 'string' ? v : undefined;
}

/**
 * Meta's verification GET: `hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`. Reply 200 with
 * the challenge as plain text when ok, 403 otherwise. Reasons never repeat the tokens.
 */
export function verifySubscription(
	query: Record<string, unknown>,
	verifyToken: string,
): SubscriptionCheck {
	const mode = single(query['hub.mode']);
	const token = single(query['hub.verify_token']);
	const challenge = single(query['hub.challenge']);
	if (!verifyToken)
		return {
			ok: false,
			reason: 'No verify token is configured; set one in the credential and in the Meta app.',
		};
	if (mode !== 'subscribe') return { ok: false, reason: "hub.mode must be 'subscribe'." };
	if (token === undefined || !sameSecret(token, verifyToken)) {
		return {
			ok: false,
			reason: 'hub.verify_token does not match the verify token set in the credential.',
		};
	}
	if (!challenge || challenge.length > 1024)
		return { ok: false, reason: 'hub.challenge is missing or too long.' };
	return { ok: true, challenge };
}
