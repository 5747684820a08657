import {
	buildTemplateMessage,
	parseTemplateDefinition,
	TemplateValidationError,
	validateTemplateMessage,
	type TemplateDefinition,
	type TemplateIssue,
} from '../../core/templates';
import { acceptsTemplateObject } from '../../core/templates/plan';
import { validateTemplateMessageFully } from '../../core/templates/validate';
import { allFixtureTemplates, fixtureSendValues } from '../../sandbox/fixtures/templates';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tampering reaches into arbitrary JSON
type Json = Record<string, any>;

const approved = allFixtureTemplates.filter(
	(t) => t.status === 'APPROVED' && fixtureSendValues[`${t.name}/${t.language}`],
);

function issuesOf(def: TemplateDefinition, values: Record<string, unknown>): TemplateIssue[] {
	try {
		buildTemplateMessage(def, values);
	} catch (error) {
		expect(error).toBeInstanceOf(TemplateValidationError);
		return (error as TemplateValidationError).issues;
	}
	throw new Error('expected a TemplateValidationError');
}

function definition(body: string, extra: Json[] = []): TemplateDefinition {
	return parseTemplateDefinition({
		name: 'shipping_update',
		language: 'en_US',
		status: 'APPROVED',
		category: 'UTILITY',
		components: [...extra, { type: 'BODY', text: body }],
	});
}

describe('compiled template plans', () => {
	it('does not reuse the plan of an earlier definition with the same name and language', () => {
		const before = definition('Hi {{1}}, your parcel is on its way.');
		const after = definition('Hi {{1}}, parcel {{2}} is on its way.');
		const oldMessage = buildTemplateMessage(before, { body_1: 'Ana' });
		expect(validateTemplateMessage(before, oldMessage)).toBeNull();

		// The re-fetched definition asks for one more value, in the builder and in the validator.
		expect(issuesOf(after, { body_1: 'Ana' })).toEqual([
			expect.objectContaining({ code: 131008, variable: 'body_2' }),
		]);
		expect(validateTemplateMessage(after, oldMessage)).toMatchObject({
			code: 132000,
			component: 'body',
		});
		const newMessage = buildTemplateMessage(after, { body_1: 'Ana', body_2: 'PX-1' });
		expect(validateTemplateMessage(after, newMessage)).toBeNull();

		// And the earlier definition still answers as before.
		expect(validateTemplateMessage(before, newMessage)).toMatchObject({
			code: 132000,
			component: 'body',
		});
		expect(buildTemplateMessage(before, { body_1: 'Ana' })).toEqual(oldMessage);
	});

	it('follows an edited copy of a definition (new header, new status)', () => {
		const def = definition('Hi {{1}}.');
		const message = buildTemplateMessage(def, { body_1: 'Ana' });
		const withHeader = {
			...def,
			components: [{ type: 'HEADER' as const, format: 'IMAGE' as const }, ...def.components],
		};
		expect(validateTemplateMessage(withHeader, message)).toMatchObject({
			// Meta: 132012 "header: Format mismatch, expected IMAGE, received UNKNOWN"
			// (https://github.com/netflie/laravel-notification-whatsapp/issues/36)
			code: 132012,
			component: 'header',
			variable: 'header_image',
		});
		expect(issuesOf(withHeader, { body_1: 'Ana' })).toEqual([
			expect.objectContaining({ variable: 'header_image' }),
		]);
		expect(validateTemplateMessage({ ...def, status: 'PAUSED' }, message)).toMatchObject({
			code: 132015,
		});
	});

	it('takes the quick path for every message the builder makes from the fixtures', () => {
		for (const def of approved) {
			const message = buildTemplateMessage(
				def,
				fixtureSendValues[`${def.name}/${def.language}`] as Json,
			);
			expect([def.name, acceptsTemplateObject(def, message)]).toEqual([def.name, true]);
			expect(acceptsTemplateObject(def, JSON.parse(JSON.stringify(message)))).toBe(true);
		}
	});

	it('accepts a hydrated body of exactly the limit and refuses one character more, in the builder and the validator', () => {
		const def = definition('Note: {{1}} ({{2}})');
		const room = 32768 - 'Note:  ()'.length;
		const fits = buildTemplateMessage(def, { body_1: 'a'.repeat(room - 1), body_2: 'b' });
		expect(validateTemplateMessage(def, fits)).toBeNull();
		expect(issuesOf(def, { body_1: 'a'.repeat(room), body_2: 'b' })).toEqual([
			expect.objectContaining({ code: 132005, variable: 'body_1' }),
		]);
		const over = JSON.parse(JSON.stringify(fits)) as Json;
		over.components[0].parameters[1].text = 'bb';
		expect(validateTemplateMessage(def, over)).toMatchObject({ code: 132005, component: 'body' });
		expect(validateTemplateMessage(def, over)).toEqual(validateTemplateMessageFully(def, over));
	});

	it('counts a placeholder used twice twice towards the header limit', () => {
		const def = definition('Body', [{ type: 'HEADER', format: 'TEXT', text: '{{1}}-{{1}}' }]);
		expect(
			buildTemplateMessage(def, { header_text_1: 'x'.repeat(29) }).components?.[0],
		).toMatchObject({ type: 'header' });
		expect(issuesOf(def, { header_text_1: 'x'.repeat(30) })).toEqual([
			expect.objectContaining({ code: 132005, component: 'header' }),
		]);
	});

	it('still refuses what the builder cannot build right for an unusual definition (NAMED placeholders differing only in case)', () => {
		const def = parseTemplateDefinition({
			name: 'greeting',
			language: 'en_US',
			status: 'APPROVED',
			category: 'MARKETING',
			parameter_format: 'NAMED',
			components: [{ type: 'BODY', text: 'Hi {{Name}}, or is it {{name}}?' }],
		});
		expect(issuesOf(def, { body_name: 'Ana' })).toEqual([
			expect.objectContaining({ code: 100, component: 'body' }),
		]);
	});
});

// Tampered messages: the quick path must give exactly the full check's answer, error wording included.
describe('validateTemplateMessage answers like the full check on tampered messages', () => {
	let seed = 7;
	const random = (): number => {
		seed = (seed + 0x6d2b79f5) | 0;
		let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
	const replacements: unknown[] = [
		null,
		'',
		' ',
		'x',
		7,
		-1,
		1.5,
		'1',
		[],
		{},
		true,
		'a\nb',
		'c'.repeat(1100),
		'HEADER',
		'button',
		'text',
		'image',
		'url',
		'https://cdn.example.com/x.jpg',
		{ id: '12' },
		{ link: 'ftp://x' },
	];

	function slots(root: unknown): Array<[Json, string | number]> {
		const out: Array<[Json, string | number]> = [];
		const walk = (node: unknown): void => {
			if (Array.isArray(node)) {
				node.forEach((child, i) => {
					out.push([node as unknown as Json, i]);
					walk(child);
				});
			} else if (node && typeof node === 'object') {
				for (const key of Object.keys(node)) {
					out.push([node as Json, key]);
					walk((node as Json)[key]);
				}
			}
		};
		walk(root);
		return out;
	}

	function tamper(message: Json): Json {
		const copy = JSON.parse(JSON.stringify(message)) as Json;
		const [parent, key] = pick(slots(copy));
		const value = parent[key];
		const r = random();
		if (r < 0.2) {
			if (Array.isArray(parent)) parent.splice(key as number, 1);
			else delete parent[key];
		} else if (r < 0.3 && Array.isArray(parent)) parent.push(JSON.parse(JSON.stringify(value)));
		else if (r < 0.4 && typeof value === 'string') parent[key] = value.toUpperCase();
		else if (r < 0.45 && typeof value === 'number') parent[key] = String(value);
		else if (r < 0.55 && value && typeof value === 'object' && !Array.isArray(value))
			value.parameter_name = pick(['first_name', 'x', '']);
		else parent[key] = JSON.parse(JSON.stringify(pick(replacements)) ?? 'null');
		return copy;
	}

	it.each(approved.map((t) => [`${t.name}/${t.language}`, t] as const))('%s', (_, def) => {
		const message = buildTemplateMessage(
			def,
			fixtureSendValues[`${def.name}/${def.language}`] as Json,
		) as unknown as Json;
		let refused = 0;
		for (let i = 0; i < 300; i++) {
			const tampered = tamper(random() < 0.3 ? tamper(message) : message);
			const target = random() < 0.9 ? def : pick(approved);
			const answer = validateTemplateMessage(target, tampered);
			expect(answer).toEqual(validateTemplateMessageFully(target, tampered));
			if (answer) refused++;
		}
		expect(refused).toBeGreaterThan(100);
	});
});
