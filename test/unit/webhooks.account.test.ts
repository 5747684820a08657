/**
 * Account webhooks the journey rules read (issue #14, #15 item 5): each fixture is Meta's documented payload, pinned
 * in its normalised form and in what the trigger records for the send gate.
 *   phone_number_quality_update: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
 *     (FLAGGED / UNFLAGGED / UPGRADE are the event values of the payloads before the October 2025 portfolio limits,
 *     https://developers.facebook.com/documentation/business-messaging/whatsapp/upcoming-messaging-limits-changes)
 *   business_capability_update: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/business_capability_update
 *   phone_number_name_update: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_name_update
 *   account_update: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_update
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_EVENT_KINDS, ingestWebhookEvents, type IngestOptions } from '../../core/ingest';
import { accountStateFrom } from '../../core/journeys/rules';
import { accountSubject, MemoryStateStore } from '../../core/state';
import { encodeTracking } from '../../core/tracking';
import { normalizeWebhook, parseWebhookBody, type WebhookEvent } from '../../core/webhooks';

const WABA = '102290129340398';

/** A fixture, optionally with its entry time moved (the ingest drops events older than Meta's retry period). */
function events(name: string, entryTime?: number): WebhookEvent[] {
	let text = readFileSync(join(__dirname, '../fixtures/webhooks', name), 'utf8');
	if (entryTime !== undefined) text = text.replace(/"time": \d+/g, `"time": ${entryTime}`);
	const parsed = parseWebhookBody(text);
	if (!parsed.ok) throw new Error(`${name}: ${parsed.reason}`);
	return normalizeWebhook(parsed.body);
}

const options: IngestOptions = {
	deduplicate: true,
	lateStatuses: 'flag',
	recordWindows: true,
	recordOptOuts: true,
	stopKeywords: ['stop'],
	emit: new Set(ALL_EVENT_KINDS),
};

describe('account webhooks: normalised', () => {
	it('phone_number_quality_update (Meta example): throughput upgrade of a display number', () => {
		expect(events('phone-number-quality-update.json')).toEqual([
			{
				kind: 'phone_number_quality',
				eventId: `phone_number_quality:${WABA}:15550783881:THROUGHPUT_UPGRADE:1748454394`,
				wabaId: WABA,
				timestamp: '2025-05-28T17:46:34.000Z',
				timestampUnix: 1748454394,
				displayPhoneNumber: '15550783881',
				event: 'THROUGHPUT_UPGRADE',
				currentLimit: 'TIER_UNLIMITED',
			},
		]);
	});

	it('phone_number_quality_update with the portfolio limit (max_daily_conversations_per_business)', () => {
		expect(events('phone-number-quality-update-portfolio-limit.json')[0]).toMatchObject({
			kind: 'phone_number_quality',
			event: 'UPGRADE',
			oldLimit: 'TIER_250',
			currentLimit: 'TIER_2K',
			maxDailyConversationsPerBusiness: 'TIER_2K',
		});
	});

	it('business_capability_update: the limits as numbers', () => {
		expect(events('business-capability-update.json')).toEqual([
			{
				kind: 'business_capability',
				eventId: `business_capability:${WABA}:1739321024`,
				wabaId: WABA,
				timestamp: '2025-02-12T00:43:44.000Z',
				timestampUnix: 1739321024,
				maxDailyConversationPerPhone: 2000,
				maxDailyConversationsPerBusiness: 2000,
				maxPhoneNumbersPerBusiness: 2,
				maxPhoneNumbersPerWaba: 2,
			},
		]);
	});

	it('phone_number_name_update: the review decision', () => {
		expect(events('phone-number-name-update.json')[0]).toMatchObject({
			kind: 'phone_number_name',
			displayPhoneNumber: '15550783881',
			decision: 'APPROVED',
			requestedVerifiedName: 'Lucky Shrub',
		});
		expect(events('phone-number-name-update.json')[0]).not.toHaveProperty('rejectionReason');
	});

	it('account_update: violation and restrictions', () => {
		expect(events('account-update-violation.json')[0]).toMatchObject({
			kind: 'account_update',
			event: 'ACCOUNT_VIOLATION',
			phoneNumber: '15550783881',
			violationType: 'SCAM',
			restrictions: [
				{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-04-19T13:59:20+0000' },
			],
		});
	});

	it('reports a malformed account change as invalid instead of dropping the delivery', () => {
		const invalid: string[] = [];
		const list = normalizeWebhook(
			{
				object: 'whatsapp_business_account',
				entry: [
					{
						id: WABA,
						changes: [{ field: 'phone_number_quality_update', value: { event: 'FLAGGED' } }],
					},
				],
			},
			{ onInvalid: (i) => invalid.push(`${i.field}: ${i.reason}`) },
		);
		expect(list).toEqual([]);
		expect(invalid[0]).toMatch(/^phone_number_quality_update: display_phone_number/);
	});
});

describe('account webhooks: recorded for the send gate', () => {
	const now = () => Math.floor(Date.now() / 1000);

	it('flags the number on FLAGGED and clears it on a later UNFLAGGED; a repeat delivery changes nothing', async () => {
		const store = new MemoryStateStore();
		const t = now() - 60;
		const flagged = events('phone-number-quality-update-flagged.json', t);
		await ingestWebhookEvents(flagged, store, options);
		expect(
			await accountStateFrom({ store, displayPhoneNumber: '+1 555-078-3881', wabaId: WABA }),
		).toMatchObject({ flagged: true });
		await ingestWebhookEvents(
			events('phone-number-quality-update-unflagged.json', t + 30),
			store,
			options,
		);
		expect(await accountStateFrom({ store, displayPhoneNumber: '15550783881' })).toMatchObject({
			flagged: false,
		});
		// The FLAGGED delivery again (Meta retries): de-duplicated, and older than the UNFLAGGED anyway.
		const again = await ingestWebhookEvents(flagged, store, options);
		expect(again.duplicates).toBe(1);
		expect(await accountStateFrom({ store, displayPhoneNumber: '15550783881' })).toMatchObject({
			flagged: false,
		});
	});

	it("records the portfolio's limit from business_capability_update and paused templates from status updates", async () => {
		const store = new MemoryStateStore();
		const t = now() - 60;
		await ingestWebhookEvents(events('business-capability-update.json', t), store, options);
		await ingestWebhookEvents(events('template-status-paused.json', t), store, options);
		const facts = await store.getAccountFacts([
			accountSubject.waba(WABA),
			accountSubject.template(WABA, 'winback_offer', 'es'),
		]);
		expect(facts[accountSubject.waba(WABA)].facts).toEqual({ messagingLimit: 2000 });
		const state = await accountStateFrom({
			store,
			wabaId: WABA,
			templates: [{ name: 'winback_offer', language: 'es' }],
		});
		expect(state.templates).toEqual({ 'winback_offer:es': 'PAUSED' });
	});

	it('resolves an unknown send from the status webhook that carries its step key (k=)', async () => {
		const store = new MemoryStateStore();
		const PN = '106540352242922';
		const key = 'AbCdEfGhIjKlMnOpQrStUv';
		await store.admitSend({
			phoneNumberId: PN,
			waId: '16505551234',
			token: 't',
			now: new Date(),
			template: true,
			step: { key, reentryPeriodMs: 0, retryWhenOutcomeUnknown: false },
		});
		await store.settleSend({
			phoneNumberId: PN,
			waId: '16505551234',
			token: 't',
			now: new Date(),
			outcome: 'unknown',
			stepKey: key,
		});
		const text = readFileSync(
			join(__dirname, '../fixtures/webhooks/statuses-sent.json'),
			'utf8',
		).replace(/"timestamp": ?"?\d+"?/g, `"timestamp": "${now()}"`);
		const body = JSON.parse(text) as {
			entry: Array<{ changes: Array<{ value: { statuses: Array<Record<string, unknown>> } }> }>;
		};
		const status = body.entry[0].changes[0].value.statuses[0];
		status.biz_opaque_callback_data = encodeTracking({ journey: 'welcome', stepKey: key });
		const list = normalizeWebhook(body);
		expect(list[0]).toMatchObject({
			kind: 'status',
			tracking: { journey: 'welcome', stepKey: key },
		});
		await ingestWebhookEvents(list, store, options);
		expect(await store.getStep({ phoneNumberId: PN, stepKey: key })).toMatchObject({
			state: 'sent',
			messageId: (list[0] as { messageId: string }).messageId,
		});
	});
});
