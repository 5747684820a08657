import { allFixtureTemplates, fixtureSendValues } from '../../sandbox/fixtures/templates';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { startSandbox } from '../../sandbox';
import type { Sandbox } from '../../sandbox';
import { runNode } from '../../harness/n8n-context';

const TOKEN = 'every-template-token';
let sandbox: Sandbox;
const node = new WhatsAppSendTemplate();

const credentials = () => ({
	metaWhatsAppCloudApi: {
		accessToken: TOKEN,
		phoneNumberId: sandbox.config.phoneNumberId,
		wabaId: sandbox.config.wabaId,
		appSecret: 's',
		apiVersion: 'v25.0',
		baseUrl: sandbox.url,
	},
});

beforeAll(async () => {
	sandbox = await startSandbox({ token: TOKEN, mps: 0, pairRateMs: 0, statusDelayMs: 60_000 });
});
afterAll(async () => {
	await sandbox.close();
});

const approved = allFixtureTemplates.filter((t) => t.status === 'APPROVED');

describe('every kind of template Meta supports, sent through the node and accepted by the sandbox validator', () => {
	it.each(approved.map((t) => [`${t.name} (${t.language})`, t.name, t.language] as const))(
		'%s',
		async (_label, name, language) => {
			const values = fixtureSendValues[`${name}/${language}`];
			expect(values).toBeDefined();
			const { output } = await runNode(node, {
				parameters: {
					operation: 'sendTemplate',
					// A UK number: MARKETING templates to US numbers are stopped by the guard, tested elsewhere.
					recipient: '+447911123456',
					template: { __rl: true, mode: 'name', value: `${name} (${language})` },
					variablesMode: 'mapper',
					variables: { mappingMode: 'defineBelow', value: values },
					options: { pairIntervalSeconds: 0, skipOptedOut: false },
				},
				credentials: credentials(),
			});
			expect(String(output[0][0].json.messageId)).toMatch(/^wamid\./);
			expect(output[0][0].json.template).toMatchObject({ name, language });
		},
	);

	it('uploads a header document from an n8n binary property once per distinct file and sends its media ID', async () => {
		const pdf = Buffer.from('%PDF-1.4 invoice 42');
		const values = {
			...fixtureSendValues['invoice_document/en_US'],
			header_document: 'binary:data',
		};
		const { output, http } = await runNode(node, {
			parameters: {
				operation: 'sendTemplate',
				recipient: '+447911123456',
				template: { __rl: true, mode: 'name', value: 'invoice_document (en_US)' },
				variablesMode: 'mapper',
				variables: { mappingMode: 'defineBelow', value: values },
				options: { pairIntervalSeconds: 0 },
			},
			credentials: credentials(),
			items: [{ json: {} }, { json: {} }],
			binary: {
				0: { data: { data: pdf, mimeType: 'application/pdf', fileName: 'invoice.pdf' } },
				1: { data: { data: pdf, mimeType: 'application/pdf', fileName: 'invoice.pdf' } },
			},
		});
		expect(output[0]).toHaveLength(2);
		expect(http.filter((h) => h.url.endsWith('/media'))).toHaveLength(1);
		const messages = (await sandbox.control('messages')) as {
			data: Array<{
				request: {
					template: {
						components: Array<{ type: string; parameters: Array<{ document?: { id?: string } }> }>;
					};
				};
			}>;
		};
		const ids = messages.data
			.slice(-2)
			.map(
				(m) =>
					m.request.template.components.find((c) => c.type === 'header')?.parameters[0].document
						?.id,
			);
		expect(ids[0]).toMatch(/^\d+$/);
		expect(ids[1]).toBe(ids[0]);
	});
});
