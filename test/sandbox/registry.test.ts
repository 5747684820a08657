import { buildTemplateMessage } from '../../core/templates';
import { startSandbox, type AcceptedMessage, type Sandbox } from '../../sandbox';
import { allFixtureTemplates, fixtureSendValues } from '../../sandbox/fixtures/templates';
import {
	CUSTOMER,
	TOKEN,
	VERSION,
	bodyAs,
	control,
	errorOf,
	orderUpdate,
	send,
	start,
} from './helpers';

describe('sandbox default template registry (the shared fixtures)', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await startSandbox({ token: TOKEN, mps: 0, pairRateMs: 0, seed: 7 });
	});
	afterAll(() => sandbox.close());

	it('serves every fixture template from GET message_templates', async () => {
		const res = await fetch(
			`${sandbox.url}/${VERSION}/${sandbox.config.wabaId}/message_templates?limit=100`,
			{ headers: { authorization: `Bearer ${TOKEN}` } },
		);
		const body = (await res.json()) as { data: Array<{ name: string; language: string }> };
		expect(body.data.map((t) => `${t.name}/${t.language}`).sort()).toEqual(
			allFixtureTemplates.map((t) => `${t.name}/${t.language}`).sort(),
		);
	});

	const approved = allFixtureTemplates.filter((t) => t.status === 'APPROVED');
	it.each(approved.map((t) => [`${t.name}/${t.language}`, t] as const))(
		'accepts %s built by the core payload builder',
		async (key, def) => {
			const values = fixtureSendValues[key];
			expect(values).toBeDefined();
			const template = buildTemplateMessage(def, values);
			const res = await send(sandbox, {
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'template',
				template,
			});
			expect(res.status).toBe(200);
		},
	);

	it.each(
		allFixtureTemplates
			.filter((t) => t.status !== 'APPROVED')
			.map((t) => [t.name, t.status] as const),
	)('refuses %s (%s) with 132001', async (name) => {
		const def = allFixtureTemplates.find((t) => t.name === name);
		const res = await send(sandbox, {
			messaging_product: 'whatsapp',
			to: CUSTOMER,
			type: 'template',
			template: { name, language: { code: def?.language } },
		});
		expect(errorOf(res).code).toBe(132001);
	});
});

describe('sandbox memory ceiling', () => {
	it('keeps at most maxLogEntries messages and forgets the oldest first', async () => {
		const sandbox = await start({ maxLogEntries: 8, mps: 0 });
		try {
			const ids: string[] = [];
			for (let i = 0; i < 12; i += 1) {
				const res = await send(sandbox, orderUpdate(`+4477009008${String(i).padStart(2, '0')}`));
				ids.push((res.body as { messages: Array<{ id: string }> }).messages[0].id);
			}
			const kept = bodyAs<{ data: AcceptedMessage[] }>(
				await control(sandbox, 'GET', 'messages'),
			).data.map((m) => m.id);
			expect(kept.length).toBeLessThanOrEqual(8);
			expect(kept).toEqual(ids.slice(ids.length - kept.length));
			expect(sandbox.state.messages.size).toBe(kept.length);
		} finally {
			await sandbox.close();
		}
	});
});
