import {
  BootstrapError,
  LifecycleHookError,
  MessageContext,
  SerializerRegistry,
  createConsoleLogger,
  describeError,
  nameOf,
  systemClock,
  type BootstrapProblem,
  type Clock,
  type Constructor,
  type Logger,
  type MessageKind,
} from '../core';
import { CommandBus } from '../cqrs/command-bus';
import { DispatchGate } from '../cqrs/dispatch-gate';
import type { HandlerEntry, HandlerFunction } from '../cqrs/handler-descriptor';
import type { BusOptions } from '../cqrs/message-bus-base';
import type { MiddlewareLike } from '../cqrs/middleware';
import { retryMiddleware, type RetryMiddlewareOptions } from '../cqrs/middleware/retry.middleware';
import { timeoutMiddleware, type TimeoutMiddlewareOptions } from '../cqrs/middleware/timeout.middleware';
import {
  validationMiddleware,
  type ValidationMiddlewareOptions,
} from '../cqrs/middleware/validation.middleware';
import { QueryBus } from '../cqrs/query-bus';
import { TopologyRecorder } from '../cqrs/topology-recorder';
import { DistributedHandlers } from '../events/distributed-handlers';
import { EventBus, type EventBusOptions } from '../events/event-bus';
import { metadataRegistry, type HandlerRecord, type InjectionToken, type Provider } from '../metadata';
import { hasHook } from './lifecycle';
import { scanModules } from './module-graph';
import { PotterApp, type LifecycleParticipant } from './potter-app';
import { PotterContainer } from './potter-container';
import { tokenName, type ProviderDefinition } from './provider-definition';
import { CLOCK, LOGGER } from './tokens';
import { AppTopology } from './topology';

/** Options of the built-in pipeline of the command or query bus. */
export interface PipelineOptions extends BusOptions {
  /** Validate messages with class-validator. @default true */
  validation?: boolean | ValidationMiddlewareOptions;
  /** Retry idempotent messages with backoff. @default true */
  retry?: boolean | RetryMiddlewareOptions;
  /** Enforce `timeoutMs` deadlines. @default true */
  timeout?: boolean | TimeoutMiddlewareOptions;
}

/** Options of {@link bootstrap}. */
export interface BootstrapOptions {
  /** @default a console logger at level `info` */
  logger?: Logger;
  /** @default the system clock */
  clock?: Clock;
  /** Providers that replace those of the modules (tests, environments). */
  overrides?: Provider[];
  /** Command bus pipeline: built-ins (validation → retry → timeout) then `middleware`. */
  commandBus?: PipelineOptions;
  /** Query bus pipeline, as for commands. */
  queryBus?: PipelineOptions;
  /** Event bus: validation before delivery, default retry policy of handlers, middleware, context propagation. */
  eventBus?: EventBusOptions & Pick<PipelineOptions, 'timeout'>;
  /** Signals that trigger a graceful `stop()` once started; `[]` to handle them yourself. @default ['SIGINT', 'SIGTERM'] */
  shutdownSignals?: NodeJS.Signals[];
  /** Exit the process after a signal-triggered stop. @default true */
  exitOnSignal?: boolean;
  /** How long `stop()` waits for in-flight handlers. @default 10000 */
  shutdownTimeoutMs?: number;
}

/**
 * Builds an application from its root module: scans the decorators, validates the whole graph
 * (every problem reported at once in a `BootstrapError`), wires handlers into the buses,
 * instantiates singletons and runs their `onInit` hooks in dependency order.
 */
export async function bootstrap(rootModule: Constructor, options: BootstrapOptions = {}): Promise<PotterApp> {
  const logger = options.logger ?? createConsoleLogger({ level: 'info' });
  const clock = options.clock ?? systemClock;
  const gate = new DispatchGate();
  const recorder = new TopologyRecorder();
  const commandBus = new CommandBus(gate, pipeline(options.commandBus, true), recorder);
  const queryBus = new QueryBus(gate, pipeline(options.queryBus, true), recorder);
  const eventBus = new EventBus(
    gate,
    { logger, ...options.eventBus, ...pipeline(options.eventBus, false) },
    recorder,
  );
  const serializer = new SerializerRegistry();
  const distributed = new DistributedHandlers();

  const builtins: [InjectionToken, unknown][] = [
    [CommandBus, commandBus],
    [QueryBus, queryBus],
    [EventBus, eventBus],
    [SerializerRegistry, serializer],
    [LOGGER, logger],
    [CLOCK, clock],
    [DistributedHandlers, distributed],
  ];
  const graph = scanModules(
    rootModule,
    [...builtins.map(([token]) => token), MessageContext],
    options.overrides,
  );
  const problems = graph.problems;
  const routes = collectRoutes(graph.handlers, problems);
  registerMessageTypes(routes, serializer, problems);
  if (problems.length > 0) throw new BootstrapError(problems);

  const container = PotterContainer.create(graph.providers, builtins);
  const participants = instantiateSingletons(graph.order, container);
  for (const route of routes) {
    const entry = createEntry(route, container);
    if (route.kind === 'command') commandBus.register(route.handler.message, entry);
    else if (route.kind === 'query') queryBus.register(route.handler.message, entry);
    else if (route.handler.options.distributed) {
      const option = route.handler.options.distributed;
      distributed.add({
        entry,
        eventClass: route.handler.message,
        group: (typeof option === 'object' ? option.group : undefined) ?? route.handlerName,
      });
    } else eventBus.subscribe(route.handler.message, entry);
  }
  const initialised: LifecycleParticipant[] = [];
  for (const participant of participants) {
    try {
      if (hasHook(participant.instance, 'onInit')) await participant.instance.onInit();
      initialised.push(participant);
    } catch (error) {
      // Release what the providers initialised so far hold (reverse order), then report.
      for (const done of initialised.reverse()) {
        try {
          if (hasHook(done.instance, 'onStop')) await done.instance.onStop();
        } catch (stopError) {
          logger.error(
            `${done.name}.onStop() failed while undoing a failed bootstrap: ${describeError(stopError)}`,
          );
        }
      }
      throw new LifecycleHookError('onInit', participant.name, error);
    }
  }
  const app = new PotterApp({
    container,
    commandBus,
    queryBus,
    eventBus,
    serializer,
    logger,
    gate,
    recorder,
    participants,
    buildTopology: () => declaredTopology(routes),
    shutdownSignals: options.shutdownSignals ?? ['SIGINT', 'SIGTERM'],
    exitOnSignal: options.exitOnSignal ?? true,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
  });
  logger.debug(
    `Bootstrapped ${rootModule.name}: ${routes.length} handler route(s), ${graph.providers.size} provider(s)`,
  );
  return app;
}

function pipeline(options: PipelineOptions | undefined, withRetry: boolean): BusOptions {
  const middleware: MiddlewareLike[] = [];
  const validation = options?.validation ?? withRetry;
  if (validation !== false) middleware.push(validationMiddleware(validation === true ? {} : validation));
  const retry = withRetry ? (options?.retry ?? true) : false;
  if (retry !== false) middleware.push(retryMiddleware(retry === true ? {} : retry));
  const timeout = options?.timeout ?? true;
  if (timeout !== false) middleware.push(timeoutMiddleware(timeout === true ? {} : timeout));
  middleware.push(...(options?.middleware ?? []));
  return { middleware, propagateContext: options?.propagateContext ?? true };
}

/** One message routed to one handler method. */
interface Route {
  kind: MessageKind;
  typeName: string;
  provider: ProviderDefinition;
  handler: HandlerRecord;
  handlerName: string;
}

function collectRoutes(handlers: ProviderDefinition[], problems: BootstrapProblem[]): Route[] {
  const routes: Route[] = [];
  const single = new Map<Function, Route>();
  for (const provider of handlers) {
    const target = provider.useClass ?? (provider.token as Constructor);
    for (const handler of metadataRegistry.getHandlers(target)) {
      const handlerName = `${target.name}.${String(handler.method)}`;
      const message = metadataRegistry.getMessage(handler.message);
      if (!message || message.kind !== handler.kind) {
        const decorator = { command: '@Command', query: '@Query', event: '@Event' }[handler.kind];
        problems.push({
          code: 'MESSAGE_NOT_DECORATED',
          message: `${handlerName} handles ${nameOf(handler.message)}, which is not ${handler.kind === 'event' ? 'an' : 'a'} ${handler.kind}: decorate it with ${decorator}()${message ? ` (it is a ${message.kind})` : ''}.`,
          details: { handler: handlerName, message: nameOf(handler.message), kind: handler.kind },
        });
        continue;
      }
      const implementation = (target.prototype as Record<string | symbol, unknown>)[handler.method];
      if (typeof implementation !== 'function') {
        problems.push({
          code: 'HANDLER_METHOD_MISSING',
          message: `${target.name} is a ${handler.kind} handler but has no ${String(handler.method)}() method.`,
          details: { handler: target.name, method: String(handler.method) },
        });
        continue;
      }
      for (const emitted of handler.options.emits ?? []) {
        if (metadataRegistry.getMessage(emitted)?.kind !== 'event') {
          problems.push({
            code: 'MESSAGE_NOT_DECORATED',
            message: `${handlerName} declares it emits ${nameOf(emitted)}, which is not an event: decorate it with @Event().`,
            details: { handler: handlerName, message: nameOf(emitted) },
          });
        }
      }
      const route: Route = { kind: handler.kind, typeName: message.typeName, provider, handler, handlerName };
      if (handler.kind !== 'event') {
        const existing = single.get(handler.message);
        if (existing) {
          problems.push({
            code: 'DUPLICATE_HANDLER',
            message: `${message.typeName} has two ${handler.kind} handlers: ${existing.handlerName} and ${handlerName}; keep exactly one.`,
            details: { messageType: message.typeName, handlers: [existing.handlerName, handlerName] },
          });
          continue;
        }
        single.set(handler.message, route);
      }
      routes.push(route);
    }
  }
  return routes;
}

function registerMessageTypes(
  routes: Route[],
  serializer: SerializerRegistry,
  problems: BootstrapProblem[],
): void {
  const classes = new Set<Function>();
  for (const route of routes) {
    classes.add(route.handler.message);
    for (const emitted of route.handler.options.emits ?? []) classes.add(emitted);
  }
  for (const target of classes) {
    const record = metadataRegistry.getMessage(target);
    if (!record) continue;
    const existing = serializer.lookup(record.typeName);
    if (existing && existing.target !== target) {
      problems.push({
        code: 'DUPLICATE_TYPE_NAME',
        message: `${existing.target.name} and ${nameOf(target)} share the type name "${record.typeName}"; give one of them another name.`,
        details: { typeName: record.typeName, classes: [existing.target.name, nameOf(target)] },
      });
      continue;
    }
    serializer.register(record.typeName, target as Constructor, {
      kind: record.kind,
      schemaVersion: record.schemaVersion,
    });
  }
}

function instantiateSingletons(
  order: ProviderDefinition[],
  container: PotterContainer,
): LifecycleParticipant[] {
  const participants: LifecycleParticipant[] = [];
  for (const definition of order) {
    if (definition.scope !== 'singleton') continue;
    const instance = container.resolve(definition.token);
    participants.push({ name: tokenName(definition.token), instance });
  }
  return participants;
}

function createEntry(route: Route, container: PotterContainer): HandlerEntry {
  const { provider, handler } = route;
  const message = metadataRegistry.getMessage(handler.message)!;
  const method = handler.method;
  let invoke: HandlerFunction;
  let acceptsContext = true;
  if (provider.scope === 'singleton') {
    const instance = container.resolve(provider.token) as Record<
      string | symbol,
      (m: object, c: MessageContext) => unknown
    >;
    const fn = instance[method]!;
    acceptsContext = fn.length >= 2;
    invoke = (m, c) => fn.call(instance, m, c);
  } else if (provider.scope === 'transient') {
    invoke = (m, c) =>
      (container.resolve(provider.token) as Record<string | symbol, HandlerFunction>)[method]!(m, c);
  } else {
    invoke = (m, c) =>
      (
        container.createMessageScope(c).resolve(provider.token as never) as Record<
          string | symbol,
          HandlerFunction
        >
      )[method]!(m, c);
  }
  return {
    kind: route.kind,
    messageClass: handler.message,
    messageType: message.typeName,
    schemaVersion: message.schemaVersion,
    handlerName: route.handlerName,
    idempotent: handler.options.idempotent ?? message.idempotent,
    timeoutMs: handler.options.timeoutMs ?? message.timeoutMs,
    retry: handler.options.retry,
    invoke,
    acceptsContext,
  };
}

function declaredTopology(routes: Route[]): AppTopology {
  const topology = new AppTopology();
  for (const route of routes) {
    const message = topology.node(route.kind, route.typeName);
    const handler = topology.node('handler', route.handlerName);
    topology.edge(message, handler, 'handled-by', 'declared');
    for (const emitted of route.handler.options.emits ?? []) {
      const record = metadataRegistry.getMessage(emitted);
      if (record) topology.edge(handler, topology.node('event', record.typeName), 'emits', 'declared');
    }
  }
  return topology;
}
