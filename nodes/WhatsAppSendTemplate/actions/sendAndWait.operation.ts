/**
 * Send and Wait for Response: sends an approved template (quick-reply buttons are the usual case) or, inside the
 * customer service window, reply buttons, a list or a text (core's waitMessageFrom) to one customer,
 * links its wamid to this execution's signed resume URL in the journey state store, and puts the execution to wait.
 * The webhook trigger that receives the tap, reply or status claims it (core resumeWaits) and its resume dispatcher
 * POSTs the resume here, where it is taken once (core acceptResumeRequest); n8n's own
 * timeout resumes it on "No Response". The rules are core's (journeys/sendAndWait.ts); this reads parameters, sends,
 * and routes.
 *
 * One customer per execution: n8n resumes an execution once, so several customers waiting at once each need their own
 * execution (an Execute Workflow node per item, not waiting for the sub-workflow; see README).
 */
import { NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';

import {
	acceptResumeRequest,
	newWaitLink,
	prepareSessionSend,
	waitMessageFrom,
	RESUME_PROOF_HEADER,
	resumedItem,
	waitDeadline,
	waitOutputIndex,
	waitOutputNames,
	waitSpecFrom,
	waitSpecSchema,
} from '../../../core';
import type { WaitMessageFields, WaitSpec, WaitTimeout } from '../../../core';
import { getStateStore } from '../../shared/store';
import { getMetaCredential } from '../../shared/transport';
import { sendItems } from './send';
import { templateSender } from './sendTemplate.operation';

const show = { operation: ['sendAndWait'] };
const showFor = (...kinds: string[]) => ({ show: { ...show, waitMessageType: kinds } });

/** Shown before the template's parameters: what the wait sends. */
export const messageTypeProperty: INodeProperties = {
	displayName: 'Message Type',
	name: 'waitMessageType',
	type: 'options',
	noDataExpression: true,
	default: 'template',
	displayOptions: { show },
	options: [
		{
			name: 'List',
			value: 'list',
			description: 'A list of up to 10 rows, inside the 24-hour service window; one output per row',
		},
		{
			name: 'Reply Buttons',
			value: 'buttons',
			description:
				'Up to 3 reply buttons, inside the 24-hour service window; one output per button',
		},
		{
			name: 'Template',
			value: 'template',
			description:
				'An approved template (quick replies are the usual case); works outside the window',
		},
		{
			name: 'Text',
			value: 'text',
			description: 'A text, inside the 24-hour service window; any reply ends the wait on Reply',
		},
	],
	description:
		'Outside the service window only a template reaches the customer: Meta fails the others with 131047, which ends the wait on Failed',
};

export const description: INodeProperties[] = [
	{
		displayName: 'Text',
		name: 'waitText',
		type: 'string',
		typeOptions: { rows: 4 },
		default: '',
		required: true,
		displayOptions: showFor('buttons', 'list', 'text'),
		description:
			'The message (a text up to 4,096 characters; the body above buttons up to 1,024, above a list up to 4,096)',
	},
	{
		displayName: 'Header',
		name: 'waitHeader',
		type: 'string',
		default: '',
		displayOptions: showFor('buttons', 'list'),
		description: 'Optional text above the message (max 60 characters)',
	},
	{
		displayName: 'Footer',
		name: 'waitFooter',
		type: 'string',
		default: '',
		displayOptions: showFor('buttons', 'list'),
		description: 'Optional small text below the message (max 60 characters)',
	},
	{
		displayName: 'Buttons',
		name: 'waitReplyButtons',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, maxAllowedFields: 3 },
		default: {},
		placeholder: 'Add Button',
		displayOptions: showFor('buttons'),
		description: 'Up to 3 buttons; each gets its own output, in this order',
		options: [
			{
				name: 'button',
				displayName: 'Button',
				values: [
					{
						displayName: 'Title',
						name: 'title',
						type: 'string',
						default: '',
						description: 'Shown on the button and names its output (max 20 characters)',
					},
					{
						displayName: 'ID',
						name: 'id',
						type: 'string',
						default: '',
						description: 'Returned in the reply webhook (max 256 characters); empty uses the title',
					},
				],
			},
		],
	},
	{
		displayName: 'List Button Text',
		name: 'waitListButton',
		type: 'string',
		default: 'Choose',
		displayOptions: showFor('list'),
		description: 'The button that opens the list (max 20 characters)',
	},
	{
		displayName: 'List Rows',
		name: 'waitListRows',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		default: {},
		placeholder: 'Add Row',
		displayOptions: showFor('list'),
		description: 'Up to 10 rows in all; each gets its own output, in this order',
		options: [
			{
				name: 'row',
				displayName: 'Row',
				values: [
					{
						displayName: 'Title',
						name: 'title',
						type: 'string',
						default: '',
						description: 'Shown in the list and names its output (max 24 characters)',
					},
					{
						displayName: 'ID',
						name: 'id',
						type: 'string',
						default: '',
						description: 'Returned in the reply webhook (max 200 characters); empty uses the title',
					},
					{
						displayName: 'Description',
						name: 'description',
						type: 'string',
						default: '',
						description: 'Max 72 characters',
					},
					{
						displayName: 'Section',
						name: 'section',
						type: 'string',
						default: '',
						description:
							'Rows with the same section title are grouped (max 24 characters; needed when there are several sections)',
					},
				],
			},
		],
	},
	{
		displayName: 'Reply Buttons',
		name: 'waitButtons',
		type: 'string',
		typeOptions: { rows: 3 },
		default: '',
		required: true,
		noDataExpression: true,
		placeholder: 'Confirm\nReschedule',
		displayOptions: showFor('template'),
		description:
			"The template's quick-reply buttons, one per line, exactly as the template shows them. Each gets its own output, in this order.",
	},
	{
		displayName: 'Resume on Status',
		name: 'waitForStatus',
		type: 'options',
		noDataExpression: true,
		default: 'none',
		displayOptions: { show },
		options: [
			{ name: 'No', value: 'none', description: 'Only a reply (or a failure) ends the wait' },
			{
				name: 'Delivered',
				value: 'delivered',
				description: 'The message reaching the phone ends the wait, on the Status output',
			},
			{
				name: 'Read',
				value: 'read',
				description: 'The customer reading the message ends the wait, on the Status output',
			},
		],
	},
	{
		displayName: 'Limit Type',
		name: 'waitLimitType',
		type: 'options',
		default: 'afterTimeInterval',
		displayOptions: { show },
		options: [
			{ name: 'After Time Interval', value: 'afterTimeInterval' },
			{ name: 'At Specified Time', value: 'atSpecifiedTime' },
		],
		description: 'When the wait ends on No Response if nothing came',
	},
	{
		displayName: 'Wait Amount',
		name: 'waitAmount',
		type: 'number',
		typeOptions: { minValue: 0.01, numberPrecision: 2 },
		default: 24,
		displayOptions: { show: { ...show, waitLimitType: ['afterTimeInterval'] } },
	},
	{
		displayName: 'Wait Unit',
		name: 'waitUnit',
		type: 'options',
		default: 'hours',
		displayOptions: { show: { ...show, waitLimitType: ['afterTimeInterval'] } },
		options: [
			{ name: 'Minutes', value: 'minutes' },
			{ name: 'Hours', value: 'hours' },
			{ name: 'Days', value: 'days' },
		],
	},
	{
		displayName: 'Wait Until',
		name: 'waitUntil',
		type: 'dateTime',
		default: '',
		displayOptions: { show: { ...show, waitLimitType: ['atSpecifiedTime'] } },
	},
];

function fail(ctx: IExecuteFunctions, message: string): never {
	throw new NodeOperationError(ctx.getNode(), message);
}

interface Choice {
	id?: string;
	title?: string;
	description?: string;
	section?: string;
}

/** The wait's own message (Reply Buttons, List, Text) as fields for core; undefined for a template. */
function waitMessageFields(ctx: IExecuteFunctions): WaitMessageFields | undefined {
	const type = String(ctx.getNodeParameter('waitMessageType', 0, 'template'));
	if (type !== 'buttons' && type !== 'list' && type !== 'text') return undefined;
	const text = String(ctx.getNodeParameter('waitText', 0, ''));
	if (type === 'text') return { type, text };
	const header = String(ctx.getNodeParameter('waitHeader', 0, '')) || undefined;
	const footer = String(ctx.getNodeParameter('waitFooter', 0, '')) || undefined;
	if (type === 'buttons') {
		const buttons = ctx.getNodeParameter('waitReplyButtons', 0, {}) as { button?: Choice[] };
		return { type, text, header, footer, buttons: buttons.button ?? [] };
	}
	const rows = ctx.getNodeParameter('waitListRows', 0, {}) as { row?: Choice[] };
	return {
		type,
		text,
		header,
		footer,
		rows: (rows.row ?? []).map((r) => ({ ...r, section: r.section || undefined })),
		listButton: String(ctx.getNodeParameter('waitListButton', 0, 'Choose')),
	};
}

function timeoutOf(ctx: IExecuteFunctions): WaitTimeout {
	if (ctx.getNodeParameter('waitLimitType', 0, 'afterTimeInterval') === 'atSpecifiedTime')
		return { until: String(ctx.getNodeParameter('waitUntil', 0, '')) };
	return {
		after: {
			amount: Number(ctx.getNodeParameter('waitAmount', 0, 24)),
			unit: ctx.getNodeParameter('waitUnit', 0, 'hours') as 'minutes' | 'hours' | 'days',
		},
	};
}

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const input = this.getInputData();
	if (input.length !== 1)
		fail(
			this,
			`Send and Wait waits for one customer per execution, and got ${input.length} items: n8n resumes an execution once. Send each item to a sub-workflow (Execute Workflow, "Run once for each item", Wait for Sub-Workflow Completion off) that holds this node.`,
		);
	const executionId = this.getExecutionId();
	if (!executionId) fail(this, 'Send and Wait needs a saved execution to resume.');
	let spec: WaitSpec;
	let deadline: number;
	let own: ReturnType<typeof waitMessageFrom> | undefined;
	try {
		const s = String(this.getNodeParameter('waitForStatus', 0, 'none'));
		const status = s === 'none' ? undefined : s;
		const fields = waitMessageFields(this);
		own = fields ? waitMessageFrom(fields, status) : undefined;
		spec =
			own?.spec ??
			waitSpecFrom({ buttons: String(this.getNodeParameter('waitButtons', 0, '')), status });
		deadline = waitDeadline(timeoutOf(this), Date.now());
	} catch (error) {
		fail(this, (error as Error).message);
	}
	const outputs = waitOutputs(this, spec);
	const message = own?.message;
	// A session message goes through the same send as Send Session Message (pacing, rules, tracking, 131047 …).
	const [done, skipped] = await sendItems(
		this,
		message ? () => async () => prepareSessionSend(message) : templateSender,
	);
	if (skipped?.length) {
		// Version 2: a journey rule kept the message back; nothing to wait for, and "Skipped by Policy" says why.
		outputs[outputs.length - 1] = [{ ...skipped[0], pairedItem: { item: 0 } }];
		return outputs;
	}
	const sent = done[0];
	const result = sent.json as IDataObject;
	const messageId = typeof result.messageId === 'string' ? result.messageId : undefined;
	const waId = typeof result.waId === 'string' ? result.waId : undefined;
	if (!messageId || !waId) {
		// Not sent (Continue on Fail kept the error, or a policy skipped it): nothing to wait for.
		outputs[waitOutputIndex(spec, { kind: 'failed' })] = [{ ...sent, pairedItem: { item: 0 } }];
		return outputs;
	}

	const store = await getStateStore(this, 0);
	const { phoneNumberId } = await getMetaCredential(this);
	// Written before the result is returned: a tap that comes at once finds its wait.
	await store.putWaitLink(
		newWaitLink({
			phoneNumberId,
			sent: { ...result, messageId, waId },
			executionId,
			resumeUrl: this.getSignedResumeUrl(),
			spec,
			deadline,
		}),
	);
	await this.putExecutionToWait(new Date(deadline));
	// Shown while waiting; n8n replaces it with the resumed output. A timeout passes this node's input on output 0.
	outputs[0] = [{ json: { ...result, waiting: true }, pairedItem: { item: 0 } }];
	return outputs;
}

/** The execution id in the resume URL (/webhook-waiting/<execution>/<node>), for hosts whose context has none. */
function executionIdOf(ctx: IWebhookFunctions): string {
	const fromContext = (
		ctx as unknown as { getExecutionId?: () => string | undefined }
	).getExecutionId?.();
	if (fromContext) return fromContext;
	const url = ctx.getRequestObject().originalUrl ?? ctx.getRequestObject().url ?? '';
	const parts = url.split('?')[0].split('/');
	return parts[parts.length - 2] ?? '';
}

/** The resume request from the trigger: verified against the wait link, then routed to its output. */
export async function webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
	const req = this.getRequestObject();
	const res = this.getResponseObject();
	const raw = (req as unknown as { rawBody?: Buffer }).rawBody;
	// Ends the wait in the store before resuming: a repeated delivery of this resume is refused (410).
	const check = await acceptResumeRequest(
		raw ? raw.toString('utf8') : JSON.stringify(req.body ?? {}),
		req.header(RESUME_PROOF_HEADER),
		executionIdOf(this),
		await getStateStore(this),
	);
	if (!check.ok) {
		res.status(check.status).json({ error: check.reason });
		return { noWebhookResponse: true };
	}
	const spec = waitSpecSchema.parse(JSON.parse(check.link.spec));
	const outputs = waitOutputs(this, spec);
	outputs[waitOutputIndex(spec, check.body.outcome)] = [
		{ json: resumedItem(check.link, check.body) as IDataObject, pairedItem: { item: 0 } },
	];
	return { webhookResponse: { resumed: true }, workflowData: outputs };
}

/** One array per output: Send and Wait's, then (version 2) Skipped by Policy — as outputs.ts lays them out. */
function waitOutputs(
	ctx: IExecuteFunctions | IWebhookFunctions,
	spec: WaitSpec,
): INodeExecutionData[][] {
	const outputs: INodeExecutionData[][] = waitOutputNames(spec).map(() => []);
	if (ctx.getNode().typeVersion >= 2) outputs.push([]);
	return outputs;
}
