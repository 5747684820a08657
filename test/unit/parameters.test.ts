import type { IExecuteFunctions } from 'n8n-workflow';

import {
	containsExpression,
	itemParameterReader,
	jsonFieldPath,
} from '../../nodes/shared/parameters';

/** A context whose getNodeParameter counts its calls and answers per item like n8n (expressions see the item). */
function context(parameters: Record<string, unknown>, items: Array<Record<string, unknown>>) {
	const calls: string[] = [];
	const resolve = (value: unknown, item: Record<string, unknown>): unknown => {
		if (typeof value === 'string' && value.startsWith('={{ $json.'))
			return item[value.slice('={{ $json.'.length, -3)];
		if (value !== null && typeof value === 'object') {
			return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, item)]));
		}
		return value;
	};
	const ctx = {
		getNode: () => ({ parameters }),
		getInputData: () => items.map((json) => ({ json })),
		getNodeParameter: (name: string, itemIndex: number, fallback: unknown) => {
			calls.push(`${name}#${itemIndex}`);
			let value: unknown = parameters;
			for (const part of name.split('.'))
				value = (value as Record<string, unknown> | undefined)?.[part];
			return value === undefined ? fallback : resolve(value, items[itemIndex]);
		},
	} as unknown as IExecuteFunctions;
	return { ctx, calls };
}

describe('containsExpression', () => {
	it('finds expressions at any depth (resource mapper values, locators, collections)', () => {
		expect(containsExpression('={{ $json.phone }}')).toBe(true);
		expect(containsExpression('+1 555 0100')).toBe(false);
		expect(
			containsExpression({ mappingMode: 'defineBelow', value: { body_1: '={{ $json.name }}' } }),
		).toBe(true);
		expect(containsExpression({ __rl: true, mode: 'list', value: 'order_update|en_US' })).toBe(
			false,
		);
		expect(containsExpression([{ id: 'a' }, { id: '=b' }])).toBe(true);
		expect(containsExpression(undefined)).toBe(false);
	});
});

describe('itemParameterReader', () => {
	const items = [
		{ phone: '+1 1', name: 'Ada' },
		{ phone: '+1 2', name: 'Bob' },
		{ phone: '+1 3', name: 'Cy' },
	];
	const parameters = {
		recipient: '={{ $json.phone }}',
		template: { __rl: true, mode: 'list', value: 'order_update|en_US' },
		variables: { mappingMode: 'defineBelow', value: { body_1: '={{ $json.name }}' } },
		options: { journey: 'cart', step: '={{ $json.name }}' },
	};

	it('evaluates parameters with expressions for every item, so each item gets its own value', () => {
		const { ctx } = context(parameters, items);
		const param = itemParameterReader(ctx);
		expect(items.map((_, i) => param('recipient', i, ''))).toEqual(['+1 1', '+1 2', '+1 3']);
		expect(
			items.map(
				(_, i) =>
					param<{ value: { body_1: string } }>('variables', i, { value: { body_1: '' } }).value
						.body_1,
			),
		).toEqual(['Ada', 'Bob', 'Cy']);
		expect(items.map((_, i) => param('options.step', i, ''))).toEqual(['Ada', 'Bob', 'Cy']);
	});

	it('reads fixed parameters once per execution, not once per item', () => {
		const { ctx, calls } = context(parameters, items);
		const param = itemParameterReader(ctx);
		for (let i = 0; i < items.length; i++) {
			expect(param('options.journey', i, '')).toBe('cart');
			expect(param('options.defaultCountry', i, 'US')).toBe('US');
			expect(param('template', i, undefined, { extractValue: false })).toEqual(parameters.template);
		}
		expect(calls.filter((c) => c.startsWith('options.journey'))).toEqual(['options.journey#0']);
		expect(calls.filter((c) => c.startsWith('options.defaultCountry'))).toEqual([
			'options.defaultCountry#0',
		]);
		expect(calls.filter((c) => c.startsWith('template'))).toEqual(['template#0']);
	});

	it('treats a path below an expression as per item', () => {
		const { ctx, calls } = context({ options: '={{ $json.options }}' }, [
			{ options: 'x' },
			{ options: 'y' },
		]);
		const param = itemParameterReader(ctx);
		param('options.journey', 0, '');
		param('options.journey', 1, '');
		expect(calls).toEqual(['options.journey#0', 'options.journey#1']);
	});
});

describe('simple $json field expressions', () => {
	it('reads ={{ $json.a.b }} from the item itself and leaves everything else to n8n', () => {
		expect(jsonFieldPath('={{ $json.phone }}')).toEqual(['phone']);
		expect(jsonFieldPath('={{$json.customer.phone}}')).toEqual(['customer', 'phone']);
		expect(jsonFieldPath('={{ $json.phone.trim() }}')).toBeUndefined();
		expect(jsonFieldPath('={{ $json["phone"] }}')).toBeUndefined();
		expect(jsonFieldPath('=+{{ $json.phone }}')).toBeUndefined();
		expect(jsonFieldPath('={{ $json.phone }} ')).toBeUndefined();
		expect(jsonFieldPath('={{ $("Customers").item.json.phone }}')).toBeUndefined();
	});

	it('gives each item its own field value without calling n8n, and asks n8n when the field is missing', () => {
		const items = [
			{ customer: { phone: '+44 7911 123456' } },
			{ customer: { phone: 447911123457 } },
			{ customer: {} },
		];
		const { ctx, calls } = context({ recipient: '={{ $json.customer.phone }}' }, items);
		const param = itemParameterReader(ctx);
		expect(param('recipient', 0, '')).toBe('+44 7911 123456');
		expect(param('recipient', 1, '')).toBe(447911123457);
		expect(calls).toEqual([]);
		param('recipient', 2, '');
		expect(calls).toEqual(['recipient#2']);
	});
});
