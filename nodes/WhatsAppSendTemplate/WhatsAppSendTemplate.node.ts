import { NodeConnectionTypes } from 'n8n-workflow';
import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';

import * as downloadMedia from './actions/downloadMedia.operation';
import * as markAsRead from './actions/markAsRead.operation';
import * as sendSessionMessage from './actions/sendSessionMessage.operation';
import * as sendTemplate from './actions/sendTemplate.operation';
import { router } from './actions/router';
import { operationProperty, optionsProperty, recipientProperty } from './description';
import { getTemplateVariables } from './methods/resourceMapping';
import { searchTemplates } from './methods/listSearch';
import { stateStoreProperties } from '../shared/store';

export class WhatsAppSendTemplate implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Send Template',
		name: 'whatsAppSendTemplate',
		icon: { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' },
		group: ['output'],
		version: 1,
		// The locator may arrive as its object or as its extracted value, depending on where n8n renders the subtitle.
		subtitle:
			'={{ $parameter["operation"] === "sendTemplate" ? "template: " + (typeof $parameter["template"] === "object" ? ($parameter["template"].cachedResultName || $parameter["template"].value || "") : ($parameter["template"] || "")) : ({ sendSessionMessage: "session message", downloadMedia: "download media", markAsRead: "mark as read" })[$parameter["operation"]] || $parameter["operation"] }}',
		description:
			'Send Meta-approved WhatsApp template messages (and session messages) through the WhatsApp Cloud API, paced to your throughput limit',
		defaults: { name: 'WhatsApp Send Template' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
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
			...sendTemplate.description,
			...sendSessionMessage.description,
			...downloadMedia.description,
			...markAsRead.description,
			{ ...optionsProperty },
			...stateStoreProperties.map((p) => ({ ...p })),
		],
	};

	methods = {
		listSearch: { searchTemplates },
		resourceMapping: { getTemplateVariables },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return router.call(this);
	}
}
