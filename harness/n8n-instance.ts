import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { track } from './cleanup';
import { createDatabase, dropDatabase, psql, psqlJson, type PostgresTarget } from './database';
import { packAndInstall, type InstalledPackage } from './package';
import { freePort } from './ports';
import {
	assertSucceeded,
	runCommand,
	spawnManaged,
	tail,
	type CommandResult,
	type ManagedProcess,
} from './process';
import { provisionN8n, type N8nInstallation } from './provision';
import {
	extractRunJson,
	parseStoredExecutionData,
	runExecutionDataSchema,
	runSchema,
	type Run,
	type RunExecutionData,
} from './run-data';

export type ExecutionsMode = 'regular' | 'queue';

export interface N8nInstanceOptions {
	/** Appears in the database name and temp folder, to find leftovers of a given test file. */
	readonly label?: string;
	/** `queue` runs executions on workers through Redis (Bull), like a scaled n8n. */
	readonly mode?: ExecutionsMode;
	/** Extra environment for every n8n process of this instance. */
	readonly env?: Readonly<Record<string, string>>;
}

/** Workflow JSON as n8n exports it; `id` is required by `n8n import:workflow` (generated when missing). */
export interface WorkflowJson {
	id?: string;
	name: string;
	nodes: unknown[];
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
	active?: boolean;
	[key: string]: unknown;
}

/** A credential with plain `data`; `n8n import:credentials` encrypts object data with the instance key. */
export interface CredentialJson {
	id: string;
	name: string;
	type: string;
	data: Record<string, unknown>;
}

export interface ExecuteResult {
	readonly run: Run;
	readonly data: RunExecutionData;
	/**
	 * The CLI's exit. With n8n's default `vm` expression engine (isolated-vm) `n8n execute` on n8n 2.40.7 / Node 24.21
	 * usually dies with SIGSEGV while exiting, after it has printed the complete run (5 of 5 runs here; 0 of 5 with
	 * N8N_EXPRESSION_ENGINE=legacy). Judge the workflow by `run.status`, not by the exit.
	 */
	readonly exitCode: number | null;
	readonly exitSignal: NodeJS.Signals | null;
	readonly durationMs: number;
	readonly stdout: string;
	readonly stderr: string;
	/** Where the run came from: the CLI's printout, or n8n's database when the CLI printed none. */
	readonly source: 'stdout' | 'database';
}

export interface StoredExecution {
	readonly id: number;
	readonly workflowId: string;
	readonly mode: string;
	readonly status: string;
	readonly finished: boolean;
	readonly startedAt: string | null;
	readonly stoppedAt: string | null;
}

export interface StoredExecutionWithData extends StoredExecution {
	readonly data: RunExecutionData;
}

export interface NodeTypeSummary {
	readonly name: string;
	readonly displayName: string;
	readonly version: number | number[];
}

const storedExecutionSchema = z.object({
	id: z.number().int(),
	workflowId: z.string(),
	mode: z.string(),
	status: z.string(),
	finished: z.boolean(),
	startedAt: z.string().nullable(),
	stoppedAt: z.string().nullable(),
});

const nodeTypeSummarySchema = z
	.object({
		name: z.string(),
		displayName: z.string(),
		version: z.union([z.number(), z.array(z.number())]),
	})
	.passthrough();

const ID_PATTERN = /^[A-Za-z0-9_-]{1,36}$/;
/** Statuses after which n8n will not touch an execution again. */
const FINAL_STATUSES = new Set(['success', 'error', 'crashed', 'canceled']);

function checkId(kind: string, id: string): string {
	if (!ID_PATTERN.test(id))
		throw new Error(
			`${kind} id "${id}" must match ${ID_PATTERN} (it is inlined into SQL and file names)`,
		);
	return id;
}

export function newWorkflowId(): string {
	// n8n's own ids are 16 alphanumerics; keep the same shape.
	return randomBytes(12)
		.toString('base64')
		.replace(/[^A-Za-z0-9]/g, '')
		.padEnd(16, 'x')
		.slice(0, 16);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function httpText(
	url: string,
	init?: RequestInit,
): Promise<{ status: number; text: string } | undefined> {
	try {
		const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
		return { status: response.status, text: await response.text() };
	} catch {
		return undefined;
	}
}

/**
 * One real n8n: its own PostgreSQL database, user folder, ports and encryption key. CLI commands, the main
 * process (`start`) and queue workers all share that state, as they would on a server.
 *
 * Reading results: `execute()` parses what `n8n execute --rawOutput` prints; for runs started any other way
 * (webhooks, workers) `waitForExecution()` reads n8n's `execution_entity` / `execution_data` tables directly.
 * We chose the database over n8n's public REST API because the API needs an owner account and an API key
 * (`createApiKey()` makes one, for tests of code that uses the API) and returns the same data n8n wrote to these tables.
 */
export class N8nInstance {
	readonly encryptionKey = randomBytes(24).toString('hex');
	readonly bullPrefix: string;
	private main: ManagedProcess | undefined;
	private readonly workers: ManagedProcess[] = [];
	private owner: { email: string; password: string; cookie: string } | undefined;
	private disposed = false;
	private readonly untrack: () => void;
	/** Milliseconds the last `start()` took until n8n answered ready. */
	lastStartMs = 0;

	private constructor(
		readonly installation: N8nInstallation,
		readonly database: PostgresTarget,
		readonly userFolder: string,
		readonly port: number,
		readonly brokerPort: number,
		readonly mode: ExecutionsMode,
		private readonly extraEnv: Readonly<Record<string, string>>,
	) {
		this.bullPrefix = `bull_e2e_${database.database.slice('n8n_e2e_'.length)}`;
		this.untrack = track({
			label: `n8n instance ${database.database}`,
			dispose: () => this.dispose(),
			disposeSync: () => {
				rmSync(this.userFolder, { recursive: true, force: true });
				if (this.mode === 'queue')
					spawnSync('redis-cli', this.redisDeleteArgs(), { stdio: 'ignore', timeout: 10_000 });
			},
		});
	}

	static async create(options: N8nInstanceOptions = {}): Promise<N8nInstance> {
		const installation = await provisionN8n();
		const label = options.label ?? 'run';
		const database = await createDatabase(label);
		const userFolder = mkdtempSync(
			path.join(os.tmpdir(), `n8n-e2e-${label.replace(/[^a-z0-9]+/gi, '-')}-`),
		);
		const [port, brokerPort] = [await freePort(), await freePort()];
		return new N8nInstance(
			installation,
			database,
			userFolder,
			port,
			brokerPort,
			options.mode ?? 'regular',
			options.env ?? {},
		);
	}

	get baseUrl(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	get isRunning(): boolean {
		return this.main !== undefined && !this.main.hasExited;
	}

	/** The main process's pid while it runs (a benchmark reads its CPU time). */
	get mainPid(): number | undefined {
		return this.main?.pid;
	}

	/** Output of the main process so far (for diagnosing a failed test). */
	get mainLogs(): string {
		return this.main?.logs ?? '';
	}

	/**
	 * Environment for every n8n process of this instance. Each process needs its own task-broker port
	 * (n8n's default 5679 would clash between a running `start`, a CLI `execute` and workers).
	 */
	env(overrides: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
		const inherited: NodeJS.ProcessEnv = {};
		for (const [key, value] of Object.entries(process.env)) {
			// Never let the developer's own n8n/DB/queue settings, or npm/jest's, leak into the test instance.
			// NODE_ENV=test (set by jest) in particular makes n8n skip its node loader and database setup.
			if (
				/^(N8N_|DB_|EXECUTIONS_|QUEUE_|WEBHOOK_URL$|npm_|JEST_|NODE_ENV$|NODE_OPTIONS$|NODE_PATH$)/i.test(
					key,
				)
			)
				continue;
			inherited[key] = value;
		}
		const queue: Record<string, string> =
			this.mode === 'queue'
				? {
						EXECUTIONS_MODE: 'queue',
						QUEUE_BULL_REDIS_HOST: process.env.E2E_REDIS_HOST ?? '127.0.0.1',
						QUEUE_BULL_REDIS_PORT: process.env.E2E_REDIS_PORT ?? '6379',
						QUEUE_BULL_PREFIX: this.bullPrefix,
					}
				: { EXECUTIONS_MODE: 'regular' };
		return {
			...inherited,
			// n8n's internal task runner is spawned as plain `node`: it must find Node 24, not /usr/bin/node (20).
			PATH: `${path.dirname(this.installation.nodeBin)}${path.delimiter}${process.env.PATH ?? ''}`,
			TZ: 'UTC',
			GENERIC_TIMEZONE: 'UTC',
			DB_TYPE: 'postgresdb',
			DB_POSTGRESDB_HOST: this.database.host,
			DB_POSTGRESDB_PORT: String(this.database.port),
			DB_POSTGRESDB_DATABASE: this.database.database,
			DB_POSTGRESDB_USER: this.database.user,
			DB_POSTGRESDB_PASSWORD: '',
			N8N_USER_FOLDER: this.userFolder,
			N8N_ENCRYPTION_KEY: this.encryptionKey,
			N8N_PORT: String(this.port),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_PROTOCOL: 'http',
			N8N_HOST: '127.0.0.1',
			WEBHOOK_URL: `${this.baseUrl}/`,
			N8N_RUNNERS_BROKER_PORT: String(this.brokerPort),
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_HIRING_BANNER_ENABLED: 'false',
			N8N_SECURE_COOKIE: 'false',
			N8N_LOG_LEVEL: 'warn',
			N8N_LOG_OUTPUT: 'console',
			N8N_COMMUNITY_PACKAGES_ENABLED: 'true',
			N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
			// Only what we put in ~/.n8n/nodes is loaded; n8n must not try to fetch packages from the registry.
			N8N_REINSTALL_MISSING_PACKAGES: 'false',
			N8N_GRACEFUL_SHUTDOWN_TIMEOUT: '10',
			...queue,
			...this.extraEnv,
			...overrides,
		};
	}

	/** `npm pack` the repository and install it as a community package in this instance's user folder. */
	async installPackage(projectDir?: string): Promise<InstalledPackage> {
		if (this.isRunning)
			throw new Error('install packages before start(): n8n scans ~/.n8n/nodes only at startup');
		return packAndInstall(this.userFolder, projectDir);
	}

	/**
	 * Runs `node <n8n> <args>` with Node 24 against this instance's state. Each call gets its own broker port so it
	 * can run next to a started instance. `logLevel: 'info'` is needed to see anything the CLI "logs" (n8n's
	 * commands print results through the logger at info level).
	 */
	async cli(
		args: readonly string[],
		options: { logLevel?: string; timeoutMs?: number; env?: Readonly<Record<string, string>> } = {},
	): Promise<CommandResult> {
		const brokerPort = await freePort();
		return runCommand(this.installation.nodeBin, [this.installation.n8nBin, ...args], {
			cwd: this.userFolder,
			env: this.env({
				N8N_RUNNERS_BROKER_PORT: String(brokerPort),
				N8N_LOG_LEVEL: options.logLevel ?? 'warn',
				...options.env,
			}),
			timeoutMs: options.timeoutMs ?? 180_000,
		});
	}

	private writeTempJson(name: string, value: unknown): string {
		const file = path.join(this.userFolder, 'e2e-imports', name);
		mkdirSync(path.dirname(file), { recursive: true });
		writeFileSync(file, JSON.stringify(value, null, 2));
		return file;
	}

	/** Imports one workflow (`n8n import:workflow`) and returns its id; verified in the database afterwards. */
	async importWorkflow(workflow: WorkflowJson): Promise<string> {
		const [id] = await this.importWorkflows([workflow]);
		return id ?? '';
	}

	/**
	 * Imports several workflows in one CLI call (each call boots n8n for seconds, so batch them) and returns their
	 * ids in order; all are verified in the database afterwards.
	 */
	async importWorkflows(workflows: readonly WorkflowJson[]): Promise<string[]> {
		const prepared = workflows.map((workflow) => ({
			active: false,
			settings: {},
			...workflow,
			id: checkId('workflow', workflow.id ?? newWorkflowId()),
		}));
		const ids = prepared.map((workflow) => workflow.id);
		const file = this.writeTempJson(`workflows-${newWorkflowId()}.json`, prepared);
		const result = await this.cli(['import:workflow', `--input=${file}`], { logLevel: 'info' });
		const list = ids.map((id) => `'${id}'`).join(',');
		const count =
			result.code === 0
				? Number(
						await psql(
							this.database.database,
							`SELECT count(*) FROM workflow_entity WHERE id IN (${list})`,
						),
					)
				: -1;
		if (count !== new Set(ids).size) {
			throw new Error(
				`import:workflow stored ${count}/${ids.length} workflows (exit ${result.code ?? result.signal})\n${tail(result.stdout)}\n${tail(result.stderr)}`,
			);
		}
		return ids;
	}

	/**
	 * Imports credentials with plain `data`. n8n 2.40's import:credentials encrypts object-valued `data` with
	 * N8N_ENCRYPTION_KEY itself (ImportCredentialsCommand.readCredentials → Cipher.encryptV2), so no pre-encryption.
	 */
	async importCredentials(credentials: readonly CredentialJson[]): Promise<void> {
		for (const credential of credentials) checkId('credential', credential.id);
		const file = this.writeTempJson(`credentials-${newWorkflowId()}.json`, credentials);
		const result = await this.cli(['import:credentials', `--input=${file}`], { logLevel: 'info' });
		const ids = credentials.map((c) => `'${c.id}'`).join(',');
		const count =
			result.code === 0
				? Number(
						await psql(
							this.database.database,
							`SELECT count(*) FROM credentials_entity WHERE id IN (${ids})`,
						),
					)
				: 0;
		if (count !== credentials.length) {
			throw new Error(
				`import:credentials stored ${count}/${credentials.length} credentials (exit ${result.code})\n${tail(result.stdout)}\n${tail(result.stderr)}`,
			);
		}
	}

	/**
	 * `n8n execute --id=<id> --rawOutput`: runs the workflow in a fresh CLI process (its start node must be a manual
	 * trigger or similar) and returns n8n's run data. A failed workflow does not throw: `run.status` is `error` and
	 * `data.resultData.error` says why. When the CLI prints no run, the execution n8n saved is read from the
	 * database instead. Throws only when neither exists.
	 */
	async execute(workflowId: string, options: { timeoutMs?: number } = {}): Promise<ExecuteResult> {
		checkId('workflow', workflowId);
		const before = await this.lastExecutionId();
		const result = await this.cli(['execute', `--id=${workflowId}`, '--rawOutput'], {
			logLevel: 'info',
			timeoutMs: options.timeoutMs,
		});
		const common = {
			exitCode: result.code,
			exitSignal: result.signal,
			durationMs: result.durationMs,
			stdout: result.stdout,
			stderr: result.stderr,
		};
		let printed: unknown;
		try {
			printed = extractRunJson(result.stdout);
		} catch {
			printed = undefined;
		}
		if (printed !== undefined) {
			const run = runSchema.parse(printed);
			return { ...common, run, data: run.data, source: 'stdout' };
		}
		// Some failures end the CLI before it prints the run ("No active execution found"); n8n still saved it.
		const stored = (await this.executions({ workflowId, afterId: before })).at(-1);
		if (stored) {
			const { data, ...summary } = await this.execution(stored.id);
			const run = runSchema.parse({
				...summary,
				data,
				startedAt: summary.startedAt ?? undefined,
				stoppedAt: summary.stoppedAt ?? undefined,
			});
			return { ...common, run, data, source: 'database' };
		}
		throw new Error(
			`n8n execute --id=${workflowId} printed no run data and saved no execution (exit ${result.code ?? result.signal})\n--- stdout ---\n${tail(result.stdout, 60)}\n--- stderr ---\n${tail(result.stderr)}`,
		);
	}

	/**
	 * Starts `n8n execute --id=<id>` without waiting for it, so a test can kill it mid-run (`killGroup(pid, 'SIGKILL')`
	 * is a crash: no shutdown hook runs). Wait for it with `stop()` or read what n8n saved with `executions()`.
	 */
	async startExecute(workflowId: string): Promise<ManagedProcess> {
		checkId('workflow', workflowId);
		const brokerPort = await freePort();
		return spawnManaged(
			`n8n execute ${workflowId}`,
			this.installation.nodeBin,
			[this.installation.n8nBin, 'execute', `--id=${workflowId}`, '--rawOutput'],
			{ cwd: this.userFolder, env: this.env({ N8N_RUNNERS_BROKER_PORT: String(brokerPort) }) },
		);
	}

	/**
	 * Makes a workflow active (n8n 2.x "publish"; `update:workflow --active` is deprecated). The running process
	 * only picks it up at startup, so publish before `start()`.
	 */
	async publishWorkflow(workflowId: string): Promise<void> {
		checkId('workflow', workflowId);
		if (this.isRunning)
			throw new Error(
				'publish before start(): a running n8n does not see CLI activations until restarted',
			);
		const result = await this.cli(['publish:workflow', `--id=${workflowId}`], { logLevel: 'info' });
		const active =
			result.code === 0
				? await psql(
						this.database.database,
						`SELECT "activeVersionId" IS NOT NULL FROM workflow_entity WHERE id = '${workflowId}'`,
					)
				: '-';
		if (active !== 't') {
			throw new Error(
				`publish:workflow did not activate ${workflowId} (exit ${result.code})\n${tail(result.stdout)}\n${tail(result.stderr)}`,
			);
		}
	}

	/** `n8n start`; resolves once /healthz and /healthz/readiness both answer ok (DB connected, migrations done). */
	async start(options: { timeoutMs?: number } = {}): Promise<void> {
		if (this.isRunning) throw new Error('already started');
		const started = Date.now();
		this.main = spawnManaged(
			`n8n start :${this.port}`,
			this.installation.nodeBin,
			[this.installation.n8nBin, 'start'],
			{
				cwd: this.userFolder,
				env: this.env(),
			},
		);
		await this.waitForHealth(this.main, this.baseUrl, options.timeoutMs ?? 120_000);
		this.lastStartMs = Date.now() - started;
	}

	/** Starts a queue-mode worker (needs `mode: 'queue'`); resolves when its health endpoint answers. */
	async startWorker(
		options: { concurrency?: number; timeoutMs?: number } = {},
	): Promise<ManagedProcess> {
		if (this.mode !== 'queue')
			throw new Error("startWorker() needs an instance created with mode: 'queue'");
		const [brokerPort, healthPort] = [await freePort(), await freePort()];
		const worker = spawnManaged(
			`n8n worker #${this.workers.length + 1}`,
			this.installation.nodeBin,
			[this.installation.n8nBin, 'worker', `--concurrency=${options.concurrency ?? 5}`],
			{
				cwd: this.userFolder,
				env: this.env({
					N8N_RUNNERS_BROKER_PORT: String(brokerPort),
					QUEUE_HEALTH_CHECK_ACTIVE: 'true',
					QUEUE_HEALTH_CHECK_PORT: String(healthPort),
					N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
				}),
			},
		);
		this.workers.push(worker);
		await this.waitForHealth(
			worker,
			`http://127.0.0.1:${healthPort}`,
			options.timeoutMs ?? 120_000,
		);
		return worker;
	}

	private async waitForHealth(
		processHandle: ManagedProcess,
		baseUrl: string,
		timeoutMs: number,
	): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			if (processHandle.hasExited) {
				throw new Error(
					`${processHandle.label} exited before it was ready\n${tail(processHandle.logs, 80)}`,
				);
			}
			const health = await httpText(`${baseUrl}/healthz`);
			if (health?.status === 200 && health.text.includes('"ok"')) {
				const readiness = await httpText(`${baseUrl}/healthz/readiness`);
				if (readiness?.status === 200 && readiness.text.includes('"ok"')) return;
			}
			await sleep(250);
		}
		await processHandle.stop();
		throw new Error(
			`${processHandle.label} was not ready within ${timeoutMs} ms\n${tail(processHandle.logs, 80)}`,
		);
	}

	/** Production webhook of an active workflow. */
	webhookUrl(webhookPath: string): string {
		return `${this.baseUrl}/webhook/${webhookPath.replace(/^\/+/, '')}`;
	}

	/**
	 * Waits until n8n serves a production webhook. n8n reports ready before it has registered the webhooks of active
	 * workflows, and answers 404 for them until then; any other status means the route is there.
	 */
	async waitForWebhook(
		webhookPath: string,
		options: { method?: 'GET' | 'POST'; timeoutMs?: number } = {},
	): Promise<void> {
		const deadline = Date.now() + (options.timeoutMs ?? 60_000);
		const method = options.method ?? 'GET';
		for (;;) {
			const answer = await httpText(this.webhookUrl(webhookPath), {
				method,
				...(method === 'POST'
					? { body: '{}', headers: { 'content-type': 'application/json' } }
					: {}),
			});
			if (answer && answer.status !== 404) return;
			if (Date.now() > deadline)
				throw new Error(
					`n8n did not register ${method} /webhook/${webhookPath} in time\n${tail(this.main?.logs ?? '', 40)}`,
				);
			await sleep(250);
		}
	}

	/** Test webhook (only listens while the editor waits for a test event). */
	webhookTestUrl(webhookPath: string): string {
		return `${this.baseUrl}/webhook-test/${webhookPath.replace(/^\/+/, '')}`;
	}

	/**
	 * Signs in to the running n8n's internal REST API as the instance owner, creating the owner on first use
	 * (a fresh n8n has none). Returns the auth cookie for `rest()`.
	 */
	async ownerCookie(): Promise<string> {
		if (!this.isRunning) throw new Error('start() n8n before calling its REST API');
		if (this.owner) return this.owner.cookie;
		const email = 'owner@e2e.test';
		const password = `E2e-${randomBytes(8).toString('hex')}`;
		const response = await fetch(`${this.baseUrl}/rest/owner/setup`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ email, firstName: 'E2E', lastName: 'Owner', password }),
		});
		const cookie = response.headers
			.getSetCookie()
			.find((c) => c.startsWith('n8n-auth='))
			?.split(';')[0];
		if (!response.ok || !cookie)
			throw new Error(`owner setup failed: HTTP ${response.status} ${await response.text()}`);
		this.owner = { email, password, cookie };
		return cookie;
	}

	/** A call to n8n's internal REST API (the one the editor uses) as the owner. */
	async rest(method: string, restPath: string, body?: unknown): Promise<unknown> {
		const cookie = await this.ownerCookie();
		const response = await fetch(`${this.baseUrl}${restPath}`, {
			method,
			headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		if (!response.ok)
			throw new Error(`${method} ${restPath} → HTTP ${response.status}: ${text.slice(0, 500)}`);
		return text === '' ? null : (JSON.parse(text) as unknown);
	}

	/**
	 * Creates a public-API key for the owner (what Settings → n8n API → Create an API key does: POST /rest/api-keys
	 * with every scope the owner's role may grant) and returns the raw key for the `X-N8N-API-KEY` header.
	 */
	async createApiKey(label = 'e2e'): Promise<string> {
		const unwrap = (body: unknown): unknown =>
			typeof body === 'object' && body !== null && 'data' in body ? body.data : body;
		const scopes = z
			.array(z.string())
			.parse(unwrap(await this.rest('GET', '/rest/api-keys/scopes')));
		const created = z
			.object({ rawApiKey: z.string().min(1) })
			.passthrough()
			.parse(unwrap(await this.rest('POST', '/rest/api-keys', { label, scopes, expiresAt: null })));
		return created.rawApiKey;
	}

	/**
	 * Node types as the editor receives them (GET /types/nodes.json of the running n8n; it needs a signed-in user
	 * in 2.x). Community nodes appear as `<package name>.<node name>`.
	 */
	async nodeTypes(): Promise<NodeTypeSummary[]> {
		return z.array(nodeTypeSummarySchema).parse(await this.rest('GET', '/types/nodes.json'));
	}

	/** Node types n8n loads, without a running server (`n8n export:nodes`, same loader as `start`). */
	async exportNodeTypes(): Promise<NodeTypeSummary[]> {
		const file = path.join(this.userFolder, 'e2e-imports', `nodes-${newWorkflowId()}.json`);
		assertSucceeded(await this.cli(['export:nodes', `--output=${file}`]));
		return z.array(nodeTypeSummarySchema).parse(JSON.parse(readFileSync(file, 'utf8')));
	}

	/** Executions n8n recorded, oldest first (optionally of one workflow / newer than an id). */
	async executions(
		filter: { workflowId?: string; afterId?: number } = {},
	): Promise<StoredExecution[]> {
		const where = ['"deletedAt" IS NULL'];
		if (filter.workflowId !== undefined)
			where.push(`"workflowId" = '${checkId('workflow', filter.workflowId)}'`);
		if (filter.afterId !== undefined) where.push(`id > ${Math.trunc(filter.afterId)}`);
		const rows = await psqlJson(
			this.database.database,
			`SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM (SELECT id, "workflowId", mode, status, finished, "startedAt", "stoppedAt" FROM execution_entity WHERE ${where.join(' AND ')}) t`,
		);
		return z.array(storedExecutionSchema).parse(rows);
	}

	/** Highest execution id so far (0 when none): pass it as `afterId` to wait for the next run. */
	async lastExecutionId(): Promise<number> {
		return Number(
			(await psql(this.database.database, 'SELECT coalesce(max(id), 0) FROM execution_entity')) ||
				0,
		);
	}

	/** One execution with its run data, decoded from n8n's `execution_data` table. */
	async execution(id: number): Promise<StoredExecutionWithData> {
		const rows = await psqlJson(
			this.database.database,
			`SELECT coalesce(json_agg(t), '[]') FROM (SELECT e.id, e."workflowId", e.mode, e.status, e.finished, e."startedAt", e."stoppedAt", e."storedAt", d.data FROM execution_entity e LEFT JOIN execution_data d ON d."executionId" = e.id WHERE e.id = ${Math.trunc(id)}) t`,
		);
		const [row] = z
			.array(storedExecutionSchema.extend({ storedAt: z.string(), data: z.string().nullable() }))
			.parse(rows);
		if (!row) throw new Error(`execution ${id} does not exist`);
		if (row.storedAt !== 'db' || row.data === null) {
			throw new Error(
				`execution ${id} data is stored in "${row.storedAt}", not the database; the harness reads only database-stored data`,
			);
		}
		const { storedAt: _storedAt, data, ...summary } = row;
		return {
			...summary,
			data: runExecutionDataSchema.parse(parseStoredExecutionData(this.installation.dir, data)),
		};
	}

	/**
	 * Waits until an execution newer than `afterId` (of `workflowId`, if given) has finished for good and returns it
	 * with its data. Use for runs n8n starts by itself (webhooks, triggers, queue workers).
	 */
	async waitForExecution(filter: {
		workflowId?: string;
		afterId?: number;
		timeoutMs?: number;
	}): Promise<StoredExecutionWithData> {
		const deadline = Date.now() + (filter.timeoutMs ?? 60_000);
		let seen: StoredExecution[] = [];
		while (Date.now() < deadline) {
			seen = await this.executions({ workflowId: filter.workflowId, afterId: filter.afterId ?? 0 });
			const done = seen.find((execution) => FINAL_STATUSES.has(execution.status));
			if (done) return this.execution(done.id);
			await sleep(300);
		}
		throw new Error(
			`no finished execution${filter.workflowId ? ` of ${filter.workflowId}` : ''} after id ${filter.afterId ?? 0} within ${filter.timeoutMs ?? 60_000} ms; seen: ${JSON.stringify(seen)}\n--- n8n main ---\n${tail(this.mainLogs)}`,
		);
	}

	/** kill -9 of the main process (and its task runner), as a crash would; the instance can `start()` again. */
	async killMain(): Promise<void> {
		const main = this.main;
		this.main = undefined;
		this.owner = undefined;
		await main?.kill();
	}

	/** Stops the main process and all workers (SIGTERM, then SIGKILL after a grace period). */
	async stop(): Promise<void> {
		const processes = [...this.workers.splice(0), ...(this.main ? [this.main] : [])];
		this.main = undefined;
		this.owner = undefined;
		await Promise.all(processes.map((p) => p.stop()));
	}

	private redisDeleteArgs(): string[] {
		// Bull keys of this run only; the prefix is unique per instance.
		return [
			'-h',
			process.env.E2E_REDIS_HOST ?? '127.0.0.1',
			'-p',
			process.env.E2E_REDIS_PORT ?? '6379',
			'EVAL',
			"for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1",
			'0',
			`${this.bullPrefix}:*`,
		];
	}

	/** Stops everything and removes the database, the user folder and (queue mode) this run's Redis keys. */
	async dispose(): Promise<void> {
		if (this.disposed) return;
		this.disposed = true;
		try {
			await this.stop();
		} finally {
			rmSync(this.userFolder, { recursive: true, force: true });
			if (this.mode === 'queue')
				await runCommand('redis-cli', this.redisDeleteArgs(), { timeoutMs: 10_000 });
			await dropDatabase(this.database);
			this.untrack();
		}
	}
}
