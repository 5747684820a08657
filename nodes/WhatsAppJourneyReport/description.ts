import type { INodeProperties } from 'n8n-workflow';

import { stateStoreProperties } from '../shared/store';

export const journeyReportProperties: INodeProperties[] = [
	{
		displayName: 'Journey',
		name: 'journey',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		description:
			'The journey to report (the Journey set in the send node’s options). Empty: every journey with counts in the period.',
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'All journeys',
				typeOptions: { searchListMethod: 'searchJourneys', searchable: true },
			},
			{
				displayName: 'By Name',
				name: 'name',
				type: 'string',
				placeholder: 'e.g. spring-sale, onboarding',
				hint: 'One journey, or several separated by commas',
			},
		],
	},
	{
		displayName: 'Steps',
		name: 'steps',
		type: 'string',
		default: '',
		placeholder: 'e.g. reminder-1, offer',
		description: 'Steps to report, separated by commas. Empty: every step.',
	},
	{
		displayName: 'Period',
		name: 'period',
		type: 'options',
		options: [
			{ name: 'Custom', value: 'custom' },
			{ name: 'Last 30 Days', value: 'last30Days' },
			{ name: 'Last 7 Days', value: 'last7Days' },
			{ name: 'Last 90 Days', value: 'last90Days' },
			{ name: 'Today', value: 'today' },
		],
		default: 'last7Days',
		description: 'Whole UTC days, ending today (counts are kept per UTC day)',
	},
	{
		displayName: 'From',
		name: 'from',
		type: 'dateTime',
		default: '',
		required: true,
		description: 'First day of the period (its UTC date)',
		displayOptions: { show: { period: ['custom'] } },
	},
	{
		displayName: 'To',
		name: 'to',
		type: 'dateTime',
		default: '',
		description: 'Last day of the period (its UTC date). Empty: today.',
		displayOptions: { show: { period: ['custom'] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Chart',
				name: 'chart',
				type: 'boolean',
				default: true,
				description:
					'Whether to add a PNG chart of the funnel and the failures as binary property "chart" (opens in the output pane; can be mailed or posted as is)',
			},
			{
				displayName: 'HTML Report',
				name: 'html',
				type: 'boolean',
				default: true,
				description:
					'Whether to add a self-contained HTML page (chart included) as binary property "report"',
			},
			{
				displayName: 'Rate Card',
				name: 'rateCard',
				type: 'string',
				typeOptions: { rows: 6 },
				default: '',
				placeholder: 'Market,Currency,Marketing,Utility,Authentication,Service',
				description:
					'Meta’s rate card (CSV as downloaded from Meta’s pricing page, or its rows) to estimate the cost of billable messages. Markets by country name or ISO code; a row "Other" prices the rest.',
			},
			{
				displayName: 'Time Zone',
				name: 'timeZone',
				type: 'string',
				default: '',
				placeholder: 'Europe/Berlin',
				description:
					'IANA time zone the report’s times are shown in. Empty: the workflow’s time zone.',
			},
			{
				displayName: 'Top Failure Codes',
				name: 'topFailures',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 50 },
				default: 5,
				description: 'How many failure codes to list, most frequent first',
			},
		],
	},
	...stateStoreProperties.map((p) => ({ ...p })),
];
