/**
 * Send and Wait in Node-RED: the send template node given Reply Buttons (or the send message node with Wait for a
 * response ticked, for reply buttons, a list or a text inside the window) holds each sent msg until the customer taps
 * a button, replies, the message reaches the chosen status or fails, or the time limit passes — the same rules as the
 * n8n operation (core/journeys/sendAndWait.ts). The link (wamid → this node, with the msg as JSON) is in the journey
 * state store; the webhook status node that receives the reply claims the wait, and the process's resume dispatcher
 * (core resumeDispatcher.ts, a few at a time, retried) delivers it through this process-wide registry, with the same
 * proof n8n's resume request carries. A wait ends once in the store, so a repeated delivery emits nothing.
 *
 * Restart: the msg is kept in the store with its link, so a reply after Node-RED restarts (same node id) still comes
 * out of the right output, and a resume claimed but not delivered before the restart is delivered once the node is
 * started again (the dispatcher retries until the wait expires). The No Response timer lives in memory, so a node
 * that starts lists its waits still open in the store and arms their timers again from the stored deadline and msg:
 * one whose time ran out while Node-RED was down emits No Response at once. The wait ends once in the store either
 * way: a resume delivered first leaves the timer nothing to emit, and of several Node-RED processes sharing a Redis
 * store (each re-arming the same node) only one emits. A wait pruned from the store (a day past its end) is gone.
 */
import { randomUUID } from 'node:crypto';

import {
	acceptResumeRequest,
	newWaitLink,
	resumedItem,
	waitOutputIndex,
	waitOutputNames,
	waitSpecSchema,
} from '../../core';
import type { JourneyStateStore, ResumeAttempt, WaitLink, WaitSpec } from '../../core';
import type { NodeInstance, NodeMessage } from '../types';

const SCHEME = 'node-red:';

type Resumer = (raw: string, proof: string, executionId: string) => Promise<number>;

/** The nodes of this process that hold waits, by node id. */
const resumers = new Map<string, Resumer>();

/** How the webhook status node resumes a wait held by a node of this process (resumeUrl `node-red:<node id>`). */
export const resumeInProcess: ResumeAttempt = {
	post: async (link, body, proof) => {
		if (!link.resumeUrl.startsWith(SCHEME)) return 404;
		const resume = resumers.get(link.resumeUrl.slice(SCHEME.length));
		// Not started yet (a deploy or restart under way): the dispatcher tries again until the wait expires.
		return resume ? resume(body, proof, link.executionId) : 503;
	},
};

/** setTimeout's longest delay (about 24.8 days); a longer limit is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Open waits read from the store per page at start. */
const REARM_PAGE = 200;

/** After a store that could not be read at start (Redis not up yet), the next try. */
const REARM_RETRY_MS = 30_000;

/** msg without what cannot be stored (functions, sockets of an HTTP In): JSON round trip. */
function storable(msg: NodeMessage): NodeMessage {
	return JSON.parse(
		JSON.stringify(msg, (key, value: unknown) =>
			key === 'req' || key === 'res' ? undefined : value,
		),
	) as NodeMessage;
}

export class NodeWaits {
	private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
	private closed = false;
	private retry?: ReturnType<typeof setTimeout>;

	constructor(
		private readonly node: NodeInstance,
		private readonly spec: WaitSpec,
		private readonly store: () => Promise<JourneyStateStore>,
	) {
		resumers.set(node.id, (raw, proof, executionId) => this.resume(raw, proof, executionId));
		void this.rearm();
	}

	/**
	 * Arms the No Response timers of this node's waits still open in the store (held before a restart or redeploy),
	 * page by page; a deadline already passed fires at once. A wait armed here and resumed meanwhile ends once.
	 */
	private async rearm(): Promise<void> {
		try {
			const store = await this.store();
			let after: WaitLink | undefined;
			do {
				const page: WaitLink[] = await store.listOpenWaitLinks({
					resumeUrl: `${SCHEME}${this.node.id}`,
					limit: REARM_PAGE,
					after,
				});
				if (this.closed) return;
				for (const link of page) {
					if (link.held === undefined || this.timers.has(link.executionId)) continue;
					let msg: NodeMessage;
					try {
						msg = JSON.parse(link.held) as NodeMessage;
					} catch {
						this.node.warn(
							`The msg held for ${link.messageId} is not JSON: its wait cannot time out.`,
						);
						continue;
					}
					this.arm(link.executionId, msg, link.expiresAt, {
						phoneNumberId: link.phoneNumberId,
						messageId: link.messageId,
					});
				}
				after = page.length === REARM_PAGE ? page[page.length - 1] : undefined;
			} while (after);
		} catch (error) {
			if (this.closed) return;
			this.node.warn(
				`Could not read this node's open waits from the state store to arm their No Response timers again: ${
					error instanceof Error ? error.message : String(error)
				}. Trying again in ${REARM_RETRY_MS / 1000} s.`,
			);
			this.retry = setTimeout(() => void this.rearm(), REARM_RETRY_MS);
		}
	}

	get outputs(): number {
		return waitOutputNames(this.spec).length;
	}

	/** After a successful send (msg.payload is the send result): link, hold, and arm the No Response timer. */
	async hold(
		msg: NodeMessage,
		phoneNumberId: string,
		deadline: number,
		/** This message's spec (its reply ids, what it is) when it differs from the node's; same outputs. */
		spec: WaitSpec = this.spec,
	): Promise<void> {
		const result = msg.payload as { messageId?: string; waId?: string };
		const executionId = `${this.node.id}:${randomUUID()}`;
		await (
			await this.store()
		).putWaitLink(
			newWaitLink({
				phoneNumberId,
				sent: { ...result, messageId: String(result.messageId), waId: String(result.waId) },
				executionId,
				resumeUrl: `${SCHEME}${this.node.id}`,
				spec,
				deadline,
				held: JSON.stringify(storable(msg)),
			}),
		);
		this.arm(executionId, msg, deadline, {
			phoneNumberId,
			messageId: String(result.messageId),
		});
	}

	private arm(
		executionId: string,
		msg: NodeMessage,
		deadline: number,
		key: { phoneNumberId: string; messageId: string },
	): void {
		// One timer per wait: a link sent during the start's listing may be armed by both.
		clearTimeout(this.timers.get(executionId));
		const delay = deadline - Date.now();
		const timer = setTimeout(
			() => {
				this.timers.delete(executionId);
				if (Date.now() < deadline) return this.arm(executionId, msg, deadline, key);
				void this.timeOut(msg, key);
			},
			Math.min(Math.max(0, delay), MAX_TIMER_MS),
		);
		this.timers.set(executionId, timer);
	}

	/**
	 * Past its deadline no reply can claim the link (the store refuses). The wait ends once: a resume delivered just
	 * before has ended it (nothing to emit); otherwise this ends it, and a resume still on its way is refused.
	 */
	private async timeOut(
		msg: NodeMessage,
		key: { phoneNumberId: string; messageId: string },
	): Promise<void> {
		if (this.closed) return; // left open: the node's next start arms it again
		const ended = await (await this.store()).endWaitLink(key).catch(() => true);
		if (!ended) return;
		msg.payload = { ...(msg.payload as object), waitOutcome: 'timeout' };
		this.emit(waitOutputIndex(this.spec, { kind: 'timeout' }), msg);
	}

	private emit(index: number, msg: NodeMessage): void {
		const out: Array<NodeMessage | null> = waitOutputNames(this.spec).map(() => null);
		out[index] = msg;
		this.node.send(out);
	}

	private async resume(raw: string, proof: string, executionId: string): Promise<number> {
		const check = await acceptResumeRequest(raw, proof, executionId, await this.store());
		if (!check.ok) return check.status;
		const timer = this.timers.get(executionId);
		if (timer) clearTimeout(timer);
		this.timers.delete(executionId);
		const spec = waitSpecSchema.parse(JSON.parse(check.link.spec));
		const msg = JSON.parse(check.link.held ?? '{}') as NodeMessage;
		msg.payload = resumedItem(check.link, check.body);
		this.emit(waitOutputIndex(spec, check.body.outcome), msg);
		return 200;
	}

	/** Node closed (redeploy, stop): timers go; links and held msgs stay in the store for the node's next start. */
	close(): void {
		this.closed = true;
		if (this.retry) clearTimeout(this.retry);
		for (const timer of this.timers.values()) clearTimeout(timer);
		this.timers.clear();
		if (resumers.get(this.node.id)) resumers.delete(this.node.id);
	}
}
