import type { BootstrapProblem, Constructor } from '../core';
import { nameOf } from '../core';
import {
  PROJECTION,
  isToken,
  metadataRegistry,
  type InjectionToken,
  type Provider,
  type Scope,
} from '../metadata';

/** A provider normalised from a module's `providers` or `handlers`. @internal */
export interface ProviderDefinition {
  token: InjectionToken;
  module: Constructor;
  kind: 'class' | 'value' | 'factory' | 'existing';
  useClass?: Constructor;
  useValue?: unknown;
  useFactory?: (...deps: never[]) => unknown;
  useExisting?: InjectionToken;
  scope: Scope;
  /** Tokens this provider needs, in constructor/factory parameter order. */
  deps: InjectionToken[];
  /** True when the class carries handler decorators. */
  handler: boolean;
}

/** The identity of a token for maps and comparisons. @internal */
export function tokenKey(token: InjectionToken): unknown {
  return isToken(token) ? token.symbol : token;
}

/** A readable name for a token. */
export function tokenName(token: InjectionToken): string {
  if (isToken(token)) return token.description;
  return nameOf(token);
}

const UNINJECTABLE = new Set<unknown>([
  Object,
  String,
  Number,
  Boolean,
  Array,
  Function,
  Symbol,
  BigInt,
  Promise,
  undefined,
]);

/** Reads the constructor dependencies of a class, reporting what cannot be injected. @internal */
export function classDependencies(target: Constructor, problems: BootstrapProblem[]): InjectionToken[] {
  const paramTypes = Reflect.getMetadata('design:paramtypes', target) as unknown[] | undefined;
  const injections = metadataRegistry.getInjections(target);
  const count = Math.max(paramTypes?.length ?? 0, target.length, ...[...injections.keys()].map((i) => i + 1));
  if (count > 0 && paramTypes === undefined && injections.size < count) {
    problems.push({
      code: 'NOT_INJECTABLE',
      message: `${target.name} has constructor parameters but no decorator, so their types are unknown: add @Injectable().`,
      details: { provider: target.name },
    });
    return [];
  }
  const deps: InjectionToken[] = [];
  for (let index = 0; index < count; index++) {
    const injected = injections.get(index)?.token;
    const type = injected ?? paramTypes?.[index];
    if (injected === undefined && UNINJECTABLE.has(type)) {
      problems.push({
        code: 'UNRESOLVABLE_PARAMETER',
        message: `Parameter #${index} of ${target.name} has no injectable type: a class imported with "import type", an interface, a primitive or a circular import? Import the class as a value, or use @Inject(token).`,
        details: { provider: target.name, index },
      });
      continue;
    }
    deps.push(type as InjectionToken);
  }
  return deps;
}

/** Normalises one `providers` entry. @internal */
export function defineProvider(
  provider: Provider,
  module: Constructor,
  problems: BootstrapProblem[],
): ProviderDefinition | undefined {
  if (typeof provider === 'function') {
    return defineClass(provider, provider as Constructor, module, undefined, problems);
  }
  if (provider === null || typeof provider !== 'object' || !('provide' in provider)) {
    problems.push({
      code: 'INVALID_PROVIDER',
      message: `${module.name} lists a provider that is neither a class nor { provide, use… }: ${String(provider)}.`,
      details: { module: module.name },
    });
    return undefined;
  }
  const token = provider.provide;
  if ('useClass' in provider)
    return defineClass(token, provider.useClass as Constructor, module, provider.scope, problems);
  if ('useValue' in provider) {
    return {
      token,
      module,
      kind: 'value',
      useValue: provider.useValue,
      scope: 'singleton',
      deps: [],
      handler: false,
    };
  }
  if ('useFactory' in provider) {
    return {
      token,
      module,
      kind: 'factory',
      useFactory: provider.useFactory,
      scope: provider.scope ?? 'singleton',
      deps: provider.inject ?? [],
      handler: false,
    };
  }
  if ('useExisting' in provider) {
    return {
      token,
      module,
      kind: 'existing',
      useExisting: provider.useExisting,
      scope: 'transient',
      deps: [provider.useExisting],
      handler: false,
    };
  }
  problems.push({
    code: 'INVALID_PROVIDER',
    message: `Provider ${tokenName(token)} in ${module.name} needs useClass, useValue, useFactory or useExisting.`,
    details: { module: module.name, token: tokenName(token) },
  });
  return undefined;
}

function defineClass(
  token: InjectionToken,
  target: Constructor,
  module: Constructor,
  scope: Scope | undefined,
  problems: BootstrapProblem[],
): ProviderDefinition {
  return {
    token,
    module,
    kind: 'class',
    useClass: target,
    scope: scope ?? metadataRegistry.getInjectable(target)?.scope ?? 'singleton',
    deps: classDependencies(target, problems),
    // A projection's @EventHandler methods are called by the projection engine, not the event bus.
    handler: metadataRegistry.getHandlers(target).length > 0 && !metadataRegistry.get(PROJECTION, target),
  };
}
