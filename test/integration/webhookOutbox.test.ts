/**
 * The trigger's outbox: events answered 200 but still in a batch window when the process dies are emitted after a
 * restart, once, marked `recovered`; events emitted normally leave the outbox; a test webhook keeps nothing. A
 * "process" here is a fresh copy of the node's modules (its own batcher, clocks and store handle) on the same
 * SQLite file; the dead one's open batch is simply never emitted, as after kill -9.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, INodeType } from 'n8n-workflow';

import { ALL_EVENT_KINDS, computeSignature, createStateStore, OUTBOX_TIMING } from '../../core';
import { callWebhook, hookContext } from '../../harness/n8n-context';
import type { Credentials, Params, WebhookCall, WebhookResult } from '../../harness/n8n-context';

const APP_SECRET = 'app-secret-for-outbox-tests-xyz';
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
const WINDOW = 5_000;
const tmp = mkdtempSync(join(tmpdir(), 'wj-outbox-'));
let seq = 0;

const credentials: Credentials = {
	metaWhatsAppCloudApi: {
		accessToken: 'token-for-outbox-tests-1',
		phoneNumberId: PHONE_NUMBER_ID,
		wabaId: WABA_ID,
		appSecret: APP_SECRET,
		verifyToken: 'verify',
		apiVersion: 'v25.0',
		baseUrl: 'http://127.0.0.1:9',
	},
};

/** Date.now as every process sees it: the real clock plus `skew` (the time a restart and the grace take). */
const realNow = Date.now.bind(Date);
/** The production timing, but a done delay short enough to wait for (each process's copy of core gets it). */
const TIMING: typeof OUTBOX_TIMING = { ...OUTBOX_TIMING, doneDelayMs: 1_000 };
let skew = 0;
beforeEach(() => {
	skew = 0;
	jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
});
afterEach(() => jest.restoreAllMocks());

/** A new n8n process: the node's modules loaded afresh (no open batch, no store handle, no drain clock). */
function newProcess(): INodeType {
	let node!: INodeType;
	jest.isolateModules(() => {
		const mod = require('../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node') as {
			WhatsAppWebhookStatus: new () => INodeType;
		};
		node = new mod.WhatsAppWebhookStatus();
		const core = require('../../core') as { OUTBOX_TIMING: typeof OUTBOX_TIMING };
		Object.assign(core.OUTBOX_TIMING, TIMING);
	});
	return node;
}

function params(storePath: string, options: IDataObject = {}): Params {
	return {
		registration: 'manual',
		events: [...ALL_EVENT_KINDS],
		options: { batchWindow: WINDOW, ...options },
		stateStore: 'embedded',
		storePath,
	};
}

function statusesBody(ids: string[], status = 'delivered'): string {
	return JSON.stringify({
		object: 'whatsapp_business_account',
		entry: [
			{
				id: WABA_ID,
				changes: [
					{
						field: 'messages',
						value: {
							messaging_product: 'whatsapp',
							metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
							statuses: ids.map((id) => ({
								id,
								status,
								timestamp: String(Math.floor(Date.now() / 1000)),
								recipient_id: '447911000001',
							})),
						},
					},
				],
			},
		],
	});
}

const EMPTY = '{"object":"whatsapp_business_account","entry":[]}';

function post(
	node: INodeType,
	body: string,
	parameters: Params,
	extra: Partial<WebhookCall> = {},
): Promise<WebhookResult> {
	const raw = Buffer.from(body, 'utf8');
	return callWebhook(node, parameters, credentials, {
		webhookName: 'default',
		headers: {
			'content-type': 'application/json',
			'x-hub-signature-256': computeSignature(raw, APP_SECRET),
		},
		rawBody: raw,
		...extra,
	});
}

/** Resolves once the trigger answered the POST (a leader answers long before it returns). */
function answered(
	node: INodeType,
	body: string,
	parameters: Params,
	extra: Partial<WebhookCall> = {},
): { answer: Promise<number>; result: Promise<WebhookResult> } {
	let done!: (status: number) => void;
	const answer = new Promise<number>((resolve) => (done = resolve));
	const result = post(node, body, parameters, { ...extra, onAnswer: (status) => done(status) });
	return { answer, result };
}

const items = (r: WebhookResult): IDataObject[] =>
	(r.response.workflowData?.[0] ?? []).map((i) => i.json);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const AFTER_GRACE = WINDOW + TIMING.doneDelayMs + TIMING.graceMs + 1_000;

/** Emits the dead process's batch so the test leaves no timer (its events are recovered already). */
async function bury(node: INodeType, leader: Promise<WebhookResult>, nodeId = 'node-1') {
	const hook = hookContext(node, { registration: 'manual', options: {} }, credentials, 'http://x');
	(hook as unknown as { getNode: () => { id: string } }).getNode = () => ({ id: nodeId });
	await node.webhookMethods!.default!.delete!.call(hook);
	await leader;
}

describe('webhook outbox: acknowledged events survive a crash in the batch window', () => {
	it('emits the events of a batch whose process died, once, marked recovered, in the next request after restart', async () => {
		const path = join(tmp, `store-${++seq}.sqlite`);
		const dead = newProcess();
		const leader = answered(dead, statusesBody(['wamid.A1', 'wamid.A2']), params(path));
		expect(await leader.answer).toBe(200);
		const follower = await post(dead, statusesBody(['wamid.A3']), params(path));
		expect([follower.status, follower.response.workflowData]).toEqual([200, undefined]);

		// kill -9 here: the batch never emits. n8n restarts; the first request after the grace emits them — here a
		// retry of one of them from Meta (itself a duplicate by now), or else the activation's own empty delivery.
		skew += AFTER_GRACE;
		const restarted = newProcess();
		const first = await post(
			restarted,
			statusesBody(['wamid.A3']),
			params(path, { batchWindow: 0 }),
		);
		expect(first.status).toBe(200);
		const recovered = items(first);
		expect(recovered.map((e) => e.messageId).sort()).toEqual(['wamid.A1', 'wamid.A2', 'wamid.A3']);
		expect(recovered.every((e) => e.recovered === true && typeof e.eventId === 'string')).toBe(
			true,
		);

		// Removed once handed over: neither this process nor another emits them again.
		await sleep(TIMING.doneDelayMs + 200);
		skew += AFTER_GRACE;
		const other = newProcess();
		expect(items(await post(other, EMPTY, params(path, { batchWindow: 0 })))).toEqual([]);
		await bury(dead, leader.result);
	}, 20_000);

	it('leaves nothing behind for events emitted normally, and keeps nothing for a test webhook', async () => {
		const path = join(tmp, `store-${++seq}.sqlite`);
		const node = newProcess();
		const live = await post(node, statusesBody(['wamid.B1']), params(path, { batchWindow: 0 }));
		expect(items(live).map((e) => e.messageId)).toEqual(['wamid.B1']);
		const test = await post(node, statusesBody(['wamid.B2']), params(path), { mode: 'manual' });
		expect(items(test).map((e) => e.messageId)).toEqual(['wamid.B2']);
		await sleep(TIMING.doneDelayMs + 200);
		const store = createStateStore({ backend: 'embedded', path });
		expect(
			await store.claimOutbox({ trigger: 'wf-trigger:node-1', olderThan: Date.now() + 1 }),
		).toEqual([]);
		await store.close();
	}, 20_000);

	it('does not take the events of a live batch (younger than the window and grace) from another process', async () => {
		const path = join(tmp, `store-${++seq}.sqlite`);
		const live = newProcess();
		const leader = answered(live, statusesBody(['wamid.C1']), params(path, { batchWindow: 1_000 }));
		await leader.answer;
		const other = newProcess();
		expect(items(await post(other, EMPTY, params(path, { batchWindow: 0 })))).toEqual([]);
		expect(items(await leader.result).map((e) => e.messageId)).toEqual(['wamid.C1']);
	}, 20_000);

	it('gives each of two triggers on the same number its own events back', async () => {
		const path = join(tmp, `store-${++seq}.sqlite`);
		const dead = newProcess();
		const a = answered(dead, statusesBody(['wamid.D1']), params(path), { nodeId: 'node-a' });
		const b = answered(dead, statusesBody(['wamid.D1']), params(path), { nodeId: 'node-b' });
		expect(await Promise.all([a.answer, b.answer])).toEqual([200, 200]);
		skew += AFTER_GRACE;
		const restarted = newProcess();
		for (const nodeId of ['node-a', 'node-b']) {
			const r = await post(restarted, EMPTY, params(path, { batchWindow: 0 }), { nodeId });
			expect(items(r).map((e) => [e.messageId, e.recovered])).toEqual([['wamid.D1', true]]);
		}
		await bury(dead, a.result, 'node-a');
		await bury(dead, b.result, 'node-b');
	}, 20_000);
});
