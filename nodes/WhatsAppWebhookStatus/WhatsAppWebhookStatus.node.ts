import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IHookFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';

import {
	ALL_EVENT_KINDS,
	ingestWebhookEvents,
	normalizeWebhook,
	parseStopKeywords,
	parseWebhookBody,
	verifySignature,
	verifySubscription,
} from '../../core';
import { getStateStore, stateStoreProperties } from '../shared/store';
import { RecentReadings } from '../shared/credentials';
import type { MetaCredential } from '../shared/credentials';
import { createClient, getMetaCredential } from '../shared/transport';

const EVENT_OPTIONS = [
	{ name: 'Status: Sent', value: 'status:sent' },
	{ name: 'Status: Delivered', value: 'status:delivered' },
	{ name: 'Status: Read', value: 'status:read' },
	{ name: 'Status: Failed', value: 'status:failed' },
	{ name: 'Status: Played (Voice)', value: 'status:played' },
	{ name: 'Inbound Message', value: 'message' },
	{ name: 'User Marketing Preference', value: 'user_preference' },
	{ name: 'Template Status Update', value: 'template_status' },
	{ name: 'Template Quality Update', value: 'template_quality' },
	{ name: 'Template Category Update', value: 'template_category' },
	{ name: 'Webhook Error', value: 'error' },
];

/**
 * Each trigger node (per workflow) reuses its last credential reading for 30 s; a POST refused with a reading is
 * checked again with a fresh one, so a rotated app secret applies at once. A reading without an app secret (unsigned
 * testing) is never reused, so adding a secret is enforced from the next POST. Other fields (the phone number id
 * filter) apply within this time.
 */
const credentialReadings = new RecentReadings<MetaCredential>(30_000);

function readCredential(ctx: IWebhookFunctions, fresh: boolean): Promise<MetaCredential> {
	const node = ctx.getNode();
	const key = `${ctx.getWorkflow().id ?? ''}|${node.id}|${node.credentials?.metaWhatsAppCloudApi?.id ?? ''}`;
	return credentialReadings.get(key, () => getMetaCredential(ctx), {
		fresh,
		keep: (c) => Boolean(c.appSecretValue),
	});
}

/** Why a POST must be refused with 401, or undefined when its signature verifies (or unsigned is allowed). */
function signatureRefusal(
	credential: MetaCredential,
	raw: Buffer | string,
	header: string | undefined,
	allowUnsigned: boolean,
): string | undefined {
	if (credential.appSecretValue)
		return verifySignature(raw, header, credential.appSecretValue)
			? undefined
			: 'Invalid signature';
	return allowUnsigned ? undefined : 'Signature cannot be verified: no app secret configured';
}

/**
 * Batching. n8n starts and saves an execution per webhook call that returns workflowData, at ~70 ms of its CPU
 * each, while Meta usually sends one status per POST: one execution per POST caps a workflow far below Meta's
 * rates. So the first POST that finds no open batch (the leader) answers Meta itself, keeps the batch open for the
 * window, and then returns every event that joined it; later POSTs of the same trigger node in this process
 * verify and ingest their events as before, append them, answer 200 and start nothing. Batches live in this
 * process's memory: in queue mode each main/webhook process batches what it receives.
 */
const DEFAULT_BATCH_WINDOW_MS = 200;
const MAX_BATCH_WINDOW_MS = 10_000;
const DEFAULT_MAX_ITEMS = 1000;
const MAX_MAX_ITEMS = 10_000;

interface OpenBatch {
	events: IDataObject[];
	close(): void;
}
/** At most one open batch per trigger node; each holds at most its limit of events (or one larger POST alone). */
const openBatches = new Map<string, OpenBatch>();

function batchKey(workflowId: string | undefined, nodeId: string): string {
	return `${workflowId ?? ''}|${nodeId}`;
}

/** Opens a batch for `key`; the promise resolves with its events when the window ends, it fills or is closed. */
function openBatch(
	key: string,
	events: IDataObject[],
	windowMs: number,
): { batch: OpenBatch; emitted: Promise<IDataObject[]> } {
	let resolve!: (events: IDataObject[]) => void;
	const emitted = new Promise<IDataObject[]>((r) => (resolve = r));
	let closed = false;
	const batch: OpenBatch = {
		events: [...events],
		close() {
			if (closed) return;
			closed = true;
			clearTimeout(timer);
			// Removed synchronously, so no POST can join a batch its leader has already returned.
			if (openBatches.get(key) === batch) openBatches.delete(key);
			resolve(batch.events);
		},
	};
	// Not unref'd: the events it holds were acknowledged to Meta, so the process should live until they are emitted.
	const timer = setTimeout(() => batch.close(), windowMs);
	openBatches.set(key, batch);
	return { batch, emitted };
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
	const n = typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : fallback;
	return Math.min(max, Math.max(min, n));
}

/** Items as n8n's webhook executions carry them: n8n pairs a trigger's items with themselves, index for index. */
function toItems(events: IDataObject[]): INodeExecutionData[] {
	return events.map((json, item) => ({ json, pairedItem: { item } }));
}

const DEFAULT_EVENTS = [
	'status:sent',
	'status:delivered',
	'status:read',
	'status:failed',
	'status:played',
	'message',
];

export class WhatsAppWebhookStatus implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Webhook Status',
		name: 'whatsAppWebhookStatus',
		icon: { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle:
			'={{$parameter["registration"] === "automatic" ? "auto-registered webhook" : "manual webhook"}}',
		description:
			'Starts the workflow on WhatsApp status updates (sent, delivered, read, failed) and inbound messages, verified, de-duplicated and joined back to the journey that sent them',
		defaults: { name: 'WhatsApp Webhook Status' },
		inputs: [],
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
		webhooks: [
			{ name: 'setup', httpMethod: 'GET', responseMode: 'onReceived', path: 'whatsapp' },
			{ name: 'default', httpMethod: 'POST', responseMode: 'onReceived', path: 'whatsapp' },
		],
		properties: [
			{
				displayName: 'Registration',
				name: 'registration',
				type: 'options',
				options: [
					{
						name: 'Manual',
						value: 'manual',
						description:
							"Paste this node's Production URL and the credential's verify token into your Meta app's WhatsApp webhook settings",
					},
					{
						name: 'Automatic (Phone Number Override)',
						value: 'automatic',
						description:
							"On activation, point the credential's phone number at this workflow with a callback override; removed on deactivation. Lets several workflows and numbers share one Meta app.",
					},
				],
				default: 'manual',
			},
			{
				displayName:
					'Manual registration: in your Meta app (WhatsApp → Configuration) set the Callback URL to this node\'s Production URL, the Verify Token to the credential\'s, and subscribe to the "messages" field.',
				name: 'manualNotice',
				type: 'notice',
				default: '',
				displayOptions: { show: { registration: ['manual'] } },
			},
			{
				displayName: 'Events',
				name: 'events',
				type: 'multiOptions',
				options: EVENT_OPTIONS,
				default: [...DEFAULT_EVENTS],
				description:
					'Which events start the workflow. Window, opt-out and status records are kept for every event either way.',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'All Phone Numbers',
						name: 'allPhoneNumbers',
						type: 'boolean',
						default: false,
						description:
							"Whether to emit events of every phone number of the app, not only the credential's phone number",
					},
					{
						displayName: 'Allow Unsigned Requests (Insecure, Local Testing)',
						name: 'allowUnsigned',
						type: 'boolean',
						default: false,
						description:
							'Whether to accept POSTs without a valid X-Hub-Signature-256 when the credential has no app secret. Anyone who knows the URL could then fake statuses. Never for production.',
					},
					{
						displayName: 'Batch Window (Milliseconds)',
						name: 'batchWindow',
						type: 'number',
						typeOptions: { minValue: 0, maxValue: MAX_BATCH_WINDOW_MS },
						default: DEFAULT_BATCH_WINDOW_MS,
						description:
							'How long the first POST waits for more before starting one execution with all their events: n8n spends far more per execution than per event, and Meta sends about one status per POST. 0 starts one execution per POST. Events are acknowledged to Meta before they are emitted, so a crash within the window loses them.',
					},
					{
						displayName: 'De-Duplicate',
						name: 'deduplicate',
						type: 'boolean',
						default: true,
						description:
							'Whether to emit each event once: Meta retries webhooks for up to 7 days and sends duplicates',
					},
					{
						displayName: 'Include Raw Payload',
						name: 'includeRaw',
						type: 'boolean',
						default: false,
					},
					{
						displayName: 'Late Statuses',
						name: 'lateStatuses',
						type: 'options',
						options: [
							{
								name: 'Drop',
								value: 'drop',
								description: 'A delivered that arrives after read is not emitted',
							},
							{
								name: 'Emit and Flag',
								value: 'flag',
								description:
									'Emit it with lateStatus: true; the stored status stays the higher one',
							},
						],
						default: 'drop',
					},
					{
						displayName: 'Max Items per Execution',
						name: 'maxItemsPerExecution',
						type: 'number',
						typeOptions: { minValue: 1, maxValue: MAX_MAX_ITEMS },
						default: DEFAULT_MAX_ITEMS,
						description:
							'A batch that reaches this many events starts its execution at once; the next POST opens a new batch. A single POST is never split, so one carrying more events than this starts an execution of its own.',
					},
					{
						displayName: 'Record Conversation Windows',
						name: 'recordWindows',
						type: 'boolean',
						default: true,
						description:
							'Whether inbound messages open the 24-hour window (and ad referrals the 72-hour free entry point window) in the state store',
					},
					{
						displayName: 'Record Opt-Outs',
						name: 'recordOptOuts',
						type: 'boolean',
						default: true,
						description:
							'Whether user marketing preference webhooks and stop keywords are recorded as opt-outs',
					},
					{
						displayName: 'Stop Keywords',
						name: 'stopKeywords',
						type: 'string',
						default: 'STOP, UNSUBSCRIBE',
						description:
							'Comma-separated inbound texts that count as "stop marketing" (whole message, any case)',
					},
				],
			},
			...stateStoreProperties,
		],
	};

	webhookMethods = {
		default: {
			async checkExists(this: IHookFunctions): Promise<boolean> {
				const credential = await getMetaCredential(this);
				const options = this.getNodeParameter('options', {}) as IDataObject;
				if (!credential.appSecretValue && options.allowUnsigned !== true) {
					throw new NodeOperationError(
						this.getNode(),
						'The credential has no App Secret, so webhook signatures cannot be checked: add the app secret, or turn on "Allow Unsigned Requests" for local testing only',
					);
				}
				if (this.getNodeParameter('registration', 'manual') !== 'automatic') return true;
				const { client } = await createClient(this);
				return (await client.getPhoneNumberCallback()) === this.getNodeWebhookUrl('default');
			},
			async create(this: IHookFunctions): Promise<boolean> {
				if (this.getNodeParameter('registration', 'manual') !== 'automatic') return true;
				const { client, credential } = await createClient(this);
				if (!credential.verifyToken) {
					throw new NodeOperationError(
						this.getNode(),
						'Automatic registration needs a Webhook Verify Token in the credential',
					);
				}
				const url = this.getNodeWebhookUrl('default');
				if (!url)
					throw new NodeOperationError(
						this.getNode(),
						'n8n did not provide a webhook URL for this node',
					);
				return client.setPhoneNumberCallback(url, credential.verifyToken);
			},
			async delete(this: IHookFunctions): Promise<boolean> {
				// Deactivated: a batch still open emits now, rather than at the end of its window.
				openBatches.get(batchKey(this.getWorkflow().id, this.getNode().id))?.close();
				if (this.getNodeParameter('registration', 'manual') !== 'automatic') return true;
				const { client } = await createClient(this);
				// Only remove the override if it still points at this workflow: another workflow may have taken it over.
				if ((await client.getPhoneNumberCallback()) !== this.getNodeWebhookUrl('default'))
					return true;
				return client.clearPhoneNumberCallback();
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject();
		const res = this.getResponseObject();

		if (this.getWebhookName() === 'setup') {
			const check = verifySubscription(
				this.getQueryData() as Record<string, unknown>,
				(await readCredential(this, true)).verifyToken,
			);
			if (check.ok) res.status(200).type('text/plain').send(check.challenge);
			else res.status(403).type('text/plain').send('Forbidden');
			return { noWebhookResponse: true };
		}

		const options = this.getNodeParameter('options', {}) as IDataObject;
		const raw: Buffer | string =
			(req as unknown as { rawBody?: Buffer }).rawBody ?? JSON.stringify(req.body ?? {});
		const header = req.header('x-hub-signature-256');
		const allowUnsigned = options.allowUnsigned === true;
		let credential = await readCredential(this, false);
		let refusal = signatureRefusal(credential, raw, header, allowUnsigned);
		if (refusal) {
			credential = await readCredential(this, true);
			refusal = signatureRefusal(credential, raw, header, allowUnsigned);
		}
		if (refusal) {
			res.status(401).type('text/plain').send(refusal);
			return { noWebhookResponse: true };
		}

		const parsed = parseWebhookBody(raw);
		if (!parsed.ok) {
			res.status(parsed.status).type('text/plain').send(parsed.reason);
			return { noWebhookResponse: true };
		}
		const events = normalizeWebhook(parsed.body, {
			phoneNumberId: options.allPhoneNumbers === true ? undefined : credential.phoneNumberId,
			includeRaw: options.includeRaw === true,
		});
		const selected = this.getNodeParameter('events', DEFAULT_EVENTS) as string[];
		const store = await getStateStore(this);
		const ingested = await ingestWebhookEvents(events, store, {
			deduplicate: options.deduplicate !== false,
			lateStatuses: options.lateStatuses === 'flag' ? 'flag' : 'drop',
			recordWindows: options.recordWindows !== false,
			recordOptOuts: options.recordOptOuts !== false,
			stopKeywords: parseStopKeywords(
				typeof options.stopKeywords === 'string' ? options.stopKeywords : 'STOP, UNSUBSCRIBE',
			),
			emit: new Set(selected.length > 0 ? selected : ALL_EVENT_KINDS),
			consumer: `${this.getWorkflow().id ?? ''}:${this.getNode().id}`,
		});
		if (ingested.events.length === 0) {
			// Acknowledge so Meta stops retrying, but start no execution for nothing.
			return { webhookResponse: 'EVENT_RECEIVED' };
		}
		const batchEvents = ingested.events as unknown as IDataObject[];
		// A test webhook ("Listen for test event") takes one call only: nothing could join its batch.
		const windowMs =
			this.getMode?.() === 'manual'
				? 0
				: clampInt(options.batchWindow, DEFAULT_BATCH_WINDOW_MS, 0, MAX_BATCH_WINDOW_MS);
		const maxItems = clampInt(options.maxItemsPerExecution, DEFAULT_MAX_ITEMS, 1, MAX_MAX_ITEMS);
		// One execution per POST. n8n answers Meta once the execution has been started.
		const alone = (): IWebhookResponseData => ({
			webhookResponse: 'EVENT_RECEIVED',
			workflowData: [toItems(batchEvents)],
		});
		if (windowMs === 0) return alone();

		const key = batchKey(this.getWorkflow().id, this.getNode().id);
		const open = openBatches.get(key);
		if (open && open.events.length + batchEvents.length <= maxItems) {
			// Join: everything from here to the return is synchronous, so the batch cannot close in between.
			open.events.push(...batchEvents);
			if (open.events.length >= maxItems) open.close();
			return { webhookResponse: 'EVENT_RECEIVED' };
		}
		// This POST does not fit: the open batch starts its execution now, and this POST leads the next one.
		open?.close();
		if (batchEvents.length >= maxItems) return alone();

		const { emitted } = openBatch(key, batchEvents, windowMs);
		// Meta is answered now, not after the window; n8n sends nothing more for a call that says noWebhookResponse.
		res.status(200).type('text/plain').send('EVENT_RECEIVED');
		return { noWebhookResponse: true, workflowData: [toItems(await emitted)] };
	}
}
