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
 * o (opt-out), and `<prefix>r:<key>` for send slots. Single-node Redis: a webhook event's script (EVENT_ITEM) and a
 * send's admission touch several keys at once, and `prune` scans the prefix.
 */
import { wellFormed } from '../tracking';
import { createHash } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import { canAdvanceStatus, STATUS_NAMES, type StatusName } from '../webhooks/status';
import {
	ACCOUNT_FACT_RETENTION_MS,
	type AccountFactRecord,
	type AccountFacts,
	type AdmissionResult,
	checkAdmission,
	FREQUENCY_RETENTION_MS,
	MESSAGING_LIMIT_PERIOD_MS,
	PENDING_LEASE_MS,
	UNSENT_CLAIM_LEASE_MS,
	type SendAdmission,
	SERVICE_WINDOW_MS,
	type SendLeaving,
	type SendSettlement,
	STEP_RETENTION_MS,
	type StepRecord,
	type StepState,
	stepStatusOutcome,
	checkEventBatch,
	checkOutboxClaim,
	checkOutboxDone,
	type OutboxEntry,
	OUTBOX_RETENTION_MS,
	EVENT_HORIZON_MS,
	type EventBatchItem,
	type EventBatchResult,
	FREE_ENTRY_POINT_MS,
	type ConversationWindow,
	type JourneyStateStore,
	statusOutcome,
	requireId,
	requireInterval,
	requireTime,
	STATUS_RETENTION_MS,
	WINDOW_RETENTION_MS,
	windowFrom,
	windowTimeLimits,
	checkLinkClick,
	checkPolicyDecision,
	checkReportQuery,
	checkSends,
	type CheckedReportWrite,
	DAY_MS,
	dayString,
	type JourneySend,
	type LinkClick,
	type SkippedSendRecord,
	REPORT_MESSAGE_RETENTION_MS,
	type ReportCount,
	type ReportCountsQuery,
	type ReportStage,
	reportStagesOfStatus,
	requireRetention,
	STAGE,
	utcDay,
	checkIdentity,
	IDENTITY_RETENTION_MS,
	type CheckedIdentityWrite,
	type IdentityRecord,
	type IdentityWrite,
	identityUpdates,
	idList,
	MAX_PREDECESSORS,
} from './types';
import {
	checkOpenWaitLinksQuery,
	checkWaitLink,
	WAIT_LINK_RETENTION_MS,
	type WaitLink,
	type WaitLinkCursor,
	type WaitResumeClaim,
} from './waitLinks';

/** A flat HGETALL reply as an object. */
function fieldsOf(reply: string[]): Record<string, string> {
	const h: Record<string, string> = {};
	for (let i = 0; i + 1 < reply.length; i += 2) h[reply[i]] = reply[i + 1];
	return h;
}

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

// Each record's rule is one Lua function, defined once: a script of its own (a single call) and the event script
// (EVENT_ITEM below: every write of one webhook event in one call) are built from the same text.

// Numbers go back to Redis through %.17g (exact for doubles, no exponent below 1e17): Lua's default
// formatting keeps only 14 digits. Send-slot times can be fractional (1000 / 80 messages per second = 12.5 ms).
// A stored time past its limit (liLimit, fepLimit: see windowTimeLimits) is a bad write, replaced rather than kept.
const LUA_RECORD_INBOUND = `
local function recordInbound(key, at, newFep, keepFor, liLimit, fepLimit)
  local li = tonumber(redis.call('HGET', key, 'li') or '0')
  local fep = tonumber(redis.call('HGET', key, 'fep') or '0')
  if li > liLimit then li = 0 end
  if fep > fepLimit then fep = 0 end
  if at > li then li = at end
  if newFep > fep then fep = newFep end
  redis.call('HSET', key, 'li', string.format('%.17g', li), 'fep', string.format('%.17g', fep))
  local keep = li + keepFor
  if fep > keep then keep = fep end
  redis.call('PEXPIRE', key, string.format('%d', math.ceil(math.max(1000, keep - at))))
  return {string.format('%.17g', li), string.format('%.17g', fep)}
end
`;

const RECORD_INBOUND = new Script(`${LUA_RECORD_INBOUND}
return recordInbound(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
`);

/** An event id not seen (or seen so long ago that its record expired): remembered until `expires`; false if seen. */
const LUA_REMEMBER_EVENT = `
local function rememberEvent(key, at, expires, px)
  local cur = tonumber(redis.call('GET', key) or '0')
  if cur > tonumber(at) then return false end
  redis.call('SET', key, expires, 'PX', px)
  return true
end
`;

/**
 * `transitions` is the table from canAdvanceStatus: char (prev*5 + next + 1) is '1' when allowed. Returns whether
 * the status was written and the previous code (-1: none).
 */
const LUA_RECORD_STATUS = `
local function recordStatus(key, code, at, transitions, px)
  local cur = redis.call('GET', key)
  local prev = -1
  if cur then prev = tonumber(string.match(cur, '^(%d+)')) end
  if prev >= 0 and string.sub(transitions, prev * 5 + code + 1, prev * 5 + code + 1) ~= '1' then return 0, prev end
  redis.call('SET', key, code .. ':' .. at, 'PX', px)
  return 1, prev
end
`;

const LUA_SET_OPT_OUT = `
local function setOptOut(key, v, at, reason)
  local cur = tonumber(redis.call('HGET', key, 'at') or '-1')
  if tonumber(at) < cur then return 0 end
  redis.call('HSET', key, 'v', v, 'at', at, 'r', reason)
  return 1
end
`;

const SET_OPT_OUT = new Script(`${LUA_SET_OPT_OUT}
return setOptOut(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
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

/**
 * The shared in-flight window of one number (key kind i: a sorted set of send tokens scored by the time, on Redis's
 * own clock, at which each stops counting; see SharedSendWindow in core/pacing.ts). Redis's clock at both ends makes
 * workers' clock skew irrelevant, and both ends err late: a token enters before its request leaves and is released
 * after its answer arrived. ENTER: drop what stopped counting; enter when fewer than ARGV[2] count (scored lease
 * ARGV[3] ms ahead, i.e. unanswered), else answer how long until enough leave (-1: unanswered sends block, ask again).
 */
const SEND_WINDOW_ENTER = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease + 2000)
  return -2
end
local blocking = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
local leaves = tonumber(blocking[2])
-- Answered tokens leave within a hold (about 1 s); a later score is an unanswered send's lease.
if leaves > now + 5000 then return -1 end
return math.max(1, leaves - now)
`);
/** LEAVE: the token was answered at Redis's now: it counts ARGV[2] ms more (only if still there: a lapsed lease stays out). */
const SEND_WINDOW_LEAVE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + hold, ARGV[1])
return 1
`);

/**
 * An identity record (key kind u: one customer id, a wa_id or a BSUID; hash p = wa_id, b = BSUID, n = successor,
 * q = predecessors as a JSON array, at = latest write). mergeIdentity (types.ts) in Lua: a field given ('' = not
 * given) replaces the stored one when the write's time is at least the record's, else only fills it; predecessors
 * given (a JSON array) are added to the stored ones whatever the time, the newest MAX_PREDECESSORS kept; the record
 * lives keepFor ms past its latest write.
 */
const LUA_IDENTITY_PUT = `
local function identityPut(key, atArg, p, b, n, q, keepFor)
  local at = tonumber(atArg)
  local old = tonumber(redis.call('HGET', key, 'at') or '-1')
  local newer = at >= old
  local fields = {'p', 'b', 'n'}
  local values = {p, b, n}
  for i = 1, 3 do
    local v = values[i]
    if v ~= '' and (newer or redis.call('HEXISTS', key, fields[i]) == 0) then
      redis.call('HSET', key, fields[i], v)
    end
  end
  if q ~= '' then
    local list = {}
    local stored = redis.call('HGET', key, 'q')
    if stored then
      local ok, v = pcall(cjson.decode, stored)
      if ok and type(v) == 'table' then list = v end
    end
    local seen = {}
    for _, id in ipairs(list) do seen[id] = true end
    for _, id in ipairs(cjson.decode(q)) do
      if not seen[id] then
        list[#list + 1] = id
        seen[id] = true
      end
    end
    while #list > ${MAX_PREDECESSORS} do table.remove(list, 1) end
    redis.call('HSET', key, 'q', cjson.encode(list))
  end
  local latest = math.max(old, at)
  redis.call('HSET', key, 'at', string.format('%.17g', latest))
  redis.call('PEXPIREAT', key, string.format('%d', math.ceil(latest + tonumber(keepFor))))
  return 1
end
`;

const IDENTITY_PUT = new Script(`${LUA_IDENTITY_PUT}
return identityPut(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
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
  elseif kind == 'x' then
    local keep = tonumber(ARGV[8])
    local all = redis.call('HGETALL', k)
    for i = 1, #all, 2 do
      local t = tonumber(string.match(all[i + 1], '^(%d+)|'))
      if t + keep <= now then n = n + redis.call('HDEL', k, all[i]) end
    end
  elseif kind == 'l' and string.sub(k, at + 1, at + 1) == ':' then
    local e = tonumber(redis.call('HGET', k, 'expiresAt') or '0')
    local c = tonumber(redis.call('HGET', k, 'claimedAt') or tostring(e))
    expires = math.min(e, c) + tonumber(ARGV[6])
  elseif kind == 'u' then
    expires = tonumber(redis.call('HGET', k, 'at') or '0') + tonumber(ARGV[7])
  elseif kind == 'n' and string.sub(k, at + 1, at + 1) == ':' then
    -- A resume URL's open waits (scored by expiresAt): entries whose link is past its retention go with it.
    n = n + redis.call('ZREMRANGEBYSCORE', k, '-inf', now - tonumber(ARGV[6]))
  end
  if expires and expires <= now then
    n = n + redis.call('DEL', k)
  end
end
return n
`);

// ---- Outbox: `<prefix>x:<trigger>` a hash, entry id → `<at>|<entry>` (at: recorded or last claimed, epoch ms). The key
// lives OUTBOX_RETENTION_MS after its last entry was added; prune removes older entries inside it.

/** The outbox's key; id, value, retention ms. Keeps an entry already there (the same event, still pending). */
const LUA_OUTBOX_ADD = `
local function outboxAdd(key, id, value, px)
  local added = redis.call('HSETNX', key, id, value)
  redis.call('PEXPIRE', key, px)
  return added
end
`;

/** KEYS[1] the outbox; ARGV olderThan, now, limit. Claims (re-stamps with now) the oldest entries at or before olderThan. */
const OUTBOX_CLAIM = new Script(`
local olderThan = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local due = {}
for i = 1, #all, 2 do
  local t, entry = string.match(all[i + 1], '^(%d+)|(.*)$')
  t = tonumber(t)
  if t <= olderThan then due[#due + 1] = { all[i], t, entry } end
end
table.sort(due, function(a, b) return a[2] < b[2] end)
local out = {}
for i = 1, math.min(limit, #due) do
  local d = due[i]
  redis.call('HSET', KEYS[1], d[1], ARGV[2] .. '|' .. d[3])
  out[#out + 1] = d[1]
  out[#out + 1] = tostring(d[2])
  out[#out + 1] = d[3]
end
return out
`);

// --- Journey rules (issue #14): scripts of their own; key kinds k (step), f (frequency), b (recipients), a (account).
// The admit and settle scripts touch several keys (the step, the customer's count, the portfolio's recipients, the
// window): one atomic round trip per send, on a single Redis node (as prune already requires).

/** Step states as stored: 0 pending, 1 unknown, 2 sent (the same codes as the SQLite store). */
const STEP_STATES: StepState[] = ['pending', 'unknown', 'sent'];

/**
 * KEYS: step hash, frequency zset, window hash, recipients zset, then ARGV[20] step hashes of the same step under the
 * customer's other ids, ARGV[21] frequency zsets and as many window hashes of those ids. ARGV[22]: the unsent-claim
 * lease; the other ids follow it. The step rule repeats
 * stepVerdict (types.ts) for each step hash; the cap counts every frequency zset; any open window opens the customer's.
 * ARGV[19] = '1' (Dry Run): the same answer, nothing written.
 * Replies: {1, businessInitiated, frequencyCount|-1, recipients|-1, prevAt} admitted; {2, state, at, messageId} step;
 * {3, count, limit, resumeAt} frequency; {4, count, limit} messaging limit.
 */
const ADMIT_SEND = new Script(`
local now = tonumber(ARGV[1])
local token = ARGV[2]
local template = ARGV[3] == '1'
local hasStep = ARGV[4] == '1'
local otherSteps = tonumber(ARGV[20] or '0')
local otherIds = tonumber(ARGV[21] or '0')
local function stepRefusal(key)
  local st = redis.call('HGET', key, 'st')
  if not st then return nil end
  st = tonumber(st)
  local ca = tonumber(redis.call('HGET', key, 'ca'))
  if st == 2 then
    local sa = tonumber(redis.call('HGET', key, 'sa') or ca)
    local reentry = tonumber(ARGV[5])
    if not (reentry > 0 and sa + reentry <= now) then
      return {2, 2, string.format('%.17g', sa), redis.call('HGET', key, 'mid') or ''}
    end
    return nil
  end
  local lf = redis.call('HGET', key, 'lf')
  if st == 0 and not lf then
    -- No request of this claim left (markSendLeaving): once its sender is surely gone, a new claim takes over.
    if ca + tonumber(ARGV[22]) <= now then return nil end
    return {2, 0, string.format('%.17g', ca), ''}
  end
  local since = ca
  if lf then since = tonumber(lf) end
  local state = 1
  if st == 0 and since + tonumber(ARGV[7]) > now then state = 0 end
  if not (state == 1 and ARGV[6] == '1') then
    return {2, state, string.format('%.17g', ca), ''}
  end
  return nil
end
if hasStep then
  local refused = stepRefusal(KEYS[1])
  for i = 1, otherSteps do
    if refused then break end
    refused = stepRefusal(KEYS[4 + i])
  end
  if refused then return refused end
end
local freqKeys = {KEYS[2]}
local windowKeys = {KEYS[3]}
for i = 1, otherIds do
  freqKeys[#freqKeys + 1] = KEYS[4 + otherSteps + i]
  windowKeys[#windowKeys + 1] = KEYS[4 + otherSteps + otherIds + i]
end
local hasFreq = ARGV[9] == '1'
local freqCount = -1
if hasFreq then
  local max = tonumber(ARGV[10])
  local period = tonumber(ARGV[11])
  local from = '(' .. string.format('%.17g', now - period)
  local ats = {}
  for _, k in ipairs(freqKeys) do
    redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%.17g', now - tonumber(ARGV[12])))
    local scores = redis.call('ZRANGEBYSCORE', k, from, '+inf', 'WITHSCORES')
    for j = 2, #scores, 2 do ats[#ats + 1] = tonumber(scores[j]) end
  end
  local count = #ats
  if count >= max then
    table.sort(ats)
    return {3, count, max, string.format('%.17g', ats[count - max + 1] + period)}
  end
  freqCount = count + 1
end
local open = false
for _, k in ipairs(windowKeys) do
  local li = tonumber(redis.call('HGET', k, 'li') or '0')
  if li > tonumber(ARGV[17]) then li = 0 end
  if li > 0 and now < li + tonumber(ARGV[16]) then open = true end
end
local business = template and not open
local recipients = -1
local prevAt = 0
if ARGV[13] == '1' and business then
  local limit = tonumber(ARGV[14])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.17g', now - tonumber(ARGV[15])))
  local count = redis.call('ZCARD', KEYS[4])
  local prev = redis.call('ZSCORE', KEYS[4], ARGV[18])
  local counted = false
  if prev then counted = true end
  for i = 1, otherIds do
    if not counted and redis.call('ZSCORE', KEYS[4], ARGV[22 + i]) then counted = true end
  end
  if not counted and limit >= 0 and count >= limit then return {4, count, limit} end
  if prev then prevAt = tonumber(prev); recipients = count else recipients = count + 1 end
  if ARGV[19] ~= '1' then
    redis.call('ZADD', KEYS[4], string.format('%.17g', now), ARGV[18])
    redis.call('PEXPIRE', KEYS[4], ARGV[15])
  end
end
local b = 0
if business then b = 1 end
if ARGV[19] == '1' then return {1, b, freqCount, recipients, string.format('%.17g', prevAt)} end
if hasStep then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'st', '0', 'tok', token, 'ca', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
if hasFreq then
  redis.call('ZADD', KEYS[2], string.format('%.17g', now), token)
  redis.call('PEXPIRE', KEYS[2], ARGV[12])
end
return {1, b, freqCount, recipients, string.format('%.17g', prevAt)}
`);

/** KEYS: step hash, frequency zset, recipients zset. ARGV: outcome (s/u/f), token, now, messageId, waId, at, prevAt, stepRetention. */
const SETTLE_SEND = new Script(`
local st = tonumber(redis.call('HGET', KEYS[1], 'st') or '-1')
local owned = st >= 0 and st ~= 2 and redis.call('HGET', KEYS[1], 'tok') == ARGV[2]
if ARGV[1] == 's' then
  if owned then
    redis.call('HSET', KEYS[1], 'st', '2', 'mid', ARGV[4], 'sa', ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[8])
  end
  return 1
end
if ARGV[1] == 'u' then
  if owned and st == 0 then redis.call('HSET', KEYS[1], 'st', '1') end
  return 1
end
if owned then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
local score = redis.call('ZSCORE', KEYS[3], ARGV[5])
if score and tonumber(score) == tonumber(ARGV[6]) then
  if tonumber(ARGV[7]) > 0 then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[5]) else redis.call('ZREM', KEYS[3], ARGV[5]) end
end
return 1
`);

/** The request of claim KEYS[1] (token ARGV[1]) leaves at ARGV[2]: 1 while the claim is its own and pending, else 0. */
const MARK_LEAVING = new Script(`
if redis.call('HGET', KEYS[1], 'st') == '0' and redis.call('HGET', KEYS[1], 'tok') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lf', ARGV[2])
  return 1
end
return 0
`);

/** A status webhook resolves a step not yet sent: outcome (s/f), messageId, at, retention. */
const LUA_STEP_STATUS = `
local function stepStatus(key, outcome, mid, at, px)
  local st = tonumber(redis.call('HGET', key, 'st') or '-1')
  if st < 0 or st == 2 then return 0 end
  if outcome == 'f' then redis.call('DEL', key) return 1 end
  redis.call('HSET', key, 'st', '2', 'mid', mid, 'sa', at)
  redis.call('PEXPIRE', key, px)
  return 1
end
`;

/** Merges facts (JSON) into the subject unless a newer write is stored. */
const LUA_ACCOUNT_PUT = `
local function accountPut(key, factsJson, at, px)
  local cur = tonumber(redis.call('HGET', key, 'at') or '-1')
  if tonumber(at) < cur then return 0 end
  local facts = cjson.decode(redis.call('HGET', key, 'f') or '{}')
  for k, v in pairs(cjson.decode(factsJson)) do facts[k] = v end
  redis.call('HSET', key, 'f', cjson.encode(facts), 'at', at)
  redis.call('PEXPIRE', key, px)
  return 1
end
`;

/** prune for the rule keys among KEYS (their TTLs already bound them; this applies the logical expiry at ARGV[1]). */
const PRUNE_RULES = new Script(`
local now = tonumber(ARGV[1])
local at = tonumber(ARGV[2]) + 1
local n = 0
for _, k in ipairs(KEYS) do
  local kind = string.sub(k, at, at)
  if kind == 'k' then
    local ca = tonumber(redis.call('HGET', k, 'ca') or '0')
    local sa = tonumber(redis.call('HGET', k, 'sa') or '0')
    if math.max(ca, sa) + tonumber(ARGV[3]) <= now then n = n + redis.call('DEL', k) end
  elseif kind == 'f' then
    n = n + redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%.17g', now - tonumber(ARGV[4])))
  elseif kind == 'b' then
    n = n + redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%.17g', now - tonumber(ARGV[5])))
  elseif kind == 'a' then
    local t = tonumber(redis.call('HGET', k, 'at') or '0')
    if t + tonumber(ARGV[6]) <= now then n = n + redis.call('DEL', k) end
  end
end
return n
`);

// ---- Journey report aggregates: scripts ----
// Keys: `<prefix>m:<phone>:<wamid>` a tracked message (hash j = journey step, b = counted stage bits),
// `<prefix>d:<phone>:<YYYY-MM-DD>` that day's counters (hash `<journey>|<step>|<metric>` → n, parts encoded),
// `<prefix>j:<phone>` the journeys with counters (hash journey → last day counted).

/**
 * Counts a message's new stages. js: the journey step ('' when only a known message may count, e.g. a reply),
 * message record TTL, counters TTL, the day, then ARGV[first..last]: triples of stage bit, blocking bits, metrics
 * ('\n').
 */
const LUA_REPORT_STAGES = `
local function reportStages(kMsg, kDay, kJourneys, js, msgPx, cntPx, day, first, last)
  local rec = redis.call('HMGET', kMsg, 'j', 'b')
  local bits = tonumber(rec[2] or '0')
  if rec[1] then js = rec[1] elseif js == '' then return 0 end
  local before = bits
  local n = 0
  for i = first, last, 3 do
    local b = tonumber(ARGV[i])
    if bit.band(bits, b) == 0 and bit.band(bits, tonumber(ARGV[i + 1])) == 0 then
      bits = bit.bor(bits, b)
      for metric in string.gmatch(ARGV[i + 2], '[^\\n]+') do
        redis.call('HINCRBY', kDay, js .. '|' .. metric, 1)
        n = n + 1
      end
    end
  end
  if bits ~= before then
    redis.call('HSET', kMsg, 'j', js, 'b', bits)
    redis.call('PEXPIRE', kMsg, msgPx)
  end
  if n > 0 then
    redis.call('PEXPIRE', kDay, cntPx)
    local journey = string.match(js, '^([^|]*)')
    local lastDay = redis.call('HGET', kJourneys, journey)
    -- The list lives as long as its newest day's counters: a late count for an older day leaves its expiry alone.
    if not lastDay or lastDay < day then
      redis.call('HSET', kJourneys, journey, day)
      redis.call('PEXPIRE', kJourneys, cntPx)
    end
  end
  return n
end
`;

/** KEYS: message record, day counters, journeys. ARGV: see reportStages, stage triples from ARGV[5]. */
const REPORT_STAGES = new Script(`${LUA_REPORT_STAGES}
return reportStages(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 5, #ARGV)
`);

/** Adds ARGV[2] to counter ARGV[1]; ARGV[3] counters TTL, ARGV[4] the journey, ARGV[5] the day. */
const REPORT_COUNT = new Script(`
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local last = redis.call('HGET', KEYS[2], ARGV[4])
if not last or last < ARGV[5] then redis.call('HSET', KEYS[2], ARGV[4], ARGV[5]) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`);

/**
 * Every write of one webhook event in one call (issue #18.4: a status event was three scripts — remember, status,
 * step and report): atomic, and one command for Redis to parse and run instead of three. ARGV[1] is the status
 * transition table; then operations, each taking its keys from KEYS in order:
 *   e (1 key: event id) at, expires, px — a seen event ends the call with {0}, nothing written;
 *   s (1 key: status) code, at, px — adds applied (1/0) and the previous code (-1: none) to the reply;
 *   k (1 key: step) outcome, messageId, at, px;   w (1 key: window) at, newFep, keep, liLimit, fepLimit;
 *   o (1 key: opt-out) value, at, reason;          a (1 key: account) facts, at, px;
 *   m (3 keys: message, day, journeys) js, msgPx, cntPx, day, n, then n stage triples;
 *   u (1 key: identity) at, phone, bsuid, successor, predecessors (JSON), px;
 *   x (1 key: the trigger's outbox) id, value, px, unlessLate — with unlessLate '1', nothing when the last status
 *     operation went back (a late status that is dropped: keepsOutboxEntry);
 *   l (1 key: a wait link) — its fields (HGETALL) end the reply: the Send and Wait check in the same round trip.
 * Reply: {1, applied, prev, applied, prev, …[, link fields]} (one pair per status operation, in order), or {0} for a
 * seen event.
 */
const EVENT_ITEM =
	new Script(`${LUA_REMEMBER_EVENT}${LUA_RECORD_STATUS}${LUA_STEP_STATUS}${LUA_REPORT_STAGES}${LUA_RECORD_INBOUND}${LUA_SET_OPT_OUT}${LUA_ACCOUNT_PUT}${LUA_IDENTITY_PUT}${LUA_OUTBOX_ADD}
local out = {1}
local transitions = ARGV[1]
local k = 1
local i = 2
local late = false
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'e' then
    if not rememberEvent(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) then return {0} end
    k = k + 1
    i = i + 4
  elseif op == 's' then
    local code = tonumber(ARGV[i + 1])
    local applied, prev = recordStatus(KEYS[k], code, ARGV[i + 2], transitions, ARGV[i + 3])
    out[#out + 1] = applied
    out[#out + 1] = prev
    late = applied ~= 1 and prev ~= code
    k = k + 1
    i = i + 4
  elseif op == 'k' then
    stepStatus(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    k = k + 1
    i = i + 5
  elseif op == 'm' then
    local n = tonumber(ARGV[i + 5])
    reportStages(KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], i + 6, i + 5 + 3 * n)
    k = k + 3
    i = i + 6 + 3 * n
  elseif op == 'w' then
    recordInbound(KEYS[k], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]))
    k = k + 1
    i = i + 6
  elseif op == 'o' then
    setOptOut(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    k = k + 1
    i = i + 4
  elseif op == 'a' then
    accountPut(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    k = k + 1
    i = i + 4
  elseif op == 'u' then
    identityPut(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
    k = k + 1
    i = i + 7
  elseif op == 'x' then
    if not (late and ARGV[i + 4] == '1') then outboxAdd(KEYS[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
    k = k + 1
    i = i + 5
  elseif op == 'l' then
    out[#out + 1] = redis.call('HGETALL', KEYS[k])
    k = k + 1
    i = i + 1
  else
    return redis.error_reply('unknown event operation ' .. tostring(op))
  end
end
return out
`);

/**
 * Claims an open, unexpired wait link (KEYS[1]) at ARGV[1]: returns its fields, or nil when claimed, ended or expired.
 * With ARGV[2] = '1' the resume to deliver (ARGV[3]) is stored with the claim, leased until ARGV[4], and indexed in the
 * pending resumes (KEYS[2], member ARGV[5]).
 */
const CLAIM_WAIT_LINK = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
if redis.call('HEXISTS', KEYS[1], 'claimedAt') == 1 then return nil end
if redis.call('HEXISTS', KEYS[1], 'endedAt') == 1 then return nil end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) <= tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'claimedAt', ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'resume', ARGV[3], 'leaseUntil', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
end
return redis.call('HGETALL', KEYS[1])
`);

/**
 * Leases up to ARGV[3] pending resumes of KEYS[1] (members `<phone>:<wamid>`, scored by lease end) whose lease ended
 * by ARGV[1], until ARGV[2]; link keys are ARGV[4] .. member. Members whose link is gone, ended or expired leave the
 * index. Returns member, fields, member, fields …
 */
const LEASE_WAIT_RESUMES = new Script(`
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit + 100)
for _, member in ipairs(due) do
  if #out >= limit * 2 then break end
  local k = ARGV[4] .. member
  local e = tonumber(redis.call('HGET', k, 'expiresAt') or '0')
  if e <= now or redis.call('HEXISTS', k, 'endedAt') == 1 or redis.call('HEXISTS', k, 'resume') == 0 then
    redis.call('ZREM', KEYS[1], member)
  else
    redis.call('HSET', k, 'leaseUntil', ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[2], member)
    table.insert(out, member)
    table.insert(out, redis.call('HGETALL', k))
  end
end
return out
`);

/** Extends the lease of the pending resume of KEYS[1] (index KEYS[2], member ARGV[2]) to ARGV[1]; 0 when ended. */
const RENEW_WAIT_RESUME = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'endedAt') == 1
  or redis.call('HEXISTS', KEYS[1], 'resume') == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'leaseUntil', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
`);

/**
 * Ends the wait of KEYS[1] at ARGV[1] (index KEYS[2], member ARGV[2]): 1 for the call that ended it. It leaves its
 * resume URL's open waits (ARGV[3] .. sha1 of the URL).
 */
const END_WAIT_LINK = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'endedAt', ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
local url = redis.call('HGET', KEYS[1], 'resumeUrl')
if url then redis.call('ZREM', ARGV[3] .. redis.sha1hex(url), ARGV[2]) end
return 1
`);

/**
 * Puts a wait link (KEYS[1], fields ARGV[6..]) open, for ARGV[1] ms: out of the pending resumes (KEYS[2]), the
 * customer's latest (KEYS[3] → wamid ARGV[3]), and in its resume URL's open waits (KEYS[4], scored by expiresAt
 * ARGV[4]; the key lives as long as its longest link). A link put again under another URL leaves the old URL's set
 * (ARGV[5] .. sha1 of it). Member ARGV[2].
 */
const PUT_WAIT_LINK = new Script(`
local old = redis.call('HGET', KEYS[1], 'resumeUrl')
if old then redis.call('ZREM', ARGV[5] .. redis.sha1hex(old), ARGV[2]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[4], ARGV[1]) end
return 1
`);

/** Opens the link KEYS[1] again (pending resumes KEYS[2], member ARGV[1]; open waits ARGV[2] .. sha1 of its URL). */
const RELEASE_WAIT_LINK = new Script(`
redis.call('HDEL', KEYS[1], 'claimedAt', 'resume', 'leaseUntil', 'endedAt')
redis.call('ZREM', KEYS[2], ARGV[1])
local url = redis.call('HGET', KEYS[1], 'resumeUrl')
if url then redis.call('ZADD', ARGV[2] .. redis.sha1hex(url), redis.call('HGET', KEYS[1], 'expiresAt'), ARGV[1]) end
return 1
`);

/**
 * Up to ARGV[3] open waits of the resume URL ARGV[5] (KEYS[1], members `<phone>:<wamid>` scored by expiresAt) after
 * the cursor (score ARGV[1] or '-inf', member ARGV[2]), in (score, member) order; link keys are ARGV[4] .. member.
 * Members whose link is gone, ended or now under another URL leave the set. Returns member, fields, member, fields …
 */
const LIST_OPEN_WAIT_LINKS = new Script(`
local limit = tonumber(ARGV[3])
local afterScore = tonumber(ARGV[1])
-- The set orders equal scores by bytes (memcmp); Lua's < on strings follows the server's locale.
local function bytesAfter(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local out = {}
local offset = 0
while #out < limit * 2 do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', offset, 200)
  if #batch == 0 then break end
  local removed = 0
  for i = 1, #batch, 2 do
    if #out >= limit * 2 then break end
    local member = batch[i]
    if afterScore == nil or tonumber(batch[i + 1]) > afterScore or bytesAfter(member, ARGV[2]) then
      local k = ARGV[4] .. member
      if redis.call('HGET', k, 'resumeUrl') == ARGV[5] and redis.call('HEXISTS', k, 'endedAt') == 0 then
        table.insert(out, member)
        table.insert(out, redis.call('HGETALL', k))
      else
        redis.call('ZREM', KEYS[1], member)
        removed = removed + 1
      end
    end
  end
  offset = offset + #batch / 2 - removed
end
return out
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
	/** How long report counters are kept after their day. Default 90 days. */
	reportRetentionMs?: number;
}

function isClient(r: unknown): r is Redis {
	return typeof (r as Redis | undefined)?.evalsha === 'function';
}

export class RedisStateStore implements JourneyStateStore {
	private readonly redis: Redis;
	private readonly ownsClient: boolean;
	readonly keyPrefix: string;
	private readonly reportRetentionMs: number;

	constructor(options: RedisStateStoreOptions) {
		this.reportRetentionMs = requireRetention(options?.reportRetentionMs);
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
				// Calls made in the same tick go out in one write (a campaign's many concurrent sends each make several):
				// fewer system calls for the worker and Redis alike; order on the connection is kept.
				enableAutoPipelining: true,
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
	/** An identity write's script calls, one per record it touches (identityUpdates): pipelined with the batch. */
	private identityCalls(w: CheckedIdentityWrite): ScriptCall[] {
		return identityUpdates(w).map((u) => ({
			script: IDENTITY_PUT,
			keys: [this.key('u', w.phoneNumberId, u.id)],
			args: [
				w.at,
				u.waId ?? '',
				u.bsuid ?? '',
				u.successor ?? '',
				u.predecessors?.length ? JSON.stringify(u.predecessors) : '',
				IDENTITY_RETENTION_MS,
			],
		}));
	}

	async linkIdentity(p: Omit<IdentityWrite, 'kind'>): Promise<void> {
		const w = checkIdentity(
			p,
			requireId(p.phoneNumberId, 'phoneNumberId'),
			requireTime(p.at, 'at'),
		);
		await this.pipelined(this.identityCalls(w));
	}

	async getIdentity(p: { phoneNumberId: string; id: string }): Promise<IdentityRecord | undefined> {
		const [waId, bsuid, successor, q, at] = await this.redis.hmget(
			this.key('u', p.phoneNumberId, requireId(p.id, 'id')),
			'p',
			'b',
			'n',
			'q',
			'at',
		);
		if (at === null || at === undefined) return undefined;
		const predecessors = q ? idList(q) : [];
		return {
			...(waId ? { waId } : {}),
			...(bsuid ? { bsuid } : {}),
			...(successor ? { successor } : {}),
			...(predecessors.length ? { predecessors } : {}),
			at: Number(at),
		};
	}

	private key(kind: 'w' | 'e' | 's' | 'o' | 'u', phoneNumberId: string, id: string): string {
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
	 * One pipelined round trip whatever the batch size, and one script call per event (EVENT_ITEM): its
	 * de-duplication and all its writes (status, journey step, report counters, window, opt-out) run atomically, and
	 * a seen event writes nothing. Redis runs a pipeline's calls in the order sent, so a batch's events apply in order.
	 * An event's keys are several (as admitSend's already are): single-node Redis, as prune requires.
	 */
	async applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]> {
		const now = Date.now();
		const checked = checkEventBatch(items, now);
		const results: EventBatchResult[] = checked.map(() => ({ fresh: true, statuses: [] }));
		const calls: ScriptCall[] = [];
		const callOf: Array<{
			result: EventBatchResult;
			statuses: StatusName[];
			wait?: { phoneNumberId: string; messageId: string };
		}> = [];
		checked.forEach((item, i) => {
			const r = item.remember;
			// An item may be an outbox entry alone (a receiver's hand-over record, webhookOutbox.ts).
			if (!r && item.writes.length === 0 && !item.outbox) return;
			const keys: string[] = [];
			const args: Array<string | number> = [TRANSITIONS];
			const statuses: StatusName[] = [];
			if (r) {
				keys.push(this.key('e', r.phoneNumberId, r.eventId));
				args.push('e', r.at, r.at + EVENT_HORIZON_MS, EVENT_HORIZON_MS);
			}
			for (const w of item.writes) {
				if (w.kind === 'status') {
					keys.push(this.key('s', w.phoneNumberId, w.messageId));
					args.push('s', STATUS_NAMES.indexOf(w.status), w.at, STATUS_RETENTION_MS);
					statuses.push(w.status);
				} else if (w.kind === 'stepStatus') {
					keys.push(this.ruleKey('k', w.phoneNumberId, w.stepKey));
					args.push(
						'k',
						stepStatusOutcome(w.status) === 'sent' ? 's' : 'f',
						w.messageId,
						w.at,
						STEP_RETENTION_MS,
					);
				} else if (w.kind === 'account') {
					keys.push(`${this.keyPrefix}a:${w.subject}`);
					args.push('a', JSON.stringify(w.facts), w.at, ACCOUNT_FACT_RETENTION_MS);
				} else if (w.kind === 'inbound') {
					keys.push(this.key('w', w.phoneNumberId, w.waId));
					args.push('w', ...this.recordInboundArgs(w.at, w.referral));
				} else if (w.kind === 'journeyStatus' || w.kind === 'journeyReply') {
					const call = this.reportCall(w);
					keys.push(...call.keys);
					const [js, msgPx, cntPx, day, ...stages] = call.args;
					args.push('m', js, msgPx, cntPx, day, stages.length / 3, ...stages);
				} else if (w.kind === 'identity') {
					for (const call of this.identityCalls(w)) {
						keys.push(...call.keys);
						args.push('u', ...call.args);
					}
				} else {
					keys.push(this.key('o', w.phoneNumberId, w.waId));
					args.push('o', w.optedOut ? '1' : '0', w.at, w.reason ?? '');
				}
			}
			// The outbox entry in the same call: written only when the event is new, like its records.
			if (item.outbox) {
				keys.push(this.outboxKey(item.outbox.trigger));
				args.push(
					'x',
					item.outbox.id,
					`${now}|${item.outbox.entry}`,
					OUTBOX_RETENTION_MS,
					item.outbox.unlessLate ? '1' : '0',
				);
			}
			// Last: its reply (the link's fields) ends the call's reply.
			const wait = item.peekWait;
			if (wait) {
				keys.push(this.waitKey(wait.phoneNumberId, wait.messageId));
				args.push('l');
			}
			calls.push({ script: EVENT_ITEM, keys, args });
			callOf.push({ result: results[i], statuses, wait });
		});
		const replies = await this.pipelined(calls);
		replies.forEach((reply, c) => {
			const { result, statuses, wait } = callOf[c];
			const out = reply as number[];
			if (out[0] !== 1) {
				result.fresh = false;
				return;
			}
			if (wait) {
				const flat = (reply as unknown[])[out.length - 1] as string[];
				const h: Record<string, string> = {};
				for (let f = 0; f + 1 < flat.length; f += 2) h[flat[f]] = flat[f + 1];
				result.waitLink = this.waitLinkOf(wait.phoneNumberId, wait.messageId, h) ?? null;
			}
			statuses.forEach((status, s) => {
				const applied = out[1 + 2 * s];
				const prevCode = out[2 + 2 * s];
				result.statuses.push(
					statusOutcome(prevCode >= 0 ? STATUS_NAMES[prevCode] : undefined, status, applied === 1),
				);
			});
		});
		// EVENT_ITEM adds an entry only for a new event (atomically with its de-duplication id, so a crash cannot keep
		// one without the other), and not for a late status asked `unlessLate` (dropped, not emitted): no second trip.
		return results;
	}

	private outboxKey(trigger: string): string {
		return `${this.keyPrefix}x:${encodeURIComponent(trigger)}`;
	}

	async claimOutbox(p: {
		trigger: string;
		olderThan: number;
		now?: number;
		limit?: number;
	}): Promise<OutboxEntry[]> {
		const { trigger, olderThan, now, limit } = checkOutboxClaim(p);
		const reply = (await OUTBOX_CLAIM.run(
			this.redis,
			[this.outboxKey(trigger)],
			[Math.floor(olderThan), Math.floor(now), limit],
		)) as string[];
		const out: OutboxEntry[] = [];
		for (let i = 0; i < reply.length; i += 3)
			out.push({ id: reply[i], at: Number(reply[i + 1]), entry: reply[i + 2] });
		return out;
	}

	async outboxDone(p: { trigger: string; ids: string[] }): Promise<number> {
		const { trigger, ids } = checkOutboxDone(p);
		if (ids.length === 0) return 0;
		return this.redis.hdel(this.outboxKey(trigger), ...ids);
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

	/** Key kind i: the in-flight window shared by every worker sending for a number (core/pacing.ts). */
	async enterSendWindow(p: {
		key: string;
		token: string;
		limit: number;
		leaseMs: number;
	}): Promise<{ entered: true } | { entered: false; retryInMs: number }> {
		const key = `${this.keyPrefix}i:${requireId(p.key, 'key')}`;
		if (!Number.isInteger(p.limit) || p.limit < 1)
			throw new RangeError(`limit must be a whole number of sends, at least 1; got ${p.limit}`);
		if (!Number.isInteger(p.leaseMs) || p.leaseMs < 5000)
			throw new RangeError(`leaseMs must be whole milliseconds, at least 5000; got ${p.leaseMs}`);
		const answer = Number(
			await SEND_WINDOW_ENTER.run(
				this.redis,
				[key],
				[requireId(p.token, 'token'), p.limit, p.leaseMs],
			),
		);
		return answer === -2 ? { entered: true } : { entered: false, retryInMs: answer };
	}

	async leaveSendWindow(p: { key: string; token: string; holdMs: number }): Promise<void> {
		const key = `${this.keyPrefix}i:${requireId(p.key, 'key')}`;
		if (!Number.isInteger(p.holdMs) || p.holdMs < 1000 || p.holdMs > 4000)
			throw new RangeError(`holdMs must be whole milliseconds from 1000 to 4000; got ${p.holdMs}`);
		await SEND_WINDOW_LEAVE.run(this.redis, [key], [requireId(p.token, 'token'), p.holdMs]);
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
						IDENTITY_RETENTION_MS,
						OUTBOX_RETENTION_MS,
					]),
				);
				removed += Number(
					await PRUNE_RULES.run(this.redis, keys, [
						t,
						Buffer.byteLength(this.keyPrefix),
						STEP_RETENTION_MS,
						FREQUENCY_RETENTION_MS,
						MESSAGING_LIMIT_PERIOD_MS,
						ACCOUNT_FACT_RETENTION_MS,
					]),
				);
			}
		} while (cursor !== '0');
		return removed;
	}

	// --- Journey rules (issue #14) ---------------------------------------------------------------------------

	private ruleKey(kind: 'k' | 'f', phoneNumberId: string, id: string): string {
		return `${this.keyPrefix}${kind}:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${id}`;
	}

	private recipientsKey(scope: string): string {
		return `${this.keyPrefix}b:${encodeURIComponent(scope)}`;
	}

	/** One script, one round trip: the claim, the caps and the counts together. */
	async admitSend(p: SendAdmission): Promise<AdmissionResult> {
		const { phone, waId, token, now } = checkAdmission(p);
		const step = p.step;
		const f = p.frequency;
		const l = p.messagingLimit;
		const otherSteps = step ? (step.otherKeys ?? []) : [];
		const otherIds = p.otherIds ?? [];
		const reply = (await ADMIT_SEND.run(
			this.redis,
			[
				this.ruleKey('k', phone, step?.key ?? '-'),
				this.ruleKey('f', phone, `${waId}:${f?.category ?? '-'}`),
				this.key('w', phone, waId),
				this.recipientsKey(l?.scope ?? '-'),
				...otherSteps.map((k) => this.ruleKey('k', phone, k)),
				...otherIds.map((id) => this.ruleKey('f', phone, `${id}:${f?.category ?? '-'}`)),
				...otherIds.map((id) => this.key('w', phone, id)),
			],
			[
				now,
				token,
				p.template ? '1' : '0',
				step ? '1' : '0',
				step?.reentryPeriodMs ?? 0,
				step?.retryWhenOutcomeUnknown ? '1' : '0',
				step?.leaseMs ?? PENDING_LEASE_MS,
				STEP_RETENTION_MS,
				f ? '1' : '0',
				f?.max ?? 0,
				f?.periodMs ?? 0,
				FREQUENCY_RETENTION_MS,
				l ? '1' : '0',
				l?.limit ?? -1,
				MESSAGING_LIMIT_PERIOD_MS,
				SERVICE_WINDOW_MS,
				windowTimeLimits(now).lastInbound,
				waId,
				p.dryRun ? '1' : '0',
				otherSteps.length,
				otherIds.length,
				step?.unsentLeaseMs ?? UNSENT_CLAIM_LEASE_MS,
				...otherIds,
			],
		)) as Array<number | string>;
		const n = (i: number) => Number(reply[i]);
		switch (n(0)) {
			case 1:
				return {
					admitted: true,
					businessInitiated: n(1) === 1,
					frequencyCount: n(2) >= 0 ? n(2) : undefined,
					recipients: n(3) >= 0 ? n(3) : undefined,
					recipientPrevAt: n(4),
					at: now,
				};
			case 2: {
				const messageId = String(reply[3] ?? '');
				return {
					admitted: false,
					rule: 'step',
					state: STEP_STATES[n(1)],
					at: n(2),
					...(messageId ? { messageId } : {}),
				};
			}
			case 3:
				return { admitted: false, rule: 'frequency', count: n(1), limit: n(2), resumeAt: n(3) };
			default:
				return { admitted: false, rule: 'messaging_limit', count: n(1), limit: n(2) };
		}
	}

	async markSendLeaving(p: SendLeaving): Promise<boolean> {
		const phone = requireId(p?.phoneNumberId, 'phoneNumberId');
		const reply = await MARK_LEAVING.run(
			this.redis,
			[this.ruleKey('k', phone, requireId(p.stepKey, 'stepKey'))],
			[requireId(p.token, 'token'), requireTime(p.now, 'now')],
		);
		return Number(reply) === 1;
	}

	async settleSend(p: SendSettlement): Promise<void> {
		const phone = requireId(p?.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const token = requireId(p.token, 'token');
		const now = requireTime(p.now, 'now');
		await SETTLE_SEND.run(
			this.redis,
			[
				this.ruleKey('k', phone, p.stepKey ?? '-'),
				this.ruleKey('f', phone, `${waId}:${p.frequency?.category ?? '-'}`),
				this.recipientsKey(p.messagingLimit?.scope ?? '-'),
			],
			[
				p.outcome === 'sent' ? 's' : p.outcome === 'unknown' ? 'u' : 'f',
				token,
				now,
				p.messageId ?? '',
				p.messagingLimit ? waId : '',
				p.messagingLimit?.at ?? 0,
				p.messagingLimit?.prevAt ?? 0,
				STEP_RETENTION_MS,
			],
		);
	}

	async getStep(p: { phoneNumberId: string; stepKey: string }): Promise<StepRecord | undefined> {
		const h = await this.redis.hgetall(
			this.ruleKey('k', p.phoneNumberId, requireId(p.stepKey, 'stepKey')),
		);
		if (!h || h.st === undefined) return undefined;
		const record: StepRecord = {
			state: STEP_STATES[Number(h.st)],
			token: h.tok,
			claimedAt: Number(h.ca),
		};
		if (h.mid) record.messageId = h.mid;
		if (h.sa) record.sentAt = Number(h.sa);
		if (h.lf) record.leftAt = Number(h.lf);
		return record;
	}

	async getAccountFacts(subjects: string[]): Promise<Record<string, AccountFactRecord>> {
		if (subjects.length === 0) return {};
		const pipeline = this.redis.pipeline();
		for (const s of subjects) pipeline.hmget(`${this.keyPrefix}a:${s}`, 'f', 'at');
		const replies = (await pipeline.exec()) ?? [];
		const out: Record<string, AccountFactRecord> = {};
		replies.forEach(([error, value], i) => {
			if (error) throw error;
			const [f, at] = value as [string | null, string | null];
			if (f !== null && at !== null)
				out[subjects[i]] = { facts: JSON.parse(f) as AccountFacts, at: Number(at) };
		});
		return out;
	}

	// ---- Journey report aggregates ----

	private reportKeys(phoneNumberId: string, messageId: string, at: number): string[] {
		const phone = encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'));
		return [
			`${this.keyPrefix}m:${phone}:${messageId}`,
			`${this.keyPrefix}d:${phone}:${dayString(utcDay(at))}`,
			`${this.keyPrefix}j:${phone}`,
		];
	}

	/** Milliseconds until the counters of `at`'s day are past retention (at least a second). */
	private countersTtl(at: number): number {
		return Math.max(1000, (utcDay(at) + 1) * DAY_MS + this.reportRetentionMs - Date.now());
	}

	private stagesCall(
		phoneNumberId: string,
		messageId: string,
		at: number,
		stages: ReportStage[],
		known?: { journey: string; step: string },
	): ScriptCall {
		const js = known
			? `${encodeURIComponent(wellFormed(known.journey))}|${encodeURIComponent(wellFormed(known.step))}`
			: '';
		return {
			script: REPORT_STAGES,
			keys: this.reportKeys(phoneNumberId, messageId, at),
			args: [
				js,
				REPORT_MESSAGE_RETENTION_MS,
				Math.ceil(this.countersTtl(at)),
				dayString(utcDay(at)),
				...stages.flatMap((s) => [s.bit, s.blockedBy, s.metrics.join('\n')]),
			],
		};
	}

	private reportCall(w: CheckedReportWrite): ScriptCall {
		return w.kind === 'journeyReply'
			? this.stagesCall(w.phoneNumberId, w.messageId, w.at, [
					{ bit: STAGE.replied, blockedBy: 0, metrics: ['replied'] },
				])
			: this.stagesCall(w.phoneNumberId, w.messageId, w.at, reportStagesOfStatus(w), w);
	}

	private countCall(
		phoneNumberId: string,
		journey: string,
		step: string,
		at: number,
		metric: string,
		n: number,
	): ScriptCall {
		const [, counters, journeys] = this.reportKeys(phoneNumberId, '', at);
		return {
			script: REPORT_COUNT,
			keys: [counters, journeys],
			args: [
				`${encodeURIComponent(wellFormed(journey))}|${encodeURIComponent(wellFormed(step))}|${metric}`,
				n,
				Math.ceil(this.countersTtl(at)),
				encodeURIComponent(wellFormed(journey)),
				dayString(utcDay(at)),
			],
		};
	}

	/** One pipelined round trip for the whole list. */
	async recordSends(sends: JourneySend[]): Promise<void> {
		const sent = reportStagesOfStatus({ status: 'sent' });
		await this.pipelined(
			checkSends(sends).map((s) => this.stagesCall(s.phoneNumberId, s.messageId, s.at, sent, s)),
		);
	}

	async recordPolicyDecision(p: SkippedSendRecord): Promise<void> {
		const d = checkPolicyDecision(p);
		await this.pipelined([
			this.countCall(d.phoneNumberId, d.journey, d.step, d.at, d.metric, d.count),
		]);
	}

	async recordLinkClick(p: LinkClick): Promise<void> {
		const c = checkLinkClick(p);
		const stage = { bit: STAGE.clicked, blockedBy: 0, metrics: ['clicked'] };
		await this.pipelined([
			c.messageId !== undefined
				? this.stagesCall(c.phoneNumberId, c.messageId, c.at, [stage], c)
				: this.countCall(c.phoneNumberId, c.journey, c.step, c.at, 'clicked', 1),
		]);
	}

	async listReportJourneys(p: { phoneNumberId: string }): Promise<string[]> {
		const [, , key] = this.reportKeys(p?.phoneNumberId, '', Date.now());
		const oldest = dayString(utcDay(Date.now() - this.reportRetentionMs));
		const all = await this.redis.hgetall(key);
		return Object.entries(all)
			.filter(([, last]) => last >= oldest)
			.map(([journey]) => decodeURIComponent(journey))
			.sort();
	}

	/** One pipelined HGETALL per day of the period: the cost follows days × steps × metrics, not messages. */
	async getReportCounts(p: ReportCountsQuery): Promise<ReportCount[]> {
		const q = checkReportQuery(p);
		if (q.toDay - q.fromDay > 3660) throw new Error('The period may span at most ten years.');
		const pipeline = this.redis.pipeline();
		const days: number[] = [];
		for (let d = q.fromDay; d <= q.toDay; d++) {
			days.push(d);
			pipeline.hgetall(this.reportKeys(q.phoneNumberId, '', d * DAY_MS)[1]);
		}
		const replies = (await pipeline.exec()) ?? [];
		const out: ReportCount[] = [];
		replies.forEach(([error, value], i) => {
			if (error) throw error;
			for (const [field, n] of Object.entries(value as Record<string, string>)) {
				const [journey, step, metric] = field.split('|');
				const name = decodeURIComponent(journey);
				if (q.journeys && !q.journeys.has(name)) continue;
				out.push({
					journey: name,
					step: decodeURIComponent(step),
					day: dayString(days[i]),
					metric,
					count: Number(n),
				});
			}
		});
		return out;
	}

	// --- Wait links (Send and Wait for Response): `l:<phone>:<wamid>` hashes, `lc:<phone>:<wa_id>` → latest wamid,
	// `lr` one sorted set of the pending resumes (member `<phone>:<wamid>`, scored by the end of their lease),
	// `n:<sha1 of resume URL>` a sorted set per resume URL of its open waits (same members, scored by expiresAt) ---

	private waitResumesKey(): string {
		return `${this.keyPrefix}lr`;
	}

	/** The link's member in `lr`: the part of its key after `l:`. */
	private waitMember(phoneNumberId: string, messageId: string): string {
		return `${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${messageId}`;
	}

	private waitKey(phoneNumberId: string, messageId: string): string {
		return `${this.keyPrefix}l:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${messageId}`;
	}

	private waitCustomerKey(phoneNumberId: string, waId: string): string {
		return `${this.keyPrefix}lc:${encodeURIComponent(requireId(phoneNumberId, 'phoneNumberId'))}:${waId}`;
	}

	/** Key kind n: a resume URL's open waits, named by the URL's SHA-1 (the scripts find it from a link's URL). */
	private waitOpenPrefix(): string {
		return `${this.keyPrefix}n:`;
	}

	private waitOpenKey(resumeUrl: string): string {
		return `${this.waitOpenPrefix()}${createHash('sha1').update(resumeUrl).digest('hex')}`;
	}

	async putWaitLink(link: WaitLink): Promise<void> {
		const l = checkWaitLink(link);
		const ttl = Math.max(1000, Math.ceil(l.expiresAt + WAIT_LINK_RETENTION_MS - Date.now()));
		const fields: Record<string, string> = {
			waId: l.waId,
			executionId: l.executionId,
			resumeUrl: l.resumeUrl,
			secret: l.secret,
			expiresAt: String(l.expiresAt),
			spec: l.spec,
			sent: l.sent,
			createdAt: String(l.createdAt),
			...(l.held !== undefined ? { held: l.held } : {}),
		};
		await PUT_WAIT_LINK.run(
			this.redis,
			[
				this.waitKey(l.phoneNumberId, l.messageId),
				this.waitResumesKey(),
				this.waitCustomerKey(l.phoneNumberId, l.waId),
				this.waitOpenKey(l.resumeUrl),
			],
			[
				ttl,
				this.waitMember(l.phoneNumberId, l.messageId),
				l.messageId,
				l.expiresAt,
				this.waitOpenPrefix(),
				...Object.entries(fields).flat(),
			],
		);
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
		if (h.resume !== undefined) link.resume = h.resume;
		if (h.leaseUntil !== undefined) link.leaseUntil = Number(h.leaseUntil);
		if (h.endedAt !== undefined) link.endedAt = Number(h.endedAt);
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

	async claimWaitLink(
		p: { phoneNumberId: string; messageId: string; now?: number } & Partial<WaitResumeClaim>,
	): Promise<WaitLink | undefined> {
		const messageId = requireId(p.messageId, 'messageId');
		const now = p.now ?? Date.now();
		const reply = (await CLAIM_WAIT_LINK.run(
			this.redis,
			[this.waitKey(p.phoneNumberId, messageId), this.waitResumesKey()],
			[
				now,
				p.resume !== undefined ? '1' : '0',
				p.resume ?? '',
				p.leaseUntil ?? now,
				this.waitMember(p.phoneNumberId, messageId),
			],
		)) as string[] | null;
		if (!reply) return undefined;
		return this.waitLinkOf(p.phoneNumberId, messageId, fieldsOf(reply));
	}

	async releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void> {
		const messageId = requireId(p.messageId, 'messageId');
		await RELEASE_WAIT_LINK.run(
			this.redis,
			[this.waitKey(p.phoneNumberId, messageId), this.waitResumesKey()],
			[this.waitMember(p.phoneNumberId, messageId), this.waitOpenPrefix()],
		);
	}

	async leaseWaitResumes(p: {
		now: number;
		leaseUntil: number;
		limit: number;
	}): Promise<WaitLink[]> {
		if (p.limit <= 0) return [];
		const reply = (await LEASE_WAIT_RESUMES.run(
			this.redis,
			[this.waitResumesKey()],
			[p.now, p.leaseUntil, p.limit, `${this.keyPrefix}l:`],
		)) as Array<string | string[]>;
		const out: WaitLink[] = [];
		for (let i = 0; i + 1 < reply.length; i += 2) {
			const member = String(reply[i]);
			const cut = member.indexOf(':');
			const phoneNumberId = decodeURIComponent(member.slice(0, cut));
			const link = this.waitLinkOf(
				phoneNumberId,
				member.slice(cut + 1),
				fieldsOf(reply[i + 1] as string[]),
			);
			if (link) out.push(link);
		}
		return out;
	}

	async renewWaitResume(p: {
		phoneNumberId: string;
		messageId: string;
		leaseUntil: number;
	}): Promise<boolean> {
		const messageId = requireId(p.messageId, 'messageId');
		const reply = await RENEW_WAIT_RESUME.run(
			this.redis,
			[this.waitKey(p.phoneNumberId, messageId), this.waitResumesKey()],
			[p.leaseUntil, this.waitMember(p.phoneNumberId, messageId)],
		);
		return Number(reply) === 1;
	}

	async endWaitLink(p: {
		phoneNumberId: string;
		messageId: string;
		now?: number;
	}): Promise<boolean> {
		const messageId = requireId(p.messageId, 'messageId');
		const reply = await END_WAIT_LINK.run(
			this.redis,
			[this.waitKey(p.phoneNumberId, messageId), this.waitResumesKey()],
			[p.now ?? Date.now(), this.waitMember(p.phoneNumberId, messageId), this.waitOpenPrefix()],
		);
		return Number(reply) === 1;
	}

	async listOpenWaitLinks(p: {
		resumeUrl: string;
		limit: number;
		after?: WaitLinkCursor;
	}): Promise<WaitLink[]> {
		const q = checkOpenWaitLinksQuery(p);
		if (q.limit === 0) return [];
		const reply = (await LIST_OPEN_WAIT_LINKS.run(
			this.redis,
			[this.waitOpenKey(q.resumeUrl)],
			[
				q.after ? q.after.expiresAt : '-inf',
				q.after ? this.waitMember(q.after.phoneNumberId, q.after.messageId) : '',
				q.limit,
				`${this.keyPrefix}l:`,
				q.resumeUrl,
			],
		)) as Array<string | string[]>;
		const out: WaitLink[] = [];
		for (let i = 0; i + 1 < reply.length; i += 2) {
			const member = String(reply[i]);
			const cut = member.indexOf(':');
			const link = this.waitLinkOf(
				decodeURIComponent(member.slice(0, cut)),
				member.slice(cut + 1),
				fieldsOf(reply[i + 1] as string[]),
			);
			if (link) out.push(link);
		}
		return out;
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
