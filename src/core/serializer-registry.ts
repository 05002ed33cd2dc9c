import { instanceToPlain, plainToInstance, type ClassConstructor } from 'class-transformer';
import type { MessageKind } from './envelope';
import { ConfigurationError, SerializationError, UnknownMessageTypeError, describeError } from './errors';
import type { Constructor } from './types';

/** A registered message type. */
export interface MessageTypeRegistration<T extends object = object> {
  typeName: string;
  kind: MessageKind;
  target: Constructor<T>;
  schemaVersion: number;
}

/** A message in its wire form: stable type name, schema version and plain JSON payload. */
export interface SerializedMessage {
  type: string;
  schemaVersion: number;
  payload: Record<string, unknown>;
}

/**
 * Maps stable type names to classes. Serialising turns an instance into plain JSON under its
 * type name; deserialising turns plain JSON back into an instance of the registered class
 * (through class-transformer, so `@Type()` nested objects and dates are restored).
 */
export class SerializerRegistry {
  readonly #byName = new Map<string, MessageTypeRegistration>();
  readonly #byClass = new Map<Function, MessageTypeRegistration>();

  /** Registers a class under a stable type name. Re-registering the same pair is a no-op. */
  register<T extends object>(
    typeName: string,
    target: Constructor<T>,
    options: { kind?: MessageKind; schemaVersion?: number } = {},
  ): this {
    const existing = this.#byName.get(typeName);
    if (existing && existing.target !== target) {
      throw new ConfigurationError(
        `Type name "${typeName}" is already registered for ${existing.target.name}; ${target.name} needs another name.`,
        { typeName, classes: [existing.target.name, target.name] },
      );
    }
    const registration: MessageTypeRegistration = {
      typeName,
      kind: options.kind ?? 'event',
      target: target as Constructor,
      schemaVersion: options.schemaVersion ?? 1,
    };
    this.#byName.set(typeName, registration);
    this.#byClass.set(target, registration);
    return this;
  }

  /** The registration for a type name, if any. */
  lookup(typeName: string): MessageTypeRegistration | undefined {
    return this.#byName.get(typeName);
  }

  /** The registration for a class, if any. */
  lookupClass(target: Function): MessageTypeRegistration | undefined {
    return this.#byClass.get(target);
  }

  /** Every registered type name. */
  typeNames(): string[] {
    return [...this.#byName.keys()];
  }

  /** Turns a registered message instance into its wire form. */
  serialize(message: object): SerializedMessage {
    const registration = this.#byClass.get(message.constructor);
    if (!registration) throw new UnknownMessageTypeError(message.constructor.name, this.typeNames());
    try {
      const payload = instanceToPlain(message) as Record<string, unknown>;
      return { type: registration.typeName, schemaVersion: registration.schemaVersion, payload };
    } catch (error) {
      throw new SerializationError(`Cannot serialize ${registration.typeName}: ${describeError(error)}`, {
        cause: error,
        details: { typeName: registration.typeName },
      });
    }
  }

  /** Turns a plain payload into an instance of the class registered under `typeName`. */
  deserialize<T extends object = object>(typeName: string, payload: unknown): T {
    const registration = this.#byName.get(typeName);
    if (!registration) throw new UnknownMessageTypeError(typeName, this.typeNames());
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new SerializationError(
        `Payload of ${typeName} must be a JSON object, got ${Array.isArray(payload) ? 'array' : typeof payload}.`,
        {
          details: { typeName },
        },
      );
    }
    try {
      const target = registration.target as unknown as ClassConstructor<T>;
      // Classes without class-transformer decorators are filled by assignment (what plainToInstance
      // does for them, at a fraction of the cost); the payload is the caller's to give away.
      if (!hasTransformMetadata(target)) return Object.assign(new target(), payload);
      return plainToInstance(target, payload);
    } catch (error) {
      throw new SerializationError(`Cannot deserialize ${typeName}: ${describeError(error)}`, {
        cause: error,
        details: { typeName },
      });
    }
  }

  /** Serialises to a JSON string. */
  toJSON(message: object): string {
    return JSON.stringify(this.serialize(message));
  }

  /** Parses a JSON string produced by {@link SerializerRegistry.toJSON}. */
  fromJSON<T extends object = object>(json: string): T {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new SerializationError(`Invalid JSON: ${describeError(error)}`, { cause: error });
    }
    if (!parsed || typeof parsed !== 'object' || typeof (parsed as SerializedMessage).type !== 'string') {
      throw new SerializationError('A serialized message needs a string "type" and an object "payload".');
    }
    const { type, payload } = parsed as SerializedMessage;
    return this.deserialize<T>(type, payload);
  }
}

/** The parts of class-transformer's metadata storage read by {@link hasTransformMetadata}. */
interface TransformMetadataStorage {
  _typeMetadatas?: Map<Function, unknown>;
  _transformMetadatas?: Map<Function, unknown>;
  _exposeMetadatas?: Map<Function, unknown>;
  _excludeMetadatas?: Map<Function, unknown>;
}

let storage: TransformMetadataStorage | null | undefined;
const transformMetadata = new WeakMap<Function, boolean>();

/**
 * True unless `target` and its base classes certainly carry no class-transformer decorator
 * (`@Type`, `@Transform`, `@Expose`, `@Exclude`). Decided once per class, after its decorators ran.
 * When class-transformer's storage cannot be inspected, answers true (always use plainToInstance).
 */
function hasTransformMetadata(target: Function): boolean {
  const known = transformMetadata.get(target);
  if (known !== undefined) return known;
  if (storage === undefined) {
    try {
      // A deep path without type declarations (class-transformer 0.5 has no exports map).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const loaded = require('class-transformer/cjs/storage') as {
        defaultMetadataStorage: TransformMetadataStorage;
      };
      storage = loaded.defaultMetadataStorage;
    } catch {
      storage = null;
    }
  }
  let result = true;
  const maps = storage && [
    storage._typeMetadatas,
    storage._transformMetadatas,
    storage._exposeMetadatas,
    storage._excludeMetadatas,
  ];
  if (maps && maps.every((map) => map instanceof Map)) {
    result = false;
    for (
      let c: unknown = target;
      typeof c === 'function' && c !== Function.prototype;
      c = Object.getPrototypeOf(c)
    ) {
      if (maps.some((map) => map!.has(c as Function))) result = true;
    }
  }
  transformMetadata.set(target, result);
  return result;
}
