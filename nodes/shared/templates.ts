import { findWabaTemplate, listWabaTemplates, parseTemplateName } from '../../core';
import type { CloudApiClient, TemplateDefinition } from '../../core';
import { CONFIGURED_IN } from './credentials';
import type { MetaCredential } from './credentials';

/** All templates of the credential's WABA, from the process-wide cache (one Graph call per WABA per TTL). */
export async function listTemplates(
	client: CloudApiClient,
	credential: MetaCredential,
	refresh = false,
): Promise<TemplateDefinition[]> {
	return listWabaTemplates(credential, client, { refresh, configuredIn: CONFIGURED_IN });
}

export async function findTemplate(
	client: CloudApiClient,
	credential: MetaCredential,
	ref: { id?: string; name?: string; language?: string },
): Promise<TemplateDefinition> {
	return findWabaTemplate(credential, client, ref, { configuredIn: CONFIGURED_IN });
}

/** The resource locator's value: "<id>" from the list, a name in "By Name" mode, or an ID. */
export interface TemplateLocator {
	__rl?: true;
	mode: 'list' | 'name' | 'id' | string;
	value: string;
}

/**
 * The template a locator points at. n8n's editor keeps the value when the user switches the locator's mode, so
 * "By Name" → "From list" leaves a name in list mode and "From list" → "By Name" leaves an ID in name mode; the
 * editor then shows the template (and its mapped variables) as chosen. Meta's template IDs are digits only, so the
 * value's shape decides: an ID in name mode is looked up by ID, then by name; a name in list/ID mode by name.
 */
export function templateRefFromLocator(
	locator: TemplateLocator | string,
	language?: string,
): { id?: string; name?: string; language?: string } {
	const value = (typeof locator === 'string' ? locator : String(locator.value ?? '')).trim();
	const mode = typeof locator === 'string' ? 'name' : locator.mode;
	if (!value) throw new Error('Template is empty: pick one from the list, or enter its name or ID');
	const digitsOnly = /^\d+$/.test(value);
	if ((mode === 'list' || mode === 'id') && digitsOnly) return { id: value };
	const ref = parseTemplateName(value);
	if (digitsOnly) return { id: value, name: ref.name, language: language || ref.language };
	return { name: ref.name, language: language || ref.language };
}
