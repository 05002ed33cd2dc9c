/**
 * Where the integration tests find their services: the URL in the environment (as printed by
 * `eval "$(scripts/services/up)"`), else the default that `scripts/services/up` serves.
 * Tests never skip: a missing service fails them with `serviceUnavailable`'s message.
 */
export const DEFAULT_POSTGRES_URL = 'postgres://potter:potter@127.0.0.1:5432/potter';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:9092';

type Service = 'PostgreSQL' | 'Redis' | 'Kafka';

const ENV_VAR: Record<Service, string> = {
  PostgreSQL: 'POTTER_POSTGRES_URL',
  Redis: 'POTTER_REDIS_URL',
  Kafka: 'POTTER_KAFKA_BROKERS',
};

export function postgresUrl(): string {
  return process.env.POTTER_POSTGRES_URL || DEFAULT_POSTGRES_URL;
}

export function redisUrl(): string {
  return process.env.POTTER_REDIS_URL || DEFAULT_REDIS_URL;
}

/** The Kafka bootstrap brokers (`host:port`, comma-separated in `POTTER_KAFKA_BROKERS`). */
export function kafkaBrokers(): string[] {
  return (process.env.POTTER_KAFKA_BROKERS || DEFAULT_KAFKA_BROKERS)
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
}

/** True for 127.0.0.0/8, ::1 and localhost, as written in a URL's host. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The error to throw when a service cannot be reached: says how to start it. */
export function serviceUnavailable(service: Service, url: string, cause: unknown): Error {
  return new Error(
    `${service} is not reachable at ${redact(url)}: ${reasonOf(cause)}\n` +
      'Start the test services with `npm run services:up` (or `bash scripts/services/up`), ' +
      `or set ${ENV_VAR[service]} to a running server.`,
    { cause },
  );
}

function redact(url: string): string {
  if (!url.includes('://')) return url; // a Kafka broker list: no credentials
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

// Duck-typed: errors thrown by Node's own modules come from another realm than Jest's test context,
// so `instanceof Error` is false for them.
function reasonOf(cause: unknown): string {
  if (typeof cause !== 'object' || cause === null) return String(cause);
  const { errors, message, code } = cause as { errors?: unknown; message?: unknown; code?: unknown };
  if (Array.isArray(errors) && errors.length > 0) return reasonOf(errors[0]);
  if (typeof message === 'string' && message !== '') return message;
  return typeof code === 'string' ? code : String(cause);
}
