import fc from 'fast-check';
import { ManualClock } from '../../../src/testing/manual-clock';
import {
  MemoryCoordinatorLog,
  TwoPhaseCoordinator,
  type CoordinatorLog,
  type TwoPhaseDecision,
  type TwoPhaseLease,
  type TwoPhaseLogOutcome,
  type TwoPhaseRecord,
} from '../../../src/twopc';
import { FakeParticipant } from '../../contracts/twopc-log.contract';

class Crash extends Error {}

/**
 * A log through which a coordinator "dies" after `budget` writes: the write that exceeds the budget
 * and every later call fail, as if the process had stopped (the writes before are durable).
 */
class CrashingLog implements CoordinatorLog {
  #writes = 0;
  #crashed = false;
  constructor(
    readonly inner: CoordinatorLog,
    readonly budget: number,
  ) {}

  get crashed(): boolean {
    return this.#crashed;
  }

  #write(): void {
    this.#read();
    if (++this.#writes > this.budget) {
      this.#crashed = true;
      throw new Crash('coordinator crashed');
    }
  }

  #read(): void {
    if (this.#crashed) throw new Crash('coordinator is dead');
  }

  async begin(txId: string, participants: readonly string[], lease: TwoPhaseLease): Promise<void> {
    this.#write();
    return this.inner.begin(txId, participants, lease);
  }
  async decide(txId: string, decision: TwoPhaseDecision): Promise<TwoPhaseDecision> {
    this.#write();
    return this.inner.decide(txId, decision);
  }
  async markDone(txId: string, participant: string): Promise<void> {
    this.#write();
    return this.inner.markDone(txId, participant);
  }
  async complete(txId: string): Promise<void> {
    this.#write();
    return this.inner.complete(txId);
  }
  async renew(txId: string, lease: TwoPhaseLease): Promise<boolean> {
    this.#write();
    return this.inner.renew(txId, lease);
  }
  async outcome(txId: string): Promise<TwoPhaseLogOutcome> {
    this.#read();
    return this.inner.outcome(txId);
  }
  async get(txId: string): Promise<TwoPhaseRecord | undefined> {
    this.#read();
    return this.inner.get(txId);
  }
  async unfinished(): Promise<TwoPhaseRecord[]> {
    this.#read();
    return this.inner.unfinished();
  }
  async claim(lease: TwoPhaseLease, limit: number): Promise<TwoPhaseRecord[]> {
    this.#read();
    return this.inner.claim(lease, limit);
  }
}

const LEASE_MS = 5_000;

const participantPlan = fc.record({
  vote: fc.constantFrom<'yes' | 'no'>('yes', 'yes', 'yes', 'no'),
  failCommits: fc.nat(3),
  failRollbacks: fc.nat(3),
});

const transactionPlan = fc.record({
  participants: fc.array(participantPlan, { minLength: 4, maxLength: 4 }),
  /** How many of the 4 participants take part. */
  size: fc.integer({ min: 1, max: 4 }),
  /** Log writes the first coordinator makes before it dies (undefined: it does not die). */
  crashAfter: fc.option(fc.nat(12), { nil: undefined }),
  /** Whether the recovering coordinator also dies once, after this many writes. */
  recoveryCrashAfter: fc.option(fc.nat(6), { nil: undefined }),
});

describe('two-phase commit atomicity under coordinator crashes', () => {
  it('leaves every transaction committed on all its participants or rolled back on all, never mixed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(transactionPlan, { minLength: 1, maxLength: 5 }), async (plans) => {
        const clock = new ManualClock(1_700_000_000_000);
        const log = new MemoryCoordinatorLog({ clock });
        const participants = ['p0', 'p1', 'p2', 'p3'].map((name) => new FakeParticipant(name));
        let generation = 0;
        const coordinator = (on: CoordinatorLog): TwoPhaseCoordinator =>
          new TwoPhaseCoordinator({
            log: on,
            owner: `c${++generation}`,
            prepareTimeoutMs: 1_000,
            leaseMs: LEASE_MS,
            retry: { initialDelayMs: 0, maxDelayMs: 0, jitter: 'none' },
          });

        for (const [index, plan] of plans.entries()) {
          const txId = `tx-${index}`;
          const involved = participants.slice(0, plan.size);
          involved.forEach((p, i) => Object.assign(p, plan.participants[i]));
          const first = new CrashingLog(log, plan.crashAfter ?? Number.POSITIVE_INFINITY);
          const result = await coordinator(first)
            .execute({ txId, participants: involved })
            .catch((error: unknown) => error);
          if (result instanceof Error) {
            // Only the simulated crash may stop it.
            expect(result).toBeInstanceOf(Crash);
            clock.advance(LEASE_MS);
            if (plan.recoveryCrashAfter !== undefined) {
              const recovering = new CrashingLog(log, plan.recoveryCrashAfter);
              await coordinator(recovering)
                .recover(participants)
                .catch((error: unknown) => expect(error).toBeInstanceOf(Crash));
              clock.advance(LEASE_MS);
            }
            await coordinator(log).recover(participants);
          } else {
            expect(first.crashed).toBe(false);
            const allYes = plan.participants.slice(0, plan.size).every((p) => p.vote === 'yes');
            expect(result).toMatchObject({ txId, outcome: allYes ? 'committed' : 'aborted' });
          }
          await expect(log.unfinished()).resolves.toEqual([]);
          const states = new Set(involved.map((p) => p.states.get(txId)));
          expect(states.size).toBe(1);
          const [state] = [...states];
          const decision = await log.outcome(txId);
          if (state === 'committed') {
            expect(decision).toBe('commit');
            expect(plan.participants.slice(0, plan.size).every((p) => p.vote === 'yes')).toBe(true);
          } else {
            expect(decision).toBe('abort');
            // Never begun (the crash hit `begin`): nobody heard of it. Otherwise all rolled back.
            expect(
              state === 'rolled-back' || (state === undefined && (await log.get(txId)) === undefined),
            ).toBe(true);
          }
          for (const p of participants) p.failCommits = p.failRollbacks = 0;
        }

        for (const p of participants) expect(p.violations).toEqual([]);
        // Every participant committed exactly the transactions it took part in that committed.
        const committed = (p: FakeParticipant): string[] =>
          [...p.states].filter(([, s]) => s === 'committed').map(([id]) => id);
        const all = new Set(participants.flatMap(committed));
        for (const p of participants) {
          const expected = [...all].filter(
            (id) => plans[Number(id.slice(3))]!.size > participants.indexOf(p),
          );
          expect(committed(p)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});
