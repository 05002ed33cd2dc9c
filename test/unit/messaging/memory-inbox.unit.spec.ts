import { MemoryInbox } from 'potter';

describe('MemoryInbox', () => {
  it('records an id once per consumer', async () => {
    const inbox = new MemoryInbox();
    expect(await inbox.seen('billing', 'm-1')).toBe(false);
    expect(await inbox.seen('billing', 'm-1')).toBe(true);
    expect(await inbox.seen('shipping', 'm-1')).toBe(false);
    expect(inbox.size).toBe(2);
    inbox.clear();
    expect(await inbox.seen('billing', 'm-1')).toBe(false);
  });

  it('runs a handler once among concurrent calls with the same id', async () => {
    const inbox = new MemoryInbox();
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        inbox.once('c', 'm-1', async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 5));
          return 'ok';
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(results.filter((r) => r.processed)).toEqual([{ processed: true, result: 'ok' }]);
    expect(await inbox.seen('c', 'm-1')).toBe(true);
  });

  it('records nothing when the handler throws, so a redelivery runs it again', async () => {
    const inbox = new MemoryInbox();
    const failing = inbox.once('c', 'm-1', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('boom');
    });
    const waiting = inbox.once('c', 'm-1', () => 'second');
    await expect(failing).rejects.toThrow('boom');
    await expect(waiting).resolves.toEqual({ processed: true, result: 'second' });
    await expect(inbox.once('c', 'm-1', () => 'third')).resolves.toEqual({ processed: false });
  });
});
