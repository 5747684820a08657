/**
 * The Send Template node's Template locator. n8n keeps the value when the user switches the locator's mode, so a
 * name can sit in "From list" mode and an ID in "By Name" mode while the editor shows the template as chosen
 * (seen in the real editor: test/e2e/editor-n8n.e2e.test.ts). The node must still find that template.
 */
import { templateRefFromLocator } from '../../nodes/shared/templates';

describe('templateRefFromLocator', () => {
	it('reads each mode as configured', () => {
		expect(templateRefFromLocator({ __rl: true, mode: 'list', value: '1047591827364501' })).toEqual(
			{ id: '1047591827364501' },
		);
		expect(templateRefFromLocator({ __rl: true, mode: 'id', value: '1047591827364501' })).toEqual({
			id: '1047591827364501',
		});
		expect(
			templateRefFromLocator({ __rl: true, mode: 'name', value: 'order_confirmation (en_US)' }),
		).toEqual({ name: 'order_confirmation', language: 'en_US' });
		expect(
			templateRefFromLocator({ __rl: true, mode: 'name', value: 'order_confirmation' }, 'pt_BR'),
		).toEqual({ name: 'order_confirmation', language: 'pt_BR' });
	});

	it('looks a name left in "From list" mode (after "By Name" → "From list") up by name, not as an ID', () => {
		expect(
			templateRefFromLocator({ __rl: true, mode: 'list', value: 'order_confirmation (en_US)' }),
		).toEqual({ name: 'order_confirmation', language: 'en_US' });
		expect(
			templateRefFromLocator({ __rl: true, mode: 'id', value: 'payment_due' }, 'en_US'),
		).toEqual({ name: 'payment_due', language: 'en_US' });
	});

	it('looks an ID left in "By Name" mode (after "From list" → "By Name") up by ID first', () => {
		expect(templateRefFromLocator({ __rl: true, mode: 'name', value: '1047591827364501' })).toEqual(
			{ id: '1047591827364501', name: '1047591827364501' },
		);
	});

	it('refuses an empty locator with what to do', () => {
		expect(() => templateRefFromLocator({ __rl: true, mode: 'list', value: '  ' })).toThrow(
			/pick one from the list/,
		);
	});
});
