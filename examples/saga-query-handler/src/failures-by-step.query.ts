import { Inject, ListSagas, Query, QueryBus, QueryHandler, TypedQuery, type SagaStatus } from 'potter';

/** Sagas that failed at one step, as {@link GetFailuresByStep} groups them. */
export interface StepFailures {
  sagaName: string;
  /** The step whose error made the saga fail. */
  step: string;
  /** The sagas, oldest first. */
  sagaIds: string[];
  /** The latest reason (error name and message). */
  lastReason: string;
}

/** The statuses of a saga that failed (compensated or not, resolved by an operator or not). */
const FAILED: readonly SagaStatus[] = ['failed', 'compensated', 'compensation_failed', 'resolved'];

/**
 * The application's own query on the saga read model: which steps make sagas fail, and how often.
 * `queryBus.execute(new GetFailuresByStep({ startedAfter }))`.
 */
@Query('example.GetFailuresByStep')
export class GetFailuresByStep extends TypedQuery<StepFailures[]> {
  constructor(readonly options: { startedAfter?: Date | number } = {}) {
    super();
  }
}

/**
 * Answers {@link GetFailuresByStep} by building on Potter's saga queries: it pages through
 * `ListSagas` (failed statuses, oldest first) on the QueryBus and groups the sagas by the step of
 * their failure reason (`SagaView.error.step`). Registered like any handler, in the app's module.
 */
@QueryHandler(GetFailuresByStep)
export class GetFailuresByStepHandler {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  async execute(query: GetFailuresByStep): Promise<StepFailures[]> {
    const groups = new Map<string, StepFailures>();
    let cursor: string | undefined;
    do {
      const page = await this.queries.execute(
        new ListSagas({
          status: FAILED,
          direction: 'asc',
          limit: 100,
          ...(query.options.startedAfter !== undefined ? { startedAfter: query.options.startedAfter } : {}),
          ...(cursor !== undefined ? { cursor } : {}),
        }),
      );
      for (const view of page.items) {
        const step = view.error?.step ?? '(no step)';
        const key = `${view.sagaName}/${step}`;
        const group = groups.get(key) ?? { sagaName: view.sagaName, step, sagaIds: [], lastReason: '' };
        group.sagaIds.push(view.sagaId);
        if (view.error !== undefined) group.lastReason = `${view.error.name}: ${view.error.message}`;
        groups.set(key, group);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return [...groups.values()].sort(
      (a, b) => b.sagaIds.length - a.sagaIds.length || a.step.localeCompare(b.step),
    );
  }
}
