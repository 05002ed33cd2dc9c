import { inject as tsyringeInject } from 'tsyringe';
import { INJECT, INJECTABLE, MODULE } from './keys';
import { metadataRegistry } from './metadata-registry';
import { isToken, type InjectionToken, type ModuleOptions, type Scope } from './records';

/** Declares a module: its imports, providers, handlers and exports. */
export function Module(options: ModuleOptions = {}): ClassDecorator {
  return (target) => {
    metadataRegistry.set(MODULE, target, {
      imports: options.imports ?? [],
      providers: options.providers ?? [],
      handlers: options.handlers ?? [],
      exports: options.exports ?? [],
      global: options.global ?? false,
    });
  };
}

/** Options of `@Injectable`. */
export interface InjectableOptions {
  /** @default 'singleton' */
  scope?: Scope;
}

/**
 * Marks a class as injectable (its constructor parameter types are then known) and sets its scope:
 * `singleton` (default), `transient`, or `message` (one instance per handled message, which can
 * inject the current `MessageContext`).
 */
export function Injectable(options: InjectableOptions = {}): ClassDecorator {
  return (target) => {
    metadataRegistry.add(INJECTABLE, target, { scope: options.scope ?? 'singleton' });
  };
}

/** Injects `token` into a constructor parameter (for tokens that are not classes). */
export function Inject(token: InjectionToken): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey !== undefined) return;
    metadataRegistry.add(INJECT, target as Function, { index, token });
    tsyringeInject(toTsyringeToken(token))(target, propertyKey, index);
  };
}

/** Maps a Potter token to the token tsyringe uses. @internal */
export function toTsyringeToken(
  token: InjectionToken,
): string | symbol | (new (...args: never[]) => unknown) {
  if (isToken(token)) return token.symbol;
  return token as string | symbol | (new (...args: never[]) => unknown);
}
