import type { BackoffOptions, Constructor, MessageKind } from '../core';

/** An injection token: a class, a string, a symbol or a {@link Token}. */
export type InjectionToken<T = unknown> =
  Constructor<T> | (abstract new (...args: never[]) => T) | string | symbol | Token<T>;

/** A typed token for values that are not classes (configuration, interfaces). */
export interface Token<T> {
  readonly description: string;
  readonly symbol: symbol;
  /** Type-level only. */
  readonly __type?: T;
}

/** Creates a typed injection token, e.g. `const DB_URL = createToken<string>('DB_URL')`. */
export function createToken<T>(description: string): Token<T> {
  return Object.freeze({ description, symbol: Symbol(description) });
}

/** True when `value` is a {@link Token}. */
export function isToken(value: unknown): value is Token<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Token<unknown>).symbol === 'symbol';
}

/** Provider lifetimes: one instance per app, a new one per resolve, or one per handled message. */
export type Scope = 'singleton' | 'transient' | 'message';

/** Recorded by `@Command`, `@Query` and `@Event`. */
export interface MessageRecord {
  kind: MessageKind;
  typeName: string;
  schemaVersion: number;
  /** Safe to retry (the retry middleware only retries idempotent commands). */
  idempotent: boolean;
  /** Deadline for handling, in ms (used by the timeout middleware). */
  timeoutMs: number | undefined;
}

/** Options of a handler decorator. */
export interface HandlerOptions {
  /** Retry policy; for commands and queries only applied when the message or handler is idempotent. */
  retry?: BackoffOptions;
  /** Marks the handler safe to retry even if its message is not marked idempotent. */
  idempotent?: boolean;
  /** Per-handler deadline in ms (overrides the message's). */
  timeoutMs?: number;
  /** Event classes this handler emits, drawn in `app.topology()`. */
  emits?: Constructor[];
  /**
   * Event handlers only: deliver the event through the application's message bus
   * (`MessagingModule`) instead of in-process, to one consumer group per handler (`Class.method`,
   * or `group`) shared by every instance of the service. @default false
   */
  distributed?: boolean | { group?: string };
}

/** Recorded by `@CommandHandler`, `@QueryHandler` and `@EventHandler`. */
export interface HandlerRecord {
  kind: MessageKind;
  message: Constructor;
  /** The method that handles the message (`execute` / `handle` for class-level decorators). */
  method: string | symbol;
  /** True when the decorator was placed on the class rather than on a method. */
  classLevel: boolean;
  options: HandlerOptions;
}

/** A provider definition in a module. */
export type Provider<T = unknown> =
  | Constructor<T>
  | { provide: InjectionToken<T>; useClass: Constructor<T>; scope?: Scope }
  | { provide: InjectionToken<T>; useValue: T }
  | {
      provide: InjectionToken<T>;
      useFactory: (...deps: never[]) => T;
      inject?: InjectionToken[];
      scope?: Scope;
    }
  | { provide: InjectionToken<T>; useExisting: InjectionToken<T> };

/** Options of `@Module`. */
export interface ModuleOptions {
  /** Modules whose exports this module may inject. */
  imports?: Constructor[];
  /** Services, repositories, configuration… */
  providers?: Provider[];
  /** Classes carrying handler decorators; they may inject like providers. */
  handlers?: Constructor[];
  /** Tokens (or imported modules, re-exported) visible to importers. */
  exports?: (InjectionToken | Constructor)[];
  /** When true, the exports are visible to every module without importing. */
  global?: boolean;
}

/** Recorded by `@Module`. */
export type ModuleRecord = Required<Omit<ModuleOptions, 'global'>> & { global: boolean };

/** Recorded by `@Injectable`. */
export interface InjectableRecord {
  scope: Scope;
}

/** Recorded by `@Inject` (one per decorated constructor parameter). */
export interface InjectRecord {
  index: number;
  token: InjectionToken;
}
