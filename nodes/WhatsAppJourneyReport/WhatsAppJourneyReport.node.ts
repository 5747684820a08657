import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';

import {
	buildJourneyReport,
	parseRateCard,
	renderFunnelChart,
	renderReportHtml,
	reportPeriod,
} from '../../core';
import type { JourneyStateStore, ReportPeriodPreset } from '../../core';
import { getStateStore } from '../shared/store';
import { getMetaCredential } from '../shared/transport';
import { journeyReportProperties } from './description';
import { searchJourneys } from './methods/listSearch';

const list = (value: unknown): string[] =>
	String(value ?? '')
		.split(',')
		.map((s) => s.trim())
		.filter((s) => s.length > 0);

/** A file name part from a journey or step name. */
const slug = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60) || 'all';

export class WhatsAppJourneyReport implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Journey Report',
		name: 'whatsAppJourneyReport',
		icon: { light: 'file:journeyReport.svg', dark: 'file:journeyReport.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{"period: " + $parameter["period"]}}',
		description:
			'Funnel per journey step (sent, delivered, read, replied, clicked, failed, billable) from the journey state store, with a chart',
		defaults: { name: 'WhatsApp Journey Report' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'metaWhatsAppCloudApi', required: true },
			{
				// n8n's own Redis credential, so queue-mode users reuse the connection they already configured.
				// eslint-disable-next-line @n8n/community-nodes/no-credential-reuse, @n8n/community-nodes/valid-credential-references
				name: 'redis',
				required: true,
				displayOptions: { show: { stateStore: ['redis'] } },
			},
		],
		properties: journeyReportProperties,
	};

	methods = { listSearch: { searchJourneys } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const out: INodeExecutionData[] = [];
		const { phoneNumberId } = await getMetaCredential(this);
		let store: JourneyStateStore | undefined;
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				out.push(
					...(await reportItems(
						this,
						itemIndex,
						phoneNumberId,
						async () => (store ??= await getStateStore(this, itemIndex)),
					)),
				);
			} catch (error) {
				if (this.continueOnFail()) {
					out.push({ json: { error: (error as Error).message }, pairedItem: { item: itemIndex } });
					continue;
				}
				throw new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			}
		}
		return [out];
	}
}

/** One input item's report: one output item per journey step, with the chart and page as binaries when asked. */
async function reportItems(
	ctx: IExecuteFunctions,
	itemIndex: number,
	phoneNumberId: string,
	store: () => Promise<JourneyStateStore>,
): Promise<INodeExecutionData[]> {
	const journey = ctx.getNodeParameter('journey', itemIndex, '', { extractValue: true }) as string;
	const options = ctx.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const preset = ctx.getNodeParameter('period', itemIndex, 'last7Days') as ReportPeriodPreset;
	const period = reportPeriod(preset, {
		from: preset === 'custom' ? ctx.getNodeParameter('from', itemIndex, '') : undefined,
		to: preset === 'custom' ? ctx.getNodeParameter('to', itemIndex, '') : undefined,
	});
	const rateCardText = String(options.rateCard ?? '').trim();
	const reports = await buildJourneyReport(await store(), {
		phoneNumberId,
		journeys: list(journey),
		steps: list(ctx.getNodeParameter('steps', itemIndex, '')),
		period,
		timeZone: String(options.timeZone ?? '') || ctx.getTimezone(),
		rateCard: rateCardText ? parseRateCard(rateCardText) : undefined,
		topFailures: options.topFailures === undefined ? undefined : Number(options.topFailures),
	});
	const withChart = options.chart !== false;
	const withHtml = options.html !== false;
	return Promise.all(
		reports.map(async (report) => {
			const item: INodeExecutionData = {
				json: report as unknown as IDataObject,
				pairedItem: { item: itemIndex },
			};
			if (!withChart && !withHtml) return item;
			const name = `${slug(report.journey)}-${slug(report.step)}-${report.period.from}-${report.period.to}`;
			const chart = renderFunnelChart(report);
			item.binary = {};
			if (withChart)
				item.binary.chart = await ctx.helpers.prepareBinaryData(chart, `${name}.png`, 'image/png');
			if (withHtml)
				item.binary.report = await ctx.helpers.prepareBinaryData(
					Buffer.from(renderReportHtml([report], [chart]), 'utf8'),
					`${name}.html`,
					'text/html',
				);
			return item;
		}),
	);
}
