/**
 * WhatsApp Check Conversation Window, run in-process: routing items to Open / Closed from a timestamp the user keeps
 * (ISO, unix seconds, unix ms), from the journey state store, and the Record Inbound Message operation. The routing
 * of windows opened through the sandbox and the trigger is in webhookStatus.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { createStateStore } from '../../core';
import { WhatsAppCheckWindow } from '../../nodes/WhatsAppCheckWindow/WhatsAppCheckWindow.node';
import { runNode } from '../../harness/n8n-context';
import type { Credentials, Params } from '../../harness/n8n-context';

const PHONE_NUMBER_ID = '106540352242922';
const OTHER_PHONE_NUMBER_ID = '106540352242923';
const HOUR = 3600_000;

const node = new WhatsAppCheckWindow();
const tmp = mkdtempSync(join(tmpdir(), 'wj-window-'));
let storeSeq = 0;
const newStorePath = (): string => join(tmp, `store-${++storeSeq}.sqlite`);

function credentials(phoneNumberId = PHONE_NUMBER_ID): Credentials {
	// The node only reads the phone number id (the scope of the store's keys); it makes no HTTP request.
	return {
		metaWhatsAppCloudApi: {
			accessToken: 'unused-token',
			phoneNumberId,
			appSecret: 'unused-secret',
			baseUrl: 'http://127.0.0.1:9',
		},
	};
}

interface Routed {
	open: INodeExecutionData[];
	closed: INodeExecutionData[];
}

async function run(
	parameters: Params | ((i: number) => Params),
	items: IDataObject[],
	opts: { continueOnFail?: boolean; phoneNumberId?: string } = {},
): Promise<Routed> {
	const { output } = await runNode(node, {
		parameters,
		credentials: credentials(opts.phoneNumberId),
		items: items.map((json) => ({ json })),
		continueOnFail: opts.continueOnFail,
	});
	expect(output).toHaveLength(2);
	return { open: output[0], closed: output[1] };
}

const fromItem = (lastInboundAt: unknown, options: IDataObject = {}): Params => ({
	operation: 'check',
	recipient: '+44 7911 123456',
	source: 'item',
	lastInboundAt,
	options,
});

const windowOf = (item: INodeExecutionData): IDataObject => item.json.whatsappWindow as IDataObject;

describe('Check Window with the last inbound time taken from the item', () => {
	const cases: Array<[string, (ms: number) => unknown]> = [
		['an ISO 8601 time', (ms) => new Date(ms).toISOString()],
		['an ISO 8601 time with an offset', (ms) => new Date(ms).toISOString().replace('Z', '+00:00')],
		['unix seconds (number)', (ms) => Math.floor(ms / 1000)],
		['unix seconds (string)', (ms) => String(Math.floor(ms / 1000))],
		['unix milliseconds (number)', (ms) => ms],
		['unix milliseconds (string)', (ms) => String(ms)],
	];

	it.each(cases)('reads %s: 1 h ago is Open, 25 h ago is Closed', async (_what, format) => {
		const now = Date.now();
		const times = [now - 1 * HOUR, now - 25 * HOUR, now - 23.5 * HOUR];
		const routed = await run(
			(i) => fromItem(format(times[i])),
			times.map((_, i) => ({ customer: i })),
		);
		expect(routed.open.map((item) => item.json.customer)).toEqual([0, 2]);
		expect(routed.closed.map((item) => item.json.customer)).toEqual([1]);
		const open = windowOf(routed.open[0]);
		expect(open).toMatchObject({
			open: true,
			recipient: '+447911123456',
			waId: '447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
		});
		// About 23 h left (second resolution for unix seconds).
		expect(Number(open.secondsLeft)).toBeGreaterThan(23 * 3600 - 5);
		expect(Number(open.secondsLeft)).toBeLessThanOrEqual(23 * 3600 + 1);
		expect(Date.parse(String(open.closesAt)) - Date.parse(String(open.lastInboundAt))).toBe(
			24 * HOUR,
		);
		expect(windowOf(routed.open[1]).secondsLeft).toBeLessThanOrEqual(30 * 60 + 1);
		expect(windowOf(routed.closed[0])).toMatchObject({ open: false, secondsLeft: 0 });
	});

	it("keeps the item's own fields and pairs each output item with its input", async () => {
		const now = Date.now();
		const routed = await run(
			(i) => fromItem(i === 0 ? now - HOUR : now - 48 * HOUR),
			[{ orderId: 'A-1' }, { orderId: 'A-2' }],
		);
		expect(routed.open).toEqual([
			expect.objectContaining({
				json: expect.objectContaining({ orderId: 'A-1' }),
				pairedItem: { item: 0 },
			}),
		]);
		expect(routed.closed).toEqual([
			expect.objectContaining({
				json: expect.objectContaining({ orderId: 'A-2' }),
				pairedItem: { item: 1 },
			}),
		]);
		expect(Date.parse(String(windowOf(routed.open[0]).checkedAt))).toBeGreaterThanOrEqual(
			now - 1000,
		);
	});

	it('treats an empty time as "never wrote": Closed', async () => {
		const routed = await run(fromItem(''), [{}]);
		expect(routed.closed).toHaveLength(1);
		expect(windowOf(routed.closed[0]).lastInboundAt).toBeUndefined();
	});

	it('"Minimum Time Left" closes a window that ends too soon', async () => {
		const tenMinutesLeft = Date.now() - 24 * HOUR + 10 * 60_000;
		expect((await run(fromItem(tenMinutesLeft), [{}])).open).toHaveLength(1);
		expect(
			(await run(fromItem(tenMinutesLeft, { minimumMinutesLeft: 5 }), [{}])).open,
		).toHaveLength(1);
		const routed = await run(fromItem(tenMinutesLeft, { minimumMinutesLeft: 15 }), [{}]);
		expect(routed.closed).toHaveLength(1);
		expect(windowOf(routed.closed[0]).open).toBe(false);
	});

	it('refuses an invalid date with an error that names the field', async () => {
		for (const bad of ['yesterday-ish', '2025-13-45T99:00:00Z', { at: 1 }]) {
			await expect(run(fromItem(bad), [{}])).rejects.toThrow(
				/Last Inbound Message At[\s\S]*(ISO 8601|Unix)/,
			);
		}
	});

	it('refuses a time in the future (a wrong unit, such as microseconds, would otherwise keep the window open for ever)', async () => {
		const now = Date.now();
		await expect(run(fromItem(now * 1000), [{}])).rejects.toThrow(
			/Last Inbound Message At[\s\S]*future/,
		);
		await expect(run(fromItem(new Date(now + 2 * HOUR).toISOString()), [{}])).rejects.toThrow(
			/Last Inbound Message At[\s\S]*future/,
		);
		// A clock a little ahead of n8n's is not an error.
		expect((await run(fromItem(new Date(now + 30_000).toISOString()), [{}])).open).toHaveLength(1);
	});

	it('with Continue on Fail, returns the bad item with its error and pairedItem and routes the others', async () => {
		const now = Date.now();
		const values = [now - HOUR, 'not a date', now - 30 * HOUR];
		const routed = await run(
			(i) => ({
				...fromItem(values[i]),
				recipient: ['+447911000001', '+447911000002', '+447911000003'][i],
			}),
			[{ n: 0 }, { n: 1 }, { n: 2 }],
			{
				continueOnFail: true,
			},
		);
		expect(routed.open.map((i) => i.json.n)).toEqual([0]);
		// Failed items carry only `error` (n8n's shape for the error output, where it merges the input item back in).
		const bad = routed.closed.find((i) => (i.pairedItem as { item: number }).item === 1);
		expect(bad).toBeDefined();
		expect(Object.keys(bad!.json)).toEqual(['error']);
		expect(String(bad!.json.error)).toMatch(/Last Inbound Message At/);
		expect(routed.closed.find((i) => i.json.n === 2)?.json.whatsappWindow).toMatchObject({
			open: false,
		});
	});

	it('names the recipient field when the phone number is not one, and continues past it on fail', async () => {
		await expect(run({ ...fromItem(Date.now()), recipient: '12' }, [{}])).rejects.toThrow(
			/^Recipient Phone Number: [\s\S]*international format/,
		);
		const routed = await run({ ...fromItem(Date.now()), recipient: 'call me' }, [{}], {
			continueOnFail: true,
		});
		expect(routed.closed[0].json.error).toBeDefined();
		expect(routed.closed[0].pairedItem).toEqual({ item: 0 });
	});
});

describe('Check Window from the state store, and Record Inbound Message', () => {
	const record = (storePath: string, recipient: string, extra: Params = {}): Params => ({
		operation: 'recordInbound',
		recipient,
		inboundAt: '',
		fromAd: false,
		options: {},
		stateStore: 'embedded',
		storePath,
		...extra,
	});
	const check = (storePath: string, recipient: string, options: IDataObject = {}): Params => ({
		operation: 'check',
		recipient,
		source: 'store',
		options,
		stateStore: 'embedded',
		storePath,
	});

	it('a customer nobody recorded is Closed', async () => {
		const routed = await run(check(newStorePath(), '+447911123000'), [{}]);
		expect(routed.closed).toHaveLength(1);
		expect(windowOf(routed.closed[0])).toMatchObject({ open: false, freeEntryPointOpen: false });
	});

	it('after Record Inbound Message, a later check of the same customer (in any format) is Open', async () => {
		const storePath = newStorePath();
		const recorded = await run(record(storePath, '+44 7911 123001'), [{ from: 'crm' }]);
		expect(recorded.open).toHaveLength(1);
		expect(windowOf(recorded.open[0])).toMatchObject({ open: true, recipient: '+447911123001' });
		const routed = await run(
			(i) =>
				check(storePath, ['+447911123001', '00447911123001', '447911123001', '+447911123002'][i]),
			[{}, {}, {}, {}],
		);
		expect(routed.open).toHaveLength(3);
		expect(routed.closed.map((i) => windowOf(i).recipient)).toEqual(['+447911123002']);
	});

	it('records the time the customer wrote, so a message 25 h old does not open the window', async () => {
		const storePath = newStorePath();
		const at = new Date(Date.now() - 25 * HOUR).toISOString();
		const recorded = await run(record(storePath, '+447911123003', { inboundAt: at }), [{}]);
		expect(recorded.closed).toHaveLength(1);
		expect(windowOf(recorded.closed[0]).lastInboundAt).toBe(at);
		expect((await run(check(storePath, '+447911123003'), [{}])).closed).toHaveLength(1);
		// A newer message reopens it; an older one recorded afterwards does not shorten it.
		await run(
			record(storePath, '+447911123003', {
				inboundAt: String(Math.floor(Date.now() / 1000) - 3600),
			}),
			[{}],
		);
		await run(record(storePath, '+447911123003', { inboundAt: at }), [{}]);
		const routed = await run(check(storePath, '+447911123003'), [{}]);
		expect(routed.open).toHaveLength(1);
		expect(Number(windowOf(routed.open[0]).secondsLeft)).toBeGreaterThan(22 * 3600);
	});

	it('a message from an ad opens the 72 h free entry point as well', async () => {
		const storePath = newStorePath();
		const recorded = await run(record(storePath, '+447911123004', { fromAd: true }), [{}]);
		expect(windowOf(recorded.open[0])).toMatchObject({ open: true, freeEntryPointOpen: true });
		const closesAt = Date.parse(String(windowOf(recorded.open[0]).freeEntryPointClosesAt));
		expect(closesAt - Date.now()).toBeGreaterThan(71 * HOUR);
	});

	it('keeps windows apart per business phone number', async () => {
		const storePath = newStorePath();
		await run(record(storePath, '+447911123005'), [{}]);
		expect((await run(check(storePath, '+447911123005'), [{}])).open).toHaveLength(1);
		expect(
			(await run(check(storePath, '+447911123005'), [{}], { phoneNumberId: OTHER_PHONE_NUMBER_ID }))
				.closed,
		).toHaveLength(1);
	});

	it('sees a window the trigger (or any other writer) recorded in the same store file', async () => {
		const storePath = newStorePath();
		const store = createStateStore({ backend: 'embedded', path: storePath });
		try {
			await store.recordInbound({
				phoneNumberId: PHONE_NUMBER_ID,
				waId: '447911123006',
				at: new Date(Date.now() - 2 * HOUR),
			});
			await store.recordInbound({
				phoneNumberId: PHONE_NUMBER_ID,
				waId: '447911123007',
				at: new Date(Date.now() - 24 * HOUR + 5 * 60_000),
			});
		} finally {
			await store.close();
		}
		const routed = await run(
			(i) => check(storePath, ['+447911123006', '+447911123007'][i], { minimumMinutesLeft: 10 }),
			[{ n: 0 }, { n: 1 }],
		);
		expect(routed.open.map((i) => i.json.n)).toEqual([0]);
		expect(routed.closed.map((i) => i.json.n)).toEqual([1]);
	});

	it('refuses a bad "Inbound Message At" with an error naming it', async () => {
		const storePath = newStorePath();
		await expect(
			run(record(storePath, '+447911123008', { inboundAt: 'last tuesday' }), [{}]),
		).rejects.toThrow(/Inbound Message At/);
		await expect(
			run(record(storePath, '+447911123008', { inboundAt: String(Date.now() * 1000) }), [{}]),
		).rejects.toThrow(/Inbound Message At[\s\S]*future/);
		// Nothing was recorded by the refused items.
		expect((await run(check(storePath, '+447911123008'), [{}])).closed).toHaveLength(1);
	});
});
