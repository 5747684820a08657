/**
 * Send and Wait's execute() with n8n's execution context stood in (harness/n8n-context.ts), against the sandbox: what
 * the node leaves behind for the trigger before it returns (the wait link with n8n's resume URL, the deadline it puts
 * the execution to wait until), its outputs, and the refusals that name what to do (several items, bad buttons).
 * The resume itself runs in real n8n: test/e2e/sendAndWait.suite.ts.
 */
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { getStateStore } from '../../nodes/shared/store';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { runNode } from '../../harness/n8n-context';
import type { Params } from '../../harness/n8n-context';
import type { N8nContext } from '../../nodes/shared/transport';

const TOKEN = 'sandbox-token-for-wait-tests-1';
const PHONE_NUMBER_ID = '106540352242922';
let sandbox: Sandbox;
const node = new WhatsAppSendTemplate();
const STORE = { stateStore: 'embedded', storePath: ':memory:' };

const credentials = () => ({
	metaWhatsAppCloudApi: {
		accessToken: TOKEN,
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: '102290129340398',
		appSecret: 'app-secret-wait',
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
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
