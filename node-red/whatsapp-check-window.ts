/**
 * Node-RED node `whatsapp-check-window`: routes each message by the customer's 24-hour service window —
 * output 1 "open" (a free-form message may be sent), output 2 "closed" (only a template may). `msg.window`
 * carries the ConversationWindow. Can also record an inbound message that reached the flow another way.
 */
import { normalizePhoneNumber, parseTimestamp, windowFrom, z } from '../core';
import type { ConversationWindow } from '../core';
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
	/** Where the last inbound time comes from: the journey state store, or a typed input (a CRM field, say). */
	source: z
		.enum(['store', 'input'], { message: "Window Source must be 'store' or 'input'" })
		.default('store'),
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

		const check = async (
			msg: NodeMessage,
		): Promise<{ window: ConversationWindow & { recipient: string; checkedAt: string } }> => {
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
			const { e164, waId } = normalizePhoneNumber(String(to), s.defaultCountry || undefined);
			const key = { phoneNumberId: cloud.phoneNumberId, waId };
			const now = new Date();
			let window: ConversationWindow;
			if (s.operation === 'recordInbound') {
				const store = await cloud.store();
				const at = s.inboundAt
					? parseTimestamp(
							await evaluate(RED, node, msg, s.inboundAt, s.inboundAtType),
							'Inbound message at',
						)
					: undefined;
				await store.recordInbound({ ...key, at: at ?? now, referral: s.fromAd });
				window = await store.getWindow({ ...key, now });
			} else if (s.source === 'input') {
				const last = parseTimestamp(
					await evaluate(RED, node, msg, s.lastInboundAt, s.lastInboundAtType),
					'Last inbound message at',
				);
				window = windowFrom(key.phoneNumberId, waId, last?.getTime() ?? 0, 0, now.getTime());
			} else {
				window = await (await cloud.store()).getWindow({ ...key, now });
			}
			// A window about to close counts as closed, so a slow next step does not meet error 131047.
			const open = window.open && window.secondsLeft > s.minimumMinutesLeft * 60;
			return { window: { ...window, open, recipient: e164, checkedAt: now.toISOString() } };
		};

		const counts = { open: 0, closed: 0 };
		node.on('input', (msg, send, done) => {
			check(msg).then(
				({ window }) => {
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
