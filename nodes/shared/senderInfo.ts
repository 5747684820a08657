import type { NodeExecutionHint } from 'n8n-workflow';

import { TtlCache } from '../../core';
import type { CloudApiClient, PhoneNumberInfo } from '../../core';
import type { MetaCredential } from './credentials';

/** Phone number details change rarely (Meta re-rates quality at most daily): one Graph call per number per 10 minutes. */
const senderInfo = new TtlCache<PhoneNumberInfo | undefined>(10 * 60 * 1000);

/** The business number's Graph details, cached per process; undefined when they cannot be read (the send says why). */
export function phoneNumberInfo(
	client: CloudApiClient,
	credential: MetaCredential,
): Promise<PhoneNumberInfo | undefined> {
	return senderInfo.get(`${credential.baseUrl}|${credential.phoneNumberId}`, () =>
		client.getPhoneNumber().catch(() => undefined),
	);
}

/** For tests: forget cached details. */
export function clearPhoneNumberInfoCache(): void {
	senderInfo.clear();
}

/**
 * What the output pane says about the number that sent: which number and business name, and a warning when Meta
 * rates its quality YELLOW or RED — the credential test cannot show these (n8n only reports success), and a falling
 * quality rating is what precedes Meta lowering the number's messaging limits.
 */
export function phoneNumberHints(info: PhoneNumberInfo | undefined): NodeExecutionHint[] {
	if (!info) return [];
	const number = info.display_phone_number ?? info.id;
	const name = info.verified_name ? ` (${info.verified_name})` : '';
	const quality = info.quality_rating ?? 'UNKNOWN';
	const throughput = info.throughput?.level ? `, throughput ${info.throughput.level}` : '';
	const hints: NodeExecutionHint[] = [
		{
			type: 'info',
			location: 'outputPane',
			message: `Sent from ${number}${name}: quality rating ${quality}${throughput}.`,
		},
	];
	if (quality === 'YELLOW' || quality === 'RED') {
		hints.push({
			type: quality === 'RED' ? 'danger' : 'warning',
			location: 'outputPane',
			message:
				`Meta rates ${number} ${quality}: customers are blocking or reporting its messages. Meta may lower its messaging limit; ` +
				'send fewer marketing templates to cold contacts and check the quality tab in WhatsApp Manager.',
		});
	}
	return hints;
}
