/**
 * The example journeys (examples/*.json) in a real n8n with the packed package, driven exactly as `npm run demo`
 * drives them: customers who wrote first, who never wrote, a US +1 marketing recipient, an opted-out customer,
 * an undeliverable number, and appointment reminders (Send and Wait) that are confirmed, rescheduled, answered with
 * text or not answered (second reminder). The assertions are the demo's own checks plus the figures a reader of the
 * report sees.
 */
import { runDemo } from '../../examples/demo';
import type { DemoResult } from '../../examples/demo';
import { expectDemoJourneysBehaved } from '../../harness/demo-report';

let demo: DemoResult | undefined;

afterAll(async () => {
	await demo?.shutdown();
}, 120_000);

describe('example journeys in real n8n (npm run demo)', () => {
	it(
		'routes, sends, skips by policy and joins every status back to its journey step',
		async () => {
			demo = await runDemo();
			expectDemoJourneysBehaved(demo);
		},
		25 * 60_000,
	);
});
