/**
 * One journey send as both adapters assemble it (core/journeys/journeySend.ts): the step key and where it goes, one
 * customer whichever id the item holds, the tracking; and the gate of a connection, which reads the account through
 * the connection's client and checks the templates of the run.
 */
import {
	CloudApiClient,
	DEFAULT_JOURNEY_RULES,
	MemoryStateStore,
	accountSubject,
	clearAccountCache,
	createJourneySendGate,
	customerOf,
	decodeTracking,
	normalizeRecipient,
	prepareJourneySend,
	prepareSessionSend,
	sessionMessageFromFields,
	stepKeyFor,
} from '../../core';
import type { HttpRequest, JourneySendInput, SendContent } from '../../core';
import { SCRIPTED_PHONE_NUMBER_ID } from '../scriptedMeta';

const PN = SCRIPTED_PHONE_NUMBER_ID;
const WABA = '102290129340398';
const PHONE = '16505551234';
const BSUID = 'US.13491208655302741918';

const springSale = (category = 'MARKETING'): SendContent => ({
	message: { type: 'template', template: { name: 'spring_sale', language: { code: 'de' } } },
	summary: { template: { name: 'spring_sale', language: 'de', category } },
});
const reply = prepareSessionSend(sessionMessageFromFields({ type: 'text', text: 'Thanks!' }));

/** An item for the customer +PHONE known by that number only, in journey "welcome", step "day-1". */
function input(extra: Partial<JourneySendInput> = {}): JourneySendInput {
	return {
		itemIndex: 2,
		recipient: normalizeRecipient(`+${PHONE}`),
		customer: { key: PHONE, ids: [PHONE] },
		content: springSale(),
		phoneNumberId: PN,
		journey: 'welcome',
		step: 'day-1',
		scope: 'wf-1/Send Template',
		runOccurrence: 'exec-7:0:2',
		oncePerStep: true,
		tracking: { workflowId: 'wf-1', executionId: 'exec-7' },
		callbackDataField: 'Tracking Data Override',
		...extra,
	};
}

const welcomeKey = (waId: string) =>
	stepKeyFor({ phoneNumberId: PN, journey: 'welcome', step: 'day-1', scope: 'x', waId });

describe('prepareJourneySend', () => {
	it('with once per step, the gate claims the step and the tracking carries its key, so a status webhook can resolve the send', () => {
		const sent = prepareJourneySend(input({ itemTimeZone: 'America/Los_Angeles' }));
		expect(sent.gate).toEqual({
			waId: PHONE,
			otherIds: [],
			e164: `+${PHONE}`,
			category: 'MARKETING',
			stepKey: welcomeKey(PHONE),
			otherStepKeys: [],
			itemTimeZone: 'America/Los_Angeles',
			template: { name: 'spring_sale', language: 'de' },
		});
		expect(sent).toMatchObject({ itemIndex: 2, customerKey: PHONE, recipient: `+${PHONE}` });
		expect(sent.tracking).toEqual({
			workflowId: 'wf-1',
			executionId: 'exec-7',
			journey: 'welcome',
			step: 'day-1',
			stepKey: welcomeKey(PHONE),
		});
		expect(decodeTracking(sent.bizOpaqueCallbackData)).toEqual(sent.tracking);
		expect(sent.request).toMatchObject({
			to: `+${PHONE}`,
			type: 'template',
			biz_opaque_callback_data: sent.bizOpaqueCallbackData,
		});
	});

	it('without once per step there is no step key: the gate claims no step and the tracking names none', () => {
		const sent = prepareJourneySend(input({ oncePerStep: false }));
		expect(sent.gate.stepKey).toBeUndefined();
		expect(sent.gate.otherStepKeys).toBeUndefined();
		// The other rules still see the customer, category and template.
		expect(sent.gate).toMatchObject({
			waId: PHONE,
			category: 'MARKETING',
			template: { name: 'spring_sale' },
		});
		expect(sent.tracking).toEqual({
			workflowId: 'wf-1',
			executionId: 'exec-7',
			journey: 'welcome',
			step: 'day-1',
		});
		expect(decodeTracking(sent.bizOpaqueCallbackData)).not.toHaveProperty('stepKey');
	});

	it('gives the same step key from the number and from the BSUID the store paired with it, with the key under the other id', async () => {
		const store = new MemoryStateStore();
		await store.linkIdentity({ phoneNumberId: PN, waId: PHONE, bsuid: BSUID, at: new Date() });
		const sends = await Promise.all(
			[`+${PHONE}`, BSUID].map(async (id) => {
				const recipient = normalizeRecipient(id);
				const customer = await customerOf(async () => store, PN, recipient);
				return prepareJourneySend(input({ recipient, customer }));
			}),
		);
		for (const sent of sends) {
			expect(sent.customerKey).toBe(PHONE);
			expect(sent.gate).toMatchObject({
				waId: PHONE,
				otherIds: [BSUID],
				stepKey: welcomeKey(PHONE),
				otherStepKeys: [welcomeKey(BSUID)],
			});
			expect(sent.tracking?.stepKey).toBe(welcomeKey(PHONE));
		}
		// Each message still goes to the id the item gave.
		expect(sends.map((s) => [s.recipientType, s.recipient])).toEqual([
			['phone', `+${PHONE}`],
			['bsuid', BSUID],
		]);
	});

	it('a journey step is once per customer; without journey and step, or for a reply, once per run; an Occurrence Key is a new occurrence', () => {
		const key = (extra: Partial<JourneySendInput>) => prepareJourneySend(input(extra)).gate.stepKey;
		// Another execution of the same journey step: the same step, so the customer is not sent it twice.
		expect(key({ runOccurrence: 'exec-8:0:2' })).toBe(key({}));
		expect(key({ occurrenceKey: 'order-99' })).not.toBe(key({}));
		expect(key({ occurrenceKey: 'order-99', runOccurrence: 'exec-8:0:2' })).toBe(
			key({ occurrenceKey: 'order-99' }),
		);
		const unnamed = { journey: undefined, step: undefined };
		expect(key({ ...unnamed, runOccurrence: 'exec-8:0:2' })).not.toBe(key(unnamed));
		expect(key({ ...unnamed, scope: 'wf-1/Other Node' })).not.toBe(key(unnamed));
		expect(key({ content: reply, runOccurrence: 'exec-8:0:2' })).not.toBe(key({ content: reply }));
	});

	it("sends the user's own callback data instead of the tracking, still claims the step, and names the adapter's field when it is too long", () => {
		const sent = prepareJourneySend(
			input({
				tracking: { workflowId: 'flow-1', callbackData: 'order=99' },
				callbackDataField: 'msg.tracking',
			}),
		);
		expect(sent.bizOpaqueCallbackData).toBe('order=99');
		expect(sent.tracking).toBeUndefined();
		expect(sent.gate.stepKey).toBe(welcomeKey(PHONE));
		expect(() =>
			prepareJourneySend(
				input({ tracking: { callbackData: 'x'.repeat(513) }, callbackDataField: 'msg.tracking' }),
			),
		).toThrow(/^msg\.tracking is longer than 512 characters/);
	});

	it('carries custom tracking, and a reply counts as SERVICE with no template to guard', () => {
		const sent = prepareJourneySend(
			input({ content: reply, tracking: { executionId: 'msg-1', custom: 'vip' } }),
		);
		expect(sent.tracking).toMatchObject({ executionId: 'msg-1', custom: 'vip' });
		expect(sent.gate.category).toBe('SERVICE');
		expect(sent.gate.template).toBeUndefined();
	});
});

describe('createJourneySendGate', () => {
	beforeEach(() => clearAccountCache());

	/** A Graph API answering account reads: the number's quality per host, the portfolio owning the WABA. */
	function graph(quality: Record<string, string>): CloudApiClient[] {
		const transport = async (request: HttpRequest) => {
			const host = new URL(request.url).origin;
			if (request.url.includes(`/${WABA}`))
				return { status: 200, body: { id: WABA, owner_business_info: { id: 'bp-1' } } };
			return {
				status: 200,
				body: {
					id: PN,
					display_phone_number: '+1 555-078-3881',
					quality_rating: quality[host],
					whatsapp_business_manager_messaging_limit: 'TIER_2K',
				},
			};
		};
		return Object.keys(quality).map(
			(baseUrl) =>
				new CloudApiClient({ phoneNumberId: PN, wabaId: WABA, baseUrl }, transport, {
					maxAttempts: 1,
					retryUncertain: false,
					timeoutMs: 1000,
				}),
		);
	}

	it("holds a MARKETING template Meta paused, from the run's template list; a list given as a function is read at the first send", async () => {
		const store = new MemoryStateStore();
		await store.applyEventBatch([
			{
				writes: [
					{
						kind: 'account',
						subject: accountSubject.template(WABA, 'spring_sale', 'de'),
						facts: { status: 'PAUSED' },
						at: new Date(),
					},
				],
			},
		]);
		const [client] = graph({ 'http://graph.test': 'GREEN' });
		const gate = (templates?: Parameters<typeof createJourneySendGate>[0]['templates']) =>
			createJourneySendGate({
				store,
				client,
				phoneNumberId: PN,
				wabaId: WABA,
				baseUrl: 'http://graph.test',
				rules: DEFAULT_JOURNEY_RULES,
				templates,
			});
		const sent = prepareJourneySend(input());
		expect(await gate([{ name: 'spring_sale', language: 'de' }]).preview(sent.gate)).toMatchObject({
			decision: 'quality_guard',
			stepKey: sent.gate.stepKey,
		});
		// Not in the list: its state is not read, so the dry run would send it.
		expect(await gate([]).preview(sent.gate)).toMatchObject({ decision: 'dry_run' });
		// Templates known only once the items are prepared (n8n: a template per item).
		const known: Array<{ name: string; language: string }> = [];
		const later = gate(async () => known);
		known.push({ name: 'spring_sale', language: 'de' });
		expect(await later.preview(sent.gate)).toMatchObject({ decision: 'quality_guard' });
	});

	it("reads the number's quality through the connection: RED holds MARKETING but not UTILITY, and another Graph host is read on its own", async () => {
		const [green, red] = graph({ 'http://green.test': 'GREEN', 'http://red.test': 'RED' });
		const gate = (client: CloudApiClient, baseUrl: string) =>
			createJourneySendGate({
				store: new MemoryStateStore(),
				client,
				phoneNumberId: PN,
				wabaId: WABA,
				baseUrl,
				rules: DEFAULT_JOURNEY_RULES,
			});
		const marketing = prepareJourneySend(input()).gate;
		const utility = prepareJourneySend(input({ content: springSale('UTILITY') })).gate;
		expect(await gate(green, 'http://green.test').preview(marketing)).toMatchObject({
			decision: 'dry_run',
		});
		const redGate = gate(red, 'http://red.test');
		expect(await redGate.preview(marketing)).toMatchObject({
			decision: 'quality_guard',
			rule: 'quality_guard',
		});
		expect(await redGate.preview(utility)).toMatchObject({ decision: 'dry_run' });
	});
});
