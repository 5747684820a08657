/**
 * Store File Path under n8n's file-access rules (N8N_RESTRICT_FILE_ACCESS_TO, N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES,
 * N8N_BLOCK_FILE_PATTERNS), resolved as n8n-core resolves a file node's path: symlinks and `..` cannot lead outside.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileAccessRulesFromEnv, storeFilePath } from '../../core/state';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'wj-access-')));
const allowed = join(root, 'n8n-files');
const outside = join(root, 'elsewhere');
const userFolder = join(root, 'user');
const defaultPath = join(userFolder, '.n8n', 'whatsapp-journeys.sqlite');
for (const dir of [allowed, outside, join(userFolder, '.n8n')]) mkdirSync(dir, { recursive: true });
symlinkSync(outside, join(allowed, 'link'));

afterAll(() => rmSync(root, { recursive: true, force: true }));

const restricted = fileAccessRulesFromEnv({
	N8N_USER_FOLDER: userFolder,
	N8N_RESTRICT_FILE_ACCESS_TO: `${allowed}; /nonexistent-other`,
});

describe('Store File Path and n8n file-access rules', () => {
	it('opens the default file in the n8n user folder when Store File Path is empty, or names that file', () => {
		expect(storeFilePath('', defaultPath, restricted)).toBe(defaultPath);
		expect(storeFilePath(`  ${defaultPath} `, defaultPath, restricted)).toBe(defaultPath);
		expect(
			storeFilePath(
				join(userFolder, 'x', '..', '.n8n', 'whatsapp-journeys.sqlite'),
				defaultPath,
				restricted,
			),
		).toBe(defaultPath);
	});

	it('allows a file inside a folder of N8N_RESTRICT_FILE_ACCESS_TO, and refuses one outside, naming the field and the fix', () => {
		expect(storeFilePath(join(allowed, 'store.sqlite'), defaultPath, restricted)).toBe(
			join(allowed, 'store.sqlite'),
		);
		expect(() => storeFilePath(join(outside, 'store.sqlite'), defaultPath, restricted)).toThrow(
			`Store File Path "${join(outside, 'store.sqlite')}" is not allowed: it is outside the folders N8N_RESTRICT_FILE_ACCESS_TO allows (${allowed}, /nonexistent-other). Choose a file in a folder n8n allows, or leave Store File Path empty for the default file.`,
		);
	});

	it('follows `..` and symlinks before deciding, so neither leads outside an allowed folder', () => {
		expect(() =>
			storeFilePath(`${allowed}/../elsewhere/store.sqlite`, defaultPath, restricted),
		).toThrow(/outside the folders N8N_RESTRICT_FILE_ACCESS_TO allows/);
		expect(() =>
			storeFilePath(join(allowed, 'link', 'store.sqlite'), defaultPath, restricted),
		).toThrow(/outside the folders N8N_RESTRICT_FILE_ACCESS_TO allows/);
		// A folder named like an allowed one is not inside it.
		expect(() => storeFilePath(`${allowed}-evil/store.sqlite`, defaultPath, restricted)).toThrow(
			/outside/,
		);
	});

	it("refuses other files in n8n's own folder (its database, settings), unless N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES=false", () => {
		const n8nDatabase = join(userFolder, '.n8n', 'database.sqlite');
		const open = fileAccessRulesFromEnv({ N8N_USER_FOLDER: userFolder });
		expect(() => storeFilePath(n8nDatabase, defaultPath, open)).toThrow(
			/inside n8n's own files \(N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES\)/,
		);
		const unblocked = fileAccessRulesFromEnv({
			N8N_USER_FOLDER: userFolder,
			N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES: 'false',
		});
		expect(storeFilePath(n8nDatabase, defaultPath, unblocked)).toBe(n8nDatabase);
	});

	it('refuses a path matching N8N_BLOCK_FILE_PATTERNS (by default anything in a .git folder)', () => {
		const open = fileAccessRulesFromEnv({ N8N_USER_FOLDER: userFolder });
		expect(() => storeFilePath(join(outside, '.git', 'store.sqlite'), defaultPath, open)).toThrow(
			/N8N_BLOCK_FILE_PATTERNS/,
		);
	});

	it("keeps ':memory:' as SQLite's in-memory database, not a file of that name", () => {
		expect(storeFilePath(':memory:', defaultPath, restricted)).toBe(':memory:');
	});

	it('allows any other path when N8N_RESTRICT_FILE_ACCESS_TO is not set', () => {
		const open = fileAccessRulesFromEnv({ N8N_USER_FOLDER: userFolder });
		expect(storeFilePath(join(outside, 'store.sqlite'), defaultPath, open)).toBe(
			join(outside, 'store.sqlite'),
		);
	});
});
