import { resolveBackoff, type BackoffOptions } from '../core/backoff';
import { ConfigurationError } from '../core/errors';
import type { NamedStep, SagaNode, SagaOptions, StepOptions } from './types';

/** A validated, immutable saga definition (from {@link defineSaga}). */
export interface SagaDefinition<Ctx> {
  readonly name: string;
  readonly nodes: readonly SagaNode<Ctx>[];
  readonly options: SagaOptions;
  /** Every step name (parallel branches included), in definition order. */
  readonly stepNames: readonly string[];
}

/** Builds a {@link SagaDefinition}; each call returns a new builder (builders are immutable). */
export class SagaBuilder<Ctx> {
  readonly #name: string;
  readonly #options: SagaOptions;
  readonly #nodes: readonly SagaNode<Ctx>[];

  constructor(name: string, options: SagaOptions = {}, nodes: readonly SagaNode<Ctx>[] = []) {
    this.#name = name;
    this.#options = options;
    this.#nodes = nodes;
  }

  /** A sequential step. */
  step(name: string, options: StepOptions<Ctx>): SagaBuilder<Ctx> {
    return this.#add({ kind: 'step', name, options });
  }

  /** Steps run concurrently: all succeed, or the ones that succeeded are compensated. */
  parallel(name: string, steps: readonly NamedStep<Ctx>[]): SagaBuilder<Ctx> {
    return this.#add({ kind: 'parallel', name, steps: [...steps] });
  }

  /** A step that runs only when `predicate(context)` is true when its turn comes (else skipped). */
  when(
    predicate: (context: Readonly<Ctx>) => boolean,
    name: string,
    options: StepOptions<Ctx>,
  ): SagaBuilder<Ctx> {
    return this.#add({ kind: 'step', name, options, when: predicate });
  }

  /** The saga-wide timeout, in ms. */
  timeout(ms: number): SagaBuilder<Ctx> {
    return new SagaBuilder(this.#name, { ...this.#options, timeoutMs: ms }, this.#nodes);
  }

  /** The default retry policy of compensations. */
  compensationRetry(policy: BackoffOptions): SagaBuilder<Ctx> {
    return new SagaBuilder(this.#name, { ...this.#options, compensationRetry: policy }, this.#nodes);
  }

  /**
   * Validates and freezes the definition.
   *
   * @throws ConfigurationError whose `details.problems` lists every problem: empty name, no step,
   *   duplicate names (steps, branches and groups share one namespace), an empty parallel group,
   *   a missing `execute`, a non-function `compensate`/`retryable`/predicate, an invalid retry
   *   policy or timeout.
   */
  build(): SagaDefinition<Ctx> {
    const problems = sagaProblems(this.#name, this.#options, this.#nodes);
    if (problems.length > 0) {
      throw new ConfigurationError(
        `Saga ${this.#name || '<no name>'} has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        { saga: this.#name, problems },
      );
    }
    const stepNames = this.#nodes.flatMap((node) =>
      node.kind === 'step' ? [node.name] : node.steps.map((s) => s.name),
    );
    return Object.freeze({
      name: this.#name,
      nodes: Object.freeze([...this.#nodes]),
      options: Object.freeze({ ...this.#options }),
      stepNames: Object.freeze(stepNames),
    });
  }

  #add(node: SagaNode<Ctx>): SagaBuilder<Ctx> {
    return new SagaBuilder(this.#name, this.#options, [...this.#nodes, node]);
  }
}

/** Starts a saga definition: `defineSaga<OrderCtx>('order').step('reserve', { execute, compensate }).build()`. */
export function defineSaga<Ctx>(name: string, options: SagaOptions = {}): SagaBuilder<Ctx> {
  return new SagaBuilder<Ctx>(name, options);
}

function policyProblem(where: string, policy: BackoffOptions | undefined): string | undefined {
  if (policy === undefined) return undefined;
  try {
    resolveBackoff(policy);
    return undefined;
  } catch (error) {
    return `${where}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function timeoutProblem(where: string, ms: number | undefined): string | undefined {
  if (ms === undefined) return undefined;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0
    ? undefined
    : `${where}: timeoutMs must be a positive number (got ${String(ms)})`;
}

function stepProblems<Ctx>(label: string, options: StepOptions<Ctx> | undefined): (string | undefined)[] {
  if (typeof options !== 'object' || options === null) return [`${label}: options are missing`];
  return [
    typeof options.execute === 'function' ? undefined : `${label}: execute must be a function`,
    options.compensate === undefined || typeof options.compensate === 'function'
      ? undefined
      : `${label}: compensate must be a function`,
    options.retryable === undefined || typeof options.retryable === 'function'
      ? undefined
      : `${label}: retryable must be a function`,
    options.compensateOnFailure === undefined || typeof options.compensateOnFailure === 'function'
      ? undefined
      : `${label}: compensateOnFailure must be a function`,
    policyProblem(`${label} retry`, options.retry),
    policyProblem(`${label} compensationRetry`, options.compensationRetry),
    timeoutProblem(label, options.timeoutMs),
  ];
}

function sagaProblems<Ctx>(name: string, options: SagaOptions, nodes: readonly SagaNode<Ctx>[]): string[] {
  const problems: (string | undefined)[] = [];
  if (typeof name !== 'string' || name.trim() === '')
    problems.push('the saga name must be a non-empty string');
  if (nodes.length === 0) problems.push('the saga has no step');
  problems.push(timeoutProblem('saga', options.timeoutMs));
  problems.push(policyProblem('saga compensationRetry', options.compensationRetry));
  const seen = new Set<string>();
  const claim = (stepName: unknown, label: string): void => {
    if (typeof stepName !== 'string' || stepName.trim() === '') {
      problems.push(`${label}: the name must be a non-empty string`);
    } else if (seen.has(stepName)) {
      problems.push(`duplicate step name "${stepName}"`);
    } else {
      seen.add(stepName);
    }
  };
  for (const node of nodes) {
    if (node.kind === 'step') {
      claim(node.name, 'a step');
      problems.push(...stepProblems(`step "${node.name}"`, node.options));
      if (node.when !== undefined && typeof node.when !== 'function') {
        problems.push(`step "${node.name}": the condition must be a function`);
      }
    } else {
      claim(node.name, 'a parallel group');
      if (!Array.isArray(node.steps) || node.steps.length === 0) {
        problems.push(`parallel group "${node.name}" has no step`);
        continue;
      }
      for (const branch of node.steps) {
        claim(branch?.name, `a step of parallel group "${node.name}"`);
        problems.push(...stepProblems(`step "${String(branch?.name)}" (in "${node.name}")`, branch));
      }
    }
  }
  return problems.filter((p): p is string => p !== undefined);
}
