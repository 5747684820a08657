/**
 * Redis state store, for n8n queue mode or several instances sharing one number.
 *
 * Every read-modify-write is one Lua script, so it is atomic across all workers. Each record
 * carries its own logical expiry (the same rule the other backends apply in `prune`), and a Redis
 * TTL of the same length so keys disappear once they can no longer matter: windows 72 h after the
 * last inbound message (or the end of a free entry point), event ids after 8 days, statuses after
 * 30 days, send slots once passed. Opt-outs never expire.
 *
 * Keys: `<prefix><kind>:<encoded phone_number_id>:<id>` with kind w (window), e (event), s (status),
 * o (opt-out), and `<prefix>r:<key>` for send slots. Single-node Redis (or a proxy that sends
 * each one-key script to its node); `prune` scans the prefix and suits a single node only.
 */
import { createHash } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import { canAdvanceStatus, STATUS_NAMES, type StatusName } from '../webhooks/status';
import {
	checkEventBatch,
	EVENT_HORIZON_MS,
	type EventBatchItem,
	type EventBatchResult,
	FREE_ENTRY_POINT_MS,
	type ConversationWindow,
	type JourneyStateStore,
	type StatusRecordResult,
	statusOutcome,
	requireId,
	requireInterval,
	requireTime,
	STATUS_RETENTION_MS,
	WINDOW_RETENTION_MS,
	windowFrom,
	windowTimeLimits,
} from './types';
import { checkWaitLink, WAIT_LINK_RETENTION_MS, type WaitLink } from './waitLinks';

/** A Lua script run by hash, loaded on first NOSCRIPT. */
class Script {
	readonly sha: string;
	constructor(readonly lua: string) {
		this.sha = createHash('sha1').update(lua).digest('hex');
	}
	async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
		try {
			return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
		} catch (e) {
			if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
			return redis.eval(this.lua, keys.length, ...keys, ...args);
		}
	}
}

// Numbers go back to Redis through %.17g (exact for doubles, no exponent below 1e17): Lua's default
// formatting keeps only 14 digits. Send-slot times can be fractional (1000 / 80 messages per second = 12.5 ms).
// A stored time past its limit (ARGV[4], ARGV[5]: see windowTimeLimits) is a bad write, replaced rather than kept.
const RECORD_INBOUND = new Script(`
local li = tonumber(redis.call('HGET', KEYS[1], 'li') or '0')
local fep = tonumber(redis.call('HGET', KEYS[1], 'fep') or '0')
local at = tonumber(ARGV[1])
local newFep = tonumber(ARGV[2])
if li > tonumber(ARGV[4]) then li = 0 end
if fep > tonumber(ARGV[5]) then fep = 0 end
if at > li then li = at end
if newFep > fep then fep = newFep end
redis.call('HSET', KEYS[1], 'li', string.format('%.17g', li), 'fep', string.format('%.17g', fep))
local keep = li + tonumber(ARGV[3])
if fep > keep then keep = fep end
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(math.max(1000, keep - at))))
return {string.format('%.17g', li), string.format('%.17g', fep)}
`);

const REMEMBER_EVENT = new Script(`
local expires = tonumber(redis.call('GET', KEYS[1]) or '0')
if expires > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** ARGV[3] is the transition table from canAdvanceStatus: char (prev*5 + next + 1) is '1' when allowed. */
const RECORD_STATUS = new Script(`
local cur = redis.call('GET', KEYS[1])
local nextCode = tonumber(ARGV[1])
local prev = -1
if cur then prev = tonumber(string.match(cur, '^(%d+)')) end
if prev >= 0 and string.sub(ARGV[3], prev * 5 + nextCode + 1, prev * 5 + nextCode + 1) ~= '1' then return {0, prev} end
redis.call('SET', KEYS[1], nextCode .. ':' .. ARGV[2], 'PX', ARGV[4])
return {1, prev}
`);

const SET_OPT_OUT = new Script(`
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '-1')
if tonumber(ARGV[2]) < at then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'at', ARGV[2], 'r', ARGV[3])
return 1
`);

const RESERVE_SLOT = new Script(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if now > slot then slot = now end
local nextFree = slot + interval
redis.call('SET', KEYS[1], string.format('%.17g', nextFree), 'PX', string.format('%d', math.ceil(math.max(1000, nextFree - now + 1000))))
return string.format('%.17g', slot)
`);

/** Deletes, among KEYS, the records whose logical expiry is at or before ARGV[1], and windows stored past their limit. */
const PRUNE = new Script(`
local now = tonumber(ARGV[1])
local at = tonumber(ARGV[2]) + 1
local windowKeep = tonumber(ARGV[3])
local statusKeep = tonumber(ARGV[4])
local inboundLimit = tonumber(ARGV[5])
local n = 0
for _, k in ipairs(KEYS) do
  local kind = string.sub(k, at, at)
  local expires = nil
  if kind == 'w' then
    local li = tonumber(redis.call('HGET', k, 'li') or '0')
    local fep = tonumber(redis.call('HGET', k, 'fep') or '0')
    expires = math.max(li + windowKeep, fep)
    if li > inboundLimit then expires = now end
  elseif kind == 'e' or kind == 'r' then
    expires = tonumber(redis.call('GET', k) or '0')
  elseif kind == 's' then
    local v = redis.call('GET', k)
    if v then expires = tonumber(string.match(v, ':(%d+)$')) + statusKeep end
  elseif kind == 'k' and string.sub(k, at + 1, at + 1) == ':' then
    local e = tonumber(redis.call('HGET', k, 'expiresAt') or '0')
    local c = tonumber(redis.call('HGET', k, 'claimedAt') or tostring(e))
    expires = math.min(e, c) + tonumber(ARGV[6])
  end
  if expires and expires <= now then
    n = n + redis.call('DEL', k)
  end
end
return n
`);

/** Claims an open, unexpired wait link (KEYS[1]) at ARGV[1]: returns its fields, or nil when claimed or expired. */
const CLAIM_WAIT_LINK = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
if redis.call('HEXISTS', KEYS[1], 'claimedAt') == 1 then return nil end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'claimedAt', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`);

interface ScriptCall {
	script: Script;
	keys: string[];
	args: Array<string | number>;
}

const isNoScript = (e: unknown): boolean => e instanceof Error && e.message.startsWith('NOSCRIPT');

/** The status transition table sent to Lua, derived from the one rule in webhooks/status.ts. */
const TRANSITIONS = STATUS_NAMES.flatMap((prev) =>
	STATUS_NAMES.map((next) => (canAdvanceStatus(prev, next) ? '1' : '0')),
).join('');

export interface RedisConnection {
	host: string;
	port: number;
	password?: string;
	username?: string;
	db?: number;
	tls?: boolean;
}

export interface RedisStateStoreOptions {
	/** A client to use (not closed by `close()`), or how to connect (the store owns that connection). */
	redis: Redis | RedisConnection;
	/** Prefix of every key, so several stores can share one Redis. Default `wj:`. */
	keyPrefix?: string;
}

function isClient(r: unknown): r is Redis {
	return typeof (r as Redis | undefined)?.evalsha === 'function';
}

export class RedisStateStore implements JourneyStateStore {
	private readonly redis: Redis;
	private readonly ownsClient: boolean;
	readonly keyPrefix: string;

	constructor(options: RedisStateStoreOptions) {
		if (!options?.redis)
			throw new Error(
				'redis is required: an ioredis client or { host, port, password?, db?, tls? }.',
			);
		this.keyPrefix = options.keyPrefix ?? 'wj:';
		if (isClient(options.redis)) {
			this.redis = options.redis;
			this.ownsClient = false;
		} else {
			const c = options.redis;
			const connection: RedisOptions = {
				host: requireId(c.host, 'redis.host'),
				port: c.port,
				password: c.password || undefined,
				username: c.username || undefined,
				db: c.db ?? 0,
				tls: c.tls ? {} : undefined,
				// Fail a call quickly rather than queueing it forever while Redis is down.
				maxRetriesPerRequest: 2,
			};
			this.redis = new Redis(connection);
			// Without a listener ioredis reports every failed reconnect as an "unhandled error event" on the console; the
			// error that matters reaches the caller through the command that fails (maxRetriesPerRequest above).
			this.redis.on('error', () => undefined);
			this.ownsClient = true;
		}
	}

	/**
	 * The phone number id is encoded (encodeURIComponent), so it holds no ':' and the key splits one way only:
	 * ('1:2', '3') and ('1', '2:3') no longer share `w:1:2:3`. The last id needs no encoding (it is everything after
	 * the second ':'), and is left as it is so existing keys keep their bytes: Meta's numeric phone number ids encode
	 * to themselves, and wamids (base64, with '=') and event ids (with ':' and '|') are not touched, so an upgrade
	 * loses no window, status, de-duplication record or opt-out.
	 */
	private key(kind: 'w' | 'e' | 's' | 'o', phoneNumberId: string, id: string): string {
		return `${this.keyPrefix}${kind}:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${id}`;
	}

	private recordInboundArgs(at: number, referral: boolean): number[] {
		const limits = windowTimeLimits(Date.now());
		return [
			at,
			referral ? at + FREE_ENTRY_POINT_MS : 0,
			WINDOW_RETENTION_MS,
			limits.lastInbound,
			limits.freeEntryPoint,
		];
	}

	async recordInbound(p: {
		phoneNumberId: string;
		waId: string;
		at: Date;
		referral?: boolean;
		now?: Date;
	}): Promise<ConversationWindow> {
		const waId = requireId(p.waId, 'waId');
		const at = requireTime(p.at, 'at');
		const [li, fepUntil] = (await RECORD_INBOUND.run(
			this.redis,
			[this.key('w', p.phoneNumberId, waId)],
			this.recordInboundArgs(at, p.referral === true),
		)) as [string, string];
		const now = p.now ? requireTime(p.now, 'now') : Math.max(Date.now(), at);
		return windowFrom(p.phoneNumberId, waId, Number(li), Number(fepUntil), now);
	}

	async getWindow(p: {
		phoneNumberId: string;
		waId: string;
		now?: Date;
	}): Promise<ConversationWindow> {
		const waId = requireId(p.waId, 'waId');
		const now = p.now ? requireTime(p.now, 'now') : Date.now();
		const [li, fep] = await this.redis.hmget(this.key('w', p.phoneNumberId, waId), 'li', 'fep');
		return windowFrom(p.phoneNumberId, waId, Number(li ?? 0), Number(fep ?? 0), now);
	}

	/**
	 * Two pipelined round trips whatever the batch size: every `remember` (one-key scripts, in order), then the
	 * writes of the items that were new (in order; Redis runs a pipeline's commands in the order sent). Each script
	 * still touches one key, so the store keeps working behind proxies that route per key. Unlike SQLite's single
	 * transaction, a failure between the two leaves the batch's ids remembered, as the one-by-one calls would.
	 */
	async applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]> {
		const checked = checkEventBatch(items);
		const remembered = checked.filter((item) => item.remember);
		const seen = await this.pipelined(
			remembered.map(({ remember: r }) => ({
				script: REMEMBER_EVENT,
				keys: [this.key('e', r!.phoneNumberId, r!.eventId)],
				args: [r!.at, r!.at + EVENT_HORIZON_MS, EVENT_HORIZON_MS],
			})),
		);
		const repeats = new Set(remembered.filter((_, i) => seen[i] !== 1));
		const results = checked.map((item) => ({
			fresh: !repeats.has(item),
			statuses: [] as StatusRecordResult[],
		}));
		const calls: ScriptCall[] = [];
		const statusOf: Array<{ result: EventBatchResult; status: StatusName }> = [];
		checked.forEach((item, i) => {
			if (!results[i].fresh) return;
			for (const w of item.writes) {
				if (w.kind === 'status') {
					const code = STATUS_NAMES.indexOf(w.status);
					calls.push({
						script: RECORD_STATUS,
						keys: [this.key('s', w.phoneNumberId, w.messageId)],
						args: [code, w.at, TRANSITIONS, STATUS_RETENTION_MS],
					});
					statusOf[calls.length - 1] = { result: results[i], status: w.status };
				} else if (w.kind === 'inbound') {
					calls.push({
						script: RECORD_INBOUND,
						keys: [this.key('w', w.phoneNumberId, w.waId)],
						args: this.recordInboundArgs(w.at, w.referral),
					});
				} else {
					calls.push({
						script: SET_OPT_OUT,
						keys: [this.key('o', w.phoneNumberId, w.waId)],
						args: [w.optedOut ? '1' : '0', w.at, w.reason ?? ''],
					});
				}
			}
		});
		const replies = await this.pipelined(calls);
		replies.forEach((reply, i) => {
			const target = statusOf[i];
			if (!target) return;
			const [applied, prevCode] = reply as [number, number];
			target.result.statuses.push(
				statusOutcome(
					prevCode >= 0 ? STATUS_NAMES[prevCode] : undefined,
					target.status,
					applied === 1,
				),
			);
		});
		return results;
	}

	/** Sends script calls in one pipeline; calls refused with NOSCRIPT (Redis lost its script cache) did nothing, so they are loaded and re-sent in order. */
	private async pipelined(calls: ScriptCall[]): Promise<unknown[]> {
		if (calls.length === 0) return [];
		const send = async (list: ScriptCall[]): Promise<Array<[Error | null, unknown]>> => {
			const pipeline = this.redis.pipeline();
			for (const c of list) pipeline.evalsha(c.script.sha, c.keys.length, ...c.keys, ...c.args);
			return (await pipeline.exec()) ?? [];
		};
		const replies = await send(calls);
		const missing = replies.flatMap(([error], i) => (isNoScript(error) ? [i] : []));
		if (missing.length > 0) {
			for (const script of new Set(missing.map((i) => calls[i].script)))
				await this.redis.script('LOAD', script.lua);
			const again = await send(missing.map((i) => calls[i]));
			missing.forEach((i, k) => (replies[i] = again[k]));
		}
		return replies.map(([error, value]) => {
			if (error) throw error;
			return value;
		});
	}

	async getStatus(p: {
		phoneNumberId: string;
		messageId: string;
	}): Promise<StatusName | undefined> {
		const v = await this.redis.get(
			this.key('s', p.phoneNumberId, requireId(p.messageId, 'messageId')),
		);
		if (!v) return undefined;
		return STATUS_NAMES[Number(v.slice(0, v.indexOf(':')))];
	}

	async setOptOut(p: {
		phoneNumberId: string;
		waId: string;
		optedOut: boolean;
		at: Date;
		reason?: string;
	}): Promise<void> {
		const key = this.key('o', p.phoneNumberId, requireId(p.waId, 'waId'));
		await SET_OPT_OUT.run(
			this.redis,
			[key],
			[p.optedOut === true ? '1' : '0', requireTime(p.at, 'at'), p.reason ?? ''],
		);
	}

	async isOptedOut(p: { phoneNumberId: string; waId: string }): Promise<boolean> {
		return (
			(await this.redis.hget(this.key('o', p.phoneNumberId, requireId(p.waId, 'waId')), 'v')) ===
			'1'
		);
	}

	async reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number> {
		const key = `${this.keyPrefix}r:${requireId(p.key, 'key')}`;
		const interval = requireInterval(p.intervalMs);
		const now = p.now ?? Date.now();
		return Number(await RESERVE_SLOT.run(this.redis, [key], [now, interval]));
	}

	/**
	 * Redis expires keys by itself; this also removes records whose logical expiry has passed at
	 * `now`, by scanning the prefix in batches. Cost grows with the number of keys: run it rarely.
	 */
	async prune(now: Date = new Date()): Promise<number> {
		const t = requireTime(now, 'now');
		let removed = 0;
		let cursor = '0';
		do {
			const [next, keys] = await this.redis.scan(
				cursor,
				'MATCH',
				`${this.escapedPrefix()}*`,
				'COUNT',
				500,
			);
			cursor = next;
			if (keys.length) {
				removed += Number(
					await PRUNE.run(this.redis, keys, [
						t,
						Buffer.byteLength(this.keyPrefix),
						WINDOW_RETENTION_MS,
						STATUS_RETENTION_MS,
						windowTimeLimits(t).lastInbound,
						WAIT_LINK_RETENTION_MS,
					]),
				);
			}
		} while (cursor !== '0');
		return removed;
	}

	// --- Wait links (Send and Wait for Response): `k:<phone>:<wamid>` hashes, `kc:<phone>:<wa_id>` → latest wamid ---

	private waitKey(phoneNumberId: string, messageId: string): string {
		return `${this.keyPrefix}k:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${messageId}`;
	}

	private waitCustomerKey(phoneNumberId: string, waId: string): string {
		return `${this.keyPrefix}kc:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${waId}`;
	}

	async putWaitLink(link: WaitLink): Promise<void> {
		const l = checkWaitLink(link);
		const key = this.waitKey(l.phoneNumberId, l.messageId);
		const ttl = Math.max(1000, Math.ceil(l.expiresAt + WAIT_LINK_RETENTION_MS - Date.now()));
		await this.redis
			.multi()
			.del(key)
			.hset(key, {
				waId: l.waId,
				executionId: l.executionId,
				resumeUrl: l.resumeUrl,
				secret: l.secret,
				expiresAt: String(l.expiresAt),
				spec: l.spec,
				sent: l.sent,
				createdAt: String(l.createdAt),
				...(l.held !== undefined ? { held: l.held } : {}),
			})
			.pexpire(key, ttl)
			.set(this.waitCustomerKey(l.phoneNumberId, l.waId), l.messageId, 'PX', ttl)
			.exec();
	}

	private waitLinkOf(phoneNumberId: string, messageId: string, h: Record<string, string>) {
		if (!h.executionId) return undefined;
		const link: WaitLink = {
			phoneNumberId,
			messageId,
			waId: h.waId,
			executionId: h.executionId,
			resumeUrl: h.resumeUrl,
			secret: h.secret,
			expiresAt: Number(h.expiresAt),
			spec: h.spec,
			sent: h.sent,
			createdAt: Number(h.createdAt),
		};
		if (h.claimedAt !== undefined) link.claimedAt = Number(h.claimedAt);
		if (h.held !== undefined) link.held = h.held;
		return link;
	}

	async getWaitLink(p: {
		phoneNumberId: string;
		messageId?: string;
		waId?: string;
	}): Promise<WaitLink | undefined> {
		const messageId =
			p.messageId ??
			(await this.redis.get(
				this.waitCustomerKey(p.phoneNumberId, requireId(p.waId, 'messageId or waId')),
			)) ??
			undefined;
		if (messageId === undefined) return undefined;
		const h = await this.redis.hgetall(this.waitKey(p.phoneNumberId, messageId));
		return this.waitLinkOf(p.phoneNumberId, messageId, h);
	}

	async claimWaitLink(p: {
		phoneNumberId: string;
		messageId: string;
		now?: number;
	}): Promise<WaitLink | undefined> {
		const messageId = requireId(p.messageId, 'messageId');
		const reply = (await CLAIM_WAIT_LINK.run(
			this.redis,
			[this.waitKey(p.phoneNumberId, messageId)],
			[p.now ?? Date.now()],
		)) as string[] | null;
		if (!reply) return undefined;
		const h: Record<string, string> = {};
		for (let i = 0; i + 1 < reply.length; i += 2) h[reply[i]] = reply[i + 1];
		return this.waitLinkOf(p.phoneNumberId, messageId, h);
	}

	async releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void> {
		await this.redis.hdel(
			this.waitKey(p.phoneNumberId, requireId(p.messageId, 'messageId')),
			'claimedAt',
		);
	}

	private escapedPrefix(): string {
		return this.keyPrefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
	}

	async close(): Promise<void> {
		if (!this.ownsClient) return;
		try {
			await this.redis.quit();
		} catch {
			this.redis.disconnect();
		}
	}
}
