import { TypedQuery } from '../../core/messages';
import { QueryHandler } from '../../metadata/handler.decorators';
import { Query } from '../../metadata/message.decorators';
import { Inject } from '../../metadata/module.decorators';
import { createToken } from '../../metadata/records';
import type { SagaStatus } from '../types';
import type {
  ListSagasQuery,
  SagaFilter,
  SagaHistoryEntry,
  SagaHistoryQuery,
  SagaPage,
  SagaStatusCounts,
  SagaTimeBound,
  SagaView,
  SagaViewStore,
} from './saga-view';

/** Injects the saga read model ({@link SagaViewStore}) that `SagaModule` keeps when monitoring is on. */
export const SAGA_VIEWS = createToken<SagaViewStore>('potter:SagaViews');

/** `queryBus.execute(new GetSaga(id))`: the saga's view, or `undefined` when the read model has none. */
@Query('potter.GetSaga')
export class GetSaga extends TypedQuery<SagaView | undefined> {
  constructor(readonly sagaId: string) {
    super();
  }
}

/**
 * `queryBus.execute(new ListSagas({ status: 'compensation_failed', limit: 20 }))`: one page of
 * sagas, filtered by type (`sagaName`), status, correlation id, business key and time ranges,
 * sorted by start or last update, with a cursor for the next page.
 */
@Query('potter.ListSagas')
export class ListSagas extends TypedQuery<SagaPage> implements ListSagasQuery {
  readonly sagaName?: string | readonly string[];
  readonly status?: SagaStatus | readonly SagaStatus[];
  readonly correlationId?: string;
  readonly businessKey?: string;
  readonly failedStep?: string;
  readonly startedAfter?: SagaTimeBound;
  readonly startedBefore?: SagaTimeBound;
  readonly updatedAfter?: SagaTimeBound;
  readonly updatedBefore?: SagaTimeBound;
  readonly sortBy?: 'startedAt' | 'updatedAt';
  readonly direction?: 'asc' | 'desc';
  readonly limit?: number;
  readonly cursor?: string;

  constructor(query: ListSagasQuery = {}) {
    super();
    Object.assign(this, query);
  }
}

/** `queryBus.execute(new GetSagaHistory(id))`: the saga's events, oldest first (step timings included). */
@Query('potter.GetSagaHistory')
export class GetSagaHistory extends TypedQuery<SagaHistoryEntry[]> implements SagaHistoryQuery {
  readonly after?: number;
  readonly limit?: number;

  constructor(
    readonly sagaId: string,
    query: SagaHistoryQuery = {},
  ) {
    super();
    Object.assign(this, query);
  }
}

/** `queryBus.execute(new CountSagasByStatus({ sagaName: 'order' }))`: how many sagas are in each status. */
@Query('potter.CountSagasByStatus')
export class CountSagasByStatus extends TypedQuery<SagaStatusCounts> implements SagaFilter {
  readonly sagaName?: string | readonly string[];
  readonly correlationId?: string;
  readonly businessKey?: string;
  readonly failedStep?: string;
  readonly startedAfter?: SagaTimeBound;
  readonly startedBefore?: SagaTimeBound;
  readonly updatedAfter?: SagaTimeBound;
  readonly updatedBefore?: SagaTimeBound;

  constructor(filter: SagaFilter = {}) {
    super();
    Object.assign(this, filter);
  }
}

/**
 * `queryBus.execute(new CountSagasByType())`: the counts by status for each saga type (definition
 * name) with sagas matching the filter, e.g. `{ order: { running: 3, completed: 120, … }, … }`.
 */
@Query('potter.CountSagasByType')
export class CountSagasByType
  extends TypedQuery<Readonly<Record<string, SagaStatusCounts>>>
  implements SagaFilter
{
  readonly sagaName?: string | readonly string[];
  readonly correlationId?: string;
  readonly businessKey?: string;
  readonly failedStep?: string;
  readonly startedAfter?: SagaTimeBound;
  readonly startedBefore?: SagaTimeBound;
  readonly updatedAfter?: SagaTimeBound;
  readonly updatedBefore?: SagaTimeBound;

  constructor(filter: SagaFilter = {}) {
    super();
    Object.assign(this, filter);
  }
}

/** Copies the query's own fields (a class instance) into a plain object. */
function fieldsOf<T extends object>(query: T): T {
  return { ...query };
}

/** Answers {@link GetSaga} from the read model. @internal */
@QueryHandler(GetSaga)
export class GetSagaHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  execute(query: GetSaga): Promise<SagaView | undefined> {
    return this.views.get(query.sagaId);
  }
}

/** Answers {@link ListSagas} from the read model. @internal */
@QueryHandler(ListSagas)
export class ListSagasHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  execute(query: ListSagas): Promise<SagaPage> {
    return this.views.list(fieldsOf(query));
  }
}

/** Answers {@link GetSagaHistory} from the read model. @internal */
@QueryHandler(GetSagaHistory)
export class GetSagaHistoryHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  execute(query: GetSagaHistory): Promise<SagaHistoryEntry[]> {
    const { sagaId, ...options } = fieldsOf(query);
    return this.views.history(sagaId, options);
  }
}

/** Answers {@link CountSagasByStatus} from the read model. @internal */
@QueryHandler(CountSagasByStatus)
export class CountSagasByStatusHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  execute(query: CountSagasByStatus): Promise<SagaStatusCounts> {
    return this.views.counts(fieldsOf(query));
  }
}

/** Answers {@link CountSagasByType} from the read model. @internal */
@QueryHandler(CountSagasByType)
export class CountSagasByTypeHandler {
  constructor(@Inject(SAGA_VIEWS) private readonly views: SagaViewStore) {}
  execute(query: CountSagasByType): Promise<Readonly<Record<string, SagaStatusCounts>>> {
    return this.views.countsByType(fieldsOf(query));
  }
}

/** The handlers `SagaModule` registers when monitoring is on. @internal */
export const SAGA_QUERY_HANDLERS = [
  GetSagaHandler,
  ListSagasHandler,
  GetSagaHistoryHandler,
  CountSagasByStatusHandler,
  CountSagasByTypeHandler,
] as const;
