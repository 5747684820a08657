/**
 * Node-RED node `whatsapp-check-window`: routes each message by the customer's 24-hour service window —
 * output 1 "open" (a free-form message may be sent), output 2 "closed" (only a template may).
 * `msg.whatsappWindow` carries the ConversationWindow (as n8n's `json.whatsappWindow`; `msg.window` is its
 * deprecated alias). Can also record an inbound message that reached the flow another way. Core decides.
 */
import { checkWindow, recordInboundAndCheck, z } from '../core';
import type { CheckedWindow, WindowSource } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import { blank } from './lib/cloud';
import { asError, connectionOf, evaluate, parseNodeSettings } from './lib/node';

const settingsSchema = z.object({
	server: z
		.string({ required_error: 'choose a WhatsApp Cloud config' })
		.min(1, 'choose a WhatsApp Cloud config'),
	operation: z
		.enum(['check', 'recordInbound'], { message: "Operation must be 'check' or 'recordInbound'" })
		.default('check'),
	recipient: z.string().default('payload.to'),
	recipientType: z.string().default('msg'),
	/**
	 * Where the last inbound time comes from: the journey state store, or a value on the message (a CRM field, say).
	 * n8n's names; flows saved earlier say 'input' for 'item'.
	 */
	source: z
		.enum(['store', 'item', 'input'], { message: "Window Source must be 'store' or 'item'" })
		.default('store')
		.transform((source): WindowSource => (source === 'input' ? 'item' : source)),
	lastInboundAt: z.string().default('payload.lastInboundAt'),
	lastInboundAtType: z.string().default('msg'),
	inboundAt: z.string().default(''),
	inboundAtType: z.string().default('msg'),
	fromAd: z.boolean().default(false),
	minimumMinutesLeft: z.preprocess(
		blank,
		z.coerce.number().min(0).max(1440, 'Minimum minutes left must be 0–1440').default(0),
	),
	defaultCountry: z.string().trim().default(''),
});
type CheckSettings = z.infer<typeof settingsSchema>;
type CheckDef = NodeDef & Partial<Record<keyof CheckSettings, unknown>>;

function register(RED: NodeAPI): void {
	function WhatsAppCheckWindowNode(this: NodeInstance, def: CheckDef): void {
		RED.nodes.createNode(this, def);
		const node = this;
		let settings: CheckSettings | undefined;
		let setupError: Error | undefined;
		try {
			settings = parseNodeSettings(settingsSchema, def, 'WhatsApp Check Window');
			connectionOf(RED, settings.server);
		} catch (error) {
			setupError = asError(error);
			node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
			// Logged at deploy; every message then fails with the same error, which Catch nodes see.
			node.error(setupError.message);
		}

		const check = async (msg: NodeMessage): Promise<CheckedWindow> => {
			if (setupError || !settings)
				throw setupError ?? new Error('WhatsApp Check Window is not configured');
			const s = settings;
			const cloud = connectionOf(RED, s.server);
			const to = await evaluate(RED, node, msg, s.recipient, s.recipientType);
			if ((typeof to !== 'string' && typeof to !== 'number') || String(to).trim() === '') {
				throw new Error(
					`Recipient is empty: set ${s.recipientType === 'msg' ? `msg.${s.recipient}` : 'the Recipient field'} to the customer's WhatsApp number`,
				);
			}
			const request = {
				recipient: String(to),
				defaultCountry: s.defaultCountry,
				phoneNumberId: cloud.phoneNumberId,
				minimumMinutesLeft: s.minimumMinutesLeft,
				store: () => cloud.store(),
			};
			if (s.operation === 'recordInbound') {
				return recordInboundAndCheck({
					...request,
					inboundAt: s.inboundAt
						? await evaluate(RED, node, msg, s.inboundAt, s.inboundAtType)
						: undefined,
					inboundAtField: 'Inbound message at',
					fromAd: s.fromAd,
				});
			}
			return checkWindow({
				...request,
				source: s.source,
				lastInboundAt:
					s.source === 'item'
						? await evaluate(RED, node, msg, s.lastInboundAt, s.lastInboundAtType)
						: undefined,
				lastInboundAtField: 'Last inbound message at',
			});
		};

		const counts = { open: 0, closed: 0 };
		node.on('input', (msg, send, done) => {
			check(msg).then(
				(window) => {
					msg.whatsappWindow = window;
					// Deprecated alias: flows saved before the output took n8n's name read msg.window.
					msg.window = window;
					counts[window.open ? 'open' : 'closed']++;
					node.status({
						fill: window.open ? 'green' : 'grey',
						shape: 'dot',
						text: `open ${counts.open} · closed ${counts.closed}`,
					});
					send(window.open ? [msg, null] : [null, msg]);
					done();
				},
				(error: unknown) => {
					node.status({ fill: 'red', shape: 'ring', text: asError(error).message.slice(0, 60) });
					done(asError(error));
				},
			);
		});
	}
	RED.nodes.registerType('whatsapp-check-window', WhatsAppCheckWindowNode);
}

export = register;
