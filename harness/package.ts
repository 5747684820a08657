import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { assertSucceeded, runCommand } from './process';
import { REPO_ROOT } from './paths';

export interface InstalledPackage {
	readonly name: string;
	readonly version: string;
	readonly tarball: string;
	/** `<userFolder>/.n8n/nodes/node_modules/<name>` */
	readonly directory: string;
	/** Files npm put in the tarball, e.g. `dist/nodes/...` — what users actually receive. */
	readonly files: readonly string[];
	readonly durationMs: number;
}

const packOutputSchema = z
	.array(
		z.object({
			name: z.string(),
			version: z.string(),
			filename: z.string(),
			files: z.array(z.object({ path: z.string() })),
		}),
	)
	.length(1);

const manifestSchema = z.object({ name: z.string(), version: z.string() }).passthrough();

/** npm inherits npm_* variables from `npm run`; a child npm must not pick up the outer script's settings. */
export function cleanNpmEnv(): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [key, value] of Object.entries(process.env)) {
		if (!/^(npm_|JEST_)/i.test(key) && !['NODE_OPTIONS', 'INIT_CWD', 'NODE_ENV'].includes(key))
			env[key] = value;
	}
	return env;
}

/**
 * Packs a project with `npm pack` (what `npm publish` would upload) into a fresh temp folder.
 * Scripts are skipped: the caller has already run `npm run build`, and `prepack` would rebuild.
 */
export async function packProject(
	projectDir: string,
): Promise<{ tarball: string; name: string; version: string; files: string[]; tempDir: string }> {
	const tempDir = mkdtempSync(path.join(os.tmpdir(), 'n8n-e2e-pack-'));
	const result = assertSucceeded(
		await runCommand('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tempDir], {
			cwd: projectDir,
			env: cleanNpmEnv(),
			timeoutMs: 120_000,
		}),
	);
	// npm may print notices before the JSON array.
	const json = result.stdout.slice(result.stdout.indexOf('['));
	const [packed] = packOutputSchema.parse(JSON.parse(json));
	return {
		tarball: path.join(tempDir, packed.filename),
		name: packed.name,
		version: packed.version,
		files: packed.files.map((f) => f.path),
		tempDir,
	};
}

/**
 * Installs a tarball as a community package into `<userFolder>/.n8n/nodes`, the way n8n 2.40's own
 * "Install community node" does (CommunityPackagesService.downloadPackage): unpack into
 * nodes/node_modules/<name>, drop dev/peer/optional dependencies from its package.json, `npm install` its runtime
 * dependencies inside it (shallow, no scripts, no lock), and record it in nodes/package.json.
 * Dropping peer dependencies matters: n8n puts its own node_modules on NODE_PATH, so `n8n-workflow` must resolve
 * to n8n's copy, not a second one that npm would auto-install for the peer range.
 */
export async function installTarball(
	userFolder: string,
	tarball: string,
): Promise<Omit<InstalledPackage, 'tarball' | 'files' | 'durationMs'>> {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	mkdirSync(path.join(nodesDir, 'node_modules'), { recursive: true });
	const nodesManifest = path.join(nodesDir, 'package.json');
	let manifest: { name: string; private: boolean; dependencies: Record<string, string> };
	try {
		manifest = z
			.object({ name: z.string(), private: z.boolean(), dependencies: z.record(z.string()) })
			.parse(JSON.parse(readFileSync(nodesManifest, 'utf8')));
	} catch {
		manifest = { name: 'installed-nodes', private: true, dependencies: {} };
	}

	const staging = mkdtempSync(path.join(os.tmpdir(), 'n8n-e2e-unpack-'));
	try {
		assertSucceeded(
			await runCommand('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1'], {
				timeoutMs: 60_000,
			}),
		);
		const packageJsonPath = path.join(staging, 'package.json');
		const raw = manifestSchema.parse(JSON.parse(readFileSync(packageJsonPath, 'utf8')));
		const {
			devDependencies: _dev,
			peerDependencies: _peer,
			optionalDependencies: _optional,
			...kept
		} = raw;
		const directory = path.join(nodesDir, 'node_modules', raw.name);
		rmSync(directory, { recursive: true, force: true });
		mkdirSync(path.dirname(directory), { recursive: true });
		assertSucceeded(await runCommand('cp', ['-a', `${staging}/.`, directory]));
		writeFileSync(path.join(directory, 'package.json'), JSON.stringify(kept, null, 2));
		assertSucceeded(
			await runCommand(
				'npm',
				[
					'install',
					'--audit=false',
					'--fund=false',
					'--bin-links=false',
					'--install-strategy=shallow',
					'--ignore-scripts=true',
					'--package-lock=false',
					'--loglevel=error',
				],
				{ cwd: directory, env: cleanNpmEnv(), timeoutMs: 300_000 },
			),
		);
		manifest.dependencies[raw.name] = raw.version;
		writeFileSync(nodesManifest, JSON.stringify(manifest, null, 2));
		return { name: raw.name, version: raw.version, directory };
	} finally {
		rmSync(staging, { recursive: true, force: true });
	}
}

/**
 * `npm pack` this repository and install the tarball as a community package under `userFolder`.
 * Run `npm run build` first (`npm run test:e2e` does): the tarball ships `dist/` only.
 */
export async function packAndInstall(
	userFolder: string,
	projectDir = REPO_ROOT,
): Promise<InstalledPackage> {
	const started = Date.now();
	const packed = await packProject(projectDir);
	try {
		const installed = await installTarball(userFolder, packed.tarball);
		return {
			...installed,
			tarball: path.basename(packed.tarball),
			files: packed.files,
			durationMs: Date.now() - started,
		};
	} finally {
		rmSync(packed.tempDir, { recursive: true, force: true });
	}
}
