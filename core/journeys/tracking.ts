/**
 * Tracking data for a send: what Meta echoes back as biz_opaque_callback_data on every status webhook, the join key
 * from a status back to the workflow (or flow), execution (or msg) and journey step that sent the message.
 */
import { MAX_CALLBACK_DATA_LENGTH, encodeTracking } from '../tracking';
import type { TrackingData } from '../tracking';

export interface TrackingInput extends TrackingData {
	/** The user's own biz_opaque_callback_data, sent as is instead of ours (an empty string sends none). */
	callbackData?: string;
}

export interface SendTracking {
	/** What the output shows; absent when the user's own callback data replaced ours. */
	tracking?: TrackingData;
	bizOpaqueCallbackData: string;
}

/**
 * The tracking of one send. `callbackDataField` names where the user gave their own callback data (the adapter's
 * field), so a value over Meta's 512-character limit is refused with a fix the user can find.
 */
export function trackingFor(input: TrackingInput, callbackDataField: string): SendTracking {
	const own = input.callbackData;
	if (own !== undefined) {
		if (own.length > MAX_CALLBACK_DATA_LENGTH)
			throw new Error(
				`${callbackDataField} is longer than ${MAX_CALLBACK_DATA_LENGTH} characters, the Cloud API limit for biz_opaque_callback_data`,
			);
		return { bizOpaqueCallbackData: own };
	}
	const tracking: TrackingData = {};
	if (input.workflowId !== undefined) tracking.workflowId = input.workflowId;
	if (input.executionId !== undefined) tracking.executionId = input.executionId;
	if (input.journey !== undefined) tracking.journey = input.journey;
	if (input.step !== undefined) tracking.step = input.step;
	if (input.stepKey !== undefined) tracking.stepKey = input.stepKey;
	if (input.custom !== undefined) tracking.custom = input.custom;
	return { tracking, bizOpaqueCallbackData: encodeTracking(tracking) };
}
