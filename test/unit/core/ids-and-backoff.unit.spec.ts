import fc from 'fast-check';
import { ConfigurationError, backoffDelay, isUuidV7, newId, resolveBackoff, sleep } from 'potter';

describe('ids', () => {
  it('are UUID v7 strings, unique and time-ordered', async () => {
    const first = newId();
    await sleep(2);
    const ids = Array.from({ length: 1000 }, () => newId());
    expect(ids.every(isUuidV7)).toBe(true);
    expect(new Set(ids).size).toBe(1000);
    expect(first < ids[0]!).toBe(true);
    expect(isUuidV7('not-a-uuid')).toBe(false);
    expect(isUuidV7('3b241101-e2bb-4255-8caf-4136c566a962')).toBe(false); // v4
  });
});

describe('backoff', () => {
  it('grows exponentially and is capped', () => {
    const b = resolveBackoff({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 'none' });
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(b, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('keeps jittered delays within bounds (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.constantFrom<'full' | 'equal'>('full', 'equal'),
        (initial, retry, random, jitter) => {
          const b = resolveBackoff({ initialDelayMs: initial, maxDelayMs: 30_000, multiplier: 2, jitter });
          const cap = Math.min(30_000, initial * 2 ** (retry - 1));
          const delay = backoffDelay(b, retry, () => random);
          expect(delay).toBeGreaterThanOrEqual(jitter === 'equal' ? cap / 2 : 0);
          expect(delay).toBeLessThanOrEqual(cap);
        },
      ),
    );
  });

  it('rejects nonsense options with a ConfigurationError', () => {
    expect(() => resolveBackoff({ maxAttempts: 0 })).toThrow(ConfigurationError);
    expect(() => resolveBackoff({ multiplier: 0.5 })).toThrow(ConfigurationError);
  });

  it('sleep is cancelled by its signal', async () => {
    const controller = new AbortController();
    const pending = sleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});
