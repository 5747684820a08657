/**
 * Send and Wait's execute() with n8n's execution context stood in (harness/n8n-context.ts), against the sandbox: what
 * the node leaves behind for the trigger before it returns (the wait link with n8n's resume URL, the deadline it puts
 * the execution to wait until), its outputs, and the refusals that name what to do (several items, bad buttons).
 * The resume itself runs in real n8n: test/e2e/sendAndWait.suite.ts.
 */
import { normalizeWebhook, RESUME_PROOF_HEADER, ResumeDispatcher, resumeWaits } from '../../core';
import type { IngestedEvent } from '../../core';
import { outputsExpression, outputsFor } from '../../nodes/WhatsAppSendTemplate/outputs';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { getStateStore } from '../../nodes/shared/store';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { callWebhook, runNode } from '../../harness/n8n-context';
import { CallbackReceiver, waitFor } from '../sandbox/helpers';
import type { Params } from '../../harness/n8n-context';
import type { N8nContext } from '../../nodes/shared/transport';

const TOKEN = 'sandbox-token-for-wait-tests-1';
const PHONE_NUMBER_ID = '106540352242922';
let sandbox: Sandbox;
const node = new WhatsAppSendTemplate();
const STORE = { stateStore: 'embedded', storePath: ':memory:' };

const credentials = (at: Sandbox = sandbox) => ({
	metaWhatsAppCloudApi: {
		accessToken: TOKEN,
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: '102290129340398',
		appSecret: 'app-secret-wait',
		apiVersion: 'v25.0',
		baseUrl: at.url,
	},
});

const params = (extra: Params = {}): Params => ({
	operation: 'sendAndWait',
	recipient: '+447911123456',
	template: { __rl: true, mode: 'name', value: 'new_collection_image (en_US)' },
	variablesMode: 'json',
	componentsJson: JSON.stringify([
		{
			type: 'header',
			parameters: [{ type: 'image', image: { link: 'https://example.com/a.jpg' } }],
		},
		{
			type: 'body',
			parameters: [
				{ type: 'text', text: 'Ana' },
				{ type: 'text', text: 'Spring' },
			],
		},
		{ type: 'button', sub_type: 'url', index: '2', parameters: [{ type: 'text', text: 's' }] },
	]),
	waitButtons: 'Show me more\nNot interested',
	waitForStatus: 'read',
	waitLimitType: 'afterTimeInterval',
	waitAmount: 2,
	waitUnit: 'hours',
	options: { pairIntervalSeconds: 0 },
	...STORE,
	...extra,
});

beforeAll(async () => {
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: 'app-secret-wait',
		statusDelayMs: 60_000,
	});
});
afterAll(async () => {
	await sandbox.close();
});

describe('Send and Wait: execute()', () => {
	it('writes the wait link (resume URL, deadline, buttons) before it returns, and waits until the deadline', async () => {
		const before = Date.now();
		const { output, waitTill } = await runNode(node, {
			parameters: params(),
			credentials: credentials(),
			executionId: '4711',
		});
		expect(output.map((o) => o.length)).toEqual([1, 0, 0, 0, 0, 0]);
		const sent = output[0][0];
		expect(sent.pairedItem).toEqual({ item: 0 });
		expect(sent.json).toMatchObject({ waiting: true, waId: '447911123456' });
		const deadline = waitTill!.getTime();
		expect(deadline).toBeGreaterThanOrEqual(before + 2 * 3_600_000);
		expect(deadline).toBeLessThan(Date.now() + 2 * 3_600_000 + 1000);

		const store = await getStateStore({
			getNodeParameter: (name: string, _i: number, fallback: unknown) =>
				(STORE as Record<string, unknown>)[name] ?? fallback,
		} as unknown as N8nContext);
		const link = await store.getWaitLink({
			phoneNumberId: PHONE_NUMBER_ID,
			messageId: String(sent.json.messageId),
		});
		expect(link).toMatchObject({
			executionId: '4711',
			waId: '447911123456',
			resumeUrl: 'http://n8n.test/webhook-waiting/4711/node-1?signature=test',
			expiresAt: deadline,
		});
		expect(JSON.parse(link!.spec)).toEqual({
			buttons: ['Show me more', 'Not interested'],
			status: 'read',
		});
		expect(link!.secret).toMatch(/^[0-9a-f]{64}$/);
	});

	it('refuses several items (n8n resumes an execution once) and says how to wait for many customers; nothing is sent', async () => {
		const before = (await sandbox.control<{ data: unknown[] }>('messages')).data.length;
		await expect(
			runNode(node, {
				parameters: params(),
				credentials: credentials(),
				items: [{ json: {} }, { json: {} }],
			}),
		).rejects.toThrow(/one customer per execution, and got 2 items.*Execute Workflow/);
		expect((await sandbox.control<{ data: unknown[] }>('messages')).data.length).toBe(before);
	});

	it('names Reply Buttons and the time limit when they are wrong', async () => {
		await expect(
			runNode(node, {
				parameters: params({ waitButtons: 'Yes\nyes' }),
				credentials: credentials(),
			}),
		).rejects.toThrow(/Reply Buttons: "yes" is listed twice/);
		await expect(
			runNode(node, {
				parameters: params({ waitLimitType: 'atSpecifiedTime', waitUntil: '2020-01-01T00:00:00Z' }),
				credentials: credentials(),
			}),
		).rejects.toThrow(/Wait Until: the date is in the past/);
	});
});

/**
 * Inside the service window Send and Wait sends its own reply buttons, list or text (Message Type). The whole way
 * round against the sandbox: execute() sends the interactive message and writes the link; the sandbox's customer taps
 * the second button (Meta's `interactive.button_reply` with `context.id` = our wamid,
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages);
 * the receiver's resumeWaits signs the resume; the node's waiting webhook verifies it and routes to that button's output.
 */
describe('Send and Wait: reply buttons, a list or a text inside the window', () => {
	let live: Sandbox;
	let receiver: CallbackReceiver;
	const CUSTOMER = '447911123457';
	beforeAll(async () => {
		receiver = await new CallbackReceiver().listen();
		live = await startSandbox({
			token: TOKEN,
			appSecret: 'app-secret-wait',
			callbackUrl: receiver.url,
			statusDelayMs: 60_000,
		});
		// The customer wrote: the service window is open.
		await live.control('inbound', { from: CUSTOMER, text: 'When is my delivery?' });
		// Its webhook delivered before any wait exists: free text from the customer would end a wait on Other Reply.
		await waitFor(() => receiver.changes('messages').length > 0, 5000, 'the inbound webhook');
	});
	afterAll(async () => {
		await live.close();
		await receiver.close();
	});

	const buttonParams = (extra: Params = {}): Params =>
		params({
			recipient: `+${CUSTOMER}`,
			waitMessageType: 'buttons',
			waitText: 'Your order ships tomorrow. Keep the date?',
			waitFooter: 'Reply by tonight',
			waitReplyButtons: {
				button: [
					{ title: 'Keep', id: 'keep-date' },
					{ title: 'Change date', id: 'change-date' },
				],
			},
			waitForStatus: 'none',
			...extra,
		});

	it('sends the reply buttons, waits, and the tap on the second resumes on its output with the reply', async () => {
		const parameters = buttonParams();
		const names = outputsFor(2, parameters as never).map((o) => o.displayName);
		expect(names).toEqual([
			'No Response',
			'Keep',
			'Change date',
			'Other Reply',
			'Failed',
			'Skipped by Policy',
		]);
		const { output } = await runNode(node, {
			parameters,
			credentials: credentials(live),
			executionId: '5001',
			typeVersion: 2,
		});
		expect(output).toHaveLength(names.length);
		const sent = output[0][0];
		expect(sent.json).toMatchObject({ waiting: true, waId: CUSTOMER });
		const messageId = String(sent.json.messageId);
		const request = (
			await live.control<{ data: Array<{ id: string; request: unknown }> }>('messages')
		).data.find((m) => m.id === messageId)?.request;
		expect(request).toMatchObject({
			type: 'interactive',
			interactive: {
				type: 'button',
				body: { text: 'Your order ships tomorrow. Keep the date?' },
				footer: { text: 'Reply by tonight' },
				action: {
					buttons: [
						{ type: 'reply', reply: { id: 'keep-date', title: 'Keep' } },
						{ type: 'reply', reply: { id: 'change-date', title: 'Change date' } },
					],
				},
			},
		});
		const store = await getStateStore({
			getNodeParameter: (name: string, _i: number, fallback: unknown) =>
				(STORE as Record<string, unknown>)[name] ?? fallback,
		} as unknown as N8nContext);
		const link = await store.getWaitLink({ phoneNumberId: PHONE_NUMBER_ID, messageId });
		expect(JSON.parse(link!.spec)).toEqual({
			buttons: ['Keep', 'Change date'],
			ids: ['keep-date', 'change-date'],
			kind: 'buttons',
		});

		receiver.received.length = 0;
		await live.control('tap', { messageId, button: 1 });
		await waitFor(() => receiver.changes('messages').length > 0, 5000, 'the tap webhook');
		const events = receiver.received.flatMap((w) => normalizeWebhook(w.body) as IngestedEvent[]);
		let routed: unknown[][] | undefined;
		const dispatcher = new ResumeDispatcher(store, {
			post: async (l, body, proof) => {
				const answer = await callWebhook(node, parameters, credentials(live), {
					webhookName: 'default',
					url: `/webhook-waiting/${l.executionId}/node-1`,
					rawBody: Buffer.from(body),
					headers: { [RESUME_PROOF_HEADER]: proof },
					typeVersion: 2,
				});
				routed = answer.response.workflowData as unknown[][];
				return answer.status;
			},
		});
		const resumed = await resumeWaits(events, store, dispatcher);
		expect([...resumed.values()]).toEqual(['5001']);
		await dispatcher.idle();
		expect(dispatcher.counts.delivered).toBe(1);
		expect(routed!.map((o) => o.length)).toEqual([0, 0, 1, 0, 0, 0]);
		const item = routed![2][0] as { json: Record<string, unknown>; pairedItem: unknown };
		expect(item.pairedItem).toEqual({ item: 0 });
		expect(item.json).toMatchObject({
			messageId,
			waitOutcome: 'button',
			button: { index: 1, label: 'Change date' },
			reply: {
				type: 'interactive',
				interactive: { type: 'button_reply', id: 'change-date', title: 'Change date' },
			},
		});
		expect(typeof item.json.waitedSeconds).toBe('number');
	});

	it('a list has one output per row; a text waits on Reply', () => {
		const list = params({
			waitMessageType: 'list',
			waitListRows: { row: [{ title: 'Morning' }, { title: 'Afternoon' }, { title: 'Evening' }] },
			waitForStatus: 'read',
		});
		expect(outputsFor(2, list as never).map((o) => o.displayName)).toEqual([
			'No Response',
			'Morning',
			'Afternoon',
			'Evening',
			'Other Reply',
			'Status: read',
			'Failed',
			'Skipped by Policy',
		]);
		expect(
			outputsFor(1, params({ waitMessageType: 'text', waitForStatus: 'none' }) as never).map(
				(o) => o.displayName,
			),
		).toEqual(['No Response', 'Reply', 'Failed']);
		// n8n evaluates the outputs as an expression of $nodeVersion and $parameter: self-contained source, same answer.
		const evaluate = new Function(
			'$nodeVersion',
			'$parameter',
			`return ${outputsExpression.slice(3, -2)}`,
		) as (v: number, p: unknown) => Array<{ displayName: string }>;
		expect(evaluate(2, list).map((o) => o.displayName)).toEqual(
			outputsFor(2, list as never).map((o) => o.displayName),
		);
		// Template (the default, as saved before Message Type existed): the Reply Buttons text, unchanged.
		expect(
			outputsFor(2, params({ waitForStatus: 'none' }) as never).map((o) => o.displayName),
		).toEqual([
			'No Response',
			'Show me more',
			'Not interested',
			'Other Reply',
			'Failed',
			'Skipped by Policy',
		]);
	});

	it('refuses buttons Meta would refuse before anything is sent, naming the field', async () => {
		const before = (await live.control<{ data: unknown[] }>('messages')).data.length;
		await expect(
			runNode(node, {
				parameters: buttonParams({
					waitReplyButtons: { button: [{ title: 'A title of 21 chars!!' }] },
				}),
				credentials: credentials(live),
				executionId: '5002',
			}),
		).rejects.toThrow(/buttons\[0\]\.reply\.title: is longer than 20 characters/);
		expect((await live.control<{ data: unknown[] }>('messages')).data.length).toBe(before);
	});

	it('with the window closed the send is accepted and Meta fails it with 131047, as any session send', async () => {
		const { output } = await runNode(node, {
			parameters: buttonParams({ recipient: '+447911123999' }),
			credentials: credentials(live),
			executionId: '5003',
			typeVersion: 2,
		});
		const messageId = String(output[0][0].json.messageId);
		const accepted = (
			await live.control<{ data: Array<{ id: string; failure?: { code: number } }> }>('messages')
		).data.find((m) => m.id === messageId);
		expect(accepted?.failure?.code).toBe(131047);
	});
});
