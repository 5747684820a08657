/**
 * What the send gate knows about the account on a run: the number's quality and the portfolio's messaging limit from
 * the Graph API (cached: Meta changes them at most every few hours), merged with what webhooks recorded in the store
 * (a flag, a paused template, a new limit), newest first. One rule for both adapters.
 *
 * Messaging limits (Meta, since 7 October 2025): unique WhatsApp users a business portfolio may deliver messages to
 * outside a customer service window in a moving 24 h, shared by every number of the portfolio; tiers 250, 2,000,
 * 10,000, 100,000 and unlimited. https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits
 */
import { TtlCache } from '../cache';
import type { CloudApiClient } from '../client';
import { accountSubject, type JourneyStateStore } from '../state/types';
import { accountStateFrom, type AccountState } from './rules';

/** Meta's tier names → unique customers per rolling 24 h; null = unlimited. TIER_NOT_SET: not known yet. */
export const MESSAGING_LIMIT_TIERS: Readonly<Record<string, number | null>> = {
	TIER_50: 50,
	TIER_250: 250,
	TIER_1K: 1_000,
	TIER_2K: 2_000,
	TIER_10K: 10_000,
	TIER_100K: 100_000,
	TIER_UNLIMITED: null,
};

/** The limit of a tier name, or of a number Meta sends in business_capability_update (-1 = unlimited). */
export function messagingLimitOf(tier: string | number | undefined): number | null | undefined {
	if (typeof tier === 'number') return tier < 0 ? null : tier;
	if (!tier) return undefined;
	return tier in MESSAGING_LIMIT_TIERS ? MESSAGING_LIMIT_TIERS[tier] : undefined;
}

interface GraphAccount {
	qualityRating?: string;
	displayPhoneNumber?: string;
	tier?: string;
	portfolioId?: string;
}

/** Ten minutes, as the nodes' phone-number read: limits change at most every 6 hours, quality at most daily. */
const graphCache = new TtlCache<GraphAccount>(10 * 60 * 1000);

/** For tests: forget cached Graph reads. */
export function clearAccountCache(): void {
	graphCache.clear();
}

/**
 * Reads the number (quality, display number, limit tier) and the WABA's owner (the portfolio: the limit's scope),
 * each failure tolerated: a rule whose input cannot be read does not stop the send (the limit is then counted, not
 * enforced, unless a webhook recorded it).
 */
async function readGraph(
	client: CloudApiClient,
	wabaId: string | undefined,
): Promise<GraphAccount> {
	const [phone, tier, owner] = await Promise.all([
		client.getPhoneNumber('id,display_phone_number,quality_rating').catch(() => undefined),
		client.getMessagingLimitTier().catch(() => undefined),
		wabaId ? client.getOwnerBusiness().catch(() => undefined) : Promise.resolve(undefined),
	]);
	return {
		qualityRating: phone?.quality_rating,
		displayPhoneNumber: phone?.display_phone_number,
		tier,
		portfolioId: owner?.id,
	};
}

/** The account as the gate sees it on this run (pass as createSendGate's `account`). */
export async function loadAccountState(p: {
	client: CloudApiClient;
	store: JourneyStateStore;
	phoneNumberId: string;
	wabaId?: string;
	/** Distinguishes accounts in the cache (e.g. the Graph base URL); default the ids. */
	cacheKey?: string;
	templates?: Array<{ name: string; language: string }>;
}): Promise<AccountState> {
	const key = p.cacheKey ?? `${p.phoneNumberId}|${p.wabaId ?? ''}`;
	const graph = await graphCache.get(key, () => readGraph(p.client, p.wabaId));
	const scope = graph.portfolioId
		? `portfolio:${graph.portfolioId}`
		: p.wabaId
			? `waba:${p.wabaId}`
			: `phone:${p.phoneNumberId}`;
	let tier = graph.tier;
	let limit = messagingLimitOf(tier);
	if (p.wabaId && limit === undefined) {
		// No readable tier from the Graph API: the limit a business_capability_update webhook recorded, if any.
		const subject = accountSubject.waba(p.wabaId);
		const facts = (await p.store.getAccountFacts([subject]))[subject]?.facts;
		const recorded =
			typeof facts?.messagingLimit === 'number'
				? facts.messagingLimit
				: typeof facts?.messagingLimitTier === 'string'
					? facts.messagingLimitTier
					: undefined;
		limit = messagingLimitOf(recorded);
		if (limit !== undefined) tier = String(recorded);
	}
	return accountStateFrom({
		store: p.store,
		displayPhoneNumber: graph.displayPhoneNumber,
		wabaId: p.wabaId,
		qualityRating: graph.qualityRating,
		// Unknown limit: still counted under the scope, never enforced.
		messagingLimit: {
			tier: tier ?? 'UNKNOWN',
			limit: limit === undefined ? null : limit,
			scope,
		},
		templates: p.templates,
	});
}
