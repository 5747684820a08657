/**
 * Node-RED node `whatsapp-send-message`: one message in, one free-form (session) message out to a customer whose
 * 24-hour service window is open — text, a picture or file (by link, media id, or a Buffer uploaded once per distinct
 * content), reply buttons, a list, or any message in Meta's own shape. Shapes and checks come from core (the n8n
 * node's "Send Session Message" uses the same); sending, pacing, tracking and errors from lib/send.
 */
import { Buffer } from 'node:buffer';

import {
	SESSION_MEDIA_TYPES,
	buildSessionMessage,
	isCloudApiMessage,
	mediaReference,
	prepareSessionSend,
	sessionMessageFromFields,
	waitDeadline,
	waitOutputIndex,
	waitOutputNames,
	waitSpecForMessage,
	waitSpecFrom,
	z,
} from '../core';
import type {
	WaitSpec,
	SendContent,
	SessionMedia,
	SessionMediaType,
	SessionMessage,
	SessionMessageFields,
} from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import type { CloudConnection } from './lib/cloud';
import { MediaUploads, mediaTypeOf, mimeTypeOf } from './lib/media';
import { deliverySettingsShape, fieldOf, runSendNode } from './lib/send';
import { NodeWaits } from './lib/waits';
import type { BuildContext } from './lib/send';

const mediaTypeSchema = z.enum(SESSION_MEDIA_TYPES as [SessionMediaType, ...SessionMediaType[]]);

const settingsSchema = z.object({
	...deliverySettingsShape,
	/** How media is sent when the msg does not say: 'auto' reads it from the file's MIME type or the link's extension. */
	mediaType: z.union([z.literal('auto'), mediaTypeSchema]).default('auto'),
	/**
	 * Send and Wait: hold each sent msg until the customer answers. The message is reply buttons, a list (Reply Buttons
	 * names their outputs, in order) or a text (no Reply Buttons: any reply, on Reply).
	 */
	wait: z.boolean().default(false),
	waitButtons: z.string().default(''),
	waitForStatus: z.enum(['none', 'delivered', 'read']).default('none'),
	waitSeconds: z.coerce
		.number()
		.positive('Wait must be a positive number of seconds')
		.default(86_400),
});
type MessageSettings = z.infer<typeof settingsSchema>;
type MessageDef = NodeDef & Partial<Record<keyof MessageSettings, unknown>>;

const bufferSchema = z.custom<Buffer>((value) => Buffer.isBuffer(value), 'must be a Buffer');

const mediaSchema = z.union([
	z.string().trim().min(1, 'is an empty string'),
	bufferSchema,
	z
		.object({
			link: z.string().trim().min(1).optional(),
			id: z.union([z.string().trim().min(1), z.number().int().transform(String)]).optional(),
			buffer: bufferSchema.optional(),
			mimeType: z.string().trim().min(1).optional(),
			filename: z.string().trim().min(1).optional(),
			caption: z.string().optional(),
			type: mediaTypeSchema.optional(),
		})
		.refine(
			(m) => [m.link, m.id, m.buffer].filter((v) => v !== undefined).length === 1,
			'give exactly one of link, id or buffer',
		),
]);
type MediaInput = z.infer<typeof mediaSchema>;

/** "Yes" alone is both the id and the title of a button (or a row). */
const choiceSchema = (extra: z.ZodRawShape) =>
	z.union([
		z.string().transform((title) => ({ id: title, title })),
		z.object({ id: z.string().optional(), title: z.string().optional(), ...extra }),
	]);
const buttonsSchema = z.array(choiceSchema({}), {
	invalid_type_error: 'must be an array of titles or { id, title }',
});
const rowSchema = choiceSchema({
	description: z.string().optional(),
	section: z.string().optional(),
});
const listSchema = z.union([
	z.array(rowSchema),
	z.object({
		button: z.string().optional(),
		rows: z.array(rowSchema).optional(),
		sections: z
			.array(z.object({ title: z.string().optional(), rows: z.array(rowSchema) }))
			.optional(),
	}),
]);

const isRecord = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

/** A file to upload, or media already at Meta or on the web, and what the msg says about it. */
interface MediaSource {
	ref?: { id: string } | { link: string };
	file?: { data: Buffer; fileName?: string; mimeType?: string };
	caption?: string;
	type?: SessionMediaType;
}

function mediaSourceOf(input: MediaInput): MediaSource {
	if (typeof input === 'string') return { ref: mediaReference(input) };
	if (Buffer.isBuffer(input)) return { file: { data: input } };
	const { link, id, buffer, mimeType, filename, caption, type } = input;
	const ref = link !== undefined ? { link } : id !== undefined ? { id } : undefined;
	return {
		ref,
		file: buffer ? { data: buffer, fileName: filename, mimeType } : undefined,
		caption,
		type: type ?? (mimeType ? mediaTypeOf(mimeType) : undefined),
	};
}

function linkMimeType(link: string): string | undefined {
	try {
		return mimeTypeOf(new URL(link).pathname);
	} catch {
		return undefined;
	}
}

function contentTypeHeader(msg: NodeMessage): string | undefined {
	const headers = msg.headers;
	if (!isRecord(headers)) return undefined;
	const value = headers['content-type'];
	return typeof value === 'string' ? value.split(';')[0]?.trim() || undefined : undefined;
}

function register(RED: NodeAPI): void {
	function WhatsAppSendMessageNode(this: NodeInstance, def: MessageDef): void {
		RED.nodes.createNode(this, def);
		const node = this;
		const uploads = new MediaUploads();

		/** Fields for a media message; a file is uploaded here (not in a dry run), so the message carries its media id. */
		const mediaFields = async (
			ctx: BuildContext<MessageSettings>,
			source: MediaSource,
			hint: { type?: SessionMediaType; caption?: string },
		) => {
			const { msg, settings } = ctx;
			let file: { data: Buffer; fileName: string; mimeType: string } | undefined;
			if (source.file) {
				const fileName =
					source.file.fileName ??
					(typeof msg.filename === 'string' && msg.filename
						? msg.filename.split(/[\\/]/).pop()
						: undefined);
				const mimeType =
					source.file.mimeType ??
					(typeof msg.mimeType === 'string' && msg.mimeType ? msg.mimeType : undefined) ??
					contentTypeHeader(msg) ??
					mimeTypeOf(fileName);
				if (!mimeType) {
					throw new Error(
						'A file to send needs its type: set msg.mimeType (e.g. image/jpeg) or msg.filename with an extension (or mimeType / filename next to buffer in msg.payload.media)',
					);
				}
				file = { data: source.file.data, fileName: fileName ?? 'file', mimeType };
			}
			const fromFile = file ? mediaTypeOf(file.mimeType) : undefined;
			const link = source.ref && 'link' in source.ref ? source.ref.link : undefined;
			const fromLink = link ? linkMimeType(link) : undefined;
			const type =
				source.type ??
				hint.type ??
				(settings.mediaType !== 'auto' ? settings.mediaType : undefined) ??
				fromFile ??
				(fromLink ? mediaTypeOf(fromLink) : undefined);
			if (!type) {
				throw new Error(
					'Which kind of media is this? Set msg.payload.type to image, video, audio or document, or choose it in the node (Media as)',
				);
			}
			let upload: Record<string, unknown> | undefined;
			let ref = source.ref;
			if (file) {
				const sha256 = MediaUploads.sha256(file.data);
				// A dry run sends nothing, uploads included: the request shows media id "0" where the upload's id would go.
				const id = settings.dryRun ? '0' : await uploads.mediaId(ctx.client, file, sha256);
				ref = { id };
				upload = {
					mediaId: settings.dryRun ? undefined : id,
					fileName: file.fileName,
					mimeType: file.mimeType,
					bytes: file.data.length,
					sha256,
				};
			}
			const media: SessionMedia = {
				...ref,
				caption: source.caption ?? hint.caption,
				filename: file?.fileName,
			};
			return { fields: { type, media } satisfies SessionMessageFields, upload };
		};

		const build = async (ctx: BuildContext<MessageSettings>): Promise<SendContent> => {
			const payload = ctx.msg.payload;
			let message: SessionMessage;
			let upload: Record<string, unknown> | undefined;
			if (typeof payload === 'string') {
				message = sessionMessageFromFields({ type: 'text', text: payload });
			} else if (Buffer.isBuffer(payload)) {
				const built = await mediaFields(ctx, { file: { data: payload } }, {});
				message = sessionMessageFromFields(built.fields);
				upload = built.upload;
			} else if (isRecord(payload) && isCloudApiMessage(payload)) {
				message = buildSessionMessage(payload);
			} else if (isRecord(payload)) {
				const text = fieldOf(z.string(), payload.text, 'msg.payload.text');
				const media = fieldOf(mediaSchema, payload.media, 'msg.payload.media');
				const buttons = fieldOf(buttonsSchema, payload.buttons, 'msg.payload.buttons');
				const list = fieldOf(listSchema, payload.list, 'msg.payload.list');
				const kinds = [media && 'media', buttons && 'buttons', list && 'list'].filter(Boolean);
				if (kinds.length > 1) {
					throw new Error(
						`msg.payload has ${kinds.join(' and ')}: one message is one of them (a header on buttons goes in Meta's interactive shape)`,
					);
				}
				if (media !== undefined) {
					const type = fieldOf(mediaTypeSchema, payload.type, 'msg.payload.type');
					const caption = fieldOf(z.string(), payload.caption, 'msg.payload.caption') ?? text;
					const built = await mediaFields(ctx, mediaSourceOf(media), { type, caption });
					message = sessionMessageFromFields(built.fields);
					upload = built.upload;
				} else if (buttons !== undefined) {
					message = sessionMessageFromFields({ type: 'buttons', text, buttons });
				} else if (list !== undefined) {
					const rows = Array.isArray(list)
						? list
						: [
								...(list.rows ?? []),
								...(list.sections ?? []).flatMap((s) =>
									s.rows.map((row) => ({ ...row, section: s.title })),
								),
							];
					message = sessionMessageFromFields({
						type: 'list',
						text,
						rows,
						listButton: Array.isArray(list) ? undefined : list.button,
					});
				} else if (text !== undefined) {
					message = sessionMessageFromFields({ type: 'text', text });
				} else {
					throw new Error(
						'msg.payload holds no message: give text, media, buttons or list in it, a message in Meta\'s shape ({ type: "text", text: { body } }), or a string or Buffer as msg.payload',
					);
				}
			} else {
				throw new Error(
					'msg.payload holds no message: send a string (text), a Buffer (a file), or an object with text, media, buttons or list',
				);
			}
			if (ctx.settings.wait) {
				// Checked before the send: a button without an output would be a tap nothing could follow.
				specs.set(ctx.msg, waitSpecForMessage(waitSpecOf(ctx.settings), message));
			}
			return prepareSessionSend(message, upload);
		};

		// Send and Wait when ticked: one output per Reply Button plus No Response, Other Reply (Reply), Status, Failed.
		const waitSpecOf = (s: MessageSettings): WaitSpec =>
			waitSpecFrom({
				buttons: s.waitButtons,
				status: s.waitForStatus === 'none' ? undefined : s.waitForStatus,
			});
		/** Each msg's own spec (its reply ids), from build to deliver. */
		const specs = new WeakMap<NodeMessage, WaitSpec>();
		let waits: NodeWaits | undefined;
		const waitsFor = (s: MessageSettings, c: CloudConnection): NodeWaits | undefined => {
			if (!s.wait) return undefined;
			waits ??= new NodeWaits(node, waitSpecOf(s), () => c.store());
			return waits;
		};

		runSendNode(RED, node, def, {
			ready: ({ settings: s, cloud: c }) => void waitsFor(s, c),
			deliver: async ({ settings: s, cloud: c, msg }) => {
				const w = waitsFor(s, c);
				if (!w) return 'sent';
				const spec = specs.get(msg) ?? waitSpecOf(s);
				specs.delete(msg);
				const result = msg.payload as { messageId?: unknown; waId?: unknown };
				if (typeof result.messageId !== 'string' || typeof result.waId !== 'string') {
					// A dry run sent nothing: nothing to wait for.
					const out = waitOutputNames(spec).map((): NodeMessage | null => null);
					out[waitOutputIndex(spec, { kind: 'failed' })] = msg;
					node.send(out);
					return 'held';
				}
				await w.hold(
					msg,
					c.phoneNumberId,
					waitDeadline({ after: { amount: s.waitSeconds / 60, unit: 'minutes' } }, Date.now()),
					spec,
				);
				return 'held';
			},
			close: () => waits?.close(),
			label: 'WhatsApp Send Message',
			schema: settingsSchema,
			recipientHint:
				'(with a string or a Buffer as msg.payload, point Recipient at another property, e.g. msg.to)',
			build,
		});
	}
	RED.nodes.registerType('whatsapp-send-message', WhatsAppSendMessageNode);
}

export = register;
