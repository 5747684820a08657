/**
 * A template definition compiled once for the per-message hot path: what the builder and the
 * validator would otherwise re-derive from the definition for every message (variable list, known
 * keys, placeholder order, hydration of texts for the length limits, button URL prefixes).
 *
 * The plan never decides an error on its own. Its checks only say "certainly fine"; anything else
 * goes to the full rules in validate.ts, so every error keeps its code and wording.
 */
import type { TemplateDefinition } from './model';
import { LIMITS } from './limits';
import { checkParameter, parameterText } from './rules';
import {
	extractTemplateVariables,
	placeholdersOf,
	templateLayout,
	type BodyLayout,
	type ButtonLayout,
	type HeaderLayout,
	type TemplateLayout,
	type TemplateVariable,
} from './variables';

type Json = Record<string, unknown>;

// Same pattern as variables.ts: hydration must see exactly the placeholders hydrate() replaces.
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

export interface SectionPlan {
	variables: TemplateVariable[];
	isHeader: boolean;
	/** Text header or body (not media/location): naming and hydrated length apply. */
	textSection: boolean;
	named: boolean;
	maxHydrated?: number;
	/** Hydrated length = fixedLength + the text of the parameter filling each entry (indexes into variables). */
	fixedLength: number;
	slots: number[];
	/** False when the placeholder keys collide: the full rules decide. */
	fast: boolean;
}

export interface ButtonPlan {
	layout: ButtonLayout;
	urlPrefix?: string;
}

export interface CardPlan {
	header?: SectionPlan;
	body?: SectionPlan;
	buttons: ButtonPlan[];
	requiredButtons: number[];
}

export interface TemplatePlan {
	layout: TemplateLayout;
	named: boolean;
	variables: TemplateVariable[];
	knownKeys: ReadonlySet<string>;
	/** "body_1, button_0_url" or "none", for the unknown-variable message. */
	keyList: string;
	header?: SectionPlan;
	body?: SectionPlan;
	buttons: ButtonPlan[];
	requiredButtons: number[];
	cards?: CardPlan[];
	/**
	 * The builder's own output can only break the length limits: counts, naming and parameter types
	 * hold by construction. False for the rare definitions where that reasoning does not hold
	 * (variable keys that collide, a NAMED text section holding a variable the builder cannot name).
	 */
	builderSafe: boolean;
}

export function urlPrefixOf(layout: ButtonLayout): string | undefined {
	return layout.url && layout.url.includes('{{')
		? layout.url.slice(0, layout.url.indexOf('{{'))
		: undefined;
}

function sectionPlan(
	layout: HeaderLayout | BodyLayout | undefined,
	isHeader: boolean,
	maxHydrated: number | undefined,
	named: boolean,
): SectionPlan | undefined {
	if (!layout) return undefined;
	const variables = layout.variables;
	const textSection = variables.length > 0 && !isMediaKind(variables[0] as TemplateVariable);
	const plan: SectionPlan = {
		variables,
		isHeader,
		textSection,
		named,
		fixedLength: 0,
		slots: [],
		fast: true,
	};
	if (!textSection || maxHydrated === undefined) return plan;
	plan.maxHydrated = maxHydrated;

	// The placeholder each variable fills, as checkSection pairs them.
	let keys: string[];
	if (named) {
		keys = variables.map((v) => v.name as string);
	} else {
		const order = placeholdersOf(layout.text)
			.filter((p) => /^\d+$/.test(p))
			.sort((a, b) => Number(a) - Number(b));
		keys = variables.map((_, i) => order[i] ?? String(i + 1));
	}
	if (keys.some((k) => typeof k !== 'string') || new Set(keys).size !== keys.length) {
		plan.fast = false;
		return plan;
	}
	const text = layout.text ?? keys.map((k) => `{{${k}}}`).join(' ');
	let fixed = text.length;
	for (const match of text.matchAll(PLACEHOLDER)) {
		const slot = keys.indexOf(match[1] as string);
		if (slot >= 0) {
			fixed -= match[0].length;
			plan.slots.push(slot);
		}
	}
	plan.fixedLength = fixed;
	return plan;
}

function isMediaKind(variable: TemplateVariable): boolean {
	return (
		variable.kind === 'image' ||
		variable.kind === 'video' ||
		variable.kind === 'document' ||
		variable.kind === 'location'
	);
}

function buttonPlans(layouts: ButtonLayout[]): {
	buttons: ButtonPlan[];
	requiredButtons: number[];
} {
	const buttons = layouts.map((layout): ButtonPlan => {
		const urlPrefix = urlPrefixOf(layout);
		return urlPrefix !== undefined ? { layout, urlPrefix } : { layout };
	});
	const requiredButtons = layouts.filter((l) => l.variable?.required).map((l) => l.index);
	return { buttons, requiredButtons };
}

/** Whether the builder names every parameter of a NAMED text section the way checkSection wants. */
function namesByConstruction(section: SectionPlan | undefined): boolean {
	if (!section || !section.textSection || !section.named) return true;
	return section.variables.every(
		(v) =>
			v.name !== undefined &&
			(v.kind === 'text' || v.kind === 'currency' || v.kind === 'date_time'),
	);
}

function compile(def: TemplateDefinition): TemplatePlan {
	const layout = templateLayout(def);
	const named = layout.parameterFormat === 'NAMED';
	const variables = extractTemplateVariables(def);
	const plan: TemplatePlan = {
		layout,
		named,
		variables,
		knownKeys: new Set(variables.map((v) => v.key)),
		keyList: variables.length ? variables.map((v) => v.key).join(', ') : 'none',
		buttons: [],
		requiredButtons: [],
		builderSafe: true,
	};
	const header = sectionPlan(layout.header, true, LIMITS.headerText, named);
	if (header) plan.header = header;
	const body = sectionPlan(layout.body, false, layout.body?.maxHydratedLength, named);
	if (body) plan.body = body;
	Object.assign(plan, buttonPlans(layout.buttons));
	if (layout.cards) {
		plan.cards = layout.cards.map((card): CardPlan => {
			const cardPlan: CardPlan = buttonPlans(card.buttons);
			const cardHeader = sectionPlan(card.header, true, LIMITS.headerText, named);
			if (cardHeader) cardPlan.header = cardHeader;
			const cardBody = sectionPlan(card.body, false, card.body?.maxHydratedLength, named);
			if (cardBody) cardPlan.body = cardBody;
			return cardPlan;
		});
	}

	// Every variable object in the layout; the same object may sit in two places (the OTP code).
	const all: TemplateVariable[] = [];
	const sections = [
		plan.header,
		plan.body,
		...(plan.cards ?? []).flatMap((c) => [c.header, c.body]),
	];
	for (const s of sections) if (s) all.push(...s.variables);
	for (const b of [...plan.buttons, ...(plan.cards ?? []).flatMap((c) => c.buttons)])
		if (b.layout.variable) all.push(b.layout.variable);
	if (layout.limitedTimeOffer?.variable) all.push(layout.limitedTimeOffer.variable);
	const byKey = new Map<string, TemplateVariable>();
	for (const v of all) {
		const other = byKey.get(v.key);
		if (other && other !== v) plan.builderSafe = false;
		byKey.set(v.key, v);
	}
	if (!sections.every(namesByConstruction) || !sections.every((s) => !s || s.fast))
		plan.builderSafe = false;
	return plan;
}

// Keyed by the definition object, like templateLayout: a re-fetched or edited definition is a new object
// and gets a new plan, so a plan never outlives the definition it was compiled from.
const planCache = new WeakMap<TemplateDefinition, TemplatePlan>();

export function templatePlan(def: TemplateDefinition): TemplatePlan {
	let plan = planCache.get(def);
	if (!plan || plan.layout !== templateLayout(def)) {
		plan = compile(def);
		planCache.set(def, plan);
	}
	return plan;
}

/** The length of a text section once filled with these parameters (parameters paired with section.variables). */
export function hydratedLength(section: SectionPlan, paired: ReadonlyArray<Json>): number {
	let length = section.fixedLength;
	for (const slot of section.slots) length += parameterText(paired[slot] as Json).length;
	return length;
}

// ---------------------------------------------------------------------------------------------
// Quick acceptance: true only when templateObjectSchema and checkTemplateComponents would both
// accept the message. It reads the message as the schema leaves it (lower-case types, numeric
// indexes); any other spelling, and every message with a problem, answers false and gets the full
// check, which finds and words the problem.
// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Json {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
	return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function sectionAccepts(section: SectionPlan | undefined, given: Json | undefined): boolean {
	if (!given) return !section || section.variables.length === 0;
	if (!section || !section.fast) return false;
	const params = given.parameters;
	const expected = section.variables;
	if (!Array.isArray(params) || params.length !== expected.length) return false;
	let paired: Json[] = params as Json[];
	if (section.textSection && section.named) {
		paired = new Array<Json>(expected.length);
		for (const param of params) {
			if (!isRecord(param)) return false;
			const name = param.parameter_name;
			if (typeof name !== 'string' || name === '') return false;
			let slot = -1;
			for (let j = 0; j < expected.length; j++)
				if ((expected[j] as TemplateVariable).name === name) slot = j;
			if (slot < 0 || paired[slot] !== undefined) return false;
			paired[slot] = param;
		}
	} else {
		for (const param of params) {
			if (!isRecord(param)) return false;
			if (section.textSection && param.parameter_name !== undefined) return false;
		}
	}
	const context = { isHeader: section.isHeader };
	for (let j = 0; j < expected.length; j++) {
		if (checkParameter(expected[j] as TemplateVariable, paired[j] as Json, context)) return false;
	}
	return (
		section.maxHydrated === undefined || hydratedLength(section, paired) <= section.maxHydrated
	);
}

function buttonsAccept(plans: ButtonPlan[], required: number[], given: Json[]): boolean {
	let seen = 0;
	const seenLarge = new Set<number>();
	for (const button of given) {
		const index = button.index;
		if (!isIndex(index)) return false;
		const plan = plans[index];
		if (!plan || !plan.layout.subType || button.sub_type !== plan.layout.subType) return false;
		// Templates have at most 10 buttons; the Set is only for indexes a bitmask cannot hold.
		if (index < 31) {
			if (seen & (1 << index)) return false;
			seen |= 1 << index;
		} else {
			if (seenLarge.has(index)) return false;
			seenLarge.add(index);
		}
		const params = button.parameters === undefined ? [] : button.parameters;
		if (!Array.isArray(params)) return false;
		const variable = plan.layout.variable;
		if (!variable) {
			if (params.length > 0) return false;
			continue;
		}
		if (params.length === 0) {
			if (variable.required) return false;
			continue;
		}
		const param: unknown = params[0];
		if (params.length > 1 || !isRecord(param)) return false;
		const context =
			plan.urlPrefix !== undefined
				? { isHeader: false, buttonUrlPrefix: plan.urlPrefix }
				: { isHeader: false };
		if (checkParameter(variable, param, context)) return false;
	}
	for (const index of required) {
		if (index < 31 ? !(seen & (1 << index)) : !seenLarge.has(index)) return false;
	}
	return true;
}

interface QuickGroup {
	header?: Json;
	body?: Json;
	lto?: Json;
	carousel?: Json;
	buttons: Json[];
}

/** Components by type, or null for anything the full check should look at (unknown or repeated types). */
function quickGroup(components: unknown[], inCard: boolean): QuickGroup | null {
	const out: QuickGroup = { buttons: [] };
	for (const c of components) {
		if (!isRecord(c)) return null;
		switch (c.type) {
			case 'button':
				out.buttons.push(c);
				break;
			case 'header':
				if (out.header) return null;
				out.header = c;
				break;
			case 'body':
				if (out.body) return null;
				out.body = c;
				break;
			case 'limited_time_offer':
				if (inCard || out.lto) return null;
				out.lto = c;
				break;
			case 'carousel':
				if (inCard || out.carousel) return null;
				out.carousel = c;
				break;
			default:
				return null;
		}
	}
	return out;
}

function cardsAccept(plan: TemplatePlan, carousel: Json | undefined): boolean {
	const cardPlans = plan.cards;
	if (!cardPlans) return carousel === undefined;
	if (!carousel) return false;
	const cards = carousel.cards;
	if (!Array.isArray(cards) || cards.length === 0 || cards.length !== cardPlans.length)
		return false;
	const seen = new Set<number>();
	for (const card of cards) {
		if (!isRecord(card)) return false;
		const cardIndex = card.card_index;
		if (!isIndex(cardIndex) || seen.has(cardIndex)) return false;
		const cardPlan = cardPlans[cardIndex];
		if (!cardPlan) return false;
		seen.add(cardIndex);
		if (!Array.isArray(card.components)) return false;
		const grouped = quickGroup(card.components, true);
		if (!grouped) return false;
		if (
			!sectionAccepts(cardPlan.header, grouped.header) ||
			!sectionAccepts(cardPlan.body, grouped.body)
		)
			return false;
		if (!buttonsAccept(cardPlan.buttons, cardPlan.requiredButtons, grouped.buttons)) return false;
	}
	return true;
}

function offerAccepts(plan: TemplatePlan, given: Json | undefined): boolean {
	const variable = plan.layout.limitedTimeOffer?.variable;
	if (!given) return !variable;
	if (!variable) return false;
	const params = given.parameters;
	if (!Array.isArray(params) || params.length !== 1 || !isRecord(params[0])) return false;
	return checkParameter(variable, params[0], { isHeader: false }) === null;
}

/**
 * True when a template object (already unwrapped from a send request) certainly passes
 * validateTemplateMessage against this definition; false means "run the full check".
 */
export function acceptsTemplateObject(def: TemplateDefinition, template: unknown): boolean {
	if (!isRecord(template)) return false;
	const { name, language, components, namespace } = template;
	if (typeof name !== 'string' || name === '' || !isRecord(language)) return false;
	const code = language.code;
	if (
		typeof code !== 'string' ||
		code === '' ||
		(language.policy !== undefined && language.policy !== 'deterministic')
	)
		return false;
	if (namespace !== undefined && typeof namespace !== 'string') return false;
	if (def.name !== name || def.language !== code) return false;
	if (String(def.status).toUpperCase() !== 'APPROVED') return false;
	if (components !== undefined && !Array.isArray(components)) return false;

	const plan = templatePlan(def);
	const grouped = quickGroup(components ?? [], false);
	if (!grouped) return false;
	if (grouped.header && !plan.header) return false;
	return (
		sectionAccepts(plan.header, grouped.header) &&
		sectionAccepts(plan.body, grouped.body) &&
		offerAccepts(plan, grouped.lto) &&
		cardsAccept(plan, grouped.carousel) &&
		buttonsAccept(plan.buttons, plan.requiredButtons, grouped.buttons)
	);
}
