/**
 * Webhooks of customers known by business-scoped user ids (BSUIDs): what the trigger emits and what the store learns.
 *
 * Payloads follow Meta's documented shapes:
 * - system messages (`user_changed_number` with the new `wa_id` and `user_id`; `user_changed_user_id` with only the
 *   new `user_id`, no contacts array):
 *   https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/
 * - `user_id` on contacts, `from_user_id` on messages, `recipient_user_id` on statuses, and the `user_id_update`
 *   field (`user_id: { previous, current }`, with `wa_id` when it may be shared), as Meta's BSUID guide gives them and
 *   partners forward them untouched: https://developer.8x8.com/connect/docs/whatsapp-business-scoped-user-ids and
 *   https://docs.ycloud.com/reference/webhook-updates-bsuid
 * - a username customer may come with no phone number at all (no `from`, no `wa_id`):
 *   https://docs.bird.com/api/channels-api/supported-channels/programmable-whatsapp/business-scoped-user-ids
 */
import {
	ALL_EVENT_KINDS,
	MemoryStateStore,
	customerWindow,
	ingestWebhookEvents,
	normalizeWebhook,
	resolveCustomer,
	type IngestOptions,
} from '../../core';

const PN = '106540352242922';
const PHONE = '15551234567';
const OLD = 'US.13491208655302741918';
const NEW = 'US.24817305912873645029';
const NOW = Math.floor(Date.now() / 1000);

const metadata = { display_phone_number: '15550000000', phone_number_id: PN };
const body = (field: string, value: Record<string, unknown>) => ({
	object: 'whatsapp_business_account',
	entry: [
		{
			id: '102290129340398',
			changes: [{ field, value: { messaging_product: 'whatsapp', metadata, ...value } }],
		},
	],
});

const options = (): IngestOptions => ({
	deduplicate: true,
	lateStatuses: 'flag',
	recordWindows: true,
	recordOptOuts: true,
	stopKeywords: ['stop'],
	emit: new Set(ALL_EVENT_KINDS),
});

describe('BSUID webhooks', () => {
	it('normalises user_id_update into an event naming the old and new id (and the number when shared)', () => {
		const events = normalizeWebhook(
			body('user_id_update', {
				contacts: [{ profile: { name: 'Test User' }, wa_id: PHONE }],
				user_id_update: [
					{
						wa_id: PHONE,
						detail: 'User id for Test User has been updated.',
						user_id: { previous: OLD, current: NEW },
						timestamp: String(NOW),
					},
				],
			}),
		);
		expect(events).toEqual([
			expect.objectContaining({
				kind: 'user_id_update',
				eventId: `user_id_update:${OLD}:${NEW}`,
				previousUserId: OLD,
				userId: NEW,
				waId: PHONE,
				profileName: 'Test User',
				phoneNumberId: PN,
				timestampUnix: NOW,
			}),
		]);
	});

	it("emits a user_changed_user_id system message (no sender, no contacts) as the customer's message under the new id", () => {
		const events = normalizeWebhook(
			body('messages', {
				messages: [
					{
						id: 'wamid.sys1',
						timestamp: String(NOW),
						type: 'system',
						system: {
							body: `User Test User changed from ${OLD} to ${NEW}`,
							user_id: NEW,
							type: 'user_changed_user_id',
						},
					},
				],
			}),
		);
		expect(events).toEqual([
			expect.objectContaining({
				kind: 'message',
				type: 'system',
				from: NEW,
				userId: NEW,
				system: expect.objectContaining({ type: 'user_changed_user_id', userId: NEW }),
			}),
		]);
	});

	it('learns the pairs in the same batch and keeps one customer across a username, a status and an id change', async () => {
		const store = new MemoryStateStore();
		const batches = jest.spyOn(store, 'applyEventBatch');
		// 1. A customer writes with their number and BSUID.
		await ingestWebhookEvents(
			normalizeWebhook(
				body('messages', {
					contacts: [
						{ profile: { name: 'Test User', username: 'testuser' }, wa_id: PHONE, user_id: OLD },
					],
					messages: [
						{
							from: PHONE,
							from_user_id: OLD,
							id: 'wamid.in1',
							timestamp: String(NOW - 7200),
							type: 'text',
							text: { body: 'Hello' },
						},
					],
				}),
			),
			store,
			options(),
		);
		expect(batches).toHaveBeenCalledTimes(1);
		expect(batches.mock.calls[0][0][0].writes.map((w) => w.kind)).toEqual(['identity', 'inbound']);
		expect(await resolveCustomer(store, PN, OLD)).toMatchObject({ key: PHONE, ids: [OLD, PHONE] });

		// 2. After the username: a message with no phone number at all. The window opens under the BSUID, and the
		// workflow holding the number finds it.
		const out = await ingestWebhookEvents(
			normalizeWebhook(
				body('messages', {
					contacts: [{ profile: { name: 'Test User', username: 'testuser' }, user_id: OLD }],
					messages: [
						{
							from_user_id: OLD,
							id: 'wamid.in2',
							timestamp: String(NOW),
							type: 'text',
							text: { body: 'Still me' },
						},
					],
				}),
			),
			store,
			options(),
		);
		expect(out.events).toEqual([expect.objectContaining({ from: OLD, userId: OLD })]);
		const now = new Date(NOW * 1000 + 60_000);
		const window = await customerWindow(store, PN, await resolveCustomer(store, PN, PHONE), now);
		expect(window).toMatchObject({
			open: true,
			waId: PHONE,
			lastInboundAt: new Date(NOW * 1000).toISOString(),
		});

		// 3. The id changes (user_id_update): the old BSUID, the new one and the number are one customer.
		const update = await ingestWebhookEvents(
			normalizeWebhook(
				body('user_id_update', {
					user_id_update: [
						{ wa_id: PHONE, user_id: { previous: OLD, current: NEW }, timestamp: String(NOW) },
					],
				}),
			),
			store,
			options(),
		);
		expect(update.events.map((e) => e.kind)).toEqual(['user_id_update']);
		expect(await resolveCustomer(store, PN, OLD)).toEqual({
			key: PHONE,
			ids: [OLD, NEW, PHONE],
			waId: PHONE,
			bsuid: NEW,
		});
		expect(await resolveCustomer(store, PN, NEW)).toMatchObject({ key: PHONE });
	});

	it('pairs a status recipient_id with recipient_user_id once per delivery, whatever the number of statuses', async () => {
		const store = new MemoryStateStore();
		const batches = jest.spyOn(store, 'applyEventBatch');
		const status = (status: string) => ({
			id: 'wamid.out1',
			status,
			timestamp: String(NOW),
			recipient_id: PHONE,
			recipient_user_id: OLD,
		});
		await ingestWebhookEvents(
			normalizeWebhook(body('messages', { statuses: [status('sent'), status('delivered')] })),
			store,
			options(),
		);
		const writes = batches.mock.calls[0][0].flatMap((item) => item.writes);
		expect(writes.filter((w) => w.kind === 'identity')).toHaveLength(1);
		expect(await store.getIdentity({ phoneNumberId: PN, id: PHONE })).toMatchObject({ bsuid: OLD });
	});

	// Meta's BSUID guide, "Status messages webhooks": the value's `contacts` (sent, delivered and read; omitted for failed)
	// give the recipient's `wa_id` and `user_id`, while the status's `recipient_user_id` is there only when the message
	// was sent to the BSUID; the guide's example is a delivered status of a message sent to the number:
	// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
	it("pairs a status's number with the BSUID its contacts entry gives (a message sent to the number)", async () => {
		const store = new MemoryStateStore();
		const events = normalizeWebhook(
			body('messages', {
				contacts: [
					{
						profile: { name: 'Pablo M.', username: '@pablomorales', country_code: 'US' },
						wa_id: PHONE,
						user_id: OLD,
					},
					// Another recipient's entry in the same value is not this status's.
					{ profile: { name: 'Ana' }, wa_id: '15557654321', user_id: NEW },
				],
				statuses: [
					{
						id: 'wamid.out4',
						status: 'delivered',
						timestamp: String(NOW),
						recipient_id: PHONE,
						pricing: {
							billable: true,
							pricing_model: 'PMP',
							type: 'regular',
							category: 'marketing',
						},
					},
				],
			}),
		);
		expect(events).toEqual([
			expect.objectContaining({ kind: 'status', recipientId: PHONE, recipientUserId: OLD }),
		]);
		await ingestWebhookEvents(events, store, options());
		expect(await resolveCustomer(store, PN, OLD)).toMatchObject({ key: PHONE, ids: [OLD, PHONE] });
		// A failed status comes without contacts, and a contact matching neither id is not guessed to be the recipient.
		const failed = normalizeWebhook(
			body('messages', {
				contacts: [{ profile: { name: 'Ana' }, wa_id: '15557654321', user_id: NEW }],
				statuses: [
					{
						id: 'wamid.out5',
						status: 'failed',
						timestamp: String(NOW),
						recipient_id: '15550001111',
					},
				],
			}),
		);
		expect(failed[0]).not.toHaveProperty('recipientUserId');
	});

	it('learns nothing from a status of a username customer without a number (nothing to pair)', async () => {
		const store = new MemoryStateStore();
		await ingestWebhookEvents(
			normalizeWebhook(
				body('messages', {
					statuses: [
						{ id: 'wamid.out2', status: 'sent', timestamp: String(NOW), recipient_user_id: OLD },
					],
				}),
			),
			store,
			options(),
		);
		expect(await store.getIdentity({ phoneNumberId: PN, id: OLD })).toBeUndefined();
	});

	// Parent BSUIDs ("US.ENT.…", one id for a user across the portfolios Meta linked for an enrolled business): Meta's
	// BSUID guide as partners copy it lists `parent_user_id` on contacts, `from_parent_user_id` on messages and
	// `recipient_parent_user_id` on statuses, present only for enrolled portfolios, and a parent is messaged like a
	// BSUID: https://dualhook.com/docs/contacts-bsuid-parent-user-ids , https://dualhook.com/docs/contacts-bsuid-webhooks ,
	// https://docs.ycloud.com/reference/webhook-updates-bsuid (`recipient` takes a BSUID or a parent BSUID).
	// `recipient_logical_id` (a bare number seen in real status payloads in public repositories) has no public Meta
	// documentation and no BSUID shape: it is passed through untouched and nothing is learnt from it.
	it('reads parent BSUIDs from statuses and contacts and leads them to the one customer', async () => {
		const PARENT = 'US.ENT.11815799212886844830';
		const store = new MemoryStateStore();
		const status = normalizeWebhook(
			body('messages', {
				statuses: [
					{
						id: 'wamid.out3',
						status: 'delivered',
						timestamp: String(NOW),
						recipient_user_id: OLD,
						recipient_parent_user_id: PARENT,
						recipient_logical_id: '244048631738500',
					},
				],
			}),
		);
		expect(status).toEqual([
			expect.objectContaining({
				kind: 'status',
				recipientId: OLD,
				recipientUserId: OLD,
				recipientParentUserId: PARENT,
			}),
		]);
		await ingestWebhookEvents(status, store, options());
		// Known by the parent only so far: the customer's key is the portfolio BSUID.
		expect(await resolveCustomer(store, PN, PARENT)).toMatchObject({
			key: OLD,
			ids: [PARENT, OLD],
		});
		expect(await store.getIdentity({ phoneNumberId: PN, id: '244048631738500' })).toBeUndefined();

		const message = normalizeWebhook(
			body('messages', {
				contacts: [
					{ wa_id: PHONE, user_id: OLD, parent_user_id: PARENT, profile: { name: 'Ana' } },
				],
				messages: [
					{
						from: PHONE,
						id: 'wamid.in3',
						timestamp: String(NOW),
						type: 'text',
						text: { body: 'hi' },
					},
				],
			}),
		);
		expect(message).toEqual([
			expect.objectContaining({ from: PHONE, userId: OLD, parentUserId: PARENT }),
		]);
		await ingestWebhookEvents(message, store, options());
		expect(await resolveCustomer(store, PN, PARENT)).toMatchObject({
			key: PHONE,
			ids: [PARENT, OLD, PHONE],
		});
	});
});
