import {
  TwoPhaseConflictError,
  TwoPhaseCoordinator,
  TwoPhaseTransactionNotFoundError,
  type CoordinatorLog,
  type TwoPhaseLease,
  type TwoPhaseParticipant,
} from '../../src/twopc';

/** What a CoordinatorLog adapter gives the contract suite. */
export interface CoordinatorLogFixture {
  log: CoordinatorLog;
  /**
   * `count` logs on the same data, each with its own connection(s) where the backend has them (for
   * concurrent claims); the in-memory log returns the same log.
   */
  others(count: number): Promise<CoordinatorLog[]>;
  /** Lets `ms` pass on the log's clock: the in-memory log's clock is advanced, SQL logs sleep. */
  elapse(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** A lease that outlives any test. */
export const LIVE_MS = 60_000;
/** A lease that `elapse(EXPIRY_WAIT_MS)` ends. */
export const SHORT_MS = 300;
export const EXPIRY_WAIT_MS = 450;

export const lease = (owner: string, leaseMs = LIVE_MS): TwoPhaseLease => ({ owner, leaseMs });

/** What a participant holds for a transaction. */
export type ParticipantState = 'prepared' | 'committed' | 'rolled-back';

/**
 * An in-memory participant following the protocol: it records its prepared state, commits or rolls
 * back idempotently, remembers a rollback of an unknown transaction (a late prepare then votes no),
 * and records every protocol violation (a commit of what it never prepared, a commit after a
 * rollback, a rollback after a commit) in `violations`.
 */
export class FakeParticipant implements TwoPhaseParticipant {
  readonly states = new Map<string, ParticipantState>();
  readonly calls: string[] = [];
  readonly violations: string[] = [];
  /** How this participant votes: `hang` never answers (until the signal aborts). */
  vote: 'yes' | 'no' | 'hang' = 'yes';
  /** How many of the next commit calls fail before one succeeds. */
  failCommits = 0;
  /** How many of the next rollback calls fail before one succeeds. */
  failRollbacks = 0;

  constructor(readonly name: string) {}

  async prepare(txId: string, _payload: unknown, signal: AbortSignal): Promise<void> {
    this.calls.push(`prepare ${txId}`);
    if (this.vote === 'hang') {
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
    await Promise.resolve();
    if (this.vote === 'no') throw new Error(`${this.name} refuses ${txId}`);
    if (this.states.get(txId) === 'rolled-back') throw new Error(`${txId} was rolled back already`);
    if (this.states.get(txId) === 'committed') return;
    this.states.set(txId, 'prepared');
  }

  async commit(txId: string): Promise<void> {
    this.calls.push(`commit ${txId}`);
    await Promise.resolve();
    if (this.failCommits > 0) {
      this.failCommits--;
      throw new Error(`${this.name} is unreachable`);
    }
    const state = this.states.get(txId);
    if (state === 'committed') return;
    if (state !== 'prepared') this.violations.push(`commit of ${txId} in state ${state ?? 'unknown'}`);
    this.states.set(txId, 'committed');
  }

  async rollback(txId: string): Promise<void> {
    this.calls.push(`rollback ${txId}`);
    await Promise.resolve();
    if (this.failRollbacks > 0) {
      this.failRollbacks--;
      throw new Error(`${this.name} is unreachable`);
    }
    if (this.states.get(txId) === 'committed') {
      this.violations.push(`rollback of committed ${txId}`);
      return;
    }
    this.states.set(txId, 'rolled-back');
  }
}

let counter = 0;
/** A transaction id unique in the run. */
export const txId = (): string => `tx-${process.pid}-${++counter}`;

/** The behaviour every CoordinatorLog adapter must have. */
export function describeCoordinatorLogContract(
  name: string,
  factory: () => Promise<CoordinatorLogFixture>,
): void {
  describe(`CoordinatorLog contract: ${name}`, () => {
    let fixture: CoordinatorLogFixture;
    let log: CoordinatorLog;
    beforeEach(async () => {
      fixture = await factory();
      log = fixture.log;
    });
    afterEach(() => fixture.cleanup());

    describe('begin, get and outcome', () => {
      it('records the transaction, undecided, held by its owner', async () => {
        const id = txId();
        await log.begin(id, ['stock', 'payment'], lease('a'));
        const record = await log.get(id);
        expect(record).toEqual({
          txId: id,
          participants: ['stock', 'payment'],
          done: [],
          completed: false,
          owner: 'a',
          begunAt: expect.any(Number) as number,
          ageMs: expect.any(Number) as number,
        });
        expect(record!.ageMs).toBeGreaterThanOrEqual(0);
        expect(record!.ageMs).toBeLessThan(10_000);
        await expect(log.outcome(id)).resolves.toBe('undecided');
      });

      it('presumes abort for a transaction it does not know', async () => {
        await expect(log.outcome('never-begun')).resolves.toBe('abort');
        await expect(log.get('never-begun')).resolves.toBeUndefined();
      });

      it('refuses a taken id (TwoPhaseConflictError) and keeps the first transaction', async () => {
        const id = txId();
        await log.begin(id, ['a'], lease('first'));
        const error: unknown = await log.begin(id, ['b'], lease('second')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TwoPhaseConflictError);
        expect(error).toMatchObject({ code: 'POTTER_TWOPC_CONFLICT', details: { txId: id } });
        await expect(log.get(id)).resolves.toMatchObject({ participants: ['a'], owner: 'first' });
      });

      it('lets the age grow with the log clock', async () => {
        const id = txId();
        await log.begin(id, ['a'], lease('a'));
        const before = (await log.get(id))!.ageMs;
        await fixture.elapse(EXPIRY_WAIT_MS);
        expect((await log.get(id))!.ageMs).toBeGreaterThanOrEqual(before + EXPIRY_WAIT_MS - 5);
      });
    });

    describe('decide', () => {
      it('keeps the first decision: a later one resolves to it', async () => {
        const committed = txId();
        const aborted = txId();
        await log.begin(committed, ['a'], lease('a'));
        await log.begin(aborted, ['a'], lease('a'));
        await expect(log.decide(committed, 'commit')).resolves.toBe('commit');
        await expect(log.decide(committed, 'abort')).resolves.toBe('commit');
        await expect(log.decide(aborted, 'abort')).resolves.toBe('abort');
        await expect(log.decide(aborted, 'commit')).resolves.toBe('abort');
        await expect(log.outcome(committed)).resolves.toBe('commit');
        await expect(log.outcome(aborted)).resolves.toBe('abort');
        await expect(log.get(committed)).resolves.toMatchObject({ decision: 'commit' });
      });

      it('gives concurrent deciders one and the same answer', async () => {
        for (let round = 0; round < 10; round++) {
          const id = txId();
          await log.begin(id, ['a'], lease('a'));
          const answers = await Promise.all(
            Array.from({ length: 8 }, (_, i) => log.decide(id, i % 2 === 0 ? 'commit' : 'abort')),
          );
          expect(new Set(answers).size).toBe(1);
          await expect(log.outcome(id)).resolves.toBe(answers[0]);
        }
      });
    });

    describe('markDone and complete', () => {
      it('records confirmations once each, also when they arrive together', async () => {
        const id = txId();
        const names = Array.from({ length: 8 }, (_, i) => `p${i}`);
        await log.begin(id, names, lease('a'));
        await log.decide(id, 'commit');
        await Promise.all([...names, ...names].map((n) => log.markDone(id, n)));
        const done = (await log.get(id))!.done;
        expect([...done].sort()).toEqual(names);
      });

      it('keeps a completed transaction (its outcome) but not among the unfinished ones', async () => {
        const id = txId();
        const other = txId();
        await log.begin(id, ['a'], lease('a'));
        await log.begin(other, ['a'], lease('a'));
        await log.decide(id, 'commit');
        await log.markDone(id, 'a');
        await log.complete(id);
        await log.complete(id);
        await expect(log.outcome(id)).resolves.toBe('commit');
        await expect(log.get(id)).resolves.toMatchObject({
          completed: true,
          done: ['a'],
          decision: 'commit',
        });
        expect((await log.unfinished()).map((r) => r.txId)).toEqual([other]);
        await fixture.elapse(EXPIRY_WAIT_MS);
        expect((await log.claim(lease('b'), 10)).map((r) => r.txId)).toEqual([]);
      });

      it('throws TwoPhaseTransactionNotFoundError for writes to an unknown transaction', async () => {
        for (const write of [
          () => log.decide('unknown-tx', 'abort'),
          () => log.markDone('unknown-tx', 'a'),
          () => log.complete('unknown-tx'),
          () => log.renew('unknown-tx', lease('a')),
        ]) {
          const error: unknown = await write().catch((e: unknown) => e);
          expect(error).toBeInstanceOf(TwoPhaseTransactionNotFoundError);
          expect(error).toMatchObject({ code: 'POTTER_TWOPC_NOT_FOUND', details: { txId: 'unknown-tx' } });
        }
      });
    });

    describe('unfinished, claim and renew', () => {
      it('lists the unfinished transactions oldest first, with their decision and confirmations', async () => {
        const first = txId();
        const second = txId();
        await log.begin(first, ['a', 'b'], lease('a'));
        await fixture.elapse(5);
        await log.begin(second, ['c'], lease('a'));
        await log.decide(first, 'commit');
        await log.markDone(first, 'b');
        const unfinished = await log.unfinished();
        expect(unfinished.map((r) => r.txId)).toEqual([first, second]);
        expect(unfinished[0]).toMatchObject({ decision: 'commit', done: ['b'], participants: ['a', 'b'] });
        expect(unfinished[1]!.decision).toBeUndefined();
      });

      it('gives only transactions whose lease expired, to one claimer, oldest first and up to the limit', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const id = txId();
          ids.push(id);
          await log.begin(id, ['a'], lease('dead', SHORT_MS));
          await fixture.elapse(5);
        }
        const live = txId();
        await log.begin(live, ['a'], lease('alive'));
        await expect(log.claim(lease('b'), 10)).resolves.toEqual([]);
        await fixture.elapse(EXPIRY_WAIT_MS);
        const claimed = await log.claim(lease('b'), 2);
        expect(claimed.map((r) => r.txId)).toEqual(ids.slice(0, 2));
        expect(claimed.every((r) => r.owner === 'b')).toBe(true);
        expect((await log.claim(lease('c'), 10)).map((r) => r.txId)).toEqual([ids[2]]);
        await expect(log.claim(lease('d'), 10)).resolves.toEqual([]);
        await expect(log.get(live)).resolves.toMatchObject({ owner: 'alive' });
      });

      it('renews the owner’s lease, refuses another owner while it runs, and lets one take over after it', async () => {
        const id = txId();
        await log.begin(id, ['a'], lease('a', SHORT_MS));
        await expect(log.renew(id, lease('a', EXPIRY_WAIT_MS * 2))).resolves.toBe(true);
        await expect(log.renew(id, lease('b'))).resolves.toBe(false);
        await fixture.elapse(EXPIRY_WAIT_MS);
        // The first lease would have ended; the renewed one still runs.
        await expect(log.claim(lease('b'), 10)).resolves.toEqual([]);
        await fixture.elapse(EXPIRY_WAIT_MS * 2);
        await expect(log.renew(id, lease('b'))).resolves.toBe(true);
        await expect(log.get(id)).resolves.toMatchObject({ owner: 'b' });
        await log.complete(id);
        await expect(log.renew(id, lease('b'))).resolves.toBe(false);
      });

      it('gives each of 60 expired transactions to exactly one of 6 concurrent claimers', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 60; i++) {
          const id = txId();
          ids.push(id);
          await log.begin(id, ['a'], lease('dead', SHORT_MS));
        }
        await fixture.elapse(EXPIRY_WAIT_MS);
        const logs = await fixture.others(6);
        const results = await Promise.all(
          logs.map(async (other, i) => {
            const got: string[] = [];
            for (;;) {
              const claimed = await other.claim(lease(`claimer-${i}`), 4);
              if (claimed.length === 0) return got;
              got.push(...claimed.map((r) => r.txId));
            }
          }),
        );
        const all = results.flat();
        expect(all).toHaveLength(60);
        expect(new Set(all)).toEqual(new Set(ids));
      });
    });

    describe('with a coordinator', () => {
      it('commits through the log and leaves it completed', async () => {
        const a = new FakeParticipant('a');
        const b = new FakeParticipant('b');
        const coordinator = new TwoPhaseCoordinator({ log, participants: [a, b], owner: 'c1' });
        const result = await coordinator.execute({ payload: { sku: 'X' } });
        expect(result.outcome).toBe('committed');
        expect(a.states.get(result.txId)).toBe('committed');
        expect(b.states.get(result.txId)).toBe('committed');
        await expect(log.get(result.txId)).resolves.toMatchObject({
          decision: 'commit',
          completed: true,
          participants: ['a', 'b'],
        });
        expect([...(await log.get(result.txId))!.done].sort()).toEqual(['a', 'b']);
        await expect(log.unfinished()).resolves.toEqual([]);
      });

      it('lets concurrent coordinators recover each crashed transaction once', async () => {
        const a = new FakeParticipant('a');
        const b = new FakeParticipant('b');
        const committed: string[] = [];
        const undecided: string[] = [];
        for (let i = 0; i < 10; i++) {
          // A coordinator that decided commit and crashed before sending it.
          const c = txId();
          await log.begin(c, ['a', 'b'], lease('crashed', SHORT_MS));
          for (const p of [a, b]) await p.prepare(c, undefined, new AbortController().signal);
          await log.decide(c, 'commit');
          committed.push(c);
          // One that crashed before deciding.
          const u = txId();
          await log.begin(u, ['a', 'b'], lease('crashed', SHORT_MS));
          await a.prepare(u, undefined, new AbortController().signal);
          undecided.push(u);
        }
        await fixture.elapse(EXPIRY_WAIT_MS);
        const logs = await fixture.others(3);
        const results = await Promise.all(
          logs.map((other, i) =>
            new TwoPhaseCoordinator({ log: other, owner: `recoverer-${i}`, recoveryBatchSize: 3 }).recover([
              a,
              b,
            ]),
          ),
        );
        const recovered = results.flatMap((r) => r.recovered);
        expect(results.flatMap((r) => r.skipped)).toEqual([]);
        expect(recovered).toHaveLength(20);
        expect(new Set(recovered.map((r) => r.txId)).size).toBe(20);
        for (const id of committed) {
          expect([a.states.get(id), b.states.get(id)]).toEqual(['committed', 'committed']);
          expect(recovered.find((r) => r.txId === id)!.outcome).toBe('committed');
        }
        for (const id of undecided) {
          expect([a.states.get(id), b.states.get(id)]).toEqual(['rolled-back', 'rolled-back']);
          await expect(log.outcome(id)).resolves.toBe('abort');
        }
        // Each transaction was driven by one coordinator: one commit or rollback per participant.
        for (const id of [...committed, ...undecided]) {
          expect(a.calls.filter((c) => c === `commit ${id}` || c === `rollback ${id}`)).toHaveLength(1);
        }
        expect([...a.violations, ...b.violations]).toEqual([]);
        await expect(log.unfinished()).resolves.toEqual([]);
      });
    });
  });
}
