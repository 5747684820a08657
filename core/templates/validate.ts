/**
 * What Meta does when a template message arrives: find the template in that language, check it may
 * be sent, then check every component's parameters against the definition. Returns the first issue,
 * because Meta answers one error. Used by the sandbox, by the node's raw JSON mode, and by the builder
 * as its final check.
 */
import type { TemplateDefinition } from './model';
import { templateObjectSchema } from './model';
import { templateIssue, type TemplateIssue, type TemplateIssueComponent } from './issues';
import { acceptsTemplateObject } from './plan';
import { LIMITS } from './limits';
import { checkParameter, isRecord, parameterText, type Problem } from './rules';
import {
	hydrate,
	placeholdersOf,
	templateLayout,
	type BodyLayout,
	type ButtonLayout,
	type HeaderLayout,
	type TemplateVariable,
} from './variables';

type Json = Record<string, unknown>;

export interface ValidateTemplateOptions {
	/** Names used in the issue when the message is too malformed to read them from. */
	templateName?: string;
	languageCode?: string;
}

/** A located problem: which component and variable, and Meta's own wording where we know it. */
export interface PlacedProblem extends Problem {
	component: TemplateIssueComponent;
	variable?: string;
	/** Meta's error_data.details (see TemplateIssue). */
	details?: string;
	/** Meta's top-level message when it is not the catalogue title (see TemplateIssue). */
	metaMessage?: string;
}

/** The button sub_types Graph accepts in a send (its param check, v24.0), in Meta's spelling. */
const META_BUTTON_SUB_TYPES = [
	'BOOKING_CONFIRMATION',
	'CATALOG',
	'COPY_CODE',
	'FLOW',
	'MPM',
	'ORDER_DETAILS',
	'QUICK_REPLY',
	'REMINDER',
	'URL',
	'VOICE_CALL',
] as const;

/** Whether a template in this status may be sent, and the code Meta answers when not. */
export function templateStatusProblem(def: TemplateDefinition): Problem | null {
	const status = String(def.status).toUpperCase();
	if (status === 'APPROVED') return null;
	if (status === 'PAUSED') {
		return {
			code: 132015,
			message: `Template "${def.name}" (${def.language}) is PAUSED for low quality. Edit it or use another template.`,
		};
	}
	if (status === 'DISABLED') {
		return {
			code: 132016,
			message: `Template "${def.name}" (${def.language}) is DISABLED. Create a new template.`,
		};
	}
	return {
		code: 132001,
		message: `Template "${def.name}" (${def.language}) is ${status}, not APPROVED; it can be sent once Meta approves it.`,
	};
}

function unwrapTemplate(message: unknown): unknown {
	if (isRecord(message) && !('name' in message) && isRecord(message.template))
		return message.template;
	return message;
}

function describePath(path: ReadonlyArray<string | number>): string {
	return ['template', ...path]
		.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
		.join('')
		.replace(/^\./, '');
}

interface SectionSpec {
	component: TemplateIssueComponent;
	/** "header", "body", "card 2 body" */
	label: string;
	layout: HeaderLayout | BodyLayout | undefined;
	isHeader: boolean;
	/** Longest allowed hydrated text, for text sections. */
	maxHydrated?: number;
	named: boolean;
}

function isMediaKind(variable: TemplateVariable): boolean {
	return (
		variable.kind === 'image' ||
		variable.kind === 'video' ||
		variable.kind === 'document' ||
		variable.kind === 'location'
	);
}

// Meta's details name only the top-level header and body; what it says for carousel cards is not known.
function isTopLevel(spec: SectionSpec): boolean {
	return spec.component === 'header' || spec.component === 'body';
}

/** Meta's details for a parameter count that does not match (132000). */
function countDetails(spec: SectionSpec, sent: number, expected: number): { details?: string } {
	if (!isTopLevel(spec)) return {};
	return {
		details: `${spec.label}: number of localizable_params (${sent}) does not match the expected number of params (${expected})`,
	};
}

/** Check a header or body component (present or absent) against its layout. */
function checkSection(spec: SectionSpec, given: Json | undefined): PlacedProblem | null {
	const expected = spec.layout?.variables ?? [];
	const place = (
		problem: Problem,
		variable?: TemplateVariable,
		details?: string,
	): PlacedProblem => ({
		...problem,
		component: spec.component,
		...(variable ? { variable: variable.key } : {}),
		...(details !== undefined ? { details } : {}),
	});

	if (!given) {
		const first = expected[0];
		if (!first) return null;
		if (isMediaKind(first)) {
			const message = `The ${spec.label} ${first.kind} is missing: add a ${spec.label} parameter of type ${first.kind} (${first.key}).`;
			// Meta checks the header's format first: no header component is format UNKNOWN (132012). A
			// location header and card headers keep 131008: no public answer shows Meta's code for them.
			if (isTopLevel(spec) && first.kind !== 'location') {
				return place(
					{ code: 132012, message },
					first,
					`${spec.label}: Format mismatch, expected ${first.kind.toUpperCase()}, received UNKNOWN`,
				);
			}
			return place({ code: 131008, message }, first);
		}
		return {
			...place({
				code: 132000,
				message: `${capitalise(spec.label)}: number of parameters (0) does not match the expected number of params (${expected.length}). Provide ${expected.map((v) => v.key).join(', ')}.`,
			}),
			...countDetails(spec, 0, expected.length),
		};
	}

	const params = (given.parameters as Json[] | undefined) ?? [];
	if (params.length !== expected.length) {
		const media = expected[0] !== undefined && isMediaKind(expected[0]);
		return {
			...place({
				code: 132000,
				message: `${capitalise(spec.label)}: number of parameters (${params.length}) does not match the expected number of params (${expected.length}).`,
			}),
			...(media ? {} : countDetails(spec, params.length, expected.length)),
		};
	}

	const textSection = expected.length > 0 && !isMediaKind(expected[0] as TemplateVariable);
	const pairs: Array<[TemplateVariable, Json, string]> = [];
	if (textSection && spec.named) {
		const byName = new Map<string, Json>();
		for (const param of params) {
			const name = param.parameter_name;
			if (typeof name !== 'string' || name === '') {
				return place(
					{
						code: 100,
						message: `${capitalise(spec.label)}: the template uses NAMED parameters; give every parameter a "parameter_name".`,
					},
					undefined,
					'Parameter name is missing or empty',
				);
			}
			if (byName.has(name))
				return place({
					code: 100,
					message: `${capitalise(spec.label)}: parameter_name "${name}" is sent twice.`,
				});
			if (!expected.some((v) => v.name === name)) {
				return place({
					code: 131009,
					message: `${capitalise(spec.label)}: the template has no parameter named "${name}" (it has ${expected.map((v) => v.name).join(', ')}).`,
				});
			}
			byName.set(name, param);
		}
		for (const variable of expected) {
			const param = byName.get(variable.name as string);
			if (!param)
				return place(
					{ code: 131008, message: `${variable.displayName} (${variable.key}) is missing.` },
					variable,
				);
			pairs.push([variable, param, variable.name as string]);
		}
	} else {
		if (textSection && params.some((p) => p.parameter_name !== undefined)) {
			return place({
				code: 132012,
				message: `${capitalise(spec.label)}: the template uses POSITIONAL parameters ({{1}}, {{2}}…); remove "parameter_name".`,
			});
		}
		const text = spec.layout?.text;
		const order = placeholdersOf(text)
			.filter((p) => /^\d+$/.test(p))
			.sort((a, b) => Number(a) - Number(b));
		expected.forEach((variable, i) =>
			pairs.push([variable, params[i] as Json, order[i] ?? String(i + 1)]),
		);
	}

	for (const [variable, param] of pairs) {
		const problem = checkParameter(variable, param, { isHeader: spec.isHeader });
		if (problem) return place(problem, variable);
	}

	if (textSection && spec.maxHydrated !== undefined) {
		const values = new Map(
			pairs.map(([, param, placeholder]) => [placeholder, parameterText(param)]),
		);
		const text = spec.layout?.text ?? pairs.map(([, , p]) => `{{${p}}}`).join(' ');
		const hydrated = hydrate(text, values);
		if (hydrated.length > spec.maxHydrated) {
			const longest = pairs.reduce((a, b) =>
				parameterText(b[1]).length > parameterText(a[1]).length ? b : a,
			);
			return place(
				{
					code: 132005,
					message: `${capitalise(spec.label)} is ${hydrated.length} characters once filled in (at most ${spec.maxHydrated}). Shorten ${longest[0].key} (${parameterText(longest[1]).length} characters).`,
				},
				longest[0],
			);
		}
	}
	return null;
}

function capitalise(text: string): string {
	return text.charAt(0).toUpperCase() + text.slice(1);
}

function buttonIndexOf(component: Json): number {
	const index = component.index;
	return typeof index === 'number' ? index : Number(index);
}

/**
 * A sub_type outside the set Graph accepts fails its param check (100) before the template is looked
 * at; its message names the component's path, e.g. template['components'][1]['sub_type'].
 */
function unacceptedSubType(
	button: Json,
	layout: ButtonLayout | undefined,
	component: TemplateIssueComponent,
	where: string,
	path: string,
): PlacedProblem | null {
	const subType = String(button.sub_type);
	if ((META_BUTTON_SUB_TYPES as readonly string[]).includes(subType.toUpperCase())) return null;
	const fix = !layout
		? ''
		: layout.subType
			? ` Use "${layout.subType}".`
			: ` This ${layout.buttonType} button takes no parameters: leave its component out.`;
	return {
		code: 100,
		component,
		message: `${where}button ${String(button.index)}: sub_type "${subType}" is not one WhatsApp accepts (${META_BUTTON_SUB_TYPES.join(', ').toLowerCase()}).${fix}`,
		metaMessage: `Param ${path}['sub_type'] must be one of {${META_BUTTON_SUB_TYPES.join(', ')}} - got "${subType}".`,
	};
}

/**
 * Check the button components given for one BUTTONS layout (top level or one card). `pathOf` gives a
 * button component's path in the template object, for Meta's param-check message.
 */
function checkButtons(
	layouts: ButtonLayout[],
	given: Json[],
	component: TemplateIssueComponent,
	where: string,
	pathOf: (button: Json) => string,
): PlacedProblem | null {
	const seen = new Set<number>();
	for (const button of given) {
		const index = buttonIndexOf(button);
		if (seen.has(index))
			return { code: 100, component, message: `${where}button index ${index} is sent twice.` };
		seen.add(index);
		const layout = layouts[index];
		if (!layout) {
			return (
				unacceptedSubType(button, layout, component, where, pathOf(button)) ?? {
					code: 131009,
					component,
					message: `${where}button index ${index} does not exist: the template has ${layouts.length} button(s), indexed from 0.`,
				}
			);
		}
		const params = (button.parameters as Json[] | undefined) ?? [];
		const subType = String(button.sub_type).toLowerCase();
		if (!layout.subType) {
			const unaccepted = unacceptedSubType(button, layout, component, where, pathOf(button));
			if (unaccepted) return unaccepted;
			const message = `${where}button ${index} (${layout.buttonType}${layout.text ? ` "${layout.text}"` : ''}) takes no parameters; remove its component.`;
			// Meta's answer is known for parameters on a phone number button only; other cases keep 132000.
			if (layout.buttonType === 'PHONE_NUMBER' && params.length > 0) {
				return {
					code: 100,
					component,
					message,
					...(where === ''
						? {
								details: `buttons: Button at index ${index} is of type Call and does not support parameters`,
							}
						: {}),
				};
			}
			return { code: 132000, component, message };
		}
		if (subType !== layout.subType) {
			return (
				unacceptedSubType(button, layout, component, where, pathOf(button)) ?? {
					code: 132012,
					component,
					message: `${where}button ${index} is a ${layout.buttonType} button: its sub_type must be "${layout.subType}", got "${String(button.sub_type)}".`,
				}
			);
		}
		const variable = layout.variable;
		if (!variable) {
			if (params.length > 0) {
				return {
					code: 132000,
					component,
					message: `${where}button ${index} has a fixed URL: number of parameters (${params.length}) does not match the expected number of params (0).`,
				};
			}
			continue;
		}
		if (params.length === 0) {
			if (variable.required)
				return {
					code: 131008,
					component,
					variable: variable.key,
					message: `${variable.displayName} (${variable.key}) is missing.`,
				};
			continue;
		}
		if (params.length > 1) {
			return {
				code: 132000,
				component,
				message: `${where}button ${index}: number of parameters (${params.length}) does not match the expected number of params (1).`,
			};
		}
		const prefix =
			layout.url && layout.url.includes('{{')
				? layout.url.slice(0, layout.url.indexOf('{{'))
				: undefined;
		const problem = checkParameter(variable, params[0] as Json, {
			isHeader: false,
			...(prefix !== undefined ? { buttonUrlPrefix: prefix } : {}),
		});
		if (problem) return { ...problem, component, variable: variable.key };
	}
	for (const layout of layouts) {
		if (layout.variable?.required && !seen.has(layout.index)) {
			return {
				code: 131008,
				component,
				variable: layout.variable.key,
				message: `${layout.variable.displayName} (${layout.variable.key}) is missing: add a button component with sub_type "${layout.subType}" and index ${layout.index}.`,
				// Meta's wording is known for URL buttons (its "Url"); for other types it is not.
				...(where === '' && layout.buttonType === 'URL'
					? { details: `buttons: Button at index ${layout.index} of type Url requires a parameter` }
					: {}),
			};
		}
	}
	return null;
}

interface Grouped {
	header?: Json;
	body?: Json;
	lto?: Json;
	carousel?: Json;
	buttons: Json[];
}

function group(
	components: Json[],
	where: string,
	component: TemplateIssueComponent,
): Grouped | PlacedProblem {
	const out: Grouped = { buttons: [] };
	for (const c of components) {
		const type = String(c.type).toLowerCase();
		const key = type === 'limited_time_offer' ? 'lto' : type;
		if (key === 'button') {
			out.buttons.push(c);
			continue;
		}
		if (key !== 'header' && key !== 'body' && key !== 'lto' && key !== 'carousel') {
			return {
				code: 100,
				component,
				message: `${where}unknown component type "${String(c.type)}".`,
			};
		}
		if (out[key])
			return { code: 100, component, message: `${where}more than one ${type} component.` };
		out[key] = c;
	}
	return out;
}

function isProblem(value: Grouped | PlacedProblem): value is PlacedProblem {
	return 'code' in value;
}

/** Check the components of a template object (already known to be structurally sound) against a definition. */
export function checkTemplateComponents(
	def: TemplateDefinition,
	components: Json[],
): PlacedProblem | null {
	const layout = templateLayout(def);
	const named = layout.parameterFormat === 'NAMED';
	const grouped = group(components, '', 'template');
	if (isProblem(grouped)) return grouped;

	const header = checkSection(
		{
			component: 'header',
			label: 'header',
			layout: layout.header,
			isHeader: true,
			maxHydrated: LIMITS.headerText,
			named,
		},
		grouped.header,
	);
	if (header) return header;
	if (grouped.header && !layout.header) {
		return {
			code: 132000,
			component: 'header',
			message:
				'The template has no header: number of parameters does not match the expected number of params (0). Remove the header component.',
		};
	}

	const body = checkSection(
		{
			component: 'body',
			label: 'body',
			layout: layout.body,
			isHeader: false,
			...(layout.body ? { maxHydrated: layout.body.maxHydratedLength } : {}),
			named,
		},
		grouped.body,
	);
	if (body) return body;

	const lto = layout.limitedTimeOffer;
	if (grouped.lto) {
		if (!lto?.variable) {
			return {
				code: 132000,
				component: 'limited_time_offer',
				message:
					'The template has no limited-time offer expiration; remove the limited_time_offer component.',
			};
		}
		const params = (grouped.lto.parameters as Json[] | undefined) ?? [];
		if (params.length !== 1) {
			return {
				code: 132000,
				component: 'limited_time_offer',
				message: `Limited-time offer: number of parameters (${params.length}) does not match the expected number of params (1).`,
			};
		}
		const problem = checkParameter(lto.variable, params[0] as Json, { isHeader: false });
		if (problem) return { ...problem, component: 'limited_time_offer', variable: lto.variable.key };
	} else if (lto?.variable) {
		return {
			code: 131008,
			component: 'limited_time_offer',
			variable: lto.variable.key,
			message: `${lto.variable.displayName} (${lto.variable.key}) is missing: the offer has an expiration.`,
		};
	}

	if (layout.cards) {
		if (!grouped.carousel) {
			return {
				code: 131008,
				component: 'carousel',
				message: `The carousel is missing: send a carousel component with ${layout.cards.length} card(s).`,
			};
		}
		const carousel = grouped.carousel;
		const cards = (carousel.cards as Json[] | undefined) ?? [];
		if (cards.length !== layout.cards.length) {
			return {
				code: 132000,
				component: 'carousel',
				message: `The carousel has ${cards.length} card(s); the template has ${layout.cards.length}.`,
			};
		}
		const seen = new Set<number>();
		for (const card of cards) {
			const cardIndex = Number(card.card_index);
			const cardLayout = layout.cards[cardIndex];
			if (!cardLayout)
				return {
					code: 131009,
					component: 'card',
					message: `card_index ${cardIndex} does not exist: the template has ${layout.cards.length} card(s), indexed from 0.`,
				};
			if (seen.has(cardIndex))
				return { code: 100, component: 'card', message: `card_index ${cardIndex} is sent twice.` };
			seen.add(cardIndex);
			const where = `Card ${cardIndex}: `;
			const cardComponents = (card.components as Json[] | undefined) ?? [];
			const cardGroup = group(cardComponents, where, 'card');
			if (isProblem(cardGroup)) return cardGroup;
			if (cardGroup.lto || cardGroup.carousel)
				return {
					code: 100,
					component: 'card',
					message: `${where}cards hold only header, body and button components.`,
				};
			const cardHeader = checkSection(
				{
					component: 'card',
					label: `card ${cardIndex} header`,
					layout: cardLayout.header,
					isHeader: true,
					maxHydrated: LIMITS.headerText,
					named,
				},
				cardGroup.header,
			);
			if (cardHeader) return cardHeader;
			const cardBody = checkSection(
				{
					component: 'card',
					label: `card ${cardIndex} body`,
					layout: cardLayout.body,
					isHeader: false,
					...(cardLayout.body ? { maxHydrated: cardLayout.body.maxHydratedLength } : {}),
					named,
				},
				cardGroup.body,
			);
			if (cardBody) return cardBody;
			const cardButtons = checkButtons(
				cardLayout.buttons,
				cardGroup.buttons,
				'card',
				where,
				(b) =>
					`template['components'][${components.indexOf(carousel)}]['cards'][${cards.indexOf(card)}]['components'][${cardComponents.indexOf(b)}]`,
			);
			if (cardButtons) return cardButtons;
		}
	} else if (grouped.carousel) {
		return {
			code: 132000,
			component: 'carousel',
			message: 'The template has no carousel; remove the carousel component.',
		};
	}

	return checkButtons(
		layout.buttons,
		grouped.buttons,
		'button',
		'',
		(b) => `template['components'][${components.indexOf(b)}]`,
	);
}

/**
 * Validate a template object (or a whole send request with type "template") the way Meta does on
 * receipt. `def` is the registry's definition for the message's name and language, if any.
 */
export function validateTemplateMessage(
	def: TemplateDefinition | undefined,
	message: unknown,
	opts: ValidateTemplateOptions = {},
): TemplateIssue | null {
	// Most messages are fine: a check compiled per definition says so without the schema parse. Anything
	// it is not sure about gets the full check, the one that finds and words errors.
	if (def && acceptsTemplateObject(def, unwrapTemplate(message))) return null;
	return validateTemplateMessageFully(def, message, opts);
}

/** validateTemplateMessage without the compiled shortcut: schema parse, then every rule. Exported for tests. */
export function validateTemplateMessageFully(
	def: TemplateDefinition | undefined,
	message: unknown,
	opts: ValidateTemplateOptions = {},
): TemplateIssue | null {
	const templateObject = unwrapTemplate(message);
	const loose = isRecord(templateObject) ? templateObject : {};
	const looseLanguage = isRecord(loose.language) ? loose.language.code : undefined;
	const template =
		typeof loose.name === 'string' && loose.name
			? loose.name
			: (opts.templateName ?? def?.name ?? '');
	const language =
		typeof looseLanguage === 'string' && looseLanguage
			? looseLanguage
			: (opts.languageCode ?? def?.language ?? '');
	const issue = (p: PlacedProblem): TemplateIssue => templateIssue(template, language, p);

	const parsed = templateObjectSchema.safeParse(templateObject);
	if (!parsed.success) {
		const first = parsed.error.issues[0];
		return issue({
			code: 100,
			component: 'template',
			message: `Invalid parameter: ${first ? `${describePath(first.path.map((k) => (typeof k === 'number' ? k : String(k))))}: ${first.message}` : 'the template object is malformed'}.`,
		});
	}
	const { name, language: lang } = parsed.data;
	if (!def || def.name !== name || def.language !== lang.code) {
		return issue({
			code: 132001,
			component: 'template',
			message: `Template name (${name}) does not exist in ${lang.code}. Check the name and the language code of an approved translation.`,
			details: `template name (${name}) does not exist in ${lang.code}`,
		});
	}
	const status = templateStatusProblem(def);
	if (status) return issue({ ...status, component: 'template' });

	const problem = checkTemplateComponents(def, (parsed.data.components ?? []) as Json[]);
	return problem ? issue(problem) : null;
}
