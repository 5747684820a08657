/**
 * One journey send, assembled once for both adapters: the step's key under every id of the customer, the tracking
 * that carries it, the request, and what the send gate judges; and the gate itself for a connection. The adapters
 * read their parameters (n8n items, Node-RED messages) and hand the values here, so a rule about what a step is or
 * what the gate sees cannot differ between them.
 */
import type { CloudApiClient } from '../client';
import type { Customer, JourneyStateStore } from '../state';
import { loadAccountState } from './account';
import type { GateRequest, SendGate } from './gate';
import {
	createSendGate,
	occurrenceFor,
	otherIdsOf,
	ruleCategoryOf,
	ruleTemplateOf,
	stepKeysFor,
} from './rules';
import type { JourneyRules } from './rules';
import { prepareSend } from './send';
import type { PreparedSend, Recipient, SendContent } from './send';
import { trackingFor } from './tracking';
import type { TrackingInput } from './tracking';

/** What one journey send is made of, as the adapter read it for one item or message. */
export interface JourneySendInput {
	/** The item's position (n8n); Node-RED sends one message at a time (0). */
	itemIndex: number;
	recipient: Recipient;
	/** The customer (customerOf): step claims are keyed by their one key and checked under their other ids. */
	customer: Pick<Customer, 'key' | 'ids'>;
	content: SendContent;
	phoneNumberId: string;
	journey?: string;
	step?: string;
	/** The adapter's own step when journey and step are not set (n8n: workflow and node; Node-RED: flow and node). */
	scope: string;
	/** The user's Occurrence Key, when given. */
	occurrenceKey?: string;
	/** This run of the adapter (n8n: execution, run and item; Node-RED: the msg id): see occurrenceFor. */
	runOccurrence?: string;
	/** The customer's time zone for quiet hours, when the item gives one. */
	itemTimeZone?: string;
	/** The rules' once-per-step: without it the send has no step key, so nothing claims or resolves the step. */
	oncePerStep: boolean;
	/** Tracking beyond the journey step: who sent it, the user's own callback data or custom field. */
	tracking?: Pick<TrackingInput, 'workflowId' | 'executionId' | 'callbackData' | 'custom'>;
	/** Where the user gave their own callback data (the adapter's field), named when it is too long. */
	callbackDataField: string;
}

/** A journey send: every send through a gate carries its customer's key and what the gate judges. */
export type PreparedJourneySend = PreparedSend & { customerKey: string; gate: GateRequest };

/**
 * Prepares one journey send for sendBatch (or the gate's preview). The step key exists only with once-per-step on,
 * and then also rides in the tracking, so a status webhook can resolve a send whose outcome was unknown (a crash
 * after the request left). It is the same from a number and from the BSUID the store paired with it, and the step's
 * key under each other id goes along, so a step sent before the pairing was learnt still counts.
 */
export function prepareJourneySend(input: JourneySendInput): PreparedJourneySend {
	const { journey, step, customer, content } = input;
	const category = ruleCategoryOf(content);
	const keys = input.oncePerStep
		? stepKeysFor(
				{
					phoneNumberId: input.phoneNumberId,
					journey,
					step,
					scope: input.scope,
					occurrenceKey: occurrenceFor({
						journey,
						step,
						category,
						occurrenceKey: input.occurrenceKey,
						runOccurrence: input.runOccurrence,
					}),
				},
				customer,
			)
		: undefined;
	const tracking = trackingFor(
		{ ...input.tracking, journey, step, stepKey: keys?.stepKey },
		input.callbackDataField,
	);
	return {
		...prepareSend(input.itemIndex, input.recipient, content, tracking),
		customerKey: customer.key,
		gate: {
			waId: customer.key,
			otherIds: otherIdsOf(customer),
			e164: input.recipient.e164,
			category,
			stepKey: keys?.stepKey,
			otherStepKeys: keys?.otherStepKeys,
			itemTimeZone: input.itemTimeZone,
			template: ruleTemplateOf(content),
		},
	};
}

type TemplateRef = { name: string; language: string };

/**
 * The send gate of a connection: the rules, its store, and the account as the Graph API and the store's webhooks know
 * it, read once at the gate's first send. `templates` are the sends' templates whose paused/disabled state the quality
 * guard checks; a function when they are only known by then (n8n waits for items whose template is an expression).
 */
export function createJourneySendGate(p: {
	store: JourneyStateStore;
	client: CloudApiClient;
	phoneNumberId: string;
	wabaId?: string;
	/** The Graph base URL: two connections to different hosts never share a cached account read. */
	baseUrl?: string;
	rules: JourneyRules;
	templates?:
		readonly TemplateRef[] | (() => readonly TemplateRef[] | Promise<readonly TemplateRef[]>);
}): SendGate {
	return createSendGate({
		store: p.store,
		phoneNumberId: p.phoneNumberId,
		rules: p.rules,
		account: async () =>
			loadAccountState({
				client: p.client,
				store: p.store,
				phoneNumberId: p.phoneNumberId,
				wabaId: p.wabaId || undefined,
				cacheKey: `${p.baseUrl ?? ''}|${p.phoneNumberId}|${p.wabaId ?? ''}`,
				templates: [
					...(typeof p.templates === 'function' ? await p.templates() : (p.templates ?? [])),
				],
			}),
	});
}
