import { ConfigurationError, type MessageKind } from '../core';
import { MESSAGE } from './keys';
import { metadataRegistry } from './metadata-registry';

/** Options of `@Command`, `@Query` and `@Event`. */
export interface MessageOptions {
  /** Stable type name used by stores and wire formats. @default the class name */
  name?: string;
  /** Version of the payload schema (for upcasting). @default 1 */
  schemaVersion?: number;
  /** Safe to retry: the retry middleware retries it on failure. @default false */
  idempotent?: boolean;
  /** Handling deadline in ms, enforced by the timeout middleware. */
  timeoutMs?: number;
}

function messageDecorator(kind: MessageKind, nameOrOptions?: string | MessageOptions): ClassDecorator {
  const options: MessageOptions =
    typeof nameOrOptions === 'string' ? { name: nameOrOptions } : (nameOrOptions ?? {});
  return (target) => {
    const typeName = options.name ?? target.name;
    if (!typeName) throw new ConfigurationError(`@${kind} needs a name for an anonymous class.`);
    const schemaVersion = options.schemaVersion ?? 1;
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
      throw new ConfigurationError(`schemaVersion of ${typeName} must be an integer >= 1.`, {
        typeName,
        schemaVersion,
      });
    }
    metadataRegistry.set(MESSAGE, target, {
      kind,
      typeName,
      schemaVersion,
      idempotent: options.idempotent ?? false,
      timeoutMs: options.timeoutMs,
    });
  };
}

/** Marks a class as a command, with a stable type name (default: the class name). */
export function Command(nameOrOptions?: string | MessageOptions): ClassDecorator {
  return messageDecorator('command', nameOrOptions);
}

/** Marks a class as a query, with a stable type name (default: the class name). */
export function Query(nameOrOptions?: string | MessageOptions): ClassDecorator {
  return messageDecorator('query', nameOrOptions);
}

/** Marks a class as an event, with a stable type name and schema version. */
export function Event(nameOrOptions?: string | Omit<MessageOptions, 'idempotent'>): ClassDecorator {
  return messageDecorator('event', nameOrOptions);
}
