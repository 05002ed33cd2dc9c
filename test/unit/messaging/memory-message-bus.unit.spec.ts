import {
  MemoryMessageBus,
  msgpackCodec,
  readDeadLetter,
  ConfigurationError,
  type BrokerMessage,
} from 'potter';
import { describeMessageBusContract, envelope, eventually } from '../../contracts/message-bus.contract';

describeMessageBusContract('memory', async () => {
  const bus = new MemoryMessageBus();
  return {
    bus,
    publishRaw: (topic, bytes, key) => bus.publishRaw(topic, bytes, { key }),
    cleanup: () => bus.close(),
  };
});

describeMessageBusContract('memory (MessagePack, 2 partitions)', async () => {
  const bus = new MemoryMessageBus({ codec: msgpackCodec(), partitions: 2 });
  return {
    bus,
    publishRaw: (topic, bytes, key) => bus.publishRaw(topic, bytes, { key }),
    cleanup: () => bus.close(),
  };
});

describe('MemoryMessageBus', () => {
  let bus: MemoryMessageBus;
  beforeEach(() => (bus = new MemoryMessageBus()));
  afterEach(() => bus.close());

  it('maps a key to one partition and spreads keyless messages round-robin', async () => {
    const ids = new Map<string, Set<string>>();
    await bus.subscribe('t', 'g', (m: BrokerMessage) => {
      const partition = m.brokerId.split(':')[0]!;
      const key = m.key ?? `none-${(m.envelope.payload as { n: number }).n}`;
      ids.set(key, new Set([...(ids.get(key) ?? []), partition]));
    });
    for (let i = 0; i < 8; i++) await bus.publish('t', [envelope(i)], { key: 'same' });
    for (let i = 0; i < 8; i++) await bus.publish('t', [envelope(i)]);
    await eventually('all', () => bus.lag('t', 'g') === 0 && ids.size === 9);
    expect(ids.get('same')!.size).toBe(1);
    const keyless = new Set([...ids].filter(([key]) => key.startsWith('none')).flatMap(([, p]) => [...p]));
    expect(keyless.size).toBe(4);
  });

  it('starts a new group at the end with fromBeginning: false', async () => {
    await bus.publish('t', [envelope(1)]);
    const seen: number[] = [];
    await bus.subscribe('t', 'g', (m) => void seen.push((m.envelope.payload as { n: number }).n), {
      fromBeginning: false,
    });
    await bus.publish('t', [envelope(2)]);
    await eventually('the new message', () => seen.length === 1);
    expect(seen).toEqual([2]);
    await eventually('the commit', () => bus.lag('t', 'g') === 0);
  });

  it('hands a stopped member’s partitions to the rest of the group', async () => {
    const byMember = [0, 0];
    const first = await bus.subscribe('t', 'g', () => void byMember[0]!++);
    await bus.subscribe('t', 'g', () => void byMember[1]!++);
    await first.stop();
    await bus.publish(
      't',
      Array.from({ length: 20 }, (_, i) => envelope(i)),
    );
    await eventually('all', () => byMember[1] === 20);
    expect(byMember[0]).toBe(0);
  });

  it('abandons a message waiting for a retry on stop, and redelivers it with its attempt count', async () => {
    const attempts: number[] = [];
    const sub = await bus.subscribe(
      't',
      'g',
      (m) => {
        attempts.push(m.attempt);
        throw new Error('fails');
      },
      { retry: { maxAttempts: 3, initialDelayMs: 60_000, jitter: 'none' } },
    );
    await bus.publish('t', [envelope(1)]);
    await eventually('first attempt', () => attempts.length === 1);
    await sub.stop(); // does not wait for the minute-long backoff
    expect(bus.lag('t', 'g')).toBe(1);
    const letters: unknown[] = [];
    await bus.subscribe('t.dlq', 'r', (m) => void letters.push(readDeadLetter(m)));
    await bus.subscribe(
      't',
      'g',
      (m) => {
        attempts.push(m.attempt);
        throw new Error('still fails');
      },
      { retry: { maxAttempts: 3, initialDelayMs: 1, jitter: 'none' } },
    );
    await eventually('dead letter', () => letters.length === 1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(letters[0]).toMatchObject({ attempts: 3, error: { message: 'still fails', code: 'Error' } });
  });

  it('rejects bad options and use after close', async () => {
    expect(() => new MemoryMessageBus({ partitions: 0 })).toThrow(ConfigurationError);
    await expect(bus.subscribe('t', 'g', () => undefined, { concurrency: 0 })).rejects.toThrow(
      ConfigurationError,
    );
    await expect(bus.publish('', [envelope(1)])).rejects.toThrow(ConfigurationError);
    await bus.close();
    await expect(bus.publish('t', [envelope(1)])).rejects.toThrow(/closed/);
  });

  it('publishes nothing when one envelope of a call cannot be encoded', async () => {
    const bad = { ...envelope(2), payload: undefined };
    await expect(bus.publish('t', [envelope(1), bad])).rejects.toMatchObject({
      code: 'POTTER_SERIALIZATION_FAILED',
    });
    await bus.subscribe('t', 'g', () => undefined);
    expect(bus.lag('t', 'g')).toBe(0);
  });
});
