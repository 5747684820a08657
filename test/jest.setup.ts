/**
 * The nodes keep their embedded journey state store in <N8N_USER_FOLDER>/.n8n, as n8n does its own data. Each test
 * file gets a folder of its own, so no test reads another file's (or another run's, or this machine's) journey state:
 * a step sent in one run would otherwise be "already sent" in the next.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const folder = mkdtempSync(join(tmpdir(), 'wj-jest-'));
mkdirSync(join(folder, '.n8n'));
process.env.N8N_USER_FOLDER = folder;
