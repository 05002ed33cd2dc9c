import {
  Event,
  EventHandler,
  Projection,
  ProjectionEngine,
  SkipOnReplay,
  type EventStore,
  type ProjectionContext,
  type ProjectionEngineOptions,
  type ProjectionMaintenanceContext,
  type ProjectionStore,
  type ReadModelStore,
} from 'potter';

@Event('contract.Deposited')
export class Deposited {
  constructor(
    readonly account: string,
    readonly amount: number,
  ) {}
}

@Event('contract.Ignored')
export class Ignored {
  constructor(readonly note: string) {}
}

/** An account's read model: the sum of its deposits and the versions applied, in order. */
export interface Balance extends Record<string, unknown> {
  account: string;
  total: number;
  count: number;
  versions: number[];
}

/** Shared switches of the test projections (reset per test). */
export const behaviour = {
  /** Amounts whose handling throws. */
  poison: new Set<number>(),
  /** Side effects that must not run during replays. */
  sideEffects: [] as string[],
  resets: 0,
};

/** Additive: a double-applied or missing event shows in `total`, `count` and `versions`. */
@Projection('contract-balances', { batchSize: 50, retry: { maxAttempts: 2, initialDelayMs: 1 } })
export class BalancesProjection {
  @EventHandler(Deposited)
  async onDeposited(event: Deposited, ctx: ProjectionContext): Promise<void> {
    if (behaviour.poison.has(event.amount)) throw new Error(`poison ${event.amount}`);
    await ctx.readModel<Balance>('contract_balances').update(event.account, (doc) => ({
      account: event.account,
      total: (doc?.total ?? 0) + event.amount,
      count: (doc?.count ?? 0) + 1,
      versions: [...(doc?.versions ?? []), ctx.event.streamVersion],
    }));
  }

  @EventHandler(Deposited)
  @SkipOnReplay()
  notify(event: Deposited, ctx: ProjectionContext): void {
    if (!behaviour.poison.has(event.amount))
      behaviour.sideEffects.push(`${event.account}:${ctx.event.streamVersion}`);
  }

  reset(_ctx: ProjectionMaintenanceContext): void {
    behaviour.resets++;
  }
}

/** The same, but parks poison events. */
@Projection('contract-parking', {
  batchSize: 20,
  onError: 'park',
  retry: { maxAttempts: 2, initialDelayMs: 1 },
})
export class ParkingProjection {
  @EventHandler(Deposited)
  async onDeposited(event: Deposited, ctx: ProjectionContext): Promise<void> {
    if (behaviour.poison.has(event.amount)) throw new Error(`poison ${event.amount}`);
    await ctx.readModel<Balance>('contract_parking').update(event.account, (doc) => ({
      account: event.account,
      total: (doc?.total ?? 0) + event.amount,
      count: (doc?.count ?? 0) + 1,
      versions: [...(doc?.versions ?? []), ctx.event.streamVersion],
    }));
  }
}

@Projection('contract-from-head', { startFrom: 'head' })
export class FromHeadProjection {
  @EventHandler(Deposited)
  async onDeposited(event: Deposited, ctx: ProjectionContext): Promise<void> {
    await ctx.readModel<Balance>('contract_head').update(event.account, (doc) => ({
      account: event.account,
      total: (doc?.total ?? 0) + event.amount,
      count: (doc?.count ?? 0) + 1,
      versions: [...(doc?.versions ?? []), ctx.event.streamVersion],
    }));
  }
}

/** What an adapter combination provides to the contract. */
export interface EngineFixture {
  eventStore: EventStore;
  /** A new projection store handle on the same storage (several engines = several instances). */
  store(): ProjectionStore;
  readModels(): ReadModelStore;
  /** 'transactional' when the stores are SQL in one database. */
  delivery: 'transactional' | 'at-least-once';
  cleanup(): Promise<void>;
}

async function deposit(store: EventStore, account: string, amounts: number[]): Promise<void> {
  await store.appendToStream(
    `Account-${account}`,
    amounts.map((amount) => ({ type: 'contract.Deposited', payload: { account, amount } })),
  );
}

/** The expected read model: a pure fold of the deposits. */
function fold(deposits: [string, number][]): Map<string, Balance> {
  const model = new Map<string, Balance>();
  for (const [account, amount] of deposits) {
    const doc = model.get(account) ?? { account, total: 0, count: 0, versions: [] };
    model.set(account, {
      account,
      total: doc.total + amount,
      count: doc.count + 1,
      versions: [...doc.versions, doc.count + 1],
    });
  }
  return model;
}

async function readModel(readModels: ReadModelStore, collection: string): Promise<Map<string, Balance>> {
  const docs = await readModels.collection<Balance>(collection).find({}, { limit: 10_000 });
  return new Map(docs.map((d) => [d.account, { ...d }]));
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The behaviour every combination of event store, projection store and read-model store must have. */
export function describeProjectionEngineContract(name: string, factory: () => Promise<EngineFixture>): void {
  describe(`Projection engine contract: ${name}`, () => {
    let fx: EngineFixture;
    const engines: ProjectionEngine[] = [];
    const engine = (
      options: Partial<ProjectionEngineOptions> = {},
      projections: object[] = [],
    ): ProjectionEngine => {
      const e = new ProjectionEngine({
        eventStore: fx.eventStore,
        store: fx.store(),
        readModels: fx.readModels(),
        leaseTtlMs: 600,
        pollIntervalMs: 20,
        reportIntervalMs: 0,
        ...options,
      });
      for (const p of projections) e.register(p);
      engines.push(e);
      return e;
    };
    beforeEach(async () => {
      behaviour.poison.clear();
      behaviour.sideEffects = [];
      behaviour.resets = 0;
      fx = await factory();
    });
    afterEach(async () => {
      await Promise.all(engines.splice(0).map((e) => e.stop()));
      await fx.cleanup();
    });

    it(`delivers ${'with'} the expected guarantee`, async () => {
      const e = engine({}, [new BalancesProjection()]);
      expect((await e.status('contract-balances')).delivery).toBe(fx.delivery);
    });

    it('catches up on stored events, then follows live appends, each applied once and in order', async () => {
      const deposits: [string, number][] = [];
      for (let i = 0; i < 120; i++) deposits.push([`a${i % 7}`, i + 1]);
      for (const [account, amount] of deposits.slice(0, 80)) await deposit(fx.eventStore, account, [amount]);
      await fx.eventStore.appendToStream('Other-1', [{ type: 'contract.Ignored', payload: { note: 'x' } }]);
      const e = engine({}, [new BalancesProjection()]);
      e.start();
      await e.waitUntilCaughtUp('contract-balances');
      for (const [account, amount] of deposits.slice(80)) await deposit(fx.eventStore, account, [amount]);
      await e.waitUntilCaughtUp('contract-balances');
      expect(await readModel(e.readModels, 'contract_balances')).toEqual(fold(deposits));
      const status = await e.status('contract-balances');
      expect(status).toMatchObject({ state: 'live', status: 'running', lag: 0, ownedHere: true, parked: 0 });
      expect(status.eventsHandled).toBe(120);
      expect(behaviour.sideEffects).toHaveLength(120);
    });

    it('resumes from its checkpoint after a restart without applying an event twice', async () => {
      const deposits: [string, number][] = Array.from({ length: 60 }, (_, i) => [`b${i % 3}`, i + 1]);
      for (const [account, amount] of deposits.slice(0, 30)) await deposit(fx.eventStore, account, [amount]);
      const first = engine({}, [new BalancesProjection()]);
      first.start();
      await first.waitUntilCaughtUp('contract-balances');
      await first.stop();
      for (const [account, amount] of deposits.slice(30)) await deposit(fx.eventStore, account, [amount]);
      const second = engine({}, [new BalancesProjection()]);
      second.start();
      await second.waitUntilCaughtUp('contract-balances');
      expect(await readModel(second.readModels, 'contract_balances')).toEqual(fold(deposits));
      expect((await second.status('contract-balances')).eventsHandled).toBe(30);
    });

    it('stops on a poison event with policy stop (faulted, error and position), then resumes after the fix', async () => {
      await deposit(fx.eventStore, 'c', [1, 2]);
      await deposit(fx.eventStore, 'd', [13, 4]);
      await deposit(fx.eventStore, 'c', [5]);
      behaviour.poison.add(13);
      const e = engine({}, [new BalancesProjection()]);
      e.start();
      await expect(e.waitUntilCaughtUp('contract-balances')).rejects.toThrow(/faulted.*poison 13/);
      const status = await e.status('contract-balances');
      expect(status.status).toBe('faulted');
      expect(status.lastError).toMatchObject({
        streamId: 'Account-d',
        eventType: 'contract.Deposited',
        attempts: 2,
      });
      expect(status.lastError!.message).toContain('poison 13');
      // Nothing after the poison event was applied; nothing was skipped.
      expect(await readModel(e.readModels, 'contract_balances')).toEqual(
        fold([
          ['c', 1],
          ['c', 2],
        ]),
      );
      behaviour.poison.clear();
      await e.resume('contract-balances');
      await e.waitUntilCaughtUp('contract-balances');
      expect(await readModel(e.readModels, 'contract_balances')).toEqual(
        fold([
          ['c', 1],
          ['c', 2],
          ['d', 13],
          ['d', 4],
          ['c', 5],
        ]),
      );
    });

    it('parks a poison event and the rest of its stream in order, other streams flow; retry applies them in order', async () => {
      behaviour.poison.add(13);
      await deposit(fx.eventStore, 'p', [1, 13, 3]);
      await deposit(fx.eventStore, 'q', [10, 20]);
      await deposit(fx.eventStore, 'p', [4]);
      await deposit(fx.eventStore, 'q', [30]);
      const e = engine({}, [new ParkingProjection()]);
      e.start();
      await e.waitUntilCaughtUp('contract-parking');
      const model = await readModel(e.readModels, 'contract_parking');
      expect(model.get('q')).toEqual(
        fold([
          ['q', 10],
          ['q', 20],
          ['q', 30],
        ]).get('q'),
      );
      expect(model.get('p')).toMatchObject({ total: 1, versions: [1] });
      const parked = await e.parked('contract-parking');
      expect(parked.map((p) => [p.streamId, p.event.streamVersion])).toEqual([
        ['Account-p', 2],
        ['Account-p', 3],
        ['Account-p', 4],
      ]);
      expect(parked[0]!.reason).toContain('poison 13');
      expect(parked[1]!.reason).toContain('parked');
      // New events of the parked stream are parked behind the others.
      await deposit(fx.eventStore, 'p', [5]);
      await e.waitUntilCaughtUp('contract-parking');
      expect((await e.parked('contract-parking', 'Account-p')).map((p) => p.event.streamVersion)).toEqual([
        2, 3, 4, 5,
      ]);
      // A retry that still fails keeps them all.
      await e.retryParked('contract-parking');
      await eventually(async () => (await e.status('contract-parking')).request === undefined);
      expect(await e.parked('contract-parking')).toHaveLength(4);
      // After the fix they are applied in order.
      behaviour.poison.clear();
      await e.retryParked('contract-parking', 'Account-p');
      await eventually(async () => (await e.parked('contract-parking')).length === 0);
      await deposit(fx.eventStore, 'p', [6]);
      await e.waitUntilCaughtUp('contract-parking');
      expect((await readModel(e.readModels, 'contract_parking')).get('p')).toEqual(
        fold([1, 13, 3, 4, 5, 6].map((a) => ['p', a] as [string, number])).get('p'),
      );
      expect((await e.status('contract-parking')).parked).toBe(0);
    });

    it('reset replays everything into an empty read model and skips @SkipOnReplay handlers', async () => {
      const deposits: [string, number][] = Array.from({ length: 40 }, (_, i) => [`r${i % 4}`, i + 1]);
      for (const [account, amount] of deposits) await deposit(fx.eventStore, account, [amount]);
      const e = engine({}, [new BalancesProjection()]);
      e.start();
      await e.waitUntilCaughtUp('contract-balances');
      expect(behaviour.sideEffects).toHaveLength(40);
      await e.reset('contract-balances');
      await e.waitUntilCaughtUp('contract-balances');
      await deposit(fx.eventStore, 'r0', [1000]);
      await e.waitUntilCaughtUp('contract-balances');
      expect(await readModel(e.readModels, 'contract_balances')).toEqual(fold([...deposits, ['r0', 1000]]));
      expect(behaviour.resets).toBe(1);
      // The 40 replayed events caused no side effect; the new one did.
      expect(behaviour.sideEffects).toHaveLength(41);
      expect(behaviour.sideEffects.at(-1)).toBe('r0:11');
    });

    it('blue/green rebuild: readers see the complete old model until the new one is caught up', async () => {
      const deposits: [string, number][] = Array.from({ length: 200 }, (_, i) => [`g${i % 5}`, i + 1]);
      for (const [account, amount] of deposits) await deposit(fx.eventStore, account, [amount]);
      const e = engine({}, [new BalancesProjection()]);
      e.start();
      await e.waitUntilCaughtUp('contract-balances');
      const complete = fold(deposits);
      // Readers only ever see the complete old model or the complete new one.
      let reading = true;
      const seen: string[] = [];
      const reader = (async () => {
        while (reading) {
          const model = await readModel(e.readModels, 'contract_balances');
          const sum = [...model.values()].reduce((s, d) => s + d.total, 0);
          seen.push(String(sum));
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      await e.rebuild('contract-balances', { blueGreen: true });
      await e.waitUntilCaughtUp('contract-balances');
      reading = false;
      await reader;
      const total = [...complete.values()].reduce((s, d) => s + d.total, 0);
      expect(new Set(seen)).toEqual(new Set([String(total)]));
      expect(await readModel(e.readModels, 'contract_balances')).toEqual(complete);
      const status = await e.status('contract-balances');
      expect(status.generation).toBe(2);
      expect(status.shadow).toBeUndefined();
      expect(behaviour.sideEffects).toHaveLength(200);
      // Generation 1 is gone.
      expect(await e.readModels.collection('contract_balances', { generation: 1 }).count()).toBe(0);
    });

    it('blue/green rebuild after a fix re-handles parked events once, in the new generation', async () => {
      behaviour.poison.add(13);
      await deposit(fx.eventStore, 'p', [1, 13, 3]);
      await deposit(fx.eventStore, 'q', [10]);
      const e = engine({}, [new ParkingProjection()]);
      e.start();
      await e.waitUntilCaughtUp('contract-parking');
      expect((await e.parked('contract-parking')).map((p) => [p.event.streamVersion, p.generation])).toEqual([
        [2, 1],
        [3, 1],
      ]);
      behaviour.poison.clear();
      await e.rebuild('contract-parking', { blueGreen: true });
      await e.waitUntilCaughtUp('contract-parking');
      // Generation 2 was built from the start, poison event included; generation 1's parked events
      // went with it, so nothing is applied twice.
      expect(await e.parked('contract-parking')).toEqual([]);
      expect((await e.status('contract-parking')).generation).toBe(2);
      expect(await readModel(e.readModels, 'contract_parking')).toEqual(
        fold([
          ['p', 1],
          ['p', 13],
          ['p', 3],
          ['q', 10],
        ]),
      );
      await e.retryParked('contract-parking');
      await eventually(async () => (await e.status('contract-parking')).request === undefined);
      expect((await readModel(e.readModels, 'contract_parking')).get('p')?.total).toBe(17);
    });

    it('runs a projection on exactly one of two instances; the other takes over when it stops', async () => {
      const a = engine({ instanceId: 'instance-a' }, [new BalancesProjection()]);
      const b = engine({ instanceId: 'instance-b' }, [new BalancesProjection()]);
      const deposits: [string, number][] = Array.from({ length: 50 }, (_, i) => [`f${i % 2}`, i + 1]);
      for (const [account, amount] of deposits.slice(0, 25)) await deposit(fx.eventStore, account, [amount]);
      a.start();
      await a.waitUntilCaughtUp('contract-balances');
      b.start();
      await new Promise((r) => setTimeout(r, 300));
      expect((await a.status('contract-balances')).ownedHere).toBe(true);
      expect((await b.status('contract-balances')).state).toBe('standby');
      await a.stop();
      for (const [account, amount] of deposits.slice(25)) await deposit(fx.eventStore, account, [amount]);
      await b.waitUntilCaughtUp('contract-balances');
      expect((await b.status('contract-balances')).ownedHere).toBe(true);
      expect(await readModel(b.readModels, 'contract_balances')).toEqual(fold(deposits));
      expect((await b.status('contract-balances')).eventsHandled).toBe(25);
    });

    it('starts from the head when asked: earlier events are never handled', async () => {
      await deposit(fx.eventStore, 'h', [1, 2, 3]);
      const e = engine({}, [new FromHeadProjection()]);
      e.start();
      await eventually(async () => (await e.status('contract-from-head')).state === 'live');
      await deposit(fx.eventStore, 'h', [40]);
      await e.waitUntilCaughtUp('contract-from-head');
      expect((await readModel(e.readModels, 'contract_head')).get('h')).toEqual({
        account: 'h',
        total: 40,
        count: 1,
        versions: [4],
      });
    });

    it('pause stops it on every instance until resume', async () => {
      const e = engine({}, [new BalancesProjection()]);
      e.start();
      await deposit(fx.eventStore, 'z', [1]);
      await e.waitUntilCaughtUp('contract-balances');
      await e.pause('contract-balances');
      await eventually(async () => (await e.status('contract-balances')).state === 'paused');
      await deposit(fx.eventStore, 'z', [2]);
      await new Promise((r) => setTimeout(r, 200));
      expect((await readModel(e.readModels, 'contract_balances')).get('z')?.total).toBe(1);
      expect((await e.status('contract-balances')).lag).toBe(1);
      await e.resume('contract-balances');
      await e.waitUntilCaughtUp('contract-balances');
      expect((await readModel(e.readModels, 'contract_balances')).get('z')?.total).toBe(3);
    });
  });
}
