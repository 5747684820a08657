import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';

import { normalizePhoneNumber, parseTimestamp, PhoneNumberError, windowFrom } from '../../core';
import type { ConversationWindow } from '../../core';
import { getStateStore, stateStoreProperties } from '../shared/store';
import { getMetaCredential } from '../shared/transport';

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
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Check Window',
						value: 'check',
						action: 'Check whether the service window is open',
						description:
							'Is the customer service window open? Items go to the Open or Closed output',
					},
					{
						name: 'Record Inbound Message',
						value: 'recordInbound',
						action: 'Record that the customer wrote',
						description:
							'For inbound messages that reach n8n another way than the WhatsApp Webhook Status trigger',
					},
				],
				default: 'check',
			},
			{
				displayName: 'Recipient Phone Number',
				name: 'recipient',
				type: 'string',
				required: true,
				default: '',
				placeholder: '+44 7911 123456',
				description: "The customer's WhatsApp number (any common format; wa_id digits work too)",
			},
			{
				displayName: 'Window Source',
				name: 'source',
				type: 'options',
				displayOptions: { show: { operation: ['check'] } },
				options: [
					{
						name: 'State Store',
						value: 'store',
						description:
							'Inbound messages recorded by the WhatsApp Webhook Status trigger (or Record Inbound Message)',
					},
					{
						name: 'Timestamp From Item',
						value: 'item',
						description:
							'The last inbound time you keep yourself, e.g. in a CRM field or an n8n Data Table',
					},
				],
				default: 'store',
			},
			{
				displayName: 'Last Inbound Message At',
				name: 'lastInboundAt',
				type: 'string',
				default: '',
				placeholder: '={{ $json.lastInboundAt }}',
				required: true,
				displayOptions: { show: { source: ['item'], operation: ['check'] } },
				description:
					'When the customer last wrote: ISO 8601 time or Unix timestamp (seconds or milliseconds). Empty means never.',
			},
			{
				displayName: 'Inbound Message At',
				name: 'inboundAt',
				type: 'string',
				default: '',
				placeholder: '={{ $json.timestamp }}',
				displayOptions: { show: { operation: ['recordInbound'] } },
				description: 'When the customer wrote (ISO 8601 or Unix timestamp); empty means now',
			},
			{
				displayName: 'From an Ad (Referral)',
				name: 'fromAd',
				type: 'boolean',
				default: false,
				displayOptions: { show: { operation: ['recordInbound'] } },
				description:
					'Whether the message came from a Click-to-WhatsApp ad or Page CTA, which opens the 72-hour free entry point window',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Default Country',
						name: 'defaultCountry',
						type: 'string',
						default: '',
						placeholder: 'GB',
						description: 'Two-letter country for numbers typed without a country code',
					},
					{
						displayName: 'Minimum Time Left (Minutes)',
						name: 'minimumMinutesLeft',
						type: 'number',
						typeOptions: { minValue: 0, maxValue: 1440 },
						default: 0,
						description:
							'Treat a window closing within this many minutes as closed, so a slow journey step does not hit error 131047',
					},
				],
			},
			...stateStoreProperties,
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const operation = this.getNodeParameter('operation', 0) as string;
		const open: INodeExecutionData[] = [];
		const closed: INodeExecutionData[] = [];
		const credential = await getMetaCredential(this);
		let store: Awaited<ReturnType<typeof getStateStore>> | undefined;

		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
				const recipient = this.getNodeParameter('recipient', itemIndex, '') as string;
				const { e164, waId } = normalizePhoneNumber(
					recipient,
					(options.defaultCountry as string) || undefined,
				);
				const now = new Date();
				let window: ConversationWindow;
				const key = { phoneNumberId: credential.phoneNumberId, waId };
				if (operation === 'recordInbound') {
					store ??= await getStateStore(this, itemIndex);
					const at =
						parseTimestamp(
							this.getNodeParameter('inboundAt', itemIndex, ''),
							'Inbound Message At',
							now,
						) ?? now;
					await store.recordInbound({
						...key,
						at,
						referral: this.getNodeParameter('fromAd', itemIndex, false) as boolean,
					});
					window = await store.getWindow({ ...key, now });
				} else if ((this.getNodeParameter('source', itemIndex, 'store') as string) === 'item') {
					const last = parseTimestamp(
						this.getNodeParameter('lastInboundAt', itemIndex, ''),
						'Last Inbound Message At',
						now,
					);
					window = windowFrom(key.phoneNumberId, waId, last?.getTime() ?? 0, 0, now.getTime());
				} else {
					store ??= await getStateStore(this, itemIndex);
					window = await store.getWindow({ ...key, now });
				}
				const minimumSeconds = Number(options.minimumMinutesLeft ?? 0) * 60;
				const isOpen = window.open && window.secondsLeft > minimumSeconds;
				const out: INodeExecutionData = {
					json: {
						...items[itemIndex].json,
						whatsappWindow: {
							...window,
							recipient: e164,
							open: isOpen,
							checkedAt: now.toISOString(),
						} as unknown as IDataObject,
					},
					pairedItem: { item: itemIndex },
				};
				(isOpen ? open : closed).push(out);
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
