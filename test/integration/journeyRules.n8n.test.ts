/**
 * Journey rules (issue #14) through the n8n Send Template node against the sandbox: what a user sees per item
 * (`policy`), on which output (version 2: "Skipped by Policy"; version 1: one output), in the output-pane hints, and
 * what the sandbox accepted. Real n8n runs of the same are in test/e2e/journey-rules.e2e.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createStateStore } from '../../core';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { outputsFor } from '../../nodes/WhatsAppSendTemplate/outputs';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { runNode } from '../../harness/n8n-context';
import type { Params } from '../../harness/n8n-context';

const TOKEN = 'sandbox-token-for-rules-123456';
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';

let sandbox: Sandbox;
const node = new WhatsAppSendTemplate();
const newStorePath = () => join(mkdtempSync(join(tmpdir(), 'wj-rules-')), 'store.sqlite');

const credentials = () => ({
	metaWhatsAppCloudApi: {
		accessToken: TOKEN,
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: WABA_ID,
		appSecret: 'secret',
		verifyToken: 'verify-me',
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
	},
});

/** spring_catalog is MARKETING: the category the frequency cap counts by default. */
const marketing = (recipient: string, storePath: string, extra: Params = {}): Params => ({
	operation: 'sendTemplate',
	recipient,
	template: { __rl: true, mode: 'name', value: 'spring_catalog (en_US)' },
	variablesMode: 'mapper',
	variables: { mappingMode: 'defineBelow', value: { body_1: 'Ana' } },
	stateStore: 'embedded',
	storePath,
	...extra,
	options: { pairIntervalSeconds: 0, ...((extra.options as Params) ?? {}) },
});

const accepted = async (): Promise<Array<{ to: string }>> =>
	(await sandbox.control<{ data: Array<{ to: string }> }>('messages')).data;
const decisions = (items: Array<{ json: Record<string, unknown> }>) =>
	items.map((i) => (i.json.policy as { decision: string }).decision);

beforeAll(async () => {
	sandbox = await startSandbox({ token: TOKEN, mps: 0, pairRateMs: 0, statusDelayMs: 5 });
});
afterAll(async () => {
	await sandbox.close();
});
beforeEach(async () => {
	await sandbox.control('reset', {});
});

describe('journey rules in the n8n Send Template node', () => {
	it('version 2 has a "Skipped by Policy" output; version 1 keeps its one output', () => {
		expect(outputsFor(2).map((o) => o.displayName)).toEqual(['Sent', 'Skipped by Policy']);
		expect(outputsFor(1)).toHaveLength(1);
	});

	it('Retry On Fail re-runs the node in the same execution: items already sent come back as already_sent, nothing is sent twice', async () => {
		const storePath = newStorePath();
		const recipients = ['+447911100001', '+447911100002', '+447911100003'];
		const run = () =>
			runNode(node, {
				parameters: (i) => marketing(recipients[i], storePath),
				items: recipients.map(() => ({ json: {} })),
				credentials: credentials(),
				typeVersion: 2,
				executionId: '501',
				runIndex: 0,
			});
		const first = await run();
		expect(decisions(first.output[0])).toEqual(['sent', 'sent', 'sent']);
		const retry = await run();
		// The step is done: the normal output, with the wamid of the earlier send.
		expect(decisions(retry.output[0])).toEqual(['already_sent', 'already_sent', 'already_sent']);
		expect(retry.output[0][0].json.policy).toMatchObject({
			messageId: first.output[0][0].json.messageId,
		});
		expect(retry.output[1]).toHaveLength(0);
		expect(retry.hints.map((h) => h.message)).toContain('Journey rules: 3 already sent.');
		expect(await accepted()).toHaveLength(3);

		// A new execution without journey and step is a new occurrence of the step.
		const next = await runNode(node, {
			parameters: (i) => marketing(recipients[i], storePath),
			items: recipients.map(() => ({ json: {} })),
			credentials: credentials(),
			typeVersion: 2,
			executionId: '502',
		});
		expect(decisions(next.output[0])).toEqual(['sent', 'sent', 'sent']);
	});

	it('with journey and step set, a re-run in a new execution does not send the step again; an Occurrence Key makes a new one', async () => {
		const storePath = newStorePath();
		const params = (occurrence: string) =>
			marketing('+447911100010', storePath, {
				options: { journey: 'spring', step: 'catalog' },
				journeyRules: occurrence ? { occurrenceKey: occurrence } : {},
			});
		const run = (occurrence = '') =>
			runNode(node, { parameters: params(occurrence), credentials: credentials(), typeVersion: 2 });
		expect(decisions((await run()).output[0])).toEqual(['sent']);
		expect(decisions((await run()).output[0])).toEqual(['already_sent']);
		expect(decisions((await run('order-7')).output[0])).toEqual(['sent']);
		expect(await accepted()).toHaveLength(2);
	});

	it('a frequency cap counted across workflows sends capped items to "Skipped by Policy" (version 1: the one output, with policy)', async () => {
		const storePath = newStorePath();
		const capped = (journey: string) =>
			marketing('+447911100020', storePath, {
				options: { journey, step: 'one' },
				journeyRules: {
					frequencyCap: { cap: { maxMessages: 1, periodHours: 24, categories: ['MARKETING'] } },
				},
			});
		const a = await runNode(node, {
			parameters: capped('a'),
			credentials: credentials(),
			typeVersion: 2,
			workflowId: 'wf-a',
		});
		expect(decisions(a.output[0])).toEqual(['sent']);
		const b = await runNode(node, {
			parameters: capped('b'),
			credentials: credentials(),
			typeVersion: 2,
			workflowId: 'wf-b',
		});
		expect(b.output[0]).toHaveLength(0);
		expect(b.output[1][0].json.policy).toMatchObject({
			decision: 'frequency_capped',
			code: 'WJ_FREQUENCY_CAPPED',
			count: 1,
			limit: 1,
		});
		expect(b.hints.map((h) => h.message)).toContain('Journey rules: 1 frequency capped.');
		const v1 = await runNode(node, {
			parameters: capped('c'),
			credentials: credentials(),
			typeVersion: 1,
			workflowId: 'wf-c',
		});
		expect(v1.output).toHaveLength(1);
		expect(decisions(v1.output[0])).toEqual(['frequency_capped']);
		expect(await accepted()).toHaveLength(1);
	});

	it('version 2 routes an opted-out customer to "Skipped by Policy"; version 1 still fails the item', async () => {
		const storePath = newStorePath();
		const store = createStateStore({ backend: 'embedded', path: storePath });
		await store.setOptOut({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: '447911100030',
			optedOut: true,
			at: new Date(),
		});
		await store.close();
		const params = marketing('+447911100030', storePath);
		const v2 = await runNode(node, {
			parameters: params,
			credentials: credentials(),
			typeVersion: 2,
		});
		expect(v2.output[1][0].json.policy).toMatchObject({
			decision: 'opted_out',
			code: 'WJ_OPTED_OUT',
		});
		await expect(
			runNode(node, { parameters: params, credentials: credentials(), typeVersion: 1 }),
		).rejects.toThrow(/131050|opted|stopped marketing/i);
		expect(await accepted()).toHaveLength(0);
	});

	it('Dry Run shows a decision per item and sends nothing, and records nothing (a real run then sends)', async () => {
		const storePath = newStorePath();
		const params = (dryRun: boolean) =>
			marketing('+447911100040', storePath, {
				options: { journey: 'spring', step: 'dry', dryRun },
			});
		const dry = await runNode(node, {
			parameters: params(true),
			credentials: credentials(),
			typeVersion: 2,
		});
		expect(dry.output[0][0].json).toMatchObject({ dryRun: true, policy: { decision: 'dry_run' } });
		expect(await accepted()).toHaveLength(0);
		const real = await runNode(node, {
			parameters: params(false),
			credentials: credentials(),
			typeVersion: 2,
		});
		expect(decisions(real.output[0])).toEqual(['sent']);
		// Now the preview knows the step is done.
		const again = await runNode(node, {
			parameters: params(true),
			credentials: credentials(),
			typeVersion: 2,
		});
		expect(decisions(again.output[0])).toEqual(['already_sent']);
		expect(again.hints.map((h) => h.message)).toContain(
			'Journey rules (dry run, nothing sent): 1 already sent.',
		);
		expect(await accepted()).toHaveLength(1);
	});

	it('quiet hours "Skip" routes the item out with resumeAt in the time zone given on the item', async () => {
		const storePath = newStorePath();
		const hhmm = (offsetMinutes: number) =>
			new Intl.DateTimeFormat('en-GB', {
				timeZone: 'America/Chicago',
				hour: '2-digit',
				minute: '2-digit',
				hourCycle: 'h23',
			}).format(new Date(Date.now() + offsetMinutes * 60_000));
		const out = await runNode(node, {
			parameters: marketing('+447911100050', storePath, {
				journeyRules: {
					quietHours: {
						hours: {
							start: hhmm(-60),
							end: hhmm(60),
							timeZone: 'America/Chicago',
							exemptCategories: ['AUTHENTICATION', 'UTILITY'],
							whenOutside: 'skip',
						},
					},
				},
			}),
			credentials: credentials(),
			typeVersion: 2,
		});
		const policy = out.output[1][0].json.policy as { decision: string; resumeAt: string };
		expect(policy).toMatchObject({ decision: 'quiet_hours', timeZone: 'America/Chicago' });
		const inAnHour = Date.now() + 60 * 60_000;
		expect(Math.abs(Date.parse(policy.resumeAt) - inAnHour)).toBeLessThan(2 * 60_000);
		expect(await accepted()).toHaveLength(0);
	});
});
