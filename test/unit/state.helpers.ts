/**
 * The single-event calls the contract was first written against, expressed as the one write path stores have:
 * a batch of one item (what the webhook ingestion sends for one event).
 */
import type { JourneyStateStore, StatusName, StatusRecordResult } from '../../core/state';

/** True the first time an event id is seen within the horizon (counted from `at`). */
export async function rememberEvent(
	store: JourneyStateStore,
	p: { phoneNumberId: string; eventId: string; at?: Date },
): Promise<boolean> {
	const [result] = await store.applyEventBatch([{ remember: p, writes: [] }]);
	return result.fresh;
}

/** Records a status if it moves the message forward; never regresses. */
export async function recordStatus(
	store: JourneyStateStore,
	p: { phoneNumberId: string; messageId: string; status: StatusName; at: Date },
): Promise<StatusRecordResult> {
	const [result] = await store.applyEventBatch([{ writes: [{ kind: 'status', ...p }] }]);
	return result.statuses[0];
}
