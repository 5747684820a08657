/**
 * The n8n side of both send operations: options and client once per execution; per item the recipient, the
 * operation's content and the tracking, prepared by core; then the paced batch, and one output item per input item.
 */
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData, JsonObject } from 'n8n-workflow';

import {
	MediaUploads,
	SendPacer,
	loadAccountState,
	createSendGate,
	policyOfRefusal,
	stepKeysFor,
	otherIdsOf,
	ruleCategoryOf,
	ruleTemplateOf,
	occurrenceFor,
	WhatsAppApiError,
	deliveryOptionsSchema,
	describeFailure,
	normalizeRecipient,
	customerResolver,
	pacingOf,
	prepareSend,
	retryPolicyOf,
	sendBatch,
	sendSlots,
	toDryRunResult,
	toSendFailure,
	toSendResult,
	recordJourneySends,
	trackingFor,
} from '../../../core';
import type {
	CloudApiClient,
	DeliveryOptions,
	JourneyStateStore,
	PolicyResult,
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
import { itemRuleInputs, readJourneyRules } from '../journeyRules';
import { routeItems } from '../outputs';
import { holdUntilAllowed, policyHints } from './policy';

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
	// One customer whichever id the item holds (a BSUID the store paired with a number is keyed by the number): every
	// item's lookup starts here at once, so a campaign waits for the store about once, not once per item.
	const customers = customerResolver(run.store, credential.phoneNumberId);
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		try {
			customers.prefetch(
				recipientOf(itemIndex, String(param<unknown>('recipient', itemIndex, '') ?? '')),
			);
		} catch {
			// Not a recipient: the item says so below.
		}
	}
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		let recipient = String(param<unknown>('recipient', itemIndex, '') ?? '');
		try {
			const normalized = recipientOf(itemIndex, recipient);
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
			const content = built.content;
			const { occurrenceKey, timeZone } = itemRuleInputs(param, itemIndex);
			const category = ruleCategoryOf(content);
			// The step under every id of the customer: one sent before a pairing was learnt still counts.
			const { stepKey, otherStepKeys } = stepKeysFor(
				{
					phoneNumberId: credential.phoneNumberId,
					journey,
					step,
					scope,
					occurrenceKey: occurrenceFor({
						journey,
						step,
						category,
						occurrenceKey,
						runOccurrence: `${runOccurrence}:${itemIndex}`,
					}),
				},
				customer,
			);
			const tracking = trackingFor(
				{
					workflowId,
					executionId,
					journey,
					step,
					// Lets the status webhook resolve a send whose outcome was unknown (crash after the request left).
					stepKey: rules.oncePerStep ? stepKey : undefined,
					callbackData: param<string>('options.bizOpaqueCallbackData', itemIndex, '') || undefined,
				},
				'Tracking Data Override',
			);
			prepared.push({
				...prepareSend(itemIndex, normalized, content, tracking),
				customerKey: customer.key,
				gate: {
					waId: customer.key,
					otherIds: otherIdsOf(customer),
					e164: normalized.e164,
					category,
					stepKey: rules.oncePerStep ? stepKey : undefined,
					otherStepKeys: rules.oncePerStep ? otherStepKeys : undefined,
					itemTimeZone: timeZone,
					template: ruleTemplateOf(content),
				},
			});
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

	if (prepared.length > 0) {
		const gate = createSendGate({
			store: await run.store(),
			phoneNumberId: credential.phoneNumberId,
			rules,
			account: async () =>
				loadAccountState({
					client,
					store: await run.store(),
					phoneNumberId: credential.phoneNumberId,
					wabaId: credential.wabaId,
					cacheKey: `${credential.baseUrl}|${credential.phoneNumberId}|${credential.wabaId ?? ''}`,
					templates: templatesOf(prepared),
				}),
		});
		if (options.dryRun) {
			// The decisions each item would get, without sending and without writing the store.
			for (const p of prepared) {
				const verdict = await gate.preview(p.gate!);
				decisions[p.itemIndex] = verdict;
				hinted[p.itemIndex] = verdict;
				items[p.itemIndex] = {
					json: { ...toDryRunResult(p), policy: verdict } as IDataObject,
					pairedItem: { item: p.itemIndex },
				};
			}
		} else {
			const pacing = pacingOf(options);
			let pacer: SendPacer | undefined;
			if (pacing) {
				const backend = ctx.getNodeParameter('stateStore', 0, 'embedded') as 'embedded' | 'redis';
				const slots = await sendSlots(backend, run.store);
				pacer = new SendPacer(credential.phoneNumberId, { ...pacing, slots });
			}
			const batch = (messages: PreparedSend[]) =>
				sendBatch(messages, { client, pacer, concurrency: options.concurrency, gate });
			let outcomes = await batch(prepared);
			// Quiet hours "Hold": the execution waits for the earliest allowed time, then sends what is due (see policy.ts).
			if (rules.quietHours?.whenOutside === 'hold')
				outcomes = await holdUntilAllowed(ctx, prepared, outcomes, batch);
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
