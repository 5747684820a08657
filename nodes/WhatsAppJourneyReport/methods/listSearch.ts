import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { getStateStore } from '../../shared/store';
import { getMetaCredential } from '../../shared/transport';

/** Resource locator list: the journeys the store has counts for on this business number, searchable by name. */
export async function searchJourneys(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const { phoneNumberId } = await getMetaCredential(this);
	const store = await getStateStore(this);
	const needle = filter?.trim().toLowerCase();
	const journeys = (await store.listReportJourneys({ phoneNumberId })).filter(
		(j) => !needle || j.toLowerCase().includes(needle),
	);
	return {
		results: [{ name: 'All Journeys', value: '' }, ...journeys.map((j) => ({ name: j, value: j }))],
	};
}
