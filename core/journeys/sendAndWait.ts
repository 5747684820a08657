/**
 * Send and Wait for Response, for every adapter: which outputs a wait has, which webhook event ends it and on which
 * output, when it times out, and the proof a resume request carries. The adapters send, hold the waiting execution
 * (n8n) or message (Node-RED), and route; the rules are here once.
 *
 * The proof: each wait has a random secret kept in the journey state store next to its link. The receiver that claims
 * the link stores the resume request with the claim, and the resume dispatcher signs it with the secret (HMAC-SHA256
 * over the exact body); the waiting node reads the link again and refuses (403) any request whose proof does not
 * verify, whose link is not claimed, or that names another execution, and (410) one whose wait has ended already. n8n 2.x already signs the resume URL itself; this closes the remaining gap (anyone who learns the URL,
 * e.g. from execution data, could resume it with a made-up answer).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { IngestedEvent } from '../ingest';
import { MessageValidationError, SESSION_LIMITS, sessionMessageFromFields } from '../messages';
import type { SessionMessage, SessionMessageFields } from '../messages';
import type { WaitLink, WaitLinkStore } from '../state/waitLinks';
import { resolveCustomer } from '../state/identity';
import type { JourneyStateStore } from '../state/types';
import { STATUS_RANK } from '../webhooks/status';
import { ResumeDispatcher, resumeDispatcher, resumeProof } from './resumeDispatcher';
import type { ResumeAttempt } from './resumeDispatcher';

export type { ResumeAttempt } from './resumeDispatcher';
export { resumeProof } from './resumeDispatcher';

export const WAIT_STATUSES = ['delivered', 'read'] as const;
export type WaitStatus = (typeof WAIT_STATUSES)[number];

/** Meta allows 3 reply buttons on an interactive message, 10 quick replies on a template and 10 list rows. */
export const MAX_WAIT_BUTTONS = 10;
export const DEFAULT_WAIT_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * What a wait sends: an approved template (any time), or inside the customer service window reply buttons, a list or
 * a text (session messages: with the window closed Meta accepts them and reports 131047 as a failed status, which
 * ends the wait on Failed, as any session send does).
 */
export const WAIT_MESSAGE_KINDS = ['template', 'buttons', 'list', 'text'] as const;
export type WaitMessageKind = (typeof WAIT_MESSAGE_KINDS)[number];

export const waitSpecSchema = z.object({
	/** The labels of the buttons (quick replies, reply buttons or list rows) in output order. */
	buttons: z
		.array(z.string().trim().min(1, 'a button label is empty'))
		.max(MAX_WAIT_BUTTONS, `at most ${MAX_WAIT_BUTTONS} buttons`),
	/** The reply ids of interactive buttons or list rows, by output (Meta returns them in button_reply / list_reply). */
	ids: z.array(z.string()).optional(),
	/** What was sent; absent in links written before interactive waits (a template). */
	kind: z.enum(WAIT_MESSAGE_KINDS).optional(),
	/** Resume on this status (or a later one) with the Status output. */
	status: z.enum(WAIT_STATUSES).optional(),
});
export type WaitSpec = z.infer<typeof waitSpecSchema>;

/**
 * Reads the adapters' "Reply Buttons" text: one label per line or comma. Self-contained (no outer references): n8n
 * evaluates its source inside the node's outputs expression.
 */
export function parseWaitButtons(text: string | string[]): string[] {
	const list = Array.isArray(text) ? text : String(text ?? '').split(/[,\n]/);
	return list.map((b) => String(b).trim()).filter((b) => b.length > 0);
}

export function waitSpecFrom(input: { buttons: string | string[]; status?: string }): WaitSpec {
	const parsed = waitSpecSchema.safeParse({
		buttons: parseWaitButtons(input.buttons),
		status: input.status ? input.status : undefined,
	});
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		const field = issue.path[0] === 'status' ? 'Resume on Status' : 'Reply Buttons';
		throw new Error(
			`${field}: ${issue.message}. List the button labels exactly as the template's quick replies (or your interactive buttons) show them, one per line.`,
		);
	}
	const seen = new Set<string>();
	for (const b of parsed.data.buttons) {
		const k = b.toLowerCase();
		if (seen.has(k))
			throw new Error(`Reply Buttons: "${b}" is listed twice; each button needs its own label.`);
		seen.add(k);
	}
	return parsed.data;
}

/** A wait's own message (not a template): reply buttons, a list or a text, as the adapters' fields describe it. */
export type WaitMessageFields = Pick<
	SessionMessageFields,
	'text' | 'listButton' | 'header' | 'footer'
> & {
	type: Exclude<WaitMessageKind, 'template'>;
	buttons?: Array<{ id?: string; title?: string }>;
	rows?: Array<{ id?: string; title?: string; description?: string; section?: string }>;
};

/**
 * The message a wait sends and the spec it waits with, from one description: the payload is core's session message
 * (sessionMessageFromFields, Meta's limits), the outputs are its buttons or rows in the order given, each matched by its
 * reply id. A button or row without an id gets its title as id, so a tap names it either way.
 */
export function waitMessageFrom(
	fields: WaitMessageFields,
	status?: string,
): { message: SessionMessage; spec: WaitSpec } {
	const choices =
		(fields.type === 'buttons' ? fields.buttons : fields.type === 'list' ? fields.rows : []) ?? [];
	const filled = choices.map((c) => {
		const title = (c.title ?? '').trim();
		const id = (c.id ?? '').trim();
		return { ...c, title, id: id || title };
	});
	if (fields.type !== 'text' && filled.length === 0)
		throw new MessageValidationError(
			[
				{
					path: fields.type === 'buttons' ? 'buttons' : 'rows',
					message:
						fields.type === 'buttons'
							? `needs 1 to ${SESSION_LIMITS.replyButtons} buttons, each with a title`
							: `needs 1 to ${SESSION_LIMITS.listRowsTotal} rows, each with a title`,
				},
			],
			'Send and Wait message',
		);
	const message = sessionMessageFromFields(
		fields.type === 'buttons'
			? {
					type: 'buttons',
					text: fields.text,
					buttons: filled,
					header: fields.header,
					footer: fields.footer,
				}
			: fields.type === 'list'
				? {
						type: 'list',
						text: fields.text,
						rows: filled,
						listButton: fields.listButton,
						header: fields.header,
						footer: fields.footer,
					}
				: { type: 'text', text: fields.text },
	);
	const spec = waitSpecFrom({ buttons: filled.map((c) => c.title), status });
	return {
		message,
		spec: {
			...spec,
			kind: fields.type,
			...(filled.length ? { ids: filled.map((c) => c.id) } : {}),
		},
	};
}

/**
 * The spec of a wait whose outputs are fixed in advance (Node-RED: the node's Reply Buttons) for a session message
 * built per message: a text with no buttons waits on Reply; reply buttons or a list must offer exactly the configured
 * buttons (by title or id), so each tap has its output. Errors say what to change.
 */
export function waitSpecForMessage(spec: WaitSpec, message: SessionMessage): WaitSpec {
	if (message.type === 'text') {
		if (spec.buttons.length > 0)
			throw new Error(
				`Reply Buttons lists ${spec.buttons.map((b) => `"${b}"`).join(', ')}, but the message is a text without buttons: send reply buttons or a list with them, or empty Reply Buttons to wait for any reply.`,
			);
		return { ...spec, kind: 'text' };
	}
	const ia = message.type === 'interactive' ? message.interactive : undefined;
	const choices =
		ia?.type === 'button'
			? ia.action.buttons.map((b) => b.reply)
			: ia?.type === 'list'
				? ia.action.sections.flatMap((s) => s.rows)
				: undefined;
	if (!ia || !choices)
		throw new Error(
			`Send and Wait sends reply buttons, a list or a text; this message is of type "${message.type === 'interactive' ? `interactive ${String(ia?.type)}` : message.type}".`,
		);
	const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
	const shown = JSON.stringify(choices.map((c) => c.title));
	const ids = spec.buttons.map((label) => {
		const choice = choices.find((c) => same(c.title, label)) ?? choices.find((c) => c.id === label);
		if (!choice)
			throw new Error(
				`Reply Buttons: "${label}" is not a ${ia.type === 'list' ? 'row' : 'button'} of this message (it has ${shown}).`,
			);
		return choice.id;
	});
	const extra = choices.filter((c) => !ids.includes(c.id));
	if (extra.length > 0)
		throw new Error(
			`The message's ${extra.map((c) => `"${c.title}"`).join(', ')} ${extra.length > 1 ? 'have' : 'has'} no output: add ${extra.length > 1 ? 'them' : 'it'} to Reply Buttons.`,
		);
	return { ...spec, ids, kind: ia.type === 'list' ? 'list' : 'buttons' };
}

/**
 * The outputs of a wait, in order. "No Response" comes first because n8n resumes a wait that timed out by running
 * the waiting node as disabled, which passes its input on the first output (n8n-core WorkflowExecute
 * handleWaitingState / handleDisabledNode): the timeout path needs no webhook and survives any restart.
 */
export function waitOutputNames(spec: Pick<WaitSpec, 'buttons' | 'status' | 'kind'>): string[] {
	return waitOutputLabels(spec.buttons, spec.status, spec.kind);
}

/**
 * waitOutputNames for the n8n outputs expression: self-contained, so its source can be evaluated there. A text has no
 * buttons: any reply is its answer, on "Reply" (the output Other Reply is for the kinds with buttons).
 */
export function waitOutputLabels(
	buttons: string[],
	status: string | undefined,
	kind?: string,
): string[] {
	const names = ['No Response'].concat(buttons, [kind === 'text' ? 'Reply' : 'Other Reply']);
	if (status) names.push('Status: ' + status);
	names.push('Failed');
	return names;
}

export type WaitOutcome =
	| { kind: 'button'; index: number; label: string }
	| { kind: 'otherReply' }
	| { kind: 'status'; status: WaitStatus }
	| { kind: 'failed' }
	| { kind: 'timeout' };

export function waitOutputIndex(spec: WaitSpec, outcome: WaitOutcome): number {
	const names = waitOutputNames(spec);
	switch (outcome.kind) {
		case 'timeout':
			return 0;
		case 'button':
			return 1 + outcome.index;
		case 'otherReply':
			return 1 + spec.buttons.length;
		case 'status':
			return 2 + spec.buttons.length;
		case 'failed':
			return names.length - 1;
	}
}

/** The interactive reply id of a button: stable, so a renamed label on screen still matches by position. */
export const waitButtonId = (index: number): string => `wj-btn-${index}`;

const same = (a: string | undefined, b: string): boolean =>
	a !== undefined && a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * The button a tap names: by the reply id we sent (interactive buttons and list rows), our generated id, the
 * quick-reply payload, or the label shown.
 */
function buttonOf(spec: WaitSpec, event: Extract<IngestedEvent, { kind: 'message' }>) {
	const replyId = event.interactive?.id;
	if (replyId !== undefined && spec.ids) {
		const index = spec.ids.indexOf(replyId);
		if (index >= 0 && index < spec.buttons.length) return { index, label: spec.buttons[index] };
	}
	const candidates = [
		event.button?.payload,
		event.button?.text,
		event.interactive?.id,
		event.interactive?.title,
	];
	for (const [index, label] of spec.buttons.entries()) {
		if (event.interactive?.id === waitButtonId(index)) return { index, label };
		if (candidates.some((c) => same(c, label))) return { index, label };
	}
	return undefined;
}

/**
 * Which of the wait's outputs an event leads to, or undefined when it does not end the wait. `link` holds the wait's
 * message and customer; the event must be about that message (a reply whose context names it, or its status), or a
 * message from that customer without context (free text): that is an Other Reply.
 */
export function matchWaitEvent(
	link: Pick<WaitLink, 'messageId' | 'waId'>,
	spec: WaitSpec,
	event: IngestedEvent,
): WaitOutcome | undefined {
	if (event.kind === 'status') {
		if (event.messageId !== link.messageId) return undefined;
		if (event.status === 'failed') return { kind: 'failed' };
		if (spec.status && STATUS_RANK[event.status] >= STATUS_RANK[spec.status])
			return { kind: 'status', status: spec.status };
		return undefined;
	}
	if (event.kind !== 'message' || event.type === 'reaction') return undefined;
	const contextId = event.context?.messageId;
	if (contextId !== undefined && contextId !== link.messageId) return undefined;
	if (contextId === undefined && event.from !== link.waId) return undefined;
	const button = contextId === link.messageId ? buttonOf(spec, event) : undefined;
	return button ? { kind: 'button', ...button } : { kind: 'otherReply' };
}

/** The wamid and customer an event may resume a wait of: the lookups a receiver makes. */
export function waitCandidates(
	event: IngestedEvent,
): { messageId?: string; waId?: string } | undefined {
	if (event.kind === 'status') return { messageId: event.messageId };
	if (event.kind === 'message' && event.type !== 'reaction') {
		if (event.context?.messageId) return { messageId: event.context.messageId };
		if (event.from) return { waId: event.from };
	}
	return undefined;
}

export type WaitTimeout =
	{ after: { amount: number; unit: 'minutes' | 'hours' | 'days' } } | { until: string | Date };

const UNIT_MS = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;

/** When the wait ends without an answer. Errors name the parameter. */
export function waitDeadline(timeout: WaitTimeout | undefined, now: number): number {
	if (!timeout) return now + DEFAULT_WAIT_TIMEOUT_MS;
	if ('after' in timeout) {
		const { amount, unit } = timeout.after;
		if (!Number.isFinite(amount) || amount <= 0 || !(unit in UNIT_MS))
			throw new Error(
				'Wait Time: give a positive amount of minutes, hours or days (for example 24 hours).',
			);
		return now + amount * UNIT_MS[unit];
	}
	const ms = new Date(timeout.until).getTime();
	if (!Number.isFinite(ms))
		throw new Error('Wait Until: not a date; use an ISO date such as 2026-12-24T18:00:00Z.');
	if (ms <= now) throw new Error('Wait Until: the date is in the past; nothing could answer.');
	return ms;
}

export function newWaitSecret(): string {
	return randomBytes(32).toString('hex');
}

/**
 * The wait link of a message just sent, as both adapters store it before the send's result is returned: a fresh
 * secret, the spec and the send result as JSON, and (Node-RED) the adapter's own copy of what waits.
 */
export function newWaitLink(p: {
	phoneNumberId: string;
	sent: { messageId: string; waId: string } & Record<string, unknown>;
	executionId: string;
	resumeUrl: string;
	spec: WaitSpec;
	deadline: number;
	held?: string;
}): WaitLink {
	return {
		phoneNumberId: p.phoneNumberId,
		messageId: p.sent.messageId,
		waId: p.sent.waId,
		executionId: p.executionId,
		resumeUrl: p.resumeUrl,
		secret: newWaitSecret(),
		expiresAt: p.deadline,
		spec: JSON.stringify(p.spec),
		sent: JSON.stringify(p.sent),
		...(p.held !== undefined ? { held: p.held } : {}),
		createdAt: Date.now(),
	};
}

export const RESUME_PROOF_HEADER = 'x-whatsapp-journeys-proof';

/** What a resume request carries (as JSON, signed as sent). */
export const resumeBodySchema = z.object({
	v: z.literal(1),
	phoneNumberId: z.string().min(1),
	messageId: z.string().min(1),
	executionId: z.string().min(1),
	outcome: z.discriminatedUnion('kind', [
		z.object({ kind: z.literal('button'), index: z.number().int().min(0), label: z.string() }),
		z.object({ kind: z.literal('otherReply') }),
		z.object({ kind: z.literal('status'), status: z.enum(WAIT_STATUSES) }),
		z.object({ kind: z.literal('failed') }),
	]),
	/** The event that ended the wait, as the receiver emitted it. */
	event: z.record(z.string(), z.unknown()),
	resumedAt: z.string(),
});
export type ResumeBody = z.infer<typeof resumeBodySchema>;

/** The body and proof header a receiver sends to resume the wait of a claimed link. */
export function buildResumeRequest(
	link: WaitLink,
	outcome: Exclude<WaitOutcome, { kind: 'timeout' }>,
	event: IngestedEvent,
	now = Date.now(),
): { body: string; proof: string } {
	const body: ResumeBody = {
		v: 1,
		phoneNumberId: link.phoneNumberId,
		messageId: link.messageId,
		executionId: link.executionId,
		outcome,
		event: { ...event } as Record<string, unknown>,
		resumedAt: new Date(now).toISOString(),
	};
	const text = JSON.stringify(body);
	return { body: text, proof: resumeProof(link.secret, text) };
}

export type ResumeCheck =
	| { ok: true; body: ResumeBody; link: WaitLink }
	| { ok: false; status: 400 | 403 | 410; reason: string };

/**
 * The waiting node's check of a resume request: the exact body bytes, the proof header, and the execution it is
 * waiting in. Only a request made with the secret of this execution's claimed link passes.
 */
export async function verifyResumeRequest(
	raw: string,
	proof: string | undefined,
	executionId: string,
	store: WaitLinkStore,
): Promise<ResumeCheck> {
	let body: ResumeBody;
	try {
		const parsed = resumeBodySchema.safeParse(JSON.parse(raw));
		if (!parsed.success) return { ok: false, status: 400, reason: 'Not a resume request' };
		body = parsed.data;
	} catch {
		return { ok: false, status: 400, reason: 'Not a resume request' };
	}
	const refused = { ok: false, status: 403, reason: 'Resume refused' } as const;
	if (!proof || body.executionId !== executionId) return refused;
	const link = await store.getWaitLink({
		phoneNumberId: body.phoneNumberId,
		messageId: body.messageId,
	});
	if (!link || link.executionId !== executionId || link.claimedAt === undefined) return refused;
	const expected = Buffer.from(resumeProof(link.secret, raw));
	const given = Buffer.from(proof);
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refused;
	if (link.endedAt !== undefined) return { ok: false, status: 410, reason: 'Resumed already' };
	return { ok: true, body, link };
}

/**
 * The waiting node's acceptance of a resume request: verified as above, then the wait is ended in the store, once. A
 * second delivery of the same resume (a dispatcher that died before it could confirm, or two that raced) gets 410 and
 * resumes nothing; so does a stale one reaching the same node waiting again on a later message.
 */
export async function acceptResumeRequest(
	raw: string,
	proof: string | undefined,
	executionId: string,
	store: WaitLinkStore,
): Promise<ResumeCheck> {
	const check = await verifyResumeRequest(raw, proof, executionId, store);
	if (!check.ok) return check;
	const ended = await store.endWaitLink({
		phoneNumberId: check.link.phoneNumberId,
		messageId: check.link.messageId,
	});
	return ended ? check : { ok: false, status: 410, reason: 'Resumed already' };
}

/** The item a resumed wait emits: the send result, the outcome and the reply or status, and how long it waited. */
export function resumedItem(link: WaitLink, body: ResumeBody): Record<string, unknown> {
	let sent: Record<string, unknown> = {};
	try {
		sent = JSON.parse(link.sent) as Record<string, unknown>;
	} catch {
		// A link written by hand without a send result still resumes.
	}
	const ev = body.event;
	const reply =
		ev.kind === 'message'
			? {
					messageId: ev.messageId,
					type: ev.type,
					text: ev.text,
					button: ev.button,
					interactive: ev.interactive,
					media: ev.media,
					timestamp: ev.timestamp,
				}
			: undefined;
	const waitedSeconds = Math.max(
		0,
		Math.round((Date.parse(body.resumedAt) - link.createdAt) / 1000),
	);
	return {
		...sent,
		waitOutcome: body.outcome.kind,
		...(body.outcome.kind === 'button'
			? { button: { index: body.outcome.index, label: body.outcome.label } }
			: {}),
		...(reply ? { reply } : {}),
		...(ev.kind === 'status'
			? { status: { status: ev.status, timestamp: ev.timestamp, errors: ev.errors } }
			: {}),
		waitedSeconds,
	};
}

/**
 * For a receiver, after ingest: each event that ends a wait claims its link (once, whoever else sees it) and stores the
 * resume to deliver with the claim; the dispatcher (resumeDispatcher.ts) delivers it after the receiver has answered.
 * Returns, per event index, the execution the event resumes (claimed now; delivered however long the host takes).
 */
export async function resumeWaits(
	events: IngestedEvent[],
	store: WaitLinkStore & Partial<Pick<JourneyStateStore, 'getIdentity'>>,
	dispatch: ResumeAttempt | ResumeDispatcher,
	now: () => number = Date.now,
	/** Links the store read with the events' writes (IngestResult.waitLinks): not read again. */
	known?: ReadonlyArray<WaitLink | null | undefined>,
): Promise<Map<number, string>> {
	const claimed = new Map<number, string>();
	const dispatcher =
		dispatch instanceof ResumeDispatcher ? dispatch : resumeDispatcher(store, dispatch);
	await Promise.all(
		events.map(async (event, index) => {
			const key = waitCandidates(event);
			if (!key) return;
			const phoneNumberId = (event as { phoneNumberId?: string }).phoneNumberId;
			if (!phoneNumberId) return;
			const peeked = key.messageId !== undefined ? known?.[index] : undefined;
			let link =
				peeked !== undefined
					? (peeked ?? undefined)
					: await store.getWaitLink({ phoneNumberId, ...key });
			// A reply without context from the customer's other id (the wait was sent to their BSUID and the reply
			// names their number, or the other way round): the same customer, so the same wait.
			let from = key.waId;
			if (!link && key.waId && store.getIdentity) {
				const { getIdentity } = store;
				const customer = await resolveCustomer(
					{ getIdentity: (p: { phoneNumberId: string; id: string }) => getIdentity.call(store, p) },
					phoneNumberId,
					key.waId,
				);
				for (const id of customer.ids.slice(1)) {
					link = await store.getWaitLink({ phoneNumberId, waId: id });
					if (link) {
						from = id;
						break;
					}
				}
			}
			if (!link || link.claimedAt !== undefined || link.endedAt !== undefined) return;
			if (link.expiresAt <= now()) return;
			let spec: WaitSpec;
			try {
				spec = waitSpecSchema.parse(JSON.parse(link.spec));
			} catch {
				return;
			}
			const outcome = matchWaitEvent(
				link,
				spec,
				event.kind === 'message' && from !== undefined && from !== key.waId
					? { ...event, from }
					: event,
			);
			if (!outcome || outcome.kind === 'timeout') return;
			const at = now();
			const { body } = buildResumeRequest(link, outcome, event, at);
			const won = await store.claimWaitLink({
				phoneNumberId,
				messageId: link.messageId,
				now: at,
				resume: body,
				leaseUntil: at + dispatcher.leaseMs,
			});
			// Another receiver claimed it first, or it was put again (a new wait) since it was read.
			if (!won || won.executionId !== link.executionId) return;
			claimed.set(index, won.executionId);
			dispatcher.enqueue(won);
		}),
	);
	return claimed;
}
