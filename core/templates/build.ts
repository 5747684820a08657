/**
 * The payload builder: variable values in, Meta's template object out, or a TemplateValidationError
 * listing every problem before anything is sent. Every parameter is checked by the same rules the
 * validator applies to incoming messages, and the component rules hold by construction or are checked
 * by the validator's own code, so what we build is what Meta (and the sandbox) accepts.
 */
import type {
	CarouselCardComponentParam,
	TemplateComponentParam,
	TemplateDefinition,
	TemplateObject,
	TemplateParameter,
} from './model';
import {
	TemplateValidationError,
	templateIssue,
	type TemplateIssue,
	type TemplateIssueComponent,
} from './issues';
import { checkParameter, isRecord, type Problem } from './rules';
import { checkTemplateComponents, templateStatusProblem } from './validate';
import {
	hydratedLength,
	templatePlan,
	type ButtonPlan,
	type CardPlan,
	type SectionPlan,
} from './plan';
import type { TemplateVariable } from './variables';

export interface BuildTemplateOptions {
	/** Skip values whose key the template does not have, instead of reporting them (code 100). */
	ignoreUnknownValues?: boolean;
	/** Build even if the template is not APPROVED (for previews); sending it would still fail. */
	allowUnapproved?: boolean;
}

type Converted = { param: TemplateParameter } | { problem: Problem };

function isBlank(value: unknown): boolean {
	return (
		value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
	);
}

function scalarText(value: unknown): string | undefined {
	if (typeof value === 'string') return value;
	if (typeof value === 'number' && Number.isFinite(value)) return String(value);
	if (typeof value === 'bigint') return value.toString();
	return undefined;
}

function wrongType(
	variable: TemplateVariable,
	expected: string,
	value: unknown,
): { problem: Problem } {
	const got = Array.isArray(value)
		? 'a list'
		: value === null
			? 'null'
			: typeof value === 'object'
				? 'an object'
				: `a ${typeof value}`;
	return {
		problem: {
			code: 131009,
			message: `${variable.displayName} (${variable.key}) must be ${expected}, got ${got}.`,
		},
	};
}

function toInteger(value: unknown): unknown {
	if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
	return value;
}

function toCoordinate(value: unknown): unknown {
	if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()))
		return Number(value.trim());
	return value;
}

function convertText(
	variable: TemplateVariable,
	value: unknown,
	isHeader: boolean,
	named: boolean,
): Converted {
	const name = named && variable.name !== undefined ? { parameter_name: variable.name } : {};
	const text = scalarText(value);
	if (text !== undefined) return { param: { type: 'text', text, ...name } };
	if (!isRecord(value))
		return wrongType(variable, isHeader ? 'text' : 'text or a currency/date_time object', value);
	if (value.type === 'text' && typeof value.text === 'string')
		return { param: { type: 'text', text: value.text, ...name } };

	const currency = isRecord(value.currency)
		? value.currency
		: value.type === 'currency' || 'amount_1000' in value
			? value
			: undefined;
	const dateTime = isRecord(value.date_time)
		? value.date_time
		: value.type === 'date_time' || (!currency && 'fallback_value' in value)
			? value
			: undefined;
	if (isHeader && (currency || dateTime)) {
		return {
			problem: {
				code: 131009,
				message: `${variable.displayName} (${variable.key}) is header text: send plain text, not a currency or date_time object.`,
			},
		};
	}
	if (currency) {
		return {
			param: {
				type: 'currency',
				currency: {
					fallback_value: scalarText(currency.fallback_value) as string,
					code: (typeof currency.code === 'string'
						? currency.code.trim().toUpperCase()
						: currency.code) as string,
					amount_1000: toInteger(currency.amount_1000) as number,
				},
				...name,
			},
		};
	}
	if (dateTime)
		return {
			param: {
				type: 'date_time',
				date_time: { fallback_value: scalarText(dateTime.fallback_value) as string },
				...name,
			},
		};
	return wrongType(variable, 'text or a currency/date_time object', value);
}

function convertMedia(variable: TemplateVariable, value: unknown): Converted {
	const kind = variable.kind as 'image' | 'video' | 'document';
	let media: { id?: string; link?: string; filename?: string };
	if (typeof value === 'string') {
		const text = value.trim();
		media = /^\d+$/.test(text) ? { id: text } : { link: text };
	} else if (typeof value === 'number' && Number.isSafeInteger(value)) {
		media = { id: String(value) };
	} else if (isRecord(value)) {
		const source = isRecord(value[kind]) ? (value[kind] as Record<string, unknown>) : value;
		media = {
			...(source.id !== undefined ? { id: scalarText(source.id) ?? (source.id as string) } : {}),
			...(source.link !== undefined ? { link: source.link as string } : {}),
			...(source.filename !== undefined ? { filename: source.filename as string } : {}),
		};
	} else {
		return wrongType(variable, `an https URL, a media id or {link} / {id}`, value);
	}
	switch (kind) {
		case 'image':
			return { param: { type: 'image', image: media } };
		case 'video':
			return { param: { type: 'video', video: media } };
		case 'document':
			return { param: { type: 'document', document: media } };
	}
}

function convertLocation(variable: TemplateVariable, value: unknown): Converted {
	if (!isRecord(value))
		return wrongType(variable, 'a {latitude, longitude, name?, address?} object', value);
	const source = isRecord(value.location) ? (value.location as Record<string, unknown>) : value;
	return {
		param: {
			type: 'location',
			location: {
				latitude: toCoordinate(source.latitude) as number,
				longitude: toCoordinate(source.longitude) as number,
				...(source.name !== undefined ? { name: source.name as string } : {}),
				...(source.address !== undefined ? { address: source.address as string } : {}),
			},
		},
	};
}

function convertExpiration(variable: TemplateVariable, value: unknown): Converted {
	let ms: number;
	if (value instanceof Date) ms = value.getTime();
	else if (typeof value === 'number') ms = value;
	else if (typeof value === 'string' && /^\d+$/.test(value.trim())) ms = Number(value.trim());
	else if (typeof value === 'string') ms = Date.parse(value);
	else return wrongType(variable, 'a Unix time in milliseconds, an ISO date or a Date', value);
	if (!Number.isFinite(ms))
		return {
			problem: {
				code: 131009,
				message: `${variable.displayName} (${variable.key}) is not a date: ${JSON.stringify(value)}.`,
			},
		};
	return {
		param: {
			type: 'limited_time_offer',
			limited_time_offer: { expiration_time_ms: Math.trunc(ms) },
		},
	};
}

function convert(
	variable: TemplateVariable,
	value: unknown,
	ctx: { isHeader: boolean; named: boolean; urlPrefix?: string },
): Converted {
	switch (variable.kind) {
		case 'text':
		case 'currency':
		case 'date_time':
			return convertText(variable, value, ctx.isHeader, ctx.named);
		case 'image':
		case 'video':
		case 'document':
			return convertMedia(variable, value);
		case 'location':
			return convertLocation(variable, value);
		case 'payload': {
			const text = scalarText(value);
			return text === undefined
				? wrongType(variable, 'text', value)
				: { param: { type: 'payload', payload: text } };
		}
		case 'url_suffix': {
			const text = scalarText(value);
			if (text === undefined) return wrongType(variable, 'text', value);
			// Accept the whole link too: people paste the full URL the button should open.
			const suffix =
				ctx.urlPrefix && text.startsWith(ctx.urlPrefix) && text.length > ctx.urlPrefix.length
					? text.slice(ctx.urlPrefix.length)
					: text;
			return { param: { type: 'text', text: suffix } };
		}
		case 'otp': {
			const text = scalarText(value);
			return text === undefined
				? wrongType(variable, 'the code as text', value)
				: { param: { type: 'text', text: text.trim() } };
		}
		case 'coupon_code': {
			const text = scalarText(value);
			return text === undefined
				? wrongType(variable, 'text', value)
				: { param: { type: 'coupon_code', coupon_code: text.trim() } };
		}
		case 'flow': {
			if (typeof value === 'string')
				return { param: { type: 'action', action: { flow_token: value } } };
			if (!isRecord(value))
				return wrongType(variable, 'a flow token or {flow_token, flow_action_data}', value);
			const source = isRecord(value.action) ? (value.action as Record<string, unknown>) : value;
			return {
				param: {
					type: 'action',
					action: {
						...(source.flow_token !== undefined ? { flow_token: source.flow_token as string } : {}),
						...(source.flow_action_data !== undefined
							? { flow_action_data: source.flow_action_data as Record<string, unknown> }
							: {}),
					},
				},
			};
		}
		case 'catalog': {
			const text = scalarText(value);
			if (text !== undefined)
				return { param: { type: 'action', action: { thumbnail_product_retailer_id: text } } };
			if (!isRecord(value))
				return wrongType(variable, 'a product retailer id or an action object', value);
			const source = isRecord(value.action) ? (value.action as Record<string, unknown>) : value;
			return {
				param: {
					type: 'action',
					action: {
						...(source.thumbnail_product_retailer_id !== undefined
							? { thumbnail_product_retailer_id: source.thumbnail_product_retailer_id as string }
							: {}),
						...(source.sections !== undefined
							? {
									sections: source.sections as NonNullable<
										Extract<TemplateParameter, { type: 'action' }>['action']['sections']
									>,
								}
							: {}),
					},
				},
			};
		}
		case 'expiration':
			return convertExpiration(variable, value);
	}
}

/**
 * Build the template object for a send request from variable values keyed as extractTemplateVariables
 * names them. Values: text as string or number; currency {fallback_value, code, amount_1000}; date_time
 * {fallback_value}; media as URL, media id or {link}/{id} (documents may add filename); location
 * {latitude, longitude, name?, address?}; quick-reply payload string; flow token or
 * {flow_token, flow_action_data}; catalog thumbnail retailer id; OTP code; offer expiration.
 */
export function buildTemplateMessage(
	def: TemplateDefinition,
	values: Record<string, unknown>,
	options: BuildTemplateOptions = {},
): TemplateObject {
	const plan = templatePlan(def);
	const layout = plan.layout;
	const named = plan.named;
	const issues: TemplateIssue[] = [];
	const report = (component: TemplateIssueComponent, problem: Problem, variable?: string): void => {
		issues.push(
			templateIssue(def.name, def.language, {
				component,
				...(variable !== undefined ? { variable } : {}),
				code: problem.code,
				message: problem.message,
			}),
		);
	};

	if (!options.allowUnapproved) {
		const status = templateStatusProblem(def);
		if (status) report('template', status);
	}

	if (!options.ignoreUnknownValues) {
		for (const key of Object.keys(values)) {
			if (plan.knownKeys.has(key)) continue;
			report('template', {
				code: 100,
				message: `Unknown variable "${key}": template "${def.name}" has no such variable (it has: ${plan.keyList}).`,
			});
		}
	}

	// One conversion per variable: the OTP code feeds the body and the button.
	const converted = new Map<string, TemplateParameter | undefined>();
	const paramFor = (
		variable: TemplateVariable,
		isHeader: boolean,
		urlPrefix?: string,
	): TemplateParameter | undefined => {
		if (converted.has(variable.key)) return converted.get(variable.key);
		let result: TemplateParameter | undefined;
		const raw = values[variable.key];
		if (isBlank(raw)) {
			if (variable.required) {
				report(
					variable.component,
					{
						code: 131008,
						message: `${variable.displayName} (${variable.key}) is missing. Provide a value${variable.example ? ` such as "${variable.example}"` : ''}.`,
					},
					variable.key,
				);
			}
		} else {
			const outcome = convert(
				variable,
				raw,
				urlPrefix !== undefined ? { isHeader, named, urlPrefix } : { isHeader, named },
			);
			if ('problem' in outcome) {
				report(variable.component, outcome.problem, variable.key);
			} else {
				const problem = checkParameter(
					variable,
					outcome.param as unknown as Record<string, unknown>,
					urlPrefix !== undefined ? { isHeader, buttonUrlPrefix: urlPrefix } : { isHeader },
				);
				if (problem) report(variable.component, problem, variable.key);
				else result = outcome.param;
			}
		}
		converted.set(variable.key, result);
		return result;
	};

	// Text sections built, for the length limits (the one rule the construction below does not guarantee).
	let withinLimits = true;
	const section = (
		type: 'header' | 'body',
		sectionPlan: SectionPlan | undefined,
	): TemplateComponentParam | undefined => {
		if (!sectionPlan || sectionPlan.variables.length === 0) return undefined;
		const isHeader = type === 'header';
		const parameters = sectionPlan.variables.map((v) => paramFor(v, isHeader));
		if (parameters.some((p) => p === undefined)) return undefined;
		if (
			sectionPlan.maxHydrated !== undefined &&
			hydratedLength(sectionPlan, parameters as unknown as Array<Record<string, unknown>>) >
				sectionPlan.maxHydrated
		) {
			withinLimits = false;
		}
		return { type, parameters: parameters as TemplateParameter[] };
	};

	const buttons = (
		plans: ButtonPlan[],
		out: Array<TemplateComponentParam | CarouselCardComponentParam>,
	): void => {
		for (const { layout: button, urlPrefix } of plans) {
			if (!button.variable || !button.subType) continue;
			const param = paramFor(button.variable, false, urlPrefix);
			if (param)
				out.push({
					type: 'button',
					sub_type: button.subType,
					index: button.index,
					parameters: [param],
				});
		}
	};

	const components: TemplateComponentParam[] = [];
	const header = section('header', plan.header);
	if (header) components.push(header);
	const body = section('body', plan.body);
	if (body) components.push(body);

	const ltoVariable = layout.limitedTimeOffer?.variable;
	if (ltoVariable) {
		const param = paramFor(ltoVariable, false);
		if (param && param.type === 'limited_time_offer')
			components.push({ type: 'limited_time_offer', parameters: [param] });
	}

	if (layout.cards && plan.cards) {
		const cardPlans = plan.cards;
		const cards = layout.cards.map((card, i) => {
			const cardPlan = cardPlans[i] as CardPlan;
			const cardComponents: CarouselCardComponentParam[] = [];
			const cardHeader = section('header', cardPlan.header);
			if (cardHeader && cardHeader.type === 'header') cardComponents.push(cardHeader);
			const cardBody = section('body', cardPlan.body);
			if (cardBody && cardBody.type === 'body') cardComponents.push(cardBody);
			buttons(cardPlan.buttons, cardComponents);
			return { card_index: card.cardIndex, components: cardComponents };
		});
		components.push({ type: 'carousel', cards });
	}

	buttons(plan.buttons, components);

	if (issues.length === 0 && (!withinLimits || !plan.builderSafe)) {
		// Counts, naming and parameter types hold by construction (see TemplatePlan.builderSafe); a length
		// over the limit, or an unusual definition, gets the validator's own check and wording.
		const problem = checkTemplateComponents(
			def,
			components as unknown as Array<Record<string, unknown>>,
		);
		if (problem) issues.push(templateIssue(def.name, def.language, problem));
	}
	if (issues.length > 0) throw new TemplateValidationError(issues);

	return {
		name: def.name,
		language: { code: def.language },
		...(components.length > 0 ? { components } : {}),
	};
}
