/**
 * Marketing Messages API link clicks. Meta delivers them on the `messages` field as a value with `user_actions` and
 * no messages or contacts: the fixture is Meta's documented payload with its placeholders filled in
 * (https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/track-click-events).
 * A partner's capture of a real one carries `"click_component": "CTA"` in upper case and no product_id
 * (Gupshup's "MM LITE click events" page), so case and absent fields are tolerated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
	buildJourneyReport,
	MemoryStateStore,
	computeSignature,
	normalizeWebhook,
	parseWebhookBody,
	receiveIngestOptions,
	receiveWebhook,
} from '../../core';
import type { LinkClickEvent, ReceiveOutcome } from '../../core';
import { arriveWith } from '../webhookClock';

const FIXTURE = readFileSync(
	join(__dirname, '../fixtures/webhooks/messages-user-actions-link-click.json'),
	'utf8',
);
const APP_SECRET = 'app-secret-for-link-click-tests';

function parsed(raw: string): unknown {
	const body = parseWebhookBody(raw);
	if (!body.ok) throw new Error(body.reason);
	return body.body;
}

describe('link click webhooks (user_actions)', () => {
	it("become one link_click event in Meta's words, with the business number it came to", () => {
		expect(normalizeWebhook(parsed(FIXTURE))).toEqual([
			{
				kind: 'link_click',
				eventId: 'link_click:marketing_messages_link_click:click_id',
				phoneNumberId: '106540352242922',
				displayPhoneNumber: '15550783881',
				wabaId: '102290129340398',
				actionType: 'marketing_messages_link_click',
				clickComponent: 'cta',
				clickId: 'click_id',
				trackingToken: 'example_token',
				productId: 'sku_id',
				timestamp: '2025-08-20T04:46:44.000Z',
				timestampUnix: 1755665204,
			},
		]);
	});

	it("read a partner's real capture (upper-case CTA, no product) and a landing page view", () => {
		const body = JSON.parse(FIXTURE) as {
			entry: Array<{ changes: Array<{ value: { user_actions: unknown[] } }> }>;
		};
		body.entry[0].changes[0].value.user_actions = [
			{
				action_type: 'marketing_messages_link_click',
				marketing_messages_link_click_data: {
					click_component: 'CTA',
					click_id: 'IwAR7aCUKUapCC35tsF7QFRxKy9QDMU0TeBDg7Y3FoU0x2ct',
					tracking_token: 'AI@AQJDlawEsjXDxNNHvxMB9McpYs2wTRTs',
				},
				timestamp: '1755665204',
			},
			{
				action_type: 'landing_page_view',
				timestamp: '1755665210',
				marketing_messages_link_click_data: {
					click_id: 'IwAR7aCUKUapCC35tsF7QFRxKy9QDMU0TeBDg7Y3FoU0x2ct',
					tracking_token: 'AI@AQJDlawEsjXDxNNHvxMB9McpYs2wTRTs',
				},
			},
			{ action_type: 'marketing_messages_link_click' },
		];
		const problems: string[] = [];
		const events = normalizeWebhook(parsed(JSON.stringify(body)), {
			onInvalid: (p) => problems.push(p.reason),
		}) as LinkClickEvent[];
		expect(events.map((e) => [e.actionType, e.clickComponent, e.productId])).toEqual([
			['marketing_messages_link_click', 'cta', undefined],
			['landing_page_view', undefined, undefined],
		]);
		expect(new Set(events.map((e) => e.eventId)).size).toBe(2);
		// The action without a timestamp is skipped on its own and reported.
		expect(problems).toEqual(['1 malformed user actions skipped']);
	});

	it("name neither the message nor the customer, so a click is not joined to a journey step and the report's clicked stays 0 (nothing guessed)", async () => {
		// Meta's field list for the click webhook: `tracking_token` is an "Internal Meta token for processing and
		// tracking", `click_id` "is also appended to the original url when the user visits the url"; there is no wamid,
		// wa_id or biz_opaque_callback_data
		// (https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/track-click-events).
		// The send (POST /{phone-number-id}/marketing_messages) answers only contacts[].wa_id and messages[].id, no token
		// (https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-phone-number/marketing-messages-api-for-whatsapp),
		// and a partner's real capture carries an opaque Meta value (`AI@AQJ…`), not one the sender chose.
		const [event] = normalizeWebhook(parsed(FIXTURE)) as LinkClickEvent[];
		for (const key of ['messageId', 'recipientId', 'waId', 'from', 'tracking'])
			expect(event).not.toHaveProperty(key);
		arriveWith(FIXTURE);
		const store = new MemoryStateStore();
		const at = new Date(1755665204_000 - 60_000);
		await store.recordSends([
			{ phoneNumberId: '106540352242922', messageId: 'wamid.SENT', journey: 'j', step: 's', at },
		]);
		await receiveWebhook({
			raw: FIXTURE,
			signatureHeader: computeSignature(FIXTURE, APP_SECRET),
			credential: { appSecret: APP_SECRET, phoneNumberId: '106540352242922' },
			allowUnsigned: false,
			allPhoneNumbers: false,
			includeRaw: false,
			store: async () => store,
			ingest: receiveIngestOptions({ events: ['link_click'] }),
		});
		const period = { from: '2025-08-19', to: '2025-08-21' };
		const [step] = await buildJourneyReport(store, { phoneNumberId: '106540352242922', period });
		expect([step.sent, step.clicked]).toEqual([1, 0]);
	});

	it('reach the trigger when "link_click" is chosen, once however often Meta delivers them', async () => {
		arriveWith(FIXTURE);
		const receive = (store: MemoryStateStore, events: string[]): Promise<ReceiveOutcome> =>
			receiveWebhook({
				raw: FIXTURE,
				signatureHeader: computeSignature(FIXTURE, APP_SECRET),
				credential: { appSecret: APP_SECRET, phoneNumberId: '106540352242922' },
				allowUnsigned: false,
				allPhoneNumbers: false,
				includeRaw: false,
				store: async () => store,
				ingest: receiveIngestOptions({ events }),
			});
		const emitted = (o: ReceiveOutcome) =>
			o.kind === 'accepted' ? o.events.map((e) => e.kind) : o.kind;
		const store = new MemoryStateStore();
		expect(emitted(await receive(store, ['link_click']))).toEqual(['link_click']);
		expect(emitted(await receive(store, ['link_click']))).toEqual([]);
		expect(emitted(await receive(new MemoryStateStore(), ['message']))).toEqual([]);
	});
});
