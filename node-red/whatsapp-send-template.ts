/**
 * Node-RED node `whatsapp-send-template`: one message in, one approved template message out to its recipient.
 * The same rules as the n8n node, from the same core (prepareTemplateSend): validation before anything leaves,
 * US-marketing and opt-out guards; tracking, pacing and safe retries come through lib/send. This file reads the
 * node's settings and the msg.
 */
import {
	extractTemplateVariables,
	parseTemplateName,
	isCustomerOptedOut,
	prepareTemplateSend,
	waitDeadline,
	waitOutputIndex,
	waitOutputNames,
	waitSpecFrom,
	z,
} from '../core';
import type { CloudApiClient, SendContent, TemplateDefinition, TemplateSendPorts } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import type { CloudConnection, TemplateRef } from './lib/cloud';
import { evaluate } from './lib/node';
import { deliverySettingsShape, fieldOf, runSendNode } from './lib/send';
import { NodeWaits } from './lib/waits';

const settingsSchema = z.object({
	...deliverySettingsShape,
	templateId: z.string().default(''),
	templateName: z.string().default(''),
	templateLanguage: z.string().default(''),
	/** Editor mapping: one typed input per template variable key. */
	variables: z
		.array(
			z.object({
				key: z.string().regex(/^[a-z0-9_]+$/, 'variable keys are [a-z0-9_]'),
				value: z.string().default(''),
				type: z.string().default('str'),
			}),
		)
		.default([]),
	allowUsMarketing: z.boolean().default(false),
	skipOptedOut: z.boolean().default(true),
	useMarketingMessagesApi: z.boolean().default(false),
	/** Send and Wait: the template's quick replies, one per line; empty sends without waiting. */
	waitButtons: z.string().default(''),
	waitForStatus: z.enum(['none', 'delivered', 'read']).default('none'),
	/** How long the wait lasts before No Response. */
	waitSeconds: z.coerce
		.number()
		.positive('Wait must be a positive number of seconds')
		.default(86_400),
});
type SendSettings = z.infer<typeof settingsSchema>;
type SendDef = NodeDef & Partial<Record<keyof SendSettings, unknown>>;

/** msg.template: "name", "name (en_US)", or { id | name, language?, components? } to send prepared components. */
const templateOverrideSchema = z.union([
	z.string().trim().min(1, 'msg.template is an empty string'),
	z
		.object({
			id: z.string().trim().min(1).optional(),
			name: z.string().trim().min(1).optional(),
			language: z.string().trim().min(1).optional(),
			components: z.array(z.unknown()).optional(),
		})
		.refine(
			(t) => t.id !== undefined || t.name !== undefined,
			'msg.template needs an id or a name',
		),
]);
type TemplateOverride = z.infer<typeof templateOverrideSchema>;

const variablesSchema = z.record(z.unknown(), {
	invalid_type_error:
		'msg.payload.variables must be an object keyed by variable (body_1, header_text_1, ...)',
});

function register(RED: NodeAPI): void {
	function WhatsAppSendTemplateNode(this: NodeInstance, def: SendDef): void {
		RED.nodes.createNode(this, def);
		const node = this;

		const templateFor = (
			s: SendSettings,
			c: CloudConnection,
			api: CloudApiClient,
			override: TemplateOverride | undefined,
		): Promise<TemplateDefinition> => {
			let ref: TemplateRef;
			if (typeof override === 'string') ref = parseTemplateName(override);
			else if (override)
				ref = { id: override.id, name: override.name, language: override.language };
			else
				ref = {
					id: s.templateId || undefined,
					name: s.templateName || undefined,
					language: s.templateLanguage || undefined,
				};
			if (!ref.id && !ref.name)
				throw new Error(
					'No template: pick one in the node, or set msg.template to its name (or { name, language })',
				);
			return c.findTemplate(api, ref);
		};

		/** Editor mappings for this template's variables, then msg.payload.variables on top (all keys, so typos are reported). */
		const valuesFor = async (
			s: SendSettings,
			template: TemplateDefinition,
			msg: NodeMessage,
		): Promise<Record<string, unknown>> => {
			const values: Record<string, unknown> = {};
			const keys = new Set(extractTemplateVariables(template).map((v) => v.key));
			for (const mapping of s.variables) {
				if (!keys.has(mapping.key) || mapping.value === '') continue;
				const value = await evaluate(RED, node, msg, mapping.value, mapping.type);
				if (value !== undefined && value !== null && value !== '') values[mapping.key] = value;
			}
			const payload = msg.payload;
			if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
				const fromMsg = fieldOf(
					variablesSchema,
					(payload as Record<string, unknown>).variables,
					'msg.payload.variables',
				);
				for (const [key, value] of Object.entries(fromMsg ?? {}))
					if (value !== undefined) values[key] = value;
			}
			return values;
		};

		/** What the use case reads from this node: the msg's content, the opt-outs in the config's state store. */
		interface Item {
			settings: SendSettings;
			msg: NodeMessage;
			override: TemplateOverride | undefined;
		}
		let ports: TemplateSendPorts<Item> | undefined;
		const portsFor = (c: CloudConnection): TemplateSendPorts<Item> =>
			(ports ??= {
				allowUsMarketingSwitch: 'Allow marketing to US numbers',
				contentFor: async (template, { settings, msg, override }) =>
					typeof override === 'object' && override.components !== undefined
						? { components: override.components }
						: { values: await valuesFor(settings, template, msg) },
				isOptedOut: async (waId) => isCustomerOptedOut(await c.store(), c.phoneNumberId, waId),
			});

		// Send and Wait when Reply Buttons are set: one output per button plus No Response, Other Reply, Status, Failed.
		let waits: NodeWaits | undefined;
		const waitsFor = (s: SendSettings, c: CloudConnection): NodeWaits | undefined => {
			if (!s.waitButtons.trim()) return undefined;
			waits ??= new NodeWaits(
				node,
				waitSpecFrom({
					buttons: s.waitButtons,
					status: s.waitForStatus === 'none' ? undefined : s.waitForStatus,
				}),
				() => c.store(),
			);
			return waits;
		};

		runSendNode(RED, node, def, {
			// At deploy, so a wait held before a restart (its msg is in the store) can be resumed at once.
			ready: ({ settings: s, cloud: c }) => void waitsFor(s, c),
			deliver: async ({ settings: s, cloud: c, msg }) => {
				const w = waitsFor(s, c);
				if (!w) return 'sent';
				const result = msg.payload as { messageId?: unknown; waId?: unknown };
				const spec = waitSpecFrom({
					buttons: s.waitButtons,
					status: s.waitForStatus === 'none' ? undefined : s.waitForStatus,
				});
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
				);
				return 'held';
			},
			close: () => waits?.close(),
			label: 'WhatsApp Send Template',
			schema: settingsSchema,
			build: async ({
				settings: s,
				cloud: c,
				client: api,
				msg,
				recipient,
			}): Promise<SendContent> => {
				const override = fieldOf(templateOverrideSchema, msg.template, 'msg.template');
				const template = await templateFor(s, c, api, override);
				const item = { settings: s, msg, override };
				// The node's settings hold the policy switches under core's names.
				return prepareTemplateSend({ template, recipient, item, policy: s }, portsFor(c));
			},
		});
	}
	RED.nodes.registerType('whatsapp-send-template', WhatsAppSendTemplateNode);
}

export = register;
