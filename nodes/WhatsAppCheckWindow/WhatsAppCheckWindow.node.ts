import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';

import { checkWindow, PhoneNumberError, recordInboundAndCheck } from '../../core';
import type { CheckedWindow, JourneyStateStore, WindowSource } from '../../core';
import { getStateStore } from '../shared/store';
import { getMetaCredential } from '../shared/transport';
import { checkWindowProperties } from './description';

export class WhatsAppCheckWindow implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'WhatsApp Check Conversation Window',
		name: 'whatsAppCheckWindow',
		icon: { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle:
			'={{$parameter["operation"] === "recordInbound" ? "record inbound message" : "open or closed?"}}',
		description:
			'Route each customer by their 24-hour customer service window: Open → free-form message, Closed → template',
		defaults: { name: 'WhatsApp Check Conversation Window' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Open', 'Closed'],
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
		properties: checkWindowProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const operation = this.getNodeParameter('operation', 0) as string;
		const open: INodeExecutionData[] = [];
		const closed: INodeExecutionData[] = [];
		const { phoneNumberId } = await getMetaCredential(this);
		let store: JourneyStateStore | undefined;

		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
				const request = {
					recipient: this.getNodeParameter('recipient', itemIndex, '') as string,
					defaultCountry: options.defaultCountry as string | undefined,
					phoneNumberId,
					minimumMinutesLeft: Number(options.minimumMinutesLeft ?? 0),
					store: async () => (store ??= await getStateStore(this, itemIndex)),
				};
				let window: CheckedWindow;
				if (operation === 'recordInbound') {
					window = await recordInboundAndCheck({
						...request,
						inboundAt: this.getNodeParameter('inboundAt', itemIndex, ''),
						fromAd: this.getNodeParameter('fromAd', itemIndex, false) as boolean,
					});
				} else {
					const source = this.getNodeParameter('source', itemIndex, 'store') as WindowSource;
					window = await checkWindow({
						...request,
						source,
						lastInboundAt:
							source === 'item' ? this.getNodeParameter('lastInboundAt', itemIndex, '') : undefined,
					});
				}
				(window.open ? open : closed).push({
					json: { ...items[itemIndex].json, whatsappWindow: window as unknown as IDataObject },
					pairedItem: { item: itemIndex },
				});
			} catch (error) {
				// Name the field, as the timestamp errors do.
				if (error instanceof PhoneNumberError)
					error.message = `Recipient Phone Number: ${error.message}`;
				if (this.continueOnFail()) {
					// Only `error` at the top level: n8n then routes the item to the error output (merged with the input
					// item) under "Continue (using error output)", or keeps it on Closed under "Continue".
					closed.push({
						json: { error: (error as Error).message },
						pairedItem: { item: itemIndex },
					});
					continue;
				}
				throw new NodeOperationError(this.getNode(), error as Error, { itemIndex });
			}
		}
		return [open, closed];
	}
}
