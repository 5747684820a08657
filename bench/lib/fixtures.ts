/**
 * Inputs shared by the scenarios: recipients, the fixture templates with valid values, and Meta-shaped status
 * webhook bodies (the same shape the sandbox sends and the fixtures in test/fixtures/webhooks show).
 */
import { allFixtureTemplates, fixtureSendValues } from '../../sandbox/fixtures/templates';
import type { TemplateDefinition } from '../../core';

/** Sandbox defaults (sandbox/options.ts): the business the benchmarks send for. */
export const WABA_ID = '102290129340398';
export const PHONE_NUMBER_ID = '106540352242922';
export const DISPLAY_PHONE_NUMBER = '15550783881';

/** German mobile numbers (+49 151 …, valid for libphonenumber): wa_id 4915100000000 + i. */
export function recipientWaId(i: number): string {
	return String(4915100000000 + i);
}

export function recipientE164(i: number): string {
	return `+${recipientWaId(i)}`;
}

export interface FixtureSend {
	def: TemplateDefinition;
	values: Record<string, unknown>;
}

/** Every APPROVED fixture template with the valid values the tests use for it. */
export function fixtureSends(): FixtureSend[] {
	const out: FixtureSend[] = [];
	for (const def of allFixtureTemplates) {
		const values = fixtureSendValues[`${def.name}/${def.language}`];
		if (def.status === 'APPROVED' && values) out.push({ def, values });
	}
	if (out.length === 0)
		throw new Error(
			'no approved fixture templates with send values: sandbox/fixtures/templates changed',
		);
	return out;
}

const STATUS_CYCLE = ['sent', 'delivered', 'read'] as const;

export interface StatusSpec {
	/** Message index: wamid and recipient derive from it. */
	message: number;
	status: (typeof STATUS_CYCLE)[number];
	timestamp: number;
}

export function wamidFor(message: number): string {
	return `wamid.HBgNNDkxNTEwMDAwMDAwMBUCABEYEkJFTkNI${message.toString(36).toUpperCase().padStart(10, '0')}AA==`;
}

/** A Meta status object as the Cloud API posts it (v24+: no conversation block, pricing kept). */
export function metaStatus(spec: StatusSpec): Record<string, unknown> {
	return {
		id: wamidFor(spec.message),
		status: spec.status,
		timestamp: String(spec.timestamp),
		recipient_id: recipientWaId(spec.message % 1_000_000),
		biz_opaque_callback_data: `wj1:w=bench;e=${spec.message % 997};j=bench;s=status`,
		pricing: { billable: true, pricing_model: 'PMP', category: 'utility', type: 'regular' },
	};
}

/** One webhook POST body carrying these statuses in one change, as Meta batches them. */
export function statusWebhookBody(specs: StatusSpec[]): Record<string, unknown> {
	return webhookBodyOf(specs.map(metaStatus));
}

/** The same envelope around Meta status objects given as they are (repeats are sent byte for byte). */
export function webhookBodyOf(statuses: Array<Record<string, unknown>>): Record<string, unknown> {
	return {
		object: 'whatsapp_business_account',
		entry: [
			{
				id: WABA_ID,
				changes: [
					{
						value: {
							messaging_product: 'whatsapp',
							metadata: {
								display_phone_number: DISPLAY_PHONE_NUMBER,
								phone_number_id: PHONE_NUMBER_ID,
							},
							statuses,
						},
						field: 'messages',
					},
				],
			},
		],
	};
}

/** sent, delivered, read for consecutive messages: `count` distinct status events starting at event `first`. */
export function statusSpecs(first: number, count: number, baseTimestamp: number): StatusSpec[] {
	const out: StatusSpec[] = [];
	for (let e = first; e < first + count; e++) {
		out.push({
			message: Math.floor(e / 3),
			status: STATUS_CYCLE[e % 3],
			timestamp: baseTimestamp + (e % 3),
		});
	}
	return out;
}
