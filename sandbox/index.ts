/**
 * WhatsApp Cloud API sandbox: a local HTTP server that answers like Meta where this project
 * depends on it. `startSandbox()` for in-process use; `npm run sandbox -- --port 0` for a process.
 */
export { startSandbox, type Sandbox } from './server';
export {
	parseSandboxOptions,
	SUPPORTED_API_VERSIONS,
	type SandboxConfig,
	type SandboxOptionsInput,
} from './options';
export type {
	AcceptedMessage,
	ConversationWindow,
	Faults,
	FaultsInput,
	RequestRecord,
	SandboxState,
	WebhookAttempt,
} from './state';
