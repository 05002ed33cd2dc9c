import { backoffDelay, resolveBackoff, sleep, type ResolvedBackoff } from '../core/backoff';
import type { MessageEnvelope } from '../core/envelope';
import { ConfigurationError } from '../core/errors';
import { envelopeHeaders, jsonCodec, type MessageCodec } from './codecs';
import {
  createDeadLetter,
  deadLetterEnvelope,
  deadLetterHeaders,
  deadLetterTopic,
  type DeadLetterInit,
} from './dead-letter';
import type {
  BrokerHandler,
  MessageBus,
  PublishOptions,
  SubscribeToTopicOptions,
  TopicSubscription,
} from './message-bus';

/** Options of {@link MemoryMessageBus}. */
export interface MemoryMessageBusOptions {
  /** Partitions of every topic (a key always maps to the same one). @default 4 */
  partitions?: number;
  /** How envelopes are encoded; every message is stored encoded, as a broker would. @default jsonCodec */
  codec?: MessageCodec;
}

/** Options of {@link MemoryMessageBus.publishRaw}. */
export interface PublishRawOptions {
  key?: string;
  headers?: Record<string, string>;
}

interface StoredMessage {
  readonly bytes: Buffer;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

/** 32-bit FNV-1a of the key's UTF-8 bytes: a stable key → partition mapping. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(`${name} must be an integer >= 1`, { [name]: value });
  }
  return value;
}

class MemoryTopic {
  readonly partitions: StoredMessage[][];
  readonly groups = new Map<string, MemoryGroup>();
  #roundRobin = 0;

  constructor(
    readonly name: string,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => []);
  }

  partitionOf(key: string | undefined): number {
    if (key === undefined) return this.#roundRobin++ % this.partitions.length;
    return hashKey(key) % this.partitions.length;
  }

  append(messages: readonly StoredMessage[]): void {
    for (const message of messages) this.partitions[this.partitionOf(message.key)]!.push(message);
    for (const group of this.groups.values()) group.wakeAll();
  }
}

/** A consumer group on one topic: committed offsets per partition and the partitions' owners. */
class MemoryGroup {
  /** Next offset to process, per partition (everything before it is done). */
  readonly committed: number[];
  /** Offsets done ahead of `committed` (handled while an earlier one was still in flight). */
  readonly doneAhead: Set<number>[];
  /** Deliveries so far of a not yet committed message (`partition:offset` → attempts). */
  readonly deliveries = new Map<string, number>();
  readonly #owner: (MemorySubscription | undefined)[];
  readonly #target: (MemorySubscription | undefined)[];
  readonly #members: MemorySubscription[] = [];

  constructor(
    readonly topic: MemoryTopic,
    readonly name: string,
    fromBeginning: boolean,
  ) {
    this.committed = topic.partitions.map((log) => (fromBeginning ? 0 : log.length));
    this.doneAhead = topic.partitions.map(() => new Set<number>());
    this.#owner = topic.partitions.map(() => undefined);
    this.#target = topic.partitions.map(() => undefined);
  }

  get members(): readonly MemorySubscription[] {
    return this.#members;
  }

  join(member: MemorySubscription): void {
    this.#members.push(member);
    this.#rebalance();
  }

  leave(member: MemorySubscription): void {
    const index = this.#members.indexOf(member);
    if (index >= 0) this.#members.splice(index, 1);
    this.#rebalance();
  }

  /** Records a finished message and advances the committed offset over every contiguous done one. */
  complete(partition: number, offset: number): void {
    const done = this.doneAhead[partition]!;
    done.add(offset);
    while (done.has(this.committed[partition]!)) {
      done.delete(this.committed[partition]!);
      this.deliveries.delete(`${partition}:${this.committed[partition]!}`);
      this.committed[partition]!++;
    }
  }

  /** Called by a member once a revoked partition has nothing in flight: hands it to its new owner. */
  released(partition: number, member: MemorySubscription): void {
    if (this.#owner[partition] !== member) return;
    this.#owner[partition] = undefined;
    this.#assign(partition);
  }

  wakeAll(): void {
    for (const member of this.#members) member.wake();
  }

  #assign(partition: number): void {
    const target = this.#target[partition];
    if (this.#owner[partition] === undefined && target !== undefined) {
      this.#owner[partition] = target;
      target.assign(partition);
    }
  }

  /** Partition p goes to member p mod n (in joining order); moved partitions are revoked first. */
  #rebalance(): void {
    const count = this.#members.length;
    for (let partition = 0; partition < this.#target.length; partition++) {
      const target = count === 0 ? undefined : this.#members[partition % count];
      this.#target[partition] = target;
      const owner = this.#owner[partition];
      if (owner === undefined) this.#assign(partition);
      else if (owner === target) owner.unrevoke(partition);
      else owner.revoke(partition);
    }
    this.wakeAll();
  }
}

interface Cursor {
  /** Next offset to dispatch. */
  next: number;
  /** Dispatched offsets not finished yet. */
  readonly pending: Set<number>;
  revoked: boolean;
}

type Outcome = 'done' | 'abandoned';

/** One member of a consumer group: fetches from its partitions, runs the handler, commits. */
class MemorySubscription implements TopicSubscription {
  readonly #bus: MemoryMessageBus;
  readonly #group: MemoryGroup;
  readonly #handler: BrokerHandler;
  readonly #backoff: ResolvedBackoff;
  readonly #concurrency: number;
  readonly #bufferLimit: number;
  readonly #cursors = new Map<number, Cursor>();
  readonly #keyTails = new Map<string, Promise<void>>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #slotWaiters: (() => void)[] = [];
  #running = 0;
  #buffered = 0;
  #dirty = false;
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(
    bus: MemoryMessageBus,
    group: MemoryGroup,
    handler: BrokerHandler,
    backoff: ResolvedBackoff,
    concurrency: number,
  ) {
    this.#bus = bus;
    this.#group = group;
    this.#handler = handler;
    this.#backoff = backoff;
    this.#concurrency = concurrency;
    this.#bufferLimit = Math.max(16, concurrency * 4);
  }

  get topic(): string {
    return this.#group.topic.name;
  }

  get group(): string {
    return this.#group.name;
  }

  start(): void {
    this.#loop = this.#fetchLoop();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  wake(): void {
    this.#dirty = true;
    const wakeUp = this.#wakeUp;
    this.#wakeUp = undefined;
    wakeUp?.();
  }

  assign(partition: number): void {
    this.#cursors.set(partition, {
      next: this.#group.committed[partition]!,
      pending: new Set(),
      revoked: false,
    });
    this.wake();
  }

  revoke(partition: number): void {
    const cursor = this.#cursors.get(partition);
    if (!cursor) return;
    cursor.revoked = true;
    this.#releaseIfDrained(partition, cursor);
  }

  unrevoke(partition: number): void {
    const cursor = this.#cursors.get(partition);
    if (cursor) cursor.revoked = false;
  }

  async #stop(): Promise<void> {
    this.#abort.abort(new Error('subscription stopped'));
    for (const wake of this.#slotWaiters.splice(0)) wake();
    this.wake();
    await this.#loop;
    this.#group.leave(this);
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  #releaseIfDrained(partition: number, cursor: Cursor): void {
    if (cursor.revoked && cursor.pending.size === 0 && this.#cursors.get(partition) === cursor) {
      this.#cursors.delete(partition);
      this.#group.released(partition, this);
    }
  }

  async #fetchLoop(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      this.#dirty = false;
      let progress = true;
      while (progress && this.#buffered < this.#bufferLimit && !this.#abort.signal.aborted) {
        progress = false;
        // One message per partition per round, so no partition starves the others.
        for (const [partition, cursor] of this.#cursors) {
          if (cursor.revoked || this.#buffered >= this.#bufferLimit) continue;
          const log = this.#group.topic.partitions[partition]!;
          const done = this.#group.doneAhead[partition]!;
          while (cursor.next < log.length && done.has(cursor.next)) cursor.next++;
          if (cursor.next >= log.length) continue;
          this.#dispatch(partition, cursor, cursor.next, log[cursor.next]!);
          cursor.next++;
          progress = true;
        }
      }
      if (this.#dirty || this.#abort.signal.aborted) continue;
      await new Promise<void>((resolve) => (this.#wakeUp = resolve));
    }
  }

  #dispatch(partition: number, cursor: Cursor, offset: number, message: StoredMessage): void {
    this.#buffered++;
    cursor.pending.add(offset);
    const key = message.key;
    const previous = key === undefined ? undefined : this.#keyTails.get(key);
    const task = (async () => {
      if (previous) await previous;
      const outcome = await this.#process(partition, offset, message);
      if (outcome === 'done') this.#group.complete(partition, offset);
    })().finally(() => {
      this.#buffered--;
      cursor.pending.delete(offset);
      this.#tasks.delete(task);
      this.#releaseIfDrained(partition, cursor);
      this.wake();
    });
    this.#tasks.add(task);
    if (key !== undefined) {
      const tail = task.then(
        () => undefined,
        () => undefined,
      );
      this.#keyTails.set(key, tail);
      void tail.then(() => {
        if (this.#keyTails.get(key) === tail) this.#keyTails.delete(key);
      });
    }
  }

  async #acquire(): Promise<boolean> {
    while (this.#running >= this.#concurrency && !this.#abort.signal.aborted) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
    if (this.#abort.signal.aborted) return false;
    this.#running++;
    return true;
  }

  #release(): void {
    this.#running--;
    this.#slotWaiters.shift()?.();
  }

  async #process(partition: number, offset: number, message: StoredMessage): Promise<Outcome> {
    const signal = this.#abort.signal;
    if (signal.aborted) return 'abandoned';
    const base = { topic: this.topic, group: this.group, key: message.key, headers: { ...message.headers } };
    let envelope: MessageEnvelope;
    try {
      envelope = this.#bus.codec.decode(message.bytes, message.headers);
    } catch (error) {
      await this.#deadLetter({ ...base, raw: message.bytes, error, attempts: 1 });
      return 'done';
    }
    const deliveryKey = `${partition}:${offset}`;
    let attempt = this.#group.deliveries.get(deliveryKey) ?? 0;
    for (;;) {
      if (!(await this.#acquire())) return 'abandoned';
      attempt++;
      this.#group.deliveries.set(deliveryKey, attempt);
      let failure: unknown;
      let succeeded = false;
      try {
        await this.#handler({
          envelope: (attempt === 1
            ? envelope
            : this.#bus.codec.decode(message.bytes)) as BrokerMessageEnvelope,
          topic: this.topic,
          key: message.key,
          headers: { ...message.headers },
          attempt,
          brokerId: deliveryKey,
        });
        succeeded = true;
      } catch (error) {
        failure = error;
      } finally {
        this.#release();
      }
      if (succeeded) return 'done';
      if (attempt >= this.#backoff.maxAttempts) {
        await this.#deadLetter({ ...base, envelope, error: failure, attempts: attempt });
        return 'done';
      }
      try {
        await sleep(backoffDelay(this.#backoff, attempt), signal);
      } catch {
        return 'abandoned';
      }
    }
  }

  async #deadLetter(init: DeadLetterInit): Promise<void> {
    const topic = deadLetterTopic(this.topic);
    const deadLetter = createDeadLetter(init);
    try {
      await this.#bus.append(topic, [deadLetterEnvelope(deadLetter)], {
        key: deadLetter.key,
        headers: deadLetterHeaders(deadLetter),
      });
    } catch (error) {
      // The envelope itself cannot be re-encoded: keep the failure, without it, rather than block.
      const fallback = createDeadLetter({ ...init, envelope: undefined, error, raw: init.raw });
      await this.#bus.append(topic, [deadLetterEnvelope(fallback)], {
        key: fallback.key,
        headers: deadLetterHeaders(fallback),
      });
    }
  }
}

type BrokerMessageEnvelope = MessageEnvelope<Record<string, unknown>>;

/**
 * An in-process broker with the {@link MessageBus} semantics, for tests and single-process apps:
 * topics split into partitions (a key always maps to the same partition; messages without a key
 * are spread round-robin), consumer groups with a committed offset per partition, competing
 * consumers (a group's partitions are shared among its subscriptions and rebalanced when one
 * joins or stops), per-key order with `concurrency` across keys, retries with backoff, then the
 * dead-letter topic `<topic>.dlq`. Messages are stored encoded with the bus's codec and kept
 * forever (it is memory), so a group started later with `fromBeginning` reads them all.
 */
export class MemoryMessageBus implements MessageBus {
  /** The codec every message is encoded with. */
  readonly codec: MessageCodec;
  readonly #partitions: number;
  readonly #topics = new Map<string, MemoryTopic>();
  #closed = false;

  constructor(options: MemoryMessageBusOptions = {}) {
    this.#partitions = positiveInteger('partitions', options.partitions ?? 4);
    this.codec = options.codec ?? jsonCodec;
  }

  async publish(
    topic: string,
    envelopes: readonly MessageEnvelope[],
    options: PublishOptions = {},
  ): Promise<void> {
    this.#checkOpen();
    await this.append(topic, envelopes, options);
  }

  /**
   * Appends raw bytes as one message, bypassing the codec — to test how consumers treat a message
   * they cannot decode (it goes to `<topic>.dlq` with the reason).
   */
  async publishRaw(topic: string, bytes: Buffer, options: PublishRawOptions = {}): Promise<void> {
    this.#checkOpen();
    this.#topic(topic).append([
      { bytes: Buffer.from(bytes), key: options.key, headers: { ...options.headers } },
    ]);
  }

  async subscribe(
    topic: string,
    group: string,
    handler: BrokerHandler,
    options: SubscribeToTopicOptions = {},
  ): Promise<TopicSubscription> {
    this.#checkOpen();
    const backoff = resolveBackoff({ maxAttempts: 5, ...options.retry });
    const concurrency = positiveInteger('concurrency', options.concurrency ?? 1);
    const memoryTopic = this.#topic(topic);
    let memoryGroup = memoryTopic.groups.get(group);
    if (!memoryGroup) {
      memoryGroup = new MemoryGroup(memoryTopic, group, options.fromBeginning ?? true);
      memoryTopic.groups.set(group, memoryGroup);
    }
    const subscription = new MemorySubscription(this, memoryGroup, handler, backoff, concurrency);
    subscription.start();
    memoryGroup.join(subscription);
    return subscription;
  }

  /** Messages of `topic` that `group` has not committed yet (0 for an unknown topic or group). */
  lag(topic: string, group: string): number {
    const memoryGroup = this.#topics.get(topic)?.groups.get(group);
    if (!memoryGroup) return 0;
    return memoryGroup.topic.partitions.reduce(
      (sum, log, partition) => sum + log.length - memoryGroup.committed[partition]!,
      0,
    );
  }

  /** Stops every subscription (each finishing its messages in flight); later calls are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const members = [...this.#topics.values()].flatMap((topic) =>
      [...topic.groups.values()].flatMap((group) => [...group.members]),
    );
    await Promise.all(members.map((member) => member.stop()));
  }

  /** Encodes and stores envelopes (also used for dead letters while closing). @internal */
  async append(topic: string, envelopes: readonly MessageEnvelope[], options: PublishOptions): Promise<void> {
    const extra = options.headers ?? {};
    // Encode everything first: a publish call is all or nothing.
    const messages = envelopes.map((envelope) => ({
      bytes: this.codec.encode(envelope),
      key: options.key,
      headers: envelopeHeaders(envelope, this.codec, extra),
    }));
    this.#topic(topic).append(messages);
  }

  #topic(name: string): MemoryTopic {
    if (typeof name !== 'string' || name === '') {
      throw new ConfigurationError('A topic name must be a non-empty string', { topic: String(name) });
    }
    let topic = this.#topics.get(name);
    if (!topic) {
      topic = new MemoryTopic(name, this.#partitions);
      this.#topics.set(name, topic);
    }
    return topic;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ConfigurationError('This MemoryMessageBus is closed');
  }
}
