import {
  CommandBus,
  DuplicateHandlerError,
  type Middleware,
  CommandBusParticipant,
  CommitTwoPhaseParticipant,
  MemoryCoordinatorLog,
  PrepareTwoPhaseParticipant,
  TwoPhaseBadRequestError,
  TwoPhaseCoordinator,
  registerTwoPhaseParticipants,
} from 'potter';
import { DispatchGate } from '../../../src/cqrs/dispatch-gate';
import { FakeParticipant } from '../../contracts/twopc-log.contract';

function setup() {
  const seen: string[] = [];
  const recorder: Middleware = async (_context, next, handler) => {
    seen.push(handler.messageType);
    return next();
  };
  const bus = new CommandBus(new DispatchGate(), { middleware: [recorder] });
  const north = new FakeParticipant('north');
  const south = new FakeParticipant('south');
  registerTwoPhaseParticipants(bus, [north, south]);
  const coordinator = new TwoPhaseCoordinator({
    log: new MemoryCoordinatorLog(),
    participants: [new CommandBusParticipant(bus, 'north'), new CommandBusParticipant(bus, 'south')],
    prepareTimeoutMs: 2_000,
    retry: { initialDelayMs: 1, maxDelayMs: 5, jitter: 'none' },
  });
  return { bus, north, south, coordinator, seen };
}

describe('two-phase participants through the CommandBus', () => {
  it('commits through the three commands, dispatched by participant name, via the middleware', async () => {
    const { north, south, coordinator, seen } = setup();
    const result = await coordinator.execute({ txId: 't1', payload: { qty: 1 } });
    expect(result.outcome).toBe('committed');
    expect(north.calls).toEqual(['prepare t1', 'commit t1']);
    expect(south.calls).toEqual(['prepare t1', 'commit t1']);
    expect(seen.sort()).toEqual([
      'potter.twopc.CommitParticipant',
      'potter.twopc.CommitParticipant',
      'potter.twopc.PrepareParticipant',
      'potter.twopc.PrepareParticipant',
    ]);
  });

  it('aborts when a handler votes no, and re-sends a failing commit', async () => {
    const { north, south, coordinator } = setup();
    south.vote = 'no';
    const aborted = await coordinator.execute({ txId: 't2' });
    expect(aborted.outcome).toBe('aborted');
    expect(aborted.votes[1]).toMatchObject({ vote: 'no', error: { message: 'south refuses t2' } });
    expect(north.states.get('t2')).toBe('rolled-back');

    south.vote = 'yes';
    south.failCommits = 2;
    await expect(coordinator.execute({ txId: 't3' })).resolves.toMatchObject({ outcome: 'committed' });
    expect(south.states.get('t3')).toBe('committed');
    expect(south.calls.filter((c) => c === 'commit t3').length).toBe(3);
  });

  it('rejects a command for an unknown participant and a second registration', async () => {
    const { bus } = setup();
    await expect(bus.execute(new CommitTwoPhaseParticipant('west', 't'))).rejects.toBeInstanceOf(
      TwoPhaseBadRequestError,
    );
    await expect(bus.execute(new PrepareTwoPhaseParticipant('west', 't', {}))).rejects.toThrow('"west"');
    expect(() => registerTwoPhaseParticipants(bus, [new FakeParticipant('west')])).toThrow(
      DuplicateHandlerError,
    );
  });
});
