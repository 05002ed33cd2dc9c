import type { BackoffOptions } from '../../core/backoff';
import type { MessageEnvelope } from '../../core/envelope';
import { ConfigurationError, TimeoutError } from '../../core/errors';
import { newId } from '../../core/ids';
import { silentLogger, type Logger } from '../../core/logger';
import {
  createDeadLetter,
  deadLetterEnvelope,
  deadLetterHeaders,
  deadLetterTopic,
} from '../../messaging/dead-letter';
import type { BrokerMessage, MessageBus, TopicSubscription } from '../../messaging/message-bus';
import { systemTimers, type SagaTimers } from '../../saga/timers';
import type { TwoPhaseQueryOutcome } from '../coordinator';
import type { TwoPhaseParticipant } from '../types';
import { TwoPhaseBadRequestError, TwoPhaseRemoteError } from './errors';
import {
  TWOPC_MESSAGE_TYPES,
  TWOPC_OUTCOME_TOPIC,
  TWOPC_REPLY_TOPIC,
  failureOf,
  parseReply,
  parseRequest,
  replyTopicOf,
  twoPhaseEnvelope,
  twoPhaseParticipantTopic,
  type ParsedRequest,
  type TwoPhaseOperation,
  type TwoPhaseReplyBody,
  type TwoPhaseRequestBody,
} from './protocol';

/** Options of {@link TwoPhaseMessageClient}. */
export interface TwoPhaseMessageClientOptions {
  /** The bus the participants (and the outcome service) are reached through. */
  bus: MessageBus;
  /**
   * Where the replies come back. Every client reads it in a consumer group of its own
   * (`replyGroup`), so clients may share it: each ignores the replies to the others' requests.
   * @default 'potter.twopc.replies'
   */
  replyTopic?: string;
  /**
   * This client's consumer group on `replyTopic`; must differ between clients. A stable one per
   * instance avoids leaving a group behind per restart (on Redis and Kafka). @default `twopc-replies-<uuid>`
   */
  replyGroup?: string;
  /** How long a request waits for its reply before failing with `TimeoutError`. @default 10_000 */
  timeoutMs?: number;
  /** The topic of the coordinator's outcome service ({@link serveTwoPhaseOutcomes}). @default 'potter.twopc.outcomes' */
  outcomeTopic?: string;
  /** Timers of the reply timeouts (`ManualTimers` in tests). */
  timers?: SagaTimers;
}

/** Options of one {@link TwoPhaseMessageClient.request}. */
export interface TwoPhaseRequestOptions {
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Stops waiting (rejecting with the signal's reason). */
  signal?: AbortSignal;
}

interface Pending {
  resolve(reply: TwoPhaseReplyBody): void;
  reject(error: unknown): void;
}

/**
 * The requesting side of two-phase commit over a `MessageBus`: publishes requests to participants'
 * (or the outcome service's) topics and correlates the replies that come back on its reply topic by
 * request id (the request envelope's id). One client serves any number of
 * {@link MessageBusParticipant}s; it subscribes to its reply topic on first use (or `start()`).
 */
export class TwoPhaseMessageClient {
  readonly replyTopic: string;
  readonly replyGroup: string;
  readonly outcomeTopic: string;
  /** How long a request waits for its reply by default. */
  readonly timeoutMs: number;
  readonly #bus: MessageBus;
  readonly #timers: SagaTimers;
  readonly #pending = new Map<string, Pending>();
  #subscription: Promise<TopicSubscription> | undefined;
  #closed = false;

  constructor(options: TwoPhaseMessageClientOptions) {
    this.#bus = options.bus;
    this.replyTopic = options.replyTopic ?? TWOPC_REPLY_TOPIC;
    this.replyGroup = options.replyGroup ?? `twopc-replies-${newId()}`;
    this.outcomeTopic = options.outcomeTopic ?? TWOPC_OUTCOME_TOPIC;
    this.timeoutMs = positiveMs('timeoutMs', options.timeoutMs ?? 10_000);
    this.#timers = options.timers ?? systemTimers;
  }

  /** Subscribes to the reply topic (once; `request` calls it). */
  async start(): Promise<void> {
    if (this.#closed) throw new TwoPhaseRemoteError('start', '-', undefined, 'a closed client');
    this.#subscription ??= this.#bus.subscribe(this.replyTopic, this.replyGroup, (m) => this.#onReply(m), {
      fromBeginning: false,
      concurrency: 64,
    });
    try {
      await this.#subscription;
    } catch (error) {
      this.#subscription = undefined;
      throw error;
    }
  }

  /** Requests in flight. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes a request of `type` with `body` (plus this client's reply topic) to `topic`, keyed by
   * the transaction id, and resolves with the correlated reply — a failure reply too (`ok: false`).
   * Rejects with `TimeoutError` when no reply came within the timeout, with the signal's reason
   * when `signal` aborts, and with `TwoPhaseRemoteError` when the client is closed meanwhile.
   */
  async request(
    topic: string,
    type: string,
    body: Omit<TwoPhaseRequestBody, 'replyTopic'>,
    options: TwoPhaseRequestOptions = {},
  ): Promise<TwoPhaseReplyBody> {
    const timeoutMs = positiveMs('timeoutMs', options.timeoutMs ?? this.timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    await this.start();
    signal?.throwIfAborted();
    const envelope = twoPhaseEnvelope<TwoPhaseRequestBody>(type, 'command', {
      ...body,
      replyTopic: this.replyTopic,
    });
    const requestId = envelope.id;
    const reply = new Promise<TwoPhaseReplyBody>((resolve, reject) => {
      const finish = (): void => {
        this.#pending.delete(requestId);
        cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        finish();
        reject(signal?.reason);
      };
      const cancel = this.#timers.schedule(timeoutMs, () => {
        finish();
        reject(new TimeoutError(`${type} of ${body.txId} on ${topic}`, timeoutMs));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(requestId, {
        resolve: (value) => {
          finish();
          resolve(value);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      });
    });
    try {
      await this.#bus.publish(topic, [envelope], { key: body.txId });
    } catch (error) {
      this.#pending.get(requestId)?.reject(error);
    }
    return reply;
  }

  /** A proxy of the participant `name` served on `options.topic` (default `potter.twopc.<name>`). */
  participant(
    name: string,
    options: Omit<MessageBusParticipantOptions, 'client' | 'name'> = {},
  ): MessageBusParticipant {
    return new MessageBusParticipant({ ...options, client: this, name });
  }

  /**
   * Asks the coordinator's outcome service ({@link serveTwoPhaseOutcomes}) for the outcome of
   * `txId`, for an in-doubt participant: `commit`, `abort`, or `pending` (ask again later).
   */
  async outcome(txId: string, options: TwoPhaseRequestOptions = {}): Promise<TwoPhaseQueryOutcome> {
    const reply = await this.request(this.outcomeTopic, TWOPC_MESSAGE_TYPES.outcome, { txId }, options);
    if (!reply.ok) throw new TwoPhaseRemoteError('outcome', txId, reply.error, this.outcomeTopic);
    if (reply.outcome === undefined) {
      throw new TwoPhaseRemoteError(
        'outcome',
        txId,
        { name: 'TwoPhaseBadRequestError', message: 'the reply has no outcome' },
        this.outcomeTopic,
      );
    }
    return reply.outcome;
  }

  /** Stops the reply subscription; requests in flight reject with `TwoPhaseRemoteError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of [...this.#pending]) {
      pending.reject(new TwoPhaseRemoteError('request', id, undefined, this.replyTopic));
    }
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription !== undefined) await (await subscription.catch(() => undefined))?.stop();
  }

  #onReply(message: BrokerMessage): void {
    const reply = parseReply(message.envelope);
    if (reply === undefined) return;
    this.#pending.get(reply.requestId)?.resolve(reply);
  }
}

/** Options of {@link MessageBusParticipant}. */
export interface MessageBusParticipantOptions {
  /** The client that publishes the requests and receives the replies. */
  client: TwoPhaseMessageClient;
  /** The participant's name (as served by {@link serveTwoPhaseParticipant}). */
  name: string;
  /** @default `potter.twopc.<name>` */
  topic?: string;
  /**
   * How long `prepare` waits for the vote; also sent with the request, so that the participant
   * skips a prepare that waited longer than this on the broker (a no the coordinator counted
   * already). Keep it at most the coordinator's `prepareTimeoutMs`. @default the client's `timeoutMs`
   */
  prepareTimeoutMs?: number;
  /**
   * How long `commit` and `rollback` wait for the confirmation (the coordinator re-sends after a
   * failure). @default the client's `timeoutMs`
   */
  callTimeoutMs?: number;
}

/**
 * A participant in another process, reached over a `MessageBus`: each call is a request on the
 * participant's topic, answered (on the client's reply topic) by {@link serveTwoPhaseParticipant}
 * in the participant's process. A failure reply or no reply within the timeout is a failure: a
 * *no* vote for `prepare` (whose `signal` also stops the wait), a re-send for `commit`/`rollback`.
 */
export class MessageBusParticipant implements TwoPhaseParticipant {
  readonly name: string;
  readonly topic: string;
  readonly #client: TwoPhaseMessageClient;
  readonly #prepareTimeoutMs: number;
  readonly #callTimeoutMs: number;

  constructor(options: MessageBusParticipantOptions) {
    if (typeof options.name !== 'string' || options.name === '') {
      throw new ConfigurationError('A two-phase participant needs a non-empty name.', { name: options.name });
    }
    this.name = options.name;
    this.topic = options.topic ?? twoPhaseParticipantTopic(options.name);
    this.#client = options.client;
    this.#prepareTimeoutMs = positiveMs(
      'prepareTimeoutMs',
      options.prepareTimeoutMs ?? this.#client.timeoutMs,
    );
    this.#callTimeoutMs = positiveMs('callTimeoutMs', options.callTimeoutMs ?? this.#client.timeoutMs);
  }

  /** Sends `prepare`; resolves on a yes, rejects on a no, a timeout or when `signal` aborts. */
  async prepare(txId: string, payload: unknown, signal: AbortSignal): Promise<void> {
    await this.#call('prepare', txId, { signal, timeoutMs: this.#prepareTimeoutMs }, payload);
  }

  /** Sends `commit`; resolves once the participant confirmed it. */
  async commit(txId: string): Promise<void> {
    await this.#call('commit', txId, { timeoutMs: this.#callTimeoutMs });
  }

  /** Sends `rollback`; resolves once the participant confirmed it. */
  async rollback(txId: string): Promise<void> {
    await this.#call('rollback', txId, { timeoutMs: this.#callTimeoutMs });
  }

  async #call(
    operation: TwoPhaseOperation,
    txId: string,
    options: { signal?: AbortSignal; timeoutMs: number },
    payload?: unknown,
  ): Promise<void> {
    const body: Omit<TwoPhaseRequestBody, 'replyTopic'> = { txId, participant: this.name };
    if (operation === 'prepare') {
      body.payload = payload;
      body.timeoutMs = options.timeoutMs;
    }
    const reply = await this.#client.request(this.topic, TWOPC_MESSAGE_TYPES[operation], body, options);
    if (!reply.ok) throw new TwoPhaseRemoteError(operation, txId, reply.error, this.name);
  }
}

/** Options shared by {@link serveTwoPhaseParticipant} and {@link serveTwoPhaseOutcomes}. */
export interface ServeTwoPhaseOptions {
  /** The topic to serve. */
  topic?: string;
  /** The consumer group (shared by the instances serving the same thing). */
  group?: string;
  /** Requests handled at once (different transactions; one transaction's requests stay in order). @default 16 */
  concurrency?: number;
  /**
   * Retries of a request whose reply could not be published (the operation is run again: it is
   * idempotent), before it is dead-lettered. @default the bus's default
   */
  retry?: BackoffOptions;
  /** Start a new group at the earliest retained request. @default true */
  fromBeginning?: boolean;
  /** @default silentLogger */
  logger?: Logger;
}

/**
 * Serves a local participant on a `MessageBus` for {@link MessageBusParticipant}s in other processes:
 * joins `group` (default `twopc-<name>`) on `topic` (default `potter.twopc.<name>`), runs each
 * request on `participant` and publishes the answer — success, or the error — to the request's
 * reply topic. A `prepare` that waited on the broker longer than the sender's timeout is answered
 * with a `TimeoutError` without being run (the coordinator counted it as a no already); the
 * `signal` given to `prepare` aborts when the sender's timeout runs out. A malformed request is
 * dead-lettered to `<topic>.dlq` and, when it has a reply address, answered with a
 * `TwoPhaseBadRequestError`; it never stops the consumer. Resolves with the subscription
 * (`stop()` it to stop serving).
 */
export function serveTwoPhaseParticipant(
  bus: MessageBus,
  participant: TwoPhaseParticipant,
  options: ServeTwoPhaseOptions = {},
): Promise<TopicSubscription> {
  const topic = options.topic ?? twoPhaseParticipantTopic(participant.name);
  const group = options.group ?? `twopc-${participant.name}`;
  const accept = [TWOPC_MESSAGE_TYPES.prepare, TWOPC_MESSAGE_TYPES.commit, TWOPC_MESSAGE_TYPES.rollback];
  return serve(bus, topic, group, accept, options, async (request) => {
    const { body } = request;
    if (body.participant !== participant.name) {
      throw new TwoPhaseBadRequestError(
        `the request is for participant "${String(body.participant)}", this is "${participant.name}"`,
      );
    }
    switch (request.operation) {
      case 'prepare':
        await prepareWithin(participant, request, body);
        return undefined;
      case 'commit':
        await participant.commit(body.txId);
        return undefined;
      default:
        await participant.rollback(body.txId);
        return undefined;
    }
  });
}

/** What {@link serveTwoPhaseOutcomes} asks: `TwoPhaseCoordinator` is one. */
export interface TwoPhaseOutcomeSource {
  outcome(txId: string): Promise<TwoPhaseQueryOutcome>;
}

/**
 * Answers in-doubt participants' outcome questions ({@link TwoPhaseMessageClient.outcome}) with
 * `coordinator.outcome(txId)`, on `topic` (default `potter.twopc.outcomes`) in `group` (default
 * `twopc-outcomes`). Every coordinator sharing the log can serve it. Malformed questions are
 * handled as in {@link serveTwoPhaseParticipant}.
 */
export function serveTwoPhaseOutcomes(
  bus: MessageBus,
  coordinator: TwoPhaseOutcomeSource,
  options: ServeTwoPhaseOptions = {},
): Promise<TopicSubscription> {
  const topic = options.topic ?? TWOPC_OUTCOME_TOPIC;
  const group = options.group ?? 'twopc-outcomes';
  return serve(bus, topic, group, [TWOPC_MESSAGE_TYPES.outcome], options, (request) =>
    coordinator.outcome(request.body.txId),
  );
}

async function prepareWithin(
  participant: TwoPhaseParticipant,
  request: ParsedRequest & { timestamp: string },
  body: TwoPhaseRequestBody,
): Promise<void> {
  const operation = `prepare of ${participant.name} for ${body.txId}`;
  if (body.timeoutMs === undefined) {
    await participant.prepare(body.txId, body.payload, new AbortController().signal);
    return;
  }
  const sentAt = Date.parse(request.timestamp);
  const left = Number.isFinite(sentAt) ? sentAt + body.timeoutMs - Date.now() : body.timeoutMs;
  if (left <= 0) throw new TimeoutError(`${operation} (it waited on the broker)`, body.timeoutMs);
  const signal = AbortSignal.timeout(Math.min(left, body.timeoutMs));
  await participant.prepare(body.txId, body.payload, signal);
}

function serve(
  bus: MessageBus,
  topic: string,
  group: string,
  accept: readonly string[],
  options: ServeTwoPhaseOptions,
  run: (request: ParsedRequest & { timestamp: string }) => Promise<TwoPhaseQueryOutcome | undefined>,
): Promise<TopicSubscription> {
  const logger = options.logger ?? silentLogger;
  const handler = async (message: BrokerMessage): Promise<void> => {
    const { envelope } = message;
    let request: ParsedRequest;
    try {
      request = parseRequest(envelope, accept);
    } catch (error) {
      logger.warn('Malformed two-phase request: dead-lettered', {
        topic,
        id: envelope.id,
        error: String(error),
      });
      await deadLetter(bus, message, group, error);
      const replyTopic = replyTopicOf(envelope);
      if (replyTopic !== undefined) await reply(bus, replyTopic, envelope, failure(envelope.id, error));
      return;
    }
    let body: TwoPhaseReplyBody;
    try {
      const outcome = await run({ ...request, timestamp: envelope.metadata.timestamp });
      body =
        outcome === undefined
          ? { requestId: request.requestId, ok: true }
          : { requestId: request.requestId, ok: true, outcome };
    } catch (error) {
      logger.info('Two-phase request failed', {
        topic,
        txId: request.body.txId,
        operation: request.operation,
        error: String(error),
      });
      body = failure(request.requestId, error);
      if (error instanceof TwoPhaseBadRequestError) await deadLetter(bus, message, group, error);
    }
    // A failed publish throws: the bus redelivers the request and the (idempotent) operation runs again.
    await reply(bus, request.body.replyTopic, envelope, body);
  };
  return bus.subscribe(topic, group, handler, {
    concurrency: options.concurrency ?? 16,
    fromBeginning: options.fromBeginning ?? true,
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });
}

function failure(requestId: string, error: unknown): TwoPhaseReplyBody {
  return { requestId, ok: false, error: failureOf(error) };
}

async function reply(
  bus: MessageBus,
  replyTopic: string,
  request: MessageEnvelope,
  body: TwoPhaseReplyBody,
): Promise<void> {
  const envelope = twoPhaseEnvelope(TWOPC_MESSAGE_TYPES.reply, 'event', body, request);
  await bus.publish(replyTopic, [envelope], { key: body.requestId });
}

async function deadLetter(
  bus: MessageBus,
  message: BrokerMessage,
  group: string,
  error: unknown,
): Promise<void> {
  const letter = createDeadLetter({
    topic: message.topic,
    group,
    envelope: message.envelope,
    headers: message.headers,
    key: message.key,
    error,
    attempts: message.attempt,
  });
  await bus.publish(deadLetterTopic(message.topic), [deadLetterEnvelope(letter)], {
    ...(message.key === undefined ? {} : { key: message.key }),
    headers: deadLetterHeaders(letter),
  });
}

function positiveMs(option: string, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > 2_147_483_647) {
    throw new ConfigurationError(`${option} must be a positive number of milliseconds (at most 2^31 - 1).`, {
      [option]: ms,
    });
  }
  return ms;
}
