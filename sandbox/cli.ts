/**
 * `npm run sandbox -- --port 0 [options]`: runs the sandbox as a process. When it listens it prints exactly one JSON
 * line `{"url":"http://127.0.0.1:<port>","token":"…","controlToken":"…"}` on stdout (the Graph access token and the
 * control API's token, random unless given); logs go to stderr and never carry either token.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { templateDefinitionSchema } from '../core/templates';
import { startSandbox } from './server';
import type { SandboxOptionsInput } from './options';

const USAGE = `Usage: npm run sandbox -- [options]
  --port <n>               port to listen on (0 = any free port; default 0)
  --host <addr>            interface (default 127.0.0.1)
  --allowed-host <name>    another name the sandbox is reached at (Host header); repeatable
  --token <t>              accepted access token (default: random, printed on stdout)
                           the control token is random too, unless SANDBOX_CONTROL_TOKEN is set
  --app-secret <s>         signs webhooks, checks appsecret_proof (default sandbox-app-secret)
  --callback-url <url>     the app's webhook callback URL
  --phone-number-id <id>   business phone number id
  --display-phone-number <digits>
  --waba-id <id>           WhatsApp Business Account id
  --templates <file>       JSON array of message templates (default: test fixtures)
  --mps <n>                throughput per phone number, messages/s (default 80; 0 = unlimited)
  --pair-rate-ms <n>       min spacing per recipient (default 6000; 0 = off)
  --pair-burst <n>         messages per recipient allowed in a burst (default 45)
  --status-delay-ms <n>    delay between sent / delivered / read (default 50)
  --read-ratio <0..1>      share of messages that get read (default 1)
  --webhook-max-batch <n>  status updates per webhook POST (default 100)
  --webhook-batch-ms <n>   how long updates are collected (default 20)
  --webhook-retry-base-ms <n>  first retry delay, doubled each time (default 200)
  --webhook-max-attempts <n>   delivery attempts per webhook (default 5)
  --webhook-version <vX.Y> payload version (before v24.0 statuses carry conversation)
  --policy-errors async|sync   131047/131049/131050 as failed statuses (async, Meta) or on the request
  --no-verify-overrides    accept override callback URLs without the GET challenge
  --seed <n>               deterministic ids, fault ratios and jitter
  --help`;

function fail(message: string): never {
	process.stderr.write(`sandbox: ${message}\n${USAGE}\n`);
	process.exit(2);
}

function numberOption(values: Record<string, unknown>, name: string): number | undefined {
	const raw = values[name];
	if (raw === undefined) return undefined;
	const n = Number(raw);
	if (!Number.isFinite(n)) fail(`--${name} must be a number, got "${String(raw)}"`);
	return n;
}

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: {
			port: { type: 'string' },
			host: { type: 'string' },
			'allowed-host': { type: 'string', multiple: true },
			token: { type: 'string' },
			'app-secret': { type: 'string' },
			'callback-url': { type: 'string' },
			'phone-number-id': { type: 'string' },
			'display-phone-number': { type: 'string' },
			'waba-id': { type: 'string' },
			templates: { type: 'string' },
			mps: { type: 'string' },
			'pair-rate-ms': { type: 'string' },
			'pair-burst': { type: 'string' },
			'status-delay-ms': { type: 'string' },
			'read-ratio': { type: 'string' },
			'webhook-max-batch': { type: 'string' },
			'webhook-batch-ms': { type: 'string' },
			'webhook-retry-base-ms': { type: 'string' },
			'webhook-max-attempts': { type: 'string' },
			'webhook-version': { type: 'string' },
			'policy-errors': { type: 'string' },
			'no-verify-overrides': { type: 'boolean' },
			seed: { type: 'string' },
			help: { type: 'boolean' },
		},
		strict: true,
	});
	if (values.help) {
		process.stderr.write(`${USAGE}\n`);
		return;
	}

	const options: SandboxOptionsInput = {
		port: numberOption(values, 'port'),
		host: values.host,
		allowedHosts: values['allowed-host'],
		token: values.token,
		appSecret: values['app-secret'],
		callbackUrl: values['callback-url'],
		phoneNumberId: values['phone-number-id'],
		displayPhoneNumber: values['display-phone-number'],
		wabaId: values['waba-id'],
		mps: numberOption(values, 'mps'),
		pairRateMs: numberOption(values, 'pair-rate-ms'),
		pairBurst: numberOption(values, 'pair-burst'),
		statusDelayMs: numberOption(values, 'status-delay-ms'),
		readRatio: numberOption(values, 'read-ratio'),
		webhookMaxBatch: numberOption(values, 'webhook-max-batch'),
		webhookBatchMs: numberOption(values, 'webhook-batch-ms'),
		webhookRetryBaseMs: numberOption(values, 'webhook-retry-base-ms'),
		webhookMaxAttempts: numberOption(values, 'webhook-max-attempts'),
		webhookVersion: values['webhook-version'],
		policyErrors: values['policy-errors'] as SandboxOptionsInput['policyErrors'],
		verifyOverrides: values['no-verify-overrides'] ? false : undefined,
		seed: numberOption(values, 'seed'),
	};
	if (values.templates) {
		let json: unknown;
		try {
			json = JSON.parse(readFileSync(values.templates, 'utf8')) as unknown;
		} catch (error) {
			fail(
				`cannot read --templates ${values.templates}: ${error instanceof Error ? error.message : String(error)}`,
			);
		}
		const parsed = z.array(templateDefinitionSchema).safeParse(json);
		if (!parsed.success) {
			const issue = parsed.error.issues[0];
			fail(`--templates ${values.templates}: [${issue.path.join('.')}] ${issue.message}`);
		}
		options.templates = parsed.data;
	}
	// Drop unset keys so the schema's defaults apply.
	for (const key of Object.keys(options) as Array<keyof SandboxOptionsInput>)
		if (options[key] === undefined) delete options[key];

	let sandbox;
	try {
		sandbox = await startSandbox(options);
	} catch (error) {
		fail(error instanceof Error ? error.message : String(error));
	}
	process.stdout.write(
		`${JSON.stringify({ url: sandbox.url, token: sandbox.config.token, controlToken: sandbox.controlToken })}\n`,
	);
	process.stderr.write(
		`sandbox: listening on ${sandbox.url} (WABA ${sandbox.config.wabaId}, phone number ${sandbox.config.phoneNumberId}, ${sandbox.state.templates.length} templates, ${sandbox.config.mps || 'unlimited'} mps)\n`,
	);
	const stop = (): void => {
		void sandbox.close().then(() => process.exit(0));
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}

void main();
