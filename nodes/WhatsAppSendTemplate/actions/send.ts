/**
 * The n8n side of both send operations: options and client once per execution; per item the recipient, the
 * operation's content and the tracking, prepared by core; then the paced batch, and one output item per input item.
 */
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData, JsonObject } from 'n8n-workflow';

import {
	MediaUploads,
	SendPacer,
	SendQueue,
	yieldToEventLoop,
	createJourneySendGate,
	policyOfRefusal,
	prepareJourneySend,
	WhatsAppApiError,
	deliveryOptionsSchema,
	describeFailure,
	normalizeRecipient,
	customerResolver,
	pacingOf,
	retryPolicyOf,
	sendBatch,
	sendSlots,
	toDryRunResult,
	toSendFailure,
	toSendResult,
	recordJourneySends,
} from '../../../core';
import type {
	CloudApiClient,
	DeliveryOptions,
	JourneyStateStore,
	PolicyResult,
	PreparedSend,
	Recipient,
	SendContent,
	SendGate,
	SendOutcome,
} from '../../../core';
import { getStateStore } from '../../shared/store';
import { createClient } from '../../shared/transport';
import type { MetaCredential } from '../../shared/credentials';
import { containsExpression, itemParameterReader } from '../../shared/parameters';
import type { ParameterReader } from '../../shared/parameters';
import { phoneNumberHints, phoneNumberInfo } from '../../shared/senderInfo';
import { itemRuleInputs, readJourneyRules } from '../journeyRules';
import { routeItems } from '../outputs';
import { holdUntilAllowed, policyHints } from './policy';

/** How long item preparation runs before it lets queued sends and their answers through. */
const YIELD_EVERY_MS = 4;
/** How many items ahead of preparation the customers' store lookups are started. */
const CUSTOMER_LOOKAHEAD = 256;

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
	const rules = readJourneyRules(ctx);
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
	const node = ctx.getNode();
	const nodeVersion = node.typeVersion;
	const workflowId = ctx.getWorkflow().id ?? undefined;
	const executionId = ctx.getExecutionId() ?? undefined;
	// Without journey and step, the step is this node for this item in this execution: Retry On Fail re-runs the node
	// in the same execution and run with the same items, so it finds those already sent; two items for one customer
	// are two messages; a new execution is a new occurrence.
	const scope = `${workflowId ?? ''}/${node.name}`;
	const runOccurrence = `${executionId ?? ''}:${String(ctx.getWorkflowDataProxy(0).$runIndex ?? 0)}`;

	const count = ctx.getInputData().length;
	const items = new Array<INodeExecutionData | undefined>(count);
	/** What routes each item; `hinted` also counts failed sends' decisions for the output-pane hint. */
	const decisions = new Array<PolicyResult | undefined>(count);
	const hinted = new Array<PolicyResult | undefined>(count);
	const prepared: PreparedSend[] = [];
	const recipientOf = (itemIndex: number, recipient: string) =>
		normalizeRecipient(
			recipient,
			param<string>('options.defaultCountry', itemIndex, '') || undefined,
		);
	/** Each item's recipient as typed and normalised (or why it is not one), worked out once. */
	const recipients = new Array<{ typed: string; normalized?: Recipient; error?: unknown }>(count);
	const recipientAt = (itemIndex: number) => {
		let entry = recipients[itemIndex];
		if (!entry) {
			const typed = String(param<unknown>('recipient', itemIndex, '') ?? '');
			try {
				entry = { typed, normalized: recipientOf(itemIndex, typed) };
			} catch (error) {
				entry = { typed, error };
			}
			recipients[itemIndex] = entry;
		}
		return entry;
	};
	// Without Continue on Fail, every recipient is checked before anything is sent.
	let badRecipient = false;
	if (!continueOnFail)
		for (let itemIndex = 0; itemIndex < count && !badRecipient; itemIndex++)
			badRecipient = recipientAt(itemIndex).error !== undefined;
	// One customer whichever id the item holds (a BSUID the store paired with a number is keyed by the number). Lookups
	// run CUSTOMER_LOOKAHEAD items ahead of preparation, so a Redis store's reads overlap (a campaign waits for the
	// store about once per that many items, not once per item) and the first send does not wait for every item's.
	const customers = customerResolver(run.store, credential.phoneNumberId);
	let lookedUp = 0;
	const lookUpTo = (end: number) => {
		for (; lookedUp < Math.min(end, count); lookedUp++) {
			const normalized = recipientAt(lookedUp).normalized;
			if (normalized) customers.prefetch(normalized);
		}
	};

	// Sending starts with the first prepared item while the rest are prepared (a campaign's first message no longer
	// waits for every item's parameters and store reads). Without Continue on Fail a bad item must stop the run: an
	// invalid recipient, known from the check above, stops it before anything is sent (everything is prepared first, as
	// it always was); any other bad item stops it where it is met — the sends already started finish, nothing more is
	// sent, and the error names the item. A dry run sends nothing and prepares everything first.
	const pipelined = !options.dryRun && (continueOnFail || !badRecipient);
	let gate: SendGate | undefined;
	let sending: { queue: SendQueue<PreparedSend>; outcomes: Promise<SendOutcome[]> } | undefined;
	let preparedAll!: () => void;
	const preparation = new Promise<void>((resolve) => (preparedAll = resolve));
	// The gate reads the paused/disabled state of the batch's templates once, at its first send; a template chosen per
	// item (an expression) is only known once every item is prepared, so that first read waits for them.
	const templatePerItem =
		containsExpression(node.parameters.template) ||
		containsExpression((node.parameters.options as IDataObject | undefined)?.templateLanguage);
	const gateFor = async () =>
		(gate ??= createJourneySendGate({
			store: await run.store(),
			client,
			phoneNumberId: credential.phoneNumberId,
			wabaId: credential.wabaId,
			baseUrl: credential.baseUrl,
			rules,
			templates: async () => {
				if (templatePerItem) await preparation;
				return templatesOf(prepared);
			},
		}));
	let batch:
		| ((messages: readonly PreparedSend[] | SendQueue<PreparedSend>) => Promise<SendOutcome[]>)
		| undefined;
	const batchFor = async () => {
		if (batch) return batch;
		const sendGate = await gateFor();
		const pacing = pacingOf(options);
		let pacer: SendPacer | undefined;
		if (pacing) {
			const backend = ctx.getNodeParameter('stateStore', 0, 'embedded') as 'embedded' | 'redis';
			const slots = await sendSlots(backend, run.store);
			pacer = new SendPacer(credential.phoneNumberId, { ...pacing, slots });
		}
		return (batch = (messages) =>
			sendBatch(messages, {
				client,
				pacer,
				concurrency: options.concurrency,
				gate: sendGate,
			}));
	};
	/** Stops a pipelined run at a bad item: what was started finishes and is recorded, nothing more is sent. */
	const stopSending = async (): Promise<void> => {
		if (!sending) return;
		sending.queue.abandon();
		preparedAll();
		await recordJourneySends(credential.phoneNumberId, prepared, await sending.outcomes, run.store);
	};
	let yieldedAt = 0;
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		// Preparing rarely waits on I/O once the store has answered: now and then, and right after the first send is
		// queued, it lets the sends, the pacer's timers and the answers through.
		if (sending && performance.now() - yieldedAt > YIELD_EVERY_MS) {
			await yieldToEventLoop();
			yieldedAt = performance.now();
		}
		lookUpTo(itemIndex + CUSTOMER_LOOKAHEAD);
		const typed = recipientAt(itemIndex);
		let recipient = typed.typed;
		try {
			if (typed.error !== undefined) throw typed.error;
			const normalized = typed.normalized!;
			recipient = normalized.e164;
			const customer = await customers.get(normalized);
			const journey = param<string>('options.journey', itemIndex, '') || undefined;
			const step = param<string>('options.step', itemIndex, '') || undefined;
			// Version 2 routes core's refusals (opted out, US marketing) as policy decisions; version 1 kept them errors.
			const built = await build(itemIndex, normalized).then(
				(content) => ({ content, refused: undefined }),
				(error: unknown) => {
					const refused = nodeVersion >= 2 ? policyOfRefusal(error) : undefined;
					return refused ? { content: undefined, refused } : Promise.reject(error);
				},
			);
			if (built.refused) {
				decisions[itemIndex] = built.refused;
				hinted[itemIndex] = built.refused;
				items[itemIndex] = {
					json: { recipient, waId: normalized.waId, policy: built.refused } as IDataObject,
					pairedItem: { item: itemIndex },
				};
				continue;
			}
			const { occurrenceKey, timeZone } = itemRuleInputs(param, itemIndex);
			const send = prepareJourneySend({
				itemIndex,
				recipient: normalized,
				customer,
				content: built.content,
				phoneNumberId: credential.phoneNumberId,
				journey,
				step,
				scope,
				occurrenceKey,
				runOccurrence: `${runOccurrence}:${itemIndex}`,
				itemTimeZone: timeZone,
				oncePerStep: rules.oncePerStep,
				tracking: {
					workflowId,
					executionId,
					callbackData: param<string>('options.bizOpaqueCallbackData', itemIndex, '') || undefined,
				},
				callbackDataField: 'Tracking Data Override',
			});
			if (pipelined && !sending) {
				// Before the item counts as prepared: a store or pacer that cannot start fails this item, not a later one.
				const queue = new SendQueue<PreparedSend>();
				sending = { queue, outcomes: (await batchFor())(queue) };
				yieldedAt = -Infinity;
			}
			prepared.push(send);
			sending?.queue.push(send);
		} catch (error) {
			if (!continueOnFail) {
				await stopSending();
				throw toNodeError(ctx, error as Error, itemIndex);
			}
			// Failed items carry only `error` at the top level: that is how n8n recognises them for the error output,
			// where it merges them with the input item (so the customer's own fields stay next to the reason).
			items[itemIndex] = {
				json: { error: toSendFailure(error, recipient) as IDataObject },
				pairedItem: { item: itemIndex },
			};
		}
	}
	sending?.queue.close();
	preparedAll();

	if (prepared.length > 0) {
		if (options.dryRun) {
			const sendGate = await gateFor();
			// The decisions each item would get, without sending and without writing the store.
			for (const p of prepared) {
				const verdict = await sendGate.preview(p.gate!);
				decisions[p.itemIndex] = verdict;
				hinted[p.itemIndex] = verdict;
				items[p.itemIndex] = {
					json: { ...toDryRunResult(p), policy: verdict } as IDataObject,
					pairedItem: { item: p.itemIndex },
				};
			}
		} else {
			const send = await batchFor();
			let outcomes = sending ? await sending.outcomes : await send(prepared);
			// Quiet hours "Hold": the execution waits for the earliest allowed time, then sends what is due (see policy.ts).
			if (rules.quietHours?.whenOutside === 'hold')
				outcomes = await holdUntilAllowed(ctx, prepared, outcomes, send);
			await recordJourneySends(credential.phoneNumberId, prepared, outcomes, run.store);
			const firstFailure = outcomes.find(
				(o): o is Extract<SendOutcome, { ok: false }> => o.ok === false,
			);
			// Others in the batch were sent; the error says which item failed and why.
			if (firstFailure && !continueOnFail)
				throw toNodeError(ctx, firstFailure.error, firstFailure.itemIndex);
			const byIndex = new Map(prepared.map((p) => [p.itemIndex, p]));
			for (const outcome of outcomes) {
				const json = toSendResult(byIndex.get(outcome.itemIndex)!, outcome) as IDataObject;
				if (outcome.policy) hinted[outcome.itemIndex] = outcome.policy;
				// A failed send stays a failure (error output, or the main output with Continue on Fail).
				if (outcome.ok !== false) decisions[outcome.itemIndex] = outcome.policy;
				items[outcome.itemIndex] = {
					json: outcome.ok === false ? { error: json } : json,
					pairedItem: { item: outcome.itemIndex },
				};
			}
		}
	}

	const hints = [
		...policyHints(hinted, { dryRun: options.dryRun === true }),
		...phoneNumberHints(await sender),
	];
	// addExecutionHints arrived in n8n 1.x's later releases; older hosts simply show no hints.
	if (hints.length > 0 && typeof ctx.addExecutionHints === 'function')
		ctx.addExecutionHints(...hints);
	const routed: Array<{ item: INodeExecutionData; decision?: PolicyResult['decision'] }> = [];
	for (const [index, item] of items.entries())
		if (item) routed.push({ item, decision: decisions[index]?.decision });
	return routeItems(nodeVersion, routed);
}

/** The distinct templates of a batch, whose paused/disabled state the gate reads once. */
function templatesOf(prepared: readonly PreparedSend[]): Array<{ name: string; language: string }> {
	const seen = new Map<string, { name: string; language: string }>();
	for (const p of prepared) {
		const t = p.gate?.template;
		if (t) seen.set(`${t.name}:${t.language}`, t);
	}
	return [...seen.values()];
}
