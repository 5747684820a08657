/**
 * Webhook receive as both adapters call it: who is refused (unsigned, bad signature, not a webhook) and with what
 * status, the credential re-read before a refusal, the phone number filter, the default event set, recording in
 * the store, and a store failure told apart from a bad request.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	computeSignature,
	DEFAULT_EMITTED_EVENTS,
	MemoryStateStore,
	receiveIngestOptions,
	receiveWebhook,
} from '../../core';
import type { JourneyStateStore, ReceiveOutcome, ReceiveWebhookRequest } from '../../core';
import { arriveWith } from '../webhookClock';

const APP_SECRET = 'app-secret-for-receive-tests';
const PHONE_NUMBER_ID = '106540352242922';
const MIXED = readFileSync(
	join(__dirname, '../fixtures/webhooks/statuses-batch-mixed.json'),
	'utf8',
);
const TEXT = readFileSync(join(__dirname, '../fixtures/webhooks/messages-text.json'), 'utf8');

function request(overrides: Partial<ReceiveWebhookRequest> = {}): ReceiveWebhookRequest {
	const store = new MemoryStateStore();
	const raw = overrides.raw ?? MIXED;
	// Meta's example payloads keep their own times: they arrive when they were sent, not as replays.
	arriveWith(raw);
	return {
		raw,
		signatureHeader: computeSignature(raw, APP_SECRET),
		credential: { appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID },
		allowUnsigned: false,
		allPhoneNumbers: false,
		includeRaw: false,
		store: async () => store,
		ingest: receiveIngestOptions({ events: ['status:delivered', 'status:read', 'message'] }),
		...overrides,
	};
}

function accepted(outcome: ReceiveOutcome): Extract<ReceiveOutcome, { kind: 'accepted' }> {
	if (outcome.kind !== 'accepted')
		throw new Error(`expected accepted, got ${JSON.stringify(outcome)}`);
	return outcome;
}

const idsOf = (outcome: ReceiveOutcome): string[] =>
	accepted(outcome).events.map(
		(e) => `${e.kind === 'status' ? e.status : e.kind} ${'messageId' in e ? e.messageId : ''}`,
	);

describe('receiveWebhook', () => {
	it('refuses an unsigned POST with 401 and says why, without opening the store', async () => {
		let opened = false;
		const outcome = await receiveWebhook(
			request({
				signatureHeader: undefined,
				store: async () => {
					opened = true;
					return new MemoryStateStore();
				},
			}),
		);
		expect(outcome).toEqual({ kind: 'refused', status: 401, reason: 'Invalid signature' });
		expect(opened).toBe(false);
	});

	it('refuses every POST with 401 when there is no app secret, unless unsigned POSTs are allowed', async () => {
		const unsigned = { signatureHeader: undefined, credential: { phoneNumberId: PHONE_NUMBER_ID } };
		expect(await receiveWebhook(request(unsigned))).toEqual({
			kind: 'refused',
			status: 401,
			reason: 'Signature cannot be verified: no app secret configured',
		});
		expect(idsOf(await receiveWebhook(request({ ...unsigned, allowUnsigned: true })))).toEqual([
			'read wamid.BATCH1',
		]);
	});

	it('ignores "allow unsigned" when there is an app secret: the signature must still verify', async () => {
		const outcome = await receiveWebhook(
			request({ allowUnsigned: true, signatureHeader: computeSignature(MIXED, 'another-secret') }),
		);
		expect(outcome).toMatchObject({ kind: 'refused', status: 401 });
	});

	it('reads the credential once more before refusing, so a rotated app secret applies at once', async () => {
		const rotated = 'the-new-app-secret';
		let reads = 0;
		const freshCredential = async () => {
			reads++;
			return { appSecret: rotated, phoneNumberId: PHONE_NUMBER_ID };
		};
		const ok = await receiveWebhook(
			request({ signatureHeader: computeSignature(MIXED, rotated), freshCredential }),
		);
		expect(idsOf(ok)).toEqual(['read wamid.BATCH1']);
		expect(reads).toBe(1);
		// A signature that verifies with the reading it has needs no fresh one.
		await receiveWebhook(request({ freshCredential }));
		expect(reads).toBe(1);
		const forged = await receiveWebhook(
			request({ signatureHeader: computeSignature(MIXED, 'forged'), freshCredential }),
		);
		expect(forged).toMatchObject({ kind: 'refused', status: 401 });
		expect(reads).toBe(2);
	});

	it('answers 400 to a signed body that is not JSON or not a WhatsApp webhook', async () => {
		const notJson = '{"object": "whatsapp_business_account", ';
		expect(
			await receiveWebhook(
				request({ raw: notJson, signatureHeader: computeSignature(notJson, APP_SECRET) }),
			),
		).toEqual({ kind: 'refused', status: 400, reason: 'The body is not valid JSON.' });
		const page = JSON.stringify({ object: 'page', entry: [] });
		expect(
			await receiveWebhook(
				request({ raw: page, signatureHeader: computeSignature(page, APP_SECRET) }),
			),
		).toMatchObject({
			kind: 'refused',
			status: 400,
			reason: expect.stringMatching(/^Not a WhatsApp/),
		});
	});

	it("keeps only the credential's phone number unless all numbers are asked for", async () => {
		expect(idsOf(await receiveWebhook(request()))).toEqual(['read wamid.BATCH1']);
		expect(idsOf(await receiveWebhook(request({ allPhoneNumbers: true })))).toEqual([
			'read wamid.BATCH1',
			'delivered wamid.OTHERNUMBER',
		]);
	});

	it('records in the store before it answers: a redelivery is a duplicate, an inbound message opens the window', async () => {
		const store = new MemoryStateStore();
		const signed = {
			raw: TEXT,
			signatureHeader: computeSignature(TEXT, APP_SECRET),
			store: async () => store,
		};
		const first = accepted(await receiveWebhook(request(signed)));
		expect(first.events).toHaveLength(1);
		expect(first.events[0]).toMatchObject({ kind: 'message' });
		const { from, timestampUnix } = first.events[0] as { from: string; timestampUnix: number };
		const now = new Date(timestampUnix * 1000);
		expect((await store.getWindow({ phoneNumberId: PHONE_NUMBER_ID, waId: from, now })).open).toBe(
			true,
		);
		const again = accepted(await receiveWebhook(request(signed)));
		expect(again).toMatchObject({ received: 1, events: [], duplicates: 1 });
	});

	it('tells a store failure apart (500, with the body to keep) from a bad request', async () => {
		const failing = {
			store: async (): Promise<JourneyStateStore> => {
				const store = new MemoryStateStore();
				store.applyEventBatch = () => Promise.reject(new Error('disk full'));
				return store;
			},
		};
		const outcome = await receiveWebhook(request(failing));
		expect(outcome).toMatchObject({
			kind: 'failed',
			status: 500,
			error: new Error('disk full'),
			body: { object: 'whatsapp_business_account' },
		});
		expect(outcome.kind === 'failed' && outcome.reason).not.toMatch(/disk full/);
	});
});

describe('receiveIngestOptions', () => {
	it('emits statuses and inbound messages by default, every kind when the list is empty', () => {
		const defaults = receiveIngestOptions({});
		expect([...defaults.emit]).toEqual([...DEFAULT_EMITTED_EVENTS]);
		expect(defaults.emit.has('message')).toBe(true);
		expect(defaults.emit.has('template_status')).toBe(false);
		expect(receiveIngestOptions({ events: [] }).emit.has('template_status')).toBe(true);
	});

	it('de-duplicates, drops late statuses and records windows and opt-outs (STOP, UNSUBSCRIBE) unless told otherwise', () => {
		expect(receiveIngestOptions({})).toMatchObject({
			deduplicate: true,
			lateStatuses: 'drop',
			recordWindows: true,
			recordOptOuts: true,
			stopKeywords: ['stop', 'unsubscribe'],
		});
		expect(
			receiveIngestOptions({
				deduplicate: false,
				lateStatuses: 'flag',
				recordWindows: false,
				recordOptOuts: false,
				stopKeywords: 'Halt',
			}),
		).toMatchObject({
			deduplicate: false,
			lateStatuses: 'flag',
			recordWindows: false,
			recordOptOuts: false,
			stopKeywords: ['halt'],
		});
	});
});
