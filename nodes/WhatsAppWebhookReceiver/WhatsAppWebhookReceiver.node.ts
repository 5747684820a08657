import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	INodeType,
	INodeTypeDescription,
	IRun,
	ITriggerFunctions,
	ITriggerResponse,
} from 'n8n-workflow';

import {
	acceptsWebhookPosts,
	listenWebhookReceiver,
	receiveIngestOptions,
	resumeDispatcher,
	WebhookReceiver,
} from '../../core';
import type { IngestedEvent } from '../../core';
import { batchLimits } from '../WhatsAppWebhookStatus/batcher';
import { getStateStore } from '../shared/store';
import { readTriggerCredential, receiveSettingsOf, resumeBy } from '../shared/trigger';
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

		// n8n swaps `this.emit` in manual mode ("Test step": its first call ends the test), so it is looked up per batch.
		// The returned promise settles when the execution has finished: the receiver keeps few executions running and
		// gathers larger batches meanwhile.
		const emitItems = async (events: IngestedEvent[]): Promise<void> => {
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
			);
			await done.promise;
		};
		const receiver = new WebhookReceiver({
			path,
			credential: () => read(false),
			freshCredential: () => read(true),
			allowUnsigned,
			allPhoneNumbers: options.allPhoneNumbers === true,
			includeRaw: options.includeRaw === true,
			store: () => getStateStore(this),
			ingest: receiveIngestOptions(receiveSettingsOf(this)),
			resume: resumeBy(this),
			// "Test step" takes one batch: emit the first POST's events at once.
			batch: (({ windowMs, maxItems }) => ({ windowMs: manual ? 0 : windowMs, maxItems }))(
				batchLimits(options),
			),
			emit: emitItems,
			// Errors are logged without the request: no body, signature or secret reaches the log.
			log: (message, error) =>
				this.logger.error(message, {
					error: error instanceof Error ? error.message : String(error ?? ''),
				}),
		});
		let stop: () => Promise<void>;
		try {
			stop = await listenWebhookReceiver({ host, port }, receiver);
		} catch (error) {
			throw new NodeOperationError(node, error instanceof Error ? error.message : String(error));
		}
		this.logger.info(`WhatsApp Webhook Receiver listening on http://${host}:${port}${path}`);
		// Resumes of Send and Wait claimed by a process that stopped before delivering them are delivered from here.
		if (!manual)
			void getStateStore(this)
				.then((store) => resumeDispatcher(store, resumeBy(this)))
				.catch((error: unknown) =>
					this.logger.warn('WhatsApp Webhook Receiver: could not look for pending resumes', {
						error: error instanceof Error ? error.message : String(error),
					}),
				);
		return {
			// Deactivation (or shutdown): stop taking POSTs, emit what was acknowledged, close the port.
			closeFunction: stop,
		};
	}
}
