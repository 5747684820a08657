import * as path from 'node:path';

/** The repository root, found from this file so the harness works from any working directory. */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** The idempotent installer of n8n + Node 24 into a cache outside the repo. */
export const PROVISION_SCRIPT = path.join(REPO_ROOT, 'harness', 'provision-n8n.sh');

/** The n8n version the test bed runs; 2.41.x does not install from this registry (see real-n8n.md). */
export const N8N_VERSION = process.env.N8N_VERSION ?? '2.40.7';

/** Name under which n8n registers our node types: `<package name>.<node name>`. */
export const PACKAGE_NAME = 'n8n-nodes-whatsapp-journeys';
