import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	INodeType,
	INodeTypeDescription,
	IRun,
	ITriggerFunctions,
	ITriggerResponse,
} from 'n8n-workflow';

import { randomUUID } from 'node:crypto';

import {
	acceptsWebhookPosts,
	ReceiverOutbox,
	receiverWorkerEntry,
	startReceiverWorker,
} from '../../core';
import type { IngestedEvent } from '../../core';
import { batchLimits } from '../WhatsAppWebhookStatus/batcher';
import { getStateStore, stateStoreSettings } from '../shared/store';
import {
	consumerOf,
	readTriggerCredential,
	receiveSettingsOf,
	resumeBy,
	runsExecutionsElsewhere,
	startResumeDispatcher,
} from '../shared/trigger';
import {
	DEFAULT_RECEIVER_HOST,
	DEFAULT_RECEIVER_PORT,
	webhookReceiverProperties,
} from './description';

/**
 * A trigger (not a webhook node): n8n runs a node's `trigger()` for as long as its workflow is active, which is what a
 * listener of our own needs. A node type with both `webhook()` and `trigger()` would break "Listen for test event"
 * (n8n runs `trigger()` before it looks at `webhook()`), so this is a node of its own beside WhatsApp Webhook Status,
 * whose URL keeps working unchanged.
 */
export class WhatsAppWebhookReceiver implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Webhook Receiver',
		name: 'whatsAppWebhookReceiver',
		icon: { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{"port " + $parameter["port"] + " " + $parameter["path"]}}',
		description:
			"Takes Meta's WhatsApp webhooks at full rate on a port of its own (verified, de-duplicated, recorded, then batched into executions), for volumes n8n's webhook handling cannot keep up with",
		defaults: { name: 'WhatsApp Webhook Receiver' },
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
		properties: webhookReceiverProperties,
	};

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		const node = this.getNode();
		const options = this.getNodeParameter('options', {}) as IDataObject;
		const read = async (fresh: boolean) => {
			const c = await readTriggerCredential(this, fresh);
			return {
				appSecret: c.appSecretValue,
				phoneNumberId: c.phoneNumberId,
				verifyToken: c.verifyToken,
			};
		};
		const allowUnsigned = options.allowUnsigned === true;
		if (!acceptsWebhookPosts(await read(true), allowUnsigned))
			throw new NodeOperationError(
				node,
				'The credential has no App Secret, so webhook signatures cannot be checked: add the app secret, or turn on "Allow Unsigned Requests" for local testing only',
			);
		const manual = this.getMode() === 'manual';
		const host = String(
			this.getNodeParameter('host', DEFAULT_RECEIVER_HOST) || DEFAULT_RECEIVER_HOST,
		);
		const port = Number(this.getNodeParameter('port', DEFAULT_RECEIVER_PORT));
		const path = String(this.getNodeParameter('path', '')).trim();
		if (!path.startsWith('/'))
			throw new NodeOperationError(node, `Path must start with "/"; got "${path}"`);

		const limits = batchLimits(options);
		const store = () => getStateStore(this);
		// Acknowledged events stay in the trigger's outbox until their execution has finished (core/journeys/
		// webhookOutbox.ts); a test run ("Test step") keeps nothing.
		const outbox = manual
			? undefined
			: new ReceiverOutbox(
					store,
					consumerOf(this),
					runsExecutionsElsewhere(),
					() => `whatsapp-journeys:${consumerOf(this)}:${randomUUID()}`,
				);
		const warn = (message: string, error: unknown) =>
			this.logger.warn(message, {
				error: error instanceof Error ? error.message : String(error ?? ''),
			});

		// n8n swaps `this.emit` in manual mode ("Test step": its first call ends the test), so it is looked up per batch.
		// The returned promise settles when the execution has finished: the receiver keeps few executions running and
		// gathers larger batches meanwhile. Each batch's execution is created under its outbox key: n8n (2.x) refuses a
		// second execution with the same key, so a batch emitted again after a crash does not run twice.
		const emitItems = async (events: IngestedEvent[], reuseKey?: string): Promise<void> => {
			// Without the record (the store failed) the batch still goes out, with no key: its entries stay, so it is
			// emitted again, recovered, at the next start.
			const key = outbox
				? await outbox.handOver(events, reuseKey).catch((error: unknown) => {
						warn('WhatsApp Webhook Receiver: could not record a hand-over', error);
						return undefined;
					})
				: undefined;
			const done = this.helpers.createDeferredPromise<IRun>();
			this.emit(
				[
					events.map((json, item) => ({
						json: json as unknown as IDataObject,
						pairedItem: { item },
					})),
				],
				undefined,
				done,
				key,
			);
			try {
				await done.promise;
			} catch (error) {
				// Not started (or failed to run): the entries stay and the batch is emitted again at the next start.
				warn(
					'WhatsApp Webhook Receiver: an execution did not finish; its events stay in the outbox',
					error,
				);
				return;
			}
			// Finished, or n8n had this key's execution already: the entries go.
			if (outbox && key)
				await outbox
					.done(key, events)
					.catch((error: unknown) =>
						warn('WhatsApp Webhook Receiver: could not clear the outbox', error),
					);
		};
		const startedAt = Date.now();
		let stop: () => Promise<void>;
		try {
			// The listener, the checks and the store writes run in a worker thread; this thread only emits batches.
			stop = await startReceiverWorker(
				receiverWorkerEntry(__dirname, 'receiverWorker'),
				{
					address: { host, port },
					path,
					credential: await read(false),
					allowUnsigned,
					allPhoneNumbers: options.allPhoneNumbers === true,
					includeRaw: options.includeRaw === true,
					store: await stateStoreSettings(this),
					settings: { ...receiveSettingsOf(this), outbox: !manual },
					resume: true,
					// "Test step" takes one batch: emit the first POST's events at once.
					batch: { windowMs: manual ? 0 : limits.windowMs, maxItems: limits.maxItems },
				},
				{
					emit: (events) => emitItems(events),
					credential: () => read(true),
					resume: resumeBy(this),
					// Messages and error messages only: no body, signature or secret reaches the log.
					log: (message, error) => this.logger.error(message, { error: error ?? '' }),
					failed: (error) => this.emitError(error),
				},
			);
		} catch (error) {
			throw new NodeOperationError(node, error instanceof Error ? error.message : String(error));
		}
		this.logger.info(`WhatsApp Webhook Receiver listening on http://${host}:${port}${path}`);
		// What a process that died had acknowledged and not seen finish is emitted now, marked `recovered`: everything
		// recorded before this start that no batch of this process holds. In the background: activation does not wait.
		if (outbox)
			void outbox
				.leftBehind(startedAt, limits.maxItems)
				.then(async (batches) => {
					if (batches.length > 0)
						this.logger.info(
							`WhatsApp Webhook Receiver: emitting ${batches.reduce((n, b) => n + b.events.length, 0)} recovered events`,
						);
					await Promise.all(batches.map((b) => emitItems(b.events, b.key)));
				})
				.catch((error: unknown) =>
					warn('WhatsApp Webhook Receiver: could not read the outbox', error),
				);
		// Resumes of Send and Wait claimed by a process that stopped before delivering them are delivered from here.
		startResumeDispatcher(this, (message, error) =>
			warn(`WhatsApp Webhook Receiver: ${message}`, error),
		);
		return {
			// Deactivation (or shutdown): stop taking POSTs, emit what was acknowledged, close the port.
			closeFunction: stop,
		};
	}
}
