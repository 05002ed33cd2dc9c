import { KeyedDispatcher } from '../../../src/messaging/redis/keyed-dispatcher';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KeyedDispatcher', () => {
  it('runs a synchronous item at once, inside push', () => {
    const ran: string[] = [];
    const dispatcher = new KeyedDispatcher<string>(1, (item) => {
      ran.push(item);
    });
    dispatcher.push(undefined, 'a');
    expect(ran).toEqual(['a']);
    dispatcher.push('k', 'b');
    expect(ran).toEqual(['a', 'b']);
    expect(dispatcher.size).toBe(0);
  });

  it('queues keyless items behind a running asynchronous one when at its concurrency', async () => {
    const gates = new Map<string, Deferred>();
    const ran: string[] = [];
    const dispatcher = new KeyedDispatcher<string>(1, (item) => {
      ran.push(item);
      if (item === 'slow') {
        const gate = deferred();
        gates.set(item, gate);
        return gate.promise;
      }
    });
    dispatcher.push(undefined, 'slow');
    dispatcher.push(undefined, 'next');
    dispatcher.push(undefined, 'last');
    expect(ran).toEqual(['slow']);
    expect(dispatcher.size).toBe(3);
    gates.get('slow')!.resolve();
    await dispatcher.idle();
    expect(ran).toEqual(['slow', 'next', 'last']);
  });

  it('keeps the order of a key and runs different keys concurrently up to the limit', async () => {
    const gates = new Map<string, Deferred>();
    let active = 0;
    let maxActive = 0;
    const ran: string[] = [];
    const dispatcher = new KeyedDispatcher<string>(2, async (item) => {
      active++;
      maxActive = Math.max(maxActive, active);
      ran.push(item);
      const gate = deferred();
      gates.set(item, gate);
      await gate.promise;
      active--;
    });
    for (const item of ['a1', 'a2', 'b1', 'c1', 'b2']) dispatcher.push(item[0], item);
    expect(ran).toEqual(['a1', 'b1']);
    gates.get('a1')!.resolve();
    await tick();
    // a2 waited for a1; the freed slot goes to the next key in turn (c), a2 after it.
    expect(ran).toEqual(['a1', 'b1', 'c1']);
    gates.get('b1')!.resolve();
    await tick();
    expect(ran).toEqual(['a1', 'b1', 'c1', 'a2']);
    for (const name of ['c1', 'a2']) gates.get(name)!.resolve();
    await tick();
    expect(ran).toEqual(['a1', 'b1', 'c1', 'a2', 'b2']);
    gates.get('b2')!.resolve();
    await dispatcher.idle();
    expect(maxActive).toBe(2);
    expect(ran.filter((item) => item.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(ran.filter((item) => item.startsWith('b'))).toEqual(['b1', 'b2']);
  });

  it('runs items pushed from inside a synchronous run after it, in order', () => {
    const ran: string[] = [];
    const dispatcher = new KeyedDispatcher<string>(1, (item) => {
      ran.push(item);
      if (item === 'outer') {
        dispatcher.push(undefined, 'inner-1');
        dispatcher.push('k', 'inner-2');
        expect(ran).toEqual(['outer']); // not re-entered
      }
    });
    dispatcher.push(undefined, 'outer');
    expect(ran).toEqual(['outer', 'inner-1', 'inner-2']);
    expect(dispatcher.size).toBe(0);
  });

  it('counts an item that throws or rejects as done', async () => {
    const ran: string[] = [];
    const dispatcher = new KeyedDispatcher<string>(1, (item) => {
      ran.push(item);
      if (item === 'throws') throw new Error('sync failure');
      if (item === 'rejects') return Promise.reject(new Error('async failure'));
    });
    dispatcher.push(undefined, 'throws');
    dispatcher.push(undefined, 'rejects');
    dispatcher.push(undefined, 'after');
    await dispatcher.idle();
    expect(ran).toEqual(['throws', 'rejects', 'after']);
    expect(dispatcher.size).toBe(0);
  });

  it('resolves idle() once queued and running items are done', async () => {
    const gate = deferred();
    const dispatcher = new KeyedDispatcher<string>(1, (item) => (item === 'slow' ? gate.promise : undefined));
    await dispatcher.idle(); // nothing yet
    dispatcher.push('k', 'slow');
    dispatcher.push('k', 'fast');
    let idle = false;
    const waiting = dispatcher.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    gate.resolve();
    await waiting;
    expect(dispatcher.size).toBe(0);
  });
});
