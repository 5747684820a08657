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
	checkEventBatch,
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
	type PolicyDecision,
	type ReportCount,
	type ReportCountsQuery,
	type ReportStage,
	reportStagesOfStatus,
	requireRetention,
	STAGE,
	utcDay,
} from './types';

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

const SCHEMA_VERSION = '2';

/** `PRAGMA application_id` of our files ('WJNY'): how a file says it is a journey state store before we write to it. */
const APPLICATION_ID = 0x574a4e59;
/** The tables of a store written before the application id was set: such a file is ours too (and gets the id). */
const OUR_TABLES = ['meta', 'phones', 'windows', 'events', 'statuses', 'opt_outs', 'send_slots'];

/**
 * Journey report aggregates (new tables, so no schema version change: an older file gets them on open). Journey
 * steps are interned per number; a tracked message keeps its step and the stages already counted (bits, see STAGE);
 * counters are one row per step, UTC day (days since the epoch) and metric.
 */
const REPORT_SCHEMA = `
CREATE TABLE IF NOT EXISTS report_steps (
  id INTEGER PRIMARY KEY, phone INTEGER NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL,
  UNIQUE (phone, journey, step));
CREATE TABLE IF NOT EXISTS report_messages (
  phone INTEGER NOT NULL, id BLOB NOT NULL, step INTEGER NOT NULL, stages INTEGER NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (phone, id)) WITHOUT ROWID;
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
  seen INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (phone, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS opt_outs (
  phone INTEGER NOT NULL, wa_id TEXT NOT NULL, opted_out INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT,
  PRIMARY KEY (phone, wa_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS send_slots (key TEXT PRIMARY KEY, next_free INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS send_slots_next_free ON send_slots (next_free);
${REPORT_SCHEMA}`;

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

/** 16 bytes of SHA-256: fixed-size keys whatever Meta's id length, with negligible collision odds. */
function idHash(id: string): Buffer {
	return hash('sha256', id, 'buffer').subarray(0, 16);
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
	{ table: 'statuses', key: 'phone, id', expired: 'at <= $statusesBefore' },
	// A message's report record lives as long as its status (REPORT_MESSAGE_RETENTION_MS = STATUS_RETENTION_MS).
	{ table: 'report_messages', key: 'phone, id', expired: 'at <= $statusesBefore' },
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
		| 'pruneCounts'
		| 'pruneMessages',
		StatementSync
	>;
	/** Report step ids read in this connection; cleared when a transaction rolls back (an id may then be reused). */
	private readonly reportStepIds = new Map<string, number>();
	private readonly reportRetentionMs: number;
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
				this.db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
				this.db
					.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
					.run('schema', SCHEMA_VERSION);
				const found = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
					{ value: string } | undefined;
				// Another connection may have migrated first; the lock makes this check and the migration one step.
				if (found?.value === '1') this.db.exec(MIGRATE_1_TO_2);
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
      AND CASE WHEN excluded.status = ${FAILED} THEN statuses.status = 0 ELSE excluded.status > statuses.status END)`;
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
			// canAdvanceStatus in SQL: nothing replaces failed; failed replaces only sent; otherwise only a higher code.
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
		this.reportRetentionMs = requireRetention(options.reportRetentionMs);
		this.report = {
			stepInsert: p(
				'INSERT INTO report_steps (phone, journey, step) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
			),
			stepSelect: p('SELECT id FROM report_steps WHERE phone = ? AND journey = ? AND step = ?'),
			messageGet: p('SELECT step, stages FROM report_messages WHERE phone = ? AND id = ?'),
			messagePut:
				p(`INSERT INTO report_messages (phone, id, step, stages, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (phone, id) DO UPDATE SET stages = excluded.stages, at = max(report_messages.at, excluded.at)`),
			count: p(`INSERT INTO report_counts (step, day, metric, n) VALUES (?, ?, ?, ?)
        ON CONFLICT (step, day, metric) DO UPDATE SET n = report_counts.n + excluded.n`),
			counts: p(`SELECT s.journey, s.step, c.day, c.metric, c.n FROM report_steps s
        JOIN report_counts c ON c.step = s.id WHERE s.phone = ? AND c.day BETWEEN ? AND ?`),
			journeys: p(`SELECT DISTINCT journey FROM report_steps s WHERE phone = ?
        AND EXISTS (SELECT 1 FROM report_counts c WHERE c.step = s.id) ORDER BY journey`),
			pruneCounts: p('DELETE FROM report_counts WHERE day < ?'),
			pruneMessages: p('DELETE FROM report_messages WHERE at <= ?'),
		};
		this.startMaintenance(options.maintenanceIntervalMs ?? 15 * 60_000);
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
		if (written)
			return statusOutcome(
				written.prev === null ? undefined : STATUS_NAMES[written.prev],
				status,
				true,
			);
		const row = this.stmt.statusGet.get(phone, id) as { status: number } | undefined;
		const previous = row ? STATUS_NAMES[row.status] : undefined;
		// Same rule as the SQL above; a mismatch would mean the two drifted apart.
		if (canAdvanceStatus(previous, status))
			throw new Error(`status ${status} after ${String(previous)} was not written`);
		return statusOutcome(previous, status, false);
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
		return row ? STATUS_NAMES[row.status] : undefined;
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
		const checked = checkEventBatch(items);
		if (checked.length === 0) return [];
		const legacy = this.legacyStatusIdsUntil > Date.now();
		return this.immediate(() => this.withSummedCounts(() => this.applyChecked(checked, legacy)));
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
				const phone = this.phone(w.phoneNumberId, true)!;
				if (w.kind === 'status') {
					statuses.push(
						this.status(phone, idHash(w.messageId), w.status, STATUS_NAMES.indexOf(w.status), w.at),
					);
				} else if (w.kind === 'inbound') {
					this.inbound(phone, w.waId, w.at, w.referral);
				} else if (w.kind === 'journeyStatus' || w.kind === 'journeyReply') {
					this.reportWrite(phone, w);
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
		const previous = row.prev === null ? undefined : STATUS_NAMES[row.prev];
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
			n += Number(this.report.pruneMessages.run(t - STATUS_RETENTION_MS).changes);
			n += this.pruneReportCounts(t);
			return n;
		});
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
			this.pruneReportCounts(t);
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
			{ step: number; stages: number } | undefined;
		if (!row && !known) return;
		const step = row?.step ?? this.reportStep(phone, known!.journey, known!.step);
		const { bits, metrics } = applyReportStages(row?.stages ?? 0, stages);
		if (row && bits === row.stages) return;
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

	async recordPolicyDecision(p: PolicyDecision): Promise<void> {
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
