import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData, JsonObject } from 'n8n-workflow';

import {
	DEFAULT_MESSAGES_PER_SECOND,
	DEFAULT_PAIR_INTERVAL_MS,
	MediaUploads,
	SendPacer,
	WhatsAppApiError,
	buildEnvelope,
	describeFailure,
	encodeTracking,
	normalizePhoneNumber,
	processSlotStore,
	sendBatch,
	z,
} from '../../../core';
import type {
	CloudApiClient,
	JourneyStateStore,
	OutboundMessage,
	OutgoingMessage,
	SendOutcome,
	SlotReserver,
	TrackingData,
} from '../../../core';
import { getStateStore } from '../../shared/store';
import { createClient } from '../../shared/transport';
import type { MetaCredential } from '../../shared/credentials';
import { itemParameterReader } from '../../shared/parameters';
import { phoneNumberHints, phoneNumberInfo } from '../../shared/senderInfo';
import type { ParameterReader } from '../../shared/parameters';

/** Batch-wide options, read once (item 0) and validated: they shape the whole run, not one message. */
const batchOptionsSchema = z.object({
	// 0 = no throughput pacing: for an endpoint without Meta's limit, or when something upstream already paces.
	messagesPerSecond: z.number().min(0).max(1000).default(DEFAULT_MESSAGES_PER_SECOND),
	pairIntervalSeconds: z
		.number()
		.min(0)
		.max(60)
		.default(DEFAULT_PAIR_INTERVAL_MS / 1000),
	maxAttempts: z.number().int().min(1).max(10).default(6),
	retryUncertain: z.boolean().default(false),
	timeoutSeconds: z.number().min(1).max(300).default(30),
	concurrency: z.number().int().min(1).max(256).default(64),
	dryRun: z.boolean().default(false),
});
export type BatchOptions = z.infer<typeof batchOptionsSchema>;

export function readBatchOptions(ctx: IExecuteFunctions): BatchOptions {
	const raw = ctx.getNodeParameter('options', 0, {}) as IDataObject;
	const parsed = batchOptionsSchema.safeParse(raw);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw new NodeOperationError(
			ctx.getNode(),
			`Option "${issue.path.join('.')}": ${issue.message}`,
		);
	}
	return parsed.data;
}

/** What one input item turned into before anything is sent. */
export interface PreparedItem extends OutgoingMessage {
	recipient: string;
	summary: IDataObject;
	tracking?: TrackingData;
	bizOpaqueCallbackData?: string;
}

export interface ItemFailure {
	itemIndex: number;
	error: Error;
	/** The recipient as normalised (or as typed, when it could not be), so error items say who was skipped. */
	recipient?: string;
}

export function normalizeRecipient(
	param: ParameterReader,
	itemIndex: number,
	input: string,
): { e164: string; waId: string } {
	const defaultCountry = param<string>('options.defaultCountry', itemIndex, '') || undefined;
	const normalized = normalizePhoneNumber(input, defaultCountry);
	return { e164: normalized.e164, waId: normalized.waId };
}

/** Tracking data echoed on every status webhook: the join key back to this workflow, execution and journey step. */
export function trackingFor(
	ctx: IExecuteFunctions,
	param: ParameterReader,
	itemIndex: number,
): { tracking?: TrackingData; data: string } {
	const override = param<string>('options.bizOpaqueCallbackData', itemIndex, '') ?? '';
	if (override) {
		if (override.length > 512)
			throw new Error('Tracking Data Override is longer than 512 characters, the Cloud API limit');
		return { data: override };
	}
	const tracking: TrackingData = {
		workflowId: ctx.getWorkflow().id ?? undefined,
		executionId: ctx.getExecutionId() ?? undefined,
		journey: param<string>('options.journey', itemIndex, '') || undefined,
		step: param<string>('options.step', itemIndex, '') || undefined,
	};
	return { tracking, data: encodeTracking(tracking) };
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

const errorJson = (error: Error): IDataObject => describeFailure(error) as IDataObject;

export function toNodeError(
	ctx: IExecuteFunctions,
	error: Error,
	itemIndex: number,
): NodeApiError | NodeOperationError {
	if (error instanceof WhatsAppApiError) {
		return new NodeApiError(ctx.getNode(), errorJson(error) as JsonObject, {
			itemIndex,
			message: error.message,
			description: `${error.info.meaning} ${error.info.action}`,
			httpCode: error.httpStatus !== undefined ? String(error.httpStatus) : undefined,
		});
	}
	return new NodeOperationError(ctx.getNode(), error.message, { itemIndex });
}

/** Sends the prepared items and turns every outcome (and every preparation failure) into output items. */
export async function sendPrepared(
	ctx: IExecuteFunctions,
	prepared: PreparedItem[],
	failures: ItemFailure[],
	client: CloudApiClient,
	credential: MetaCredential,
	options: BatchOptions,
): Promise<INodeExecutionData[][]> {
	const byIndex = new Map<number, INodeExecutionData>();
	const continueOnFail = ctx.continueOnFail();
	// A bad item stops the run before any request leaves, unless Continue on Fail routes it aside.
	// Failed items carry only `error` at the top level: that is how n8n recognises them for the error output,
	// where it merges them with the input item (so the customer's own fields stay next to the reason).
	for (const failure of failures) {
		if (!continueOnFail) throw toNodeError(ctx, failure.error, failure.itemIndex);
		byIndex.set(failure.itemIndex, {
			json: { error: { ...errorJson(failure.error), recipient: failure.recipient } },
			pairedItem: { item: failure.itemIndex },
		});
	}

	if (options.dryRun) {
		for (const p of prepared) {
			byIndex.set(p.itemIndex, {
				json: {
					dryRun: true,
					...p.summary,
					request: p.request as IDataObject,
					marketingMessagesApi: p.marketingMessagesApi === true,
				},
				pairedItem: { item: p.itemIndex },
			});
		}
	} else if (prepared.length > 0) {
		let slots: SlotReserver = processSlotStore();
		if ((ctx.getNodeParameter('stateStore', 0, 'embedded') as string) === 'redis') {
			// Queue mode: workers share the number's throughput budget through Redis.
			slots = await getStateStore(ctx);
		}
		const unpaced = options.messagesPerSecond === 0 && options.pairIntervalSeconds === 0;
		const pacer = unpaced
			? undefined
			: new SendPacer(credential.phoneNumberId, {
					messagesPerSecond: options.messagesPerSecond,
					pairIntervalMs: options.pairIntervalSeconds * 1000,
					slots,
				});
		const outcomes = await sendBatch(prepared, { client, pacer, concurrency: options.concurrency });
		const preparedByIndex = new Map(prepared.map((p) => [p.itemIndex, p]));
		const firstFailure = outcomes.find((o): o is Extract<SendOutcome, { ok: false }> => !o.ok);
		if (firstFailure && !continueOnFail) {
			// Others in the batch were sent; the error says which item failed and why.
			throw toNodeError(ctx, firstFailure.error, firstFailure.itemIndex);
		}
		for (const outcome of outcomes) {
			const p = preparedByIndex.get(outcome.itemIndex)!;
			if (outcome.ok) {
				byIndex.set(outcome.itemIndex, {
					json: {
						messageId: outcome.result.messageId,
						waId: outcome.result.waId ?? p.waId,
						recipient: p.recipient,
						messageStatus: outcome.result.messageStatus,
						...p.summary,
						marketingMessagesApi: p.marketingMessagesApi === true,
						tracking: (p.tracking ?? {}) as IDataObject,
						bizOpaqueCallbackData: p.bizOpaqueCallbackData,
						attempts: outcome.result.attempts,
						sentAt: new Date().toISOString(),
					},
					pairedItem: { item: outcome.itemIndex },
				});
			} else {
				byIndex.set(outcome.itemIndex, {
					json: {
						error: {
							...errorJson(outcome.error),
							recipient: p.recipient,
							...p.summary,
							attempts: outcome.retries.length + 1,
						},
					},
					pairedItem: { item: outcome.itemIndex },
				});
			}
		}
	}
	const items = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, item]) => item);
	return [items];
}

export async function clientFor(
	ctx: IExecuteFunctions,
	options: BatchOptions,
): Promise<{ client: CloudApiClient; credential: MetaCredential }> {
	return createClient(ctx, {
		maxAttempts: options.maxAttempts,
		retryUncertain: options.retryUncertain,
		timeoutMs: options.timeoutSeconds * 1000,
	});
}

/** What an operation builds for one item, once the recipient is normalised. */
export interface ItemMessage {
	message: OutboundMessage;
	marketingMessagesApi?: boolean;
	summary: IDataObject;
}

export interface OperationContext {
	client: CloudApiClient;
	credential: MetaCredential;
	uploader: BinaryUploader;
	/** Parameter reads for this item: expression-free parameters are evaluated once per execution. */
	param: ParameterReader;
	/** The journey state store, opened once per execution (its settings are per node, not per item). */
	store: () => Promise<JourneyStateStore>;
}

/**
 * The skeleton both operations share: per item, normalise the recipient, build the message (the operation's part),
 * add tracking and the envelope; a bad item becomes a failure before anything is sent; then send the batch.
 */
export async function runSendOperation(
	ctx: IExecuteFunctions,
	buildItem: (
		itemIndex: number,
		recipient: { e164: string; waId: string },
		op: OperationContext,
	) => Promise<ItemMessage>,
): Promise<INodeExecutionData[][]> {
	const options = readBatchOptions(ctx);
	const { client, credential } = await clientFor(ctx, options);
	// Read alongside the batch, never in its way: it only feeds the output pane's hints.
	const sender = phoneNumberInfo(client, credential);
	const param = itemParameterReader(ctx);
	let store: Promise<JourneyStateStore> | undefined;
	const op: OperationContext = {
		client,
		credential,
		uploader: new BinaryUploader(ctx, client),
		param,
		store: () => (store ??= getStateStore(ctx, 0)),
	};
	const prepared: PreparedItem[] = [];
	const failures: ItemFailure[] = [];
	const count = ctx.getInputData().length;
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		let recipient = String(param<unknown>('recipient', itemIndex, '') ?? '');
		try {
			const normalized = normalizeRecipient(param, itemIndex, recipient);
			recipient = normalized.e164;
			const built = await buildItem(itemIndex, normalized, op);
			const { tracking, data } = trackingFor(ctx, param, itemIndex);
			prepared.push({
				itemIndex,
				waId: normalized.waId,
				recipient: normalized.e164,
				request: buildEnvelope(normalized.e164, built.message, { bizOpaqueCallbackData: data }),
				marketingMessagesApi: built.marketingMessagesApi,
				tracking,
				bizOpaqueCallbackData: data,
				summary: built.summary,
			});
		} catch (error) {
			failures.push({ itemIndex, error: error as Error, recipient });
		}
	}
	const output = await sendPrepared(ctx, prepared, failures, client, credential, options);
	const hints = phoneNumberHints(await sender);
	// addExecutionHints arrived in n8n 1.x's later releases; older hosts simply show no hints.
	if (hints.length > 0 && typeof ctx.addExecutionHints === 'function')
		ctx.addExecutionHints(...hints);
	return output;
}
