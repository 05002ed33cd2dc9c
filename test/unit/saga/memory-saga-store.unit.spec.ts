import { ManualClock } from 'potter/testing';
import { MemorySagaStore } from '../../../src/saga/saga-store';
import {
  describeSagaStoreContract,
  lease,
  orderContext,
  sagaState,
} from '../../contracts/saga-store.contract';

describeSagaStoreContract('memory', async () => {
  const clock = new ManualClock(1_000_000);
  const store = new MemorySagaStore({ clock });
  return {
    store,
    elapse: async (ms) => clock.advance(ms),
    cleanup: () => store.close(),
  };
});

describe('MemorySagaStore', () => {
  it('runs leases on its clock: a lease ends exactly at its expiry time', async () => {
    const clock = new ManualClock(0);
    const store = new MemorySagaStore({ clock });
    const state = sagaState();
    await store.create(state, lease('a', 100));
    clock.advance(99);
    await expect(store.claim(lease('b'), 1)).resolves.toEqual([]);
    clock.advance(1);
    await expect(store.claim(lease('b'), 1)).resolves.toEqual([state]);
  });

  it('records every created and saved state in `saves` when asked (and nothing otherwise)', async () => {
    const quiet = new MemorySagaStore();
    await quiet.create(sagaState(), lease('a'));
    expect(quiet.saves).toEqual([]);
    const store = new MemorySagaStore({ recordSaves: true });
    const state = sagaState();
    await store.create(state, lease('a'));
    const running = { ...state, status: 'running' as const, version: 2 };
    await store.save(running, lease('a'));
    await expect(store.save(running, lease('a'))).rejects.toThrow();
    expect(store.saves).toEqual([state, running]);
  });

  it('copies with structuredClone: unlike the SQL store, it keeps what JSON would lose', async () => {
    const store = new MemorySagaStore();
    const at = new Date('2026-01-02T03:04:05.006Z');
    const state = sagaState({ context: { ...orderContext(), at, gone: undefined } });
    await store.create(state, lease('a'));
    const loaded = (await store.load(state.sagaId))!;
    const context = loaded.context as { at: unknown };
    expect(Object.prototype.toString.call(context.at)).toBe('[object Date]');
    expect('gone' in (loaded.context as object)).toBe(true);
  });
});
