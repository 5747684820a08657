import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { ingestWebhookEvents } from '../../core/ingest';
import { receiveIngestOptions } from '../../core/journeys';
import {
	createStateStore,
	RedisStateStore,
	type EventBatchItem,
	type JourneyStateStore,
	type WaitLink,
} from '../../core/state';
import { normalizeWebhook } from '../../core/webhooks';
import { stateStoreContract } from './state.contract';
import { waitLinkContract } from './state.waitLinks.contract';
import { identityContract } from './state.identity.contract';
import { outboxContract } from './state.outbox.contract';
import { recordStatus, rememberEvent } from './state.helpers';
import { statusWebhookBody, type StatusUpdate } from '../../harness/whatsapp';

const CONNECTION = { host: '127.0.0.1', port: 6379 };
/** One prefix per test run (and per store within it), removed afterwards. */
const RUN_PREFIX = `wjtest:${process.pid}:${randomBytes(4).toString('hex')}:`;
let admin: Redis;
let counter = 0;

beforeAll(() => {
	admin = new Redis(CONNECTION);
});

afterAll(async () => {
	let cursor = '0';
	do {
		const [next, keys] = await admin.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 1000);
		cursor = next;
		if (keys.length) await admin.del(...keys);
	} while (cursor !== '0');
	await admin.quit();
});

stateStoreContract('RedisStateStore', {
	create: async () =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: `${RUN_PREFIX}${++counter}:` }),
	connect: async (store: JourneyStateStore) =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: (store as RedisStateStore).keyPrefix }),
});

waitLinkContract('RedisStateStore', {
	create: async () =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: `${RUN_PREFIX}${++counter}:` }),
	connect: async (store: JourneyStateStore) =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: (store as RedisStateStore).keyPrefix }),
});

identityContract('RedisStateStore', {
	create: async () =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: `${RUN_PREFIX}${++counter}:` }),
	connect: async (store: JourneyStateStore) =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: (store as RedisStateStore).keyPrefix }),
});

outboxContract('RedisStateStore', {
	create: async () =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: `${RUN_PREFIX}${++counter}:` }),
	connect: async (store: JourneyStateStore) =>
		new RedisStateStore({ redis: CONNECTION, keyPrefix: (store as RedisStateStore).keyPrefix }),
});

describe('RedisStateStore specifics', () => {
	const prefix = () => `${RUN_PREFIX}x${++counter}:`;

	it('writes identities (key kind u) in the webhook batch pipeline: no extra round trip', async () => {
		const client = new Redis(CONNECTION);
		const store = new RedisStateStore({ redis: client, keyPrefix: prefix() });
		try {
			const pipelines = jest.spyOn(client, 'pipeline');
			const at = new Date();
			await store.applyEventBatch([
				{
					remember: { phoneNumberId: 'pn', eventId: 'wamid.u1', at },
					writes: [
						{ kind: 'inbound', phoneNumberId: 'pn', waId: '16505551234', at },
						{
							kind: 'identity',
							phoneNumberId: 'pn',
							waId: '16505551234',
							bsuid: 'US.13491208655302741918',
							at,
						},
					],
				},
			]);
			// One pipeline for the whole batch (one script call per event), as without the identity write.
			expect(pipelines).toHaveBeenCalledTimes(1);
			const keys = await client.keys(`${store.keyPrefix}u:*`);
			expect(keys.sort()).toEqual([
				`${store.keyPrefix}u:pn:16505551234`,
				`${store.keyPrefix}u:pn:US.13491208655302741918`,
			]);
			expect(await client.pttl(keys[0])).toBeGreaterThan(0);
		} finally {
			await store.close();
			await client.quit().catch(() => undefined);
		}
	});

	/** Status events of one message as the receiver ingests them (normalised from Meta's webhook body). */
	function statusEvents(messageId: string, statuses: Array<[StatusUpdate['status'], number]>) {
		const body = statusWebhookBody(
			{ wabaId: '102290129340398', displayPhoneNumber: '15550783881', phoneNumberId: 'pn' },
			statuses.map(([status, timestamp]) => ({
				messageId,
				status,
				timestamp,
				recipientId: '16505551234',
			})),
		);
		return normalizeWebhook(JSON.parse(body) as unknown);
	}

	it('records a status event, its outbox entry and its Send and Wait check in one round trip (issue #18.4)', async () => {
		const client = new Redis(CONNECTION);
		const store = new RedisStateStore({ redis: client, keyPrefix: prefix() });
		try {
			const now = Math.floor(Date.now() / 1000);
			const link: WaitLink = {
				phoneNumberId: 'pn',
				messageId: 'wamid.waiting',
				waId: '16505551234',
				executionId: '42',
				resumeUrl: 'http://localhost:5678/webhook-waiting/42/node-1?signature=abc',
				secret: 'aa'.repeat(32),
				expiresAt: Date.now() + 3_600_000,
				spec: JSON.stringify({ buttons: ['Confirm'] }),
				sent: JSON.stringify({ messageId: 'wamid.waiting' }),
				createdAt: Date.now(),
			};
			await store.putWaitLink(link);
			const options = {
				...receiveIngestOptions({ consumer: 'wf:node', outbox: true }),
				peekWaits: true,
			};
			// Loads the scripts into Redis first (a fresh Redis answers NOSCRIPT once: a second pipeline).
			await ingestWebhookEvents(statusEvents('wamid.warm', [['sent', now]]), store, options);
			const pipelines = jest.spyOn(client, 'pipeline');
			const reads = [jest.spyOn(client, 'hgetall'), jest.spyOn(client, 'get')];
			const result = await ingestWebhookEvents(
				[
					...statusEvents('wamid.waiting', [['delivered', now]]),
					...statusEvents('wamid.other', [['sent', now]]),
				],
				store,
				options,
			);
			expect(pipelines).toHaveBeenCalledTimes(1);
			for (const read of reads) expect(read).not.toHaveBeenCalled();
			expect(result.waitLinks).toEqual([await store.getWaitLink(link), null]);

			// A late status that is dropped leaves no outbox entry, in the same single round trip.
			await ingestWebhookEvents(statusEvents('wamid.late', [['read', now]]), store, options);
			pipelines.mockClear();
			const hdel = jest.spyOn(client, 'hdel');
			const late = await ingestWebhookEvents(
				statusEvents('wamid.late', [['delivered', now - 1]]),
				store,
				options,
			);
			expect(late.lateDropped).toBe(1);
			expect(pipelines).toHaveBeenCalledTimes(1);
			expect(hdel).not.toHaveBeenCalled();
			const entries = await store.claimOutbox({ trigger: 'wf:node', olderThan: Date.now() });
			expect(entries.map((e) => e.id).sort()).toEqual([
				'status:wamid.late:read',
				'status:wamid.other:sent',
				'status:wamid.waiting:delivered',
				'status:wamid.warm:sent',
			]);
		} finally {
			await store.close();
			await client.quit().catch(() => undefined);
		}
	});

	it('sets TTLs so keys go once they cannot matter, and opt-outs never expire', async () => {
		const p = prefix();
		const store = new RedisStateStore({ redis: admin, keyPrefix: p });
		const now = new Date();
		await store.recordInbound({ phoneNumberId: 'pn', waId: 'wa', at: now });
		await rememberEvent(store, { phoneNumberId: 'pn', eventId: 'message:wamid.T', at: now });
		await recordStatus(store, {
			phoneNumberId: 'pn',
			messageId: 'wamid.T',
			status: 'sent',
			at: now,
		});
		await store.setOptOut({ phoneNumberId: 'pn', waId: 'wa', optedOut: true, at: now });
		await store.reserveSendSlot({ key: 'pace', intervalMs: 50 });
		const ttl = async (k: string) => admin.pttl(`${p}${k}`);
		const hour = 3_600_000;
		expect(await ttl('w:pn:wa')).toBeGreaterThan(71 * hour);
		expect(await ttl('w:pn:wa')).toBeLessThanOrEqual(72 * hour);
		expect(await ttl('e:pn:message:wamid.T')).toBeGreaterThan(8 * 24 * hour - 60_000);
		expect(await ttl('s:pn:wamid.T')).toBeGreaterThan(29 * 24 * hour);
		expect(await ttl('o:pn:wa')).toBe(-1);
		expect(await ttl('r:pace')).toBeGreaterThan(0);
		expect(await ttl('r:pace')).toBeLessThanOrEqual(2_100);
		await store.close();
	});

	it('leaves a client it was given open on close, and closes a connection it made', async () => {
		const borrowed = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		await borrowed.close();
		expect(await admin.ping()).toBe('PONG');

		const own = createStateStore({ backend: 'redis', redis: CONNECTION, keyPrefix: prefix() });
		expect(own).toBeInstanceOf(RedisStateStore);
		await rememberEvent(own, { phoneNumberId: 'pn', eventId: 'e1' });
		await own.close();
		await expect(rememberEvent(own, { phoneNumberId: 'pn', eventId: 'e2' })).rejects.toThrow();
	});

	it('keeps fractional send-slot spacing exact (80 messages/s = 12.5 ms)', async () => {
		const store = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		const t0 = Date.UTC(2025, 5, 18, 12, 0, 0);
		const slots = [];
		for (let i = 0; i < 5; i++)
			slots.push(await store.reserveSendSlot({ key: 'pace', intervalMs: 12.5, now: t0 }));
		expect(slots).toEqual([t0, t0 + 12.5, t0 + 25, t0 + 37.5, t0 + 50]);
	});

	it('reloads its scripts after Redis forgets them', async () => {
		const store = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		await rememberEvent(store, { phoneNumberId: 'pn', eventId: 'before' });
		await admin.script('FLUSH');
		expect(await rememberEvent(store, { phoneNumberId: 'pn', eventId: 'after' })).toBe(true);
	});

	it('reloads its scripts after Redis forgets them in the middle of batches, applying each item once', async () => {
		const store = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		const t = new Date();
		const batch = (id: string): EventBatchItem[] =>
			(['sent', 'read'] as const).map((status) => ({
				remember: { phoneNumberId: 'pn', eventId: `status:${id}:${status}` },
				writes: [{ kind: 'status', phoneNumberId: 'pn', messageId: id, status, at: t }],
			}));
		await admin.script('FLUSH');
		const first = await store.applyEventBatch(batch('m1'));
		expect(first.map((r) => r.statuses[0])).toEqual([
			{ applied: true, regression: false },
			{ applied: true, previous: 'sent', regression: false },
		]);
		await admin.script('FLUSH');
		const again = await store.applyEventBatch(batch('m1'));
		expect(again).toEqual([
			{ fresh: false, statuses: [] },
			{ fresh: false, statuses: [] },
		]);
		expect(await store.getStatus({ phoneNumberId: 'pn', messageId: 'm1' })).toBe('read');
	});

	it("writes a tracked status event — de-dup, the step, the message's status, the trigger's own record, the report — in one script call, and a batch in one round trip (#18.4)", async () => {
		const client = new Redis(CONNECTION);
		const store = new RedisStateStore({ redis: client, keyPrefix: prefix() });
		const scripts: number[] = [];
		const pipeline = client.pipeline.bind(client);
		jest.spyOn(client, 'pipeline').mockImplementation(() => {
			const p = pipeline();
			const evalsha = p.evalsha.bind(p);
			scripts.push(0);
			p.evalsha = ((...args: Parameters<typeof evalsha>) => {
				scripts[scripts.length - 1]++;
				return evalsha(...args);
			}) as typeof p.evalsha;
			return p;
		});
		try {
			const t = new Date();
			const event = (status: 'delivered' | 'read', id = 'wamid.T'): EventBatchItem => ({
				remember: { phoneNumberId: 'pn', eventId: `status:${id}:${status}` },
				writes: [
					{ kind: 'stepStatus', phoneNumberId: 'pn', stepKey: 'k1', messageId: id, status, at: t },
					{ kind: 'status', phoneNumberId: 'pn', messageId: id, status, at: t },
					{
						kind: 'journeyStatus',
						phoneNumberId: 'pn',
						messageId: id,
						status,
						at: t,
						journey: 'j',
						step: 's',
					},
					{ kind: 'status', phoneNumberId: 'pn', messageId: `trigger-1|${id}`, status, at: t },
				],
			});
			const first = await store.applyEventBatch([event('read'), event('delivered'), event('read')]);
			expect(scripts).toEqual([3]);
			expect(first).toEqual([
				{
					fresh: true,
					statuses: [
						{ applied: true, regression: false },
						{ applied: true, regression: false },
					],
				},
				// A late delivered after read: not the latest status, still counted as delivered (below).
				{
					fresh: true,
					statuses: [
						{ applied: false, previous: 'read', regression: true },
						{ applied: false, previous: 'read', regression: true },
					],
				},
				{ fresh: false, statuses: [] },
			]);
			expect(await store.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.T' })).toBe('read');
			const counts = await store.getReportCounts({ phoneNumberId: 'pn', from: t, to: t });
			expect(Object.fromEntries(counts.map((c) => [c.metric, c.count]))).toEqual({
				sent: 1,
				delivered: 1,
				read: 1,
			});
		} finally {
			await store.close();
			await client.quit();
		}
	});

	it('prunes only its own prefix', async () => {
		const mine = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		const theirs = new RedisStateStore({ redis: admin, keyPrefix: prefix() });
		const t = new Date(Date.UTC(2025, 5, 18));
		await recordStatus(mine, { phoneNumberId: 'pn', messageId: 'm', status: 'sent', at: t });
		await recordStatus(theirs, { phoneNumberId: 'pn', messageId: 'm', status: 'sent', at: t });
		expect(await mine.prune(new Date(t.getTime() + 31 * 86_400_000))).toBe(1);
		expect(await theirs.getStatus({ phoneNumberId: 'pn', messageId: 'm' })).toBe('sent');
	});
});
