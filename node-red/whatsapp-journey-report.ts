/**
 * Node-RED node `whatsapp-journey-report`: on each input message, the journey report from the journey state store —
 * one output message per journey step, `msg.payload` the step's report (as n8n's item json), `msg.chart` its PNG funnel
 * chart as a Buffer (for a dashboard's image widget, an email or a file) and, when chosen, `msg.html` the
 * self-contained page. `msg.journeys` (array or comma-separated) and `msg.period` ({ from, to }) override the node's
 * settings. Core builds and draws the report.
 */
import {
	buildJourneyReport,
	parseRateCard,
	renderFunnelChart,
	renderReportHtml,
	reportPeriod,
	z,
} from '../core';
import type { JourneyStepReport, RateCard } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import { asError, connectionOf, parseNodeSettings } from './lib/node';

const settingsSchema = z.object({
	server: z
		.string({ required_error: 'choose a WhatsApp Cloud config' })
		.min(1, 'choose a WhatsApp Cloud config'),
	journeys: z.string().default(''),
	steps: z.string().default(''),
	period: z
		.enum(['today', 'last7Days', 'last30Days', 'last90Days', 'custom'], {
			message: "Period must be 'today', 'last7Days', 'last30Days', 'last90Days' or 'custom'",
		})
		.default('last7Days'),
	from: z.string().default(''),
	to: z.string().default(''),
	timeZone: z.string().trim().default(''),
	chart: z.boolean().default(true),
	html: z.boolean().default(false),
	rateCard: z.string().default(''),
});
type ReportSettings = z.infer<typeof settingsSchema>;
type ReportDef = NodeDef & Partial<Record<keyof ReportSettings, unknown>>;

const list = (value: unknown): string[] =>
	(Array.isArray(value) ? value.map(String) : String(value ?? '').split(','))
		.map((s) => s.trim())
		.filter((s) => s.length > 0);

const periodOverride = z
	.object({ from: z.union([z.string(), z.date()]), to: z.union([z.string(), z.date()]).optional() })
	.optional();

function register(RED: NodeAPI): void {
	function WhatsAppJourneyReportNode(this: NodeInstance, def: ReportDef): void {
		RED.nodes.createNode(this, def);
		const node = this;
		let settings: ReportSettings | undefined;
		let rateCard: RateCard | undefined;
		let setupError: Error | undefined;
		try {
			settings = parseNodeSettings(settingsSchema, def, 'WhatsApp Journey Report');
			connectionOf(RED, settings.server);
			if (settings.rateCard.trim()) rateCard = parseRateCard(settings.rateCard);
		} catch (error) {
			setupError = asError(error);
			node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
			node.error(setupError.message);
		}

		const report = async (msg: NodeMessage): Promise<JourneyStepReport[]> => {
			if (setupError || !settings)
				throw setupError ?? new Error('WhatsApp Journey Report is not configured');
			const s = settings;
			const cloud = connectionOf(RED, s.server);
			const override = periodOverride.safeParse(msg.period);
			if (!override.success)
				throw new Error('msg.period must be { from, to? } with dates (YYYY-MM-DD)');
			const period = override.data
				? reportPeriod('custom', override.data)
				: reportPeriod(s.period, { from: s.from, to: s.to });
			return buildJourneyReport(await cloud.store(), {
				phoneNumberId: cloud.phoneNumberId,
				journeys: list(msg.journeys ?? s.journeys),
				steps: list(msg.steps ?? s.steps),
				period,
				timeZone: s.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone,
				rateCard,
			});
		};

		node.on('input', (msg, send, done) => {
			report(msg).then(
				(reports) => {
					const s = settings!;
					node.status({ fill: 'green', shape: 'dot', text: `${reports.length} journey steps` });
					const out = reports.map((r, i): NodeMessage => {
						// Each step its own message (a shallow copy: the reports and charts are new objects).
						const m: NodeMessage = i === 0 ? msg : { ...msg };
						m.payload = r;
						const chart = s.chart || s.html ? renderFunnelChart(r) : undefined;
						if (s.chart) m.chart = chart;
						if (s.html) m.html = renderReportHtml([r], [chart]);
						return m;
					});
					// One message per journey step, in order on the one output, as n8n gives one item per step.
					send([out]);
					done();
				},
				(error: unknown) => {
					node.status({ fill: 'red', shape: 'ring', text: asError(error).message.slice(0, 60) });
					done(asError(error));
				},
			);
		});
	}
	RED.nodes.registerType('whatsapp-journey-report', WhatsAppJourneyReportNode);
}

export = register;
