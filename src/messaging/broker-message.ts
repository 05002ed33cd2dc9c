import type { MessageEnvelope } from '../core/envelope';
import { envelopeHeaders, type MessageCodec } from './codecs';
import type { BrokerMessage } from './message-bus';

/**
 * The {@link BrokerMessage} a broker adapter hands to a handler. Its `headers` are the headers
 * stored on the broker plus those derived from the decoded envelope (`potter-id`, `potter-type`,
 * `potter-schema-version`, `potter-kind`, `content-type`, `traceparent` and the envelope's own
 * headers, see {@link envelopeHeaders}); they are built on first read, as most handlers never
 * look at them, and derive from the envelope as decoded, whatever a handler does to `envelope`.
 * @internal
 */
export class DecodedBrokerMessage implements BrokerMessage {
  envelope: MessageEnvelope<Record<string, unknown>>;
  topic: string;
  key: string | undefined;
  attempt: number;
  brokerId: string;
  readonly #decoded: MessageEnvelope;
  readonly #stored: Readonly<Record<string, string>>;
  readonly #codec: MessageCodec;
  #headers: Record<string, string> | undefined;

  constructor(
    envelope: MessageEnvelope,
    topic: string,
    key: string | undefined,
    stored: Readonly<Record<string, string>>,
    codec: MessageCodec,
    attempt: number,
    brokerId: string,
  ) {
    this.envelope = envelope as MessageEnvelope<Record<string, unknown>>;
    this.#decoded = envelope;
    this.topic = topic;
    this.key = key;
    this.attempt = attempt;
    this.brokerId = brokerId;
    this.#stored = stored;
    this.#codec = codec;
  }

  get headers(): Record<string, string> {
    return (this.#headers ??= envelopeHeaders(this.#decoded, this.#codec, this.#stored));
  }

  set headers(headers: Record<string, string>) {
    this.#headers = headers;
  }
}
