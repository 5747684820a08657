import type {
	FieldType,
	ILoadOptionsFunctions,
	ResourceMapperField,
	ResourceMapperFields,
} from 'n8n-workflow';

import { extractTemplateVariables } from '../../../core';
import type { TemplateVariable } from '../../../core';
import { createClient } from '../../shared/transport';
import { findTemplate, templateRefFromLocator } from '../../shared/templates';
import type { TemplateLocator } from '../../shared/templates';

const FIELD_TYPES: Record<TemplateVariable['kind'], FieldType> = {
	text: 'string',
	currency: 'object',
	date_time: 'string',
	image: 'string',
	video: 'string',
	document: 'string',
	location: 'object',
	payload: 'string',
	url_suffix: 'string',
	coupon_code: 'string',
	flow: 'string',
	catalog: 'string',
	otp: 'string',
	expiration: 'number',
};

function fieldFor(variable: TemplateVariable): ResourceMapperField {
	const example =
		variable.example !== undefined && variable.example !== '' ? ` — e.g. ${variable.example}` : '';
	return {
		id: variable.key,
		displayName: `${variable.displayName}${example}`,
		required: variable.required,
		defaultMatch: false,
		canBeUsedToMatch: false,
		display: true,
		type: FIELD_TYPES[variable.kind],
	};
}

/** Resource mapper: the chosen template's variables (header, body, buttons, cards, offer) with examples and types. */
export async function getTemplateVariables(
	this: ILoadOptionsFunctions,
): Promise<ResourceMapperFields> {
	const locator = this.getNodeParameter('template', undefined, {
		extractValue: false,
	}) as TemplateLocator;
	if (!locator || !String(locator.value ?? '').trim()) {
		return { fields: [], emptyFieldsNotice: 'Choose a template first: its variables appear here' };
	}
	const language = (this.getNodeParameter('options.templateLanguage', '') as string) || undefined;
	const { client, credential } = await createClient(this);
	const template = await findTemplate(
		client,
		credential,
		templateRefFromLocator(locator, language),
	);
	const fields = extractTemplateVariables(template).map(fieldFor);
	return {
		fields,
		emptyFieldsNotice:
			fields.length === 0
				? `Template "${template.name}" has no variables: nothing to map`
				: undefined,
	};
}
