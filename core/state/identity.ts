/**
 * One customer, whichever id the workflow holds: a phone number's wa_id or a business-scoped user id (BSUID).
 *
 * Decision (the canonical key): the customer's key is their wa_id when the store knows one, else their latest BSUID.
 * Every record written before BSUIDs existed is keyed by wa_id (windows, opt-outs, step keys, caps, wait links), so
 * they stay valid without a migration, and a BSUID change (which Meta makes when the number changes) does not move a
 * number-keyed customer. Webhook writes keep the id Meta sent (the wa_id when it sends one, else the BSUID): the store
 * never rewrites a key inside a webhook batch, which keeps the Redis batch at one round trip with single-key scripts.
 * Reads resolve instead: `ids` is every id of the customer, so a window opened under the BSUID (a username customer
 * writing without a phone number) is found from the number and the other way round (customerWindow), and an opt-out
 * under either id counts (customerOptedOut). Step claims and frequency counts made before a pairing was learnt stay
 * under the id used then; the send gate checks them all (SendAdmission `otherIds`, `step.otherKeys`), so a pairing
 * learnt at any time never lets a step go out twice or a cap be passed. Identity records point both ways (`successor`,
 * `predecessors`), so those ids are found whichever id the workflow holds: the number, an old BSUID or the new one.
 */
import { isBsuid } from '../phone';
import {
	MAX_OTHER_IDS,
	windowFrom,
	type ConversationWindow,
	type IdentityRecord,
	type JourneyStateStore,
} from './types';

export interface Customer {
	/** The canonical key: the wa_id when known, else the latest BSUID (see above). */
	key: string;
	/** Every id the store knows for this customer, the given one first. */
	ids: string[];
	/** The phone number's wa_id, when known. */
	waId?: string;
	/** The latest BSUID, when known. */
	bsuid?: string;
}

/** How many BSUID changes resolveCustomer follows (each is one store read); more would mean a loop or bad data. */
const MAX_HOPS = 8;

/**
 * The customer an id belongs to, from the identities the store learnt (webhooks, linkIdentity). Forward: the id's
 * paired number or BSUID, then the BSUIDs that replaced it (`successor`). Backward: the ids that lead to any of those
 * (`predecessors`: BSUIDs they replaced, a parent BSUID), so a step claimed under an old BSUID is found from the number
 * and the new BSUID too. A customer with no history costs no read beyond the forward ones (records are read once).
 */
export async function resolveCustomer(
	store: Pick<JourneyStateStore, 'getIdentity'>,
	phoneNumberId: string,
	id: string,
): Promise<Customer> {
	const records = new Map<string, Promise<IdentityRecord | undefined>>();
	const read = (x: string) => {
		let r = records.get(x);
		if (!r) records.set(x, (r = store.getIdentity({ phoneNumberId, id: x })));
		return r;
	};
	const ids = [id];
	const given = isBsuid(id);
	let waId: string | undefined = given ? undefined : id;
	let bsuid: string | undefined = given ? id : undefined;
	let record = await read(id);
	if (!bsuid && record?.bsuid) {
		bsuid = record.bsuid;
		ids.push(bsuid);
		record = await read(bsuid);
	}
	for (let hop = 0; hop < MAX_HOPS && record; hop++) {
		waId ??= record.waId;
		const next = record.successor;
		if (!next || ids.includes(next)) break;
		bsuid = next;
		ids.push(next);
		record = await read(next);
	}
	if (record?.waId) waId ??= record.waId;
	if (waId && !ids.includes(waId)) ids.push(waId);
	// Backward, a round of reads per generation (all of one round at once); bounded like the gate's otherIds.
	let round = ids.filter(isBsuid);
	for (let hop = 0; hop < MAX_HOPS && round.length && ids.length <= MAX_OTHER_IDS; hop++) {
		const found = await Promise.all(round.map(read));
		round = [];
		for (const r of found)
			for (const p of r?.predecessors ?? [])
				if (!ids.includes(p) && ids.length <= MAX_OTHER_IDS) {
					ids.push(p);
					round.push(p);
				}
	}
	// Known only by BSUIDs so far: an older BSUID's number is this customer's (user_id_update without wa_id).
	if (!waId)
		for (const other of ids.slice(1)) {
			const r = isBsuid(other) ? await records.get(other) : undefined;
			if (r?.waId && !isBsuid(r.waId)) {
				waId = r.waId;
				if (!ids.includes(waId)) ids.push(waId);
				break;
			}
		}
	return {
		key: waId ?? bsuid ?? id,
		ids,
		...(waId ? { waId } : {}),
		...(bsuid ? { bsuid } : {}),
	};
}

/** The customer's service window over all their ids: the latest customer message counts, whichever id it came under. */
export async function customerWindow(
	store: Pick<JourneyStateStore, 'getWindow'>,
	phoneNumberId: string,
	customer: Customer,
	now: Date,
): Promise<ConversationWindow> {
	const windows = await Promise.all(
		customer.ids.map((waId) => store.getWindow({ phoneNumberId, waId, now })),
	);
	const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : 0);
	const lastInbound = Math.max(...windows.map((w) => ms(w.lastInboundAt)));
	const fepUntil = Math.max(...windows.map((w) => ms(w.freeEntryPointClosesAt)));
	return windowFrom(phoneNumberId, customer.key, lastInbound, fepUntil, now.getTime());
}

/** Whether the customer stopped marketing messages under any of their ids. */
export async function customerOptedOut(
	store: Pick<JourneyStateStore, 'isOptedOut'>,
	phoneNumberId: string,
	customer: Customer,
): Promise<boolean> {
	for (const waId of customer.ids) if (await store.isOptedOut({ phoneNumberId, waId })) return true;
	return false;
}
