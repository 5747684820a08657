/**
 * Meta's example payloads keep their original times (2017 to 2026), and the trigger acknowledges an event stamped more
 * than 8 days before it arrives without emitting it (a replay: core/webhooks/freshness.ts). A test that posts such a
 * payload posts it when its newest event happened: Date.now is shifted to a minute after that, and back to the real
 * clock for a payload stamped recently. Nothing else about the payload changes, so expectations read from it hold.
 */
const realNow = Date.now.bind(Date);
const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

export function arriveWith(body: string | Buffer): void {
	const stamps = [...body.toString('utf8').matchAll(/"(?:timestamp|time)":\s*"?(\d+)/g)].map(
		(m) => Number(m[1]) * 1000,
	);
	const newest = stamps.length ? Math.max(...stamps) : realNow();
	const offset = realNow() - newest > WEEK_MS ? newest + 60_000 - realNow() : 0;
	if (offset === 0) {
		if (jest.isMockFunction(Date.now)) (Date.now as jest.Mock).mockRestore();
		return;
	}
	const now = jest.isMockFunction(Date.now) ? (Date.now as jest.Mock) : jest.spyOn(Date, 'now');
	now.mockImplementation(() => realNow() + offset);
}

// Each test starts on the real clock.
afterEach(() => {
	if (jest.isMockFunction(Date.now)) (Date.now as jest.Mock).mockRestore();
});
