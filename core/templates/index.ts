/** The one template model: definitions, variables, the payload builder and Meta's validation rules. */
import type { ParameterFormat, TemplateDefinition } from './model';
import { extractTemplateVariables, templateLayout } from './variables';

export * from './model';
export * from './variables';
export * from './issues';
export { LIMITS as TEMPLATE_LIMITS } from './limits';
export { buildTemplateMessage, type BuildTemplateOptions } from './build';
export {
	validateTemplateMessage,
	templateStatusProblem,
	type ValidateTemplateOptions,
} from './validate';

export interface TemplateSummary {
	name: string;
	language: string;
	category: string;
	status: string;
	parameterFormat: ParameterFormat;
	variableCount: number;
}

/** What a template list shows: one line per template and language. */
export function templateSummary(def: TemplateDefinition): TemplateSummary {
	return {
		name: def.name,
		language: def.language,
		category: String(def.category),
		status: String(def.status),
		parameterFormat: templateLayout(def).parameterFormat,
		variableCount: extractTemplateVariables(def).length,
	};
}
