/**
 * Sending a free-form (session) message inside the customer's 24-hour service window. The message itself comes from
 * core/messages (sessionMessageFromFields, buildSessionMessage); this says what a send of it reports.
 */
import { sessionMessageSchema } from '../messages';
import type { SessionMessage } from '../messages';
import type { SendContent } from './send';

export interface SessionSend extends SendContent {
	message: SessionMessage;
	summary: { type: SessionMessage['type']; upload?: Record<string, unknown> };
}

/** A session message ready to send; `upload` describes a file uploaded for it (its media id, name, type, size). */
export function prepareSessionSend(
	message: SessionMessage,
	upload?: Record<string, unknown>,
): SessionSend {
	return { message, summary: upload ? { type: message.type, upload } : { type: message.type } };
}

const SESSION_TYPES: ReadonlySet<unknown> = new Set(sessionMessageSchema.optionsMap.keys());

/**
 * Whether a value is a message in Meta's own shape, `type` naming a key that holds its content
 * ({ type: "text", text: { body } }), rather than fields to build one from.
 */
export function isCloudApiMessage(value: Record<string, unknown>): boolean {
	const type = value.type;
	if (!SESSION_TYPES.has(type)) return false;
	const content = value[type as string];
	return typeof content === 'object' && content !== null && !(content instanceof Uint8Array);
}
