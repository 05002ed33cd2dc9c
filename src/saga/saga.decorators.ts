import type { BackoffOptions } from '../core/backoff';
import { ConfigurationError } from '../core/errors';
import { createMetadataKey } from '../metadata/keys';
import { metadataRegistry } from '../metadata/metadata-registry';
import { Injectable } from '../metadata/module.decorators';
import { SAGA } from './saga-metadata';
import { defineSaga, type SagaBuilder, type SagaDefinition } from './define-saga';
import type { NamedStep, SagaOptions, StepArgs, StepOptions } from './types';

/** Options of {@link SagaStep}: the policies of {@link StepOptions}, plus grouping and a condition. */
export interface SagaStepOptions {
  /** Retry policy of the step. Default: one attempt. */
  readonly retry?: BackoffOptions;
  /** Which errors are retried. Default: every error. */
  readonly retryable?: (error: unknown) => boolean;
  /** Timeout of one attempt, in ms. */
  readonly timeoutMs?: number;
  /** Retry policy of the step's `@Compensate` method. Default: the saga's. */
  readonly compensationRetry?: BackoffOptions;
  /** Errors after which the step's effect is uncertain, so it is compensated (see `StepOptions`). */
  readonly compensateOnFailure?: (error: unknown) => boolean;
  /**
   * Runs the step in the named parallel group: consecutive steps (in declaration order) with the
   * same `parallel` name form one group.
   */
  readonly parallel?: string;
  /** Runs the step only when this is true of the context when its turn comes (else it is skipped). */
  readonly when?: (context: never) => boolean;
}

/** Recorded by {@link SagaStep}, in declaration order. */
interface SagaStepRecord {
  readonly method: string | symbol;
  readonly name: string;
  readonly options: SagaStepOptions;
}

/** Recorded by {@link Compensate}. */
interface CompensateRecord {
  readonly method: string | symbol;
  readonly step: string;
}

const SAGA_STEP = createMetadataKey<SagaStepRecord>('saga:step');
const SAGA_COMPENSATE = createMetadataKey<CompensateRecord>('saga:compensate');

/**
 * Declares a saga class: its `@SagaStep` methods are the steps, in declaration order, and its
 * `@Compensate('step')` methods undo them. The class is a provider (it may inject services such as
 * repositories or clients); `SagaModule.forRoot({ sagas: [OrderSaga] })` registers it and
 * `orchestrator.start(OrderSaga, input)` starts one. Equivalent to a {@link defineSaga} definition.
 */
export function Saga(name: string, options: SagaOptions = {}): ClassDecorator {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ConfigurationError('@Saga needs a non-empty name.', { name });
  }
  return (target) => {
    metadataRegistry.set(SAGA, target, { name, options });
    Injectable()(target);
  };
}

/**
 * Declares a step of a `@Saga` class; the method receives the {@link StepArgs}. The step name
 * defaults to the method name.
 */
export function SagaStep(name?: string, options: SagaStepOptions = {}): MethodDecorator {
  return (target, method) => {
    metadataRegistry.add(SAGA_STEP, target.constructor, {
      method,
      name: name ?? String(method),
      options,
    });
  };
}

/** Declares the compensation of step `step` of a `@Saga` class; the method receives the {@link StepArgs}. */
export function Compensate(step: string): MethodDecorator {
  return (target, method) => {
    metadataRegistry.add(SAGA_COMPENSATE, target.constructor, { method, step });
  };
}

type StepMethod = (args: StepArgs<unknown>) => unknown;

/**
 * Builds the {@link SagaDefinition} of a `@Saga` class instance (steps bound to it).
 *
 * @throws ConfigurationError listing every problem: not a `@Saga` class, no step, duplicate step
 *   names, a `@Compensate` for an unknown step or twice for one step, a parallel group split by
 *   another step, a condition on a parallel step, and every problem {@link SagaBuilder.build} finds.
 */
export function sagaDefinitionOf<Ctx = unknown>(instance: object): SagaDefinition<Ctx> {
  const sagaClass = instance.constructor;
  const record = metadataRegistry.get(SAGA, sagaClass);
  if (record === undefined) {
    throw new ConfigurationError(`${sagaClass.name} is not a saga: decorate it with @Saga('name').`, {
      class: sagaClass.name,
    });
  }
  const steps = metadataRegistry.list(SAGA_STEP, sagaClass);
  const compensations = metadataRegistry.list(SAGA_COMPENSATE, sagaClass);
  const problems: string[] = [];
  const stepNames = new Set(steps.map((s) => s.name));
  const compensateOf = new Map<string, StepMethod>();
  const bound = (method: string | symbol): StepMethod => {
    const fn = (instance as Record<string | symbol, unknown>)[method];
    if (typeof fn !== 'function') {
      problems.push(`${String(method)} is not a method`);
      return () => undefined;
    }
    return (fn as StepMethod).bind(instance);
  };
  for (const { method, step } of compensations) {
    if (!stepNames.has(step)) {
      problems.push(
        `@Compensate('${step}') on ${String(method)} names no step (steps: ${[...stepNames].join(', ') || 'none'})`,
      );
    } else if (compensateOf.has(step)) {
      problems.push(`step "${step}" has more than one @Compensate method`);
    } else {
      compensateOf.set(step, bound(method));
    }
  }
  const optionsOf = (entry: SagaStepRecord): StepOptions<Ctx> => {
    const { retry, retryable, timeoutMs, compensationRetry, compensateOnFailure } = entry.options;
    const compensate = compensateOf.get(entry.name);
    return {
      execute: bound(entry.method) as (args: StepArgs<Ctx>) => unknown,
      ...(compensate === undefined ? {} : { compensate: compensate as (args: StepArgs<Ctx>) => unknown }),
      ...(retry === undefined ? {} : { retry }),
      ...(retryable === undefined ? {} : { retryable }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(compensationRetry === undefined ? {} : { compensationRetry }),
      ...(compensateOnFailure === undefined ? {} : { compensateOnFailure }),
    };
  };
  let builder: SagaBuilder<Ctx> = defineSaga<Ctx>(record.name, record.options);
  const closedGroups = new Set<string>();
  for (let i = 0; i < steps.length; i++) {
    const entry = steps[i]!;
    const group = entry.options.parallel;
    if (group === undefined) {
      const when = entry.options.when as ((context: Readonly<Ctx>) => boolean) | undefined;
      builder =
        when === undefined
          ? builder.step(entry.name, optionsOf(entry))
          : builder.when(when, entry.name, optionsOf(entry));
      continue;
    }
    if (closedGroups.has(group)) {
      problems.push(`parallel group "${group}" is split: its steps must be declared one after the other`);
    }
    const branches: NamedStep<Ctx>[] = [];
    for (; i < steps.length && steps[i]!.options.parallel === group; i++) {
      const branch = steps[i]!;
      if (branch.options.when !== undefined) {
        problems.push(`step "${branch.name}" of parallel group "${group}" cannot have a condition`);
      }
      branches.push({ name: branch.name, ...optionsOf(branch) });
    }
    i--;
    closedGroups.add(group);
    builder = builder.parallel(group, branches);
  }
  if (problems.length > 0) {
    throw new ConfigurationError(
      `Saga ${record.name} (${sagaClass.name}) has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { saga: record.name, class: sagaClass.name, problems },
    );
  }
  return builder.build();
}
