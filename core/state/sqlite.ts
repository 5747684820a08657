/**
 * Embedded state store: one SQLite file through Node's built-in `node:sqlite`.
 *
 * Several connections (n8n main + workers on one machine, or two processes) may share the file.
 * Every write is one statement (an upsert with RETURNING) or an IMMEDIATE transaction, so writers
 * never interleave a read and a write; WAL lets readers go on while one writes, and busy_timeout
 * makes a writer wait for the lock instead of failing. With synchronous=NORMAL a commit survives
 * the process being killed (power loss may drop the last commits, never corrupt the file).
 *
 * Compact by design: phone number ids are interned to small integers, event and message ids are
 * stored as 16-byte hashes, times as integer milliseconds, tables WITHOUT ROWID.
 *
 * Cheap per webhook event, because Meta sends hundreds per second and each row with a random key is one more page
 * a commit writes: a status write is one upsert that advances only in SQL and returns the status it replaced; a
 * status event is de-duplicated by a bit in its consumer's status record (`seen`) rather than by a row of its
 * own; event ids and statuses carry no secondary index (prune scans instead); the page cache holds the working
 * set and the WAL is checkpointed every ~40 MB, so checkpoints and their syncs come far less often.
 */
import { hash } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { canAdvanceStatus, STATUS_NAMES, type StatusName } from '../webhooks/status';
import {
	ACCOUNT_FACT_RETENTION_MS,
	type AccountFactRecord,
	type AccountFacts,
	type AdmissionResult,
	checkAdmission,
	FREQUENCY_RETENTION_MS,
	MESSAGING_LIMIT_PERIOD_MS,
	type SendAdmission,
	type SendLeaving,
	type SendSettlement,
	STEP_RETENTION_MS,
	type StepRecord,
	type StepState,
	stepStatusOutcome,
	stepVerdict,
	checkEventBatch,
	checkOutboxClaim,
	checkOutboxDone,
	keepsOutboxEntry,
	type OutboxEntry,
	OUTBOX_RETENTION_MS,
	type CheckedWrite,
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
	applyReportStages,
	checkLinkClick,
	checkPolicyDecision,
	checkReportQuery,
	checkSends,
	dayString,
	type CheckedReportWrite,
	type JourneySend,
	type LinkClick,
	type SkippedSendRecord,
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
	mergeIdentity,
} from './types';
import {
	checkOpenWaitLinksQuery,
	checkWaitLink,
	WAIT_LINK_RETENTION_MS,
	type WaitLink,
	type WaitLinkCursor,
	type WaitResumeClaim,
} from './waitLinks';

/** A wait link with its pending resume (if any): `wait_resumes` is its own table, created where missing. */
const WAIT_LINK_SELECT = `SELECT l.*, r.body AS resume, r.lease_until, r.ended_at FROM wait_links l
  LEFT JOIN wait_resumes r ON r.phone = l.phone AND r.message_id = l.message_id`;

type SqliteModule = typeof import('node:sqlite');

export const SQLITE_UNAVAILABLE_MESSAGE =
	'The embedded state store needs Node ≥ 22.13 (n8n 2.x runs on Node 24), which has the built-in node:sqlite module; ' +
	`this is Node ${process.versions.node}. On older Node use the Redis store.`;

/**
 * Loads `node:sqlite` without a static import, so this module can be loaded (and say something
 * useful) on Node versions that do not have it.
 */
export function loadNodeSqlite(
	getBuiltin: ((id: string) => unknown) | undefined = process.getBuiltinModule?.bind(process) as
		((id: string) => unknown) | undefined,
): SqliteModule {
	let mod: unknown;
	try {
		mod = getBuiltin?.('node:sqlite');
	} catch {
		mod = undefined;
	}
	if (!mod || typeof (mod as Partial<SqliteModule>).DatabaseSync !== 'function')
		throw new Error(SQLITE_UNAVAILABLE_MESSAGE);
	return mod as SqliteModule;
}

const SCHEMA_VERSION = '3';

/** `PRAGMA application_id` of our files ('WJNY'): how a file says it is a journey state store before we write to it. */
const APPLICATION_ID = 0x574a4e59;
/** The tables of a store written before the application id was set: such a file is ours too (and gets the id). */
const OUR_TABLES = ['meta', 'phones', 'windows', 'events', 'statuses', 'opt_outs', 'send_slots'];

/**
 * Journey report aggregates. Journey steps are interned per number; a tracked message keeps its step (`rstep`) and
 * the stages already counted (`stages`, bits, see STAGE) in its status record, so counting a status touches the row
 * its status write just touched (no second random row per event); a message recorded at send time has a record
 * before its first status (status NO_STATUS). Counters are one row per step, UTC day (days since the epoch) and
 * metric.
 */
const REPORT_SCHEMA = `
CREATE TABLE IF NOT EXISTS report_steps (
  id INTEGER PRIMARY KEY, phone INTEGER NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL,
  UNIQUE (phone, journey, step));
CREATE TABLE IF NOT EXISTS report_counts (
  step INTEGER NOT NULL, day INTEGER NOT NULL, metric TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (step, day, metric)) WITHOUT ROWID;
`;

/** The current layout, for a new file. A version 1 file is migrated by MIGRATE_1_TO_2. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS phones (id INTEGER PRIMARY KEY, phone_number_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS windows (
  phone INTEGER NOT NULL, wa_id TEXT NOT NULL,
  last_inbound INTEGER NOT NULL, fep_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (phone, wa_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_last_inbound ON windows (last_inbound);
CREATE TABLE IF NOT EXISTS events (
  phone INTEGER NOT NULL, id BLOB NOT NULL, expires INTEGER NOT NULL,
  PRIMARY KEY (phone, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statuses (
  phone INTEGER NOT NULL, id BLOB NOT NULL, status INTEGER NOT NULL, at INTEGER NOT NULL, prev INTEGER,
  seen INTEGER NOT NULL DEFAULT 0, rstep INTEGER, stages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (phone, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS opt_outs (
  phone INTEGER NOT NULL, wa_id TEXT NOT NULL, opted_out INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT,
  PRIMARY KEY (phone, wa_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS send_slots (key TEXT PRIMARY KEY, next_free INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS send_slots_next_free ON send_slots (next_free);
${REPORT_SCHEMA}`;

/**
 * Journey rules (issue #14), in tables of their own: created where missing, so files of schema version 2 gain them
 * without a migration. Step keys and tokens are our own hashes and UUIDs (no customer data beyond the wa_id).
 * rule_steps.state: 0 pending, 1 unknown, 2 sent.
 */
const RULES_SCHEMA = `
CREATE TABLE IF NOT EXISTS rule_steps (
  phone INTEGER NOT NULL, step_key TEXT NOT NULL, state INTEGER NOT NULL, token TEXT NOT NULL,
  claimed_at INTEGER NOT NULL, message_id TEXT, sent_at INTEGER, left_at INTEGER,
  PRIMARY KEY (phone, step_key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_steps_claimed_at ON rule_steps (claimed_at);
CREATE TABLE IF NOT EXISTS rule_frequency (
  phone INTEGER NOT NULL, wa_id TEXT NOT NULL, category TEXT NOT NULL, token TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (phone, wa_id, category, token)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_frequency_at ON rule_frequency (at);
CREATE TABLE IF NOT EXISTS rule_recipients (
  scope TEXT NOT NULL, wa_id TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (scope, wa_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_recipients_at ON rule_recipients (scope, at);
CREATE TABLE IF NOT EXISTS rule_recipient_counts (scope TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rule_account (subject TEXT PRIMARY KEY, facts TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
`;
const STEP_STATES: StepState[] = ['pending', 'unknown', 'sent'];

/**
 * Wait links (Send and Wait): their own table, created where missing in any schema version (adding a table changes
 * nothing an older reader uses). `wa_id` finds a customer's latest wait for a reply without context. `wait_resumes`
 * (also created where missing) holds a claim's resume until it is delivered, its lease, and when the wait ended.
 * `wait_links_resume` (created where missing) pages through the waits of one resume URL (a Node-RED node at start).
 */
const WAIT_LINKS_SCHEMA = `
CREATE TABLE IF NOT EXISTS wait_links (
  phone INTEGER NOT NULL, message_id TEXT NOT NULL, wa_id TEXT NOT NULL, execution_id TEXT NOT NULL,
  resume_url TEXT NOT NULL, secret TEXT NOT NULL, expires_at INTEGER NOT NULL, spec TEXT NOT NULL, sent TEXT NOT NULL,
  created_at INTEGER NOT NULL, claimed_at INTEGER, held TEXT,
  PRIMARY KEY (phone, message_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wait_links_customer ON wait_links (phone, wa_id, created_at);
CREATE TABLE IF NOT EXISTS wait_resumes (
  phone INTEGER NOT NULL, message_id TEXT NOT NULL, body TEXT, lease_until INTEGER, ended_at INTEGER,
  PRIMARY KEY (phone, message_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wait_resumes_due ON wait_resumes (lease_until) WHERE ended_at IS NULL AND body IS NOT NULL;
CREATE INDEX IF NOT EXISTS wait_links_resume ON wait_links (resume_url, expires_at, phone, message_id);
`;

/**
 * Identities (phone ↔ BSUID, and a BSUID's successor and predecessors): a table of their own, created where missing in
 * any schema version. One row per customer id (a wa_id or a BSUID), as in the other stores. `predecessors` is a JSON
 * array, added where missing (COLUMNS_ADDED_LATER) to a table made before it.
 */
const IDENTITIES_SCHEMA = `
CREATE TABLE IF NOT EXISTS identities (
  phone INTEGER NOT NULL, id TEXT NOT NULL, wa_id TEXT, bsuid TEXT, successor TEXT, at INTEGER NOT NULL,
  predecessors TEXT,
  PRIMARY KEY (phone, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identities_at ON identities (at);
`;
/**
 * Columns that came after their table was first shipped, within the same schema version: each is added where missing
 * to a table made before it. identities.predecessors (earlier BSUIDs), rule_steps.left_at (markSendLeaving).
 */
const COLUMNS_ADDED_LATER = [
	{ table: 'identities', column: 'predecessors', type: 'TEXT' },
	{ table: 'rule_steps', column: 'left_at', type: 'INTEGER' },
] as const;

/**
 * Outbox (events acknowledged to Meta, not yet emitted by their trigger): a table of its own, created where missing
 * in any schema version. `trigger` is the adapter's consumer key; `at` when recorded or last claimed.
 */
const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  trigger TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, entry TEXT NOT NULL,
  PRIMARY KEY (trigger, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_at ON outbox (trigger, at);
`;

/**
 * Version 1 → 2, in place and in the same transaction as the version bump: `prev` lets one upsert return the
 * status it replaced; `seen` holds which statuses a record has seen (bit 1 << code); the two indexes only served
 * prune and cost a random page write per event. Version 1 remembered status events as id rows, so those rows are
 * still consulted until the last of them has expired (`legacy_status_ids_until`).
 */
const MIGRATE_1_TO_2 = `
ALTER TABLE statuses ADD COLUMN prev INTEGER;
ALTER TABLE statuses ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS events_expires;
DROP INDEX IF EXISTS statuses_at;
INSERT INTO meta (key, value) SELECT 'legacy_status_ids_until', CAST(coalesce(max(expires), 0) AS TEXT) FROM events;
UPDATE meta SET value = '2' WHERE key = 'schema';
`;

/**
 * Version 2 → 3: a tracked message's report record (journey step, counted stages) moves into its status record.
 * Version 2 kept it in a table of its own (report_messages, never in a release), merged here when present.
 */
const MIGRATE_2_TO_3 = `
ALTER TABLE statuses ADD COLUMN rstep INTEGER;
ALTER TABLE statuses ADD COLUMN stages INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '3' WHERE key = 'schema';
`;
const MERGE_REPORT_MESSAGES = `
INSERT INTO statuses (phone, id, status, at, rstep, stages)
  SELECT phone, id, -1, at, step, stages FROM report_messages WHERE true
  ON CONFLICT (phone, id) DO UPDATE SET rstep = excluded.rstep, stages = excluded.stages,
    at = max(statuses.at, excluded.at);
DROP TABLE report_messages;
`;

/** The named parameters a statement's expiry test uses (node:sqlite refuses unknown ones). */
function pick(
	bounds: { $now: number; $statusesBefore: number },
	expired: string,
): Record<string, number> {
	return expired.includes('$now')
		? { $now: bounds.$now }
		: { $statusesBefore: bounds.$statusesBefore };
}

/** Status codes are indexes into STATUS_NAMES: sent 0, delivered 1, read 2, played 3, failed 4. */
const FAILED = STATUS_NAMES.indexOf('failed');
/** The status of a record written for the report before any status (a send recorded by recordSends). */
const NO_STATUS = -1;
/** A stored status code as a name; NO_STATUS (and NULL) is none. */
const statusName = (code: number | null | undefined): StatusName | undefined =>
	code === null || code === undefined || code < 0 ? undefined : STATUS_NAMES[code];

/** 16 bytes of SHA-256: fixed-size keys whatever Meta's id length, with negligible collision odds. */
function idHash(id: string): Buffer {
	return hash('sha256', id, 'buffer').subarray(0, 16);
}

interface WaitLinkRow {
	message_id: string;
	wa_id: string;
	execution_id: string;
	resume_url: string;
	secret: string;
	expires_at: number;
	spec: string;
	sent: string;
	created_at: number;
	claimed_at: number | null;
	held: string | null;
	resume?: string | null;
	lease_until?: number | null;
	ended_at?: number | null;
}

function waitLinkOf(phoneNumberId: string, r: WaitLinkRow): WaitLink {
	const link: WaitLink = {
		phoneNumberId,
		messageId: r.message_id,
		waId: r.wa_id,
		executionId: r.execution_id,
		resumeUrl: r.resume_url,
		secret: r.secret,
		expiresAt: Number(r.expires_at),
		spec: r.spec,
		sent: r.sent,
		createdAt: Number(r.created_at),
	};
	if (r.claimed_at !== null) link.claimedAt = Number(r.claimed_at);
	if (r.held !== null) link.held = r.held;
	if (r.resume != null) link.resume = r.resume;
	if (r.lease_until != null) link.leaseUntil = Number(r.lease_until);
	if (r.ended_at != null) link.endedAt = Number(r.ended_at);
	return link;
}

export interface SqliteStateStoreOptions {
	/** File path (created if missing). `:memory:` works but is private to this connection. */
	path: string;
	/** How long a writer waits for another connection's lock before failing. Default 5 s. */
	busyTimeoutMs?: number;
	/** For tests: how `node:sqlite` is obtained. */
	sqlite?: SqliteModule;
	/**
	 * How often expired rows are deleted in the background (windows after 72 h, event ids after 8 days, statuses after
	 * 30 days, passed send slots), a slice at a time so a large file never holds the event loop long. Default 15 min;
	 * 0 turns it off (then call `prune` yourself).
	 */
	maintenanceIntervalMs?: number;
	/** How long report counters are kept after their day. Default 90 days. */
	reportRetentionMs?: number;
}

/** Rows looked at per slice of background pruning: a few milliseconds of work between two turns of the event loop. */
const PRUNE_SLICE_ROWS = 5000;
/** Tables whose expired rows are found by scanning (no index on their time column), with the row's expiry test. */
const SCANNED_TABLES = [
	{ table: 'events', key: 'phone, id', expired: 'expires <= $now' },
	// A message's report record is its status record (REPORT_MESSAGE_RETENTION_MS = STATUS_RETENTION_MS).
	{ table: 'statuses', key: 'phone, id', expired: 'at <= $statusesBefore' },
] as const;

export class SqliteStateStore implements JourneyStateStore {
	private readonly db: DatabaseSync;
	/** Phone number ids known to be committed. */
	private readonly phoneIds = new Map<string, number>();
	/**
	 * Ids read inside the open transaction: cached only once it commits. A rolled-back insert frees its id for the
	 * next number, and a cached copy would then give two business numbers one id (shared windows and opt-outs).
	 */
	private pendingPhoneIds?: Map<string, number>;
	private readonly stmt: Record<
		| 'phoneInsert'
		| 'phoneSelect'
		| 'inbound'
		| 'window'
		| 'event'
		| 'statusGet'
		| 'statusAdvance'
		| 'statusSeen'
		| 'eventSeen'
		| 'optOutPut'
		| 'optOutGet'
		| 'slot'
		| 'pruneWindows'
		| 'pruneEvents'
		| 'pruneStatuses'
		| 'pruneSlots',
		StatementSync
	>;
	private readonly report: Record<
		| 'stepInsert'
		| 'stepSelect'
		| 'messageGet'
		| 'messagePut'
		| 'count'
		| 'counts'
		| 'journeys'
		| 'pruneCounts',
		StatementSync
	>;
	/** Report step ids read in this connection; cleared when a transaction rolls back (an id may then be reused). */
	private readonly reportStepIds = new Map<string, number>();
	private readonly reportRetentionMs: number;
	private readonly waitStmt: Record<
		| 'put'
		| 'byMessage'
		| 'byCustomer'
		| 'claim'
		| 'release'
		| 'prune'
		| 'reopen'
		| 'pending'
		| 'lease'
		| 'renew'
		| 'end'
		| 'open'
		| 'pruneResumes',
		StatementSync
	>;
	private readonly identityStmt: Record<'get' | 'put' | 'prune', StatementSync>;
	private readonly outboxStmt: Record<'put' | 'claim' | 'done' | 'prune', StatementSync>;
	private closed = false;
	private maintenance?: ReturnType<typeof setInterval>;
	private pruning = false;
	/** Until when (epoch ms) status event ids remembered by a version 1 store may still be unexpired; 0: none. */
	private readonly legacyStatusIdsUntil: number;

	constructor(options: SqliteStateStoreOptions) {
		const path = requireId(options?.path, 'path');
		const sqlite = options.sqlite ?? loadNodeSqlite();
		this.db = new sqlite.DatabaseSync(path);
		try {
			const busy = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
			this.db.exec(`PRAGMA busy_timeout = ${busy}`);
			// Before anything is written (tables, WAL mode): another application's file is left as it is.
			this.refuseForeignFile(path);
			this.db.exec('PRAGMA journal_mode = WAL');
			this.db.exec('PRAGMA synchronous = NORMAL');
			// Up to 64 MiB of page cache (taken only as the file grows): the de-dup and status keys are random, so a
			// small cache turns most lookups into file reads.
			this.db.exec('PRAGMA cache_size = -65536');
			// Checkpoint every 10,000 pages (~40 MB) instead of 1,000: a page written by many commits is copied back
			// once, and the checkpoint's syncs (which block this thread) come ten times less often. After a
			// checkpoint the WAL file is cut back to 64 MiB at most.
			this.db.exec('PRAGMA wal_autocheckpoint = 10000');
			this.db.exec('PRAGMA journal_size_limit = 67108864');
			this.immediate(() => {
				this.db.exec(SCHEMA);
				this.db.exec(RULES_SCHEMA);
				this.db.exec(WAIT_LINKS_SCHEMA);
				this.db.exec(IDENTITIES_SCHEMA);
				for (const { table, column, type } of COLUMNS_ADDED_LATER) {
					const columns = this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{
						name: string;
					}>;
					if (!columns.some((c) => c.name === column))
						this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
				}
				this.db.exec(OUTBOX_SCHEMA);
				this.db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
				this.db
					.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
					.run('schema', SCHEMA_VERSION);
				const found = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
					{ value: string } | undefined;
				// Another connection may have migrated first; the lock makes this check and the migration one step.
				if (found?.value === '1') this.db.exec(MIGRATE_1_TO_2);
				if (found?.value === '1' || found?.value === '2') {
					this.db.exec(MIGRATE_2_TO_3);
					const dev = this.db
						.prepare(
							"SELECT 1 AS yes FROM sqlite_schema WHERE type = 'table' AND name = 'report_messages'",
						)
						.get();
					if (dev) this.db.exec(MERGE_REPORT_MESSAGES);
				}
			});
			const version = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
				{ value: string } | undefined;
			if (version?.value !== SCHEMA_VERSION) {
				throw new Error(
					`State file ${path} has schema version ${version?.value ?? 'unknown'}; this version of the nodes reads ${SCHEMA_VERSION}.`,
				);
			}
			const legacy = this.db
				.prepare("SELECT value FROM meta WHERE key = 'legacy_status_ids_until'")
				.get() as { value: string } | undefined;
			this.legacyStatusIdsUntil = Number(legacy?.value ?? 0);
		} catch (e) {
			this.db.close();
			throw e;
		}

		const p = (sql: string) => this.db.prepare(sql);
		const advances = `(statuses.status <> ${FAILED}
      AND CASE WHEN excluded.status = ${FAILED} THEN statuses.status <= 0 ELSE excluded.status > statuses.status END)`;
		this.stmt = {
			phoneInsert: p(
				'INSERT INTO phones (phone_number_id) VALUES (?) ON CONFLICT (phone_number_id) DO NOTHING',
			),
			phoneSelect: p('SELECT id FROM phones WHERE phone_number_id = ?'),
			// A stored time past its limit (?5, ?6: see windowTimeLimits) is a bad write, replaced rather than kept by max().
			inbound:
				p(`INSERT INTO windows (phone, wa_id, last_inbound, fep_until) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (phone, wa_id) DO UPDATE SET
          last_inbound = max(CASE WHEN last_inbound > ?5 THEN 0 ELSE last_inbound END, excluded.last_inbound),
          fep_until = max(CASE WHEN fep_until > ?6 THEN 0 ELSE fep_until END, excluded.fep_until)
        RETURNING last_inbound, fep_until`),
			window: p('SELECT last_inbound, fep_until FROM windows WHERE phone = ? AND wa_id = ?'),
			// Inserted, or replaced once the earlier sighting has aged out: RETURNING yields a row only then.
			event: p(`INSERT INTO events (phone, id, expires) VALUES (?, ?, ?)
        ON CONFLICT (phone, id) DO UPDATE SET expires = excluded.expires WHERE events.expires <= ?
        RETURNING 1 AS fresh`),
			statusGet: p('SELECT status FROM statuses WHERE phone = ? AND id = ?'),
			// canAdvanceStatus in SQL: nothing replaces failed; failed replaces only sent; otherwise only a higher code
			// (NO_STATUS, -1, is below every code, and failed replaces it too).
			// A row comes back only when the status was written, with the one it replaced in prev (NULL: first).
			statusAdvance: p(`INSERT INTO statuses (phone, id, status, at, prev) VALUES (?, ?, ?, ?, NULL)
        ON CONFLICT (phone, id) DO UPDATE SET prev = statuses.status, status = excluded.status, at = excluded.at
        WHERE ${advances}
        RETURNING prev`),
			// A status event de-duplicated by its record: the row comes back only if the record had not seen this status
			// (bit ?5), with the status before and after; the status advances by the same rule as statusAdvance. `at` only
			// decides when prune deletes the record, which holds the "seen" bits: it is the latest of the status times and
			// the arrivals (?4 is the later of the two), so a record outlives EVENT_HORIZON_MS from its last event's arrival.
			statusSeen:
				p(`INSERT INTO statuses (phone, id, status, at, prev, seen) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
        ON CONFLICT (phone, id) DO UPDATE SET
          prev = statuses.status,
          status = CASE WHEN ${advances} THEN excluded.status ELSE statuses.status END,
          at = max(statuses.at, excluded.at),
          seen = statuses.seen | excluded.seen
        WHERE (statuses.seen & excluded.seen) = 0
        RETURNING prev, status`),
			eventSeen: p('SELECT 1 AS seen FROM events WHERE phone = ? AND id = ? AND expires > ?'),
			optOutPut:
				p(`INSERT INTO opt_outs (phone, wa_id, opted_out, at, reason) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (phone, wa_id) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at, reason = excluded.reason
        WHERE excluded.at >= opt_outs.at`),
			optOutGet: p('SELECT opted_out FROM opt_outs WHERE phone = ? AND wa_id = ?'),
			slot: p(`INSERT INTO send_slots (key, next_free) VALUES (?, ? + ?)
        ON CONFLICT (key) DO UPDATE SET next_free = max(send_slots.next_free, ?) + ?
        RETURNING next_free`),
			// Expired, or stored past its limit (a bad write that would otherwise never expire).
			pruneWindows: p(
				'DELETE FROM windows WHERE (last_inbound <= ? AND fep_until <= ?) OR last_inbound > ?',
			),
			pruneEvents: p('DELETE FROM events WHERE expires <= ?'),
			pruneStatuses: p('DELETE FROM statuses WHERE at <= ?'),
			pruneSlots: p('DELETE FROM send_slots WHERE next_free <= ?'),
		};
		this.rules = {
			stepGet: p(
				'SELECT state, token, claimed_at, message_id, sent_at, left_at FROM rule_steps WHERE phone = ? AND step_key = ?',
			),
			stepClaim:
				p(`INSERT INTO rule_steps (phone, step_key, state, token, claimed_at, message_id, sent_at)
        VALUES (?, ?, 0, ?, ?, NULL, NULL)
        ON CONFLICT (phone, step_key) DO UPDATE SET state = 0, token = excluded.token,
          claimed_at = excluded.claimed_at, message_id = NULL, sent_at = NULL, left_at = NULL`),
			stepLeaving: p(
				'UPDATE rule_steps SET left_at = ? WHERE phone = ? AND step_key = ? AND state = 0 AND token = ?',
			),
			stepSent: p(`UPDATE rule_steps SET state = 2, message_id = ?, sent_at = ?
        WHERE phone = ? AND step_key = ? AND state <> 2 AND (token = ? OR ? IS NULL)`),
			stepUnknown: p(
				'UPDATE rule_steps SET state = 1 WHERE phone = ? AND step_key = ? AND state = 0 AND token = ?',
			),
			stepRelease: p(
				'DELETE FROM rule_steps WHERE phone = ? AND step_key = ? AND state <> 2 AND (token = ? OR ? IS NULL)',
			),
			frequencyGet: p(
				'SELECT at FROM rule_frequency WHERE phone = ? AND wa_id = ? AND category = ? AND at > ? ORDER BY at',
			),
			frequencyAdd: p(
				'INSERT INTO rule_frequency (phone, wa_id, category, token, at) VALUES (?, ?, ?, ?, ?)',
			),
			frequencyRelease: p(
				'DELETE FROM rule_frequency WHERE phone = ? AND wa_id = ? AND category = ? AND token = ?',
			),
			recipientGet: p('SELECT at FROM rule_recipients WHERE scope = ? AND wa_id = ?'),
			recipientCount: p('SELECT count(*) AS n FROM rule_recipients WHERE scope = ?'),
			// The messaging limit's count, maintained: recipients stored for the scope (expired ones are deleted first).
			recipientExpire: p('DELETE FROM rule_recipients WHERE scope = ? AND at <= ?'),
			recipientTally: p('SELECT n FROM rule_recipient_counts WHERE scope = ?'),
			recipientTallySet: p(`INSERT INTO rule_recipient_counts (scope, n) VALUES (?, ?)
        ON CONFLICT (scope) DO UPDATE SET n = excluded.n`),
			recipientTallyAdd: p('UPDATE rule_recipient_counts SET n = n + ? WHERE scope = ?'),
			recipientTallyClear: p('DELETE FROM rule_recipient_counts'),
			recipientPut: p(`INSERT INTO rule_recipients (scope, wa_id, at) VALUES (?, ?, ?)
        ON CONFLICT (scope, wa_id) DO UPDATE SET at = excluded.at`),
			recipientRestore: p(
				'UPDATE rule_recipients SET at = ? WHERE scope = ? AND wa_id = ? AND at = ?',
			),
			recipientRelease: p('DELETE FROM rule_recipients WHERE scope = ? AND wa_id = ? AND at = ?'),
			accountPut: p(`INSERT INTO rule_account (subject, facts, at) VALUES (?, ?, ?)
        ON CONFLICT (subject) DO UPDATE SET facts = json_patch(rule_account.facts, excluded.facts), at = excluded.at
        WHERE excluded.at >= rule_account.at`),
			accountGet: p('SELECT facts, at FROM rule_account WHERE subject = ?'),
			pruneSteps: p('DELETE FROM rule_steps WHERE claimed_at <= ? AND coalesce(sent_at, 0) <= ?'),
			pruneFrequency: p('DELETE FROM rule_frequency WHERE at <= ?'),
			pruneRecipients: p('DELETE FROM rule_recipients WHERE at <= ?'),
			pruneAccount: p('DELETE FROM rule_account WHERE at <= ?'),
		};
		this.reportRetentionMs = requireRetention(options.reportRetentionMs);
		this.report = {
			stepInsert: p(
				'INSERT INTO report_steps (phone, journey, step) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
			),
			stepSelect: p('SELECT id FROM report_steps WHERE phone = ? AND journey = ? AND step = ?'),
			messageGet: p('SELECT rstep, stages FROM statuses WHERE phone = ? AND id = ?'),
			messagePut:
				p(`INSERT INTO statuses (phone, id, status, at, rstep, stages) VALUES (?1, ?2, ${NO_STATUS}, ?5, ?3, ?4)
        ON CONFLICT (phone, id) DO UPDATE SET rstep = excluded.rstep, stages = excluded.stages,
          at = max(statuses.at, excluded.at)`),
			count: p(`INSERT INTO report_counts (step, day, metric, n) VALUES (?, ?, ?, ?)
        ON CONFLICT (step, day, metric) DO UPDATE SET n = report_counts.n + excluded.n`),
			counts: p(`SELECT s.journey, s.step, c.day, c.metric, c.n FROM report_steps s
        JOIN report_counts c ON c.step = s.id WHERE s.phone = ? AND c.day BETWEEN ? AND ?`),
			journeys: p(`SELECT DISTINCT journey FROM report_steps s WHERE phone = ?
        AND EXISTS (SELECT 1 FROM report_counts c WHERE c.step = s.id) ORDER BY journey`),
			pruneCounts: p('DELETE FROM report_counts WHERE day < ?'),
		};
		this.identityStmt = {
			get: p(
				'SELECT wa_id, bsuid, successor, predecessors, at FROM identities WHERE phone = ? AND id = ?',
			),
			put: p(`INSERT INTO identities (phone, id, wa_id, bsuid, successor, predecessors, at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (phone, id) DO UPDATE SET wa_id = excluded.wa_id, bsuid = excluded.bsuid,
          successor = excluded.successor, predecessors = excluded.predecessors, at = excluded.at`),
			prune: p('DELETE FROM identities WHERE at <= ?'),
		};
		this.waitStmt = {
			put: p(`INSERT INTO wait_links (phone, message_id, wa_id, execution_id, resume_url, secret, expires_at, spec, sent,
          created_at, claimed_at, held) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
        ON CONFLICT (phone, message_id) DO UPDATE SET wa_id = excluded.wa_id, execution_id = excluded.execution_id,
          resume_url = excluded.resume_url, secret = excluded.secret, expires_at = excluded.expires_at,
          spec = excluded.spec, sent = excluded.sent, created_at = excluded.created_at, claimed_at = NULL,
          held = excluded.held`),
			byMessage: p(`${WAIT_LINK_SELECT} WHERE l.phone = ? AND l.message_id = ?`),
			byCustomer: p(
				`${WAIT_LINK_SELECT} WHERE l.phone = ? AND l.wa_id = ? ORDER BY l.created_at DESC LIMIT 1`,
			),
			// One statement: only an open, unexpired link is claimed, and RETURNING says whether this call claimed it.
			claim: p(`UPDATE wait_links SET claimed_at = ? WHERE phone = ? AND message_id = ?
        AND claimed_at IS NULL AND expires_at > ? AND NOT EXISTS (SELECT 1 FROM wait_resumes r
          WHERE r.phone = wait_links.phone AND r.message_id = wait_links.message_id AND r.ended_at IS NOT NULL)
        RETURNING *`),
			release: p('UPDATE wait_links SET claimed_at = NULL WHERE phone = ? AND message_id = ?'),
			// A link put again (or released) has no resume pending and has not ended.
			reopen: p('DELETE FROM wait_resumes WHERE phone = ? AND message_id = ?'),
			pending:
				p(`INSERT INTO wait_resumes (phone, message_id, body, lease_until, ended_at) VALUES (?, ?, ?, ?, NULL)
        ON CONFLICT (phone, message_id) DO UPDATE SET body = excluded.body, lease_until = excluded.lease_until`),
			lease: p(`SELECT l.*, r.body AS resume, r.lease_until, r.ended_at, ph.phone_number_id
        FROM wait_resumes r JOIN wait_links l ON l.phone = r.phone AND l.message_id = r.message_id
        JOIN phones ph ON ph.id = r.phone
        WHERE r.ended_at IS NULL AND r.body IS NOT NULL AND r.lease_until <= ? AND l.expires_at > ?
          AND l.claimed_at IS NOT NULL
        ORDER BY r.lease_until LIMIT ?`),
			renew: p(`UPDATE wait_resumes SET lease_until = ? WHERE phone = ? AND message_id = ?
        AND ended_at IS NULL AND body IS NOT NULL`),
			// Only the first call ends it (WHERE on the upsert); a link that does not exist ends nothing.
			end: p(`INSERT INTO wait_resumes (phone, message_id, body, lease_until, ended_at)
        SELECT phone, message_id, NULL, NULL, ? FROM wait_links WHERE phone = ? AND message_id = ?
        ON CONFLICT (phone, message_id) DO UPDATE SET ended_at = excluded.ended_at WHERE wait_resumes.ended_at IS NULL`),
			// Keyset paging in the index's order (expires_at, phone, message_id): an ended wait leaves no gap.
			open: p(`SELECT l.*, r.body AS resume, r.lease_until, r.ended_at, ph.phone_number_id
        FROM wait_links l LEFT JOIN wait_resumes r ON r.phone = l.phone AND r.message_id = l.message_id
        JOIN phones ph ON ph.id = l.phone
        WHERE l.resume_url = ? AND (l.expires_at, l.phone, l.message_id) > (?, ?, ?) AND r.ended_at IS NULL
        ORDER BY l.expires_at, l.phone, l.message_id LIMIT ?`),
			pruneResumes: p(`DELETE FROM wait_resumes WHERE NOT EXISTS (SELECT 1 FROM wait_links l
        WHERE l.phone = wait_resumes.phone AND l.message_id = wait_resumes.message_id)`),
			prune: p(
				'DELETE FROM wait_links WHERE min(expires_at, coalesce(claimed_at, expires_at)) <= ?',
			),
		};
		this.outboxStmt = {
			put: p(`INSERT INTO outbox (trigger, id, at, entry) VALUES (?, ?, ?, ?)
        ON CONFLICT (trigger, id) DO UPDATE SET at = excluded.at, entry = excluded.entry`),
			// One statement: the claimed rows are exactly those this call moved on (RETURNING the entry, and the old
			// time is not needed: the order is the caller's only use of it).
			claim: p(`UPDATE outbox SET at = ? WHERE trigger = ? AND id IN (
          SELECT id FROM outbox WHERE trigger = ? AND at <= ? ORDER BY at LIMIT ?) RETURNING id, entry, at`),
			done: p('DELETE FROM outbox WHERE trigger = ? AND id = ?'),
			prune: p('DELETE FROM outbox WHERE at <= ?'),
		};
		this.startMaintenance(options.maintenanceIntervalMs ?? 15 * 60_000);
	}

	// --- Journey rules (issue #14) ---------------------------------------------------------------------------

	private readonly rules: Record<
		| 'stepGet'
		| 'stepClaim'
		| 'stepSent'
		| 'stepUnknown'
		| 'stepLeaving'
		| 'stepRelease'
		| 'frequencyGet'
		| 'frequencyAdd'
		| 'frequencyRelease'
		| 'recipientGet'
		| 'recipientCount'
		| 'recipientPut'
		| 'recipientRestore'
		| 'recipientRelease'
		| 'recipientExpire'
		| 'recipientTally'
		| 'recipientTallySet'
		| 'recipientTallyAdd'
		| 'recipientTallyClear'
		| 'accountPut'
		| 'accountGet'
		| 'pruneSteps'
		| 'pruneFrequency'
		| 'pruneRecipients'
		| 'pruneAccount',
		StatementSync
	>;

	private stepRow(phone: number, stepKey: string): StepRecord | undefined {
		const row = this.rules.stepGet.get(phone, stepKey) as
			| {
					state: number;
					token: string;
					claimed_at: number;
					message_id: string | null;
					sent_at: number | null;
					left_at: number | null;
			  }
			| undefined;
		if (!row) return undefined;
		const record: StepRecord = {
			state: STEP_STATES[row.state],
			token: row.token,
			claimedAt: row.claimed_at,
		};
		if (row.message_id !== null) record.messageId = row.message_id;
		if (row.sent_at !== null) record.sentAt = row.sent_at;
		if (row.left_at !== null) record.leftAt = row.left_at;
		return record;
	}

	/** The checks and the writes in one IMMEDIATE transaction: another connection cannot claim or count in between. */
	async admitSend(p: SendAdmission): Promise<AdmissionResult> {
		this.open();
		const { phone: phoneNumberId, waId, token, now } = checkAdmission(p);
		return this.immediate((): AdmissionResult => {
			const phone = this.phone(phoneNumberId, true)!;
			if (p.step) {
				for (const k of [p.step.key, ...(p.step.otherKeys ?? [])]) {
					const verdict = stepVerdict(this.stepRow(phone, k), p.step, now);
					if (verdict) return verdict;
				}
			}
			const ids = [waId, ...(p.otherIds ?? [])];
			let frequencyCount: number | undefined;
			if (p.frequency) {
				const f = p.frequency;
				const ats = ids
					.flatMap(
						(id) =>
							this.rules.frequencyGet.all(phone, id, f.category, now - f.periodMs) as Array<{
								at: number;
							}>,
					)
					.map((r) => r.at)
					.sort((a, b) => a - b);
				if (ats.length >= f.max)
					return {
						admitted: false,
						rule: 'frequency',
						count: ats.length,
						limit: f.max,
						resumeAt: ats[ats.length - f.max] + f.periodMs,
					};
				frequencyCount = ats.length + 1;
			}
			const open = ids.some((id) => {
				const w = this.stmt.window.get(phone, id) as
					{ last_inbound: number; fep_until: number } | undefined;
				return windowFrom(phoneNumberId, id, w?.last_inbound ?? 0, w?.fep_until ?? 0, now).open;
			});
			const businessInitiated = p.template && !open;
			let recipients: number | undefined;
			let recipientPrevAt = 0;
			const limit = p.messagingLimit;
			if (limit && businessInitiated) {
				const from = now - MESSAGING_LIMIT_PERIOD_MS;
				const count = this.recipientsWithin(limit.scope, from);
				const prev = (this.rules.recipientGet.get(limit.scope, waId) as { at: number } | undefined)
					?.at;
				const already = prev !== undefined && prev > from;
				// Counted under another of the customer's ids (a send before the pairing): one person, no refusal (the
				// stored count may hold them twice: the safe side).
				const counted =
					already ||
					ids.slice(1).some((id) => {
						const r = this.rules.recipientGet.get(limit.scope, id) as { at: number } | undefined;
						return r !== undefined && r.at > from;
					});
				if (!counted && limit.limit !== undefined && count >= limit.limit)
					return { admitted: false, rule: 'messaging_limit', count, limit: limit.limit };
				recipientPrevAt = prev ?? 0;
				if (!p.dryRun) {
					this.rules.recipientPut.run(limit.scope, waId, now);
					if (prev === undefined) this.rules.recipientTallyAdd.run(1, limit.scope);
				}
				recipients = already ? count : count + 1;
			}
			if (p.dryRun)
				return {
					admitted: true,
					businessInitiated,
					frequencyCount,
					recipients,
					recipientPrevAt,
					at: now,
				};
			if (p.step) this.rules.stepClaim.run(phone, p.step.key, token, now);
			if (p.frequency) this.rules.frequencyAdd.run(phone, waId, p.frequency.category, token, now);
			return {
				admitted: true,
				businessInitiated,
				frequencyCount,
				recipients,
				recipientPrevAt,
				at: now,
			};
		});
	}

	async markSendLeaving(p: SendLeaving): Promise<boolean> {
		this.open();
		const phoneNumberId = requireId(p?.phoneNumberId, 'phoneNumberId');
		const stepKey = requireId(p.stepKey, 'stepKey');
		const token = requireId(p.token, 'token');
		const now = requireTime(p.now, 'now');
		const phone = this.phone(phoneNumberId, false);
		if (phone === undefined) return false;
		return Number(this.rules.stepLeaving.run(now, phone, stepKey, token).changes) > 0;
	}

	async settleSend(p: SendSettlement): Promise<void> {
		this.open();
		const phoneNumberId = requireId(p?.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const token = requireId(p.token, 'token');
		const now = requireTime(p.now, 'now');
		this.immediate(() => {
			const phone = this.phone(phoneNumberId, true)!;
			const key = p.stepKey;
			if (p.outcome === 'sent') {
				if (key) this.rules.stepSent.run(p.messageId ?? null, now, phone, key, token, token);
				return;
			}
			if (p.outcome === 'unknown') {
				if (key) this.rules.stepUnknown.run(phone, key, token);
				return;
			}
			if (key) this.rules.stepRelease.run(phone, key, token, token);
			if (p.frequency) this.rules.frequencyRelease.run(phone, waId, p.frequency.category, token);
			const l = p.messagingLimit;
			if (l) {
				if (l.prevAt > 0) this.rules.recipientRestore.run(l.prevAt, l.scope, waId, l.at);
				else {
					const gone = Number(this.rules.recipientRelease.run(l.scope, waId, l.at).changes);
					if (gone > 0) this.rules.recipientTallyAdd.run(-gone, l.scope);
				}
			}
		});
	}

	/** A status webhook resolves the step its tracking names, unless it is already sent. */
	private stepStatus(
		phone: number,
		stepKey: string,
		messageId: string,
		status: StatusName,
		at: number,
	): void {
		if (stepStatusOutcome(status) === 'sent')
			this.rules.stepSent.run(messageId, at, phone, stepKey, null, null);
		else this.rules.stepRelease.run(phone, stepKey, null, null);
	}

	async getStep(p: { phoneNumberId: string; stepKey: string }): Promise<StepRecord | undefined> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return undefined;
		return this.stepRow(phone, requireId(p.stepKey, 'stepKey'));
	}

	async getAccountFacts(subjects: string[]): Promise<Record<string, AccountFactRecord>> {
		this.open();
		const out: Record<string, AccountFactRecord> = {};
		for (const subject of subjects) {
			const row = this.rules.accountGet.get(subject) as { facts: string; at: number } | undefined;
			if (row) out[subject] = { facts: JSON.parse(row.facts) as AccountFacts, at: row.at };
		}
		return out;
	}

	/**
	 * The portfolio's distinct recipients within the messaging-limit period, without counting them: the scope's expired
	 * rows are deleted (through the (scope, at) index: only those rows are visited) and the stored tally is what is
	 * left — the cost no longer grows with the recipients of the last 24 h. Redis's admit script does the same
	 * (ZREMRANGEBYSCORE, then ZCARD). A scope without a tally (prune clears them all) is counted once.
	 */
	private recipientsWithin(scope: string, from: number): number {
		const expired = Number(this.rules.recipientExpire.run(scope, from).changes);
		const tally = this.rules.recipientTally.get(scope) as { n: number } | undefined;
		if (!tally) {
			const n = (this.rules.recipientCount.get(scope) as { n: number }).n;
			this.rules.recipientTallySet.run(scope, n);
			return n;
		}
		if (expired > 0) this.rules.recipientTallyAdd.run(-expired, scope);
		return tally.n - expired;
	}

	private pruneRules(t: number): number {
		const stepsBefore = t - STEP_RETENTION_MS;
		const recipients = Number(
			this.rules.pruneRecipients.run(t - MESSAGING_LIMIT_PERIOD_MS).changes,
		);
		// Rows went from scopes whose tallies counted them: each scope is counted afresh on its next admission.
		if (recipients > 0) this.rules.recipientTallyClear.run();
		return (
			Number(this.rules.pruneSteps.run(stepsBefore, stepsBefore).changes) +
			Number(this.rules.pruneFrequency.run(t - FREQUENCY_RETENTION_MS).changes) +
			recipients +
			Number(this.rules.pruneAccount.run(t - ACCOUNT_FACT_RETENTION_MS).changes)
		);
	}

	/**
	 * Throws unless the file is empty (new), carries our application id, or holds our tables (a store from before the
	 * id). A user-chosen path must not add tables to, or switch the journal of, another application's database.
	 */
	private refuseForeignFile(path: string): void {
		let id: number;
		let tables: string[];
		try {
			id = (this.db.prepare('PRAGMA application_id').get() as { application_id: number })
				.application_id;
			tables = (
				this.db
					.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
					.all() as Array<{ name: string }>
			).map((t) => t.name);
		} catch (e) {
			throw new Error(
				`Store File Path: ${path} is not an SQLite file (${e instanceof Error ? e.message : String(e)}). Choose a new file path, or leave Store File Path empty for the default file.`,
			);
		}
		if (id === APPLICATION_ID || tables.length === 0) return;
		if (id === 0 && OUR_TABLES.every((t) => tables.includes(t))) return;
		throw new Error(
			`Store File Path: ${path} is another application's SQLite database (${id !== 0 ? `application id ${id}, ` : ''}tables ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}); it was not changed. Choose a new file path, or leave Store File Path empty for the default file.`,
		);
	}

	/** BEGIN IMMEDIATE takes the write lock first, so the read inside cannot be overtaken by another connection. */
	private immediate<T>(fn: () => T): T {
		this.db.exec('BEGIN IMMEDIATE');
		const pending = new Map<string, number>();
		this.pendingPhoneIds = pending;
		try {
			const out = fn();
			this.db.exec('COMMIT');
			for (const [phoneNumberId, id] of pending) this.phoneIds.set(phoneNumberId, id);
			return out;
		} catch (e) {
			this.reportStepIds.clear();
			try {
				this.db.exec('ROLLBACK');
			} catch {
				// Already rolled back by SQLite (e.g. after SQLITE_BUSY); nothing left to undo.
			}
			throw e;
		} finally {
			this.pendingPhoneIds = undefined;
		}
	}

	private open(): void {
		if (this.closed) throw new Error('The state store is closed.');
	}

	/** Small integer for a phone number id; created on first write. */
	private phone(phoneNumberId: string, create: boolean): number | undefined {
		const cached = this.phoneIds.get(phoneNumberId) ?? this.pendingPhoneIds?.get(phoneNumberId);
		if (cached !== undefined) return cached;
		if (create) this.stmt.phoneInsert.run(phoneNumberId);
		const row = this.stmt.phoneSelect.get(phoneNumberId) as { id: number } | undefined;
		// Outside a transaction each statement commits by itself.
		if (row) (this.pendingPhoneIds ?? this.phoneIds).set(phoneNumberId, row.id);
		return row?.id;
	}

	async recordInbound(p: {
		phoneNumberId: string;
		waId: string;
		at: Date;
		referral?: boolean;
		now?: Date;
	}): Promise<ConversationWindow> {
		this.open();
		const phoneNumberId = requireId(p.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const at = requireTime(p.at, 'at');
		const phone = this.phone(phoneNumberId, true)!;
		const row = this.inbound(phone, waId, at, p.referral === true);
		const now = p.now ? requireTime(p.now, 'now') : Math.max(Date.now(), at);
		return windowFrom(phoneNumberId, waId, row.last_inbound, row.fep_until, now);
	}

	private inbound(
		phone: number,
		waId: string,
		at: number,
		referral: boolean,
	): { last_inbound: number; fep_until: number } {
		const limits = windowTimeLimits(Date.now());
		return this.stmt.inbound.get(
			phone,
			waId,
			at,
			referral ? at + FREE_ENTRY_POINT_MS : 0,
			limits.lastInbound,
			limits.freeEntryPoint,
		) as { last_inbound: number; fep_until: number };
	}

	async getWindow(p: {
		phoneNumberId: string;
		waId: string;
		now?: Date;
	}): Promise<ConversationWindow> {
		this.open();
		const phoneNumberId = requireId(p.phoneNumberId, 'phoneNumberId');
		const waId = requireId(p.waId, 'waId');
		const now = p.now ? requireTime(p.now, 'now') : Date.now();
		const phone = this.phone(phoneNumberId, false);
		const row =
			phone === undefined
				? undefined
				: (this.stmt.window.get(phone, waId) as
						{ last_inbound: number; fep_until: number } | undefined);
		return windowFrom(phoneNumberId, waId, row?.last_inbound ?? 0, row?.fep_until ?? 0, now);
	}

	/**
	 * One message's status: the conditional upsert says whether it advanced and from what; only a status that did
	 * not advance reads the one that stopped it. The caller holds the write lock (BEGIN IMMEDIATE), so the read
	 * sees what blocked the write.
	 */
	private status(
		phone: number,
		id: Buffer,
		status: StatusName,
		code: number,
		at: number,
	): StatusRecordResult {
		const written = this.stmt.statusAdvance.get(phone, id, code, at) as
			{ prev: number | null } | undefined;
		if (written) return statusOutcome(statusName(written.prev), status, true);
		const row = this.stmt.statusGet.get(phone, id) as { status: number } | undefined;
		const previous = statusName(row?.status);
		// Same rule as the SQL above; a mismatch would mean the two drifted apart.
		if (canAdvanceStatus(previous, status))
			throw new Error(`status ${status} after ${String(previous)} was not written`);
		return statusOutcome(previous, status, false);
	}

	async linkIdentity(p: Omit<IdentityWrite, 'kind'>): Promise<void> {
		this.open();
		const w = checkIdentity(
			p,
			requireId(p.phoneNumberId, 'phoneNumberId'),
			requireTime(p.at, 'at'),
		);
		this.immediate(() => this.identity(this.phone(w.phoneNumberId, true)!, w));
	}

	async getIdentity(p: { phoneNumberId: string; id: string }): Promise<IdentityRecord | undefined> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		return phone === undefined ? undefined : this.identityRow(phone, requireId(p.id, 'id'));
	}

	private identityRow(phone: number, id: string): IdentityRecord | undefined {
		const row = this.identityStmt.get.get(phone, id) as
			| {
					wa_id: string | null;
					bsuid: string | null;
					successor: string | null;
					predecessors: string | null;
					at: number;
			  }
			| undefined;
		if (!row) return undefined;
		const predecessors = row.predecessors !== null ? idList(row.predecessors) : [];
		return {
			...(row.wa_id !== null ? { waId: row.wa_id } : {}),
			...(row.bsuid !== null ? { bsuid: row.bsuid } : {}),
			...(row.successor !== null ? { successor: row.successor } : {}),
			...(predecessors.length ? { predecessors } : {}),
			at: Number(row.at),
		};
	}

	/** Inside a transaction: read, merge (mergeIdentity), write each record the write touches. */
	private identity(phone: number, w: CheckedIdentityWrite): void {
		for (const u of identityUpdates(w)) {
			const r = mergeIdentity(this.identityRow(phone, u.id), u, w.at);
			this.identityStmt.put.run(
				phone,
				u.id,
				r.waId ?? null,
				r.bsuid ?? null,
				r.successor ?? null,
				r.predecessors ? JSON.stringify(r.predecessors) : null,
				r.at,
			);
		}
	}

	async getStatus(p: {
		phoneNumberId: string;
		messageId: string;
	}): Promise<StatusName | undefined> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return undefined;
		const row = this.stmt.statusGet.get(phone, idHash(requireId(p.messageId, 'messageId'))) as
			{ status: number } | undefined;
		return statusName(row?.status);
	}

	async setOptOut(p: {
		phoneNumberId: string;
		waId: string;
		optedOut: boolean;
		at: Date;
		reason?: string;
	}): Promise<void> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), true)!;
		const waId = requireId(p.waId, 'waId');
		this.stmt.optOutPut.run(
			phone,
			waId,
			p.optedOut === true ? 1 : 0,
			requireTime(p.at, 'at'),
			p.reason ?? null,
		);
	}

	/** The whole batch in one IMMEDIATE transaction: one lock and one commit (one WAL sync) per webhook delivery. */
	async applyEventBatch(items: EventBatchItem[]): Promise<EventBatchResult[]> {
		this.open();
		const now = Date.now();
		const checked = checkEventBatch(items, now);
		if (checked.length === 0) return [];
		const legacy = this.legacyStatusIdsUntil > now;
		return this.immediate(() =>
			this.withSummedCounts(() => {
				const results = this.applyChecked(checked, legacy);
				// Outbox entries in the same transaction as the records: a 200 answered means they are both there.
				checked.forEach((item, i) => {
					if (results[i].fresh && keepsOutboxEntry(item, results[i].statuses)) {
						const o = item.outbox!;
						this.outboxStmt.put.run(o.trigger, o.id, now, o.entry);
					}
				});
				return results;
			}),
		);
	}

	async claimOutbox(p: {
		trigger: string;
		olderThan: number;
		now?: number;
		limit?: number;
	}): Promise<OutboxEntry[]> {
		this.open();
		const { trigger, olderThan, now, limit } = checkOutboxClaim(p);
		const rows = this.outboxStmt.claim.all(now, trigger, trigger, olderThan, limit) as Array<{
			id: string;
			entry: string;
			at: number;
		}>;
		return rows.map((r) => ({ id: r.id, entry: r.entry, at: Number(r.at) }));
	}

	async outboxDone(p: { trigger: string; ids: string[] }): Promise<number> {
		this.open();
		const { trigger, ids } = checkOutboxDone(p);
		if (ids.length === 0) return 0;
		return this.immediate(() =>
			ids.reduce((n, id) => n + Number(this.outboxStmt.done.run(trigger, id).changes), 0),
		);
	}

	private applyChecked(
		checked: ReturnType<typeof checkEventBatch>,
		legacy: boolean,
	): EventBatchResult[] {
		return checked.map((item): EventBatchResult => {
			const r = item.remember;
			const seenBy = item.seenBy;
			let seen: StatusRecordResult | undefined;
			if (r && seenBy !== undefined) {
				// The event's own id row, as version 1 wrote it, while such rows may still be unexpired.
				if (
					legacy &&
					this.stmt.eventSeen.get(this.phone(r.phoneNumberId, true)!, idHash(r.eventId), r.at) !==
						undefined
				) {
					return { fresh: false, statuses: [] };
				}
				seen = this.seenStatus(
					item.writes[seenBy] as Extract<CheckedWrite, { kind: 'status' }>,
					r.at,
				);
				if (!seen) return { fresh: false, statuses: [] };
			} else if (
				r &&
				this.stmt.event.get(
					this.phone(r.phoneNumberId, true)!,
					idHash(r.eventId),
					r.at + EVENT_HORIZON_MS,
					r.at,
				) === undefined
			) {
				return { fresh: false, statuses: [] };
			}
			const statuses: StatusRecordResult[] = [];
			item.writes.forEach((w, i) => {
				if (i === seenBy) {
					statuses.push(seen!);
					return;
				}
				if (w.kind === 'account') {
					this.rules.accountPut.run(w.subject, JSON.stringify(w.facts), w.at);
					return;
				}
				const phone = this.phone(w.phoneNumberId, true)!;
				if (w.kind === 'stepStatus') {
					this.stepStatus(phone, w.stepKey, w.messageId, w.status, w.at);
					return;
				}
				if (w.kind === 'status') {
					statuses.push(
						this.status(phone, idHash(w.messageId), w.status, STATUS_NAMES.indexOf(w.status), w.at),
					);
				} else if (w.kind === 'inbound') {
					this.inbound(phone, w.waId, w.at, w.referral);
				} else if (w.kind === 'journeyStatus' || w.kind === 'journeyReply') {
					this.reportWrite(phone, w);
				} else if (w.kind === 'identity') {
					this.identity(phone, w);
				} else {
					this.stmt.optOutPut.run(phone, w.waId, w.optedOut ? 1 : 0, w.at, w.reason ?? null);
				}
			});
			return { fresh: true, statuses };
		});
	}

	/** A status write that is also its event's de-duplication: undefined when the record had seen this status. */
	private seenStatus(
		w: Extract<CheckedWrite, { kind: 'status' }>,
		arrivedAt: number,
	): StatusRecordResult | undefined {
		const code = STATUS_NAMES.indexOf(w.status);
		const row = this.stmt.statusSeen.get(
			this.phone(w.phoneNumberId, true)!,
			idHash(w.messageId),
			code,
			Math.max(w.at, arrivedAt),
			1 << code,
		) as { prev: number | null; status: number } | undefined;
		if (!row) return undefined;
		const previous = statusName(row.prev);
		// Advanced when the record now holds this status and did not before (an insert has no previous).
		return statusOutcome(previous, w.status, row.status === code && row.prev !== code);
	}

	async isOptedOut(p: { phoneNumberId: string; waId: string }): Promise<boolean> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return false;
		const row = this.stmt.optOutGet.get(phone, requireId(p.waId, 'waId')) as
			{ opted_out: number } | undefined;
		return row?.opted_out === 1;
	}

	async reserveSendSlot(p: { key: string; intervalMs: number; now?: number }): Promise<number> {
		this.open();
		const key = requireId(p.key, 'key');
		const interval = requireInterval(p.intervalMs);
		const now = p.now ?? Date.now();
		const row = this.stmt.slot.get(key, now, interval, now, interval) as { next_free: number };
		return row.next_free - interval;
	}

	async prune(now: Date = new Date()): Promise<number> {
		this.open();
		const t = requireTime(now, 'now');
		return this.immediate(() => {
			let n = 0;
			n += Number(this.pruneWindows(t));
			n += Number(this.stmt.pruneEvents.run(t).changes);
			n += Number(this.stmt.pruneStatuses.run(t - STATUS_RETENTION_MS).changes);
			n += Number(this.stmt.pruneSlots.run(t).changes);
			n += this.pruneRules(t);
			n += this.pruneReportCounts(t);
			n += Number(this.waitStmt.prune.run(t - WAIT_LINK_RETENTION_MS).changes);
			n += Number(this.waitStmt.pruneResumes.run().changes);
			n += Number(this.identityStmt.prune.run(t - IDENTITY_RETENTION_MS).changes);
			n += Number(this.outboxStmt.prune.run(t - OUTBOX_RETENTION_MS).changes);
			return n;
		});
	}

	// --- Wait links (Send and Wait for Response) ---

	async putWaitLink(link: WaitLink): Promise<void> {
		this.open();
		const l = checkWaitLink(link);
		this.immediate(() => {
			const phone = this.phone(l.phoneNumberId, true)!;
			this.waitStmt.reopen.run(phone, l.messageId);
			this.putLinkRow(phone, l);
		});
	}

	private putLinkRow(phone: number, l: WaitLink): void {
		this.waitStmt.put.run(
			phone,
			l.messageId,
			l.waId,
			l.executionId,
			l.resumeUrl,
			l.secret,
			l.expiresAt,
			l.spec,
			l.sent,
			l.createdAt,
			l.held ?? null,
		);
	}

	async getWaitLink(p: {
		phoneNumberId: string;
		messageId?: string;
		waId?: string;
	}): Promise<WaitLink | undefined> {
		this.open();
		const phoneNumberId = requireId(p.phoneNumberId, 'phoneNumberId');
		const phone = this.phone(phoneNumberId, false);
		if (phone === undefined) return undefined;
		const row =
			p.messageId !== undefined
				? this.waitStmt.byMessage.get(phone, p.messageId)
				: this.waitStmt.byCustomer.get(phone, requireId(p.waId, 'messageId or waId'));
		return row ? waitLinkOf(phoneNumberId, row as unknown as WaitLinkRow) : undefined;
	}

	async claimWaitLink(
		p: { phoneNumberId: string; messageId: string; now?: number } & Partial<WaitResumeClaim>,
	): Promise<WaitLink | undefined> {
		this.open();
		const phoneNumberId = requireId(p.phoneNumberId, 'phoneNumberId');
		const messageId = requireId(p.messageId, 'messageId');
		const phone = this.phone(phoneNumberId, false);
		if (phone === undefined) return undefined;
		const now = p.now ?? Date.now();
		// The claim and its pending resume commit together: a claim is never without what it must deliver.
		return this.immediate(() => {
			const row = this.waitStmt.claim.get(now, phone, messageId, now);
			if (!row) return undefined;
			const link = waitLinkOf(phoneNumberId, row as unknown as WaitLinkRow);
			if (p.resume !== undefined) {
				const leaseUntil = p.leaseUntil ?? now;
				this.waitStmt.pending.run(phone, messageId, p.resume, leaseUntil);
				link.resume = p.resume;
				link.leaseUntil = leaseUntil;
			}
			return link;
		});
	}

	async releaseWaitLink(p: { phoneNumberId: string; messageId: string }): Promise<void> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return;
		const messageId = requireId(p.messageId, 'messageId');
		this.immediate(() => {
			this.waitStmt.release.run(phone, messageId);
			this.waitStmt.reopen.run(phone, messageId);
		});
	}

	async leaseWaitResumes(p: {
		now: number;
		leaseUntil: number;
		limit: number;
	}): Promise<WaitLink[]> {
		this.open();
		return this.immediate(() => {
			const rows = this.waitStmt.lease.all(p.now, p.now, Math.max(0, p.limit)) as unknown as Array<
				WaitLinkRow & { phone: number; phone_number_id: string }
			>;
			return rows.map((r) => {
				this.waitStmt.renew.run(p.leaseUntil, r.phone, r.message_id);
				return { ...waitLinkOf(r.phone_number_id, r), leaseUntil: p.leaseUntil };
			});
		});
	}

	async renewWaitResume(p: {
		phoneNumberId: string;
		messageId: string;
		leaseUntil: number;
	}): Promise<boolean> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return false;
		const { changes } = this.waitStmt.renew.run(
			p.leaseUntil,
			phone,
			requireId(p.messageId, 'messageId'),
		);
		return Number(changes) > 0;
	}

	async endWaitLink(p: {
		phoneNumberId: string;
		messageId: string;
		now?: number;
	}): Promise<boolean> {
		this.open();
		const phone = this.phone(requireId(p.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return false;
		const { changes } = this.waitStmt.end.run(
			p.now ?? Date.now(),
			phone,
			requireId(p.messageId, 'messageId'),
		);
		return Number(changes) > 0;
	}

	async listOpenWaitLinks(p: {
		resumeUrl: string;
		limit: number;
		after?: WaitLinkCursor;
	}): Promise<WaitLink[]> {
		this.open();
		const q = checkOpenWaitLinksQuery(p);
		// Phone ids are never deleted, so the cursor's number is found again; -1 sorts before every id.
		const after = q.after
			? [q.after.expiresAt, this.phone(q.after.phoneNumberId, false) ?? -1, q.after.messageId]
			: [Number.MIN_SAFE_INTEGER, -1, ''];
		const rows = this.waitStmt.open.all(q.resumeUrl, ...after, q.limit) as unknown as Array<
			WaitLinkRow & { phone_number_id: string }
		>;
		return rows.map((r) => waitLinkOf(r.phone_number_id, r));
	}

	private pruneWindows(t: number): number {
		return Number(
			this.stmt.pruneWindows.run(t - WINDOW_RETENTION_MS, t, windowTimeLimits(t).lastInbound)
				.changes,
		);
	}

	/**
	 * `prune` without blocking: indexed deletes at once, then the scanned tables a slice of PRUNE_SLICE_ROWS keys at a
	 * time in key order, yielding to the event loop between slices. Returns the rows deleted.
	 */
	async pruneGradually(
		now: Date = new Date(),
		pause: () => Promise<void> = () => new Promise((r) => setImmediate(r)),
	): Promise<number> {
		this.open();
		const t = requireTime(now, 'now');
		let n =
			this.pruneWindows(t) +
			Number(this.stmt.pruneSlots.run(t).changes) +
			this.pruneRules(t) +
			this.pruneReportCounts(t) +
			Number(this.waitStmt.prune.run(t - WAIT_LINK_RETENTION_MS).changes) +
			Number(this.waitStmt.pruneResumes.run().changes) +
			Number(this.identityStmt.prune.run(t - IDENTITY_RETENTION_MS).changes) +
			Number(this.outboxStmt.prune.run(t - OUTBOX_RETENTION_MS).changes);
		const bounds = { $now: t, $statusesBefore: t - STATUS_RETENTION_MS };
		for (const { table, key, expired } of SCANNED_TABLES) {
			const next = this.db.prepare(
				`SELECT ${key} FROM ${table} WHERE (${key}) > ($phone, $id) ORDER BY ${key} LIMIT 1 OFFSET ${PRUNE_SLICE_ROWS - 1}`,
			);
			const slice = this.db.prepare(
				`DELETE FROM ${table} WHERE (${key}) > ($phone, $id) AND (${key}) <= ($toPhone, $toId) AND ${expired}`,
			);
			const rest = this.db.prepare(
				`DELETE FROM ${table} WHERE (${key}) > ($phone, $id) AND ${expired}`,
			);
			// Before every key: phones are positive integers, and any blob sorts after the empty one.
			let cursor: { phone: number; id: Uint8Array } = { phone: 0, id: new Uint8Array(0) };
			for (;;) {
				if (this.closed) return n;
				const end = next.get({ $phone: cursor.phone, $id: cursor.id }) as
					{ phone: number; id: Uint8Array } | undefined;
				if (!end) {
					n += Number(
						rest.run({ $phone: cursor.phone, $id: cursor.id, ...pick(bounds, expired) }).changes,
					);
					break;
				}
				n += Number(
					slice.run({
						$phone: cursor.phone,
						$id: cursor.id,
						$toPhone: end.phone,
						$toId: end.id,
						...pick(bounds, expired),
					}).changes,
				);
				cursor = end;
				await pause();
			}
		}
		return n;
	}

	// ---- Journey report aggregates ----

	private pruneReportCounts(t: number): number {
		return Number(this.report.pruneCounts.run(utcDay(t - this.reportRetentionMs)).changes);
	}

	private reportStep(phone: number, journey: string, step: string): number {
		const k = `${phone}\u001f${journey}\u001f${step}`;
		const cached = this.reportStepIds.get(k);
		if (cached !== undefined) return cached;
		this.report.stepInsert.run(phone, journey, step);
		const row = this.report.stepSelect.get(phone, journey, step) as { id: number };
		this.reportStepIds.set(k, row.id);
		return row.id;
	}

	/** Counts a message's new stages (inside the caller's transaction). `known` gives the step of an unseen message. */
	private countStages(
		phone: number,
		messageId: string,
		at: number,
		stages: ReportStage[],
		known?: { journey: string; step: string },
	): void {
		const id = idHash(messageId);
		const row = this.report.messageGet.get(phone, id) as
			{ rstep: number | null; stages: number } | undefined;
		const tracked = row?.rstep !== null && row?.rstep !== undefined ? row : undefined;
		if (!tracked && !known) return;
		const step = tracked?.rstep ?? this.reportStep(phone, known!.journey, known!.step);
		const { bits, metrics } = applyReportStages(tracked?.stages ?? 0, stages);
		if (tracked && bits === tracked.stages) return;
		this.report.messagePut.run(phone, id, step, bits, at);
		const day = utcDay(at);
		for (const metric of metrics) this.addCount(step, day, metric, 1);
	}

	/**
	 * Counter increments of one transaction, summed and written when it ends: a webhook POST of 100 statuses of one
	 * journey step then writes a handful of counter rows instead of one upsert per status and stage.
	 */
	private pendingCounts?: Map<string, { step: number; day: number; metric: string; n: number }>;

	private addCount(step: number, day: number, metric: string, n: number): void {
		if (!this.pendingCounts) {
			this.report.count.run(step, day, metric, n);
			return;
		}
		const k = `${step}|${day}|${metric}`;
		const cur = this.pendingCounts.get(k);
		if (cur) cur.n += n;
		else this.pendingCounts.set(k, { step, day, metric, n });
	}

	/** Runs `fn` with counter increments summed, and writes them at its end (inside the caller's transaction). */
	private withSummedCounts<T>(fn: () => T): T {
		this.pendingCounts = new Map();
		try {
			const out = fn();
			for (const c of this.pendingCounts.values())
				this.report.count.run(c.step, c.day, c.metric, c.n);
			return out;
		} finally {
			this.pendingCounts = undefined;
		}
	}

	private reportWrite(phone: number, w: CheckedReportWrite): void {
		if (w.kind === 'journeyReply')
			this.countStages(phone, w.messageId, w.at, [
				{ bit: STAGE.replied, blockedBy: 0, metrics: ['replied'] },
			]);
		else this.countStages(phone, w.messageId, w.at, reportStagesOfStatus(w), w);
	}

	async recordSends(sends: JourneySend[]): Promise<void> {
		this.open();
		const checked = checkSends(sends);
		if (checked.length === 0) return;
		this.immediate(() =>
			this.withSummedCounts(() => {
				for (const s of checked)
					this.countStages(
						this.phone(s.phoneNumberId, true)!,
						s.messageId,
						s.at,
						reportStagesOfStatus({ status: 'sent' }),
						s,
					);
			}),
		);
	}

	async recordPolicyDecision(p: SkippedSendRecord): Promise<void> {
		this.open();
		const d = checkPolicyDecision(p);
		this.immediate(() => {
			const step = this.reportStep(this.phone(d.phoneNumberId, true)!, d.journey, d.step);
			this.report.count.run(step, utcDay(d.at), d.metric, d.count);
		});
	}

	async recordLinkClick(p: LinkClick): Promise<void> {
		this.open();
		const c = checkLinkClick(p);
		this.immediate(() => {
			const phone = this.phone(c.phoneNumberId, true)!;
			const stage = { bit: STAGE.clicked, blockedBy: 0, metrics: ['clicked'] };
			if (c.messageId !== undefined) this.countStages(phone, c.messageId, c.at, [stage], c);
			else
				this.report.count.run(
					this.reportStep(phone, c.journey, c.step),
					utcDay(c.at),
					'clicked',
					1,
				);
		});
	}

	async listReportJourneys(p: { phoneNumberId: string }): Promise<string[]> {
		this.open();
		const phone = this.phone(requireId(p?.phoneNumberId, 'phoneNumberId'), false);
		if (phone === undefined) return [];
		return (this.report.journeys.all(phone) as Array<{ journey: string }>).map((r) => r.journey);
	}

	async getReportCounts(p: ReportCountsQuery): Promise<ReportCount[]> {
		this.open();
		const q = checkReportQuery(p);
		const phone = this.phone(q.phoneNumberId, false);
		if (phone === undefined) return [];
		const rows = this.report.counts.all(phone, q.fromDay, q.toDay) as Array<{
			journey: string;
			step: string;
			day: number;
			metric: string;
			n: number;
		}>;
		return rows
			.filter((r) => !q.journeys || q.journeys.has(r.journey))
			.map((r) => ({
				journey: r.journey,
				step: r.step,
				day: dayString(r.day),
				metric: r.metric,
				count: r.n,
			}));
	}

	/** Starts background pruning (see SqliteStateStoreOptions.maintenanceIntervalMs); the timer never keeps a process alive. */
	private startMaintenance(intervalMs: number): void {
		if (intervalMs <= 0 || this.maintenance) return;
		this.maintenance = setInterval(() => {
			if (this.pruning || this.closed) return;
			this.pruning = true;
			// A busy file (another process writing) simply waits for the next round.
			this.pruneGradually()
				.catch(() => undefined)
				.finally(() => {
					this.pruning = false;
				});
		}, intervalMs);
		this.maintenance.unref();
	}

	async close(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		if (this.maintenance) clearInterval(this.maintenance);
		this.db.close();
	}
}
