/** What the demo's journeys must report: the same in the default mode and against an existing n8n. */
export interface DemoOutcome {
	report: {
		routed: { open: string[]; closed: string[] };
		sent: Array<{ journey: string; step: string; recipient: string }>;
		skipped: unknown[];
		failures: unknown[];
	};
	problems: string[];
}

export function expectDemoJourneysBehaved({ report, problems }: DemoOutcome): void {
	expect(problems).toEqual([]);
	expect(report.routed.open).toEqual(['+447911123456']);
	expect([...report.routed.closed].sort()).toEqual(['+33612345678', '+49301234567']);
	// Exactly the five messages the journeys should send, each once.
	expect(report.sent.map((s) => `${s.journey}/${s.step} ${s.recipient}`).sort()).toEqual([
		'abandoned-cart/offer-1 +49301234567',
		'login/otp +5511987654321',
		'order-confirmation/confirm-session +447911123456',
		'order-confirmation/confirm-template +33612345678',
		'order-confirmation/confirm-template +49301234567',
	]);
	// The US marketing recipient and the opted-out one are skipped by policy; one number fails at Meta (131026).
	expect(report.skipped).toHaveLength(2);
	expect(report.failures).toEqual([
		expect.objectContaining({ recipient: '33612345678', code: '131026' }),
	]);
}
