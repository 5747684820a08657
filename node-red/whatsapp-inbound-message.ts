/**
 * Node-RED node `whatsapp-inbound-message`: acts on a customer's message as the webhook node emitted it.
 * "Download media": the image, video, audio, document or sticker by its media id → `msg.payload` (a Buffer),
 * `msg.filename`, and `msg.media` (the Buffer with Meta's MIME type, size and SHA-256, which was checked).
 * "Mark as read": blue ticks, optionally Meta's typing indicator (shown until the reply is sent, at most 25 s).
 * The n8n node's "Download Media" and "Mark as Read" call the same core.
 */
import { MAX_MEDIA_BYTES, TYPING_INDICATOR_SECONDS, z } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import { blank } from './lib/cloud';
import { mediaOnMessage } from './lib/media';
import {
	StatusBadge,
	asError,
	connectionOf,
	errorDetails,
	evaluate,
	parseNodeSettings,
} from './lib/node';

const MAX_MEGABYTES = MAX_MEDIA_BYTES / (1024 * 1024);

const settingsSchema = z.object({
	server: z
		.string({ required_error: 'choose a WhatsApp Cloud config' })
		.min(1, 'choose a WhatsApp Cloud config'),
	operation: z
		.enum(['downloadMedia', 'markAsRead'], {
			message: "Operation must be 'downloadMedia' or 'markAsRead'",
		})
		.default('downloadMedia'),
	mediaId: z.string().default('payload.media.id'),
	mediaIdType: z.string().default('msg'),
	messageId: z.string().default('payload.messageId'),
	messageIdType: z.string().default('msg'),
	typingIndicator: z.boolean().default(false),
	maxFileSizeMb: z.preprocess(
		blank,
		z.coerce
			.number()
			.min(0.1, 'Max file size must be 0.1–100 MB')
			.max(MAX_MEGABYTES, 'Max file size must be 0.1–100 MB')
			.default(MAX_MEGABYTES),
	),
});
type InboundSettings = z.infer<typeof settingsSchema>;
type InboundDef = NodeDef & Partial<Record<keyof InboundSettings, unknown>>;

function idFrom(value: unknown, what: string, where: string): string {
	if ((typeof value !== 'string' && typeof value !== 'number') || String(value).trim() === '')
		throw new Error(`${what} is empty: set ${where}`);
	return String(value).trim();
}

function register(RED: NodeAPI): void {
	function WhatsAppInboundMessageNode(this: NodeInstance, def: InboundDef): void {
		RED.nodes.createNode(this, def);
		const node = this;
		let settings: InboundSettings | undefined;
		let setupError: Error | undefined;
		try {
			settings = parseNodeSettings(settingsSchema, def, 'WhatsApp Inbound Message');
			connectionOf(RED, settings.server);
		} catch (error) {
			setupError = asError(error);
			node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
			node.error(setupError.message);
		}
		const badge = new StatusBadge(node, {
			done: settings?.operation === 'markAsRead' ? 'read' : 'downloaded',
		});

		const act = async (msg: NodeMessage): Promise<void> => {
			if (setupError || !settings)
				throw setupError ?? new Error('WhatsApp Inbound Message is not configured');
			const s = settings;
			const client = connectionOf(RED, s.server).client();
			if (s.operation === 'downloadMedia') {
				const where = s.mediaIdType === 'msg' ? `msg.${s.mediaId}` : 'the Media ID field';
				const mediaId = idFrom(
					await evaluate(RED, node, msg, s.mediaId, s.mediaIdType),
					'Media ID',
					`${where} to the media id (the webhook node's msg.payload.media.id)`,
				);
				const payload = msg.payload as { media?: { filename?: unknown } } | undefined;
				const filename = payload?.media?.filename;
				const media = await mediaOnMessage(client, mediaId, {
					maxBytes: Math.round(s.maxFileSizeMb * 1024 * 1024),
					fileName: typeof filename === 'string' ? filename : undefined,
				});
				// The event stays readable next to the file: Node-RED's file nodes take payload + filename.
				msg.whatsappEvent = msg.payload;
				msg.payload = media.data;
				msg.filename = media.fileName;
				msg.media = media;
				return;
			}
			const where = s.messageIdType === 'msg' ? `msg.${s.messageId}` : 'the Message ID field';
			const messageId = idFrom(
				await evaluate(RED, node, msg, s.messageId, s.messageIdType),
				'Message ID',
				`${where} to the wamid of the customer's message (the webhook node's msg.payload.messageId)`,
			);
			const at = Date.now();
			await client.markAsRead(messageId, { typingIndicator: s.typingIndicator });
			msg.whatsappRead = {
				messageId,
				status: 'read',
				typingIndicator: s.typingIndicator,
				...(s.typingIndicator
					? {
							typingIndicatorUntil: new Date(at + TYPING_INDICATOR_SECONDS * 1000).toISOString(),
						}
					: {}),
			};
		};

		node.on('input', (msg, send, done) => {
			badge.start();
			act(msg).then(
				() => {
					badge.finish(true);
					send(msg);
					done();
				},
				(error: unknown) => {
					badge.finish(false);
					msg.whatsappError = errorDetails(error);
					done(asError(error));
				},
			);
		});
	}
	RED.nodes.registerType('whatsapp-inbound-message', WhatsAppInboundMessageNode);
}

export = register;
