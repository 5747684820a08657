/**
 * Journey rules (issue #14) on `whatsapp-send-template` in Node-RED: once per step, the "skipped by policy" output
 * with msg.policy, the status badge counts, and quiet hours "hold" (the msg waits in the node until the window ends).
 */
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { CREDENTIALS, Collector, control, flow, helper, load, newStorePath } from './harness';
import type { FlowNode } from './harness';
import type { NodeMessage } from '../../node-red/types';

let sandbox: Sandbox;

const sendNode = (extra: Record<string, unknown> = {}): FlowNode => ({
	id: 'send',
	type: 'whatsapp-send-template',
	server: 'cfg',
	templateName: 'spring_catalog',
	templateLanguage: 'en_US',
	pairIntervalSeconds: 0,
	journey: 'spring',
	step: 'catalog',
	wires: [['out'], ['skipped']],
	...extra,
});

async function loadSend(
	extra: Record<string, unknown> = {},
): Promise<{ out: Collector; skipped: Collector; caught: Collector }> {
	await load(
		flow(sandbox, newStorePath(), [
			sendNode(extra),
			{ id: 'out', type: 'helper' },
			{ id: 'skipped', type: 'helper' },
		]),
	);
	return {
		out: new Collector('out'),
		skipped: new Collector('skipped'),
		caught: new Collector('caught'),
	};
}

const send = (to: string, extra: Record<string, unknown> = {}) =>
	helper.getNode('send').receive({ payload: { to, variables: { body_1: 'Ana' } }, ...extra });
const accepted = async (): Promise<number> => (await control(sandbox, 'messages')).data.length;
const decisionOf = (msg: NodeMessage) => (msg.policy as { decision?: string }).decision;

beforeAll(async () => {
	sandbox = await startSandbox({
		token: CREDENTIALS.cfg.accessToken,
		appSecret: CREDENTIALS.cfg.appSecret,
		mps: 0,
		pairRateMs: 0,
		statusDelayMs: 5,
	});
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await control(sandbox, 'reset', {});
});
afterEach(async () => {
	await helper.unload();
});

describe('journey rules on whatsapp-send-template', () => {
	it('sends a journey step once per customer: the repeat comes out of output 1 as already sent, nothing leaves', async () => {
		const { out, skipped } = await loadSend();
		send('+447911123456');
		await out.waitFor(1);
		send('+447911123456');
		const [first, second] = await out.waitFor(2);
		expect(decisionOf(first)).toBe('sent');
		expect(decisionOf(second)).toBe('already_sent');
		expect(second.policy).toMatchObject({
			messageId: (first.payload as { messageId: string }).messageId,
		});
		expect(skipped.messages).toHaveLength(0);
		expect(await accepted()).toBe(1);
	});

	it('msg.occurrenceKey makes each occurrence its own step', async () => {
		const { out } = await loadSend();
		send('+447911123456', { occurrenceKey: 'order-1' });
		await out.waitFor(1);
		send('+447911123456', { occurrenceKey: 'order-2' });
		const msgs = await out.waitFor(2);
		expect(msgs.map(decisionOf)).toEqual(['sent', 'sent']);
		expect(await accepted()).toBe(2);
	});

	it('routes a capped customer to "skipped by policy" with msg.policy and counts it in the status', async () => {
		const statuses: string[] = [];
		const { out, skipped } = await loadSend({ capMaxMessages: '1', capPeriodHours: '24' });
		helper
			.getNode('send')
			.on('call:status', (call) => statuses.push(String((call.args[0] as { text?: string }).text)));
		send('+447911123456', { tracking: { step: 'first' } });
		await out.waitFor(1);
		send('+447911123456', { tracking: { step: 'second' } });
		const [capped] = await skipped.waitFor(1);
		expect(capped.policy).toMatchObject({ decision: 'frequency_capped', count: 1, limit: 1 });
		expect(typeof (capped.policy as { code?: unknown }).code).toBe('string');
		expect(await accepted()).toBe(1);
		expect(statuses[statuses.length - 1]).toBe('sent 1 · skipped 1');
	});

	it('holds a msg inside quiet hours in the node (badge "held 1") and sends it when the window ends', async () => {
		// A window from this minute to the next in Tokyo (no DST); close to a minute's end, start in the next one.
		if (new Date().getSeconds() > 50) await new Promise((r) => setTimeout(r, 11_000));
		const hhmm = (offset: number) =>
			new Intl.DateTimeFormat('en-GB', {
				timeZone: 'Asia/Tokyo',
				hour: '2-digit',
				minute: '2-digit',
				hourCycle: 'h23',
			}).format(new Date(Date.now() + offset * 60_000));
		const statuses: string[] = [];
		const { out } = await loadSend({
			quietStart: hhmm(0),
			quietEnd: hhmm(1),
			quietTimeZone: 'Asia/Tokyo',
			quietExempt: '',
			quietWhenOutside: 'hold',
		});
		helper
			.getNode('send')
			.on('call:status', (call) => statuses.push(String((call.args[0] as { text?: string }).text)));
		const receivedAt = Date.now();
		send('+447911123456');
		await new Promise((r) => setTimeout(r, 1500));
		expect(out.messages).toHaveLength(0);
		expect(await accepted()).toBe(0);
		expect(statuses.some((s) => s.includes('held 1'))).toBe(true);
		const [sent] = await out.waitFor(1, 75_000);
		expect(decisionOf(sent)).toBe('sent');
		const nextMinute = Math.ceil((receivedAt + 1) / 60_000) * 60_000;
		expect(Date.now()).toBeGreaterThanOrEqual(nextMinute);
		expect(await accepted()).toBe(1);
	}, 90_000);

	it('quiet hours "skip" routes the msg out at once with resumeAt', async () => {
		const hhmm = (offset: number) =>
			new Intl.DateTimeFormat('en-GB', {
				timeZone: 'Asia/Tokyo',
				hour: '2-digit',
				minute: '2-digit',
				hourCycle: 'h23',
			}).format(new Date(Date.now() + offset * 60_000));
		const { skipped } = await loadSend({
			quietStart: hhmm(-1),
			quietEnd: hhmm(2),
			quietTimeZone: 'Asia/Tokyo',
			quietExempt: '',
			quietWhenOutside: 'skip',
		});
		send('+447911123456');
		const [msg] = await skipped.waitFor(1);
		expect(msg.policy).toMatchObject({ decision: 'quiet_hours', timeZone: 'Asia/Tokyo' });
		expect(Date.parse((msg.policy as { resumeAt: string }).resumeAt)).toBeGreaterThan(Date.now());
		expect(await accepted()).toBe(0);
	});
});
