/**
 * Tracking data carried in `biz_opaque_callback_data`.
 *
 * Meta echoes that string on every status webhook of the message, so it is our join key from a
 * status back to the journey (workflow, execution, step) that sent the message. Meta caps it at
 * 512 characters; we keep the encoding ASCII-only so characters and bytes agree.
 *
 * Format `wj1:` followed by `key=value` pairs joined by `;`, values percent-encoded:
 *   wj1:w=wf_12;e=3456;j=welcome;s=day-1;k=Zm9vYmFyYmF6cXV4cXV1eA;c=order%3D99
 * Readable in Meta's logs and in n8n items, and versioned so a later format can coexist.
 */
import { BIZ_OPAQUE_CALLBACK_DATA_MAX } from './messages';

export interface TrackingData {
	workflowId?: string;
	executionId?: string;
	journey?: string;
	step?: string;
	/** Free text of the user's own (an order id, a campaign code...). Shortened first when space runs out. */
	custom?: string;
	/**
	 * The journey-rules step key (stepKeyFor, 22 characters): lets a status webhook resolve a send whose outcome was
	 * unknown. Never shortened (it is short and exact); `custom` gives way first.
	 */
	stepKey?: string;
}

export const TRACKING_PREFIX = 'wj1:';
/** Meta's limit for `biz_opaque_callback_data`. */
export const MAX_CALLBACK_DATA_LENGTH = BIZ_OPAQUE_CALLBACK_DATA_MAX;

const KEYS: ReadonlyArray<readonly [keyof TrackingData, string]> = [
	['workflowId', 'w'],
	['executionId', 'e'],
	['journey', 'j'],
	['step', 's'],
	['stepKey', 'k'],
	['custom', 'c'],
];

/** encodeURIComponent throws on lone surrogates; replace them rather than fail a send over one character. */
export function wellFormed(s: string): string {
	return s.replace(
		/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
		'\uFFFD',
	);
}

function serialise(t: TrackingData): string {
	const parts: string[] = [];
	for (const [field, key] of KEYS) {
		const value = t[field];
		if (value === undefined || value === '') continue;
		parts.push(`${key}=${encodeURIComponent(wellFormed(String(value)))}`);
	}
	return TRACKING_PREFIX + parts.join(';');
}

/**
 * Encodes tracking data for `biz_opaque_callback_data`. The result is at most 512 characters:
 * `custom` is shortened (by whole characters) until it fits; if the other fields alone are too
 * long, it throws an error that says which fields to shorten.
 */
export function encodeTracking(t: TrackingData): string {
	const full = serialise(t);
	if (full.length <= MAX_CALLBACK_DATA_LENGTH) return full;

	const withoutCustom = serialise({ ...t, custom: undefined });
	if (withoutCustom.length > MAX_CALLBACK_DATA_LENGTH) {
		const sizes = KEYS.filter(([f]) => f !== 'custom' && t[f])
			.map(([f]) => `${f} (${encodeURIComponent(wellFormed(String(t[f]))).length})`)
			.join(', ');
		throw new Error(
			`Tracking data is ${withoutCustom.length} characters once encoded, but Meta's biz_opaque_callback_data ` +
				`allows ${MAX_CALLBACK_DATA_LENGTH}. Shorten these fields: ${sizes}.`,
		);
	}

	// Longest prefix of `custom` (in code points) that still fits: binary search, encoded lengths are monotonic.
	const chars = Array.from(wellFormed(t.custom ?? ''));
	let lo = 0;
	let hi = chars.length;
	while (lo < hi) {
		const mid = Math.ceil((lo + hi) / 2);
		if (
			serialise({ ...t, custom: chars.slice(0, mid).join('') }).length <= MAX_CALLBACK_DATA_LENGTH
		)
			lo = mid;
		else hi = mid - 1;
	}
	return serialise({ ...t, custom: chars.slice(0, lo).join('') });
}

/**
 * Reads `biz_opaque_callback_data` back. Strings we did not write (another tool's data, or a
 * user's own value) come back whole as `{ custom }` so nothing is lost; an absent or empty value
 * gives `undefined`.
 */
export function decodeTracking(s: string | undefined): TrackingData | undefined {
	if (s === undefined || s === null || s === '') return undefined;
	if (typeof s !== 'string') return undefined;
	if (!s.startsWith(TRACKING_PREFIX)) return { custom: s };

	const body = s.slice(TRACKING_PREFIX.length);
	const out: TrackingData = {};
	if (body === '') return out;
	for (const part of body.split(';')) {
		const eq = part.indexOf('=');
		if (eq <= 0) return { custom: s };
		const key = part.slice(0, eq);
		let value: string;
		try {
			value = decodeURIComponent(part.slice(eq + 1));
		} catch {
			return { custom: s };
		}
		const field = KEYS.find(([, k]) => k === key)?.[0];
		// Keys from a later minor revision of wj1 are skipped, not treated as foreign.
		if (field) out[field] = value;
	}
	return out;
}
