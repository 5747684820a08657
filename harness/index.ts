/** Real-n8n end-to-end harness: provision n8n 2.x on Node 24, install our tarball, run workflows, read results. */
export { disposeAll, liveResources, track } from './cleanup';
export { createDatabase, dropDatabase, psql, psqlJson, type PostgresTarget } from './database';
export {
	N8nInstance,
	newWorkflowId,
	type CredentialJson,
	type ExecuteResult,
	type ExecutionsMode,
	type N8nInstanceOptions,
	type NodeTypeSummary,
	type StoredExecution,
	type StoredExecutionWithData,
	type WorkflowJson,
} from './n8n-instance';
export { installTarball, packAndInstall, packProject, type InstalledPackage } from './package';
export { N8N_VERSION, PACKAGE_NAME, REPO_ROOT } from './paths';
export { freePort } from './ports';
export { provisionN8n, type N8nInstallation } from './provision';
export { deleteRedisKeys } from './redis';
export {
	extractRunJson,
	itemsOf,
	jsonOf,
	runExecutionDataSchema,
	type NodeItem,
	type Run,
	type RunExecutionData,
} from './run-data';
export {
	orderConfirmationSendNode,
	sandboxCredential,
	sandboxCredentialData,
	signedWebhookHeaders,
	statusWebhookBody,
	type SandboxSecrets,
	type StatusUpdate,
} from './whatsapp';
