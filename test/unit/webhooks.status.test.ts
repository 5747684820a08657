import {
	canAdvanceStatus,
	isStatusRegression,
	STATUS_NAMES,
	STATUS_RANK,
	type StatusName,
} from '../../core/webhooks';

describe('status ordering', () => {
	it('ranks sent < delivered < read < played, with failed last', () => {
		const byRank = [...STATUS_NAMES].sort((a, b) => STATUS_RANK[a] - STATUS_RANK[b]);
		expect(byRank).toEqual(['sent', 'delivered', 'read', 'played', 'failed']);
	});

	it.each<[StatusName | undefined, StatusName, boolean]>([
		[undefined, 'read', true],
		[undefined, 'failed', true],
		['sent', 'delivered', true],
		['sent', 'read', true],
		['delivered', 'read', true],
		['read', 'played', true],
		['sent', 'failed', true],
		['delivered', 'sent', false],
		['read', 'delivered', false],
		['read', 'sent', false],
		['played', 'read', false],
		['delivered', 'failed', false],
		['read', 'failed', false],
		['failed', 'delivered', false],
		['failed', 'read', false],
		['sent', 'sent', false],
	])('from %s, %s advances: %s', (prev, next, advances) => {
		expect(canAdvanceStatus(prev, next)).toBe(advances);
	});

	it('calls a backwards or late-failure status a regression, but not a duplicate', () => {
		expect(isStatusRegression('read', 'delivered')).toBe(true);
		expect(isStatusRegression('failed', 'read')).toBe(true);
		expect(isStatusRegression('delivered', 'failed')).toBe(true);
		expect(isStatusRegression('read', 'read')).toBe(false);
		expect(isStatusRegression(undefined, 'sent')).toBe(false);
		expect(isStatusRegression('sent', 'read')).toBe(false);
	});

	it('ends on the same status whatever order the webhooks arrive in', () => {
		const arrivals: StatusName[][] = [
			['sent', 'delivered', 'read'],
			['read', 'sent', 'delivered'],
			['delivered', 'read', 'sent'],
			['read', 'delivered', 'sent'],
		];
		for (const order of arrivals) {
			let latest: StatusName | undefined;
			for (const s of order) if (canAdvanceStatus(latest, s)) latest = s;
			expect(latest).toBe('read');
		}
	});
});
