/**
 * What the n8n node does with core's policy decisions beyond routing them: the counts in the output pane, and the
 * quiet-hours hold.
 *
 * Why the hold waits inside the execution: n8n 2.40 resumes a waiting execution (putExecutionToWait) with the
 * waiting node disabled (n8n-core WorkflowExecute.handleWaitingState sets `node.disabled = true`), so the node does
 * not run again and its input passes through unsent. A send node therefore cannot use that mechanism to send later.
 * The node keeps the execution running until the earliest allowed time of its held items, as n8n's own Wait node
 * does for waits under 65 s (Wait.node.js: "leave execution active"), then sends what is due; each send passes the
 * gate again (caps, once per step). A hold does not survive an n8n restart; the once-per-step record makes running
 * the items again safe. For holds of hours that must survive restarts, choose When Outside: Skip and connect a Wait
 * node (Resume: At Specified Time, `{{ $json.policy.resumeAt }}`) that loops back into this node.
 */
import type { IExecuteFunctions, NodeExecutionHint } from 'n8n-workflow';

import type { PolicyResult, PreparedSend, SendOutcome } from '../../../core';

/** Plain words for the counts line; the stable code is on each item. */
const WORDS: Partial<Record<string, string>> = {
	sent: 'sent',
	already_sent: 'already sent',
	in_progress: 'in progress elsewhere',
	outcome_unknown: 'outcome unknown',
	frequency_capped: 'frequency capped',
	quiet_hours: 'quiet hours',
	messaging_limit: 'messaging limit',
	quality_guard: 'quality guard',
	opted_out: 'opted out',
	us_marketing: 'US marketing',
	dry_run: 'would be sent',
};

export function policyHints(
	decisions: ReadonlyArray<PolicyResult | undefined>,
	{ dryRun }: { dryRun: boolean },
): NodeExecutionHint[] {
	const counts = new Map<string, number>();
	for (const policy of decisions)
		if (policy) counts.set(policy.decision, (counts.get(policy.decision) ?? 0) + 1);
	// When every item was simply sent, the rules changed nothing: the pane stays as it was.
	if (counts.size === 0 || (counts.size === 1 && counts.has('sent'))) return [];
	const parts = [...counts.entries()].map(([decision, n]) => `${n} ${WORDS[decision] ?? decision}`);
	const hints: NodeExecutionHint[] = [
		{
			type: 'info',
			location: 'outputPane',
			message: `Journey rules${dryRun ? ' (dry run, nothing sent)' : ''}: ${parts.join(', ')}.`,
		},
	];
	const unknown = counts.get('outcome_unknown');
	if (unknown)
		hints.push({
			type: 'warning',
			location: 'outputPane',
			message: `${unknown} step(s) may already have reached Meta (an earlier attempt ended without an answer): not sent again. Their status webhook resolves them; "Resend When Step Outcome Unknown" sends them anyway.`,
		});
	return hints;
}

function policyOf(outcome: SendOutcome): PolicyResult | undefined {
	return (outcome as { policy?: PolicyResult }).policy;
}

/** Outcomes held by quiet hours (not sent, with the time sending is allowed again). */
function heldOf(outcomes: readonly SendOutcome[]): Array<{ outcome: SendOutcome; at: number }> {
	const held: Array<{ outcome: SendOutcome; at: number }> = [];
	for (const outcome of outcomes) {
		const policy = policyOf(outcome);
		if (policy?.decision !== 'quiet_hours' || !policy.resumeAt) continue;
		const at = Date.parse(policy.resumeAt);
		if (Number.isFinite(at)) held.push({ outcome, at });
	}
	return held;
}

/** Sleeps until `at`, or until the execution is cancelled (then resolves false). */
function sleepUntil(ctx: IExecuteFunctions, at: number): Promise<boolean> {
	return new Promise((resolve) => {
		const signal = ctx.getExecutionCancelSignal?.();
		if (signal?.aborted) return resolve(false);
		const timer = setTimeout(
			() => {
				signal?.removeEventListener('abort', onAbort);
				resolve(true);
			},
			Math.max(0, at - Date.now()),
		);
		const onAbort = () => {
			clearTimeout(timer);
			resolve(false);
		};
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}

/**
 * Waits for the earliest allowed time of the held items, sends those that are due through the gate again, and
 * repeats until none is held (or the execution is cancelled: the rest stay "quiet_hours" with their resumeAt).
 */
export async function holdUntilAllowed(
	ctx: IExecuteFunctions,
	prepared: readonly PreparedSend[],
	outcomes: SendOutcome[],
	send: (messages: PreparedSend[]) => Promise<SendOutcome[]>,
): Promise<SendOutcome[]> {
	const byIndex = new Map(prepared.map((p) => [p.itemIndex, p]));
	const current = new Map(outcomes.map((o) => [o.itemIndex, o]));
	let lastWake = 0;
	for (;;) {
		const held = heldOf([...current.values()]);
		if (held.length === 0) break;
		const earliest = Math.min(...held.map((h) => h.at));
		// A gate that answers the same resumeAt again (clock skew between hosts) must not spin: wait a little past it.
		const wake = Math.max(earliest, lastWake + 1000);
		if (!(await sleepUntil(ctx, wake))) break;
		lastWake = wake;
		const due = held.filter((h) => h.at <= wake).map((h) => byIndex.get(h.outcome.itemIndex)!);
		for (const outcome of await send(due)) current.set(outcome.itemIndex, outcome);
	}
	return outcomes.map((o) => current.get(o.itemIndex) ?? o);
}
