import { ConfigurationError } from 'potter';
// The saga modules themselves, not the barrel (which loads the orchestrator and its decorators).
import { SagaConflictError, SagaOwnershipLostError } from '../../src/saga/errors';
import type { SagaLease, SagaStore } from '../../src/saga/saga-store';
import type { SagaState, SagaStatus } from '../../src/saga/types';

/** What a SagaStore adapter gives the contract suite. */
export interface SagaStoreFixture {
  store: SagaStore;
  /**
   * Lets `ms` pass on the store's lease clock: the in-memory store's clock is advanced, the SQL
   * stores (leases on the database clock) sleep.
   */
  elapse(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** A lease that outlives any test. */
export const LIVE_MS = 60_000;
/** A lease that `elapse(EXPIRY_WAIT_MS)` ends. */
export const SHORT_MS = 50;
export const EXPIRY_WAIT_MS = 150;

export const lease = (owner: string, leaseMs = LIVE_MS): SagaLease => ({ owner, leaseMs });

/** A realistic order context: nested records, arrays, numbers of every kind, unicode, null. */
export const orderContext = () => ({
  orderId: 'order-42',
  customer: { id: 'c-7', name: 'Zoë Ångström 山田', vip: true, tags: ['b2b', 'eu'] },
  lines: [
    { sku: 'SKU-1', quantity: 2, unitPrice: 19.99 },
    { sku: 'SKU-2', quantity: 1, unitPrice: 0.1 + 0.2 },
  ],
  totals: { net: 40.08, tax: -0.5, items: 3, big: Number.MAX_SAFE_INTEGER, tiny: 1e-9, zero: 0 },
  reservation: null,
  payment: { provider: 'stripe', attempts: [], meta: {} },
  notes: 'line 1\nline "2"\t\\ end 🚚',
  flags: [true, false],
  matrix: [
    [1, 2],
    [3, [4, { deep: 'yes' }]],
  ],
});

let counter = 0;

/** A fresh saga state (version 1, `pending`), `startedAt` increasing with every call unless given. */
export function sagaState(overrides: Partial<SagaState> = {}): SagaState {
  const n = ++counter;
  const startedAt = overrides.startedAt ?? 1_700_000_000_000 + n * 1_000;
  return {
    sagaId: `saga-${n}`,
    sagaName: 'order',
    correlationId: `corr-${n}`,
    status: 'pending',
    context: orderContext(),
    completedSteps: [],
    skippedSteps: [],
    compensatedSteps: [],
    attempts: {},
    compensationAttempts: {},
    startedAt,
    updatedAt: startedAt,
    version: 1,
    ...overrides,
  };
}

/** The next save of `state`: one version higher, with `changes`. */
export function next(state: SagaState, changes: Partial<SagaState> = {}): SagaState {
  return { ...state, updatedAt: state.updatedAt + 1, ...changes, version: state.version + 1 };
}

/** Creates `state` for `owner`, then saves it through `statuses` (each a new version); resolves to the last. */
async function createThrough(
  store: SagaStore,
  state: SagaState,
  owner: string,
  statuses: readonly SagaStatus[],
): Promise<SagaState> {
  await store.create(state, lease(owner));
  let current = state;
  for (const status of statuses) {
    current = next(current, { status });
    await store.save(current, lease(owner));
  }
  return current;
}

const SETTLED: readonly SagaStatus[] = ['completed', 'failed', 'compensated', 'cancelled', 'resolved'];

/** The behaviour every SagaStore adapter must have. */
export function describeSagaStoreContract(name: string, factory: () => Promise<SagaStoreFixture>): void {
  describe(`SagaStore contract: ${name}`, () => {
    let store: SagaStore;
    let elapse: (ms: number) => Promise<void>;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, elapse, cleanup } = await factory()));
    afterEach(() => cleanup());

    describe('create and load', () => {
      it('round-trips the whole state, with a realistic context', async () => {
        const state = sagaState({
          businessKey: 'order-42',
          status: 'running',
          completedSteps: ['reserve', 'charge'],
          skippedSteps: ['gift-wrap'],
          compensatedSteps: [],
          currentStep: 'ship',
          attempts: { reserve: 1, charge: 3, ship: 1 },
          compensationAttempts: { reserve: 0 },
          error: { name: 'PaymentError', message: 'card declined', code: 'POTTER_X' },
          deadlineAt: 1_700_000_900_000,
        });
        await store.create(state, lease('a'));
        await expect(store.load(state.sagaId)).resolves.toEqual(state);
      });

      it('knows nothing of an unknown saga', async () => {
        await expect(store.load('nope')).resolves.toBeUndefined();
        await expect(store.list()).resolves.toEqual([]);
      });

      it('copies states in and out', async () => {
        const state = sagaState();
        const context = state.context as ReturnType<typeof orderContext>;
        await store.create(state, lease('a'));
        context.customer.name = 'changed after create';
        const loaded = (await store.load(state.sagaId))!;
        expect((loaded.context as ReturnType<typeof orderContext>).customer.name).toBe('Zoë Ångström 山田');
        (loaded.context as ReturnType<typeof orderContext>).lines.length = 0;
        (loaded.completedSteps as string[]).push('mutated');
        const again = (await store.load(state.sagaId))!;
        expect((again.context as ReturnType<typeof orderContext>).lines).toHaveLength(2);
        expect(again.completedSteps).toEqual([]);
      });

      it('refuses a taken id (SagaConflictError) and keeps the first saga', async () => {
        const first = sagaState({ sagaId: 'dup' });
        await store.create(first, lease('a'));
        const second = sagaState({ sagaId: 'dup', sagaName: 'other', status: 'running' });
        const refused = store.create(second, lease('b'));
        await expect(refused).rejects.toBeInstanceOf(SagaConflictError);
        await expect(refused).rejects.toMatchObject({
          code: 'POTTER_SAGA_CONFLICT',
          details: { sagaId: 'dup' },
        });
        await expect(store.load('dup')).resolves.toEqual(first);
        // The first owner still holds it; the refused creator does not.
        await expect(store.renew(lease('b'), ['dup'])).resolves.toEqual([]);
        await expect(store.renew(lease('a'), ['dup'])).resolves.toEqual([{ sagaId: 'dup' }]);
      });

      it('rejects a lease that is not a positive duration (ConfigurationError)', async () => {
        for (const leaseMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expect(store.create(sagaState(), { owner: 'a', leaseMs })).rejects.toBeInstanceOf(
            ConfigurationError,
          );
        }
        const state = sagaState();
        await store.create(state, lease('a'));
        await expect(store.save(next(state), { owner: 'a', leaseMs: 0 })).rejects.toBeInstanceOf(
          ConfigurationError,
        );
        await expect(store.claim({ owner: 'b', leaseMs: -5 }, 10)).rejects.toBeInstanceOf(ConfigurationError);
        await expect(store.acquire(state.sagaId, { owner: 'a', leaseMs: 0 })).rejects.toBeInstanceOf(
          ConfigurationError,
        );
        await expect(store.renew({ owner: 'a', leaseMs: 0 }, [state.sagaId])).rejects.toBeInstanceOf(
          ConfigurationError,
        );
        await expect(store.list()).resolves.toEqual([state]);
      });
    });

    describe('business keys', () => {
      it('refuses a second open saga with the same name and key, naming the open one', async () => {
        const first = sagaState({ businessKey: 'k-1' });
        await store.create(first, lease('a'));
        const refused = store.create(sagaState({ businessKey: 'k-1' }), lease('b'));
        await expect(refused).rejects.toBeInstanceOf(SagaConflictError);
        await expect(refused).rejects.toMatchObject({
          code: 'POTTER_SAGA_CONFLICT',
          message: expect.stringContaining(first.sagaId),
          details: { sagaId: first.sagaId, sagaName: 'order', businessKey: 'k-1' },
        });
        await expect(store.list()).resolves.toEqual([first]);
      });

      it('allows the same key for another saga name, another key, and sagas without a key', async () => {
        await store.create(sagaState({ businessKey: 'k-1' }), lease('a'));
        await store.create(sagaState({ businessKey: 'k-1', sagaName: 'refund' }), lease('a'));
        await store.create(sagaState({ businessKey: 'k-2' }), lease('a'));
        await store.create(sagaState(), lease('a'));
        await store.create(sagaState(), lease('a'));
        await expect(store.list()).resolves.toHaveLength(5);
      });

      it('frees the key once the open saga settles, whatever the settled status', async () => {
        for (const status of SETTLED) {
          const key = `k-${status}`;
          const path: SagaStatus[] =
            status === 'resolved' ? ['running', 'compensating', 'compensation_failed', 'resolved'] : [status];
          const first = sagaState({ businessKey: key });
          if (status === 'resolved') {
            // `resolved` follows `compensation_failed`, which ends the lease: an operator acquires it.
            await createThrough(store, first, 'a', path.slice(0, 3));
            const held = (await store.acquire(first.sagaId, lease('op')))!;
            await store.save(next(held, { status: 'resolved' }), lease('op'));
          } else {
            await createThrough(store, first, 'a', path);
          }
          await expect(store.findOpen('order', key)).resolves.toBeUndefined();
          const second = sagaState({ businessKey: key });
          await store.create(second, lease('b'));
          await expect(store.findOpen('order', key)).resolves.toEqual(second);
        }
      });

      it('keeps the key taken while the saga is compensating or compensation_failed', async () => {
        const first = sagaState({ businessKey: 'k-1' });
        await createThrough(store, first, 'a', ['running', 'compensating']);
        await expect(store.create(sagaState({ businessKey: 'k-1' }), lease('b'))).rejects.toMatchObject({
          details: { sagaId: first.sagaId },
        });
        const failed = next((await store.load(first.sagaId))!, { status: 'compensation_failed' });
        await store.save(failed, lease('a'));
        const refused = store.create(sagaState({ businessKey: 'k-1' }), lease('b'));
        await expect(refused).rejects.toBeInstanceOf(SagaConflictError);
        await expect(refused).rejects.toMatchObject({
          details: { sagaId: first.sagaId, sagaName: 'order', businessKey: 'k-1' },
        });
      });

      it('lets a settled saga be created beside the open one holding its key (regression)', async () => {
        const open = sagaState({ businessKey: 'k-1' });
        await store.create(open, lease('a'));
        const archived = sagaState({ businessKey: 'k-1', status: 'completed' });
        await store.create(archived, lease('a'));
        await expect(store.load(archived.sagaId)).resolves.toEqual(archived);
        await expect(store.findOpen('order', 'k-1')).resolves.toEqual(open);
        // Created settled, it has no owner.
        await expect(store.renew(lease('a'), [archived.sagaId])).resolves.toEqual([]);
      });

      it('finds the open saga by name and key only', async () => {
        const open = sagaState({ businessKey: 'k-1', status: 'running' });
        await store.create(open, lease('a'));
        await store.create(sagaState({ businessKey: 'k-2', status: 'completed' }), lease('a'));
        await expect(store.findOpen('order', 'k-1')).resolves.toEqual(open);
        await expect(store.findOpen('refund', 'k-1')).resolves.toBeUndefined();
        await expect(store.findOpen('order', 'k-3')).resolves.toBeUndefined();
        await expect(store.findOpen('order', 'k-2')).resolves.toBeUndefined();
      });
    });

    describe('saves', () => {
      it('saves version after version and returns the last', async () => {
        const created = sagaState();
        await store.create(created, lease('a'));
        const running = next(created, {
          status: 'running',
          currentStep: 'reserve',
          attempts: { reserve: 1 },
        });
        await store.save(running, lease('a'));
        const context = { ...orderContext(), reservation: 'r-1' };
        const reserved = next(running, { completedSteps: ['reserve'], context, currentStep: 'charge' });
        await store.save(reserved, lease('a'));
        await expect(store.load(created.sagaId)).resolves.toEqual(reserved);
        expect((await store.load(created.sagaId))!.version).toBe(3);
      });

      it('refuses a stale or skipped version (SagaOwnershipLostError) and keeps the stored state', async () => {
        const created = sagaState();
        await store.create(created, lease('a'));
        const v2 = next(created, { status: 'running' });
        await store.save(v2, lease('a'));
        const stale = next(created, { status: 'compensating' });
        const refused = store.save(stale, lease('a'));
        await expect(refused).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await expect(refused).rejects.toMatchObject({
          code: 'POTTER_SAGA_OWNERSHIP_LOST',
          details: { sagaId: created.sagaId, owner: 'a' },
        });
        await expect(store.save(next(next(v2)), lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await expect(store.save(v2, lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await expect(store.load(created.sagaId)).resolves.toEqual(v2);
      });

      it('refuses a save by another owner, and of an unknown saga', async () => {
        const created = sagaState();
        await store.create(created, lease('a'));
        const refused = store.save(next(created, { status: 'running' }), lease('b'));
        await expect(refused).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await expect(refused).rejects.toMatchObject({ details: { sagaId: created.sagaId, owner: 'b' } });
        await expect(store.load(created.sagaId)).resolves.toEqual(created);
        await expect(store.save(next(sagaState()), lease('a'))).rejects.toBeInstanceOf(
          SagaOwnershipLostError,
        );
      });

      it('ends the hold with a settled save: no owner, nothing to claim, renew or save any more', async () => {
        const created = sagaState();
        const done = await createThrough(store, created, 'a', ['running', 'completed']);
        await expect(store.load(created.sagaId)).resolves.toEqual(done);
        await expect(store.renew(lease('a'), [created.sagaId])).resolves.toEqual([]);
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
        await expect(store.acquire(created.sagaId, lease('b'))).resolves.toBeUndefined();
        await expect(store.save(next(done), lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
      });

      it('ends the hold with compensation_failed: an operator acquires it and carries on', async () => {
        const created = sagaState();
        const failed = await createThrough(store, created, 'a', [
          'running',
          'compensating',
          'compensation_failed',
        ]);
        await expect(store.renew(lease('a'), [created.sagaId])).resolves.toEqual([]);
        // Not unfinished: nobody claims it.
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
        await expect(store.acquire(created.sagaId, lease('op'))).resolves.toEqual(failed);
        const retrying = next(failed, { status: 'compensating' });
        await expect(store.save(retrying, lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await store.save(retrying, lease('op'));
        await expect(store.renew(lease('op'), [created.sagaId])).resolves.toEqual([
          { sagaId: created.sagaId },
        ]);
        await store.save(next(retrying, { status: 'compensated' }), lease('op'));
        await expect(store.renew(lease('op'), [created.sagaId])).resolves.toEqual([]);
      });

      it('extends the lease with every unfinished save', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await store.save(next(created, { status: 'running' }), lease('a', LIVE_MS));
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
        await expect(store.acquire(created.sagaId, lease('b'))).resolves.toBeUndefined();
      });

      it('lets the owner save after its lease expired as long as nobody took the saga', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        const running = next(created, { status: 'running' });
        await store.save(running, lease('a'));
        await expect(store.load(created.sagaId)).resolves.toEqual(running);
      });
    });

    describe('list', () => {
      it('lists the unfinished sagas by default, oldest first, then by id', async () => {
        const t = 1_800_000_000_000;
        const c = sagaState({ sagaId: 'c', startedAt: t + 2, status: 'compensating' });
        const b2 = sagaState({ sagaId: 'b2', startedAt: t + 1, status: 'running' });
        const b1 = sagaState({ sagaId: 'b1', startedAt: t + 1 });
        const a = sagaState({ sagaId: 'a', startedAt: t });
        const done = sagaState({ sagaId: 'done', startedAt: t - 1, status: 'completed' });
        const stuck = sagaState({ sagaId: 'stuck', startedAt: t + 3, status: 'compensation_failed' });
        for (const state of [c, b2, done, stuck, b1, a]) await store.create(state, lease('a'));
        await expect(store.list()).resolves.toEqual([a, b1, b2, c]);
        await expect(store.list(['compensation_failed', 'completed'])).resolves.toEqual([done, stuck]);
        await expect(store.list(['running'])).resolves.toEqual([b2]);
        await expect(store.list(['failed'])).resolves.toEqual([]);
        await expect(store.list([])).resolves.toEqual([]);
      });

      it('lists the saved state, in the saved status', async () => {
        const created = sagaState();
        const running = await createThrough(store, created, 'a', ['running']);
        await expect(store.list(['pending'])).resolves.toEqual([]);
        await expect(store.list(['running'])).resolves.toEqual([running]);
      });
    });

    describe('claim', () => {
      it('takes unfinished sagas nobody holds, oldest first, up to the limit', async () => {
        const t = 1_800_000_000_000;
        const states = [3, 1, 4, 0, 2].map((i) => sagaState({ sagaId: `s${i}`, startedAt: t + i }));
        for (const state of states) await store.create(state, lease('a', SHORT_MS));
        await store.create(sagaState({ startedAt: t - 5, status: 'completed' }), lease('a', SHORT_MS));
        await createThrough(store, sagaState({ startedAt: t - 4 }), 'a', ['compensation_failed']);
        await elapse(EXPIRY_WAIT_MS);
        const first = await store.claim(lease('b'), 2);
        expect(first.map((s) => s.sagaId)).toEqual(['s0', 's1']);
        expect(first[0]).toEqual(states[3]);
        const rest = await store.claim(lease('c'), 10);
        expect(rest.map((s) => s.sagaId)).toEqual(['s2', 's3', 's4']);
        await expect(store.claim(lease('d'), 10)).resolves.toEqual([]);
      });

      it('skips sagas held with a live lease, by anyone, the claimer included', async () => {
        const held = sagaState();
        await store.create(held, lease('a'));
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
        await expect(store.claim(lease('a'), 10)).resolves.toEqual([]);
      });

      it('takes a saga whose lease expired, and then only the new owner may save it', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([created]);
        const v2 = next(created, { status: 'running' });
        await expect(store.save(v2, lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await expect(store.renew(lease('a'), [created.sagaId])).resolves.toEqual([]);
        await store.save(v2, lease('b'));
        await expect(store.load(created.sagaId)).resolves.toEqual(v2);
        // The claim's lease is live: nobody else takes it.
        await expect(store.claim(lease('c'), 10)).resolves.toEqual([]);
      });

      it('takes none with a limit below 1 (regression: -1 took all but one)', async () => {
        for (let i = 0; i < 3; i++) await store.create(sagaState(), lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.claim(lease('b'), 0)).resolves.toEqual([]);
        await expect(store.claim(lease('b'), -1)).resolves.toEqual([]);
        await expect(store.claim(lease('b'), 3)).resolves.toHaveLength(3);
      });
    });

    describe('acquire', () => {
      it('takes a saga that is unowned, expired, or already mine', async () => {
        const mine = sagaState();
        await store.create(mine, lease('a'));
        await expect(store.acquire(mine.sagaId, lease('a'))).resolves.toEqual(mine);

        const expired = sagaState();
        await store.create(expired, lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.acquire(expired.sagaId, lease('b'))).resolves.toEqual(expired);
        await expect(store.save(next(expired), lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
        await store.save(next(expired), lease('b'));

        const released = sagaState();
        await store.create(released, lease('a'));
        await store.release('a', [released.sagaId]);
        await expect(store.acquire(released.sagaId, lease('c'))).resolves.toEqual(released);
      });

      it('refuses a saga another owner holds, an unknown one, and a settled one (regression)', async () => {
        const held = sagaState();
        await store.create(held, lease('a'));
        await expect(store.acquire(held.sagaId, lease('b'))).resolves.toBeUndefined();
        await expect(store.acquire('nope', lease('b'))).resolves.toBeUndefined();
        const done = await createThrough(store, sagaState(), 'a', ['completed']);
        await expect(store.acquire(done.sagaId, lease('b'))).resolves.toBeUndefined();
        // A settled saga stays without an owner.
        await expect(store.renew(lease('b'), [done.sagaId])).resolves.toEqual([]);
      });

      it('holds the acquired saga for the lease', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        await store.acquire(created.sagaId, lease('b'));
        await expect(store.claim(lease('c'), 10)).resolves.toEqual([]);
        await expect(store.acquire(created.sagaId, lease('a'))).resolves.toBeUndefined();
      });
    });

    describe('renew and release', () => {
      it('renews the sagas still held, once each, in the order asked', async () => {
        const [x, y, z] = [sagaState(), sagaState(), sagaState()];
        await store.create(x, lease('a'));
        await store.create(y, lease('b'));
        await store.create(z, lease('a'));
        await expect(
          store.renew(lease('a'), [z.sagaId, 'nope', y.sagaId, x.sagaId, z.sagaId]),
        ).resolves.toEqual([{ sagaId: z.sagaId }, { sagaId: x.sagaId }]);
        await expect(store.renew(lease('a'), [])).resolves.toEqual([]);
      });

      it('extends the lease', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await store.renew(lease('a', LIVE_MS), [created.sagaId]);
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
      });

      it('still renews an expired lease nobody took', async () => {
        const created = sagaState();
        await store.create(created, lease('a', SHORT_MS));
        await elapse(EXPIRY_WAIT_MS);
        await expect(store.renew(lease('a'), [created.sagaId])).resolves.toEqual([
          { sagaId: created.sagaId },
        ]);
        await expect(store.claim(lease('b'), 10)).resolves.toEqual([]);
      });

      it('releases only the owner’s sagas, which can then be claimed at once', async () => {
        const [x, y] = [sagaState(), sagaState()];
        await store.create(x, lease('a'));
        await store.create(y, lease('b'));
        await store.release('a', [x.sagaId, y.sagaId, 'nope']);
        await store.release('a', []);
        await expect(store.renew(lease('a'), [x.sagaId])).resolves.toEqual([]);
        await expect(store.renew(lease('b'), [y.sagaId])).resolves.toEqual([{ sagaId: y.sagaId }]);
        await expect(store.claim(lease('c'), 10)).resolves.toEqual([x]);
        // A released saga cannot be saved by its former owner.
        await expect(store.save(next(x), lease('a'))).rejects.toBeInstanceOf(SagaOwnershipLostError);
      });

      it('releases every hold of an owner when no ids are given (a restarted instance with a stable id)', async () => {
        const [x, y, z] = [sagaState(), sagaState(), sagaState()];
        await store.create(x, lease('a'));
        await store.create(y, lease('a'));
        await store.create(z, lease('b'));
        await store.release('a');
        await expect(store.renew(lease('a'), [x.sagaId, y.sagaId])).resolves.toEqual([]);
        await expect(store.renew(lease('b'), [z.sagaId])).resolves.toEqual([{ sagaId: z.sagaId }]);
        const claimed = await store.claim(lease('c'), 10);
        expect(claimed.map((s) => s.sagaId).sort()).toEqual([x.sagaId, y.sagaId].sort());
      });
    });

    describe('requestCancel', () => {
      it('records the request on an unfinished saga; the owner sees it on renewal', async () => {
        const [x, y] = [sagaState(), sagaState()];
        await createThrough(store, x, 'a', ['running']);
        await store.create(y, lease('a'));
        await expect(store.requestCancel(x.sagaId, 'customer asked')).resolves.toBe(true);
        await expect(store.requestCancel(y.sagaId)).resolves.toBe(true);
        await expect(store.renew(lease('a'), [x.sagaId, y.sagaId])).resolves.toEqual([
          { sagaId: x.sagaId, cancelRequested: 'customer asked' },
          { sagaId: y.sagaId, cancelRequested: '' },
        ]);
        // The request stays until the saga settles; another owner taking over sees it too.
        await store.release('a', [x.sagaId]);
        await store.claim(lease('b'), 1);
        await expect(store.renew(lease('b'), [x.sagaId])).resolves.toEqual([
          { sagaId: x.sagaId, cancelRequested: 'customer asked' },
        ]);
      });

      it('is refused (false) for a settled, compensation_failed or unknown saga', async () => {
        const done = await createThrough(store, sagaState(), 'a', ['running', 'completed']);
        const stuck = await createThrough(store, sagaState(), 'a', [
          'running',
          'compensating',
          'compensation_failed',
        ]);
        await expect(store.requestCancel(done.sagaId, 'late')).resolves.toBe(false);
        await expect(store.requestCancel(stuck.sagaId, 'late')).resolves.toBe(false);
        await expect(store.requestCancel('nope')).resolves.toBe(false);
        await store.acquire(stuck.sagaId, lease('op'));
        await expect(store.renew(lease('op'), [stuck.sagaId])).resolves.toEqual([{ sagaId: stuck.sagaId }]);
      });

      it('is cleared by a settled save (compensation_failed included)', async () => {
        const created = sagaState();
        const running = await createThrough(store, created, 'a', ['running']);
        await store.requestCancel(created.sagaId, 'stop');
        const compensating = next(running, { status: 'compensating' });
        await store.save(compensating, lease('a'));
        await expect(store.renew(lease('a'), [created.sagaId])).resolves.toEqual([
          { sagaId: created.sagaId, cancelRequested: 'stop' },
        ]);
        const stuck = next(compensating, { status: 'compensation_failed' });
        await store.save(stuck, lease('a'));
        await store.acquire(created.sagaId, lease('op'));
        await store.save(next(stuck, { status: 'compensating' }), lease('op'));
        await expect(store.renew(lease('op'), [created.sagaId])).resolves.toEqual([
          { sagaId: created.sagaId },
        ]);
      });
    });

    it('closes', async () => {
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}
