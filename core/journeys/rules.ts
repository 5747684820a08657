/**
 * Journey rules (issue #14): once per step, frequency cap, quiet hours, messaging-limit and quality guards.
 *
 * Evaluated per send right before the request leaves (sendBatch's `gate`): the pure rules (quiet hours, quality)
 * first, then one store unit of work that claims the step and counts the caps, all or nothing, so every worker
 * sharing the store sees the same claims and counts. After the request, `settle` records the wamid (sent),
 * releases the claim and the counts (a refusal proves nothing left) or leaves the step unknown (the request may have
 * been accepted: timeout, crash) — a status webhook carrying the step key (`k=` in the tracking) resolves it later.
 * Between the two, `leaving` stamps each request on the claim as it leaves (after the pacer slot): a claim with no
 * request out is provably unsent, so a re-run takes it over once its sender is surely gone (UNSENT_CLAIM_LEASE_MS),
 * and the old sender, fenced by the token, can no longer send it.
 */
import { createHash, randomUUID } from 'node:crypto';

import { z } from 'zod';

import { JOURNEY_RULE_CODES, WhatsAppApiError } from '../errors';
import {
	accountSubject,
	type AccountFactRecord,
	type AdmissionResult,
	type JourneyStateStore,
	MAX_OTHER_IDS,
	PENDING_LEASE_MS,
} from '../state/types';
import type { Customer } from '../state/identity';
import type { GateRequest, PolicyDecision, PolicyResult, RuleCategory, SendGate } from './gate';
import { isBsuid } from '../phone';
import { SendPolicyError } from './policy';
import type { SendContent } from './send';
import { quietHoursDecision, type QuietHours } from './quietHours';

export * from './gate';
export * from './quietHours';

const categorySchema = z.enum(['MARKETING', 'UTILITY', 'AUTHENTICATION', 'SERVICE']);

const hhmm = z
	.string()
	.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use 24-hour HH:MM, e.g. "21:00"')
	.describe('HH:MM');

export interface JourneyRules {
	oncePerStep: boolean;
	/** 0 = the step is received once per occurrence for ever (within STEP_RETENTION_MS). */
	reentryPeriodHours: number;
	retryWhenOutcomeUnknown: boolean;
	frequencyCap?: { maxMessages: number; periodHours: number; categories: RuleCategory[] };
	quietHours?: QuietHours;
	messagingLimitGuard: boolean;
	qualityGuard: boolean;
}

export const quietHoursSchema = z
	.object({
		start: hhmm,
		end: hhmm,
		timeZone: z
			.string()
			.min(1)
			.refine(isTimeZone, 'not an IANA time zone Intl knows, e.g. "Europe/Berlin"')
			.optional(),
		exemptCategories: z.array(categorySchema).default(['AUTHENTICATION', 'UTILITY']),
		whenOutside: z.enum(['hold', 'skip']).default('hold'),
	})
	.refine((q) => q.start !== q.end, {
		message: 'start and end are equal: quiet hours need a start and an end that differ',
		path: ['end'],
	});

/** Validates the node's "Journey Rules" settings; defaults as documented in README "Journey rules". */
export const journeyRulesSchema: z.ZodType<JourneyRules, z.ZodTypeDef, unknown> = z.object({
	oncePerStep: z.boolean().default(true),
	reentryPeriodHours: z.number().min(0).max(9600).default(0),
	retryWhenOutcomeUnknown: z.boolean().default(false),
	frequencyCap: z
		.object({
			maxMessages: z.number().int().min(1).max(1000),
			periodHours: z.number().positive().max(744, 'at most 744 hours (31 days)'),
			categories: z.array(categorySchema).min(1).default(['MARKETING']),
		})
		.optional(),
	quietHours: quietHoursSchema.optional(),
	messagingLimitGuard: z.boolean().default(true),
	qualityGuard: z.boolean().default(true),
}) as z.ZodType<JourneyRules, z.ZodTypeDef, unknown>;

/** The rules with every default: once per step on, guards on, no cap, no quiet hours. */
export const DEFAULT_JOURNEY_RULES: JourneyRules = journeyRulesSchema.parse({});

/** Parses rules with errors that name the field and the fix. */
export function parseJourneyRules(input: unknown, fieldLabel = 'Journey Rules'): JourneyRules {
	const parsed = journeyRulesSchema.safeParse(input ?? {});
	if (parsed.success) return parsed.data;
	const issue = parsed.error.issues[0];
	throw new Error(`${fieldLabel} › ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

/** A policy result for a decision, with its stable code. */
export function policyResult(
	decision: PolicyDecision,
	reason: string,
	extra: Omit<PolicyResult, 'decision' | 'reason' | 'code'> = {},
): PolicyResult {
	return { decision, reason, code: JOURNEY_RULE_CODES[decision], ...extra };
}

/**
 * The policy of a refusal the send paths already make (SendPolicyError: opted out, US marketing), so every rule that
 * stops a send reads the same on the item. Undefined for refusals that are not journey rules (template not approved).
 */
export function policyOfRefusal(error: unknown, stepKey?: string): PolicyResult | undefined {
	if (!(error instanceof SendPolicyError)) return undefined;
	if (error.code === 'opted_out')
		return policyResult('opted_out', error.message, { rule: 'opt_out', stepKey });
	if (error.code === 'us_marketing')
		return policyResult('us_marketing', error.message, { rule: 'us_marketing', stepKey });
	return undefined;
}

/**
 * The step's identity: journey + step + customer (+ occurrence), or the adapter's own scope (n8n: workflow id and
 * node name; Node-RED: flow and node id) when journey/step are not set. A hash, so no raw id travels in tracking.
 */
export function stepKeyFor(p: {
	phoneNumberId: string;
	journey?: string;
	step?: string;
	scope: string;
	waId: string;
	occurrenceKey?: string;
}): string {
	const named = Boolean(p.journey || p.step);
	const parts = [
		'v1',
		p.phoneNumberId,
		named ? `j:${p.journey ?? ''}` : `s:${p.scope}`,
		named ? (p.step ?? '') : '',
		p.waId,
		p.occurrenceKey ?? '',
	];
	// 128 bits: collisions are out of reach; 22 URL-safe characters keep the tracking data short.
	return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/**
 * The step's key for the customer's one key, and the same step's key under each of their other ids (resolveCustomer):
 * a step sent while the customer was known by a BSUID only, or by their number only, keeps its key after the store
 * learns the pairing (the canonical key moves to the wa_id), so the gate checks every one of them.
 */
export function stepKeysFor(
	p: Omit<Parameters<typeof stepKeyFor>[0], 'waId'>,
	customer: Pick<Customer, 'key' | 'ids'>,
): { stepKey: string; otherStepKeys: string[] } {
	return {
		stepKey: stepKeyFor({ ...p, waId: customer.key }),
		otherStepKeys: otherIdsOf(customer).map((waId) => stepKeyFor({ ...p, waId })),
	};
}

/** The customer's ids other than their key, at most MAX_OTHER_IDS (the store refuses more). */
export function otherIdsOf(customer: Pick<Customer, 'key' | 'ids'>): string[] {
	return customer.ids.filter((id) => id !== customer.key).slice(0, MAX_OTHER_IDS);
}

/** What the gate knows about the account: from the Graph read on each run and from webhooks (the store). */
export interface AccountState {
	/** The number's quality rating: GREEN, YELLOW, RED, UNKNOWN (Graph `quality_rating`). */
	qualityRating?: string;
	/** Meta flagged the number (phone_number_quality_update FLAGGED, until UNFLAGGED). */
	flagged?: boolean;
	/**
	 * The messaging limit: unique business-initiated recipients per rolling 24 h, shared by the business portfolio
	 * (`scope`, the portfolio id when known). `limit` null = unlimited.
	 */
	messagingLimit?: { tier: string; limit: number | null; scope: string };
	/** Template status by `name:language` (PAUSED, DISABLED, APPROVED, …), from template status webhooks. */
	templates?: Record<string, string>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Quality that stops MARKETING: Meta rates the number RED, or flagged it. */
export function qualityStop(
	account: AccountState | undefined,
	request: Pick<GateRequest, 'category' | 'template'>,
): PolicyResult | undefined {
	if (request.category !== 'MARKETING' || !account) return undefined;
	const templateStatus = request.template
		? account.templates?.[`${request.template.name}:${request.template.language}`]
		: undefined;
	if (templateStatus === 'PAUSED' || templateStatus === 'DISABLED') {
		return policyResult(
			'quality_guard',
			`Meta ${templateStatus === 'PAUSED' ? 'paused' : 'disabled'} the template "${request.template?.name}" (${request.template?.language}) because customers reported or blocked it; it is not sent until Meta reinstates it. Edit it or use another template.`,
			{ rule: 'quality_guard' },
		);
	}
	if (account.qualityRating === 'RED' || account.flagged) {
		return policyResult(
			'quality_guard',
			account.flagged
				? 'Meta flagged this number for low quality: marketing messages are held back until Meta unflags it (turn off the quality guard to send anyway).'
				: 'Meta rates this number RED (customers block or report its messages): marketing messages are held back until the rating recovers (turn off the quality guard to send anyway).',
			{ rule: 'quality_guard' },
		);
	}
	return undefined;
}

/**
 * Reads the webhook-recorded account facts for a number (by display number) and WABA and merges them over the Graph
 * read: a newer webhook (flag, tier change, template pause) wins over older knowledge.
 */
export async function accountStateFrom(p: {
	store: JourneyStateStore;
	displayPhoneNumber?: string;
	wabaId?: string;
	qualityRating?: string;
	messagingLimit?: AccountState['messagingLimit'];
	templates?: Array<{ name: string; language: string }>;
}): Promise<AccountState> {
	const state: AccountState = { qualityRating: p.qualityRating, messagingLimit: p.messagingLimit };
	const subjects: string[] = [];
	const phone = p.displayPhoneNumber ? accountSubject.phone(p.displayPhoneNumber) : undefined;
	if (phone) subjects.push(phone);
	const templateSubjects = p.wabaId
		? (p.templates ?? []).map((t) => ({
				t,
				s: accountSubject.template(p.wabaId!, t.name, t.language),
			}))
		: [];
	subjects.push(...templateSubjects.map((x) => x.s));
	if (subjects.length === 0) return state;
	const facts: Record<string, AccountFactRecord> = await p.store.getAccountFacts(subjects);
	const phoneFacts = phone ? facts[phone]?.facts : undefined;
	if (phoneFacts) {
		if (typeof phoneFacts.flagged === 'boolean') state.flagged = phoneFacts.flagged;
		if (typeof phoneFacts.qualityRating === 'string' && !p.qualityRating)
			state.qualityRating = phoneFacts.qualityRating;
	}
	for (const { t, s } of templateSubjects) {
		const status = facts[s]?.facts.status;
		if (typeof status === 'string')
			(state.templates ??= {})[`${t.name}:${t.language}`] = status.toUpperCase();
	}
	return state;
}

/** The send gate of one run: pure rules first, then one store unit per send. */
export function createSendGate(p: {
	store: JourneyStateStore;
	phoneNumberId: string;
	rules: JourneyRules;
	now?: () => Date;
	/** Loaded once per gate (first admit) and reused: the run's view of the account. */
	account?: () => Promise<AccountState>;
}): SendGate {
	const now = p.now ?? (() => new Date());
	const rules = p.rules;
	let account: Promise<AccountState | undefined> | undefined;
	const loadAccount = () =>
		(account ??= p.account ? p.account().catch(() => undefined) : Promise.resolve(undefined));

	const evaluate = async (
		item: GateRequest,
		dryRun: boolean,
	): Promise<Awaited<ReturnType<SendGate['admit']>>> => {
		const at = now();
		if (rules.quietHours && !rules.quietHours.exemptCategories.includes(item.category)) {
			let q: ReturnType<typeof quietHoursDecision>;
			try {
				q = quietHoursDecision({
					now: at,
					e164: item.e164,
					itemTimeZone: item.itemTimeZone,
					quietHours: rules.quietHours,
					category: item.category,
				});
			} catch (error) {
				// No local time for this customer: not sent rather than risk the middle of their night.
				return {
					admitted: false,
					policy: policyResult(
						'quiet_hours',
						`${error instanceof Error ? error.message : String(error)} Not sent, so quiet hours cannot be broken.`,
						{ rule: 'quiet_hours', stepKey: item.stepKey },
					),
				};
			}
			if (!q.allowed) {
				return {
					admitted: false,
					policy: policyResult(
						'quiet_hours',
						`It is ${q.localTime} for this customer (${q.timeZone}${q.assumed ? ', assumed from the country code' : ''}), inside the quiet hours ${rules.quietHours.start}–${rules.quietHours.end}: ${rules.quietHours.whenOutside === 'hold' ? 'held' : 'not sent'} until ${q.resumeAt}.`,
						{
							rule: 'quiet_hours',
							resumeAt: q.resumeAt,
							timeZone: q.timeZone,
							timeZoneAssumed: q.assumed,
							stepKey: item.stepKey,
						},
					),
				};
			}
		}
		const acct = rules.qualityGuard || rules.messagingLimitGuard ? await loadAccount() : undefined;
		if (rules.qualityGuard) {
			const stop = qualityStop(acct, item);
			if (stop) return { admitted: false, policy: { ...stop, stepKey: item.stepKey } };
		}
		const token = randomUUID();
		const cap = rules.frequencyCap;
		const capped = cap && cap.categories.includes(item.category);
		const limit = acct?.messagingLimit;
		const admission = await p.store.admitSend({
			phoneNumberId: p.phoneNumberId,
			waId: item.waId,
			...(item.otherIds?.length ? { otherIds: item.otherIds } : {}),
			token,
			now: at,
			template: item.category !== 'SERVICE',
			dryRun,
			step:
				rules.oncePerStep && item.stepKey
					? {
							key: item.stepKey,
							reentryPeriodMs: rules.reentryPeriodHours * 3_600_000,
							retryWhenOutcomeUnknown: rules.retryWhenOutcomeUnknown,
							leaseMs: PENDING_LEASE_MS,
							...(item.otherStepKeys?.length ? { otherKeys: item.otherStepKeys } : {}),
						}
					: undefined,
			frequency: capped
				? { category: item.category, max: cap.maxMessages, periodMs: cap.periodHours * 3_600_000 }
				: undefined,
			messagingLimit: limit
				? {
						scope: limit.scope,
						limit: rules.messagingLimitGuard && limit.limit !== null ? limit.limit : undefined,
					}
				: undefined,
		});
		if (admission.admitted) {
			return {
				admitted: true,
				ticket: {
					token,
					request: item,
					admission,
					frequencyCategory: capped ? item.category : undefined,
					limitScope: limit?.scope,
					claimedStep: rules.oncePerStep ? item.stepKey : undefined,
				},
			};
		}
		return { admitted: false, policy: refusal(admission, item, rules) };
	};

	return {
		admit: (item) => evaluate(item, false),

		async preview(item) {
			const verdict = await evaluate(item, true);
			if (!verdict.admitted) return verdict.policy;
			return policyResult(
				'dry_run',
				'Dry run: every journey rule allows this send; nothing was sent or counted.',
				{
					stepKey: item.stepKey,
					count: verdict.ticket.admission.frequencyCount,
				},
			);
		},

		async leaving(ticket) {
			if (!ticket.claimedStep) return undefined;
			const own = await p.store.markSendLeaving({
				phoneNumberId: p.phoneNumberId,
				token: ticket.token,
				stepKey: ticket.claimedStep,
				now: now(),
			});
			if (own) return undefined;
			return policyResult(
				'in_progress',
				'This send waited so long for its turn that another run took the step over (or resolved it): not sent, so it is not sent twice.',
				{ rule: 'once_per_step', stepKey: ticket.claimedStep },
			);
		},

		async settle(ticket, outcome) {
			const at = now();
			const a = ticket.admission;
			const kind: 'sent' | 'failed' | 'unknown' =
				outcome.ok === true
					? 'sent'
					: outcome.ok === false &&
						  outcome.error instanceof WhatsAppApiError &&
						  !outcome.error.acceptedUnknown
						? 'failed'
						: 'unknown';
			const messageId = outcome.ok === true ? outcome.result.messageId : undefined;
			await p.store.settleSend({
				phoneNumberId: p.phoneNumberId,
				waId: ticket.request.waId,
				token: ticket.token,
				now: at,
				outcome: kind,
				messageId,
				stepKey: ticket.request.stepKey,
				frequency: ticket.frequencyCategory ? { category: ticket.frequencyCategory } : undefined,
				messagingLimit:
					ticket.limitScope && a.businessInitiated
						? { scope: ticket.limitScope, at: a.at, prevAt: a.recipientPrevAt ?? 0 }
						: undefined,
			});
			// Meta's answer to a send by BSUID names the number too when it may share it: one customer from now on.
			if (outcome.ok === true) await learnPair(p.store, p.phoneNumberId, outcome.result, at);
			const stepKey = ticket.request.stepKey;
			if (kind === 'sent')
				return policyResult('sent', 'Sent: every journey rule allowed it.', {
					stepKey,
					messageId,
					sentAt: iso(at.getTime()),
					count: a.frequencyCount,
				});
			if (kind === 'failed')
				return policyResult(
					'released',
					'Allowed by the journey rules, but Meta refused the message: its step claim and counts were released, so a retry may send it.',
					{ stepKey },
				);
			return policyResult(
				'outcome_unknown',
				'The request left but no answer came back (timeout or lost connection): Meta may have accepted it. The step stays claimed and is not resent unless "Retry When Outcome Unknown" is on; its status webhook resolves it.',
				{ rule: 'once_per_step', stepKey },
			);
		},
	};
}

/**
 * The phone ↔ BSUID pair of a send answer (`contacts[].wa_id` + `user_id`, answered for a send by BSUID), learnt as a
 * webhook would teach it. Best effort: the message is out, a store hiccup here must not turn it into a failure.
 */
async function learnPair(
	store: JourneyStateStore,
	phoneNumberId: string,
	result: { waId?: string; userId?: string },
	at: Date,
): Promise<void> {
	const { waId, userId } = result;
	if (!waId || !userId || isBsuid(waId) || !isBsuid(userId)) return;
	try {
		await store.linkIdentity({ phoneNumberId, waId, bsuid: userId, at });
	} catch {
		// The next webhook of this customer carries the same pair.
	}
}

function refusal(
	a: Extract<AdmissionResult, { admitted: false }>,
	item: GateRequest,
	rules: JourneyRules,
): PolicyResult {
	const stepKey = item.stepKey;
	if (a.rule === 'step') {
		if (a.state === 'sent')
			return policyResult(
				'already_sent',
				rules.reentryPeriodHours > 0
					? `This customer already received this journey step on ${iso(a.at)}; it can be sent again ${rules.reentryPeriodHours} h after that.`
					: `This customer already received this journey step on ${iso(a.at)}; a step is sent once per customer (and occurrence).`,
				{
					rule: 'once_per_step',
					stepKey,
					messageId: a.messageId,
					sentAt: iso(a.at),
					resumeAt:
						rules.reentryPeriodHours > 0
							? iso(a.at + rules.reentryPeriodHours * 3_600_000)
							: undefined,
				},
			);
		if (a.state === 'pending')
			return policyResult(
				'in_progress',
				`Another run is sending this journey step to this customer right now (claimed ${iso(a.at)}): not sent twice.`,
				{ rule: 'once_per_step', stepKey },
			);
		return policyResult(
			'outcome_unknown',
			`A send of this step to this customer on ${iso(a.at)} ended without an answer (timeout or crash): Meta may have delivered it, so it is not resent. Turn on "Retry When Outcome Unknown" to resend such steps.`,
			{ rule: 'once_per_step', stepKey },
		);
	}
	if (a.rule === 'frequency') {
		const cap = rules.frequencyCap;
		return policyResult(
			'frequency_capped',
			`This customer already got ${a.count} ${item.category} message(s) in the last ${cap?.periodHours ?? '?'} h (cap ${a.limit}, counted across every journey of this number).`,
			{
				rule: 'frequency_cap',
				stepKey,
				count: a.count,
				limit: a.limit,
				resumeAt: a.resumeAt ? iso(a.resumeAt) : undefined,
			},
		);
	}
	return policyResult(
		'messaging_limit',
		`The business portfolio has started conversations with ${a.count} customers in the last 24 h, its messaging limit (${a.limit}): Meta would not deliver more. Send again later, or to customers whose service window is open.`,
		{ rule: 'messaging_limit', stepKey, count: a.count, limit: a.limit },
	);
}

function isTimeZone(tz: string): boolean {
	try {
		new Intl.DateTimeFormat('en-US', { timeZone: tz });
		return true;
	} catch {
		return false;
	}
}

/** The category the rules count for a send: its template's, or SERVICE for a session message (a reply in the window). */
export function ruleCategoryOf(content: SendContent): RuleCategory {
	const category = (content.summary.template as { category?: unknown } | undefined)?.category;
	return category === 'MARKETING' || category === 'UTILITY' || category === 'AUTHENTICATION'
		? category
		: 'SERVICE';
}

/** The template a send carries, for the quality guard's paused/disabled check. */
export function ruleTemplateOf(
	content: SendContent,
): { name: string; language: string } | undefined {
	const t = content.summary.template as { name?: unknown; language?: unknown } | undefined;
	return typeof t?.name === 'string' && typeof t.language === 'string'
		? { name: t.name, language: t.language }
		: undefined;
}

/**
 * The occurrence a send's step key counts. The user's Occurrence Key when given. Otherwise a journey step is once per
 * customer (no occurrence), while a send without journey and step, or a session message (a reply in a conversation),
 * is once per run of the adapter (`runOccurrence`: n8n's execution, run and item; Node-RED's msg), so a retry of the
 * same run finds it and a new run sends again.
 */
export function occurrenceFor(p: {
	journey?: string;
	step?: string;
	category: RuleCategory;
	occurrenceKey?: string;
	runOccurrence?: string;
}): string | undefined {
	if (p.occurrenceKey !== undefined) return p.occurrenceKey;
	return !(p.journey || p.step) || p.category === 'SERVICE' ? p.runOccurrence : undefined;
}

/** Decisions that mean the step is done (now, earlier, or would be in a dry run); every other one skipped the send. */
const DONE_DECISIONS: ReadonlySet<PolicyDecision> = new Set<PolicyDecision>([
	'sent',
	'already_sent',
	'dry_run',
]);

/** True when a rule kept the send back (the adapters' "Skipped by Policy" output). */
export function isSkippedDecision(decision: PolicyDecision | undefined): boolean {
	return decision !== undefined && !DONE_DECISIONS.has(decision);
}
