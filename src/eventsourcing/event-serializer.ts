import { instanceToPlain } from 'class-transformer';
import { InvalidMessageError, SerializationError } from '../core/errors';
import { SerializerRegistry } from '../core/serializer-registry';
import type { Constructor } from '../core/types';
import { metadataRegistry } from '../metadata/metadata-registry';
import type { NewEvent, RecordedEvent } from './event-store';
import { UpcasterRegistry } from './upcasting';

/**
 * Converts domain event instances to stored events and back: stable type names and schema versions
 * from `@Event`, class instances through class-transformer, upcasting of older payloads on read.
 * Event classes are found in the metadata registry, so any `@Event` class can be read.
 */
export class EventSerializer {
  readonly registry: SerializerRegistry;
  readonly upcasters: UpcasterRegistry;
  #known = 0;

  constructor(options: { registry?: SerializerRegistry; upcasters?: UpcasterRegistry } = {}) {
    this.registry = options.registry ?? new SerializerRegistry();
    this.upcasters = options.upcasters ?? new UpcasterRegistry();
  }

  /** A domain event instance as an event to append. */
  toNewEvent(event: object): NewEvent {
    const record = metadataRegistry.getMessage(event.constructor);
    if (!record || record.kind !== 'event') throw new InvalidMessageError(event, 'event');
    this.#ensure(event.constructor as Constructor, record.typeName, record.schemaVersion);
    return {
      type: record.typeName,
      schemaVersion: record.schemaVersion,
      payload: instanceToPlain(event) as Record<string, unknown>,
    };
  }

  /** A stored event as a domain event instance (upcast to the class's current schema version). */
  toDomainEvent<T extends object = object>(recorded: RecordedEvent): T {
    const registration = this.#lookup(recorded.type);
    if (!registration) {
      throw new SerializationError(
        `Cannot read event ${recorded.id} of stream ${recorded.streamId}: unknown event type "${recorded.type}". Decorate its class with @Event('${recorded.type}') and load it.`,
        { details: { typeName: recorded.type, eventId: recorded.id, streamId: recorded.streamId } },
      );
    }
    let payload = recorded.payload;
    if (recorded.schemaVersion < registration.schemaVersion) {
      payload = this.upcasters.upcast(
        recorded.type,
        payload,
        recorded.schemaVersion,
        registration.schemaVersion,
        recorded.metadata,
      );
    } else if (recorded.schemaVersion > registration.schemaVersion) {
      throw new SerializationError(
        `Event ${recorded.type} v${recorded.schemaVersion} is newer than its class (v${registration.schemaVersion}): deploy the newer code.`,
        {
          details: {
            typeName: recorded.type,
            storedVersion: recorded.schemaVersion,
            classVersion: registration.schemaVersion,
          },
        },
      );
    }
    return this.registry.deserialize<T>(recorded.type, payload);
  }

  #ensure(target: Constructor, typeName: string, schemaVersion: number): void {
    if (!this.registry.lookup(typeName))
      this.registry.register(typeName, target, { kind: 'event', schemaVersion });
  }

  #lookup(typeName: string): { schemaVersion: number } | undefined {
    const found = this.registry.lookup(typeName);
    if (found) return found;
    // Learn event classes decorated since the last look (cheap: only when an unknown name shows up).
    const messages = metadataRegistry.messages();
    if (messages.length !== this.#known) {
      this.#known = messages.length;
      for (const { target, record } of messages) {
        if (record.kind === 'event' && !this.registry.lookup(record.typeName)) {
          this.registry.register(record.typeName, target, {
            kind: 'event',
            schemaVersion: record.schemaVersion,
          });
        }
      }
    }
    return this.registry.lookup(typeName);
  }
}
