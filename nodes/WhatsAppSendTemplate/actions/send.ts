/**
 * The n8n side of both send operations: options and client once per execution; per item the recipient, the
 * operation's content and the tracking, prepared by core; then the paced batch, and one output item per input item.
 */
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData, JsonObject } from 'n8n-workflow';

import {
	MediaUploads,
	SendPacer,
	WhatsAppApiError,
	deliveryOptionsSchema,
	describeFailure,
	normalizePhoneNumber,
	pacingOf,
	prepareSend,
	retryPolicyOf,
	sendBatch,
	sendSlots,
	toDryRunResult,
	toSendFailure,
	toSendResult,
	trackingFor,
} from '../../../core';
import type {
	CloudApiClient,
	DeliveryOptions,
	JourneyStateStore,
	PreparedSend,
	Recipient,
	SendContent,
	SendOutcome,
} from '../../../core';
import { getStateStore } from '../../shared/store';
import { createClient } from '../../shared/transport';
import type { MetaCredential } from '../../shared/credentials';
import { itemParameterReader } from '../../shared/parameters';
import type { ParameterReader } from '../../shared/parameters';
import { phoneNumberHints, phoneNumberInfo } from '../../shared/senderInfo';

/** Delivery options shape the whole run, so they are read once (item 0) and validated once. */
function readDeliveryOptions(ctx: IExecuteFunctions): DeliveryOptions {
	const parsed = deliveryOptionsSchema.safeParse(ctx.getNodeParameter('options', 0, {}));
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw new NodeOperationError(
			ctx.getNode(),
			`Option "${issue.path.join('.')}": ${issue.message}`,
		);
	}
	return parsed.data;
}

/** Uploads each distinct binary file once per execution and hands back its media ID. */
export class BinaryUploader {
	private readonly uploads = new MediaUploads();

	constructor(
		private readonly ctx: IExecuteFunctions,
		private readonly client: CloudApiClient,
	) {}

	async mediaId(itemIndex: number, propertyName: string): Promise<string> {
		const meta = this.ctx.helpers.assertBinaryData(itemIndex, propertyName);
		const data = await this.ctx.helpers.getBinaryDataBuffer(itemIndex, propertyName);
		return this.uploads.mediaId(this.client, {
			data,
			fileName: meta.fileName ?? 'file',
			mimeType: meta.mimeType,
		});
	}
}

export function toNodeError(
	ctx: IExecuteFunctions,
	error: Error,
	itemIndex: number,
): NodeApiError | NodeOperationError {
	if (error instanceof WhatsAppApiError) {
		return new NodeApiError(ctx.getNode(), describeFailure(error) as JsonObject, {
			itemIndex,
			message: error.message,
			description: `${error.info.meaning} ${error.info.action}`,
			httpCode: error.httpStatus !== undefined ? String(error.httpStatus) : undefined,
		});
	}
	return new NodeOperationError(ctx.getNode(), error.message, { itemIndex });
}

/** What an operation gets, once per execution, to build each item's content. */
export interface SendRun {
	ctx: IExecuteFunctions;
	client: CloudApiClient;
	credential: MetaCredential;
	uploader: BinaryUploader;
	/** Parameter reads for one item: expression-free parameters are evaluated once per execution. */
	param: ParameterReader;
	/** The journey state store, opened once per execution (its settings are per node, not per item). */
	store: () => Promise<JourneyStateStore>;
}

/** An operation's part of a send: one item's content, for its normalised recipient. */
export type ContentBuilder = (itemIndex: number, recipient: Recipient) => Promise<SendContent>;

/**
 * Runs a send operation: `builderFor` is called once per execution and returns the per-item builder. A bad item stops
 * the run before any request leaves, unless Continue on Fail routes it to an error item.
 */
export async function sendItems(
	ctx: IExecuteFunctions,
	builderFor: (run: SendRun) => ContentBuilder,
): Promise<INodeExecutionData[][]> {
	const options = readDeliveryOptions(ctx);
	const { client, credential } = await createClient(ctx, retryPolicyOf(options));
	// Read alongside the batch, never in its way: it only feeds the output pane's hints.
	const sender = phoneNumberInfo(client, credential);
	const param = itemParameterReader(ctx);
	let store: Promise<JourneyStateStore> | undefined;
	const run: SendRun = {
		ctx,
		client,
		credential,
		uploader: new BinaryUploader(ctx, client),
		param,
		store: () => (store ??= getStateStore(ctx, 0)),
	};
	const build = builderFor(run);
	const continueOnFail = ctx.continueOnFail();
	const workflowId = ctx.getWorkflow().id ?? undefined;
	const executionId = ctx.getExecutionId() ?? undefined;

	const count = ctx.getInputData().length;
	const items = new Array<INodeExecutionData | undefined>(count);
	const prepared: PreparedSend[] = [];
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		let recipient = String(param<unknown>('recipient', itemIndex, '') ?? '');
		try {
			const defaultCountry = param<string>('options.defaultCountry', itemIndex, '') || undefined;
			const normalized = normalizePhoneNumber(recipient, defaultCountry);
			recipient = normalized.e164;
			const content = await build(itemIndex, normalized);
			const tracking = trackingFor(
				{
					workflowId,
					executionId,
					journey: param<string>('options.journey', itemIndex, '') || undefined,
					step: param<string>('options.step', itemIndex, '') || undefined,
					callbackData: param<string>('options.bizOpaqueCallbackData', itemIndex, '') || undefined,
				},
				'Tracking Data Override',
			);
			prepared.push(prepareSend(itemIndex, normalized, content, tracking));
		} catch (error) {
			if (!continueOnFail) throw toNodeError(ctx, error as Error, itemIndex);
			// Failed items carry only `error` at the top level: that is how n8n recognises them for the error output,
			// where it merges them with the input item (so the customer's own fields stay next to the reason).
			items[itemIndex] = {
				json: { error: toSendFailure(error, recipient) as IDataObject },
				pairedItem: { item: itemIndex },
			};
		}
	}

	if (options.dryRun) {
		for (const p of prepared)
			items[p.itemIndex] = {
				json: toDryRunResult(p) as IDataObject,
				pairedItem: { item: p.itemIndex },
			};
	} else if (prepared.length > 0) {
		const pacing = pacingOf(options);
		let pacer: SendPacer | undefined;
		if (pacing) {
			const backend = ctx.getNodeParameter('stateStore', 0, 'embedded') as 'embedded' | 'redis';
			const slots = await sendSlots(backend, run.store);
			pacer = new SendPacer(credential.phoneNumberId, { ...pacing, slots });
		}
		const outcomes = await sendBatch(prepared, { client, pacer, concurrency: options.concurrency });
		const firstFailure = outcomes.find((o): o is Extract<SendOutcome, { ok: false }> => !o.ok);
		// Others in the batch were sent; the error says which item failed and why.
		if (firstFailure && !continueOnFail)
			throw toNodeError(ctx, firstFailure.error, firstFailure.itemIndex);
		for (const [position, outcome] of outcomes.entries()) {
			const json = toSendResult(prepared[position], outcome) as IDataObject;
			items[outcome.itemIndex] = {
				json: outcome.ok ? json : { error: json },
				pairedItem: { item: outcome.itemIndex },
			};
		}
	}

	const hints = phoneNumberHints(await sender);
	// addExecutionHints arrived in n8n 1.x's later releases; older hosts simply show no hints.
	if (hints.length > 0 && typeof ctx.addExecutionHints === 'function')
		ctx.addExecutionHints(...hints);
	return [items.filter((item): item is INodeExecutionData => item !== undefined)];
}
