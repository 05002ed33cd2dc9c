import type * as KafkaJS from 'kafkajs';
import { MissingDependencyError } from '../../core/errors';

/**
 * Loads the `kafkajs` driver on first use, so the Kafka adapter can be imported without it.
 * @internal
 */
export function loadKafkajs(): typeof KafkaJS {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    return require('kafkajs') as typeof KafkaJS;
  } catch (cause) {
    if ((cause as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError('kafkajs', 'The Kafka adapter (KafkaMessageBus)', { cause });
    }
    throw cause;
  }
}
