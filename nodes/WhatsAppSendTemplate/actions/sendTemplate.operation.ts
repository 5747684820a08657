import { NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	ResourceMapperValue,
} from 'n8n-workflow';

import {
	TemplateValidationError,
	buildTemplateMessage,
	extractTemplateVariables,
	isUsNumber,
	validateTemplateMessage,
} from '../../../core';
import type { TemplateDefinition, TemplateObject } from '../../../core';
import { findTemplate, templateRefFromLocator } from '../../shared/templates';
import type { TemplateLocator } from '../../shared/templates';
import { runSendOperation } from './common';
import type { BinaryUploader } from './common';
import type { ParameterReader } from '../../shared/parameters';

const MEDIA_KINDS = new Set(['image', 'video', 'document']);

/** Values from the resource mapper ("define below") or, in auto-map mode, from the item's own fields. */
function mappedValues(
	ctx: IExecuteFunctions,
	param: ParameterReader,
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
	uploader: BinaryUploader,
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

function parseComponentsJson(
	ctx: IExecuteFunctions,
	param: ParameterReader,
	itemIndex: number,
): unknown {
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

export async function sendTemplate(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return runSendOperation(
		ctx,
		async (itemIndex, { e164, waId }, { client, credential, uploader, param, store }) => {
			const locator = param<TemplateLocator | undefined>('template', itemIndex, undefined, {
				extractValue: false,
			}) as TemplateLocator;
			const language = param<string>('options.templateLanguage', itemIndex, '') || undefined;
			const template = await findTemplate(
				client,
				credential,
				templateRefFromLocator(locator, language),
			);
			if (template.status !== 'APPROVED') {
				throw new Error(
					`Template "${template.name}" (${template.language}) is ${template.status}, not APPROVED: Meta only sends approved templates (error 132001)`,
				);
			}

			let message: TemplateObject;
			if (param<string>('variablesMode', itemIndex, 'mapper') === 'json') {
				message = {
					name: template.name,
					language: { code: template.language },
					components: parseComponentsJson(ctx, param, itemIndex),
				} as TemplateObject;
				const issue = validateTemplateMessage(template, message);
				if (issue) throw new TemplateValidationError([issue]);
			} else {
				const values = mappedValues(ctx, param, itemIndex, template);
				await resolveBinaryMedia(values, template, uploader, itemIndex);
				message = buildTemplateMessage(template, values);
			}

			const isMarketing = template.category === 'MARKETING';
			if (
				isMarketing &&
				isUsNumber(e164) &&
				!param<boolean>('options.allowUsMarketing', itemIndex, false)
			) {
				throw new Error(
					`Not sent: "${template.name}" is a MARKETING template and ${e164} is a US number; Meta withholds marketing templates to US numbers (error 131049). Use a UTILITY template, or turn on "Allow Marketing to US Numbers".`,
				);
			}
			if (isMarketing && param<boolean>('options.skipOptedOut', itemIndex, true)) {
				if (await (await store()).isOptedOut({ phoneNumberId: credential.phoneNumberId, waId })) {
					throw new Error(
						`Not sent: ${e164} stopped marketing messages from this business (recorded from a user_preferences or STOP webhook); Meta would answer 131050`,
					);
				}
			}
			return {
				message: { type: 'template', template: message },
				marketingMessagesApi:
					isMarketing && param<boolean>('options.useMarketingMessagesApi', itemIndex, false),
				summary: {
					template: {
						id: template.id,
						name: template.name,
						language: template.language,
						category: template.category,
					} as IDataObject,
				},
			};
		},
	);
}
