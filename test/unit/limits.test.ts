import { LocalSlotStore, SendPacer, backoffMs } from '../../core';

describe('SendPacer', () => {
  it('spaces sends for one phone number 1000/mps ms apart, however many callers race', async () => {
    let now = 1_000_000;
    const waits: number[] = [];
    const pacer = new SendPacer('123', {
      messagesPerSecond: 80,
      pairIntervalMs: 0,
      slots: new LocalSlotStore(),
      now: () => now,
      sleep: async (ms) => void waits.push(ms),
    });
    await Promise.all(Array.from({ length: 160 }, (_, i) => pacer.acquire(`4479111234${i}`)));
    // 160 sends at 80/s: the last one waits ~2 s minus one interval.
    expect(waits).toHaveLength(159);
    expect(Math.max(...waits)).toBeCloseTo(159 * 12.5, 5);
    const sorted = [...waits].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i] - sorted[i - 1]).toBeCloseTo(12.5, 5);
    now += 10_000;
  });

  it('shares the budget between two pacers of the same number on one slot store (two executions)', async () => {
    const slots = new LocalSlotStore();
    const now = () => 5_000;
    const waits: number[] = [];
    const make = () => new SendPacer('555', { messagesPerSecond: 10, pairIntervalMs: 0, slots, now, sleep: async (ms) => void waits.push(ms) });
    const a = make();
    const b = make();
    await Promise.all([a.acquire('1'), b.acquire('2'), a.acquire('3'), b.acquire('4')]);
    expect(waits.sort((x, y) => x - y)).toEqual([100, 200, 300]);
  });

  it('keeps two messages to the same recipient a pair interval apart', async () => {
    const waits: number[] = [];
    const pacer = new SendPacer('1', { messagesPerSecond: 1000, pairIntervalMs: 6000, slots: new LocalSlotStore(), now: () => 0, sleep: async (ms) => void waits.push(ms) });
    await pacer.acquire('447911123456');
    await pacer.acquire('447911123456');
    await pacer.acquire('447911123457');
    expect(waits).toEqual([6000, 2]);
  });

  it('refuses a throughput outside Meta\'s levels', () => {
    expect(() => new SendPacer('1', { messagesPerSecond: 0, pairIntervalMs: 0 })).toThrow(/between 1 and 1000/);
    expect(() => new SendPacer('1', { messagesPerSecond: 1001, pairIntervalMs: 0 })).toThrow(/between 1 and 1000/);
  });
});

describe('backoffMs', () => {
  it('grows exponentially with jitter and stays capped', () => {
    expect(backoffMs(1, 'throughput', () => 0)).toBe(125);
    expect(backoffMs(1, 'throughput', () => 1)).toBe(375);
    expect(backoffMs(10, 'throughput', () => 1)).toBe(8125);
    expect(backoffMs(1, 'pairRate', () => 0.5)).toBe(4000);
    expect(backoffMs(2, 'pairRate', () => 0.5)).toBe(16000);
  });
});
