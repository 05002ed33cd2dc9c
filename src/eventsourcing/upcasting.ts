import type { MessageMetadata } from '../core/envelope';
import { ConfigurationError, SerializationError, describeError } from '../core/errors';

/** Turns a stored payload of `type` at `fromVersion` into the payload of version `fromVersion + 1`. */
export interface Upcaster {
  type: string;
  fromVersion: number;
  upcast(payload: Record<string, unknown>, metadata: MessageMetadata): Record<string, unknown>;
}

/**
 * Registered upcasters, chained on read: a v1 payload of an event whose class is now at v3 goes
 * through the v1→v2 and v2→v3 upcasters.
 */
export class UpcasterRegistry {
  readonly #byKey = new Map<string, Upcaster>();

  /** Registers an upcaster; one per type and source version. */
  register(...upcasters: Upcaster[]): this {
    for (const upcaster of upcasters) {
      if (!Number.isInteger(upcaster.fromVersion) || upcaster.fromVersion < 1) {
        throw new ConfigurationError('An upcaster needs an integer fromVersion >= 1.', {
          type: upcaster.type,
        });
      }
      const key = `${upcaster.type}@${upcaster.fromVersion}`;
      if (this.#byKey.has(key)) {
        throw new ConfigurationError(`Two upcasters for ${upcaster.type} v${upcaster.fromVersion}.`, {
          type: upcaster.type,
        });
      }
      this.#byKey.set(key, upcaster);
    }
    return this;
  }

  /**
   * Upcasts a payload from `fromVersion` to `toVersion`. A missing step or an upcaster that throws
   * raises `SerializationError` naming the type and version.
   */
  upcast(
    type: string,
    payload: Record<string, unknown>,
    fromVersion: number,
    toVersion: number,
    metadata: MessageMetadata,
  ): Record<string, unknown> {
    let current = payload;
    for (let version = fromVersion; version < toVersion; version++) {
      const upcaster = this.#byKey.get(`${type}@${version}`);
      if (!upcaster) {
        throw new SerializationError(
          `No upcaster for ${type} from v${version} (stored v${fromVersion}, current v${toVersion}).`,
          {
            details: { typeName: type, fromVersion: version, toVersion },
          },
        );
      }
      try {
        current = upcaster.upcast(current, metadata);
      } catch (error) {
        throw new SerializationError(`Upcasting ${type} from v${version} failed: ${describeError(error)}`, {
          cause: error,
          details: { typeName: type, fromVersion: version, toVersion },
        });
      }
    }
    return current;
  }
}

/** Declares an upcaster (sugar for an object literal with the right type). */
export function defineUpcaster(
  type: string,
  fromVersion: number,
  upcast: (payload: Record<string, unknown>, metadata: MessageMetadata) => Record<string, unknown>,
): Upcaster {
  return { type, fromVersion, upcast };
}
