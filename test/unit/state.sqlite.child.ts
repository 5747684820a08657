/**
 * A second process writing to the same SQLite state file, driven by state.sqlite.test.ts.
 *   race <db> <worker>  : waits for "go" on stdin, then de-dups 2,000 shared event ids and reserves
 *                         100 send slots; prints one JSON line with what it got.
 *   claims <db> <worker>: waits for "go", then admits 300 shared journey steps under a messaging limit of 100;
 *                         prints one JSON line with the steps it was admitted.
 *   write <db>          : records statuses wamid.0, wamid.1, ... forever, printing each index once
 *                         committed, until it is killed.
 */
import { SqliteStateStore } from '../../core/state/sqlite';
import { recordStatus, rememberEvent } from './state.helpers';

async function main(): Promise<void> {
	const [mode, path, worker] = process.argv.slice(2);
	const store = new SqliteStateStore({ path, busyTimeoutMs: 20_000 });
	if (mode === 'race') {
		process.stdout.write('ready\n');
		await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
		process.stdin.destroy();
		const fresh: string[] = [];
		const slots: number[] = [];
		for (let n = 0; n < 2000; n++) {
			// Odd workers walk the ids backwards, so workers meet in the middle and contend for the same ids.
			const i = Number(worker) % 2 === 1 ? 1999 - n : n;
			const eventId = `status:wamid.${i}:delivered`;
			if (
				await rememberEvent(store, {
					phoneNumberId: 'pn',
					eventId,
					at: new Date(Date.UTC(2025, 5, 18)),
				})
			)
				fresh.push(eventId);
			if (n % 20 === 0)
				slots.push(
					await store.reserveSendSlot({ key: 'pace:pn', intervalMs: 12.5, now: 1_000_000 }),
				);
		}
		await store.close();
		process.stdout.write(`${JSON.stringify({ worker, fresh, slots })}\n`, () => process.exit(0));
		return;
	}
	if (mode === 'claims') {
		// Journey rules: claim 300 shared step keys (each to its own customer) under a messaging limit of 100.
		process.stdout.write('ready\n');
		await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
		process.stdin.destroy();
		const admitted: string[] = [];
		for (let n = 0; n < 300; n++) {
			const i = Number(worker) % 2 === 1 ? 299 - n : n;
			const result = await store.admitSend({
				phoneNumberId: 'pn',
				waId: `4915100${String(i).padStart(4, '0')}`,
				token: `${worker}-${i}`,
				now: new Date(Date.UTC(2025, 5, 18) + n),
				template: true,
				step: { key: `step-${i}`, reentryPeriodMs: 0, retryWhenOutcomeUnknown: false },
				messagingLimit: { scope: 'portfolio', limit: 100 },
			});
			if (result.admitted) admitted.push(`step-${i}`);
		}
		await store.close();
		process.stdout.write(`${JSON.stringify({ worker, admitted })}\n`, () => process.exit(0));
		return;
	}
	if (mode === 'write') {
		for (let i = 0; ; i++) {
			await recordStatus(store, {
				phoneNumberId: 'pn',
				messageId: `wamid.${i}`,
				status: 'sent',
				at: new Date(),
			});
			await rememberEvent(store, { phoneNumberId: 'pn', eventId: `message:wamid.${i}` });
			process.stdout.write(`${i}\n`);
		}
	}
	throw new Error(`unknown mode ${mode}`);
}

main().catch((e: unknown) => {
	process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
	process.exit(1);
});
