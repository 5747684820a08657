/**
 * One customer whichever id the workflow holds (core/state/identity.ts): the journey rules' key, opt-outs and Send and
 * Wait replies resolve a business-scoped user id (BSUID) and the phone number Meta paired it with to the same person.
 * The pairs come from webhooks (see bsuid.webhooks.test.ts for the payloads and their sources).
 */
import {
	CloudApiClient,
	MemoryStateStore,
	SendPacer,
	sendBatch,
	type OutgoingMessage,
	checkWindow,
	customerOf,
	isCustomerOptedOut,
	normalizeRecipient,
	recordInboundAndCheck,
	resumeWaits,
	stepKeyFor,
	stepKeysFor,
	type IngestedEvent,
	type WaitLink,
} from '../../core';

const PN = '106540352242922';
const PHONE = '16505551234';
const BSUID = 'US.13491208655302741918';
const NOW = Date.now();

async function paired(): Promise<MemoryStateStore> {
	const store = new MemoryStateStore();
	await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: BSUID, at: new Date(NOW) });
	return store;
}

describe('one customer for the journey rules', () => {
	it('keys a BSUID the store paired with a number by the number, so step keys and caps meet', async () => {
		const store = await paired();
		const byBsuid = await customerOf(async () => store, PN, normalizeRecipient(BSUID));
		const byPhone = await customerOf(async () => store, PN, normalizeRecipient(`+${PHONE}`));
		expect(byBsuid.key).toBe(PHONE);
		expect(byPhone.key).toBe(PHONE);
		const step = (waId: string) =>
			stepKeyFor({ phoneNumberId: PN, journey: 'welcome', step: '1', scope: 's', waId });
		expect(step(byBsuid.key)).toBe(step(byPhone.key));
		// Unknown BSUID: its own key.
		expect(
			(await customerOf(async () => new MemoryStateStore(), PN, normalizeRecipient(BSUID))).key,
		).toBe(BSUID);
	});

	it("gives the step's key under every id of the customer, from either id, so a claim made before the pairing is found", async () => {
		const store = await paired();
		const p = { phoneNumberId: PN, journey: 'welcome', step: '1', scope: 's' };
		const underBsuid = stepKeyFor({ ...p, waId: BSUID });
		const underPhone = stepKeyFor({ ...p, waId: PHONE });
		for (const id of [BSUID, `+${PHONE}`]) {
			const customer = await customerOf(async () => store, PN, normalizeRecipient(id));
			expect(stepKeysFor(p, customer)).toEqual({
				stepKey: underPhone,
				otherStepKeys: [underBsuid],
			});
		}
		// A number the store knows no BSUID of: its own key only.
		const alone = await customerOf(
			async () => new MemoryStateStore(),
			PN,
			normalizeRecipient(`+${PHONE}`),
		);
		expect(stepKeysFor(p, alone)).toEqual({ stepKey: underPhone, otherStepKeys: [] });
	});

	it('reads each identity record once: one read for an unknown number, two when paired, one more per older BSUID', async () => {
		const reads = async (store: MemoryStateStore, id: string) => {
			const spy = jest.spyOn(store, 'getIdentity');
			await customerOf(async () => store, PN, normalizeRecipient(id));
			const n = spy.mock.calls.length;
			spy.mockRestore();
			return n;
		};
		expect(await reads(new MemoryStateStore(), `+${PHONE}`)).toBe(1);
		const store = await paired();
		expect(await reads(store, `+${PHONE}`)).toBe(2);
		expect(await reads(store, BSUID)).toBe(1);
		// Meta replaced the BSUID, then paired the number with the new one: the old one is one more read (its record).
		const NEW = 'US.24817305912873645029';
		await store.linkIdentity({
			phoneNumberId: PN,
			bsuid: NEW,
			previousBsuid: BSUID,
			at: new Date(NOW + 1),
		});
		await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: NEW, at: new Date(NOW + 2) });
		expect(await reads(store, `+${PHONE}`)).toBe(3);
		expect((await customerOf(async () => store, PN, normalizeRecipient(`+${PHONE}`))).ids).toEqual([
			PHONE,
			NEW,
			BSUID,
		]);
	});

	it('counts an opt-out recorded under the other id', async () => {
		const store = await paired();
		await store.setOptOut({ phoneNumberId: PN, waId: BSUID, optedOut: true, at: new Date(NOW) });
		expect(await isCustomerOptedOut(store, PN, PHONE)).toBe(true);
		expect(await isCustomerOptedOut(store, PN, BSUID)).toBe(true);
		expect(await isCustomerOptedOut(new MemoryStateStore(), PN, PHONE)).toBe(false);
	});
});

describe('the window of a customer known by username', () => {
	it('is open for the number when the customer wrote under their BSUID only, and says which id was checked', async () => {
		const store = await paired();
		await store.recordInbound({ phoneNumberId: PN, waId: BSUID, at: new Date(NOW - 60_000) });
		const byPhone = await checkWindow({
			recipient: `+${PHONE}`,
			phoneNumberId: PN,
			source: 'store',
			store: async () => store,
		});
		expect(byPhone).toMatchObject({ open: true, waId: PHONE, recipientType: 'phone' });
		const byBsuid = await checkWindow({
			recipient: BSUID,
			phoneNumberId: PN,
			source: 'store',
			store: async () => store,
		});
		expect(byBsuid).toMatchObject({
			open: true,
			recipient: BSUID,
			recipientType: 'bsuid',
			waId: PHONE,
		});
	});

	it('records an inbound given by BSUID under the customer key, and keeps a lone BSUID as its own key', async () => {
		const store = new MemoryStateStore();
		const lone = await recordInboundAndCheck({
			recipient: BSUID,
			phoneNumberId: PN,
			store: async () => store,
		});
		expect(lone).toMatchObject({ open: true, waId: BSUID, recipientType: 'bsuid' });
		expect((await store.getWindow({ phoneNumberId: PN, waId: BSUID })).open).toBe(true);
	});
});

describe('Send and Wait for a customer known by two ids', () => {
	it("resumes a wait sent to the BSUID when the reply (without context) names the customer's number", async () => {
		const store = await paired();
		const link: WaitLink = {
			phoneNumberId: PN,
			messageId: 'wamid.sent1',
			waId: BSUID,
			executionId: '77',
			resumeUrl: 'http://n8n.local/webhook-waiting/77/node?signature=x',
			secret: 'ab'.repeat(32),
			expiresAt: NOW + 3_600_000,
			spec: JSON.stringify({ buttons: ['Yes'] }),
			sent: JSON.stringify({ messageId: 'wamid.sent1', recipient: BSUID }),
			createdAt: NOW,
		};
		await store.putWaitLink(link);
		const reply = {
			kind: 'message',
			eventId: 'message:wamid.in9',
			messageId: 'wamid.in9',
			from: PHONE,
			userId: BSUID,
			type: 'text',
			text: 'sounds good',
			timestamp: new Date(NOW).toISOString(),
			timestampUnix: Math.floor(NOW / 1000),
			phoneNumberId: PN,
			displayPhoneNumber: '15550000000',
			wabaId: '102290129340398',
		} as IngestedEvent;
		const posts: string[] = [];
		const resumed = await resumeWaits([reply], store, {
			post: async (claimed) => {
				posts.push(claimed.executionId);
				return 200;
			},
		});
		expect(resumed.get(0)).toBe('77');
		expect(posts).toEqual(['77']);
	});
});

describe("Meta's per-user pair rate (131056) for a customer under two ids", () => {
	it('gives a BSUID and the number it is paired with one pair slot: the second send waits the pair interval', async () => {
		const store = await paired();
		const reserved: string[] = [];
		const next = new Map<string, number>();
		// A slot store that records which pair keys were reserved (pair interval 6 s, no throughput pacing).
		const pacer = new SendPacer(PN, {
			messagesPerSecond: 0,
			pairIntervalMs: 6000,
			now: () => NOW,
			sleep: async () => undefined,
			slots: {
				reserveSendSlot: async ({ key, intervalMs }) => {
					reserved.push(key);
					const at = Math.max(NOW, next.get(key) ?? 0);
					next.set(key, at + intervalMs);
					return at;
				},
			},
		});
		const client = new CloudApiClient(
			{ phoneNumberId: PN, baseUrl: 'http://graph.test' },
			async () => ({
				status: 200,
				body: { messaging_product: 'whatsapp', messages: [{ id: 'wamid.X' }] },
			}),
			{ maxAttempts: 1, retryUncertain: false, timeoutMs: 1000 },
		);
		const messages: OutgoingMessage[] = [];
		for (const [itemIndex, id] of [BSUID, `+${PHONE}`].entries()) {
			const recipient = normalizeRecipient(id);
			const customer = await customerOf(async () => store, PN, recipient);
			messages.push({ itemIndex, waId: recipient.waId, customerKey: customer.key, request: {} });
		}
		await sendBatch(messages, { client, pacer, concurrency: 1 });
		expect(reserved).toEqual([`pair:${PN}:${PHONE}`, `pair:${PN}:${PHONE}`]);
		expect(next.get(`pair:${PN}:${PHONE}`)).toBe(NOW + 12_000);
	});
});
