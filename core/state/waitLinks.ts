/**
 * Wait links: which waiting execution a sent message (wamid) resumes. Written by Send and Wait before its result is
 * returned; read and claimed by whichever webhook receiver sees the customer's reply or the message's status.
 *
 * A claim is atomic in every backend, so duplicate taps, Meta's retries and two receivers fed the same webhooks
 * resume a wait once. The per-wait secret proves a resume request came from a receiver with access to this store.
 */

/** Claimed or expired links are kept this long, so a late resume request can still be verified and refused. */
export const WAIT_LINK_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface WaitLink {
	phoneNumberId: string;
	/** The wamid of the message the execution waits on. */
	messageId: string;
	/** The customer's wa_id: a reply without context (free text) from them is an "Other Reply". */
	waId: string;
	executionId: string;
	/** Where the waiting execution is resumed (n8n's signed resume URL, or a Node-RED node id). */
	resumeUrl: string;
	/** Hex secret of this wait: resume requests carry an HMAC made with it (core/journeys/sendAndWait.ts). */
	secret: string;
	/** Epoch ms after which nothing resumes the wait (the timeout is n8n's or the node's own). */
	expiresAt: number;
	/** What the wait listens for (JSON of WaitSpec, kept opaque here). */
	spec: string;
	/** The send result (JSON), handed to the resumed item. */
	sent: string;
	/** The adapter's own copy of what waits (Node-RED: the msg, as JSON), so a restarted process can still resume it. */
	held?: string;
	createdAt: number;
	/** Epoch ms of the claim; absent while the wait is open. */
	claimedAt?: number;
	/** The resume request body (JSON) the claim is to deliver, stored with the claim (the proof is made from `secret`). */
	resume?: string;
	/** Until when (epoch ms) a dispatcher holds the pending resume; after it any receiver of the store may take it. */
	leaseUntil?: number;
	/** Epoch ms the wait ended: its resume was taken by the waiting node, or it was given up; nothing resumes it again. */
	endedAt?: number;
}

/** A claim's resume to deliver: its body, and the claimer's lease on delivering it. */
export interface WaitResumeClaim {
	resume: string;
	leaseUntil: number;
}

export interface WaitLinkStore {
	/** Stores (or replaces) the link of a message; the customer's latest open wait is the one their free text resumes. */
	putWaitLink(link: WaitLink): Promise<void>;
	/** The link of a message, or the customer's latest one (`waId`), claimed or not. */
	getWaitLink(p: {
		phoneNumberId: string;
		messageId?: string;
		waId?: string;
	}): Promise<WaitLink | undefined>;
	/**
	 * Atomically marks an open, unexpired link claimed and returns it; undefined when claimed already or expired. With
	 * `resume`, the resume to deliver is stored with the claim (pending until `endWaitLink`), leased to the claimer.
	 */
	claimWaitLink(
		p: {
			phoneNumberId: string;
			messageId: string;
			now?: number;
		} & Partial<WaitResumeClaim>,
	): Promise<WaitLink | undefined>;
	/**
	 * Takes up to `limit` pending resumes whose lease has run out (a claimer that died, or gave them up for a while) and
	 * whose link has not expired, leasing them until `leaseUntil`; one caller gets each.
	 */
	leaseWaitResumes(p: { now: number; leaseUntil: number; limit: number }): Promise<WaitLink[]>;
	/** Extends the lease on a pending resume; false when the wait has ended (nothing more to deliver). */
	renewWaitResume(p: {
		phoneNumberId: string;
		messageId: string;
		leaseUntil: number;
	}): Promise<boolean>;
	/**
	 * Ends a wait, claimed or not: true for the one call that ended it. The waiting node calls it before it resumes
	 * (a second delivery of the same resume is then refused), a dispatcher when a resume is refused for good, and
	 * Node-RED's timeout before it emits No Response.
	 */
	endWaitLink(p: { phoneNumberId: string; messageId: string; now?: number }): Promise<boolean>;
	/** Opens a claimed link again (the resume request could not be delivered), so a later webhook can resume it. */
	releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void>;
	/**
	 * The waits of `resumeUrl` not ended yet (claimed or not, past their expiry or not, until pruned), earliest
	 * `expiresAt` first, at most `limit`. Page on with `after` = the last link of the previous page; a wait ended
	 * between pages does not shift the next one. A Node-RED node lists its own at start to re-arm No Response timers.
	 */
	listOpenWaitLinks(p: {
		resumeUrl: string;
		limit: number;
		after?: WaitLinkCursor;
	}): Promise<WaitLink[]>;
}

/** Where a page of `listOpenWaitLinks` ended: the last link it returned. */
export type WaitLinkCursor = Pick<WaitLink, 'phoneNumberId' | 'messageId' | 'expiresAt'>;

/** The longest page `listOpenWaitLinks` returns, whatever `limit` asks. */
export const OPEN_WAIT_LINKS_PAGE_MAX = 1000;

/** `listOpenWaitLinks`' arguments, checked: errors name the field. */
export function checkOpenWaitLinksQuery(p: {
	resumeUrl: string;
	limit: number;
	after?: WaitLinkCursor;
}): { resumeUrl: string; limit: number; after?: WaitLinkCursor } {
	if (typeof p?.resumeUrl !== 'string' || p.resumeUrl.length === 0)
		throw new Error('resumeUrl is required (a non-empty string).');
	if (!Number.isInteger(p.limit) || p.limit < 0)
		throw new Error('limit must be a whole number, 0 or more.');
	const a = p.after;
	if (
		a !== undefined &&
		(typeof a.phoneNumberId !== 'string' ||
			typeof a.messageId !== 'string' ||
			!Number.isFinite(a.expiresAt))
	)
		throw new Error(
			'after must be the last link of the previous page (phoneNumberId, messageId, expiresAt).',
		);
	return { resumeUrl: p.resumeUrl, limit: Math.min(p.limit, OPEN_WAIT_LINKS_PAGE_MAX), after: a };
}

export function checkWaitLink(link: WaitLink): WaitLink {
	if (!link || typeof link !== 'object') throw new Error('putWaitLink needs a link object.');
	for (const field of [
		'phoneNumberId',
		'messageId',
		'waId',
		'executionId',
		'resumeUrl',
		'secret',
		'spec',
		'sent',
	] as const)
		if (typeof link[field] !== 'string' || link[field].length === 0)
			throw new Error(`${field} is required (a non-empty string).`);
	for (const field of ['expiresAt', 'createdAt'] as const)
		if (typeof link[field] !== 'number' || !Number.isFinite(link[field]))
			throw new Error(`${field} must be epoch milliseconds.`);
	return link;
}

/** Whether a link may go at `now`: past its expiry (or claim) by the retention. */
export function waitLinkPrunable(link: Pick<WaitLink, 'expiresAt' | 'claimedAt'>, now: number) {
	const end = Math.min(link.expiresAt, link.claimedAt ?? Infinity);
	return end + WAIT_LINK_RETENTION_MS <= now;
}
