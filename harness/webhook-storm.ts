/**
 * What the "nothing acknowledged is lost" e2e suites share: one signed status POST as Meta sends it, and the count of
 * what a trigger really emitted, read back from n8n's stored executions (an execution the crash cut short did not
 * emit, whatever n8n's recovery wrote into it).
 */
import type { Sandbox } from '../sandbox';
import type { N8nInstance } from './n8n-instance';
import { itemsOf } from './run-data';
import { signedWebhookHeaders, statusWebhookBody } from './whatsapp';

/** One signed POST of one delivered status; resolves with the HTTP status, or 0 when the connection failed. */
export async function postDeliveredStatus(
	url: string,
	sandbox: Sandbox,
	appSecret: string,
	messageId: string,
): Promise<number> {
	const body = statusWebhookBody(sandbox.config, [
		{ messageId, status: 'delivered', recipientId: '447911000001' },
	]);
	try {
		const answer = await fetch(url, {
			method: 'POST',
			headers: signedWebhookHeaders(body, appSecret),
			body,
			signal: AbortSignal.timeout(30_000),
		});
		await answer.text();
		return answer.status;
	} catch {
		return 0;
	}
}

export interface Emitted {
	/** messageId → times emitted into an execution that ran, and how many of those were marked recovered. */
	counts: Map<string, { times: number; recovered: number }>;
	/** messageIds found only as the input of an execution the crash cut short (n8n marks it crashed). */
	inCutShort: Set<string>;
	/** Executions by n8n status. */
	statuses: Record<string, number>;
}

type StackData = { nodeExecutionStack?: Array<{ data?: { main?: unknown[][] } }> };
type Item = { json: Record<string, unknown> };

/** The trigger's items of one stored execution: its output, or (cut short by the crash) its queued input. */
function triggerItems(
	data: Record<string, unknown>,
	node: string,
): { items: Item[]; saved: boolean } {
	try {
		return { items: itemsOf(data as Parameters<typeof itemsOf>[0], node), saved: true };
	} catch {
		const stack = (data.executionData as StackData | undefined)?.nodeExecutionStack;
		return { items: (stack?.[0]?.data?.main?.[0] ?? []) as Item[], saved: false };
	}
}

/** Every event the trigger `node` emitted into the workflow's executions so far. */
export async function emittedEvents(
	n8n: N8nInstance,
	workflowId: string,
	node: string,
): Promise<Emitted> {
	const counts = new Map<string, { times: number; recovered: number }>();
	const inCutShort = new Set<string>();
	const statuses: Record<string, number> = {};
	for (const summary of await n8n.executions({ workflowId })) {
		statuses[summary.status] = (statuses[summary.status] ?? 0) + 1;
		let data: Record<string, unknown>;
		try {
			data = (await n8n.execution(summary.id)).data as unknown as Record<string, unknown>;
		} catch {
			continue;
		}
		const { items, saved } = triggerItems(data, node);
		// A crashed execution did not run the workflow: n8n's crash recovery may give it artificial trigger output
		// ({ isArtificialRecoveredEventItem: true }), which is no emission of ours.
		const ran = saved && summary.status !== 'crashed';
		for (const item of items) {
			if (item.json.isArtificialRecoveredEventItem === true) continue;
			const id = String(item.json.messageId);
			if (!ran) {
				inCutShort.add(id);
				continue;
			}
			const c = counts.get(id) ?? { times: 0, recovered: 0 };
			c.times++;
			if (item.json.recovered === true) c.recovered++;
			counts.set(id, c);
		}
	}
	return { counts, inCutShort, statuses };
}

/** Runs `each` over `list` with at most `lanes` at a time, in order of start. */
export async function inLanes<T>(
	list: readonly T[],
	lanes: number,
	each: (x: T) => Promise<void>,
): Promise<void> {
	let next = 0;
	await Promise.all(
		Array.from({ length: lanes }, async () => {
			while (next < list.length) await each(list[next++]);
		}),
	);
}
