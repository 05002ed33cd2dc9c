import { ManualClock } from '../../../src/testing/manual-clock';
import { MemoryCoordinatorLog } from '../../../src/twopc';
import { describeCoordinatorLogContract, lease } from '../../contracts/twopc-log.contract';

describeCoordinatorLogContract('memory', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const log = new MemoryCoordinatorLog({ clock });
  return {
    log,
    others: async (count) => Promise.resolve(Array.from({ length: count }, () => log)),
    elapse: async (ms) => Promise.resolve(clock.advance(ms)),
    cleanup: async () => Promise.resolve(),
  };
});

describe('MemoryCoordinatorLog', () => {
  it('copies records out: changing one does not change the log', async () => {
    const log = new MemoryCoordinatorLog({ clock: new ManualClock(0) });
    await log.begin('t', ['a', 'b'], lease('o'));
    const record = (await log.get('t'))!;
    record.participants.push('x');
    record.done.push('a');
    await expect(log.get('t')).resolves.toMatchObject({ participants: ['a', 'b'], done: [] });
  });

  it('refuses a lease without owner or with a non-positive duration', async () => {
    const log = new MemoryCoordinatorLog();
    await expect(log.begin('t', ['a'], { owner: '', leaseMs: 10 })).rejects.toMatchObject({
      code: 'POTTER_CONFIGURATION_INVALID',
    });
    await expect(log.claim({ owner: 'o', leaseMs: 0 }, 1)).rejects.toMatchObject({
      code: 'POTTER_CONFIGURATION_INVALID',
    });
  });
});
