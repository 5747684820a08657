/**
 * The value rules shared by the builder and the validator: one place decides whether a parameter is
 * acceptable and which Meta code a bad one earns.
 */
import { LIMITS } from './limits';
import type { TemplateVariable } from './variables';

/** A rule violation before it is placed (template, language, component are added by the caller). */
export interface Problem {
	code: number;
	message: string;
}

type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function label(variable: TemplateVariable): string {
	return `${variable.displayName} (${variable.key})`;
}

// Meta refuses these in text parameters (error 132018).
const FORBIDDEN_WHITESPACE = /[\n\r\t]| {5,}/;

function checkText(variable: TemplateVariable, text: unknown): Problem | null {
	if (text === undefined || text === null)
		return { code: 131008, message: `${label(variable)} has no "text". Provide the text.` };
	if (typeof text !== 'string')
		return { code: 131009, message: `${label(variable)} must be text, got ${typeof text}.` };
	if (text.trim() === '')
		return { code: 131008, message: `${label(variable)} is empty. Provide a non-empty value.` };
	if (FORBIDDEN_WHITESPACE.test(text)) {
		return {
			code: 132018,
			message: `${label(variable)} contains a new line, a tab or more than 4 consecutive spaces, which WhatsApp refuses in parameters. Remove them.`,
		};
	}
	return null;
}

function checkNonEmptyString(
	variable: TemplateVariable,
	value: unknown,
	field: string,
): Problem | null {
	if (value === undefined || value === null || value === '') {
		return { code: 131008, message: `${label(variable)} has no "${field}". Provide it.` };
	}
	if (typeof value !== 'string')
		return { code: 131009, message: `${label(variable)}: "${field}" must be a string.` };
	if (value.trim() === '')
		return { code: 131008, message: `${label(variable)}: "${field}" is empty. Provide it.` };
	return null;
}

function checkCurrency(variable: TemplateVariable, currency: unknown): Problem | null {
	if (!isRecord(currency))
		return {
			code: 131008,
			message: `${label(variable)} has no "currency" object. Send {fallback_value, code, amount_1000}.`,
		};
	const fallback = checkNonEmptyString(
		variable,
		currency.fallback_value,
		'currency.fallback_value',
	);
	if (fallback) return fallback;
	if (typeof currency.code !== 'string' || !/^[A-Z]{3}$/.test(currency.code)) {
		return {
			code: 131009,
			message: `${label(variable)}: currency.code must be an ISO 4217 code such as "USD" or "EUR", got ${JSON.stringify(currency.code)}.`,
		};
	}
	if (typeof currency.amount_1000 !== 'number' || !Number.isSafeInteger(currency.amount_1000)) {
		return {
			code: 131009,
			message: `${label(variable)}: currency.amount_1000 must be an integer (the amount times 1000, e.g. 45990 for 45.99), got ${JSON.stringify(currency.amount_1000)}.`,
		};
	}
	return null;
}

function checkDateTime(variable: TemplateVariable, dateTime: unknown): Problem | null {
	if (!isRecord(dateTime))
		return {
			code: 131008,
			message: `${label(variable)} has no "date_time" object. Send {fallback_value}.`,
		};
	return checkNonEmptyString(variable, dateTime.fallback_value, 'date_time.fallback_value');
}

function isHttpUrl(value: string): boolean {
	try {
		const url = new URL(value);
		return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname.length > 0;
	} catch {
		return false;
	}
}

function checkMedia(variable: TemplateVariable, media: unknown): Problem | null {
	const kind = variable.kind;
	if (!isRecord(media))
		return {
			code: 131008,
			message: `${label(variable)} has no "${kind}" object. Send {link} with an https URL or {id} of uploaded media.`,
		};
	const hasId = media.id !== undefined && media.id !== '';
	const hasLink = media.link !== undefined && media.link !== '';
	if (!hasId && !hasLink)
		return {
			code: 131008,
			message: `${label(variable)} needs a media "link" (https URL) or an uploaded media "id".`,
		};
	if (hasId && hasLink)
		return { code: 131009, message: `${label(variable)} has both "id" and "link"; send only one.` };
	if (hasLink && (typeof media.link !== 'string' || !isHttpUrl(media.link))) {
		return {
			code: 131009,
			message: `${label(variable)}: "link" must be a public http(s) URL, got ${JSON.stringify(media.link)}.`,
		};
	}
	if (hasId && (typeof media.id !== 'string' || !/^\d+$/.test(media.id))) {
		return {
			code: 131009,
			message: `${label(variable)}: "id" must be the numeric id of uploaded media, got ${JSON.stringify(media.id)}.`,
		};
	}
	if (media.filename !== undefined && (kind !== 'document' || typeof media.filename !== 'string')) {
		return {
			code: 131009,
			message: `${label(variable)}: "filename" is only allowed on documents, as a string.`,
		};
	}
	return null;
}

function coordinate(value: unknown): number | undefined {
	if (typeof value === 'number' && Number.isFinite(value)) return value;
	if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
	return undefined;
}

function checkLocation(variable: TemplateVariable, location: unknown): Problem | null {
	if (!isRecord(location))
		return {
			code: 131008,
			message: `${label(variable)} has no "location" object. Send {latitude, longitude, name?, address?}.`,
		};
	if (location.latitude === undefined || location.longitude === undefined) {
		return { code: 131008, message: `${label(variable)} needs both "latitude" and "longitude".` };
	}
	const lat = coordinate(location.latitude);
	const lon = coordinate(location.longitude);
	if (lat === undefined || lat < -90 || lat > 90)
		return {
			code: 131009,
			message: `${label(variable)}: latitude must be a number between -90 and 90.`,
		};
	if (lon === undefined || lon < -180 || lon > 180)
		return {
			code: 131009,
			message: `${label(variable)}: longitude must be a number between -180 and 180.`,
		};
	for (const field of ['name', 'address'] as const) {
		if (location[field] !== undefined && typeof location[field] !== 'string') {
			return { code: 131009, message: `${label(variable)}: "${field}" must be a string.` };
		}
	}
	return null;
}

function mismatch(variable: TemplateVariable, expected: string, got: unknown): Problem {
	return {
		code: 132012,
		message: `${label(variable)} expects a parameter of type ${expected}, got ${JSON.stringify(got)}. Send the type the template declares.`,
	};
}

/**
 * Check one parameter object against the variable it fills. Only the parameter's own content is
 * checked here; counts, naming and lengths of the whole component are the caller's.
 */
export function checkParameter(
	variable: TemplateVariable,
	param: Json,
	context: { isHeader: boolean; buttonUrlPrefix?: string },
): Problem | null {
	const type = param.type;
	switch (variable.kind) {
		case 'text':
		case 'currency':
		case 'date_time': {
			if (type === 'text') return checkText(variable, param.text);
			if (!context.isHeader && type === 'currency') return checkCurrency(variable, param.currency);
			if (!context.isHeader && type === 'date_time')
				return checkDateTime(variable, param.date_time);
			return mismatch(variable, context.isHeader ? 'text' : 'text, currency or date_time', type);
		}
		case 'image':
		case 'video':
		case 'document':
			if (type !== variable.kind) return mismatch(variable, variable.kind, type);
			return checkMedia(variable, param[variable.kind]);
		case 'location':
			if (type !== 'location') return mismatch(variable, 'location', type);
			return checkLocation(variable, param.location);
		case 'payload':
			if (type === 'payload') return checkNonEmptyString(variable, param.payload, 'payload');
			if (type === 'text') return checkNonEmptyString(variable, param.text, 'text');
			return mismatch(variable, 'payload', type);
		case 'url_suffix': {
			if (type !== 'text') return mismatch(variable, 'text', type);
			const problem = checkNonEmptyString(variable, param.text, 'text');
			if (problem) return problem;
			const suffix = param.text as string;
			if (/\s/.test(suffix))
				return {
					code: 131009,
					message: `${label(variable)}: the URL suffix contains spaces; URL-encode it.`,
				};
			const full = (context.buttonUrlPrefix ?? '') + suffix;
			if (full.length > LIMITS.buttonUrl) {
				return {
					code: 131009,
					message: `${label(variable)}: the button URL would be ${full.length} characters (at most ${LIMITS.buttonUrl}).`,
				};
			}
			return null;
		}
		case 'otp': {
			if (type !== 'text') return mismatch(variable, 'text', type);
			const problem = checkNonEmptyString(variable, param.text, 'text');
			if (problem) return problem;
			if ((param.text as string).length > LIMITS.otpCode) {
				return {
					code: 131009,
					message: `${label(variable)}: the code is longer than ${LIMITS.otpCode} characters.`,
				};
			}
			return null;
		}
		case 'coupon_code': {
			if (type !== 'coupon_code') return mismatch(variable, 'coupon_code', type);
			const problem = checkNonEmptyString(variable, param.coupon_code, 'coupon_code');
			if (problem) return problem;
			if ((param.coupon_code as string).length > LIMITS.couponCode) {
				return {
					code: 131009,
					message: `${label(variable)}: the coupon code is longer than ${LIMITS.couponCode} characters. Shorten it.`,
				};
			}
			return null;
		}
		case 'flow': {
			if (type !== 'action') return mismatch(variable, 'action', type);
			const action = param.action;
			if (!isRecord(action))
				return {
					code: 131008,
					message: `${label(variable)} has no "action" object. Send {flow_token, flow_action_data?}.`,
				};
			if (
				action.flow_token !== undefined &&
				(typeof action.flow_token !== 'string' || action.flow_token === '')
			) {
				return {
					code: 131009,
					message: `${label(variable)}: flow_token must be a non-empty string.`,
				};
			}
			if (action.flow_action_data !== undefined && !isRecord(action.flow_action_data)) {
				return { code: 131009, message: `${label(variable)}: flow_action_data must be an object.` };
			}
			return null;
		}
		case 'catalog': {
			if (type !== 'action') return mismatch(variable, 'action', type);
			const action = param.action;
			if (!isRecord(action))
				return { code: 131008, message: `${label(variable)} has no "action" object.` };
			if (
				action.thumbnail_product_retailer_id !== undefined &&
				(typeof action.thumbnail_product_retailer_id !== 'string' ||
					action.thumbnail_product_retailer_id === '')
			) {
				return {
					code: 131009,
					message: `${label(variable)}: thumbnail_product_retailer_id must be a non-empty string.`,
				};
			}
			if (variable.key.endsWith('_mpm')) {
				const sections = action.sections;
				if (!Array.isArray(sections) || sections.length === 0) {
					return {
						code: 131008,
						message: `${label(variable)} needs "sections" with at least one product.`,
					};
				}
				for (const section of sections) {
					const items = isRecord(section) ? section.product_items : undefined;
					if (
						!Array.isArray(items) ||
						items.length === 0 ||
						!items.every(
							(i) =>
								isRecord(i) &&
								typeof i.product_retailer_id === 'string' &&
								i.product_retailer_id !== '',
						)
					) {
						return {
							code: 131009,
							message: `${label(variable)}: every section needs product_items [{product_retailer_id}].`,
						};
					}
				}
			}
			return null;
		}
		case 'expiration': {
			if (type !== 'limited_time_offer') return mismatch(variable, 'limited_time_offer', type);
			const offer = param.limited_time_offer;
			if (!isRecord(offer) || offer.expiration_time_ms === undefined) {
				return {
					code: 131008,
					message: `${label(variable)} needs limited_time_offer.expiration_time_ms.`,
				};
			}
			if (
				typeof offer.expiration_time_ms !== 'number' ||
				!Number.isSafeInteger(offer.expiration_time_ms) ||
				offer.expiration_time_ms <= 0
			) {
				return {
					code: 131009,
					message: `${label(variable)}: expiration_time_ms must be a Unix time in milliseconds.`,
				};
			}
			return null;
		}
	}
}

/** The text a parameter contributes to the hydrated component (for length checks). */
export function parameterText(param: Json): string {
	if (param.type === 'text' && typeof param.text === 'string') return param.text;
	if (
		param.type === 'currency' &&
		isRecord(param.currency) &&
		typeof param.currency.fallback_value === 'string'
	)
		return param.currency.fallback_value;
	if (
		param.type === 'date_time' &&
		isRecord(param.date_time) &&
		typeof param.date_time.fallback_value === 'string'
	)
		return param.date_time.fallback_value;
	return '';
}
