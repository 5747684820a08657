import {
	buildTemplateMessage,
	extractTemplateVariables,
	parseTemplateDefinition,
	TemplateValidationError,
	validateTemplateMessage,
	type TemplateDefinition,
	type TemplateIssue,
} from '../../core/templates';
import {
	allFixtureTemplates,
	fixtureSendValues,
	fixtureTemplate,
} from '../../sandbox/fixtures/templates';

function valuesFor(def: TemplateDefinition): Record<string, unknown> {
	const values = fixtureSendValues[`${def.name}/${def.language}`];
	if (!values) throw new Error(`no fixture values for ${def.name}/${def.language}`);
	return { ...values };
}

function issuesOf(
	def: TemplateDefinition,
	values: Record<string, unknown>,
	options = {},
): TemplateIssue[] {
	try {
		buildTemplateMessage(def, values, options);
	} catch (error) {
		expect(error).toBeInstanceOf(TemplateValidationError);
		return (error as TemplateValidationError).issues;
	}
	throw new Error('expected a TemplateValidationError');
}

const approved = allFixtureTemplates.filter((t) => t.status === 'APPROVED');

describe('buildTemplateMessage round trip', () => {
	it.each(approved.map((t) => [`${t.name}/${t.language}`, t] as const))(
		'builds %s into a message the validator accepts',
		(_, def) => {
			const message = buildTemplateMessage(def, valuesFor(def));
			expect(message.name).toBe(def.name);
			expect(message.language.code).toBe(def.language);
			expect(validateTemplateMessage(def, message)).toBeNull();
			// The same holds for the whole send request.
			expect(
				validateTemplateMessage(def, {
					messaging_product: 'whatsapp',
					to: '+14155552671',
					type: 'template',
					template: message,
				}),
			).toBeNull();
		},
	);

	it.each(approved.map((t) => [`${t.name}/${t.language}`, t] as const))(
		'reports each missing required variable of %s with code 131008',
		(_, def) => {
			for (const variable of extractTemplateVariables(def).filter((v) => v.required)) {
				const values = valuesFor(def);
				delete values[variable.key];
				const issues = issuesOf(def, values);
				expect(issues).toEqual([
					expect.objectContaining({
						code: 131008,
						variable: variable.key,
						template: def.name,
						language: def.language,
					}),
				]);
			}
		},
	);

	it('drops optional buttons left empty, and the result still validates', () => {
		const def = fixtureTemplate('new_collection_image');
		const values = valuesFor(def);
		delete values.button_0_payload;
		values.button_1_payload = '';
		const message = buildTemplateMessage(def, values);
		const buttons = (message.components ?? []).filter((c) => c.type === 'button');
		expect(buttons.map((b) => (b.type === 'button' ? b.index : -1))).toEqual([2]);
		expect(validateTemplateMessage(def, message)).toBeNull();
	});
});

describe('buildTemplateMessage values', () => {
	it('sends NAMED parameters with their parameter_name and numbers as text', () => {
		const message = buildTemplateMessage(
			fixtureTemplate('spring_sale_named'),
			valuesFor(fixtureTemplate('spring_sale_named')),
		);
		const body = message.components?.find((c) => c.type === 'body');
		expect(body).toEqual({
			type: 'body',
			parameters: [
				{ type: 'text', text: 'Ana', parameter_name: 'first_name' },
				{ type: 'text', text: 'March 31', parameter_name: 'end_date' },
				{ type: 'text', text: '1250', parameter_name: 'points' },
			],
		});
	});

	it('turns currency and date_time objects into typed parameters, upper-casing the currency code', () => {
		const def = fixtureTemplate('payment_due');
		const message = buildTemplateMessage(def, {
			...valuesFor(def),
			body_2: { currency: { fallback_value: '$45.99', code: 'usd', amount_1000: '45990' } },
			body_3: { fallback_value: 'March 12, 2026' },
		});
		const body = message.components?.find((c) => c.type === 'body');
		expect(body?.type === 'body' && body.parameters.slice(1)).toEqual([
			{ type: 'currency', currency: { fallback_value: '$45.99', code: 'USD', amount_1000: 45990 } },
			{ type: 'date_time', date_time: { fallback_value: 'March 12, 2026' } },
		]);
	});

	it('rejects a currency that is not ISO 4217 or an amount that is not an integer (131009)', () => {
		const def = fixtureTemplate('payment_due');
		expect(
			issuesOf(def, {
				...valuesFor(def),
				body_2: { fallback_value: '$1', code: 'DOLLAR', amount_1000: 1000 },
			}),
		).toEqual([expect.objectContaining({ code: 131009, variable: 'body_2', component: 'body' })]);
		expect(
			issuesOf(def, {
				...valuesFor(def),
				body_2: { fallback_value: '$1', code: 'USD', amount_1000: 1.5 },
			})[0]?.message,
		).toMatch(/amount_1000 must be an integer/);
	});

	it('reads a media string as a link or, when all digits, as an uploaded media id', () => {
		const def = fixtureTemplate('new_collection_image');
		const byLink = buildTemplateMessage(def, valuesFor(def)).components?.[0];
		expect(byLink).toEqual({
			type: 'header',
			parameters: [
				{ type: 'image', image: { link: 'https://cdn.example.com/collections/spring-26.jpg' } },
			],
		});
		const byId = buildTemplateMessage(def, { ...valuesFor(def), header_image: '1234567890' })
			.components?.[0];
		expect(byId).toEqual({
			type: 'header',
			parameters: [{ type: 'image', image: { id: '1234567890' } }],
		});
	});

	it('keeps the filename of a document header', () => {
		const def = fixtureTemplate('invoice_document');
		const header = buildTemplateMessage(def, valuesFor(def)).components?.[0];
		expect(header).toEqual({
			type: 'header',
			parameters: [
				{
					type: 'document',
					document: {
						link: 'https://cdn.example.com/invoices/INV-2026-0042.pdf',
						filename: 'INV-2026-0042.pdf',
					},
				},
			],
		});
	});

	it('rejects a media value that is neither a URL nor an id, and one with both (131009)', () => {
		const def = fixtureTemplate('new_collection_image');
		expect(issuesOf(def, { ...valuesFor(def), header_image: 'spring.jpg' })[0]).toMatchObject({
			code: 131009,
			variable: 'header_image',
		});
		expect(
			issuesOf(def, {
				...valuesFor(def),
				header_image: { id: '1', link: 'https://x.example/a.jpg' },
			})[0],
		).toMatchObject({ code: 131009 });
	});

	it('accepts a location whose coordinates are numeric strings', () => {
		const def = fixtureTemplate('store_pickup_location');
		const header = buildTemplateMessage(def, {
			...valuesFor(def),
			header_location: { latitude: '38.7223', longitude: '-9.1393' },
		}).components?.[0];
		expect(header).toEqual({
			type: 'header',
			parameters: [{ type: 'location', location: { latitude: 38.7223, longitude: -9.1393 } }],
		});
		expect(
			issuesOf(def, { ...valuesFor(def), header_location: { latitude: 123, longitude: 0 } })[0],
		).toMatchObject({ code: 131009, variable: 'header_location' });
	});

	it('puts the OTP code into body {{1}} and into the copy-code button', () => {
		const message = buildTemplateMessage(fixtureTemplate('login_otp'), { button_0_otp: 482913 });
		expect(message.components).toEqual([
			{ type: 'body', parameters: [{ type: 'text', text: '482913' }] },
			{ type: 'button', sub_type: 'url', index: 0, parameters: [{ type: 'text', text: '482913' }] },
		]);
		expect(issuesOf(fixtureTemplate('login_otp'), { button_0_otp: '1234567890123456' })).toEqual([
			expect.objectContaining({ code: 131009, variable: 'button_0_otp' }),
		]);
	});

	it('builds an authentication template given in the create-API shape', () => {
		const def = parseTemplateDefinition({
			name: 'login_code',
			language: 'en_US',
			status: 'APPROVED',
			category: 'AUTHENTICATION',
			components: [
				{ type: 'body', add_security_recommendation: true },
				{ type: 'buttons', buttons: [{ type: 'otp', otp_type: 'copy_code' }] },
			],
		});
		const message = buildTemplateMessage(def, { button_0_otp: '7781' });
		expect(message.components?.map((c) => c.type)).toEqual(['body', 'button']);
		expect(validateTemplateMessage(def, message)).toBeNull();
	});

	it('accepts the full button URL and keeps only the suffix', () => {
		const def = fixtureTemplate('order_confirmation');
		const message = buildTemplateMessage(def, {
			...valuesFor(def),
			button_0_url: 'https://shop.example.com/orders/A-77',
		});
		expect(message.components?.at(-1)).toEqual({
			type: 'button',
			sub_type: 'url',
			index: 0,
			parameters: [{ type: 'text', text: 'A-77' }],
		});
	});

	it('takes a flow token as a plain string', () => {
		const def = fixtureTemplate('delivery_feedback_flow');
		const message = buildTemplateMessage(def, { body_1: 'Ana', button_0_flow: 'tok-1' });
		expect(message.components?.at(-1)).toEqual({
			type: 'button',
			sub_type: 'flow',
			index: 0,
			parameters: [{ type: 'action', action: { flow_token: 'tok-1' } }],
		});
	});

	it('reads an offer expiration from an ISO date or a Date', () => {
		const def = fixtureTemplate('limited_offer');
		const iso = '2026-12-31T23:59:59Z';
		for (const when of [iso, new Date(iso), String(Date.parse(iso))]) {
			const lto = buildTemplateMessage(def, {
				...valuesFor(def),
				lto_expiration_ms: when,
			}).components?.find((c) => c.type === 'limited_time_offer');
			expect(lto).toEqual({
				type: 'limited_time_offer',
				parameters: [
					{
						type: 'limited_time_offer',
						limited_time_offer: { expiration_time_ms: Date.parse(iso) },
					},
				],
			});
		}
		expect(issuesOf(def, { ...valuesFor(def), lto_expiration_ms: 'next week' })[0]).toMatchObject({
			code: 131009,
			variable: 'lto_expiration_ms',
		});
	});

	it('requires the products of a multi-product button', () => {
		const def = parseTemplateDefinition({
			name: 'mpm_spring',
			language: 'en_US',
			status: 'APPROVED',
			category: 'MARKETING',
			components: [
				{ type: 'BODY', text: 'New for spring' },
				{ type: 'BUTTONS', buttons: [{ type: 'MPM', text: 'View items' }] },
			],
		});
		expect(issuesOf(def, {})).toEqual([
			expect.objectContaining({ code: 131008, variable: 'button_0_mpm' }),
		]);
		expect(
			issuesOf(def, {
				button_0_mpm: {
					thumbnail_product_retailer_id: 'SKU1',
					sections: [{ title: 'Boots', product_items: [] }],
				},
			})[0],
		).toMatchObject({ code: 131009 });
		const message = buildTemplateMessage(def, {
			button_0_mpm: {
				thumbnail_product_retailer_id: 'SKU1',
				sections: [{ title: 'Boots', product_items: [{ product_retailer_id: 'SKU1' }] }],
			},
		});
		expect(validateTemplateMessage(def, message)).toBeNull();
	});
});

describe('buildTemplateMessage refusals', () => {
	it('names the template, the component, the variable and the fix in its message', () => {
		const def = fixtureTemplate('order_confirmation');
		const values = valuesFor(def);
		delete values.body_2;
		expect(() => buildTemplateMessage(def, values)).toThrow(
			/Template "order_confirmation" \(en_US\) cannot be sent: Body \{\{2\}\} \(body_2\) is missing\. Provide a value such as "#A-1042"/,
		);
	});

	it('lists every problem at once', () => {
		const def = fixtureTemplate('order_confirmation');
		const issues = issuesOf(def, { header_text_1: '#1', body_1: 'Ana' });
		expect(issues.map((i) => i.variable)).toEqual(['body_2', 'body_3', 'button_0_url']);
		expect(new Set(issues.map((i) => i.code))).toEqual(new Set([131008]));
	});

	it('reports variables the template does not have (code 100), unless told to ignore them', () => {
		const def = fixtureTemplate('coupon_code');
		const values = { ...valuesFor(def), body_9: 'x' };
		expect(issuesOf(def, values)).toEqual([
			expect.objectContaining({ code: 100, component: 'template' }),
		]);
		expect(issuesOf(def, values)[0]?.message).toMatch(
			/Unknown variable "body_9".*body_1, body_2, button_0_coupon_code/,
		);
		expect(() => buildTemplateMessage(def, values, { ignoreUnknownValues: true })).not.toThrow();
	});

	it('rejects a header longer than 60 characters once filled in (132005)', () => {
		const def = fixtureTemplate('order_confirmation');
		const room = 60 - 'Order  confirmed'.length;
		expect(() =>
			buildTemplateMessage(def, { ...valuesFor(def), header_text_1: 'x'.repeat(room) }),
		).not.toThrow();
		expect(issuesOf(def, { ...valuesFor(def), header_text_1: 'x'.repeat(room + 1) })).toEqual([
			expect.objectContaining({ code: 132005, component: 'header', variable: 'header_text_1' }),
		]);
	});

	it('rejects a body longer than 1024 characters once filled in, naming the longest value (132005)', () => {
		const def = fixtureTemplate('order_confirmation');
		const issues = issuesOf(def, { ...valuesFor(def), body_3: 'y'.repeat(1000) });
		expect(issues).toEqual([
			expect.objectContaining({ code: 132005, component: 'body', variable: 'body_3' }),
		]);
		expect(issues[0]?.message).toMatch(/at most 1024/);
	});

	it('allows a longer body when the body is the only component', () => {
		const def = parseTemplateDefinition({
			name: 'long_note',
			language: 'en',
			status: 'APPROVED',
			category: 'UTILITY',
			components: [{ type: 'BODY', text: 'Note: {{1}}' }],
		});
		expect(() => buildTemplateMessage(def, { body_1: 'z'.repeat(5000) })).not.toThrow();
		expect(issuesOf(def, { body_1: 'z'.repeat(32768) })[0]).toMatchObject({ code: 132005 });
	});

	it('refuses new lines, tabs and runs of five spaces in text parameters (132018)', () => {
		const def = fixtureTemplate('order_confirmation');
		for (const bad of ['Ana\nMaria', 'Ana\tMaria', 'Ana     Maria']) {
			expect(issuesOf(def, { ...valuesFor(def), body_1: bad })).toEqual([
				expect.objectContaining({ code: 132018, variable: 'body_1' }),
			]);
		}
		expect(() =>
			buildTemplateMessage(def, { ...valuesFor(def), body_1: 'Ana    Maria' }),
		).not.toThrow();
	});

	it('refuses a coupon code longer than 15 characters (131009)', () => {
		const def = fixtureTemplate('coupon_code');
		expect(() =>
			buildTemplateMessage(def, { ...valuesFor(def), button_0_coupon_code: 'A'.repeat(15) }),
		).not.toThrow();
		expect(issuesOf(def, { ...valuesFor(def), button_0_coupon_code: 'A'.repeat(16) })).toEqual([
			expect.objectContaining({
				code: 131009,
				component: 'button',
				variable: 'button_0_coupon_code',
			}),
		]);
	});

	it('refuses objects where text is expected, and currency in a header', () => {
		const def = fixtureTemplate('order_confirmation');
		expect(issuesOf(def, { ...valuesFor(def), body_1: ['Ana'] })[0]).toMatchObject({
			code: 131009,
			variable: 'body_1',
		});
		expect(
			issuesOf(def, {
				...valuesFor(def),
				header_text_1: { fallback_value: '$1', code: 'USD', amount_1000: 1000 },
			})[0],
		).toMatchObject({
			code: 131009,
			variable: 'header_text_1',
		});
	});

	it.each([
		['PENDING', 132001],
		['REJECTED', 132001],
		['PAUSED', 132015],
		['DISABLED', 132016],
	])('refuses a %s template with %p, unless building a preview', (status, code) => {
		const def = { ...fixtureTemplate('coupon_code'), status };
		expect(issuesOf(def, valuesFor(fixtureTemplate('coupon_code')))).toEqual([
			expect.objectContaining({ code, component: 'template' }),
		]);
		expect(() =>
			buildTemplateMessage(def, valuesFor(fixtureTemplate('coupon_code')), {
				allowUnapproved: true,
			}),
		).not.toThrow();
	});

	it('exposes the first Meta code on the error', () => {
		try {
			buildTemplateMessage(fixtureTemplate('login_otp'), {});
			throw new Error('expected a TemplateValidationError');
		} catch (error) {
			expect((error as TemplateValidationError).code).toBe(131008);
		}
	});
});
