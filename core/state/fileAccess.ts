/**
 * Where a user-given state store file may be: n8n's own file-access rules, applied the way n8n-core applies them to
 * its file nodes (packages/core/src/execution-engine/node-execution-context/utils/file-system-helper-functions.ts,
 * settings in @n8n/config's SecurityConfig):
 * - the path is resolved first: symlinks followed (realpath) and `..` removed, so neither can lead outside;
 * - with N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES not 'false' (the default), nothing inside n8n's own folders: the user
 *   folder `.n8n`, its static cache, N8N_CONFIG_FILES, N8N_CUSTOM_EXTENSIONS, N8N_BINARY_DATA_STORAGE_PATH and the
 *   user-management e-mail templates;
 * - nothing matching a pattern of N8N_BLOCK_FILE_PATTERNS (default: anything in a `.git` folder);
 * - with N8N_RESTRICT_FILE_ACCESS_TO set (folders separated by ';', '~' for the home folder), only inside one of them.
 * n8n 2.x applies '~/.n8n-files' when N8N_RESTRICT_FILE_ACCESS_TO is unset; this store applies the variable only when
 * it is set, so files chosen before the upgrade keep working (set it to have n8n's default).
 * The default store file is not a user-given path: like the storage folder n8n gives nodes, it lives in n8n's folder.
 */
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';

export interface FileAccessRules {
	/** Folders a file must be inside of, when not empty (N8N_RESTRICT_FILE_ACCESS_TO). */
	restrictTo: string[];
	/** Folders and files a file must not be inside of (n8n's own, unless N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES=false). */
	blocked: string[];
	/** Regular expressions a resolved path must not match (N8N_BLOCK_FILE_PATTERNS). */
	blockPatterns: string[];
}

type Env = Record<string, string | undefined>;

const list = (value: string | undefined, separator: string): string[] =>
	(value ?? '')
		.split(separator)
		.map((p) => p.trim())
		.filter((p) => p.length > 0);

/** n8n's rules as its environment variables set them. `userFolder` is n8n's N8N_USER_FOLDER or the home folder. */
export function fileAccessRulesFromEnv(env: Env = process.env): FileAccessRules {
	const home = homedir();
	const userFolder = env.N8N_USER_FOLDER ?? home;
	const blocked =
		env.N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES === 'false'
			? []
			: [
					join(userFolder, '.n8n'),
					join(home, '.cache', 'n8n', 'public'),
					...list(env.N8N_CONFIG_FILES, ','),
					...list(env.N8N_CUSTOM_EXTENSIONS, ';'),
					...[
						env.N8N_BINARY_DATA_STORAGE_PATH,
						env.N8N_UM_EMAIL_TEMPLATES_INVITE,
						env.N8N_UM_EMAIL_TEMPLATES_PWRESET,
					].filter((p): p is string => !!p),
				];
	return {
		restrictTo: list(env.N8N_RESTRICT_FILE_ACCESS_TO, ';').map((p) =>
			p.startsWith('~') ? p.replace('~', home) : p,
		),
		blocked,
		blockPatterns: list(env.N8N_BLOCK_FILE_PATTERNS ?? '^(.*\\/)*\\.git(\\/.*)*$', ';'),
	};
}

/**
 * The path with symlinks and `..` resolved. A file not created yet is resolved through its nearest existing folder
 * (n8n resolves it lexically; a symlinked folder above a new file must not lead outside either).
 */
export function resolveFilePath(
	path: string,
	realpath: (p: string) => string = realpathSync,
): string {
	const absolute = resolve(path);
	try {
		return realpath(absolute);
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
		const parent = dirname(absolute);
		return parent === absolute
			? absolute
			: join(resolveFilePath(parent, realpath), basename(absolute));
	}
}

/** n8n's isContainedWithin: the same path, or below it. */
function isContainedWithin(parent: string, child: string): boolean {
	const p = resolve(parent);
	const c = resolve(child);
	return c === p || c.startsWith(p.endsWith(sep) ? p : p + sep);
}

/** Why a resolved path is refused under `rules`, or undefined when it is allowed. */
export function fileAccessRefusal(
	resolvedPath: string,
	rules: FileAccessRules,
): string | undefined {
	if (rules.blocked.some((b) => isContainedWithin(b, resolvedPath)))
		return "it is inside n8n's own files (N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES)";
	const pattern = rules.blockPatterns.find((p) => {
		try {
			return new RegExp(p, 'mi').test(resolvedPath);
		} catch {
			return true; // as n8n: a pattern that does not compile blocks everything
		}
	});
	if (pattern !== undefined) return `it matches N8N_BLOCK_FILE_PATTERNS (${pattern})`;
	if (rules.restrictTo.length && !rules.restrictTo.some((a) => isContainedWithin(a, resolvedPath)))
		return `it is outside the folders N8N_RESTRICT_FILE_ACCESS_TO allows (${rules.restrictTo.join(', ')})`;
	return undefined;
}

/**
 * The file the embedded store opens: the default file when Store File Path is empty (or names that same file),
 * otherwise the user's path, resolved, if n8n's rules allow it. Errors name the field and the fix.
 */
export function storeFilePath(
	userPath: string,
	defaultPath: string,
	rules: FileAccessRules = fileAccessRulesFromEnv(),
	realpath: (p: string) => string = realpathSync,
): string {
	const given = userPath.trim();
	if (!given) return defaultPath;
	if (given === ':memory:') return given; // SQLite's private in-memory database: no file at all
	const resolved = resolveFilePath(given, realpath);
	if (resolved === resolveFilePath(defaultPath, realpath)) return defaultPath;
	const refusal = fileAccessRefusal(resolved, rules);
	if (refusal) {
		throw new Error(
			`Store File Path "${given}" is not allowed: ${refusal}. Choose a file in a folder n8n allows, or leave Store File Path empty for the default file.`,
		);
	}
	return resolved;
}
