/**
 * Sending an approved template to one customer: the template-send policy both adapters apply, in the order a user
 * sees its refusals — the template must be APPROVED, the message must fit the template (built from values, or given
 * as components and checked), MARKETING templates are not sent to US numbers unless allowed, nor to customers who
 * stopped marketing messages.
 */
import { isUsNumber } from '../phone';
import {
	TemplateValidationError,
	buildTemplateMessage,
	templateStatusProblem,
	validateTemplateMessage,
} from '../templates';
import type { TemplateDefinition, TemplateObject } from '../templates';
import type { TemplateMessage } from '../messages';
import { SendPolicyError } from './policy';
import type { Recipient, SendContent } from './send';

/** The switches a user sets on the node. */
export interface TemplateSendPolicy {
	/** Send MARKETING templates to US (+1) numbers, which Meta currently withholds (131049). */
	allowUsMarketing: boolean;
	/** Refuse MARKETING templates to customers recorded as opted out (Meta would answer 131050). */
	skipOptedOut: boolean;
	/** MARKETING templates go through the Marketing Messages API (/marketing_messages). */
	useMarketingMessagesApi: boolean;
}

/**
 * What fills the template: values by variable key (body_1, header_text_1, ...), built into Meta's components, or
 * Meta's "components" array as the user wrote it, checked against the template.
 */
export type TemplateContent = { values: Record<string, unknown> } | { components: unknown };

/** One send; `item` is the adapter's handle on where it came from (an item index, a msg), handed back to its ports. */
export interface TemplateSendRequest<Item> {
	template: TemplateDefinition;
	recipient: Recipient;
	item: Item;
	policy: TemplateSendPolicy;
}

/** What the use case asks of its adapter; made once per run (node execution or deployed node), not per message. */
export interface TemplateSendPorts<Item> {
	/** The name of the adapter's switch that allows marketing to US numbers, as its users see it. */
	allowUsMarketingSwitch: string;
	/** The item's values or components: read (and media uploaded) only once the template may be sent. */
	contentFor(template: TemplateDefinition, item: Item): Promise<TemplateContent>;
	/** Whether the customer stopped marketing messages from this business (the journey state store). */
	isOptedOut(waId: string): Promise<boolean>;
}

export interface TemplateSend extends SendContent {
	message: TemplateMessage;
	marketingMessagesApi: boolean;
	summary: { template: { id?: string; name: string; language: string; category: string } };
}

/** Decides whether and how a template goes to one recipient; every refusal comes before any request leaves. */
export async function prepareTemplateSend<Item>(
	request: TemplateSendRequest<Item>,
	ports: TemplateSendPorts<Item>,
): Promise<TemplateSend> {
	const { template, recipient, policy } = request;
	const status = templateStatusProblem(template);
	if (status) {
		throw new SendPolicyError(
			'template_not_approved',
			status.code,
			`Template "${template.name}" (${template.language}) is ${template.status}, not APPROVED: Meta only sends approved templates (error ${status.code})`,
		);
	}

	if (template.category === 'AUTHENTICATION' && recipient.type === 'bsuid') {
		throw new SendPolicyError(
			'bsuid_authentication',
			131062,
			`Not sent: "${template.name}" is an AUTHENTICATION template and the Recipient field holds a business-scoped user id (${recipient.e164}); Meta sends one-time codes to phone numbers only (error 131062). Put the customer's phone number in the Recipient field, or use a UTILITY template for a customer known only by username.`,
		);
	}

	const content = await ports.contentFor(template, request.item);
	let message: TemplateObject;
	if ('components' in content) {
		message = {
			name: template.name,
			language: { code: template.language },
			components: content.components,
		} as TemplateObject;
		const issue = validateTemplateMessage(template, message);
		if (issue) throw new TemplateValidationError([issue]);
	} else {
		message = buildTemplateMessage(template, content.values);
	}

	const isMarketing = template.category === 'MARKETING';
	if (isMarketing && !policy.allowUsMarketing && isUsNumber(recipient.e164)) {
		throw new SendPolicyError(
			'us_marketing',
			131049,
			`Not sent: "${template.name}" is a MARKETING template and ${recipient.e164} is a US number; Meta withholds marketing templates to US numbers (error 131049). Use a UTILITY template, or turn on "${ports.allowUsMarketingSwitch}".`,
		);
	}
	if (isMarketing && policy.skipOptedOut && (await ports.isOptedOut(recipient.waId))) {
		throw new SendPolicyError(
			'opted_out',
			131050,
			`Not sent: ${recipient.e164} stopped marketing messages from this business (recorded from a user_preferences or STOP webhook); Meta would answer 131050`,
		);
	}
	return {
		message: { type: 'template', template: message },
		marketingMessagesApi: isMarketing && policy.useMarketingMessagesApi,
		summary: {
			template: {
				id: template.id,
				name: template.name,
				language: template.language,
				category: template.category,
			},
		},
	};
}
