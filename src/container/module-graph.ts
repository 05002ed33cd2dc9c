import { MessageContext, nameOf, type BootstrapProblem, type Constructor } from '../core';
import {
  PROJECTION,
  metadataRegistry,
  type InjectionToken,
  type ModuleRecord,
  type Provider,
} from '../metadata';
import { defineProvider, tokenKey, tokenName, type ProviderDefinition } from './provider-definition';

/** Everything the scanner learned from the module tree. @internal */
export interface ModuleGraph {
  modules: Constructor[];
  /** Providers by token key (handlers included). */
  providers: Map<unknown, ProviderDefinition>;
  /** Handler classes, in declaration order. */
  handlers: ProviderDefinition[];
  /** Singletons in dependency order (dependencies first). */
  order: ProviderDefinition[];
  problems: BootstrapProblem[];
}

/**
 * Walks the module tree from `root`, normalises providers, applies `overrides`, and checks the
 * graph: every dependency visible from its module, no cycle, no singleton holding a per-message
 * provider. Problems are collected, never thrown one by one. @internal
 */
export function scanModules(
  root: Constructor,
  builtins: InjectionToken[],
  overrides: Provider[] = [],
): ModuleGraph {
  const problems: BootstrapProblem[] = [];
  const modules: Constructor[] = [];
  const records = new Map<Constructor, ModuleRecord>();
  const visit = (module: Constructor, via: string | undefined): void => {
    if (records.has(module)) return;
    const record = typeof module === 'function' ? metadataRegistry.getModule(module) : undefined;
    if (!record) {
      problems.push({
        code: 'MODULE_NOT_DECORATED',
        message: `${nameOf(module)}${via ? ` (imported by ${via})` : ''} is not a module: decorate it with @Module().`,
        details: { module: nameOf(module) },
      });
      return;
    }
    records.set(module, record);
    modules.push(module);
    for (const imported of record.imports) visit(imported, module.name);
  };
  visit(root, undefined);

  const providers = new Map<unknown, ProviderDefinition>();
  const handlers: ProviderDefinition[] = [];
  const add = (definition: ProviderDefinition | undefined): void => {
    if (!definition) return;
    const key = tokenKey(definition.token);
    const existing = providers.get(key);
    if (existing) {
      const same =
        existing.kind === 'class' && definition.kind === 'class' && existing.useClass === definition.useClass;
      if (!same) {
        problems.push({
          code: 'CONFLICTING_PROVIDER',
          message: `${tokenName(definition.token)} is provided by both ${existing.module.name} and ${definition.module.name} with different definitions.`,
          details: {
            token: tokenName(definition.token),
            modules: [existing.module.name, definition.module.name],
          },
        });
      }
      return;
    }
    providers.set(key, definition);
  };
  for (const module of modules) {
    const record = records.get(module)!;
    for (const provider of record.providers) add(defineProvider(provider, module, problems));
    for (const handler of record.handlers) {
      const definition = defineProvider(handler, module, problems);
      if (!definition) continue;
      if (!definition.handler && metadataRegistry.get(PROJECTION, handler)) {
        problems.push({
          code: 'NOT_A_HANDLER',
          message: `${handler.name} is a @Projection listed in ${module.name}.handlers: list it in ProjectionsModule.forRoot({ projections }) instead, so that the projection engine (not the event bus) runs it.`,
          details: { handler: handler.name, module: module.name },
        });
      } else if (!definition.handler) {
        problems.push({
          code: 'NOT_A_HANDLER',
          message: `${handler.name} is listed in ${module.name}.handlers but has no @CommandHandler, @QueryHandler or @EventHandler.`,
          details: { handler: handler.name, module: module.name },
        });
      }
      if (!providers.has(tokenKey(definition.token))) handlers.push(definition);
      add(definition);
    }
    for (const provider of record.providers) {
      const key = tokenKey(typeof provider === 'function' ? provider : provider.provide);
      const definition = providers.get(key);
      if (definition?.handler && definition.module === module && !handlers.includes(definition))
        handlers.push(definition);
    }
  }
  applyOverrides(providers, overrides, root, problems);

  const builtinKeys = new Set(builtins.map(tokenKey));
  const exportsOf = exportResolver(records, providers, problems);
  const globalTokens = new Set<unknown>();
  for (const [module, record] of records)
    if (record.global) for (const key of exportsOf(module)) globalTokens.add(key);

  for (const module of modules) {
    exportsOf(module); // validates the module's exports even when nothing imports it
    const record = records.get(module)!;
    const visible = new Set<unknown>(globalTokens);
    for (const definition of providers.values())
      if (definition.module === module) visible.add(tokenKey(definition.token));
    for (const imported of record.imports) for (const key of exportsOf(imported)) visible.add(key);
    for (const definition of providers.values()) {
      if (definition.module !== module) continue;
      definition.deps.forEach((dep, index) => {
        const key = tokenKey(dep);
        if (builtinKeys.has(key) || visible.has(key)) return;
        const owner = providers.get(key);
        const consumer = tokenName(definition.token);
        const why = owner
          ? `${tokenName(dep)} is provided by ${owner.module.name}, which ${module.name} does not import, or which does not export it`
          : `no module provides ${tokenName(dep)}`;
        problems.push({
          code: 'MISSING_DEPENDENCY',
          message: `${consumer} (in ${module.name}) needs ${tokenName(dep)} (parameter #${index}), but ${why}.`,
          details: { provider: consumer, module: module.name, dependency: tokenName(dep), index },
        });
      });
    }
  }

  const order = dependencyOrder(providers, problems);
  checkScopes(providers, problems);
  return { modules, providers, handlers, order, problems };
}

function applyOverrides(
  providers: Map<unknown, ProviderDefinition>,
  overrides: Provider[],
  root: Constructor,
  problems: BootstrapProblem[],
): void {
  for (const override of overrides) {
    const token = typeof override === 'function' ? override : override.provide;
    const existing = providers.get(tokenKey(token));
    const definition = defineProvider(override, existing?.module ?? root, problems);
    if (!definition) continue;
    // An override keeps the handler role of what it replaces (a handler test double still handles).
    definition.handler = definition.handler || (existing?.handler ?? false);
    providers.set(tokenKey(token), definition);
  }
}

function exportResolver(
  records: Map<Constructor, ModuleRecord>,
  providers: Map<unknown, ProviderDefinition>,
  problems: BootstrapProblem[],
): (module: Constructor) => Set<unknown> {
  const cache = new Map<Constructor, Set<unknown>>();
  const resolve = (module: Constructor, stack: Set<Constructor>): Set<unknown> => {
    const cached = cache.get(module);
    if (cached) return cached;
    const out = new Set<unknown>();
    const record = records.get(module);
    if (!record || stack.has(module)) return out;
    stack.add(module);
    for (const exported of record.exports) {
      const asModule = typeof exported === 'function' ? records.get(exported as Constructor) : undefined;
      if (asModule) {
        for (const key of resolve(exported as Constructor, stack)) out.add(key);
        continue;
      }
      const key = tokenKey(exported);
      const owner = providers.get(key);
      const reexported = record.imports.some((i) => resolve(i, stack).has(key));
      if (owner?.module !== module && !reexported) {
        problems.push({
          code: 'UNKNOWN_EXPORT',
          message: `${module.name} exports ${tokenName(exported)}, which it neither provides nor imports.`,
          details: { module: module.name, token: tokenName(exported) },
        });
        continue;
      }
      out.add(key);
    }
    stack.delete(module);
    cache.set(module, out);
    return out;
  };
  return (module) => resolve(module, new Set());
}

/** Topological order of every provider, dependencies first; reports cycles. */
function dependencyOrder(
  providers: Map<unknown, ProviderDefinition>,
  problems: BootstrapProblem[],
): ProviderDefinition[] {
  const order: ProviderDefinition[] = [];
  const state = new Map<ProviderDefinition, 'visiting' | 'done'>();
  const path: ProviderDefinition[] = [];
  const visit = (definition: ProviderDefinition): void => {
    const s = state.get(definition);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(definition)), definition].map((d) => tokenName(d.token));
      problems.push({
        code: 'DEPENDENCY_CYCLE',
        message: `Providers depend on each other in a cycle: ${cycle.join(' → ')}.`,
        details: { cycle },
      });
      return;
    }
    state.set(definition, 'visiting');
    path.push(definition);
    for (const dep of definition.deps) {
      const target = providers.get(tokenKey(dep));
      if (target) visit(target);
    }
    path.pop();
    state.set(definition, 'done');
    order.push(definition);
  };
  for (const definition of providers.values()) visit(definition);
  return order;
}

/** A singleton cannot hold a per-message provider (or the message context): it would outlive it. */
function checkScopes(providers: Map<unknown, ProviderDefinition>, problems: BootstrapProblem[]): void {
  const perMessage = new Map<ProviderDefinition, boolean>();
  const isPerMessage = (definition: ProviderDefinition, seen: Set<ProviderDefinition>): boolean => {
    const known = perMessage.get(definition);
    if (known !== undefined) return known;
    if (seen.has(definition)) return false;
    seen.add(definition);
    let result = definition.scope === 'message';
    if (!result && definition.scope !== 'singleton') {
      result = definition.deps.some((dep) => {
        if (dep === MessageContext) return true;
        const target = providers.get(tokenKey(dep));
        return target !== undefined && isPerMessage(target, seen);
      });
    }
    perMessage.set(definition, result);
    return result;
  };
  for (const definition of providers.values()) {
    if (definition.scope !== 'singleton') continue;
    definition.deps.forEach((dep) => {
      const target = providers.get(tokenKey(dep));
      const culprit =
        dep === MessageContext
          ? 'MessageContext'
          : target && isPerMessage(target, new Set())
            ? tokenName(dep)
            : undefined;
      if (culprit === undefined) return;
      problems.push({
        code: 'SCOPE_MISMATCH',
        message: `${tokenName(definition.token)} is a singleton but depends on ${culprit}, which lives per message: make it @Injectable({ scope: 'message' }).`,
        details: { provider: tokenName(definition.token), dependency: culprit },
      });
    });
  }
}
