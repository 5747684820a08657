/**
 * The n8n trigger's batcher: POSTs within the window join one execution; a POST that does not fit closes the open
 * batch and leads the next; a full batch emits at once; deactivation emits what is open now.
 */
import {
	Batcher,
	batchLimits,
	DEFAULT_BATCH_WINDOW_MS,
	DEFAULT_MAX_ITEMS,
	MAX_BATCH_WINDOW_MS,
} from '../../nodes/WhatsAppWebhookStatus/batcher';
import type { BatchPlacement } from '../../nodes/WhatsAppWebhookStatus/batcher';

const KEY = 'workflow-1|trigger-node';

function emittedOf(placement: BatchPlacement<string>): Promise<string[]> {
	if (placement.role !== 'leader') throw new Error(`expected a leader, got ${placement.role}`);
	return placement.emitted;
}

/** Whether the promise has settled once pending callbacks have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
	let settled = false;
	void promise.then(() => (settled = true));
	for (let i = 0; i < 5; i++) await Promise.resolve();
	return settled;
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('trigger batcher', () => {
	it("joins POSTs that arrive within the window into the leader's one execution, emitted when the window ends", async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: 200, maxItems: 10 };
		const emitted = emittedOf(batcher.add(KEY, ['a1', 'a2'], limits));
		expect(batcher.add(KEY, ['b1'], limits)).toEqual({ role: 'joined' });
		expect(batcher.add(KEY, ['c1'], limits)).toEqual({ role: 'joined' });
		jest.advanceTimersByTime(199);
		expect(await isSettled(emitted)).toBe(false);
		jest.advanceTimersByTime(1);
		await expect(emitted).resolves.toEqual(['a1', 'a2', 'b1', 'c1']);
		// The window is over: the next POST leads a new batch.
		expect(batcher.add(KEY, ['d1'], limits).role).toBe('leader');
	});

	it('keeps the batches of two trigger nodes apart', async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: 200, maxItems: 10 };
		const first = emittedOf(batcher.add(KEY, ['a'], limits));
		const second = emittedOf(batcher.add('workflow-2|trigger-node', ['b'], limits));
		jest.advanceTimersByTime(200);
		await expect(first).resolves.toEqual(['a']);
		await expect(second).resolves.toEqual(['b']);
	});

	it('closes the open batch at once when a POST does not fit, and that POST leads the next batch', async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: 200, maxItems: 4 };
		const first = emittedOf(batcher.add(KEY, ['a1', 'a2', 'a3'], limits));
		expect(await isSettled(first)).toBe(false);
		const next = batcher.add(KEY, ['b1', 'b2'], limits);
		await expect(first).resolves.toEqual(['a1', 'a2', 'a3']);
		const second = emittedOf(next);
		expect(await isSettled(second)).toBe(false);
		jest.advanceTimersByTime(200);
		await expect(second).resolves.toEqual(['b1', 'b2']);
	});

	it('emits a batch as soon as it reaches the maximum of items, and the next POST opens a new one', async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: 10_000, maxItems: 3 };
		const emitted = emittedOf(batcher.add(KEY, ['a1', 'a2'], limits));
		expect(await isSettled(emitted)).toBe(false);
		expect(batcher.add(KEY, ['b1'], limits)).toEqual({ role: 'joined' });
		await expect(emitted).resolves.toEqual(['a1', 'a2', 'b1']);
		expect(batcher.add(KEY, ['c1'], limits).role).toBe('leader');
	});

	it('never splits a POST: one with more events than the maximum runs alone, after the open batch emits', async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: 200, maxItems: 3 };
		const open = emittedOf(batcher.add(KEY, ['a1'], limits));
		expect(batcher.add(KEY, ['b1', 'b2', 'b3', 'b4'], limits)).toEqual({ role: 'alone' });
		await expect(open).resolves.toEqual(['a1']);
	});

	it('runs each POST alone with a window of 0, leaving an open batch as it is', async () => {
		const batcher = new Batcher<string>();
		const open = emittedOf(batcher.add(KEY, ['a1'], { windowMs: 200, maxItems: 10 }));
		expect(batcher.add(KEY, ['b1'], { windowMs: 0, maxItems: 10 })).toEqual({ role: 'alone' });
		jest.advanceTimersByTime(200);
		await expect(open).resolves.toEqual(['a1']);
	});

	it('emits the open batch now when the trigger is deactivated, and takes no more into it', async () => {
		const batcher = new Batcher<string>();
		const limits = { windowMs: MAX_BATCH_WINDOW_MS, maxItems: 10 };
		const emitted = emittedOf(batcher.add(KEY, ['a1'], limits));
		batcher.add(KEY, ['b1'], limits);
		expect(await isSettled(emitted)).toBe(false);
		batcher.close(KEY);
		await expect(emitted).resolves.toEqual(['a1', 'b1']);
		expect(batcher.add(KEY, ['c1'], limits).role).toBe('leader');
		expect(() => batcher.close('no-such-trigger')).not.toThrow();
	});
});

describe('batchLimits', () => {
	it('takes the defaults when the options say nothing, and clamps what is out of range', () => {
		expect(batchLimits({})).toEqual({
			windowMs: DEFAULT_BATCH_WINDOW_MS,
			maxItems: DEFAULT_MAX_ITEMS,
		});
		expect(batchLimits({ batchWindow: 60_000, maxItemsPerExecution: 0 })).toEqual({
			windowMs: MAX_BATCH_WINDOW_MS,
			maxItems: 1,
		});
		expect(batchLimits({ batchWindow: 250.7, maxItemsPerExecution: '50' })).toEqual({
			windowMs: 250,
			maxItems: DEFAULT_MAX_ITEMS,
		});
	});
});
