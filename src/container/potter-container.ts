import {
  Lifecycle,
  container as globalContainer,
  injectable,
  instanceCachingFactory,
  instancePerContainerCachingFactory,
  type DependencyContainer,
} from 'tsyringe';
import {
  ConfigurationError,
  MessageContext,
  ProviderNotFoundError,
  currentMessageContext,
  describeError,
  isPotterError,
  type BootstrapProblem,
  type Constructor,
} from '../core';
import { toTsyringeToken, type InjectionToken, type Provider } from '../metadata';
import { defineProvider, tokenKey, tokenName, type ProviderDefinition } from './provider-definition';

type TsyringeToken = ReturnType<typeof toTsyringeToken>;

/**
 * Potter's dependency-injection container, on top of tsyringe: resolves providers with their
 * scopes, creates per-message scopes, and makes child containers with overrides for tests.
 */
export class PotterContainer {
  readonly #container: DependencyContainer;
  readonly #definitions: Map<unknown, ProviderDefinition>;

  /** @internal */
  constructor(container: DependencyContainer, definitions: Map<unknown, ProviderDefinition>) {
    this.#container = container;
    this.#definitions = definitions;
  }

  /** Creates a root container for the given provider definitions. @internal */
  static create(
    definitions: Map<unknown, ProviderDefinition>,
    values: [InjectionToken, unknown][],
  ): PotterContainer {
    const root = globalContainer.createChildContainer();
    for (const [token, value] of values) root.register(toTsyringeToken(token), { useValue: value });
    root.register(MessageContext, {
      useFactory: () => {
        const context = currentMessageContext();
        if (!context)
          throw new ProviderNotFoundError('MessageContext', {
            details: { reason: 'no message is being handled' },
          });
        return context;
      },
    });
    for (const definition of definitions.values()) register(root, definition);
    return new PotterContainer(root, definitions);
  }

  /** Resolves a token; throws `ProviderNotFoundError` naming it when nothing provides it. */
  resolve<T>(token: InjectionToken<T>): T {
    const key = toTsyringeToken(token);
    if (!this.#container.isRegistered(key, true)) throw new ProviderNotFoundError(tokenName(token));
    try {
      return this.#container.resolve(key) as T;
    } catch (error) {
      // A provider's own error (a factory refusing a bad configuration) is the user's answer.
      if (error instanceof ProviderNotFoundError || isPotterError(error)) throw error;
      throw new ProviderNotFoundError(tokenName(token), {
        cause: error,
        details: { reason: describeError(error) },
      });
    }
  }

  /** True when something provides `token`. */
  has(token: InjectionToken): boolean {
    return this.#container.isRegistered(toTsyringeToken(token), true);
  }

  /**
   * A child container in which `overrides` replace providers. Singletons that depend, directly or
   * not, on an overridden token are rebuilt in the child; every other singleton is shared with the
   * parent, which is never affected.
   */
  createChild(overrides: Provider[] = []): PotterContainer {
    const child = this.#container.createChildContainer();
    const definitions = new Map(this.#definitions);
    const problems: BootstrapProblem[] = [];
    const changed = new Set<unknown>();
    for (const override of overrides) {
      const token = typeof override === 'function' ? override : override.provide;
      const existing = definitions.get(tokenKey(token));
      const definition = defineProvider(
        override,
        existing?.module ?? (Object as unknown as Constructor),
        problems,
      );
      if (!definition) continue;
      definitions.set(tokenKey(token), definition);
      changed.add(tokenKey(token));
    }
    if (problems.length > 0) {
      throw new ConfigurationError(`Invalid override: ${problems.map((p) => p.message).join('; ')}`, {
        problems,
      });
    }
    // Everything that (transitively) depends on an overridden token must be rebuilt in the child.
    let grew = true;
    while (grew) {
      grew = false;
      for (const [key, definition] of definitions) {
        if (changed.has(key)) continue;
        if (definition.deps.some((dep) => changed.has(tokenKey(dep)))) {
          changed.add(key);
          grew = true;
        }
      }
    }
    for (const key of changed) register(child, definitions.get(key)!);
    return new PotterContainer(child, definitions);
  }

  /** A scope for one message: per-message providers are created fresh and see `context`. @internal */
  createMessageScope(context: MessageContext): DependencyContainer {
    const scope = this.#container.createChildContainer();
    scope.register(MessageContext, { useValue: context });
    return scope;
  }

  /** The underlying tsyringe container (escape hatch). */
  get tsyringe(): DependencyContainer {
    return this.#container;
  }
}

function register(container: DependencyContainer, definition: ProviderDefinition): void {
  const token: TsyringeToken = toTsyringeToken(definition.token);
  switch (definition.kind) {
    case 'value':
      container.register(token, { useValue: definition.useValue });
      return;
    case 'existing':
      container.register(token, { useToken: toTsyringeToken(definition.useExisting!) });
      return;
    case 'factory': {
      const deps = definition.deps.map(toTsyringeToken);
      const factory = definition.useFactory as (...args: unknown[]) => unknown;
      const build = (c: DependencyContainer): unknown => factory(...deps.map((d) => c.resolve(d)));
      const useFactory =
        definition.scope === 'singleton'
          ? instanceCachingFactory(build)
          : definition.scope === 'message'
            ? instancePerContainerCachingFactory(build)
            : build;
      container.register(token, { useFactory });
      return;
    }
    case 'class': {
      const target = definition.useClass!;
      // Let tsyringe learn the constructor's parameter types (Potter already validated them).
      if (target.length > 0 || Reflect.getMetadata('design:paramtypes', target) !== undefined) {
        injectable()(target as Constructor<never>);
      }
      const lifecycle =
        definition.scope === 'singleton'
          ? Lifecycle.Singleton
          : definition.scope === 'message'
            ? Lifecycle.ContainerScoped
            : Lifecycle.Transient;
      // Singletons are instantiated eagerly at bootstrap, so they are always built from the root.
      container.register(token, { useClass: target as Constructor<never> }, { lifecycle });
      return;
    }
  }
}
