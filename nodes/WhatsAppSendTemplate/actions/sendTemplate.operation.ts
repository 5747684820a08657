/** Send Template: an approved template to each item's recipient, under the template-send policy of core. */
import { NodeOperationError } from 'n8n-workflow';
import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	ResourceMapperValue,
} from 'n8n-workflow';

import { extractTemplateVariables, isCustomerOptedOut, prepareTemplateSend } from '../../../core';
import type { TemplateDefinition, TemplateSendPorts } from '../../../core';
import { findTemplate, templateRefFromLocator } from '../../shared/templates';
import type { TemplateLocator } from '../../shared/templates';
import { sendItems } from './send';
import type { ContentBuilder, SendRun } from './send';

/** Send and Wait sends a template only with Message Type "Template" (its default, as before the other kinds). */
const NOT_TEMPLATE = { waitMessageType: ['buttons', 'list', 'text'] };

export const description: INodeProperties[] = [
	{
		displayName: 'Template',
		name: 'template',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		displayOptions: { show: { operation: ['sendTemplate', 'sendAndWait'] }, hide: NOT_TEMPLATE },
		description: 'An APPROVED template of the WhatsApp Business Account in the credential',
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a template…',
				typeOptions: { searchListMethod: 'searchTemplates', searchable: true },
			},
			{
				displayName: 'By Name',
				name: 'name',
				type: 'string',
				placeholder: 'order_confirmation (en_US)',
				hint: 'The template name, optionally followed by its language code in brackets',
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: '1234567890123456',
				validation: [
					{
						type: 'regex',
						properties: { regex: '^[0-9]+$', errorMessage: 'A template ID has digits only' },
					},
				],
			},
		],
	},
	{
		displayName: 'Variables Input',
		name: 'variablesMode',
		type: 'options',
		displayOptions: { show: { operation: ['sendTemplate', 'sendAndWait'] }, hide: NOT_TEMPLATE },
		options: [
			{
				name: 'Map Each Variable',
				value: 'mapper',
				description: "Fill the template's variables one by one, with their examples shown",
			},
			{
				name: 'Components JSON',
				value: 'json',
				description: 'Pass the Cloud API "components" array yourself (experts)',
			},
		],
		default: 'mapper',
	},
	{
		displayName: 'Variables',
		name: 'variables',
		type: 'resourceMapper',
		noDataExpression: true,
		default: { mappingMode: 'defineBelow', value: null },
		required: true,
		displayOptions: {
			show: { operation: ['sendTemplate', 'sendAndWait'], variablesMode: ['mapper'] },
			hide: NOT_TEMPLATE,
		},
		typeOptions: {
			loadOptionsDependsOn: ['template.value', 'options.templateLanguage'],
			resourceMapper: {
				resourceMapperMethod: 'getTemplateVariables',
				mode: 'add',
				fieldWords: { singular: 'variable', plural: 'variables' },
				addAllFields: true,
				multiKeyMatch: false,
				supportAutoMap: true,
				noFieldsError: 'This template has no variables',
			},
		},
	},
	{
		displayName: 'Components (JSON)',
		name: 'componentsJson',
		type: 'json',
		default: '[]',
		displayOptions: {
			show: { operation: ['sendTemplate', 'sendAndWait'], variablesMode: ['json'] },
			hide: NOT_TEMPLATE,
		},
		description:
			'The "components" array of the Cloud API template object; it is checked against the template before sending',
		hint: 'e.g. [{"type":"body","parameters":[{"type":"text","text":"Ana"}]}]',
	},
];

const MEDIA_KINDS = new Set(['image', 'video', 'document']);

/** Values from the resource mapper ("define below") or, in auto-map mode, from the item's own fields. */
function mappedValues(
	{ ctx, param }: SendRun,
	itemIndex: number,
	template: TemplateDefinition,
): Record<string, unknown> {
	const mapper = param<ResourceMapperValue>('variables', itemIndex, {
		mappingMode: 'defineBelow',
		value: null,
	} as unknown as ResourceMapperValue);
	if (mapper.mappingMode === 'autoMapInputData') {
		const json = ctx.getInputData()[itemIndex].json;
		const values: Record<string, unknown> = {};
		for (const variable of extractTemplateVariables(template)) {
			if (json[variable.key] !== undefined) values[variable.key] = json[variable.key];
		}
		return values;
	}
	const values: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(mapper.value ?? {})) {
		// The mapper keeps untouched optional fields as null/empty: they mean "not given".
		if (value !== null && value !== undefined && value !== '') values[key] = value;
	}
	return values;
}

/** A media variable written as "binary:<property>" is uploaded from the item (once per distinct file). */
async function resolveBinaryMedia(
	values: Record<string, unknown>,
	template: TemplateDefinition,
	{ uploader }: SendRun,
	itemIndex: number,
): Promise<void> {
	for (const variable of extractTemplateVariables(template)) {
		const value = values[variable.key];
		if (
			MEDIA_KINDS.has(variable.kind) &&
			typeof value === 'string' &&
			value.startsWith('binary:')
		) {
			values[variable.key] = {
				id: await uploader.mediaId(itemIndex, value.slice('binary:'.length).trim() || 'data'),
			};
		}
	}
}

function componentsJson({ ctx, param }: SendRun, itemIndex: number): unknown {
	const raw = param<unknown>('componentsJson', itemIndex, '[]');
	if (typeof raw !== 'string') return raw;
	try {
		return JSON.parse(raw || '[]');
	} catch (error) {
		throw new NodeOperationError(
			ctx.getNode(),
			`Components (JSON) is not valid JSON: ${(error as Error).message}`,
			{ itemIndex },
		);
	}
}

/** Once per execution: the ports core asks (the item's content, opt-outs); then, per item, template and switches. */
export function templateSender(run: SendRun): ContentBuilder {
	const { client, credential, param } = run;
	const ports: TemplateSendPorts<number> = {
		allowUsMarketingSwitch: 'Allow Marketing to US Numbers',
		contentFor: async (template, itemIndex) => {
			if (param<string>('variablesMode', itemIndex, 'mapper') === 'json')
				return { components: componentsJson(run, itemIndex) };
			const values = mappedValues(run, itemIndex, template);
			await resolveBinaryMedia(values, template, run, itemIndex);
			return { values };
		},
		isOptedOut: async (waId) =>
			isCustomerOptedOut(await run.store(), credential.phoneNumberId, waId),
	};
	return async (itemIndex, recipient) => {
		const locator = param<TemplateLocator | undefined>('template', itemIndex, undefined, {
			extractValue: false,
		}) as TemplateLocator;
		const language = param<string>('options.templateLanguage', itemIndex, '') || undefined;
		const template = await findTemplate(
			client,
			credential,
			templateRefFromLocator(locator, language),
		);
		const policy = {
			allowUsMarketing: param<boolean>('options.allowUsMarketing', itemIndex, false),
			skipOptedOut: param<boolean>('options.skipOptedOut', itemIndex, true),
			useMarketingMessagesApi: param<boolean>('options.useMarketingMessagesApi', itemIndex, false),
		};
		return prepareTemplateSend({ template, recipient, item: itemIndex, policy }, ports);
	};
}

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return sendItems(this, templateSender);
}
