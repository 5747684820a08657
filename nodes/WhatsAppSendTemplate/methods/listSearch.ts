import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { createClient } from '../../shared/transport';
import { listTemplates } from '../../shared/templates';

/** Resource locator list: the WABA's APPROVED templates, every page, searchable by name, language or category. */
export async function searchTemplates(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const { client, credential } = await createClient(this);
	const templates = await listTemplates(client, credential);
	const needle = filter?.trim().toLowerCase();
	const results = templates
		.filter(
			(t): t is typeof t & { id: string } => t.status === 'APPROVED' && typeof t.id === 'string',
		)
		.filter(
			(t) => !needle || `${t.name} ${t.language} ${t.category}`.toLowerCase().includes(needle),
		)
		.sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language))
		.map((t) => ({
			name: `${t.name} (${t.language}) · ${t.category.toLowerCase()}`,
			value: t.id,
		}));
	return { results };
}
