import type { AcceptedMessage, Sandbox } from '../../sandbox';
import {
	CUSTOMER,
	CallbackReceiver,
	TOKEN,
	VERSION,
	bodyAs,
	control,
	errorOf,
	orderUpdate,
	send,
	start,
} from './helpers';

describe('sandbox control API faults', () => {
	let receiver: CallbackReceiver;
	let sandbox: Sandbox;
	beforeAll(async () => {
		receiver = await new CallbackReceiver().listen();
		sandbox = await start({ callbackUrl: receiver.url });
	});
	afterAll(async () => {
		await sandbox.close();
		await receiver.close();
	});
	beforeEach(() => {
		sandbox.reset();
		receiver.received.length = 0;
		receiver.statuses.length = 0;
	});

	const messages = async () =>
		bodyAs<{ data: AcceptedMessage[] }>(await control(sandbox, 'GET', 'messages')).data;

	it('answers every request with a 5xx and accepts nothing at serverErrorRatio 1', async () => {
		await control(sandbox, 'POST', 'faults', { serverErrorRatio: 1 });
		const res = await send(sandbox, orderUpdate());
		expect(res.status).toBe(500);
		expect(errorOf(res).code).toBe(131000);
		expect(await messages()).toHaveLength(0);

		await control(sandbox, 'POST', 'faults', { serverErrorCode: 2 });
		expect((await send(sandbox, orderUpdate())).status).toBe(503);
	});

	it('fails about the requested share of requests with a seeded ratio', async () => {
		await control(sandbox, 'POST', 'faults', { serverErrorRatio: 0.3 });
		const results = await Promise.all(
			Array.from({ length: 60 }, (_, i) =>
				send(sandbox, orderUpdate(`+4477009004${String(i).padStart(2, '0')}`)),
			),
		);
		const failed = results.filter((r) => r.status >= 500).length;
		expect(failed).toBeGreaterThan(5);
		expect(failed).toBeLessThan(35);
		expect(await messages()).toHaveLength(60 - failed);
	});

	it('throws a 130429 storm for the next N send requests, then accepts again', async () => {
		await control(sandbox, 'POST', 'faults', { throttleRequests: 3 });
		const codes: number[] = [];
		for (let i = 0; i < 5; i += 1) {
			const res = await send(sandbox, orderUpdate(`+44770090050${i}`));
			codes.push(res.status === 200 ? 200 : errorOf(res).code);
		}
		expect(codes).toEqual([130429, 130429, 130429, 200, 200]);
	});

	it('throws a 130429 storm for a time span', async () => {
		await control(sandbox, 'POST', 'faults', { throttleForMs: 150 });
		expect(errorOf(await send(sandbox, orderUpdate())).code).toBe(130429);
		await new Promise((resolve) => setTimeout(resolve, 200));
		expect((await send(sandbox, orderUpdate())).status).toBe(200);
	});

	it('accepts then hangs: the message is recorded and delivered, but the request never gets an answer', async () => {
		await control(sandbox, 'POST', 'faults', { acceptThenHang: 1 });
		const controller = new AbortController();
		const timer = setTimeout(() => controller.abort(), 300);
		const request = fetch(`${sandbox.url}/${VERSION}/${sandbox.config.phoneNumberId}/messages`, {
			method: 'POST',
			headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
			body: JSON.stringify(orderUpdate()),
			signal: controller.signal,
		});
		await expect(request).rejects.toThrow();
		clearTimeout(timer);
		const [message] = await messages();
		expect(message.hung).toBe(true);
		await sandbox.idle();
		expect(receiver.statusItems().map((s) => s.id)).toContain(message.id);
		// Only the next send hangs.
		expect((await send(sandbox, orderUpdate('+447700900601'))).status).toBe(200);
	});

	it('delivers every webhook event twice at webhookDuplicateRatio 1', async () => {
		await control(sandbox, 'POST', 'faults', { webhookDuplicateRatio: 1 });
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		const statuses = receiver
			.statusItems()
			.map((s) => s.status)
			.sort();
		expect(statuses).toEqual(['delivered', 'delivered', 'read', 'read', 'sent', 'sent']);
	});

	it('reorders webhook events so a later status can arrive before an earlier one', async () => {
		await control(sandbox, 'POST', 'faults', { webhookReorder: true, webhookReorderWindowMs: 200 });
		await Promise.all(
			Array.from({ length: 10 }, (_, i) => send(sandbox, orderUpdate(`+44770090070${i}`))),
		);
		await sandbox.idle();
		const rank: Record<string, number> = { sent: 1, delivered: 2, read: 3 };
		const lastRank = new Map<string, number>();
		let regressions = 0;
		for (const status of receiver.statusItems()) {
			const previous = lastRank.get(status.id) ?? 0;
			if (rank[status.status] < previous) regressions += 1;
			lastRank.set(status.id, Math.max(previous, rank[status.status]));
		}
		expect(receiver.statusItems()).toHaveLength(30);
		expect(regressions).toBeGreaterThan(0);
	});

	it('delays webhook events by webhookDelayMs', async () => {
		await control(sandbox, 'POST', 'faults', { webhookDelayMs: 300 });
		const sentAt = Date.now();
		await send(sandbox, orderUpdate());
		await sandbox.idle();
		const attempts = bodyAs<{ data: Array<{ at: number }> }>(
			await control(sandbox, 'GET', 'webhooks'),
		).data;
		expect(attempts[0].at - sentAt).toBeGreaterThanOrEqual(300);
	});

	it('drops the next N webhook attempts as network failures, then delivers them on retry', async () => {
		await control(sandbox, 'POST', 'faults', { webhookFailures: 2 });
		await send(sandbox, { ...orderUpdate() });
		await sandbox.idle();
		const attempts = bodyAs<{
			data: Array<{ statusCode: number; attempt: number; deliveryId: number }>;
		}>(await control(sandbox, 'GET', 'webhooks')).data;
		expect(attempts.filter((a) => a.statusCode === 0)).toHaveLength(2);
		expect(
			receiver
				.statusItems()
				.map((s) => s.status)
				.sort(),
		).toEqual(['delivered', 'read', 'sent']);
	});

	it('fails messages to a chosen recipient with a forced code (accepted, then a failed status)', async () => {
		await control(sandbox, 'POST', 'faults', { recipientFailures: { '447700900888': 131026 } });
		const res = await send(sandbox, orderUpdate('+447700900888'));
		expect(res.status).toBe(200);
		await sandbox.idle();
		const [status] = receiver.statusItems();
		expect(status.status).toBe('failed');
		expect(status.errors?.[0]?.code).toBe(131026);
		expect(status.pricing).toBeUndefined();
	});

	it('refuses unknown fault names, and clears faults with clear: true and with reset', async () => {
		expect((await control(sandbox, 'POST', 'faults', { explode: true })).status).toBe(400);
		await control(sandbox, 'POST', 'faults', { throttleRequests: 5 });
		const cleared = bodyAs<{ throttleRequests: number }>(
			await control(sandbox, 'POST', 'faults', { clear: true }),
		);
		expect(cleared.throttleRequests).toBe(0);
		await control(sandbox, 'POST', 'faults', { throttleRequests: 5 });
		await control(sandbox, 'POST', 'reset');
		expect((await send(sandbox, orderUpdate(CUSTOMER))).status).toBe(200);
	});

	it('forgets messages, windows and requests on reset', async () => {
		await control(sandbox, 'POST', 'inbound', { from: CUSTOMER, text: 'hi' });
		await send(sandbox, orderUpdate());
		await control(sandbox, 'POST', 'reset');
		expect(await messages()).toHaveLength(0);
		expect(bodyAs<{ data: unknown[] }>(await control(sandbox, 'GET', 'windows')).data).toHaveLength(
			0,
		);
		expect(
			bodyAs<{ data: unknown[] }>(await control(sandbox, 'GET', 'requests')).data,
		).toHaveLength(0);
	});
});

describe('sandbox determinism', () => {
	async function run(seed: number): Promise<Array<string | number>> {
		const sandbox = await start({ seed });
		try {
			await control(sandbox, 'POST', 'faults', { serverErrorRatio: 0.5 });
			const out: Array<string | number> = [];
			for (let i = 0; i < 12; i += 1) {
				const res = await send(sandbox, orderUpdate(`+44770090090${i % 10}`));
				out.push(
					res.status === 200
						? (res.body as { messages: Array<{ id: string }> }).messages[0].id
						: res.status,
				);
			}
			return out;
		} finally {
			await sandbox.close();
		}
	}

	it('replays the same ids and the same injected failures for the same --seed, and differs for another seed', async () => {
		const first = await run(1234);
		const again = await run(1234);
		const other = await run(9876);
		expect(again).toEqual(first);
		expect(first.filter((x) => x === 500).length).toBeGreaterThan(0);
		expect(other).not.toEqual(first);
	});
});
