/**
 * Journey rules (issue #14) in a real n8n 2.40 (regular mode, embedded SQLite store) against the sandbox:
 * (a) Retry On Fail with one recipient Meta refuses: every other customer is accepted exactly once;
 * (b) `kill -9` of n8n in the middle of a 3,000-recipient campaign, then the same run again: no customer accepted
 *     twice, every customer either accepted once or reported (in-flight unknowns, at most the concurrency);
 * (d) a frequency cap counted across two workflows;
 * (e) quiet hours: Hold waits for the end of the window and sends then; Skip routes out with resumeAt.
 */
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import {
	N8nInstance,
	disposeAll,
	jsonOf,
	newWorkflowId,
	orderConfirmationSendNode,
	sandboxCredential,
} from '../../harness';
import type { WorkflowJson } from '../../harness';
import { killGroup } from '../../harness/process';

const TOKEN = 'rules-access-token';
const APP_SECRET = 'rules-app-secret';
const CREDENTIAL = { id: 'wjRulesCred00001', name: 'WhatsApp (rules e2e)' };
const cred = { metaWhatsAppCloudApi: CREDENTIAL };
/** High enough that the 3,000 campaign takes seconds, low enough that a kill lands in its middle. */
const MPS = 250;
const CAMPAIGN = 3000;
const CONCURRENCY = 16;

let sandbox: Sandbox;
let n8n: N8nInstance;

interface Message {
	to: string;
	acceptedAt: number;
	template?: { name: string };
}
const messagesTo = async (prefix: string): Promise<Message[]> =>
	((await sandbox.control('messages')) as { data: Message[] }).data.filter((m) =>
		m.to.startsWith(prefix),
	);
const phones = (prefix: string, n: number) =>
	Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

/** Manual trigger → the recipients (one item per phone) → `send`. */
function workflow(
	name: string,
	recipients: string[],
	send: Record<string, unknown>,
	settings: Record<string, unknown> = {},
): WorkflowJson {
	return {
		id: newWorkflowId(),
		name,
		active: false,
		settings: { executionOrder: 'v1', ...settings },
		nodes: [
			{
				id: 'start',
				name: 'Start',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: 'recipients',
				name: 'Recipients',
				type: 'n8n-nodes-base.set',
				typeVersion: 3.4,
				position: [200, 0],
				parameters: {
					mode: 'raw',
					jsonOutput: JSON.stringify({ recipients: recipients.map((phone) => ({ phone })) }),
					options: {},
				},
			},
			{
				id: 'split',
				name: 'Split',
				type: 'n8n-nodes-base.splitOut',
				typeVersion: 1,
				position: [400, 0],
				parameters: { fieldToSplitOut: 'recipients', options: {} },
			},
			{ ...send, typeVersion: 2 },
		],
		connections: {
			Start: { main: [[{ node: 'Recipients', type: 'main', index: 0 }]] },
			Recipients: { main: [[{ node: 'Split', type: 'main', index: 0 }]] },
			Split: { main: [[{ node: 'Send', type: 'main', index: 0 }]] },
		},
	};
}

/** A MARKETING template (the frequency cap and quiet hours apply to MARKETING by default). */
function marketingSendNode(
	journeyRules: Record<string, unknown>,
	options: Record<string, unknown>,
) {
	return {
		id: 'send',
		name: 'Send',
		type: 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
		position: [600, 0],
		credentials: cred,
		parameters: {
			operation: 'sendTemplate',
			recipient: '={{ $json.phone }}',
			template: { __rl: true, mode: 'name', value: 'spring_catalog (en_US)' },
			variablesMode: 'mapper',
			variables: {
				mappingMode: 'defineBelow',
				value: { body_1: 'Ana' },
				matchingColumns: [],
				schema: [],
			},
			journeyRules,
			options: { pairIntervalSeconds: 0, ...options },
		},
	};
}

const retryFlow = (businessNumber: string) =>
	workflow(
		'rules: retry on fail',
		// The last recipient is the business's own number: Meta refuses it on the request (131021), every try.
		[...phones('+44 7911 7', 20), businessNumber],
		{
			...orderConfirmationSendNode({
				id: 'send',
				position: [600, 0],
				credentials: cred,
				body1: 'Ana',
				options: { messagesPerSecond: MPS, pairIntervalSeconds: 0 },
			}),
			retryOnFail: true,
			maxTries: 3,
			waitBetweenTries: 0,
		},
	);
const campaign = workflow(
	'rules: 3,000 campaign',
	phones('+44 7400 1', CAMPAIGN),
	orderConfirmationSendNode({
		id: 'send',
		position: [600, 0],
		credentials: cred,
		body1: 'Ana',
		options: {
			messagesPerSecond: MPS,
			pairIntervalSeconds: 0,
			concurrency: CONCURRENCY,
			journey: 'spring',
			step: 'campaign',
		},
	}),
);
const cap = {
	frequencyCap: { cap: { maxMessages: 1, periodHours: 24, categories: ['MARKETING'] } },
};
const capA = workflow(
	'rules: cap, journey A',
	phones('+44 7911 8', 5),
	marketingSendNode(cap, { journey: 'a', step: 'welcome' }),
);
const capB = workflow(
	'rules: cap, journey B',
	phones('+44 7911 8', 5),
	marketingSendNode(cap, { journey: 'b', step: 'winback' }),
);

/** A quiet window that holds `base` in Tokyo (no DST) and ends 2-3 minutes after it. */
function quietWindow(whenOutside: 'hold' | 'skip', base: number) {
	const local = (offsetMinutes: number) =>
		new Intl.DateTimeFormat('en-GB', {
			timeZone: 'Asia/Tokyo',
			hour: '2-digit',
			minute: '2-digit',
			hourCycle: 'h23',
		}).format(new Date(base + offsetMinutes * 60_000));
	return {
		quietHours: {
			hours: {
				start: local(-1),
				end: local(3),
				timeZone: 'Asia/Tokyo',
				exemptCategories: [],
				whenOutside,
			},
		},
	};
}

let retryId = '';
let campaignId = '';

beforeAll(async () => {
	sandbox = await startSandbox({
		token: TOKEN,
		appSecret: APP_SECRET,
		// A business number libphonenumber accepts (the default +1 555 is fictional): sending to it passes the node's
		// checks and Meta refuses it on the request (131021), the one failing recipient of (a).
		displayPhoneNumber: '447911799999',
		mps: MPS,
		pairRateMs: 0,
		statusDelayMs: 600_000,
	});
	// A portfolio allowed 100,000 new customers a day: these campaigns are not what the messaging-limit guard is about.
	await sandbox.control('messaging-limit', { tier: 'TIER_100K' });
	n8n = await N8nInstance.create({ label: 'journey-rules' });
	await n8n.installPackage();
	await n8n.importCredentials([
		sandboxCredential(sandbox, {
			...CREDENTIAL,
			token: TOKEN,
			appSecret: APP_SECRET,
			verifyToken: 'v',
		}),
	]);
	const retry = retryFlow(`+${sandbox.config.displayPhoneNumber}`);
	[retryId, campaignId] = await n8n.importWorkflows([retry, campaign, capA, capB]);
}, 20 * 60_000);

afterAll(async () => {
	await disposeAll();
	await sandbox?.close();
}, 120_000);

describe('journey rules in real n8n', () => {
	it(
		'(a) Retry On Fail with one refused recipient: every other customer is accepted exactly once',
		async () => {
			const result = await n8n.execute(retryId, { timeoutMs: 5 * 60_000 });
			// The refused recipient still fails after 3 tries: the node (and so the run) ends in its error.
			expect(result.run.status).toBe('error');
			const accepted = await messagesTo('+4479117');
			expect(accepted).toHaveLength(20);
			expect(new Set(accepted.map((m) => m.to)).size).toBe(20);
			// n8n did retry the node: the refused number was asked three times, the others once.
			const refused = (await sandbox.control('requests?code=131021')) as { data: unknown[] };
			expect(refused.data).toHaveLength(3);
		},
		6 * 60_000,
	);

	it(
		'(b) kill -9 in the middle of a 3,000 campaign, then the same run again: nobody accepted twice, the in-flight reported',
		async () => {
			const first = await n8n.startExecute(campaignId);
			const deadline = Date.now() + 5 * 60_000;
			while ((await messagesTo('+4474001')).length < CAMPAIGN / 3) {
				if (Date.now() > deadline || first.hasExited)
					throw new Error(`campaign did not get going\n${first.logs.slice(-3000)}`);
				await new Promise((r) => setTimeout(r, 100));
			}
			killGroup(first.pid, 'SIGKILL');
			await first.stop();
			const beforeRerun = await messagesTo('+4474001');
			expect(beforeRerun.length).toBeLessThan(CAMPAIGN);

			const second = await n8n.execute(campaignId, { timeoutMs: 10 * 60_000 });
			expect(second.run.status).toBe('success');
			const sent = jsonOf(second.data, 'Send', { output: 0 });
			const skipped = jsonOf(second.data, 'Send', { output: 1 });
			expect(sent.length + skipped.length).toBe(CAMPAIGN);
			const accepted = await messagesTo('+4474001');
			// Nobody twice.
			expect(new Set(accepted.map((m) => m.to)).size).toBe(accepted.length);
			// The re-run skipped everyone the killed run had sent (its record survived the kill) ...
			const decisions = new Map<string, number>();
			for (const item of [...sent, ...skipped]) {
				const decision = String((item.policy as { decision?: string } | undefined)?.decision);
				decisions.set(decision, (decisions.get(decision) ?? 0) + 1);
			}
			expect((decisions.get('already_sent') ?? 0) + (decisions.get('sent') ?? 0)).toBeGreaterThan(
				CAMPAIGN - CONCURRENCY - 1,
			);
			// ... and reported the few in flight at the kill, not resending them: at most the concurrency.
			const unknown = skipped.filter((i) =>
				['outcome_unknown', 'in_progress'].includes(
					String((i.policy as { decision?: string }).decision),
				),
			);
			expect(unknown.length).toBeLessThanOrEqual(CONCURRENCY);
			expect(skipped).toHaveLength(unknown.length);
			// Every customer: accepted once, or reported unknown (its request may or may not have reached Meta).
			const acceptedTo = new Set(accepted.map((m) => m.to));
			const unknownTo = new Set(unknown.map((i) => String(i.recipient)));
			for (const phone of phones('+4474001', CAMPAIGN))
				expect(acceptedTo.has(phone) || unknownTo.has(phone)).toBe(true);
		},
		15 * 60_000,
	);

	it(
		'(d) a frequency cap of 1 per day is counted across two workflows',
		async () => {
			const [a, b] = [capA.id ?? '', capB.id ?? ''];
			const first = await n8n.execute(a, { timeoutMs: 5 * 60_000 });
			expect(jsonOf(first.data, 'Send', { output: 0 })).toHaveLength(5);
			const second = await n8n.execute(b, { timeoutMs: 5 * 60_000 });
			expect(second.run.status).toBe('success');
			expect(jsonOf(second.data, 'Send', { output: 0 })).toHaveLength(0);
			const skipped = jsonOf(second.data, 'Send', { output: 1 });
			expect(skipped).toHaveLength(5);
			expect(skipped[0].policy).toMatchObject({
				decision: 'frequency_capped',
				code: expect.any(String),
			});
			expect(await messagesTo('+4479118')).toHaveLength(5);
		},
		10 * 60_000,
	);

	it(
		'(e) quiet hours: Skip routes out with resumeAt; Hold waits for the end of the window and sends then',
		async () => {
			const base = Date.now();
			const skip = workflow(
				'rules: quiet skip',
				phones('+44 7911 0', 3),
				marketingSendNode(quietWindow('skip', base), { journey: 'quiet', step: 'skip' }),
			);
			const hold = workflow(
				'rules: quiet hold',
				phones('+44 7911 2', 3),
				marketingSendNode(quietWindow('hold', base), { journey: 'quiet', step: 'hold' }),
			);
			await n8n.importWorkflows([skip, hold]);

			const skipped = await n8n.execute(skip.id ?? '', { timeoutMs: 5 * 60_000 });
			const out = jsonOf(skipped.data, 'Send', { output: 1 });
			expect(out).toHaveLength(3);
			const policy = out[0].policy as { decision: string; resumeAt: string; timeZone: string };
			expect(policy).toMatchObject({ decision: 'quiet_hours', timeZone: 'Asia/Tokyo' });
			expect(Date.parse(policy.resumeAt)).toBeGreaterThan(Date.now());
			expect(await messagesTo('+4479110')).toHaveLength(0);

			const held = await n8n.execute(hold.id ?? '', { timeoutMs: 8 * 60_000 });
			expect(held.run.status).toBe('success');
			const sent = jsonOf(held.data, 'Send', { output: 0 });
			expect(sent).toHaveLength(3);
			const accepted = await messagesTo('+4479112');
			expect(accepted).toHaveLength(3);
			// Sent once the window ended, not before.
			const windowEnd = Date.parse(policy.resumeAt);
			for (const message of accepted) expect(message.acceptedAt).toBeGreaterThanOrEqual(windowEnd);
		},
		10 * 60_000,
	);
});
