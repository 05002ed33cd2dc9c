import {
  Command,
  IDEMPOTENCY_KEY_HEADER,
  MemoryTimerService,
  TypedCommand,
  idempotencyKeyOf,
  sagaIdOf,
  CommandHandler,
  Compensate,
  ConfigurationError,
  defineSaga,
  Event,
  EventBus,
  EventHandler,
  Injectable,
  MemorySagaStore,
  Module,
  Saga,
  SagaCompensated,
  SagaCompleted,
  SagaModule,
  SagaOrchestrator,
  SagaStarted,
  SagaStep,
  SagaStepCompleted,
  sagaDefinitionOf,
  type MessageContext,
  type SagaBusEvent,
  type SagaLease,
  type SagaState,
  type StepArgs,
} from 'potter';
import { ManualClock, ManualTimers, createTestApp } from 'potter/testing';

interface OrderCtx {
  orderId: string;
  amount: number;
  express?: boolean;
  log: string[];
  paymentId?: string;
}

@Command('test.ChargeCard')
class ChargeCard {
  constructor(
    readonly orderId: string,
    readonly amount: number,
  ) {}
}

@Event('test.CardCharged')
class CardCharged {
  constructor(
    readonly orderId: string,
    readonly paymentId: string,
  ) {}
}

/** A payment service: charges once per idempotency key, publishes CardCharged later. */
@Injectable()
class Payments {
  static seen: {
    key: string | undefined;
    sagaId: string | undefined;
    correlationId: string;
    causationId?: string;
  }[] = [];
  static charges = new Map<string, string>();
  static declineOver = Infinity;
  constructor(readonly events: EventBus) {}

  @CommandHandler(ChargeCard)
  async charge(command: ChargeCard, context: MessageContext): Promise<void> {
    const key = idempotencyKeyOf(context);
    Payments.seen.push({
      key,
      sagaId: sagaIdOf(context),
      correlationId: context.correlationId,
      ...(context.causationId === undefined ? {} : { causationId: context.causationId }),
    });
    if (command.amount > Payments.declineOver) throw new Error('card declined');
    const paymentId = Payments.charges.get(key!) ?? `pay-${Payments.charges.size + 1}`;
    Payments.charges.set(key!, paymentId);
    // An unrelated order's confirmation first: waitFor must ignore it (another correlation id).
    await this.events.publish(new CardCharged('someone-else', 'pay-x'), { correlationId: 'another' });
    setImmediate(
      () => void this.events.publish(new CardCharged(command.orderId, paymentId), context.metadata),
    );
  }
}

@Saga('test-order')
class OrderSaga {
  static undone: string[] = [];

  @SagaStep('reserve')
  reserve({ context }: StepArgs<OrderCtx>): void {
    context.log.push('reserve');
  }

  @Compensate('reserve')
  release({ context }: StepArgs<OrderCtx>): void {
    OrderSaga.undone.push(`release ${context.orderId}`);
  }

  @SagaStep('charge', { retry: { maxAttempts: 1 } })
  async charge({ context, dispatch, waitFor }: StepArgs<OrderCtx>): Promise<void> {
    const charged = waitFor(CardCharged, { timeoutMs: 2_000 });
    await dispatch(new ChargeCard(context.orderId, context.amount));
    context.paymentId = (await charged).paymentId;
    context.log.push('charge');
  }

  @SagaStep('label', { parallel: 'prepare' })
  label({ context }: StepArgs<OrderCtx>): void {
    context.log.push('label');
  }

  @SagaStep('invoice', { parallel: 'prepare' })
  invoice({ context }: StepArgs<OrderCtx>): void {
    context.log.push('invoice');
  }

  @SagaStep('express', { when: (context: OrderCtx) => context.express === true })
  express({ context }: StepArgs<OrderCtx>): void {
    context.log.push('express');
  }
}

class SagaEventLog {
  static events: SagaBusEvent[] = [];
  @EventHandler(SagaStarted)
  @EventHandler(SagaStepCompleted)
  @EventHandler(SagaCompleted)
  @EventHandler(SagaCompensated)
  record(event: SagaBusEvent): void {
    SagaEventLog.events.push(event);
  }
}

@Module({ handlers: [Payments, SagaEventLog] })
class PaymentsModule {}

beforeEach(() => {
  Payments.seen = [];
  Payments.charges = new Map();
  Payments.declineOver = Infinity;
  OrderSaga.undone = [];
  SagaEventLog.events = [];
});

describe('@Saga classes', () => {
  it('build the same definition as the builder: steps in order, parallel groups, conditions, compensations', () => {
    const definition = sagaDefinitionOf<OrderCtx>(new OrderSaga());
    expect(definition.name).toBe('test-order');
    expect(definition.stepNames).toEqual(['reserve', 'charge', 'label', 'invoice', 'express']);
    expect(definition.nodes.map((node) => `${node.kind}:${node.name}`)).toEqual([
      'step:reserve',
      'step:charge',
      'parallel:prepare',
      'step:express',
    ]);
    const reserve = definition.nodes[0];
    expect(reserve?.kind === 'step' && typeof reserve.options.compensate).toBe('function');
    const express = definition.nodes[3];
    expect(
      express?.kind === 'step' && express.when?.({ orderId: 'o', amount: 1, log: [], express: true }),
    ).toBe(true);
  });

  it('refuse bad definitions with every problem listed', () => {
    @Saga('broken')
    class Broken {
      @SagaStep('a')
      a(): void {}
      @SagaStep('a')
      again(): void {}
      @SagaStep('p1', { parallel: 'g' })
      p1(): void {}
      @SagaStep('b')
      b(): void {}
      @SagaStep('p2', { parallel: 'g', when: () => true })
      p2(): void {}
      @Compensate('nope')
      undoNope(): void {}
      @Compensate('b')
      undoB(): void {}
      @Compensate('b')
      undoBAgain(): void {}
    }
    let error: unknown;
    try {
      sagaDefinitionOf(new Broken());
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    const problems = (error as ConfigurationError).details['problems'] as string[];
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/@Compensate\('nope'\) on undoNope names no step/),
        'step "b" has more than one @Compensate method',
        'parallel group "g" is split: its steps must be declared one after the other',
        'step "p2" of parallel group "g" cannot have a condition',
      ]),
    );
    class Plain {}
    expect(() => sagaDefinitionOf(new Plain())).toThrow(/Plain is not a saga: decorate it with @Saga/);
  });

  it('fail the bootstrap of an app when a definition is bad (duplicate step names)', async () => {
    @Saga('dup')
    class Dup {
      @SagaStep('a')
      a(): void {}
      @SagaStep('a')
      b(): void {}
    }
    @Module({ imports: [SagaModule.forRoot({ sagas: [Dup] })] })
    class App {}
    await expect(createTestApp(App)).rejects.toThrow(/duplicate step name "a"/);
  });
});

describe('SagaModule', () => {
  async function app(store = new MemorySagaStore()) {
    @Module({ imports: [PaymentsModule, SagaModule.forRoot({ sagas: [OrderSaga], store, leaseMs: 60_000 })] })
    class App {}
    const instance = await createTestApp(App);
    await instance.start();
    return instance;
  }

  it('runs a @Saga class: commands dispatched with the saga ids, correlated events awaited, events published', async () => {
    const application = await app();
    try {
      const orchestrator = application.resolve(SagaOrchestrator);
      const handle = await orchestrator.start<OrderCtx>(
        OrderSaga,
        { orderId: 'o-1', amount: 10, log: [] },
        { correlationId: 'corr-1' },
      );
      const state = await handle.result;
      expect(state.status).toBe('completed');
      expect(state.context.paymentId).toBe('pay-1');
      expect(state.context.log.slice(0, 2)).toEqual(['reserve', 'charge']);
      expect(state.context.log.slice(2).sort()).toEqual(['invoice', 'label']);
      expect(state.skippedSteps).toEqual(['express']);
      expect(Payments.seen).toEqual([
        {
          key: `${handle.sagaId}:charge`,
          sagaId: handle.sagaId,
          correlationId: 'corr-1',
          causationId: handle.sagaId,
        },
      ]);
      const types = SagaEventLog.events.map((e) => `${e.constructor.name}${e.step ? `:${e.step}` : ''}`);
      expect(types[0]).toBe('SagaStarted');
      expect(types.at(-1)).toBe('SagaCompleted');
      expect(types.filter((t) => t.startsWith('SagaStepCompleted')).sort()).toEqual(
        ['charge', 'invoice', 'label', 'reserve'].map((s) => `SagaStepCompleted:${s}`),
      );
      expect(
        SagaEventLog.events.every((e) => e.sagaId === handle.sagaId && e.correlationId === 'corr-1'),
      ).toBe(true);
    } finally {
      await application.stop();
    }
  });

  it('compensates a failed command in reverse order and publishes SagaCompensated', async () => {
    const application = await app();
    try {
      Payments.declineOver = 5;
      const orchestrator = application.resolve(SagaOrchestrator);
      const handle = await orchestrator.start<OrderCtx>(OrderSaga, { orderId: 'o-2', amount: 10, log: [] });
      const state = await handle.result;
      expect(state.status).toBe('compensated');
      expect(state.error?.message).toBe('card declined');
      expect(OrderSaga.undone).toEqual(['release o-2']);
      expect(SagaEventLog.events.at(-1)).toBeInstanceOf(SagaCompensated);
    } finally {
      await application.stop();
    }
  });

  it('resumes an unfinished saga from the store when the app starts', async () => {
    const store = new MemorySagaStore();
    // A saga left running by a dead instance (its lease expired): reserve done, charge in flight.
    const crashed: SagaState<OrderCtx> = {
      sagaId: 'crashed-1',
      sagaName: 'test-order',
      correlationId: 'crashed-1',
      status: 'running',
      context: { orderId: 'o-4', amount: 1, log: ['reserve'] },
      completedSteps: ['reserve'],
      skippedSteps: [],
      compensatedSteps: [],
      currentStep: 'charge',
      attempts: { reserve: 1, charge: 1 },
      compensationAttempts: {},
      startedAt: Date.now() - 1000,
      updatedAt: Date.now() - 500,
      version: 1,
    };
    await store.create(crashed, { owner: 'dead-instance', leaseMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const application = await app(store);
    try {
      const orchestrator = application.resolve(SagaOrchestrator);
      const state = await (await orchestrator.get<OrderCtx>('crashed-1')).result;
      expect(state.status).toBe('completed');
      expect(state.context.log.slice(0, 2)).toEqual(['reserve', 'charge']);
      // The in-flight charge was re-run with the same attempt number and idempotency key.
      expect(state.attempts['charge']).toBe(1);
      expect(Payments.seen.map((s) => s.key)).toEqual(['crashed-1:charge']);
      expect(OrderSaga.undone).toEqual([]);
    } finally {
      await application.stop();
    }
  });

  it('hands a saga over on a graceful stop instead of compensating it (regression), and resumes it on the next start', async () => {
    @Command('test.Work')
    class Work {
      constructor(readonly label: string) {}
    }
    const handled: string[] = [];
    let finishSlow: (() => void) | undefined;
    class WorkHandler {
      @CommandHandler(Work)
      async run(command: Work): Promise<void> {
        // 'slow' stays in flight until released: app.stop() drains it while the saga goes on.
        if (command.label === 'slow') await new Promise<void>((resolve) => (finishSlow = resolve));
        handled.push(command.label);
      }
    }
    const undone: string[] = [];
    const gate: { open?: () => void } = {};
    const openGate = (): void => {
      const open = gate.open;
      if (open === undefined) throw new Error('step b is not waiting');
      open();
    };
    const untilWaiting = async (): Promise<void> => {
      while (gate.open === undefined) await new Promise((resolve) => setImmediate(resolve));
    };
    const two = defineSaga<{ n: number }>('shutdown-two')
      .step('a', {
        execute: ({ dispatch }) => dispatch(new Work('a')),
        compensate: () => void undone.push('a'),
      })
      .step('b', {
        execute: async ({ dispatch }) => {
          // Waits past app.stop(): its command then meets a stopping app.
          await new Promise<void>((resolve) => (gate.open = resolve));
          await dispatch(new Work('b'));
        },
      })
      .build();
    const store = new MemorySagaStore();
    const make = async () => {
      @Module({
        imports: [SagaModule.forRoot({ definitions: [two], store, leaseMs: 60_000 })],
        handlers: [WorkHandler],
      })
      class App {}
      const application = await createTestApp(App);
      await application.start();
      return application;
    };
    const first = await make();
    const handle = await first.resolve(SagaOrchestrator).start(two, { n: 1 });
    await untilWaiting();
    const slow = first.commandBus.execute(new Work('slow'));
    const stopping = first.stop();
    openGate();
    // Step b's command is refused (the app is stopping) while the drain waits for 'slow'.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    finishSlow?.();
    await slow;
    await stopping;
    await expect(handle.result).rejects.toMatchObject({ code: 'POTTER_SAGA_OWNERSHIP_LOST' });
    await new Promise((resolve) => setImmediate(resolve));
    const saved = await store.load(handle.sagaId);
    expect(saved).toMatchObject({ status: 'running', completedSteps: ['a'], currentStep: 'b' });
    expect(undone).toEqual([]);

    gate.open = undefined;
    const second = await make();
    try {
      await untilWaiting();
      openGate();
      const state = await (await second.resolve(SagaOrchestrator).get(handle.sagaId)).result;
      expect(state.status).toBe('completed');
      expect(handled).toEqual(['a', 'slow', 'b']);
      expect(undone).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('a restarted instance with a stable id resumes the sagas it held at once; another waits for the lease', async () => {
    const store = new MemorySagaStore();
    const ran: string[] = [];
    const definition = defineSaga<{ n: number }>('stable-id')
      .step('only', { execute: ({ sagaId }) => void ran.push(sagaId) })
      .build();
    const now = Date.now();
    await store.create(
      {
        sagaId: 'held-1',
        sagaName: 'stable-id',
        correlationId: 'held-1',
        status: 'running',
        context: { n: 1 },
        completedSteps: [],
        skippedSteps: [],
        compensatedSteps: [],
        attempts: { only: 1 },
        compensationAttempts: {},
        currentStep: 'only',
        startedAt: now,
        updatedAt: now,
        version: 1,
      },
      { owner: 'node-1', leaseMs: 60_000 },
    );
    const other = new SagaOrchestrator({ store, instanceId: 'node-2', leaseMs: 60_000 }).register(definition);
    await other.resume();
    expect(ran).toEqual([]);
    await other.stop();
    const restarted = new SagaOrchestrator({ store, instanceId: 'node-1', leaseMs: 60_000 }).register(
      definition,
    );
    await restarted.resume();
    try {
      expect((await (await restarted.get('held-1')).result).status).toBe('completed');
      expect(ran).toEqual(['held-1']);
    } finally {
      await restarted.stop();
    }
  });

  it('does not take a saga whose creation is still being written for a lost lease (regression: heartbeat vs start)', async () => {
    const clock = new ManualClock(0);
    const timers = new ManualTimers(clock);
    const slow: { create?: Promise<void> } = {};
    class SlowCreateStore extends MemorySagaStore {
      override async create(state: SagaState, lease: SagaLease): Promise<void> {
        if (slow.create !== undefined) await slow.create;
        return super.create(state, lease);
      }
    }
    const store = new SlowCreateStore({ clock });
    const orchestrator = new SagaOrchestrator({ store, clock, timers, leaseMs: 300 });
    const hanging = defineSaga<{ n: number }>('hangs')
      .step('wait', { execute: () => new Promise(() => undefined) })
      .build();
    const quick = defineSaga<{ n: number }>('quick')
      .step('only', { execute: () => undefined })
      .build();
    await orchestrator.start(hanging, { n: 1 }); // keeps the lease renewal going
    let release!: () => void;
    slow.create = new Promise<void>((resolve) => (release = resolve));
    const starting = orchestrator.start(quick, { n: 2 }, { sagaId: 'b' });
    await timers.advance(250); // two renewals while b's creation is being written
    release();
    const handle = await starting;
    expect((await handle.result).status).toBe('completed');
    await orchestrator.stop();
  });

  it('types dispatch from a TypedCommand, and exports the header names', async () => {
    @Command('test.Quote')
    class Quote extends TypedCommand<{ price: number }> {
      constructor(readonly sku: string) {
        super();
      }
    }
    class QuoteHandler {
      @CommandHandler(Quote)
      quote(command: Quote, context: MessageContext): { price: number } {
        expect(context.metadata.headers?.[IDEMPOTENCY_KEY_HEADER]).toBe(idempotencyKeyOf(context));
        return { price: command.sku.length * 10 };
      }
    }
    interface QuoteCtx {
      sku: string;
      price?: number;
    }
    const quoted = defineSaga<QuoteCtx>('typed-dispatch')
      .step('quote', {
        execute: async ({ context, dispatch }) => {
          // Compile-time check: the result is { price: number }, not unknown.
          const { price } = await dispatch(new Quote(context.sku));
          context.price = price;
        },
      })
      .build();
    @Module({
      imports: [SagaModule.forRoot({ definitions: [quoted], leaseMs: 60_000 })],
      handlers: [QuoteHandler],
    })
    class App {}
    const application = await createTestApp(App);
    await application.start();
    try {
      const input: QuoteCtx = { sku: 'abc' };
      const handle = await application.resolve(SagaOrchestrator).start(quoted, input);
      expect((await handle.result).context.price).toBe(30);
      expect(IDEMPOTENCY_KEY_HEADER).toBe('potter-idempotency-key');
    } finally {
      await application.stop();
    }
  });

  it('re-schedules the durable deadline of a saga it resumes (its previous owner may not have)', async () => {
    const clock = new ManualClock(1_000);
    const timers = new ManualTimers(clock);
    const store = new MemorySagaStore({ clock });
    const timerService = new MemoryTimerService({ clock, timers });
    const definition = defineSaga<{ n: number }>('deadline-resume')
      .step('wait', { execute: () => new Promise(() => undefined) })
      .timeout(5_000)
      .build();
    await store.create(
      {
        sagaId: 'd-1',
        sagaName: 'deadline-resume',
        correlationId: 'd-1',
        status: 'running',
        context: { n: 1 },
        completedSteps: [],
        skippedSteps: [],
        compensatedSteps: [],
        attempts: {},
        compensationAttempts: {},
        startedAt: 1_000,
        updatedAt: 1_000,
        deadlineAt: 6_000,
        version: 1,
      },
      { owner: 'gone', leaseMs: 1 },
    );
    clock.advance(10);
    const orchestrator = new SagaOrchestrator({ store, clock, timers, timerService, leaseMs: 3_600_000 });
    orchestrator.register(definition);
    await orchestrator.resume();
    try {
      await timers.advance(0);
      expect(await timerService.get('potter.saga.deadline:d-1')).toMatchObject({ dueAt: 6_000 });
      await timers.advance(5_000);
      const state = await (await orchestrator.get('d-1')).result;
      expect(state.status).toBe('failed');
      expect(state.error?.code).toBe('POTTER_TIMEOUT');
    } finally {
      await orchestrator.stop();
    }
  });

  it('starts a saga class that no module registered with a clear error', async () => {
    @Saga('unregistered')
    class Unregistered {
      @SagaStep()
      only(): void {}
    }
    const orchestrator = new SagaOrchestrator({ leaseMs: 60_000 });
    await expect(orchestrator.start(Unregistered, {})).rejects.toThrow(
      /Saga class Unregistered is not registered: list it in SagaModule.forRoot/,
    );
    class NotASaga {}
    await expect(orchestrator.start(NotASaga, {})).rejects.toThrow(/NotASaga is not a saga/);
    // Without a command bus, a step that dispatches fails with a ConfigurationError.
    const definition = defineSaga<Record<string, never>>('bare')
      .step('send', { execute: ({ dispatch }) => dispatch(new ChargeCard('o', 1)) })
      .build();
    const state = await (await orchestrator.start(definition, {})).result;
    expect(state.status).toBe('failed');
    expect(state.error).toMatchObject({
      code: 'POTTER_CONFIGURATION_INVALID',
      message: /has no command bus/,
    });
  });
});
