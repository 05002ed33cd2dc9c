/**
 * Potter — the public API of the core. Drivers live behind subpath exports (`potter/postgres`, …);
 * nothing here imports one.
 */
import 'reflect-metadata';

export {
  // errors
  ERROR_CATALOG,
  PotterError,
  ValidationError,
  HandlerNotFoundError,
  DuplicateHandlerError,
  ConcurrencyError,
  TimeoutError,
  MissingDependencyError,
  SerializationError,
  UnknownMessageTypeError,
  InvalidMessageError,
  BootstrapError,
  ProviderNotFoundError,
  AppNotRunningError,
  ShutdownTimeoutError,
  LifecycleHookError,
  EventHandlerFailedError,
  ConfigurationError,
  isPotterError,
  describeError,
  // ids, clock, logging
  newId,
  isUuidV7,
  systemClock,
  createConsoleLogger,
  silentLogger,
  // messages and context
  TypedCommand,
  TypedQuery,
  MessageContext,
  currentMessageContext,
  SerializerRegistry,
  // retry math
  resolveBackoff,
  backoffDelay,
  sleep,
  nameOf,
} from './core';
export type {
  ErrorCode,
  ErrorDetails,
  PotterErrorOptions,
  FieldViolation,
  BootstrapProblem,
  Clock,
  Logger,
  LogLevel,
  LogFields,
  ConsoleLoggerOptions,
  MessageKind,
  MessageMetadata,
  MessageEnvelope,
  DispatchMetadata,
  ResultOf,
  MessageTypeRegistration,
  SerializedMessage,
  BackoffOptions,
  ResolvedBackoff,
  Constructor,
  AbstractConstructor,
  JsonValue,
} from './core';

export {
  Command,
  Query,
  Event,
  CommandHandler,
  QueryHandler,
  EventHandler,
  Module,
  Injectable,
  Inject,
  createToken,
  isToken,
  createMetadataKey,
  MetadataRegistry,
  metadataRegistry,
  MESSAGE,
  HANDLER,
  MODULE,
  INJECTABLE,
  INJECT,
} from './metadata';
export type {
  MessageOptions,
  InjectableOptions,
  HandlerOptions,
  HandlerRecord,
  MessageRecord,
  ModuleRecord,
  ModuleOptions,
  InjectableRecord,
  InjectRecord,
  InjectionToken,
  Token,
  Scope,
  Provider,
  MetadataKey,
  ClassOrMethodDecorator,
} from './metadata';

export {
  CommandBus,
  QueryBus,
  validationMiddleware,
  timeoutMiddleware,
  retryMiddleware,
  isRetryableByDefault,
  flattenViolations,
} from './cqrs';
export type {
  HandlesCommand,
  HandlesQuery,
  HandlesEvent,
  MessageValidator,
  Middleware,
  MiddlewareFactory,
  MiddlewareLike,
  HandlerDescriptor,
  BusOptions,
  ExecuteOptions,
  ValidationMiddlewareOptions,
  TimeoutMiddlewareOptions,
  RetryMiddlewareOptions,
} from './cqrs';
export { EventBus } from './events';
export type {
  EventBusOptions,
  EventHandlerFailure,
  EventHandlerFailureListener,
  PublishResult,
} from './events';

export { bootstrap, PotterApp, PotterContainer, AppTopology, LOGGER, CLOCK, tokenName } from './container';
export type {
  BootstrapOptions,
  PipelineOptions,
  AppState,
  StopOptions,
  OnInit,
  OnStart,
  OnStop,
  LifecycleHook,
  TopologyNode,
  TopologyEdge,
} from './container';
