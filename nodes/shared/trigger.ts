/**
 * What the two webhook triggers (WhatsApp Webhook Status on n8n's webhook path, WhatsApp Webhook Receiver on a port of
 * its own) read from n8n the same way: their credential, their consumer key, their receive settings, and how they
 * resume a Send and Wait.
 */
import type {
	IDataObject,
	IHookFunctions,
	ITriggerFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';

import { DEFAULT_EMITTED_EVENTS, RESUME_PROOF_HEADER, resumeDispatcher } from '../../core';
import type { LateStatusHandling, ReceiveSettings, ResumeAttempt } from '../../core';
import { RecentReadings } from './credentials';
import type { MetaCredential } from './credentials';
import { getStateStore } from './store';
import { getMetaCredential } from './transport';

type TriggerContext = IWebhookFunctions | ITriggerFunctions;

/**
 * Each trigger node (per workflow) reuses its last credential reading for 30 s; a POST refused with a reading is
 * checked again with a fresh one, so a rotated app secret applies at once. A reading without an app secret (unsigned
 * testing) is never reused, so adding a secret is enforced from the next POST. Other fields (the phone number id
 * filter) apply within this time.
 */
const credentialReadings = new RecentReadings<MetaCredential>(30_000);

export function readTriggerCredential(
	ctx: TriggerContext,
	fresh: boolean,
): Promise<MetaCredential> {
	const node = ctx.getNode();
	const key = `${ctx.getWorkflow().id ?? ''}|${node.id}|${node.credentials?.metaWhatsAppCloudApi?.id ?? ''}`;
	return credentialReadings.get(key, () => getMetaCredential(ctx), {
		fresh,
		keep: (c) => Boolean(c.appSecretValue),
	});
}

/** The trigger's consumer key: its de-duplication, status order and outbox in the store. */
export function consumerOf(ctx: Pick<TriggerContext, 'getWorkflow' | 'getNode'>): string {
	return `${ctx.getWorkflow().id ?? ''}:${ctx.getNode().id}`;
}

/** The node's Events and Options as core's receive settings (core applies the defaults). */
export function receiveSettingsOf(ctx: TriggerContext): ReceiveSettings {
	const options = ctx.getNodeParameter('options', {}) as IDataObject;
	return {
		events: ctx.getNodeParameter('events', DEFAULT_EMITTED_EVENTS) as string[],
		deduplicate: options.deduplicate as boolean | undefined,
		lateStatuses: options.lateStatuses as LateStatusHandling | undefined,
		recordWindows: options.recordWindows as boolean | undefined,
		recordOptOuts: options.recordOptOuts as boolean | undefined,
		stopKeywords: typeof options.stopKeywords === 'string' ? options.stopKeywords : undefined,
		consumer: consumerOf(ctx),
	};
}

/** Resumes a Send and Wait execution: POSTs to its signed resume URL with the wait's proof (core checks both ends). */
export function resumeBy(ctx: TriggerContext | IHookFunctions): ResumeAttempt {
	return {
		post: async (link, body, proof) => {
			const response = (await ctx.helpers.httpRequest({
				method: 'POST',
				url: link.resumeUrl,
				body,
				headers: { 'content-type': 'application/json', [RESUME_PROOF_HEADER]: proof },
				json: false,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
				timeout: 10_000,
			})) as { statusCode?: number; body?: unknown };
			const status = response.statusCode ?? 0;
			// n8n 2.x answers 409 both while the execution is still saving itself as waiting ("is running already",
			// worth retrying) and for one that ended in an error ("has finished with error", final: waiting-webhooks.ts).
			if (status === 409 && /finished/i.test(String(response.body ?? ''))) return 410;
			return status;
		},
	};
}

/**
 * Starts the process's resume dispatcher on the trigger's store at once (activation, or the trigger's start), so that
 * resumes a stopped process had claimed but not delivered go out without waiting for the next webhook from Meta.
 */
export function startResumeDispatcher(
	ctx: TriggerContext | IHookFunctions,
	warn: (message: string, error: unknown) => void,
): void {
	if (ctx.getMode?.() === 'manual') return;
	void getStateStore(ctx)
		.then((store) => resumeDispatcher(store, resumeBy(ctx)))
		.catch((error: unknown) => warn('could not look for pending resumes', error));
}

/**
 * Whether n8n runs executions in other processes (queue mode: workers take them from Redis), so an execution a trigger
 * started lives on when the process that started it dies. n8n reads the same setting (EXECUTIONS_MODE) for its own
 * choice; a node is told nothing of it.
 */
export function runsExecutionsElsewhere(): boolean {
	return process.env.EXECUTIONS_MODE === 'queue';
}
