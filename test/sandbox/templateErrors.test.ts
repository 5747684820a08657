/**
 * The sandbox refuses invalid template sends with the HTTP answer Meta's live API gives: status, code,
 * error.message and error_data.details as quoted in the threads each case in
 * test/fixtures/metaTemplateErrors.ts cites.
 */
import type { TemplateDefinition } from '../../core/templates';
import type { Sandbox } from '../../sandbox';
import { META_TEMPLATE_CASES, type MetaCase } from '../fixtures/metaTemplateErrors';
import { CUSTOMER, send, start } from './helpers';

const SHOWN = [
	'an IMAGE header template sent without its header',
	'a NAMED template sent parameters without parameter_name',
	'a button component with sub_type phone_number',
];
const cases: MetaCase[] = SHOWN.map((what) => {
	const found = META_TEMPLATE_CASES.find((c) => c.what === what);
	if (!found) throw new Error(`no Meta case "${what}"`);
	return found;
});

describe('sandbox answers invalid template sends as Meta does', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await start({ templates: cases.map((c) => c.template as TemplateDefinition) });
	});
	afterAll(() => sandbox.close());

	it.each(cases.map((c) => [c.what, c] as const))(
		'refuses %s with Meta status, code and wording',
		async (_what, c) => {
			const res = await send(sandbox, {
				messaging_product: 'whatsapp',
				to: CUSTOMER,
				type: 'template',
				template: { name: c.name, language: { code: c.language }, components: c.components },
			});
			expect(res.status).toBe(400);
			expect(res.body).toEqual({
				error: {
					message: c.metaMessage,
					type: 'OAuthException',
					code: c.code,
					error_data: {
						messaging_product: 'whatsapp',
						// Where Meta's details are not known, ours (naming the field and the fix) stand in.
						details: c.details ?? expect.stringMatching(c.ours),
					},
					fbtrace_id: expect.any(String),
				},
			});
		},
	);
});
