import { NodeConnectionTypes } from 'n8n-workflow';
import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';

import * as downloadMedia from './actions/downloadMedia.operation';
import * as markAsRead from './actions/markAsRead.operation';
import * as sendAndWait from './actions/sendAndWait.operation';
import * as sendSessionMessage from './actions/sendSessionMessage.operation';
import * as sendTemplate from './actions/sendTemplate.operation';
import { router } from './actions/router';
import { operationProperty, optionsProperty, recipientProperty } from './description';
import { journeyRulesProperty } from './journeyRules';
import { getTemplateVariables } from './methods/resourceMapping';
import { searchTemplates } from './methods/listSearch';
import { stateStoreProperties } from '../shared/store';
import { outputsExpression } from './outputs';

// Its only webhook is n8n's waiting webhook (restartWebhook, Send and Wait): nothing to register with a third party.
// eslint-disable-next-line @n8n/community-nodes/webhook-lifecycle-complete
export class WhatsAppSendTemplate implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Send Template',
		name: 'whatsAppSendTemplate',
		icon: { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' },
		group: ['output'],
		// Version 2 adds the "Skipped by Policy" output (see outputs.ts); version 1 keeps one output.
		version: [1, 2],
		defaultVersion: 2,
		// The locator may arrive as its object or as its extracted value, depending on where n8n renders the subtitle.
		subtitle:
			'={{ $parameter["operation"] === "sendTemplate" ? "template: " + (typeof $parameter["template"] === "object" ? ($parameter["template"].cachedResultName || $parameter["template"].value || "") : ($parameter["template"] || "")) : ({ sendSessionMessage: "session message", downloadMedia: "download media", markAsRead: "mark as read" })[$parameter["operation"]] || $parameter["operation"] }}',
		description:
			'Send Meta-approved WhatsApp template messages (and session messages) through the WhatsApp Cloud API, paced to your throughput limit',
		defaults: { name: 'WhatsApp Send Template' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		// Version 2: Sent and Skipped by Policy, or Send and Wait's outputs then Skipped by Policy; version 1: one output.
		outputs: outputsExpression,
		credentials: [
			{ name: 'metaWhatsAppCloudApi', required: true },
			{
				// n8n's own Redis credential, so queue-mode users reuse the connection they already configured.
				// eslint-disable-next-line @n8n/community-nodes/no-credential-reuse, @n8n/community-nodes/valid-credential-references
				name: 'redis',
				required: true,
				displayOptions: { show: { stateStore: ['redis'] } },
			},
		],
		// Send and Wait is resumed here by the WhatsApp Webhook Status trigger (n8n signs this URL; the node checks the
		// trigger's proof as well).
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: '={{ $nodeId }}',
				restartWebhook: true,
				isFullPath: true,
			},
		],
		hints: [
			{
				message:
					'Marketing templates to US (+1) numbers are withheld by Meta (131049); this node stops them before sending unless you allow it in Options.',
				type: 'info',
				location: 'outputPane',
				whenToDisplay: 'beforeExecution',
				displayCondition: '={{$parameter["operation"] === "sendTemplate"}}',
			},
		],
		properties: [
			operationProperty,
			recipientProperty,
			// Send and Wait: what it sends (template by default) decides which of the template's parameters show.
			sendAndWait.messageTypeProperty,
			...sendTemplate.description,
			...sendSessionMessage.description,
			...sendAndWait.description,
			...downloadMedia.description,
			...markAsRead.description,
			{ ...journeyRulesProperty },
			{ ...optionsProperty },
			...stateStoreProperties.map((p) => ({ ...p })),
		],
	};

	methods = {
		listSearch: { searchTemplates },
		resourceMapping: { getTemplateVariables },
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		return sendAndWait.webhook.call(this);
	}

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return router.call(this);
	}
}
