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
	acceptsWebhookPosts,
	claimLeftBehind,
	computeSignature,
	describeFailure,
	downloadMedia,
	OutboxDrainClock,
	outboxEmitted,
	outboxRecoveryDelay,
	OUTBOX_TIMING,
	receiveIngestOptions,
	receiveWebhook,
	verifySubscription,
} from '../../core';
import type { ReceiverCredential } from '../../core';
import { getStateStore } from '../shared/store';
import {
	consumerOf,
	readTriggerCredential,
	receiveSettingsOf,
	resumeBy,
	runsExecutionsElsewhere,
	startResumeDispatcher,
} from '../shared/trigger';
import { createClient, getMetaCredential } from '../shared/transport';
import { Batcher, batchLimits } from './batcher';
import { webhookStatusProperties } from './description';

async function readReceiver(ctx: IWebhookFunctions, fresh: boolean): Promise<ReceiverCredential> {
	const { appSecretValue, phoneNumberId } = await readTriggerCredential(ctx, fresh);
	return { appSecret: appSecretValue, phoneNumberId };
}

/** Every trigger node's open batch, keyed by workflow and node. */
const batches = new Batcher<IDataObject>();

function batchKey(workflowId: string | undefined, nodeId: string): string {
	return `${workflowId ?? ''}|${nodeId}`;
}

/** When this process last looked for events a dead process left in each trigger's outbox. */
const drainClock = new OutboxDrainClock();

/** An empty delivery (no events): it only gives the trigger a request in which to emit left-behind events. */
const EMPTY_DELIVERY = '{"object":"whatsapp_business_account","entry":[]}';

/**
 * n8n lets a webhook node start executions only while it handles a request. So that events left in the outbox by a
 * process that died are emitted even if Meta sends nothing more, the activation (also at each n8n start) posts one
 * empty, signed delivery to the trigger's own URL once such entries can be claimed. If n8n cannot reach its own URL,
 * the next delivery from Meta drains them instead. n8n 2.40 (workflow publication service) calls checkExists at a
 * start only for webhooks not registered in its database, and a kill -9 leaves the registration there: after a crash
 * this poke is not sent (e2e: drained by the next delivery in both modes).
 */
function pokeAfterActivation(ctx: IHookFunctions, appSecret: string | undefined): void {
	const url = ctx.getNodeWebhookUrl('default');
	if (!url || ctx.getMode?.() === 'manual') return;
	const options = ctx.getNodeParameter('options', {}) as IDataObject;
	const { windowMs } = batchLimits(options);
	const helpers = ctx.helpers;
	const timer = setTimeout(() => {
		helpers
			.httpRequest({
				method: 'POST',
				url,
				body: EMPTY_DELIVERY,
				headers: {
					'content-type': 'application/json',
					...(appSecret
						? { 'x-hub-signature-256': computeSignature(EMPTY_DELIVERY, appSecret) }
						: {}),
				},
				json: false,
				ignoreHttpStatusErrors: true,
				timeout: 10_000,
			})
			.catch(() => undefined);
	}, outboxRecoveryDelay(windowMs));
	// A poke must not keep a stopping n8n alive: the entries wait in the store for the next start.
	timer.unref();
}

/** Items as n8n's webhook executions carry them: n8n pairs a trigger's items with themselves, index for index. */
function toItems(events: IDataObject[]): INodeExecutionData[] {
	return events.map((json, item) => ({ json, pairedItem: { item } }));
}

/**
 * The "Attach Media" option: each inbound media message's file as the binary field `data`. Meta's URL for it lives
 * 5 minutes and the media 7 days, so it is fetched as the execution starts. One failed download fails no other item.
 */
async function itemsWithMedia(
	ctx: IWebhookFunctions,
	events: IDataObject[],
): Promise<INodeExecutionData[]> {
	const items = toItems(events);
	const withMedia = items.filter((item) => inboundMedia(item.json) !== undefined);
	if (withMedia.length === 0) return items;
	const { client } = await createClient(ctx);
	for (const item of withMedia) {
		const media = inboundMedia(item.json)!;
		try {
			const file = await downloadMedia(client, media.id, { fileName: media.filename });
			item.binary = {
				data: await ctx.helpers.prepareBinaryData(file.data, file.fileName, file.mimeType),
			};
		} catch (error) {
			item.json = { ...item.json, mediaError: describeFailure(error) as IDataObject };
		}
	}
	return items;
}

function inboundMedia(json: IDataObject): { id: string; filename?: string } | undefined {
	const media = json.kind === 'message' ? (json.media as IDataObject | undefined) : undefined;
	return media && typeof media.id === 'string'
		? { id: media.id, filename: typeof media.filename === 'string' ? media.filename : undefined }
		: undefined;
}

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
		properties: webhookStatusProperties,
	};

	webhookMethods = {
		default: {
			async checkExists(this: IHookFunctions): Promise<boolean> {
				const credential = await getMetaCredential(this);
				const options = this.getNodeParameter('options', {}) as IDataObject;
				if (
					!acceptsWebhookPosts(
						{ appSecret: credential.appSecretValue },
						options.allowUnsigned === true,
					)
				) {
					throw new NodeOperationError(
						this.getNode(),
						'The credential has no App Secret, so webhook signatures cannot be checked: add the app secret, or turn on "Allow Unsigned Requests" for local testing only',
					);
				}
				pokeAfterActivation(this, credential.appSecretValue);
				// Resumes a stopped process claimed but never delivered go out now, not at the first webhook.
				startResumeDispatcher(this, (message, error) =>
					this.logger.warn(`WhatsApp Webhook Status: ${message}`, { error }),
				);
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
				batches.close(batchKey(this.getWorkflow().id, this.getNode().id));
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
				(await readTriggerCredential(this, true)).verifyToken,
			);
			if (check.ok) res.status(200).type('text/plain').send(check.challenge);
			else res.status(403).type('text/plain').send('Forbidden');
			return { noWebhookResponse: true };
		}

		const options = this.getNodeParameter('options', {}) as IDataObject;
		// A test webhook ("Listen for test event") takes one call only: nothing could join its batch, and nothing of it
		// is kept for the production trigger to emit later.
		const manual = this.getMode?.() === 'manual';
		const consumer = consumerOf(this);
		const outcome = await receiveWebhook({
			raw: (req as unknown as { rawBody?: Buffer }).rawBody ?? JSON.stringify(req.body ?? {}),
			signatureHeader: req.header('x-hub-signature-256'),
			credential: await readReceiver(this, false),
			freshCredential: () => readReceiver(this, true),
			allowUnsigned: options.allowUnsigned === true,
			allPhoneNumbers: options.allPhoneNumbers === true,
			includeRaw: options.includeRaw === true,
			store: () => getStateStore(this),
			ingest: receiveIngestOptions({ ...receiveSettingsOf(this), outbox: !manual }),
			resume: resumeBy(this),
		});
		if (outcome.kind === 'refused') {
			res.status(outcome.status).type('text/plain').send(outcome.reason);
			return { noWebhookResponse: true };
		}
		// Nothing was recorded: thrown as before, n8n answers with an error status and Meta delivers again.
		if (outcome.kind === 'failed') throw outcome.error;
		const limits = batchLimits(manual ? { batchWindow: 0 } : options);
		const store = () => getStateStore(this);
		let events = outcome.events as unknown as IDataObject[];
		// Events a process that died left in the outbox (acknowledged, never emitted) join this request's emission.
		if (!manual && drainClock.due(consumer)) {
			const left = await claimLeftBehind(await store(), consumer, limits.windowMs).catch(
				(error: unknown) => {
					this.logger.warn('WhatsApp Webhook Status: could not read the outbox', { error });
					return [];
				},
			);
			if (left.length > 0) events = [...(left as unknown as IDataObject[]), ...events];
		}
		// Acknowledge so Meta stops retrying, but start no execution for nothing.
		if (events.length === 0) return { webhookResponse: 'EVENT_RECEIVED' };

		// Handed to n8n: their outbox entries can go (after n8n has saved the execution; webhookOutbox.ts).
		const handedOver = (emitted: IDataObject[]): void => {
			if (!manual)
				outboxEmitted(
					store,
					consumer,
					emitted,
					(error) =>
						this.logger.warn('WhatsApp Webhook Status: could not clear the outbox', { error }),
					runsExecutionsElsewhere() ? OUTBOX_TIMING.queueDoneDelayMs : OUTBOX_TIMING.doneDelayMs,
				);
		};
		const placement = batches.add(
			batchKey(this.getWorkflow().id, this.getNode().id),
			events,
			limits,
		);
		const attachMedia = options.attachMedia === true;
		// One execution per POST. n8n answers Meta once the execution has been started.
		if (placement.role === 'alone' && !attachMedia) {
			handedOver(events);
			return { webhookResponse: 'EVENT_RECEIVED', workflowData: [toItems(events)] };
		}
		if (placement.role === 'joined') return { webhookResponse: 'EVENT_RECEIVED' };
		// Meta is answered now, not after the window (or the downloads); n8n sends nothing more for a call that says
		// noWebhookResponse.
		res.status(200).type('text/plain').send('EVENT_RECEIVED');
		const emitted = placement.role === 'alone' ? events : await placement.emitted;
		const items = attachMedia ? await itemsWithMedia(this, emitted) : toItems(emitted);
		handedOver(emitted);
		return { noWebhookResponse: true, workflowData: [items] };
	}
}
