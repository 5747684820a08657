/**
 * A real Node-RED runtime with this package installed, as users get it: the built package (`dist/` + package.json,
 * the tarball's content) placed in a fresh user directory's node_modules, where Node-RED finds nodes, and Node-RED
 * started from node_modules on loopback with the given flows and credentials. Shared by the runtime end-to-end test
 * (test/node-red/runtime.e2e.test.ts) and the Node-RED benchmark (bench/scenarios/nodered.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import {
	cpSync,
	existsSync,
	mkdirSync,
	readFileSync,
	readdirSync,
	rmSync,
	statSync,
	writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');
export const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
	name: string;
	'node-red': { nodes: Record<string, string> };
};

export type FlowNode = { id: string; type: string; [key: string]: unknown };

function newestMtime(dir: string, pattern: RegExp): number {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const p = join(dir, entry.name);
		if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p, pattern));
		else if (pattern.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
	}
	return newest;
}

function filesUnder(dir: string, pattern: RegExp): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const p = join(dir, entry.name);
		if (entry.isDirectory()) return filesUnder(p, pattern);
		return pattern.test(entry.name) ? [p] : [];
	});
}

/**
 * Runs `fn` holding a lock on this checkout's build (a directory created atomically): Jest runs test files in
 * parallel workers, and two of them building dist/ at once would load each other's half-written files.
 */
function withBuildLock(fn: () => void): void {
	const lock = join(
		tmpdir(),
		`wj-build-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.lock`,
	);
	const deadline = Date.now() + 360_000;
	for (;;) {
		try {
			mkdirSync(lock);
			break;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
			// A lock left by a killed run: no build takes 5 minutes.
			const takenAt = statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
			if (takenAt !== undefined && Date.now() - takenAt > 300_000)
				rmSync(lock, { recursive: true, force: true });
			if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${lock}`);
			Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
		}
	}
	try {
		fn();
	} finally {
		rmSync(lock, { recursive: true, force: true });
	}
}

/** dist/ as `npm run build` leaves it, rebuilt when a source is newer than what Node-RED will load. */
export function ensureBuilt(): void {
	withBuildLock(buildIfStale);
}

function buildIfStale(): void {
	const compiled = [
		join(ROOT, 'dist/core/index.js'),
		...Object.values(PACKAGE['node-red'].nodes).map((js) => join(ROOT, js)),
	];
	const newestTs = Math.max(
		newestMtime(join(ROOT, 'core'), /\.ts$/),
		newestMtime(join(ROOT, 'node-red'), /\.ts$/),
	);
	// Copied files (editor HTML, icons) keep their source's mtime (to the millisecond): compare each with its own source.
	const copies = filesUnder(join(ROOT, 'node-red'), /\.(html|svg)$/).map((source) => ({
		source,
		copy: join(ROOT, 'dist', source.slice(ROOT.length + 1)),
	}));
	const stale =
		compiled.some((file) => !existsSync(file) || statSync(file).mtimeMs < newestTs) ||
		copies.some(
			({ source, copy }) =>
				!existsSync(copy) ||
				Math.floor(statSync(copy).mtimeMs) < Math.floor(statSync(source).mtimeMs),
		);
	if (stale) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 300_000 });
}

export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

export const sleep = (ms: number): Promise<void> =>
	new Promise((resolve) => setTimeout(resolve, ms));

export async function until<T>(
	what: string,
	probe: () => Promise<T | undefined> | T | undefined,
	timeoutMs = 15_000,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await sleep(100);
	}
}

export interface NodeRedOptions {
	/** An existing, empty directory: Node-RED's user directory (the caller removes it). */
	userDir: string;
	flows: FlowNode[];
	/** Credentials by node id, written as plain JSON (credentialSecret: false). */
	credentials: Record<string, Record<string, string>>;
	/** JSON-able settings merged over the defaults (uiHost, uiPort, flowFile, logging, …). */
	settings?: Record<string, unknown>;
	/** JavaScript source of an object merged last into settings.js, for settings that are functions (adminAuth). */
	settingsJs?: string;
	env?: Record<string, string>;
	/** The port to listen on (loopback); a free one when absent. Give the same one to start again after a stop/crash. */
	port?: number;
	/** Options for the Node.js running Node-RED (e.g. --inspect=127.0.0.1:<port>). */
	nodeArgs?: string[];
	startTimeoutMs?: number;
}

export interface NodeRedRuntime {
	url: string;
	pid: number;
	process: ChildProcessWithoutNullStreams;
	/** Everything Node-RED printed so far. */
	log(): string;
	/** SIGINT (Node-RED closes its nodes), SIGKILL after 10 s. */
	stop(): Promise<void>;
}

/** Installs the built package in `userDir` and starts Node-RED there; resolves once it has started the flows. */
export async function startNodeRed(options: NodeRedOptions): Promise<NodeRedRuntime> {
	const { userDir } = options;
	// The published layout: package.json + dist/, nothing else (the tarball's "files"), in <userDir>/node_modules.
	const installed = join(userDir, 'node_modules', PACKAGE.name);
	mkdirSync(installed, { recursive: true });
	cpSync(join(ROOT, 'package.json'), join(installed, 'package.json'));
	cpSync(join(ROOT, 'dist/core'), join(installed, 'dist/core'), { recursive: true });
	cpSync(join(ROOT, 'dist/node-red'), join(installed, 'dist/node-red'), { recursive: true });
	writeFileSync(
		join(userDir, 'package.json'),
		JSON.stringify(
			{ name: 'node-red-project', private: true, dependencies: { [PACKAGE.name]: 'file:' + ROOT } },
			null,
			2,
		),
	);
	writeFileSync(join(userDir, 'flows.json'), JSON.stringify(options.flows, null, 2));
	// credentialSecret: false keeps the credentials file plain JSON, so it can be written here.
	writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials));
	const port = options.port ?? (await freePort());
	const settings = {
		uiHost: '127.0.0.1',
		uiPort: port,
		flowFile: 'flows.json',
		credentialSecret: false,
		logging: { console: { level: 'info', metrics: false, audit: false } },
		diagnostics: { enabled: false },
		telemetry: { enabled: false, updateNotification: false },
		editorTheme: { projects: { enabled: false }, tours: false },
		...options.settings,
	};
	writeFileSync(
		join(userDir, 'settings.js'),
		`module.exports = Object.assign(${JSON.stringify(settings)}, ${options.settingsJs ?? '{}'});\n`,
	);

	const child = spawn(
		process.execPath,
		[
			...(options.nodeArgs ?? []),
			require.resolve('node-red/red.js'),
			'--userDir',
			userDir,
			'--settings',
			join(userDir, 'settings.js'),
		],
		{
			env: { ...process.env, ...options.env, NODE_RED_ENABLE_PROJECTS: 'false' },
		},
	);
	let log = '';
	child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
	child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
	const stop = async (): Promise<void> => {
		if (child.exitCode !== null || child.signalCode !== null) return;
		let timer: ReturnType<typeof setTimeout> | undefined;
		const exited = new Promise<void>((resolve) => {
			child.once('exit', () => resolve());
			timer = setTimeout(resolve, 10_000);
		});
		child.kill('SIGINT');
		await exited;
		clearTimeout(timer);
		if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	};
	try {
		await until(
			'Node-RED to start the flows',
			() => {
				if (child.exitCode !== null)
					throw new Error(`Node-RED exited (${child.exitCode}):\n${log}`);
				if (/Waiting for missing types/.test(log))
					throw new Error(`Node-RED did not find the nodes:\n${log}`);
				return /Started flows/.test(log) ? true : undefined;
			},
			options.startTimeoutMs ?? 60_000,
		);
	} catch (error) {
		await stop();
		throw new Error(`${(error as Error).message}; Node-RED printed:\n${log.slice(-3000)}`);
	}
	if (child.pid === undefined) throw new Error('Node-RED has no pid');
	return { url: `http://127.0.0.1:${port}`, pid: child.pid, process: child, log: () => log, stop };
}
