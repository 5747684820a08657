/**
 * The types the send gate and sendBatch share (core/send.ts uses them; rules.ts implements them), apart from both so
 * neither imports the other.
 */
import type { AdmissionResult } from '../state/types';
import type { TemplateCategory } from '../templates/model';

/** Template categories, plus SERVICE for free-form session messages (never business-initiated). */
export type RuleCategory = TemplateCategory | 'SERVICE';

export type PolicyDecision =
	| 'sent'
	| 'already_sent'
	| 'in_progress'
	| 'outcome_unknown'
	| 'frequency_capped'
	| 'quiet_hours'
	| 'messaging_limit'
	| 'quality_guard'
	| 'opted_out'
	| 'us_marketing'
	| 'dry_run'
	/** Admitted, but Meta refused the request for sure: the claim and counts were given back. */
	| 'released';

/** Goes on every output item as `policy`. Decide on `code` (stable), not on `reason` (for people). */
export interface PolicyResult {
	decision: PolicyDecision;
	reason: string;
	/** Which rule decided: once_per_step, frequency_cap, quiet_hours, messaging_limit, quality_guard, … */
	rule?: string;
	code: string;
	stepKey?: string;
	messageId?: string;
	sentAt?: string;
	resumeAt?: string;
	count?: number;
	limit?: number;
	timeZone?: string;
	/** True when the time zone was assumed for a country with several (see README). */
	timeZoneAssumed?: boolean;
}

export interface GateRequest {
	/** The customer's one key (resolveCustomer's `key`): claims and counts are kept under it. */
	waId: string;
	/** The customer's other ids the store knows (a BSUID, the number it was paired with): their windows and counts count. */
	otherIds?: string[];
	e164: string;
	category: RuleCategory;
	/** Absent when once-per-step is off. */
	stepKey?: string;
	/** The step's key under each other id (stepKeysFor): a send claimed under any of them is this step too. */
	otherStepKeys?: string[];
	itemTimeZone?: string;
	template?: { name: string; language: string };
}

export interface GateTicket {
	token: string;
	request: GateRequest;
	admission: Extract<AdmissionResult, { admitted: true }>;
	frequencyCategory?: string;
	limitScope?: string;
	/** The step key this send claimed (once per step on): each request marks it as leaving. */
	claimedStep?: string;
}

/** What settle needs of a send's outcome (core/send.ts SendOutcome fits it). */
export type GateOutcome =
	| { ok: true; result: { messageId: string; waId?: string; userId?: string } }
	| { ok: false; error: unknown }
	| { ok: 'skipped' };

export interface SendGate {
	admit(
		item: GateRequest,
	): Promise<{ admitted: true; ticket: GateTicket } | { admitted: false; policy: PolicyResult }>;
	/**
	 * Right before each request of an admitted send leaves (after its pacer slot): undefined when it may leave; else
	 * why not — its claim is no longer its own (another run took over a claim that had sent nothing), so it must not.
	 */
	leaving(ticket: GateTicket): Promise<PolicyResult | undefined>;
	settle(ticket: GateTicket, outcome: GateOutcome): Promise<PolicyResult>;
	/** Dry Run: what admit would decide now, without claiming or counting anything (`dry_run` when it would send). */
	preview(item: GateRequest): Promise<PolicyResult>;
}
