import type { MessageEnvelope } from '../../../src/core/envelope';
import { newId } from '../../../src/core/ids';
import { readDeadLetter } from '../../../src/messaging/dead-letter';
import type { BrokerMessage, MessageBus, TopicSubscription } from '../../../src/messaging/message-bus';
import { MemoryMessageBus } from '../../../src/messaging/memory-message-bus';
import {
  MemoryCoordinatorLog,
  MessageBusParticipant,
  TWOPC_MESSAGE_TYPES,
  TwoPhaseCoordinator,
  TwoPhaseMessageClient,
  TwoPhaseRemoteError,
  serveTwoPhaseOutcomes,
  serveTwoPhaseParticipant,
  type TwoPhaseReplyBody,
} from '../../../src/twopc';
import { FakeParticipant } from '../../contracts/twopc-log.contract';

/** Polls `check` (no fixed sleep as proof): resolves once it holds, fails after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Collects what is published to `topic`, in a group of its own. */
async function collect(bus: MessageBus, topic: string): Promise<BrokerMessage[]> {
  const seen: BrokerMessage[] = [];
  await bus.subscribe(topic, `spy-${newId()}`, (message) => void seen.push(message));
  return seen;
}

function request(type: string, payload: unknown, timestamp = new Date().toISOString()): MessageEnvelope {
  return {
    id: newId(),
    type,
    kind: 'command',
    payload,
    metadata: { correlationId: newId(), timestamp, schemaVersion: 1, headers: {} },
  };
}

describe('two-phase commit over a MessageBus', () => {
  let bus: MemoryMessageBus;
  let client: TwoPhaseMessageClient;
  let log: MemoryCoordinatorLog;
  const subscriptions: TopicSubscription[] = [];
  const coordinators: TwoPhaseCoordinator[] = [];

  beforeEach(() => {
    bus = new MemoryMessageBus({ partitions: 2 });
    client = new TwoPhaseMessageClient({ bus, timeoutMs: 2_000 });
    log = new MemoryCoordinatorLog();
  });

  afterEach(async () => {
    for (const coordinator of coordinators.splice(0)) coordinator.close();
    await client.close();
    await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
    await bus.close();
  });

  async function serve(participant: FakeParticipant): Promise<TopicSubscription> {
    const subscription = await serveTwoPhaseParticipant(bus, participant);
    subscriptions.push(subscription);
    return subscription;
  }

  function coordinatorOf(
    participants: MessageBusParticipant[],
    prepareTimeoutMs = 2_000,
  ): TwoPhaseCoordinator {
    const coordinator = new TwoPhaseCoordinator({
      log,
      participants,
      prepareTimeoutMs,
      callTimeoutMs: 300,
      retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 'none' },
    });
    coordinators.push(coordinator);
    return coordinator;
  }

  it('commits on participants served in "other processes" and answers outcome questions', async () => {
    const north = new FakeParticipant('north');
    const south = new FakeParticipant('south');
    await serve(north);
    await serve(south);
    const coordinator = coordinatorOf([client.participant('north'), client.participant('south')]);
    subscriptions.push(await serveTwoPhaseOutcomes(bus, coordinator));

    const result = await coordinator.execute({ txId: 't1', payload: { sku: 'A', qty: 2 } });

    expect(result.outcome).toBe('committed');
    for (const p of [north, south]) {
      expect(p.states.get('t1')).toBe('committed');
      expect(p.calls).toEqual(['prepare t1', 'commit t1']);
      expect(p.violations).toEqual([]);
    }
    expect(client.pending).toBe(0);
    // An in-doubt participant's question, across the bus.
    const asker = new TwoPhaseMessageClient({ bus, timeoutMs: 2_000 });
    try {
      await expect(asker.outcome('t1')).resolves.toBe('commit');
      await expect(asker.outcome('never-begun')).resolves.toBe('abort');
    } finally {
      await asker.close();
    }
  });

  it('passes the payload to the remote prepare', async () => {
    const north = new FakeParticipant('north');
    const seen: unknown[] = [];
    const prepare = north.prepare.bind(north);
    north.prepare = (txId, payload, signal) => {
      seen.push(payload);
      return prepare(txId, payload, signal);
    };
    await serve(north);
    await coordinatorOf([client.participant('north')]).execute({ txId: 't1', payload: { sku: 'A', qty: 2 } });
    expect(seen).toEqual([{ sku: 'A', qty: 2 }]);
  });

  it('counts a failure reply to prepare as a no, with the remote error, and rolls everyone back', async () => {
    const north = new FakeParticipant('north');
    const south = new FakeParticipant('south');
    south.vote = 'no';
    await serve(north);
    await serve(south);
    const coordinator = coordinatorOf([client.participant('north'), client.participant('south')]);

    const result = await coordinator.execute({ txId: 't2' });

    expect(result.outcome).toBe('aborted');
    expect(result.votes[1]).toMatchObject({
      participant: 'south',
      vote: 'no',
      error: { name: 'TwoPhaseRemoteError', code: 'POTTER_TWOPC_REMOTE_FAILED' },
    });
    expect(result.votes[1]!.error!.message).toContain('south refuses t2');
    expect(north.states.get('t2')).toBe('rolled-back');
    expect(south.calls).toEqual(['prepare t2', 'rollback t2']);
  });

  it('counts a participant that does not answer as a timeout vote and stops waiting for it', async () => {
    const north = new FakeParticipant('north');
    await serve(north);
    // Nobody serves "south". Its proxy waits 100 ms (below the coordinator's 150 ms), so its request
    // has expired by the time south is served, after the abort.
    const coordinator = coordinatorOf(
      [client.participant('north'), client.participant('south', { prepareTimeoutMs: 100 })],
      150,
    );
    const execution = coordinator.execute({ txId: 't3' });
    // Rollback to south is re-sent until confirmed: serve it once the abort is decided.
    await until(() => north.states.get('t3') === 'rolled-back', 'north rolled back');
    const south = new FakeParticipant('south');
    await serve(south);
    const result = await execution;
    expect(result.outcome).toBe('aborted');
    expect(result.votes[1]).toMatchObject({ participant: 'south', vote: 'timeout' });
    // The late prepare (it waited on the broker longer than its timeout) was not run; the rollback was.
    expect(south.calls.filter((c) => c.startsWith('prepare'))).toEqual([]);
    expect(south.calls).toContain('rollback t3');
    expect(client.pending).toBe(0);
  });

  it('re-sends commit to a participant that is down until it is back', async () => {
    const north = new FakeParticipant('north');
    const south = new FakeParticipant('south');
    await serve(north);
    let stopping: Promise<void> | undefined;
    const prepare = south.prepare.bind(south);
    south.prepare = async (txId, payload, signal) => {
      await prepare(txId, payload, signal);
      stopping = first.stop(); // "south" goes down right after voting yes
    };
    const first = await serveTwoPhaseParticipant(bus, south);
    const seen = await collect(bus, 'potter.twopc.south');
    const coordinator = coordinatorOf([client.participant('north'), client.participant('south')]);

    const execution = coordinator.execute({ txId: 't4' });
    const commitsSent = (): number =>
      seen.filter((m) => m.envelope.type === TWOPC_MESSAGE_TYPES.commit).length;
    await until(() => commitsSent() >= 3, 'three commit sends to the stopped south');
    await stopping;
    expect(south.states.get('t4')).toBe('prepared');
    expect(north.states.get('t4')).toBe('committed');

    south.prepare = prepare;
    await serve(south); // back up, same group: it gets the queued commits
    await expect(execution).resolves.toMatchObject({ outcome: 'committed' });
    expect(south.states.get('t4')).toBe('committed');
    expect(south.violations).toEqual([]);
    await expect(log.get('t4')).resolves.toMatchObject({ completed: true, done: ['north', 'south'] });
  });

  it('answers a malformed request with a typed error, dead-letters it, and keeps serving', async () => {
    const north = new FakeParticipant('north');
    await serve(north);
    const replies = await collect(bus, 'test.replies');
    const dlq = await collect(bus, 'potter.twopc.north.dlq');

    await bus.publish('potter.twopc.north', [
      request(TWOPC_MESSAGE_TYPES.prepare, { replyTopic: 'test.replies', participant: 'north' }), // no txId
      request('something.Else', { hello: 1 }), // foreign, no reply address
      request(TWOPC_MESSAGE_TYPES.commit, { txId: 'tx', replyTopic: 'test.replies', participant: 'south' }),
    ]);
    await until(() => dlq.length === 3 && replies.length === 2, 'two replies and three dead letters');

    const bodies = replies
      .map((m) => m.envelope.payload as TwoPhaseReplyBody)
      .sort((x, y) => (x.ok || y.ok ? 0 : x.error.message.localeCompare(y.error.message)));
    expect(bodies.map((b) => b.ok)).toEqual([false, false]);
    expect(bodies.map((b) => (b.ok ? undefined : b.error.code))).toEqual([
      'POTTER_TWOPC_BAD_REQUEST',
      'POTTER_TWOPC_BAD_REQUEST',
    ]);
    expect(bodies[0]!.ok === false && bodies[0]!.error.message).toContain('"south"');
    expect(bodies[1]!.ok === false && bodies[1]!.error.message).toContain('txId is missing');
    const letters = dlq
      .map((m) => readDeadLetter(m))
      .sort((x, y) => x.error.message.localeCompare(y.error.message));
    expect(letters.map((l) => l.error.code)).toEqual([
      'POTTER_TWOPC_BAD_REQUEST',
      'POTTER_TWOPC_BAD_REQUEST',
      'POTTER_TWOPC_BAD_REQUEST',
    ]);
    expect(letters.map((l) => l.envelope?.type)).toEqual([
      TWOPC_MESSAGE_TYPES.commit,
      TWOPC_MESSAGE_TYPES.prepare,
      'something.Else',
    ]);
    expect(north.calls).toEqual([]);

    // Still serving.
    await coordinatorOf([client.participant('north')]).execute({ txId: 't5' });
    expect(north.states.get('t5')).toBe('committed');
  });

  it('does not run a prepare that waited on the broker past its timeout', async () => {
    const north = new FakeParticipant('north');
    await serve(north);
    const replies = await collect(bus, 'test.replies');
    const old = new Date(Date.now() - 60_000).toISOString();
    await bus.publish('potter.twopc.north', [
      request(
        TWOPC_MESSAGE_TYPES.prepare,
        { txId: 'late', replyTopic: 'test.replies', participant: 'north', timeoutMs: 1_000 },
        old,
      ),
    ]);
    await until(() => replies.length === 1, 'the reply');
    const body = replies[0]!.envelope.payload as TwoPhaseReplyBody;
    expect(body).toMatchObject({ ok: false, error: { code: 'POTTER_TIMEOUT' } });
    expect(north.calls).toEqual([]);
  });

  it('aborts the wait of a prepare when its signal aborts, and rejects waits when the client closes', async () => {
    const ghost = client.participant('ghost'); // nobody serves it
    const controller = new AbortController();
    const prepare = ghost.prepare('t6', {}, controller.signal);
    await until(() => client.pending === 1, 'the request in flight');
    controller.abort(new Error('prepare timeout'));
    await expect(prepare).rejects.toThrow('prepare timeout');
    expect(client.pending).toBe(0);

    const commit = ghost.commit('t6');
    await until(() => client.pending === 1, 'the commit in flight');
    await client.close();
    const error = await commit.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TwoPhaseRemoteError);
    expect((error as TwoPhaseRemoteError).remote).toBeUndefined();
  });

  it('times a request out when no reply comes', async () => {
    const ghost = new MessageBusParticipant({ client, name: 'ghost', callTimeoutMs: 50 });
    await expect(ghost.rollback('t7')).rejects.toMatchObject({ code: 'POTTER_TIMEOUT' });
    expect(client.pending).toBe(0);
  });

  it('lets clients share a reply topic: each gets only the answers to its own requests', async () => {
    const north = new FakeParticipant('north');
    await serve(north);
    const other = new TwoPhaseMessageClient({ bus, timeoutMs: 2_000 });
    try {
      await Promise.all([
        client.participant('north').commit('a'),
        other.participant('north').commit('b'),
        client.participant('north').rollback('c'),
      ]);
      expect(client.pending + other.pending).toBe(0);
      expect(north.calls.sort()).toEqual(['commit a', 'commit b', 'rollback c']);
    } finally {
      await other.close();
    }
  });
});
