/**
 * `whatsapp-check-window` in node-red-node-test-helper's runtime: "open" / "closed" outputs from the state store or
 * from a time the flow keeps itself, the safety margin, recording inbound messages (ad referrals included), and
 * errors to Catch nodes.
 */
import { createStateStore } from '../../core';
import { Collector, PHONE_NUMBER_ID, flow, helper, load, newStorePath } from './harness';
import type { FlowNode } from './harness';

// No Graph call is made by this node; the config only needs a syntactically valid base URL.
const GRAPH = { url: 'http://127.0.0.1:9' };
const HOUR = 3600 * 1000;

interface Window {
	open: boolean;
	secondsLeft: number;
	recipient: string;
	waId: string;
	lastInboundAt?: string;
	freeEntryPointOpen: boolean;
}

async function loadWindow(
	extra: Record<string, unknown> = {},
	storePath = newStorePath(),
): Promise<{ open: Collector; closed: Collector; caught: Collector }> {
	const nodes: FlowNode[] = [
		{
			id: 'window',
			type: 'whatsapp-check-window',
			server: 'cfg',
			wires: [['open'], ['closed']],
			...extra,
		},
		{ id: 'open', type: 'helper' },
		{ id: 'closed', type: 'helper' },
	];
	await load(flow(GRAPH, storePath, nodes));
	return {
		open: new Collector('open'),
		closed: new Collector('closed'),
		caught: new Collector('caught'),
	};
}

afterEach(async () => {
	await helper.unload();
});

describe('whatsapp-check-window in Node-RED', () => {
	it('sends a customer who wrote 2 hours ago to "open" and one never seen to "closed"', async () => {
		const storePath = newStorePath();
		const store = createStateStore({ backend: 'embedded', path: storePath });
		await store.recordInbound({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: '447911123456',
			at: new Date(Date.now() - 2 * HOUR),
		});
		await store.close();
		const { open, closed } = await loadWindow({}, storePath);
		helper.getNode('window').receive({ payload: { to: '+447911123456' }, order: 1 });
		helper.getNode('window').receive({ payload: { to: '+447911123499' }, order: 2 });
		const [o] = await open.waitFor(1);
		const [c] = await closed.waitFor(1);
		expect(o.order).toBe(1);
		// msg.whatsappWindow, as n8n names it; msg.window stays as a deprecated alias for saved flows.
		expect(o.window).toBe(o.whatsappWindow);
		expect(c.window).toBe(c.whatsappWindow);
		expect(o.whatsappWindow).toMatchObject({
			open: true,
			recipient: '+447911123456',
			waId: '447911123456',
		});
		expect((o.window as Window).secondsLeft).toBeGreaterThan(22 * 3600 - 60);
		expect((o.window as Window).secondsLeft).toBeLessThanOrEqual(22 * 3600);
		expect(c.order).toBe(2);
		expect(c.window).toMatchObject({ open: false, secondsLeft: 0 });
	});

	// 'item' is n8n's value for this source; flows saved before it was adopted say 'input'.
	it.each(['item', 'input'])(
		"reads the last inbound time from a message property (source '%s'), and treats a window about to close as closed",
		async (source) => {
			const { open, closed } = await loadWindow({
				source,
				lastInboundAt: 'customer.lastMessageAt',
				lastInboundAtType: 'msg',
				minimumMinutesLeft: 90,
			});
			const node = helper.getNode('window');
			node.receive({
				payload: { to: '+447911123456' },
				customer: { lastMessageAt: new Date(Date.now() - 20 * HOUR).toISOString() },
			});
			node.receive({
				payload: { to: '+447911123456' },
				customer: { lastMessageAt: Math.floor((Date.now() - 23 * HOUR) / 1000) },
			});
			node.receive({
				payload: { to: '+447911123456' },
				customer: { lastMessageAt: Date.now() - 25 * HOUR },
			});
			node.receive({ payload: { to: '+447911123456' }, customer: {} });
			await open.waitFor(1);
			await closed.waitFor(3);
			expect((open.messages[0].window as Window).secondsLeft).toBeGreaterThan(3 * 3600 + 3500);
			// 23 h ago: still open by Meta's rule, but less than the 90 minutes asked for.
			expect((closed.messages[0].window as Window).secondsLeft).toBeGreaterThan(3500);
			expect(closed.messages.map((m) => (m.window as Window).open)).toEqual([false, false, false]);
			expect((closed.messages[2].window as Window).lastInboundAt).toBeUndefined();
		},
	);

	it('records an inbound message (from an ad: free entry point too) and routes it to "open"', async () => {
		const storePath = newStorePath();
		const { open } = await loadWindow({ operation: 'recordInbound', fromAd: true }, storePath);
		helper.getNode('window').receive({ payload: { to: '447911123456' } });
		const [msg] = await open.waitFor(1);
		expect(msg.window).toMatchObject({ open: true, freeEntryPointOpen: true });
		const store = createStateStore({ backend: 'embedded', path: storePath });
		try {
			expect(
				(await store.getWindow({ phoneNumberId: PHONE_NUMBER_ID, waId: '447911123456' })).open,
			).toBe(true);
		} finally {
			await store.close();
		}
	});

	it('sends an invalid number or timestamp to Catch nodes, naming what is wrong', async () => {
		const { open, closed, caught } = await loadWindow({ source: 'input' });
		helper.getNode('window').receive({ payload: { to: '12' } });
		helper
			.getNode('window')
			.receive({ payload: { to: '+447911123456', lastInboundAt: 'yesterday-ish' } });
		await caught.waitFor(2);
		const messages = caught.messages.map((m) => (m.error as { message: string }).message);
		expect(messages[0]).toMatch(/12/);
		expect(messages[1]).toMatch(/Last inbound message at "yesterday-ish" is not a date/);
		expect(open.messages.length + closed.messages.length).toBe(0);
	});
});
