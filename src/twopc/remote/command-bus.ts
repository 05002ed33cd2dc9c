import type { MessageContext } from '../../core/message-context';
import { ConfigurationError } from '../../core/errors';
import type { CommandBus } from '../../cqrs/command-bus';
import type { HandlerEntry } from '../../cqrs/handler-descriptor';
import { Command } from '../../metadata/message.decorators';
import { metadataRegistry } from '../../metadata/metadata-registry';
import type { TwoPhaseParticipant } from '../types';
import { TwoPhaseBadRequestError } from './errors';

/**
 * Phase 1 for the participant `participant` of transaction `txId`, as a command. Not marked
 * idempotent, so the retry middleware does not repeat a *no* vote within the prepare timeout.
 */
@Command({ name: 'potter.twopc.PrepareParticipant' })
export class PrepareTwoPhaseParticipant {
  constructor(
    readonly participant: string,
    readonly txId: string,
    readonly payload: unknown,
  ) {}
}

/** Phase 2 (commit) for the participant `participant` of transaction `txId`, as a command (idempotent). */
@Command({ name: 'potter.twopc.CommitParticipant', idempotent: true })
export class CommitTwoPhaseParticipant {
  constructor(
    readonly participant: string,
    readonly txId: string,
  ) {}
}

/** Phase 2 (rollback) for the participant `participant` of transaction `txId`, as a command (idempotent). */
@Command({ name: 'potter.twopc.RollbackParticipant', idempotent: true })
export class RollbackTwoPhaseParticipant {
  constructor(
    readonly participant: string,
    readonly txId: string,
  ) {}
}

/**
 * A participant reached through the `CommandBus`: each call executes
 * {@link PrepareTwoPhaseParticipant}, {@link CommitTwoPhaseParticipant} or
 * {@link RollbackTwoPhaseParticipant} for `name`, through the bus's middleware (retry, timeout,
 * tracing, logging). Whatever handles those commands — {@link registerTwoPhaseParticipants} for
 * local participants, or a handler of yours that forwards them to another service — answers.
 * The coordinator's prepare signal cannot travel through the bus: the coordinator's own timeout
 * counts a late vote as a no, and a `timeoutMs` on the commands (middleware) bounds the handler.
 */
export class CommandBusParticipant implements TwoPhaseParticipant {
  constructor(
    private readonly commandBus: CommandBus,
    readonly name: string,
  ) {
    if (typeof name !== 'string' || name === '') {
      throw new ConfigurationError('A two-phase participant needs a non-empty name.', { name });
    }
  }

  /** Executes {@link PrepareTwoPhaseParticipant}: resolves on a yes, rejects (the handler's error) on a no. */
  async prepare(txId: string, payload: unknown): Promise<void> {
    await this.commandBus.execute(new PrepareTwoPhaseParticipant(this.name, txId, payload));
  }

  /** Executes {@link CommitTwoPhaseParticipant}. */
  async commit(txId: string): Promise<void> {
    await this.commandBus.execute(new CommitTwoPhaseParticipant(this.name, txId));
  }

  /** Executes {@link RollbackTwoPhaseParticipant}. */
  async rollback(txId: string): Promise<void> {
    await this.commandBus.execute(new RollbackTwoPhaseParticipant(this.name, txId));
  }
}

/**
 * Registers the handlers of the three participant commands on `commandBus`, dispatching by
 * participant name to `participants`; a command for another name fails with
 * `TwoPhaseBadRequestError`. A command class has one handler per bus, so register every local
 * participant in one call (a second call raises `DuplicateHandlerError`). `prepare` gets the
 * command's signal (aborted by the timeout middleware) or one that never aborts.
 */
export function registerTwoPhaseParticipants(
  commandBus: CommandBus,
  participants: readonly TwoPhaseParticipant[],
): void {
  const byName = new Map<string, TwoPhaseParticipant>();
  for (const participant of participants) {
    if (byName.has(participant.name)) {
      throw new ConfigurationError(`Two participants are named "${participant.name}".`, {
        participant: participant.name,
      });
    }
    byName.set(participant.name, participant);
  }
  const find = (command: { participant: unknown }): TwoPhaseParticipant => {
    const participant = typeof command.participant === 'string' ? byName.get(command.participant) : undefined;
    if (participant === undefined) {
      throw new TwoPhaseBadRequestError(`no local participant is named "${String(command.participant)}"`);
    }
    return participant;
  };
  const never = new AbortController().signal;
  commandBus.register(
    PrepareTwoPhaseParticipant,
    entry(PrepareTwoPhaseParticipant, 'prepare', (command: PrepareTwoPhaseParticipant, context) =>
      find(command).prepare(command.txId, command.payload, context.signal ?? never),
    ),
  );
  commandBus.register(
    CommitTwoPhaseParticipant,
    entry(CommitTwoPhaseParticipant, 'commit', (command: CommitTwoPhaseParticipant) =>
      find(command).commit(command.txId),
    ),
  );
  commandBus.register(
    RollbackTwoPhaseParticipant,
    entry(RollbackTwoPhaseParticipant, 'rollback', (command: RollbackTwoPhaseParticipant) =>
      find(command).rollback(command.txId),
    ),
  );
}

function entry<C extends object>(
  commandClass: new (...args: never[]) => C,
  method: string,
  invoke: (command: C, context: MessageContext) => Promise<void>,
): HandlerEntry {
  const record = metadataRegistry.getMessage(commandClass)!;
  return {
    kind: 'command',
    messageClass: commandClass,
    messageType: record.typeName,
    schemaVersion: record.schemaVersion,
    handlerName: `TwoPhaseParticipants.${method}`,
    idempotent: record.idempotent,
    timeoutMs: record.timeoutMs,
    retry: undefined,
    acceptsContext: true,
    invoke: (message, context) => invoke(message as C, context),
  };
}
