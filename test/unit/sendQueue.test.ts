/**
 * sendBatch fed by a SendQueue: the n8n node queues each item as soon as it is prepared, so a campaign's first
 * message leaves while later items are still being prepared.
 */
import { SendQueue, sendBatch, yieldToEventLoop } from '../../core';
import type { OutgoingMessage } from '../../core';
import { scriptedMeta } from '../scriptedMeta';

/** "Meta" accepting every send, each as wamid.<recipient>. */
const meta = () =>
	scriptedMeta((to) => ({
		status: 200,
		body: { messaging_product: 'whatsapp', messages: [{ id: `wamid.${to}` }] },
	}));

const message = (itemIndex: number): OutgoingMessage => ({
	itemIndex,
	waId: `4915112340${String(itemIndex).padStart(3, '0')}`,
	request: {
		messaging_product: 'whatsapp',
		to: `+4915112340${String(itemIndex).padStart(3, '0')}`,
	},
});

describe('sendBatch over a SendQueue', () => {
	it('sends the first message before the last is queued, and every queued message once, in order', async () => {
		const api = meta();
		const queue = new SendQueue();
		const batch = sendBatch(queue, { client: api.client, concurrency: 1 });
		const receivedBeforeLast: number[] = [];
		for (let i = 0; i < 20; i++) {
			if (i === 19) receivedBeforeLast.push(api.received.length);
			queue.push(message(i));
			await yieldToEventLoop();
		}
		queue.close();
		const outcomes = await batch;
		expect(receivedBeforeLast[0]).toBeGreaterThan(0);
		expect(outcomes.map((o) => o.itemIndex)).toEqual(Array.from({ length: 20 }, (_, i) => i));
		expect(outcomes.every((o) => o.ok === true)).toBe(true);
		expect(new Set(api.received).size).toBe(20);
	});

	it('abandon: queued messages not yet taken are never sent, and the batch ends with the outcomes of those sent', async () => {
		const api = meta();
		const queue = new SendQueue();
		for (let i = 0; i < 10; i++) queue.push(message(i));
		const batch = sendBatch(queue, { client: api.client, concurrency: 2 });
		// Two workers have each taken one message; the other eight wait in the queue.
		queue.abandon();
		const outcomes = await batch;
		expect(outcomes.map((o) => o.itemIndex).sort()).toEqual([0, 1]);
		expect(api.received).toHaveLength(2);
	});

	it('a closed, empty queue ends the batch with no outcomes', async () => {
		const queue = new SendQueue();
		queue.close();
		await expect(sendBatch(queue, { client: meta().client })).resolves.toEqual([]);
		expect(() => queue.push(message(0))).toThrow(/after close/);
	});
});
