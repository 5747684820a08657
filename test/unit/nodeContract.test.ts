/**
 * Saved workflows refer to our nodes' names, parameter names and option values: they are contract. These tests
 * hold each node's and the credential's description to the copy recorded in test/fixtures/contract, so moving
 * code (one operation per file, description files) cannot change what a saved workflow depends on. A deliberate
 * change updates the record (UPDATE_CONTRACT=1) in the same commit as a node version bump.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { MetaWhatsAppCloudApi } from '../../credentials/MetaWhatsAppCloudApi.credentials';
import { WhatsAppJourneyReport } from '../../nodes/WhatsAppJourneyReport/WhatsAppJourneyReport.node';
import { WhatsAppCheckWindow } from '../../nodes/WhatsAppCheckWindow/WhatsAppCheckWindow.node';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { WhatsAppWebhookStatus } from '../../nodes/WhatsAppWebhookStatus/WhatsAppWebhookStatus.node';
import { WhatsAppWebhookReceiver } from '../../nodes/WhatsAppWebhookReceiver/WhatsAppWebhookReceiver.node';

const described: Record<string, unknown> = {
	metaWhatsAppCloudApi: new MetaWhatsAppCloudApi(),
	whatsAppSendTemplate: new WhatsAppSendTemplate().description,
	whatsAppCheckWindow: new WhatsAppCheckWindow().description,
	whatsAppWebhookStatus: new WhatsAppWebhookStatus().description,
	whatsAppWebhookReceiver: new WhatsAppWebhookReceiver().description,
	whatsAppJourneyReport: new WhatsAppJourneyReport().description,
};

const record = (name: string): string =>
	join(__dirname, '..', 'fixtures', 'contract', `${name}.json`);
// JSON round trip: functions (none expected) and undefined fields drop out as they do when n8n serves the type.
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('node descriptions are contract', () => {
	for (const [name, description] of Object.entries(described)) {
		it(`${name} describes the same nodes, parameters and option values as recorded`, () => {
			if (process.env.UPDATE_CONTRACT === '1') {
				writeFileSync(record(name), `${JSON.stringify(plain(description), null, '\t')}\n`);
			}
			expect(plain(description)).toEqual(JSON.parse(readFileSync(record(name), 'utf8')));
		});
	}
});
