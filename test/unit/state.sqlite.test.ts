import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
	createStateStore,
	loadNodeSqlite,
	SqliteStateStore,
	type JourneyStateStore,
} from '../../core/state';
import { stateStoreContract } from './state.contract';
import { waitLinkContract } from './state.waitLinks.contract';
import { identityContract } from './state.identity.contract';
import { outboxContract } from './state.outbox.contract';
import { recordStatus, rememberEvent } from './state.helpers';

const dirs: string[] = [];
function tempFile(): string {
	const dir = mkdtempSync(join(tmpdir(), 'wj-state-'));
	dirs.push(dir);
	return join(dir, 'journeys.sqlite');
}
/** A store file as this version creates it, then changed by raw SQL (a table as an older build made it, a newer version). */
async function storeFileChangedBy(sql: string): Promise<string> {
	const path = tempFile();
	await new SqliteStateStore({ path }).close();
	const { DatabaseSync } = loadNodeSqlite();
	const db = new DatabaseSync(path);
	db.exec(sql);
	db.close();
	return path;
}
afterAll(() => {
	for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const paths = new WeakMap<JourneyStateStore, string>();
stateStoreContract('SqliteStateStore', {
	create: async () => {
		const path = tempFile();
		const store = new SqliteStateStore({ path });
		paths.set(store, path);
		return store;
	},
	// A second connection to the same file, as a second n8n worker on the machine would open.
	connect: async (store) => new SqliteStateStore({ path: paths.get(store)! }),
});

waitLinkContract('SqliteStateStore', {
	create: async () => {
		const path = tempFile();
		const store = new SqliteStateStore({ path });
		paths.set(store, path);
		return store;
	},
	// A second connection to the same file, as a second n8n worker on the machine would open.
	connect: async (store) => new SqliteStateStore({ path: paths.get(store)! }),
});

identityContract('SqliteStateStore', {
	create: async () => {
		const path = tempFile();
		const store = new SqliteStateStore({ path });
		paths.set(store, path);
		return store;
	},
	// A second connection to the same file, as a second n8n worker on the machine would open.
	connect: async (store) => new SqliteStateStore({ path: paths.get(store)! }),
});

outboxContract('SqliteStateStore', {
	create: async () => {
		const path = tempFile();
		const store = new SqliteStateStore({ path });
		paths.set(store, path);
		return store;
	},
	// A second connection to the same file, as a second n8n worker on the machine would open.
	connect: async (store) => new SqliteStateStore({ path: paths.get(store)! }),
});

const REPO = join(__dirname, '../..');
const CHILD = join(__dirname, 'state.sqlite.child.ts');

const children: ChildProcessWithoutNullStreams[] = [];
function child(args: string[]): ChildProcessWithoutNullStreams {
	const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD, ...args], {
		cwd: REPO,
		env: { ...process.env, NODE_NO_WARNINGS: '1' },
	});
	children.push(proc);
	return proc;
}
// A failed or timed-out test must not leave writers behind.
afterEach(() => {
	for (const proc of children.splice(0))
		if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

/** Resolves with the child's stdout lines as they come; `until` decides when to stop waiting. */
function lines(
	proc: ChildProcessWithoutNullStreams,
	until: (all: string[]) => boolean,
): Promise<string[]> {
	return new Promise((resolve, reject) => {
		const all: string[] = [];
		let buf = '';
		let err = '';
		proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
		proc.stdout.on('data', (d: Buffer) => {
			buf += d.toString();
			const parts = buf.split('\n');
			buf = parts.pop() ?? '';
			all.push(...parts);
			if (until(all)) resolve(all);
		});
		proc.on('exit', (code, signal) => {
			if (until(all)) resolve(all);
			else reject(new Error(`child exited (${code ?? signal}) early: ${err}`));
		});
	});
}

describe('SqliteStateStore specifics', () => {
	it('keeps everything across close and reopen', async () => {
		const path = tempFile();
		const t = new Date(Date.UTC(2025, 5, 18, 12));
		const a = new SqliteStateStore({ path });
		await a.recordInbound({ phoneNumberId: 'pn', waId: 'wa', at: t, referral: true });
		await rememberEvent(a, { phoneNumberId: 'pn', eventId: 'message:wamid.1', at: t });
		await recordStatus(a, { phoneNumberId: 'pn', messageId: 'wamid.1', status: 'read', at: t });
		await a.setOptOut({ phoneNumberId: 'pn', waId: 'wa', optedOut: true, at: t });
		await a.reserveSendSlot({ key: 'pace', intervalMs: 100, now: 1000 });
		await a.close();

		const b = new SqliteStateStore({ path });
		expect(
			await b.getWindow({ phoneNumberId: 'pn', waId: 'wa', now: new Date(t.getTime() + 3600_000) }),
		).toMatchObject({
			open: true,
			freeEntryPointOpen: true,
		});
		expect(await rememberEvent(b, { phoneNumberId: 'pn', eventId: 'message:wamid.1', at: t })).toBe(
			false,
		);
		expect(await b.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.1' })).toBe('read');
		expect(await b.isOptedOut({ phoneNumberId: 'pn', waId: 'wa' })).toBe(true);
		expect(await b.reserveSendSlot({ key: 'pace', intervalMs: 100, now: 1000 })).toBe(1100);
		await b.close();
	});

	it('upgrades a version 1 file in place: every record kept, statuses still never regress', async () => {
		// The layout 0.1.0 wrote (schema version 1), filled through raw SQL as that version stored it.
		const path = tempFile();
		const { DatabaseSync } = loadNodeSqlite();
		const old = new DatabaseSync(path);
		old.exec(`PRAGMA journal_mode = WAL;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE phones (id INTEGER PRIMARY KEY, phone_number_id TEXT NOT NULL UNIQUE);
      CREATE TABLE windows (phone INTEGER NOT NULL, wa_id TEXT NOT NULL, last_inbound INTEGER NOT NULL,
        fep_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (phone, wa_id)) WITHOUT ROWID;
      CREATE INDEX windows_last_inbound ON windows (last_inbound);
      CREATE TABLE events (phone INTEGER NOT NULL, id BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (phone, id)) WITHOUT ROWID;
      CREATE INDEX events_expires ON events (expires);
      CREATE TABLE statuses (phone INTEGER NOT NULL, id BLOB NOT NULL, status INTEGER NOT NULL, at INTEGER NOT NULL,
        PRIMARY KEY (phone, id)) WITHOUT ROWID;
      CREATE INDEX statuses_at ON statuses (at);
      CREATE TABLE opt_outs (phone INTEGER NOT NULL, wa_id TEXT NOT NULL, opted_out INTEGER NOT NULL, at INTEGER NOT NULL,
        reason TEXT, PRIMARY KEY (phone, wa_id)) WITHOUT ROWID;
      CREATE TABLE send_slots (key TEXT PRIMARY KEY, next_free INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX send_slots_next_free ON send_slots (next_free);
      INSERT INTO meta VALUES ('schema', '1');
      INSERT INTO phones (id, phone_number_id) VALUES (1, 'pn');`);
		// Recent, as at an upgrade: the id rows version 1 wrote for status events are still within their 7 days.
		const t = Date.now() - 3600_000;
		const h = (id: string) => createHash('sha256').update(id, 'utf8').digest().subarray(0, 16);
		old.prepare('INSERT INTO windows VALUES (1, ?, ?, ?)').run('wa', t, t + 72 * 3600_000);
		old
			.prepare('INSERT INTO events VALUES (1, ?, ?)')
			.run(h('status:wamid.1:read'), t + 7 * 86_400_000);
		old
			.prepare('INSERT INTO events VALUES (1, ?, ?)')
			.run(h('wf:n|status:wamid.3:delivered'), t + 7 * 86_400_000);
		old.prepare('INSERT INTO statuses VALUES (1, ?, 1, ?)').run(h('wamid.3'), t); // delivered
		old.prepare('INSERT INTO statuses VALUES (1, ?, 1, ?)').run(h('wf:n|wamid.3'), t);
		old.prepare('INSERT INTO statuses VALUES (1, ?, 2, ?)').run(h('wamid.1'), t); // read
		old.prepare('INSERT INTO statuses VALUES (1, ?, 0, ?)').run(h('wamid.2'), t); // sent
		old.prepare('INSERT INTO opt_outs VALUES (1, ?, 1, ?, ?)').run('wa', t, 'keyword:stop');
		old.close();

		// Two connections open the old file at once (n8n main and a worker after an upgrade): one migrates.
		const [a, b] = [new SqliteStateStore({ path }), new SqliteStateStore({ path })];
		const at = new Date(t + 1000);
		expect(await a.getWindow({ phoneNumberId: 'pn', waId: 'wa', now: at })).toMatchObject({
			open: true,
			freeEntryPointOpen: true,
		});
		expect(
			await rememberEvent(b, { phoneNumberId: 'pn', eventId: 'status:wamid.1:read', at }),
		).toBe(false);
		expect(await a.isOptedOut({ phoneNumberId: 'pn', waId: 'wa' })).toBe(true);
		expect(
			await recordStatus(b, { phoneNumberId: 'pn', messageId: 'wamid.1', status: 'delivered', at }),
		).toEqual({
			applied: false,
			previous: 'read',
			regression: true,
		});
		expect(
			await recordStatus(a, { phoneNumberId: 'pn', messageId: 'wamid.2', status: 'read', at }),
		).toEqual({
			applied: true,
			previous: 'sent',
			regression: false,
		});
		expect(await b.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.2' })).toBe('read');
		// The trigger's status events now de-duplicate by their record (seenBy); one seen before the upgrade is still
		// a repeat, and a status it had not seen is new.
		const trigger = (status: 'delivered' | 'read') => ({
			remember: { phoneNumberId: 'pn', eventId: `wf:n|status:wamid.3:${status}` },
			writes: [
				{ kind: 'status' as const, phoneNumberId: 'pn', messageId: 'wamid.3', status, at },
				{ kind: 'status' as const, phoneNumberId: 'pn', messageId: 'wf:n|wamid.3', status, at },
			],
			seenBy: 1,
		});
		expect(
			(await a.applyEventBatch([trigger('delivered'), trigger('read'), trigger('read')])).map(
				(r) => r.fresh,
			),
		).toEqual([false, true, false]);
		await a.close();
		await b.close();

		const db = new DatabaseSync(path);
		expect(db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()).toEqual({ value: '3' });
		expect(
			db.prepare("SELECT value FROM meta WHERE key = 'legacy_status_ids_until'").get(),
		).toEqual({ value: String(t + 7 * 86_400_000) });
		const indexes = (
			db
				.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
				.all() as Array<{ name: string }>
		).map((r) => r.name);
		// The migration dropped the two version 1 indexes; the journey-rules, wait-link, identities and outbox tables come
		// with their own.
		expect(indexes.sort()).toEqual([
			'identities_at',
			'outbox_at',
			'rule_frequency_at',
			'rule_recipients_at',
			'rule_steps_claimed_at',
			'send_slots_next_free',
			'wait_links_customer',
			'wait_links_resume',
			'wait_resumes_due',
			'windows_last_inbound',
		]);
		expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
		db.close();
		// And it opens again as an ordinary version 3 file.
		const c = new SqliteStateStore({ path });
		expect(await c.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.1' })).toBe('read');
		await c.close();
	});

	it('adds the predecessors column to an identities table made before it, keeping its rows', async () => {
		const path = await storeFileChangedBy(`DROP TABLE identities;
      CREATE TABLE identities (
        phone INTEGER NOT NULL, id TEXT NOT NULL, wa_id TEXT, bsuid TEXT, successor TEXT, at INTEGER NOT NULL,
        PRIMARY KEY (phone, id)) WITHOUT ROWID;
      INSERT INTO phones (id, phone_number_id) VALUES (1, 'pn');
      INSERT INTO identities VALUES (1, '16505551234', NULL, 'US.13491208655302741918', NULL, 5);`);
		const store = new SqliteStateStore({ path });
		expect(await store.getIdentity({ phoneNumberId: 'pn', id: '16505551234' })).toEqual({
			bsuid: 'US.13491208655302741918',
			at: 5,
		});
		await store.linkIdentity({
			phoneNumberId: 'pn',
			bsuid: 'US.24817305912873645029',
			previousBsuid: 'US.13491208655302741918',
			at: new Date(10),
		});
		expect(await store.getIdentity({ phoneNumberId: 'pn', id: 'US.24817305912873645029' })).toEqual(
			{ predecessors: ['US.13491208655302741918'], at: 10 },
		);
		await store.close();
	});

	it('adds left_at to a rule_steps table made before it: an old claim keeps once per step, a new one is stamped', async () => {
		const path = await storeFileChangedBy(`DROP TABLE rule_steps;
      CREATE TABLE rule_steps (
        phone INTEGER NOT NULL, step_key TEXT NOT NULL, state INTEGER NOT NULL, token TEXT NOT NULL,
        claimed_at INTEGER NOT NULL, message_id TEXT, sent_at INTEGER,
        PRIMARY KEY (phone, step_key)) WITHOUT ROWID;
      INSERT INTO phones (id, phone_number_id) VALUES (1, 'pn');
      INSERT INTO rule_steps VALUES (1, 'sent-step', 2, 'tok-old', 5, 'wamid.OLD', 6);`);
		const store = new SqliteStateStore({ path });
		const step = (key: string) => ({ key, reentryPeriodMs: 0, retryWhenOutcomeUnknown: false });
		const base = { phoneNumberId: 'pn', waId: '16505551234', template: true, now: new Date(10) };
		expect(await store.admitSend({ ...base, token: 't1', step: step('sent-step') })).toMatchObject({
			admitted: false,
			state: 'sent',
			messageId: 'wamid.OLD',
		});
		expect(await store.admitSend({ ...base, token: 't2', step: step('new-step') })).toMatchObject({
			admitted: true,
		});
		expect(
			await store.markSendLeaving({
				phoneNumberId: 'pn',
				token: 't2',
				stepKey: 'new-step',
				now: new Date(11),
			}),
		).toBe(true);
		expect(await store.getStep({ phoneNumberId: 'pn', stepKey: 'new-step' })).toMatchObject({
			state: 'pending',
			leftAt: 11,
		});
		await store.close();
	});

	it('refuses a file from a newer version instead of guessing its layout', async () => {
		const path = await storeFileChangedBy("UPDATE meta SET value = '4' WHERE key = 'schema'");
		expect(() => new SqliteStateStore({ path })).toThrow(
			/schema version 4; this version of the nodes reads 3/,
		);
	});

	it("upgrades a version 2 file: a tracked message's report record moves into its status record, counted stages kept", async () => {
		const path = tempFile();
		await new SqliteStateStore({ path }).close();
		const { DatabaseSync } = loadNodeSqlite();
		// Back to the version 2 layout, with the report table a development build of version 2 had.
		const old = new DatabaseSync(path);
		const h = (id: string) => createHash('sha256').update(id, 'utf8').digest().subarray(0, 16);
		const t = Date.now() - 3600_000;
		old.exec(`DROP TABLE statuses;
      CREATE TABLE statuses (phone INTEGER NOT NULL, id BLOB NOT NULL, status INTEGER NOT NULL, at INTEGER NOT NULL,
        prev INTEGER, seen INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (phone, id)) WITHOUT ROWID;
      CREATE TABLE report_messages (phone INTEGER NOT NULL, id BLOB NOT NULL, step INTEGER NOT NULL,
        stages INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (phone, id)) WITHOUT ROWID;
      INSERT INTO phones (id, phone_number_id) VALUES (1, 'pn');
      INSERT INTO report_steps (id, phone, journey, step) VALUES (7, 1, 'j', 's');
      UPDATE meta SET value = '2' WHERE key = 'schema';`);
		// wamid.D: delivered (sent + delivered counted); wamid.S: recorded at send, no status yet.
		old.prepare('INSERT INTO statuses VALUES (1, ?, 1, ?, 0, 3)').run(h('wamid.D'), t);
		old.prepare('INSERT INTO report_messages VALUES (1, ?, 7, 3, ?)').run(h('wamid.D'), t);
		old.prepare('INSERT INTO report_messages VALUES (1, ?, 7, 1, ?)').run(h('wamid.S'), t);
		old
			.prepare("INSERT INTO report_counts VALUES (7, ?, 'sent', 2)")
			.run(Math.floor(t / 86_400_000));
		old
			.prepare("INSERT INTO report_counts VALUES (7, ?, 'delivered', 1)")
			.run(Math.floor(t / 86_400_000));
		old.close();

		const store = new SqliteStateStore({ path });
		const at = new Date(t + 1000);
		const journeyStatus = (messageId: string, status: 'delivered' | 'read') => ({
			writes: [
				{ kind: 'status' as const, phoneNumberId: 'pn', messageId, status, at },
				{
					kind: 'journeyStatus' as const,
					phoneNumberId: 'pn',
					messageId,
					status,
					at,
					journey: 'j',
					step: 's',
				},
			],
		});
		// A repeat of what was counted adds nothing; what was not counted is.
		await store.applyEventBatch([
			journeyStatus('wamid.D', 'delivered'),
			journeyStatus('wamid.S', 'read'),
		]);
		expect(await store.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.D' })).toBe('delivered');
		expect(await store.getStatus({ phoneNumberId: 'pn', messageId: 'wamid.S' })).toBe('read');
		const counts = await store.getReportCounts({ phoneNumberId: 'pn', from: at, to: at });
		expect(Object.fromEntries(counts.map((c) => [c.metric, c.count]))).toEqual({
			sent: 2,
			delivered: 2,
			read: 1,
		});
		await store.close();
		const db = new DatabaseSync(path);
		expect(db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()).toEqual({ value: '3' });
		expect(
			db.prepare("SELECT name FROM sqlite_schema WHERE name = 'report_messages'").get(),
		).toBeUndefined();
		expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
		db.close();
	});

	it('keeps two business numbers apart after a transaction that first stored one of them failed (disk full)', async () => {
		const path = tempFile();
		const store = new SqliteStateStore({ path });
		const { DatabaseSync } = loadNodeSqlite();
		const side = new DatabaseSync(path);
		// The failure SQLite reports when the disk fills, raised inside the batch's transaction after it stored number A.
		side.exec(
			"CREATE TRIGGER disk_full BEFORE INSERT ON opt_outs BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
		);
		const at = new Date();
		await expect(
			store.applyEventBatch([
				{
					writes: [
						{ kind: 'inbound', phoneNumberId: 'number-A', waId: 'wa', at },
						{ kind: 'optOut', phoneNumberId: 'number-A', waId: 'wa', optedOut: true, at },
					],
				},
			]),
		).rejects.toThrow(/disk is full/);
		side.exec('DROP TRIGGER disk_full');
		side.close();

		await store.setOptOut({ phoneNumberId: 'number-B', waId: 'wa', optedOut: true, at });
		await store.recordInbound({ phoneNumberId: 'number-A', waId: 'wa', at });
		expect((await store.getWindow({ phoneNumberId: 'number-B', waId: 'wa' })).open).toBe(false);
		expect(await store.isOptedOut({ phoneNumberId: 'number-A', waId: 'wa' })).toBe(false);
		expect((await store.getWindow({ phoneNumberId: 'number-A', waId: 'wa' })).open).toBe(true);
		expect(await store.isOptedOut({ phoneNumberId: 'number-B', waId: 'wa' })).toBe(true);
		await store.close();
	});

	it("refuses another application's SQLite file before changing it: no table added, journal mode kept", () => {
		const path = tempFile();
		const { DatabaseSync } = loadNodeSqlite();
		const other = new DatabaseSync(path);
		other.exec(
			'CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO customers (email) VALUES (1)',
		);
		other.close();
		expect(() => new SqliteStateStore({ path })).toThrow(
			/^Store File Path: .* is another application's SQLite database \(tables customers\); it was not changed\. Choose a new file path, or leave Store File Path empty for the default file\.$/,
		);
		const after = new DatabaseSync(path);
		expect(after.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all()).toEqual([
			{ name: 'customers' },
		]);
		expect(after.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'delete' });
		after.close();
	});

	it('refuses a file that is not SQLite, and leaves it as it was', () => {
		const path = tempFile();
		writeFileSync(path, 'name,email\nAna,ana@example.com\n');
		expect(() => new SqliteStateStore({ path })).toThrow(
			/^Store File Path: .* is not an SQLite file/,
		);
		expect(readFileSync(path, 'utf8')).toBe('name,email\nAna,ana@example.com\n');
	});

	it('opens a store of ours written before files were marked, and marks it', async () => {
		const path = tempFile();
		const first = new SqliteStateStore({ path });
		await first.recordInbound({ phoneNumberId: 'pn', waId: 'wa', at: new Date() });
		await first.close();
		const { DatabaseSync } = loadNodeSqlite();
		const db = new DatabaseSync(path);
		db.exec('PRAGMA application_id = 0');
		db.close();
		const again = new SqliteStateStore({ path });
		expect((await again.getWindow({ phoneNumberId: 'pn', waId: 'wa' })).open).toBe(true);
		await again.close();
		const check = new DatabaseSync(path);
		expect(check.prepare('PRAGMA application_id').get()).toEqual({ application_id: 0x574a4e59 });
		check.close();
	});

	it('refuses calls after close', async () => {
		const s = new SqliteStateStore({ path: tempFile() });
		await s.close();
		await s.close();
		await expect(s.getStatus({ phoneNumberId: 'pn', messageId: 'm' })).rejects.toThrow(/closed/);
	});

	it('uses WAL so readers are not blocked by a writer', () => {
		const path = tempFile();
		const s = new SqliteStateStore({ path });
		const { DatabaseSync } = loadNodeSqlite();
		const db = new DatabaseSync(path);
		expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
		db.close();
		return s.close();
	});

	it('stays small: a customer with a window, a status and a seen event takes under 230 bytes', async () => {
		// Measured about 64 bytes per window, 73 per status and 70 per event id (indexes included).
		const path = tempFile();
		const s = new SqliteStateStore({ path });
		const t = new Date(Date.UTC(2025, 5, 18));
		const n = 5_000;
		for (let i = 0; i < n; i++) {
			const wamid = `wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYx${i}`;
			await s.recordInbound({
				phoneNumberId: '106540352242922',
				waId: String(447_700_000_000 + i),
				at: t,
			});
			await recordStatus(s, {
				phoneNumberId: '106540352242922',
				messageId: wamid,
				status: 'sent',
				at: t,
			});
			await rememberEvent(s, {
				phoneNumberId: '106540352242922',
				eventId: `status:${wamid}:sent`,
				at: t,
			});
		}
		await s.close(); // checkpoints the WAL into the main file
		expect(statSync(path).size / n).toBeLessThan(230);
	}, 60_000);

	it('gives each event to exactly one of three processes and distinct send slots to all', async () => {
		const path = tempFile();
		await new SqliteStateStore({ path }).close(); // create the schema once
		const procs = [0, 1, 2].map((w) => child(['race', path, String(w)]));
		const outputs = procs.map((p) => lines(p, (all) => all.some((l) => l.startsWith('{'))));
		await Promise.all(procs.map((p) => lines(p, (all) => all.includes('ready'))));
		for (const p of procs) p.stdin.write('go\n');
		const results = (await Promise.all(outputs)).map(
			(all) =>
				JSON.parse(all.find((l) => l.startsWith('{'))!) as { fresh: string[]; slots: number[] },
		);

		const fresh = results.flatMap((r) => r.fresh);
		expect(fresh).toHaveLength(2000);
		expect(new Set(fresh).size).toBe(2000);

		const slots = results.flatMap((r) => r.slots).sort((a, b) => a - b);
		expect(slots).toHaveLength(300);
		expect(slots[0]).toBe(1_000_000);
		for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(12.5);
	}, 60_000);

	it('journey rules across three processes: each step admitted once, never more recipients than the limit', async () => {
		const path = tempFile();
		await new SqliteStateStore({ path }).close();
		const procs = [0, 1, 2].map((w) => child(['claims', path, String(w)]));
		const outputs = procs.map((p) => lines(p, (all) => all.some((l) => l.startsWith('{'))));
		await Promise.all(procs.map((p) => lines(p, (all) => all.includes('ready'))));
		for (const p of procs) p.stdin.write('go\n');
		const admitted = (await Promise.all(outputs)).flatMap(
			(all) => (JSON.parse(all.find((l) => l.startsWith('{'))!) as { admitted: string[] }).admitted,
		);
		expect(admitted).toHaveLength(100);
		expect(new Set(admitted).size).toBe(100);
	}, 60_000);

	it('survives a writer killed with SIGKILL mid-write: file intact, every committed write present', async () => {
		const path = tempFile();
		await new SqliteStateStore({ path }).close();
		const proc = child(['write', path]);
		const committed = await lines(proc, (all) => all.length >= 300);
		proc.kill('SIGKILL');
		await new Promise((resolve) => proc.once('exit', resolve));

		const { DatabaseSync } = loadNodeSqlite();
		const db = new DatabaseSync(path);
		expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
		db.close();

		const s = new SqliteStateStore({ path });
		for (const line of committed.filter((l) => /^\d+$/.test(l))) {
			expect(await s.getStatus({ phoneNumberId: 'pn', messageId: `wamid.${line}` })).toBe('sent');
			expect(
				await rememberEvent(s, { phoneNumberId: 'pn', eventId: `message:wamid.${line}` }),
			).toBe(false);
		}
		await s.close();
	}, 60_000);

	it('says which Node it needs when node:sqlite is missing', () => {
		expect(() => loadNodeSqlite(() => undefined)).toThrow(
			/embedded state store needs Node ≥ 22\.13 \(n8n 2\.x runs on Node 24\).*On older Node use the Redis store\./,
		);
		expect(() => loadNodeSqlite(() => ({}))).toThrow(/Redis store/);
		expect(() =>
			loadNodeSqlite(() => {
				throw new Error('No such built-in module: node:sqlite');
			}),
		).toThrow(/Node ≥ 22\.13/);
	});

	it('is what createStateStore builds for the embedded backend', async () => {
		const s = createStateStore({ backend: 'embedded', path: tempFile() });
		expect(s).toBeInstanceOf(SqliteStateStore);
		await s.close();
	});

	it('asks for a path', () => {
		expect(() => new SqliteStateStore({ path: '' })).toThrow(/path is required/);
	});
});

describe('SqliteStateStore background pruning', () => {
	const DAY = 86_400_000;
	const PN = '106540352242922';

	it('deletes exactly the expired rows a slice at a time, yielding between slices', async () => {
		const store = new SqliteStateStore({ path: tempFile(), maintenanceIntervalMs: 0 });
		const t0 = Date.UTC(2026, 0, 1);
		// 12,000 statuses from day 0 (expire after 30 days) and 3,000 from day 20; event ids from day 0 (expire after 8 days).
		const old = Array.from({ length: 12_000 }, (_, i) => ({ messageId: `wamid.old.${i}`, at: t0 }));
		const fresh = Array.from({ length: 3_000 }, (_, i) => ({
			messageId: `wamid.new.${i}`,
			at: t0 + 20 * DAY,
		}));
		for (const s of [...old, ...fresh])
			await recordStatus(store, {
				phoneNumberId: PN,
				messageId: s.messageId,
				status: 'delivered',
				at: new Date(s.at),
			});
		for (let i = 0; i < 6_000; i++)
			await rememberEvent(store, {
				phoneNumberId: PN,
				eventId: `message:wamid.in.${i}`,
				at: new Date(t0),
			});

		let pauses = 0;
		const deleted = await store.pruneGradually(new Date(t0 + 31 * DAY), async () => {
			pauses++;
		});
		expect(deleted).toBe(12_000 + 6_000);
		expect(pauses).toBeGreaterThanOrEqual(3); // 15,000 status keys and 6,000 event keys in slices of 5,000
		expect(
			await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.old.11999' }),
		).toBeUndefined();
		expect(await store.getStatus({ phoneNumberId: PN, messageId: 'wamid.new.2999' })).toBe(
			'delivered',
		);
		expect(await store.prune(new Date(t0 + 31 * DAY))).toBe(0); // nothing left that the full prune would remove
		await store.close();
	});

	it('runs by itself in the background and stops when the store closes', async () => {
		jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
		try {
			const store = new SqliteStateStore({ path: tempFile(), maintenanceIntervalMs: 60_000 });
			await store.reserveSendSlot({ key: 'pace:old', intervalMs: 1, now: Date.now() - 10_000 });
			const spy = jest.spyOn(store, 'pruneGradually');
			jest.advanceTimersByTime(60_000);
			expect(spy).toHaveBeenCalledTimes(1);
			await spy.mock.results[0].value;
			await store.close();
			jest.advanceTimersByTime(120_000);
			expect(spy).toHaveBeenCalledTimes(1);
		} finally {
			jest.useRealTimers();
		}
	});
});
