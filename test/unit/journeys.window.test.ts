/**
 * The window decision both adapters call: the store or the item as source, the minimum time left, recording an
 * inbound message, and errors that name the field.
 */
import { checkWindow, MemoryStateStore, PhoneNumberError, recordInboundAndCheck } from '../../core';
import type { JourneyStateStore } from '../../core';

const PHONE_NUMBER_ID = '106540352242922';
const HOUR = 3600_000;
const NOW = new Date('2026-03-02T12:00:00.000Z');

function storeOpener(): { store: () => Promise<JourneyStateStore>; opened: () => number } {
	const store = new MemoryStateStore();
	let opened = 0;
	return {
		store: async () => {
			opened++;
			return store;
		},
		opened: () => opened,
	};
}

describe('checkWindow', () => {
	it('is open for a customer who wrote 2 hours ago (store) and closed for one never seen', async () => {
		const { store } = storeOpener();
		await (
			await store()
		).recordInbound({
			phoneNumberId: PHONE_NUMBER_ID,
			waId: '447911123456',
			at: new Date(NOW.getTime() - 2 * HOUR),
		});
		const base = { phoneNumberId: PHONE_NUMBER_ID, store, source: 'store' as const, now: NOW };
		const open = await checkWindow({ ...base, recipient: '+44 7911 123456' });
		expect(open).toMatchObject({
			open: true,
			recipient: '+447911123456',
			waId: '447911123456',
			secondsLeft: 22 * 3600,
			checkedAt: NOW.toISOString(),
		});
		const never = await checkWindow({ ...base, recipient: '+447911123499' });
		expect(never).toMatchObject({ open: false, secondsLeft: 0 });
		expect(never.lastInboundAt).toBeUndefined();
	});

	it('treats a window closing within the minimum time left as closed', async () => {
		const request = {
			recipient: '+447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store: storeOpener().store,
			source: 'item' as const,
			lastInboundAt: new Date(NOW.getTime() - 23 * HOUR).toISOString(),
			now: NOW,
		};
		expect((await checkWindow(request)).open).toBe(true);
		const tight = await checkWindow({ ...request, minimumMinutesLeft: 90 });
		expect(tight.open).toBe(false);
		// The time left is still told as it is, so a journey can show it.
		expect(tight.secondsLeft).toBe(3600);
	});

	it('reads the last inbound time from the item (Unix seconds too) without opening the store; empty means never', async () => {
		const { store, opened } = storeOpener();
		const base = {
			recipient: '447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store,
			source: 'item' as const,
			now: NOW,
		};
		const seconds = Math.floor((NOW.getTime() - 20 * HOUR) / 1000);
		expect(await checkWindow({ ...base, lastInboundAt: seconds })).toMatchObject({
			open: true,
			secondsLeft: 4 * 3600,
		});
		expect(await checkWindow({ ...base, lastInboundAt: '' })).toMatchObject({ open: false });
		expect(opened()).toBe(0);
	});

	it('names the field of a bad time, and rejects a bad number with a PhoneNumberError', async () => {
		const base = {
			recipient: '+447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store: storeOpener().store,
			source: 'item' as const,
			now: NOW,
		};
		await expect(checkWindow({ ...base, lastInboundAt: 'yesterday-ish' })).rejects.toThrow(
			/Last Inbound Message At "yesterday-ish" is not a date/,
		);
		await expect(
			checkWindow({ ...base, lastInboundAt: 'soon', lastInboundAtField: 'Last inbound' }),
		).rejects.toThrow(/^Last inbound "soon"/);
		await expect(checkWindow({ ...base, recipient: '12' })).rejects.toBeInstanceOf(
			PhoneNumberError,
		);
	});
});

describe('recordInboundAndCheck', () => {
	it('records the message in the store and answers with the open window (from an ad: free entry point too)', async () => {
		const { store } = storeOpener();
		const window = await recordInboundAndCheck({
			recipient: '+447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store,
			fromAd: true,
			now: NOW,
		});
		expect(window).toMatchObject({
			open: true,
			freeEntryPointOpen: true,
			recipient: '+447911123456',
			lastInboundAt: NOW.toISOString(),
		});
		const later = await checkWindow({
			recipient: '447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store,
			source: 'store',
			now: new Date(NOW.getTime() + HOUR),
		});
		expect(later).toMatchObject({ open: true, secondsLeft: 23 * 3600 });
	});

	it('records the time given, so a message 25 hours old leaves the window closed', async () => {
		const window = await recordInboundAndCheck({
			recipient: '+447911123456',
			phoneNumberId: PHONE_NUMBER_ID,
			store: storeOpener().store,
			inboundAt: new Date(NOW.getTime() - 25 * HOUR).toISOString(),
			now: NOW,
		});
		expect(window).toMatchObject({ open: false, freeEntryPointOpen: false });
	});
});
