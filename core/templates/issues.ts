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
	message: string;
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
