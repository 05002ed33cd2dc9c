import { LifecycleHookError, describeError, type Logger, type SerializerRegistry } from '../core';
import type { CommandBus } from '../cqrs/command-bus';
import type { DispatchGate } from '../cqrs/dispatch-gate';
import type { QueryBus } from '../cqrs/query-bus';
import type { TopologyRecorder } from '../cqrs/topology-recorder';
import type { EventBus, EventHandlerFailureListener } from '../events/event-bus';
import type { InjectionToken } from '../metadata';
import { hasHook, type LifecycleHook } from './lifecycle';
import type { PotterContainer } from './potter-container';
import { type AppTopology } from './topology';

/** Lifecycle state of a {@link PotterApp}. */
export type AppState = 'ready' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Options of {@link PotterApp.stop}. */
export interface StopOptions {
  /** How long to wait for in-flight handlers before giving up. @default the bootstrap `shutdownTimeoutMs` */
  timeoutMs?: number;
}

/** An instance with lifecycle hooks, in dependency order. @internal */
export interface LifecycleParticipant {
  name: string;
  instance: unknown;
}

/** @internal */
export interface PotterAppParts {
  container: PotterContainer;
  commandBus: CommandBus;
  queryBus: QueryBus;
  eventBus: EventBus;
  serializer: SerializerRegistry;
  logger: Logger;
  gate: DispatchGate;
  recorder: TopologyRecorder;
  participants: LifecycleParticipant[];
  buildTopology: () => AppTopology;
  shutdownSignals: NodeJS.Signals[];
  shutdownTimeoutMs: number;
  exitOnSignal: boolean;
}

/**
 * A bootstrapped application: its buses, its container, and its lifecycle. Created by `bootstrap()`;
 * messages can be dispatched as soon as it exists; `start()` runs `onStart` hooks and installs the
 * signal handlers; `stop()` drains in-flight handlers and runs `onStop` hooks in reverse order.
 */
export class PotterApp {
  /** Sends commands to their handler. */
  readonly commandBus: CommandBus;
  /** Sends queries to their handler. */
  readonly queryBus: QueryBus;
  /** Publishes events to every handler. */
  readonly eventBus: EventBus;
  /** The dependency-injection container. */
  readonly container: PotterContainer;
  /** Maps every message type name of the app to its class. */
  readonly serializer: SerializerRegistry;
  readonly logger: Logger;
  #state: AppState = 'ready';
  #stopping: Promise<void> | undefined;
  readonly #parts: PotterAppParts;
  readonly #signalHandlers = new Map<NodeJS.Signals, () => void>();

  /** @internal */
  constructor(parts: PotterAppParts) {
    this.#parts = parts;
    this.commandBus = parts.commandBus;
    this.queryBus = parts.queryBus;
    this.eventBus = parts.eventBus;
    this.container = parts.container;
    this.serializer = parts.serializer;
    this.logger = parts.logger;
  }

  /** Current lifecycle state. */
  get state(): AppState {
    return this.#state;
  }

  /** Resolves a provider from the app's container. */
  resolve<T>(token: InjectionToken<T>): T {
    return this.container.resolve(token);
  }

  /** Observes event handlers that failed after all their retries. */
  onError(listener: EventHandlerFailureListener): () => void {
    return this.eventBus.onError(listener);
  }

  /**
   * Runs `onStart` hooks in dependency order. If one fails, the providers already started are
   * stopped (reverse order) and the error is thrown.
   */
  async start(): Promise<this> {
    if (this.#state === 'running') return this;
    if (this.#state !== 'ready')
      throw new LifecycleHookError(
        'start',
        'PotterApp',
        new Error(`cannot start an app that is ${this.#state}`),
      );
    this.#state = 'starting';
    const started: LifecycleParticipant[] = [];
    for (const participant of this.#parts.participants) {
      try {
        if (hasHook(participant.instance, 'onStart')) await participant.instance.onStart();
        started.push(participant);
      } catch (error) {
        await this.#runHooks('onStop', started.reverse(), []);
        this.#state = 'stopped';
        throw new LifecycleHookError('onStart', participant.name, error);
      }
    }
    this.#installSignalHandlers();
    this.#state = 'running';
    return this;
  }

  /**
   * Stops taking new messages, waits for in-flight handlers (up to the deadline), then runs
   * `onStop` hooks in reverse dependency order. Idempotent: later calls return the same promise.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.timeoutMs ?? this.#parts.shutdownTimeoutMs);
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    this.#removeSignalHandlers();
    const errors: unknown[] = [];
    try {
      await this.#parts.gate.drain(timeoutMs);
    } catch (error) {
      this.logger.error(describeError(error));
      errors.push(error);
    }
    await this.#runHooks('onStop', [...this.#parts.participants].reverse(), errors);
    this.#state = 'stopped';
    if (errors.length > 0) throw errors[0];
  }

  async #runHooks(
    hook: LifecycleHook,
    participants: LifecycleParticipant[],
    errors: unknown[],
  ): Promise<void> {
    for (const participant of participants) {
      if (!hasHook(participant.instance, hook)) continue;
      try {
        await participant.instance[hook]();
      } catch (error) {
        const wrapped = new LifecycleHookError(hook, participant.name, error);
        this.logger.error(wrapped.message, { code: wrapped.code });
        errors.push(wrapped);
      }
    }
  }

  /**
   * The message-flow graph: each command, query and event, its handlers, and what the handlers
   * emit or send — declared with the `emits` handler option, or observed while the app ran.
   */
  topology(): AppTopology {
    const topology = this.#parts.buildTopology();
    for (const edge of this.#parts.recorder.edges()) {
      const handler = topology.node('handler', edge.handler);
      const message = topology.node(edge.kind, edge.messageType);
      topology.edge(handler, message, edge.kind === 'event' ? 'emits' : 'sends', 'observed');
    }
    return topology;
  }

  #installSignalHandlers(): void {
    for (const signal of this.#parts.shutdownSignals) {
      const handler = (): void => {
        this.logger.info(`Received ${signal}: stopping gracefully`);
        this.stop().then(
          () => {
            if (this.#parts.exitOnSignal) process.exit(0);
          },
          (error: unknown) => {
            this.logger.error(`Graceful stop failed: ${describeError(error)}`);
            if (this.#parts.exitOnSignal) process.exit(1);
          },
        );
      };
      this.#signalHandlers.set(signal, handler);
      process.once(signal, handler);
    }
  }

  #removeSignalHandlers(): void {
    for (const [signal, handler] of this.#signalHandlers) process.removeListener(signal, handler);
    this.#signalHandlers.clear();
  }
}
