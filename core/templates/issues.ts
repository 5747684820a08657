import type { TemplateVariableComponent } from './variables';

export type TemplateIssueComponent = TemplateVariableComponent | 'carousel' | 'template';

/** One reason a template message would be refused, with the code Meta would answer. */
export interface TemplateIssue {
	template: string;
	language: string;
	component: TemplateIssueComponent;
	/** The variable key (`body_2`, `button_0_url`) when the issue is about one value. */
	variable?: string;
	/** 132000, 132001, 132005, 132012, 132015, 132016, 132018, 131008, 131009 or 100. */
	code: number;
	/** Ours: names the variable or field and the fix. */
	message: string;
	/** Meta's own `error_data.details` for this case, where public Graph answers show it. */
	details?: string;
	/**
	 * Meta's top-level `message` (without the "(#code)" prefix) when it is not the error catalogue's
	 * title for the code: the live wording of template errors, or a Graph param-validation message.
	 */
	metaMessage?: string;
}

/**
 * What Graph answers as `message` for these template codes; the catalogue keeps the titles of Meta's
 * error-code reference, which differ. Sources: test/unit/templates.metaCodes.test.ts.
 */
const LIVE_MESSAGES: Readonly<Record<number, string>> = {
	132000: 'Number of parameters does not match the expected number of params',
	132001: 'Template name does not exist in the translation',
	132012: 'Parameter format does not match format in the created template',
};

/** A problem found in a template message, placed in its component (template and language added here). */
export type PlacedIssue = Omit<TemplateIssue, 'template' | 'language'>;

/** The issue for a placed problem, with Meta's top-level wording for its code when we know it. */
export function templateIssue(template: string, language: string, p: PlacedIssue): TemplateIssue {
	const metaMessage = p.metaMessage ?? LIVE_MESSAGES[p.code];
	return {
		template,
		language,
		component: p.component,
		...(p.variable !== undefined ? { variable: p.variable } : {}),
		code: p.code,
		message: p.message,
		...(p.details !== undefined ? { details: p.details } : {}),
		...(metaMessage !== undefined ? { metaMessage } : {}),
	};
}

/** Thrown by buildTemplateMessage before anything is sent; lists every issue found. */
export class TemplateValidationError extends Error {
	readonly issues: TemplateIssue[];
	readonly template: string;
	readonly language: string;

	constructor(issues: TemplateIssue[]) {
		const first = issues[0];
		const template = first?.template ?? '';
		const language = first?.language ?? '';
		const shown = issues.slice(0, 3).map((i) => i.message);
		const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
		super(`Template "${template}" (${language}) cannot be sent: ${shown.join(' ')}${more}`);
		this.name = 'TemplateValidationError';
		this.issues = issues;
		this.template = template;
		this.language = language;
	}

	/** The Meta code of the first issue (what the API would have answered). */
	get code(): number {
		return this.issues[0]?.code ?? 100;
	}
}
