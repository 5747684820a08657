import {
	parseTemplateDefinition,
	templateDefinitionSchema,
	type TemplateDefinition,
} from '../../core/templates';
import { allFixtureTemplates } from '../../sandbox/fixtures/templates';
import rejected from '../../sandbox/fixtures/templates/flash_sale_rejected.en_US.json';

const body = { type: 'BODY', text: 'Hi {{1}}', example: { body_text: [['Ana']] } };
const base = {
	id: '1',
	name: 'greeting',
	language: 'en_US',
	status: 'APPROVED',
	category: 'UTILITY',
};

function firstIssue(input: unknown): string {
	const parsed = templateDefinitionSchema.safeParse(input);
	expect(parsed.success).toBe(false);
	if (parsed.success) return '';
	const issue = parsed.error.issues[0];
	return `${issue?.path.join('.')}: ${issue?.message}`;
}

describe('templateDefinitionSchema', () => {
	it('parses every fixture template, including one PENDING and one REJECTED', () => {
		expect(allFixtureTemplates.length).toBeGreaterThanOrEqual(16);
		const statuses = allFixtureTemplates.map((t) => t.status);
		expect(statuses).toContain('PENDING');
		expect(statuses).toContain('REJECTED');
		const names = new Set(allFixtureTemplates.map((t) => `${t.name}/${t.language}`));
		expect(names.size).toBe(allFixtureTemplates.length);
	});

	it('keeps fields it does not know (passthrough)', () => {
		const parsed = parseTemplateDefinition(rejected) as TemplateDefinition & {
			rejected_reason?: string;
		};
		expect(parsed.rejected_reason).toBe('PROMOTIONAL');
	});

	it("accepts the create API's lowercase shape and normalises types to uppercase", () => {
		const parsed = parseTemplateDefinition({
			name: 'login_code',
			language: 'en_US',
			status: 'approved',
			category: 'authentication',
			components: [
				{ type: 'body', add_security_recommendation: true },
				{ type: 'footer', code_expiration_minutes: 5 },
				{ type: 'buttons', buttons: [{ type: 'otp', otp_type: 'copy_code', text: 'Copy code' }] },
			],
		});
		expect(parsed.status).toBe('APPROVED');
		expect(parsed.category).toBe('AUTHENTICATION');
		expect(parsed.components.map((c) => c.type)).toEqual(['BODY', 'FOOTER', 'BUTTONS']);
		expect(parsed.components[2]).toEqual({
			type: 'BUTTONS',
			buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }],
		});
	});

	it('keeps component and button types it does not know', () => {
		const parsed = parseTemplateDefinition({
			...base,
			components: [
				body,
				{ type: 'CALL_PERMISSION_REQUEST' },
				{ type: 'BUTTONS', buttons: [{ type: 'SPM', text: 'View' }] },
			],
		});
		expect(parsed.components).toHaveLength(3);
		expect(parsed.components[1]).toEqual({ type: 'CALL_PERMISSION_REQUEST' });
	});

	it('rejects a TEXT header without text', () => {
		expect(firstIssue({ ...base, components: [{ type: 'HEADER', format: 'TEXT' }, body] })).toMatch(
			/text/,
		);
	});

	it('rejects a URL button without url and a header with an unknown format', () => {
		expect(
			templateDefinitionSchema.safeParse({
				...base,
				components: [body, { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Go' }] }],
			}).success,
		).toBe(false);
		expect(
			templateDefinitionSchema.safeParse({
				...base,
				components: [{ type: 'HEADER', format: 'HOLOGRAM' }, body],
			}).success,
		).toBe(false);
	});

	it('rejects a template without a BODY, with two BODY components, or a non-authentication BODY without text', () => {
		expect(firstIssue({ ...base, components: [] })).toMatch(/needs a BODY/);
		expect(firstIssue({ ...base, components: [body, body] })).toMatch(/more than one BODY/);
		expect(firstIssue({ ...base, components: [{ type: 'BODY' }] })).toMatch(
			/BODY component needs its "text"/,
		);
	});

	it('rejects a template without name or language', () => {
		expect(
			templateDefinitionSchema.safeParse({ ...base, name: '', components: [body] }).success,
		).toBe(false);
		expect(
			templateDefinitionSchema.safeParse({ ...base, language: undefined, components: [body] })
				.success,
		).toBe(false);
	});

	it('parseTemplateDefinition names the template and the field in its error', () => {
		expect(() =>
			parseTemplateDefinition({ ...base, components: [{ type: 'HEADER', format: 'TEXT' }, body] }),
		).toThrow(/Template definition "greeting".*components/);
	});
});
