import {
  ConfigurationError,
  CountSagasByStatus,
  CountSagasByType,
  GetSaga,
  GetSagaHistory,
  ListSagas,
  MemoryEventStore,
  MemorySagaStore,
  Module,
  Query,
  QueryHandler,
  TypedQuery,
  SagaModule,
  SagaMonitor,
  SagaOrchestrator,
  SagaQueryError,
  SAGA_VIEWS,
  defineSaga,
  sagaStreamId,
  type SagaState,
  type SagaView,
  type SagaViewStore,
} from 'potter';
import { Inject } from 'potter';
import { createTestApp } from 'potter/testing';

interface Ctx {
  fail?: 'charge' | 'ship';
  charges: number;
}

const order = defineSaga<Ctx>('monitored-order')
  .step('reserve', { execute: () => undefined, compensate: () => undefined })
  .step('charge', {
    retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
    execute: ({ context }) => {
      context.charges += 1;
      if (context.fail === 'charge') throw new Error('card declined');
    },
    compensate: ({ context }) => {
      if (context.fail === 'ship') throw new Error('refund service down');
    },
  })
  .step('ship', {
    execute: ({ context }) => {
      if (context.fail === 'ship') throw new Error('no courier');
    },
  })
  .compensationRetry({ maxAttempts: 1 })
  .build();

const ping = defineSaga<Ctx>('monitored-ping')
  .step('ping', { execute: () => undefined })
  .build();

/** An application's own query built on the saga read model: failures grouped by step. */
@Query('test.GetFailuresByStep')
class GetFailuresByStep extends TypedQuery<Record<string, number>> {}

@QueryHandler(GetFailuresByStep)
class GetFailuresByStepHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  async execute(): Promise<Record<string, number>> {
    const page = await this.views.list({ status: ['compensated', 'compensation_failed'], limit: 1000 });
    const byStep: Record<string, number> = {};
    for (const view of page.items) {
      const step = view.error?.step ?? '?';
      byStep[step] = (byStep[step] ?? 0) + 1;
    }
    return byStep;
  }
}

/** The fields a view must share with the saga's stored state. */
function fromState(state: SagaState): Partial<SagaView> {
  return {
    sagaId: state.sagaId,
    sagaName: state.sagaName,
    status: state.status,
    correlationId: state.correlationId,
    completedSteps: [...state.completedSteps],
    compensatedSteps: [...state.compensatedSteps],
    skippedSteps: [...state.skippedSteps],
    attempts: { ...state.attempts },
    startedAt: state.startedAt,
  };
}

describe('SagaModule monitoring (in memory)', () => {
  async function app(options: Parameters<typeof SagaModule.forRoot>[0] = {}, custom = true) {
    @Module({
      imports: [SagaModule.forRoot({ definitions: [order, ping], leaseMs: 60_000, ...options })],
      handlers: custom ? [GetFailuresByStepHandler] : [],
    })
    class App {}
    const instance = await createTestApp(App);
    await instance.start();
    return instance;
  }

  it('projects every saga into the read model and answers the saga queries on the QueryBus', async () => {
    const application = await app();
    try {
      const sagas = application.resolve(SagaOrchestrator);
      const done = await (
        await sagas.start(order, { charges: 0 }, { correlationId: 'c-ok', businessKey: 'o-1' })
      ).result;
      const compensated = await (
        await sagas.start(order, { charges: 0, fail: 'charge' }, { correlationId: 'c-2' })
      ).result;
      const stuck = await (
        await sagas.start(order, { charges: 0, fail: 'ship' }, { correlationId: 'c-3' })
      ).result;
      const pinged = await (await sagas.start(ping, { charges: 0 }, { correlationId: 'c-4' })).result;
      expect([done.status, compensated.status, stuck.status, pinged.status]).toEqual([
        'completed',
        'compensated',
        'compensation_failed',
        'completed',
      ]);
      await application.resolve(SagaMonitor).waitUntilCaughtUp({ timeoutMs: 5_000 });
      const bus = application.queryBus;

      for (const state of [done, compensated, stuck, pinged]) {
        const view = await bus.execute(new GetSaga(state.sagaId));
        expect(view).toMatchObject(fromState(state));
      }
      const okView = (await bus.execute(new GetSaga(done.sagaId)))!;
      expect(okView.businessKey).toBe('o-1');
      expect(okView.currentStep).toBeUndefined();
      expect(okView.finishedAt).toBeGreaterThanOrEqual(okView.startedAt);
      expect(okView.steps.charge).toMatchObject({ status: 'completed', attempts: 1 });
      const stuckView = (await bus.execute(new GetSaga(stuck.sagaId)))!;
      expect(stuckView.currentStep).toBe('charge');
      expect(stuckView.lastError).toMatchObject({ message: 'refund service down', step: 'charge' });
      expect(stuckView.error).toMatchObject({ message: 'no courier', step: 'ship' });
      expect(stuckView.steps.charge?.status).toBe('compensation_failed');
      expect(stuckView.finishedAt).toBeUndefined();
      expect(await bus.execute(new GetSaga('nope'))).toBeUndefined();

      const failed = await bus.execute(new ListSagas({ status: ['compensated', 'compensation_failed'] }));
      expect(failed.items.map((v) => v.sagaId).sort()).toEqual([compensated.sagaId, stuck.sagaId].sort());
      const pings = await bus.execute(new ListSagas({ sagaName: 'monitored-ping' }));
      expect(pings.items.map((v) => v.sagaId)).toEqual([pinged.sagaId]);
      const byCorrelation = await bus.execute(new ListSagas({ correlationId: 'c-2' }));
      expect(byCorrelation.items.map((v) => v.sagaId)).toEqual([compensated.sagaId]);

      // Two per page, oldest first: three pages, every saga once.
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await bus.execute(
          new ListSagas({ direction: 'asc', limit: 2, ...(cursor ? { cursor } : {}) }),
        );
        seen.push(...page.items.map((v) => v.sagaId));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(seen).toEqual([done, compensated, stuck, pinged].map((s) => s.sagaId));

      const history = await bus.execute(new GetSagaHistory(compensated.sagaId));
      expect(history.map((e) => e.seq)).toEqual(history.map((_, i) => i + 1));
      expect(history[0]?.type).toBe('saga.started');
      expect(history.at(-1)).toMatchObject({ type: 'saga.compensated', status: 'compensated' });
      expect(history.filter((e) => e.type === 'saga.step.failed' && e.step === 'charge')).toHaveLength(2);
      expect(
        history.find((e) => e.type === 'saga.step.completed' && e.step === 'reserve')?.durationMs,
      ).toEqual(expect.any(Number));
      expect(await bus.execute(new GetSagaHistory(compensated.sagaId, { after: 2, limit: 1 }))).toEqual([
        history[2],
      ]);

      expect(await bus.execute(new CountSagasByStatus())).toEqual({
        pending: 0,
        running: 0,
        compensating: 0,
        completed: 2,
        failed: 0,
        compensated: 1,
        compensation_failed: 1,
        cancelled: 0,
        resolved: 0,
      });
      expect((await bus.execute(new CountSagasByStatus({ sagaName: 'monitored-ping' }))).completed).toBe(1);
      const byType = await bus.execute(new CountSagasByType());
      expect(Object.keys(byType).sort()).toEqual(['monitored-order', 'monitored-ping']);
      expect(byType['monitored-order']).toMatchObject({
        completed: 1,
        compensated: 1,
        compensation_failed: 1,
      });
      expect(byType['monitored-ping']).toMatchObject({ completed: 1, compensated: 0 });
      expect(await bus.execute(new GetFailuresByStep())).toEqual({ charge: 1, ship: 1 });
      const compensatedView = (await bus.execute(new GetSaga(compensated.sagaId)))!;
      expect(compensatedView.lastError).toMatchObject({ message: 'card declined', step: 'charge' });

      // An operator resolves the stuck saga: the read model follows.
      await sagas.markResolved(stuck.sagaId, 'refunded by hand');
      await application.resolve(SagaMonitor).waitUntilCaughtUp({ timeoutMs: 5_000 });
      const resolved = (await bus.execute(new GetSaga(stuck.sagaId)))!;
      expect(resolved.status).toBe('resolved');
      expect(resolved.currentStep).toBeUndefined();
      expect(resolved.finishedAt).toEqual(expect.any(Number));

      await expect(bus.execute(new ListSagas({ limit: 0 }))).rejects.toBeInstanceOf(SagaQueryError);
      await expect(bus.execute(new ListSagas({ cursor: 'garbage' }))).rejects.toMatchObject({
        code: 'POTTER_SAGA_INVALID_QUERY',
      });
    } finally {
      await application.stop();
    }
  });

  it('rebuilds the read model in place (reset), and refuses a blue/green rebuild of its generation-less tables', async () => {
    const application = await app();
    try {
      const sagas = application.resolve(SagaOrchestrator);
      const monitor = application.resolve(SagaMonitor);
      const first = await (await sagas.start(ping, { charges: 0 })).result;
      await monitor.waitUntilCaughtUp({ timeoutMs: 5_000 });
      await expect(monitor.engine.rebuild('potter.sagas', { blueGreen: true })).rejects.toBeInstanceOf(
        ConfigurationError,
      );
      // A blue/green request recorded by another tool rebuilds in place: views stay whole.
      await monitor.engine.store.request('potter.sagas', { action: 'rebuild', blueGreen: true });
      const second = await (await sagas.start(order, { charges: 0, fail: 'charge' })).result;
      for (let i = 0; i < 200 && (await monitor.status()).request !== undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect((await monitor.status()).request).toBeUndefined();
      await monitor.waitUntilCaughtUp({ timeoutMs: 5_000 });
      const status = await monitor.status();
      expect(status.generation).toBe(1);
      expect(status.shadow).toBeUndefined();
      for (const state of [first, second]) {
        expect(await application.queryBus.execute(new GetSaga(state.sagaId))).toMatchObject(fromState(state));
      }
      expect((await application.queryBus.execute(new GetSagaHistory(second.sagaId)))[0]?.seq).toBe(1);
    } finally {
      await application.stop();
    }
  });

  it('records the events in the store it is given, and refuses monitoring with a store that records none', async () => {
    const eventStore = new MemoryEventStore();
    const store = new MemorySagaStore({ eventStore });
    const application = await app({ store });
    try {
      const state = await (await application.resolve(SagaOrchestrator).start(ping, { charges: 0 })).result;
      const events = await eventStore.readStream(sagaStreamId(state.sagaId));
      expect(events.map((e) => e.type)).toEqual([
        'potter.SagaStarted',
        'potter.SagaStepStarted',
        'potter.SagaStepCompleted',
        'potter.SagaCompleted',
      ]);
      expect(events.every((e) => e.metadata.correlationId === state.correlationId)).toBe(true);
    } finally {
      await application.stop();
    }
    expect(() => SagaModule.forRoot({ store: new MemorySagaStore(), monitoring: true })).toThrow(
      ConfigurationError,
    );
  });

  it('registers no saga query without monitoring', async () => {
    const application = await app({ store: new MemorySagaStore() }, false);
    try {
      await expect(application.queryBus.execute(new GetSaga('x'))).rejects.toMatchObject({
        code: expect.stringMatching(/HANDLER/),
      });
      expect(() => application.resolve(SagaMonitor)).toThrow();
    } finally {
      await application.stop();
    }
    const off = await app({ monitoring: false }, false);
    try {
      await expect(off.queryBus.execute(new ListSagas())).rejects.toMatchObject({
        code: expect.stringMatching(/HANDLER/),
      });
    } finally {
      await off.stop();
    }
  });
});
