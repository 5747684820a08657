/** What the demo's journeys must report: the same in the default mode and against an existing n8n. */
export interface DemoOutcome {
	report: {
		routed: { open: string[]; closed: string[] };
		sent: Array<{ journey: string; step: string; recipient: string }>;
		skipped: unknown[];
		failures: unknown[];
		journeyReport: Array<{ journey: string; step: string; sent: number; failed: number }>;
		chartFile?: string;
		appointments: Array<{ recipient: string; outcome: string }>;
	};
	problems: string[];
}

export function expectDemoJourneysBehaved({ report, problems }: DemoOutcome): void {
	expect(problems).toEqual([]);
	expect(report.routed.open).toEqual(['+447911123456']);
	expect([...report.routed.closed].sort()).toEqual(['+33612345678', '+49301234567']);
	// Exactly the messages the journeys should send, each once: five, and four appointment reminders plus the second
	// reminder for the customer who did not answer.
	expect(report.sent.map((s) => `${s.journey}/${s.step} ${s.recipient}`).sort()).toEqual([
		'abandoned-cart/offer-1 +49301234567',
		'appointments/reminder +14155552671',
		'appointments/reminder +447911123456',
		'appointments/reminder +49301234567',
		'appointments/reminder +5511987654321',
		'appointments/second-reminder +5511987654321',
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
	// The WhatsApp Journey Report node, from the state store alone, counts exactly those sends and Eve's failure (the
	// demo's own check compares its delivered and read counts with what the status sink received), and draws the chart.
	expect(
		report.journeyReport
			.map((r) => `${r.journey}/${r.step} sent ${r.sent} failed ${r.failed}`)
			.sort(),
	).toEqual([
		'abandoned-cart/offer-1 sent 1 failed 0',
		'appointments/reminder sent 4 failed 0',
		'appointments/second-reminder sent 1 failed 0',
		'login/otp sent 1 failed 0',
		'order-confirmation/confirm-session sent 1 failed 0',
		'order-confirmation/confirm-template sent 2 failed 1',
	]);
	// Send and Wait: each customer's execution continued on the branch of what they did.
	expect(report.appointments.map((a) => `${a.recipient} ${a.outcome}`).sort()).toEqual([
		'+14155552671 other-reply',
		'+447911123456 confirmed',
		'+49301234567 reschedule',
		'+5511987654321 no-response',
	]);
	expect(report.chartFile).toMatch(/whatsapp-journey-report\.png$/);
}
