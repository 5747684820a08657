/**
 * The example journeys (examples/*.json) in a real n8n with the packed package, driven exactly as `npm run demo`
 * drives them: customers who wrote first, who never wrote, a US +1 marketing recipient, an opted-out customer,
 * an undeliverable number. The assertions are the demo's own checks plus the figures a reader of the report sees.
 */
import { runDemo } from '../../examples/demo';
import type { DemoResult } from '../../examples/demo';

let demo: DemoResult | undefined;

afterAll(async () => {
  await demo?.shutdown();
}, 120_000);

describe('example journeys in real n8n (npm run demo)', () => {
  it('routes, sends, skips by policy and joins every status back to its journey step', async () => {
    demo = await runDemo();
    const { report, problems } = demo;
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
    expect(report.skipped).toHaveLength(2);
    expect(report.failures).toEqual([expect.objectContaining({ recipient: '33612345678', code: '131026' })]);
  }, 25 * 60_000);
});
