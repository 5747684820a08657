/**
 * The large-campaign pattern (examples/large-campaign-dispatch.json + large-campaign-chunk.json) in a real n8n, as
 * the queue-mode e2e test and `npm run bench:queue-campaign` run it: the example workflows as shipped, pointed at this
 * run's credentials, Redis prefix, sandbox limit and chunk webhook; and the audience table they read, seeded in the
 * instance's own PostgreSQL database.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { psql } from './database';
import type { CredentialJson, N8nInstance, WorkflowJson } from './n8n-instance';
import { REPO_ROOT } from './paths';

export const LARGE_CAMPAIGN_FILES = {
	dispatch: 'large-campaign-dispatch.json',
	chunk: 'large-campaign-chunk.json',
} as const;

/** The webhook path of the chunk workflow, as the example ships it. */
export const CHUNK_WEBHOOK_PATH = 'whatsapp-campaign-chunk';

interface NodeJson {
	name: string;
	type: string;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
	[key: string]: unknown;
}

type ExampleJson = {
	id?: string;
	name: string;
	nodes: NodeJson[];
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
};

function loadExample(file: string): ExampleJson {
	return JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', file), 'utf8')) as ExampleJson;
}

function nodeOf(workflow: { name: string; nodes: NodeJson[] }, name: string): NodeJson {
	const node = workflow.nodes.find((n) => n.name === name);
	if (!node) throw new Error(`${workflow.name} has no node "${name}"`);
	return node;
}

export interface LargeCampaignSetup {
	/** Credentials to use in place of the example's (same credential types). */
	credentials: {
		metaWhatsAppCloudApi: { id: string; name: string };
		redis: { id: string; name: string };
		postgres: { id: string; name: string };
	};
	redisKeyPrefix: string;
	messagesPerSecond: number;
	/** Recipients per chunk execution (the example's default is 1,000). */
	chunkSize?: number;
	/** Path of the webhook that starts the dispatcher in this run (it replaces the example's manual trigger). */
	startPath: string;
	/** Where the dispatcher posts each chunk: the chunk workflow's production webhook on the main process. */
	chunkWebhookUrl: string;
	/** The send node's "Retry When Outcome Unknown" journey rule (off in the example). */
	retryWhenOutcomeUnknown?: boolean;
	/** Send node concurrency per chunk (the node's default when absent). */
	concurrency?: number;
}

/**
 * The two example workflows as this run imports them. Changed from the files, and only so: credentials, the Redis
 * prefix, the limit, the chunk URL and size; the dispatcher's manual trigger becomes a production webhook (so the run
 * goes to a worker, as a scheduled campaign would) and the campaign name comes from the request body.
 */
export function largeCampaignWorkflows(setup: LargeCampaignSetup): {
	dispatch: WorkflowJson;
	chunk: WorkflowJson;
} {
	const dispatch = loadExample(LARGE_CAMPAIGN_FILES.dispatch);
	const chunk = loadExample(LARGE_CAMPAIGN_FILES.chunk);
	const start = nodeOf(dispatch, 'Start campaign');
	Object.assign(start, {
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2,
		webhookId: '6b1f0c2e-5d4a-4e3b-9c8d-7e6f5a4b3c2d',
		parameters: {
			httpMethod: 'POST',
			path: setup.startPath,
			responseMode: 'onReceived',
			options: {},
		},
	});
	const settings = nodeOf(dispatch, 'Campaign settings');
	const assignments = (
		settings.parameters.assignments as { assignments: Array<{ name: string; value: unknown }> }
	).assignments;
	const values: Record<string, unknown> = {
		campaign: "={{ $('Start campaign').first().json.body.campaign }}",
		chunkSize: setup.chunkSize ?? 1000,
		chunkWebhookUrl: setup.chunkWebhookUrl,
	};
	for (const assignment of assignments)
		if (assignment.name in values) assignment.value = values[assignment.name];
	for (const node of [...dispatch.nodes, ...chunk.nodes]) {
		if (!node.credentials) continue;
		for (const type of Object.keys(node.credentials))
			node.credentials[type] = setup.credentials[type as keyof LargeCampaignSetup['credentials']];
	}
	const send = chunk.nodes.find(
		(n) => n.type === 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
	);
	if (!send) throw new Error('the chunk example has no WhatsApp Send Template node');
	send.parameters.redisKeyPrefix = setup.redisKeyPrefix;
	const options = send.parameters.options as Record<string, unknown>;
	options.messagesPerSecond = setup.messagesPerSecond;
	if (setup.concurrency !== undefined) options.concurrency = setup.concurrency;
	if (setup.retryWhenOutcomeUnknown)
		send.parameters.journeyRules = { retryWhenOutcomeUnknown: true };
	return { dispatch, chunk };
}

/**
 * The chunks the dispatcher starts for `recipients`: its own *Plan chunks* code, run here on the counts, so tests can
 * check the plan and a run knows when every chunk has ended.
 */
export function planChunks(
	recipients: number,
	chunkSize: number,
): Array<{ offset: number; limit: number; chunk: number }> {
	const plan = nodeOf(loadExample(LARGE_CAMPAIGN_FILES.dispatch), 'Plan chunks').parameters
		.jsCode as string;
	const settings = { first: () => ({ json: { campaign: 'plan', chunkSize } }) };
	const input = { first: () => ({ json: { recipients } }) };
	// The example's own code, from the repository: the plan exists once, in the workflow users import.
	const run = new Function('$', '$input', plan) as (
		node: (name: string) => typeof settings,
		items: typeof input,
	) => Array<{ json: { offset: number; limit: number; chunk: number } }>;
	return run(() => settings, input).map(({ json }) => json);
}

/** An n8n `postgres` credential for the instance's own database, where the audience table is seeded. */
export function audienceCredential(
	n8n: N8nInstance,
	credential: { id: string; name: string },
): CredentialJson {
	return {
		...credential,
		type: 'postgres',
		data: {
			host: n8n.database.host,
			port: n8n.database.port,
			database: n8n.database.database,
			user: n8n.database.user,
			password: '',
			ssl: 'disable',
			allowUnauthorizedCerts: false,
			maxConnections: 20,
		},
	};
}

/**
 * Recipient i's number: German mobiles +49 151 and 8 digits, a range that libphonenumber (and so the node) takes as
 * valid for every i below 100 million. (+44 7911 and 6 digits, used before, is valid only below 300,000: the third
 * 100,000-recipient run of bench K went past it.) seedAudience writes the same numbers in SQL.
 */
const AUDIENCE_PREFIX = '+49151';
const AUDIENCE_DIGITS = 8;
export const audiencePhone = (i: number): string =>
	`${AUDIENCE_PREFIX}${String(i).padStart(AUDIENCE_DIGITS, '0')}`;

/**
 * Creates the example's `campaign_audience` table (if missing) and adds `count` recipients numbered from `first` to
 * `campaign`, in id order — the order the chunks read them in.
 */
export async function seedAudience(
	n8n: N8nInstance,
	p: { campaign: string; first: number; count: number },
): Promise<void> {
	if (!/^[a-z0-9-]{1,60}$/.test(p.campaign)) throw new Error(`bad campaign name ${p.campaign}`);
	const last = p.first + p.count - 1;
	await psql(
		n8n.database.database,
		`CREATE TABLE IF NOT EXISTS campaign_audience (id bigserial PRIMARY KEY, campaign text NOT NULL, phone text NOT NULL, first_name text, points text);
		 CREATE INDEX IF NOT EXISTS campaign_audience_campaign ON campaign_audience (campaign, id);
		 INSERT INTO campaign_audience (campaign, phone, first_name, points)
		   SELECT '${p.campaign}', '${AUDIENCE_PREFIX}' || lpad(g::text, ${AUDIENCE_DIGITS}, '0'), 'Ana', (g % 2000)::text
		   FROM generate_series(${Math.trunc(p.first)}, ${Math.trunc(last)}) g ORDER BY g;`,
	);
}

/**
 * Waits until n8n has registered the webhooks of these published workflows: it reports ready before it has, and
 * probing with a request would start a run.
 */
export async function waitForWebhooksOf(
	n8n: N8nInstance,
	workflowIds: readonly string[],
	timeoutMs = 60_000,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	const list = workflowIds.map((id) => `'${id.replace(/[^A-Za-z0-9_-]/g, '')}'`).join(',');
	for (;;) {
		const registered = Number(
			await psql(
				n8n.database.database,
				`SELECT count(DISTINCT "workflowId") FROM webhook_entity WHERE "workflowId" IN (${list})`,
			),
		);
		if (registered >= workflowIds.length) return;
		if (Date.now() > deadline)
			throw new Error(
				`n8n registered the webhooks of ${registered}/${workflowIds.length} workflows`,
			);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}
