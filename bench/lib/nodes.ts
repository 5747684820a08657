/**
 * Our n8n nodes, loaded from source. Each node folder also holds `<Name>.node.json` (the codex), which Node's
 * resolver picks before `.node.ts` under ts-node, so the files are required with their extension.
 */
import type * as CheckWindowModule from '../../nodes/WhatsAppCheckWindow/WhatsAppCheckWindow.node';
import type * as SendTemplateModule from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import type * as WebhookStatusModule from '../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node';

export const { WhatsAppCheckWindow } =
	require('../../nodes/WhatsAppCheckWindow/WhatsAppCheckWindow.node.ts') as typeof CheckWindowModule;
export const { WhatsAppSendTemplate } =
	require('../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node.ts') as typeof SendTemplateModule;
export const { WhatsAppWebhookStatus } =
	require('../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node.ts') as typeof WebhookStatusModule;
