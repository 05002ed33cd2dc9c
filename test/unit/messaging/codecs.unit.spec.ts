import {
  createDeadLetter,
  deadLetterEnvelope,
  envelopeHeaders,
  jsonCodec,
  msgpackCodec,
  readDeadLetter,
  SerializationError,
  type MessageCodec,
  type MessageEnvelope,
  type MissingDependencyError,
} from 'potter';
import { encodeJsonText } from '../../../src/messaging/codecs';
import type * as Potter from 'potter';

const sample = (overrides: Partial<MessageEnvelope> = {}): MessageEnvelope => ({
  id: '0190b5e2-7c3a-7000-8000-000000000001',
  type: 'OrderPlaced',
  kind: 'event',
  payload: { orderId: 'o-1', lines: [{ sku: 'a', quantity: 2 }], total: 12.5, note: null, unicode: 'é✓' },
  metadata: {
    correlationId: 'c-1',
    causationId: 'c-0',
    timestamp: '2026-01-02T03:04:05.006Z',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    tenantId: 't-1',
    schemaVersion: 3,
    headers: { 'x-a': '1' },
  },
  ...overrides,
});

const codecs: [string, () => MessageCodec][] = [
  ['json', () => jsonCodec],
  ['msgpack', () => msgpackCodec()],
];

describe.each(codecs)('%s codec', (_name, make) => {
  const codec = make();

  it('round-trips an envelope exactly', () => {
    const bytes = codec.encode(sample());
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(codec.decode(bytes, { 'content-type': codec.contentType })).toEqual(sample());
  });

  it('drops unknown fields and fills missing user headers', () => {
    const envelope = sample();
    const extra = {
      ...envelope,
      extra: 'x',
      metadata: { ...envelope.metadata, headers: undefined, more: 1 },
    };
    const decoded = codec.decode(codec.encode(extra as unknown as MessageEnvelope));
    expect(decoded).toEqual({ ...envelope, metadata: { ...envelope.metadata, headers: {} } });
    expect(decoded).not.toHaveProperty('extra');
  });

  it.each([
    ['garbage', Buffer.from([0xc1, 0xff, 0x00, 0x7b])],
    ['an empty body', Buffer.alloc(0)],
  ])('rejects %s with a SerializationError', (_what, bytes) => {
    expect(() => codec.decode(bytes)).toThrow(SerializationError);
    expect(() => codec.decode(bytes)).toThrow(/Cannot decode a \w+ message/);
  });

  it.each<[string, unknown, RegExp]>([
    ['a non-object', [1, 2], /not an object/],
    ['no id', { ...sample(), id: undefined }, /"id"/],
    ['a bad kind', { ...sample(), kind: 'signal' }, /"kind"/],
    ['no payload', { ...sample(), payload: undefined }, /"payload"/],
    ['no metadata', { ...sample(), metadata: undefined }, /"metadata"/],
    [
      'a bad schemaVersion',
      { ...sample(), metadata: { ...sample().metadata, schemaVersion: '1' } },
      /schemaVersion/,
    ],
    [
      'a non-string header',
      { ...sample(), metadata: { ...sample().metadata, headers: { a: 1 } } },
      /headers\["a"\]/,
    ],
    ['a bad traceparent', { ...sample(), metadata: { ...sample().metadata, traceparent: 7 } }, /traceparent/],
  ])('rejects a body with %s, naming the problem', (_what, value, reason) => {
    const bytes =
      codec.name === 'json'
        ? Buffer.from(JSON.stringify(value))
        : // msgpack keeps `undefined`: encode with the codec's own packer through a permissive path
          encodeLoose(codec, value);
    expect(() => codec.decode(bytes)).toThrow(reason);
  });

  it('rejects a message whose content-type names another format', () => {
    const bytes = codec.encode(sample());
    expect(() => codec.decode(bytes, { 'content-type': 'text/plain' })).toThrow(
      /content-type is "text\/plain"/,
    );
  });

  it('refuses to encode an envelope without payload', () => {
    expect(() => codec.encode(sample({ payload: undefined }))).toThrow(SerializationError);
  });
});

/** Encodes any value as the codec would, bypassing the envelope check (for malformed bodies). */
function encodeLoose(codec: MessageCodec, value: unknown): Buffer {
  const { Packr } = jest.requireActual<{ Packr: new (o: object) => { pack(v: unknown): Buffer } }>(
    'msgpackr',
  );
  expect(codec.contentType).toBe('application/msgpack');
  return new Packr({ useRecords: false }).pack(value);
}

describe('codecs', () => {
  it('refuses a JSON body that cannot be stringified', () => {
    expect(() => jsonCodec.encode(sample({ payload: { big: 1n } }))).toThrow(
      /Cannot encode message .* with json/,
    );
  });

  it('msgpack is smaller than JSON and keeps dates', () => {
    const codec = msgpackCodec();
    expect(codec.encode(sample()).length).toBeLessThan(jsonCodec.encode(sample()).length);
    const at = new Date('2026-05-06T07:08:09.010Z');
    expect(codec.decode(codec.encode(sample({ payload: { at } }))).payload).toEqual({ at });
  });

  it('names the package to install when msgpackr is missing', () => {
    jest.isolateModules(() => {
      jest.doMock('msgpackr', () => {
        throw Object.assign(new Error("Cannot find module 'msgpackr'"), { code: 'MODULE_NOT_FOUND' });
      });
      const potter = jest.requireActual<typeof Potter>('potter');
      let thrown: unknown;
      try {
        potter.msgpackCodec();
      } catch (error) {
        thrown = error;
      }
      expect((thrown as MissingDependencyError).code).toBe('POTTER_MISSING_DEPENDENCY');
      expect((thrown as MissingDependencyError).message).toContain('npm i msgpackr');
    });
    jest.dontMock('msgpackr');
  });

  it('builds broker headers from the envelope; Potter’s win over user ones', () => {
    const envelope = sample({
      metadata: { ...sample().metadata, headers: { 'x-a': '1', 'potter-type': 'spoofed' } },
    });
    expect(envelopeHeaders(envelope, jsonCodec, { 'x-b': '2' })).toEqual({
      'x-a': '1',
      'x-b': '2',
      'potter-id': envelope.id,
      'potter-type': 'OrderPlaced',
      'potter-schema-version': '3',
      'potter-kind': 'event',
      'content-type': 'application/json',
      traceparent: envelope.metadata.traceparent,
    });
    const { traceparent: _omitted, ...metadata } = sample().metadata;
    expect(envelopeHeaders({ ...sample(), metadata }, jsonCodec)).not.toHaveProperty('traceparent');
  });
});

describe('dead letters', () => {
  it('round-trip through a codec with the original envelope, or the raw bytes', () => {
    for (const codec of [jsonCodec, msgpackCodec()]) {
      const withEnvelope = createDeadLetter({
        topic: 'orders',
        group: 'billing',
        envelope: sample(),
        headers: { 'x-a': '1' },
        key: 'o-1',
        error: new Error('boom'),
        attempts: 5,
        failedAt: new Date('2026-01-01T00:00:00.000Z'),
      });
      const envelope = deadLetterEnvelope(withEnvelope);
      expect(envelope.metadata).toMatchObject({
        correlationId: 'c-1',
        causationId: sample().id,
        tenantId: 't-1',
      });
      expect(readDeadLetter(codec.decode(codec.encode(envelope)))).toEqual(withEnvelope);

      const raw = createDeadLetter({
        topic: 'orders',
        group: 'billing',
        raw: Buffer.from([1, 2, 3]),
        headers: {},
        key: undefined,
        error: new SerializationError('bad bytes'),
        attempts: 1,
      });
      expect(raw).toMatchObject({
        raw: 'AQID',
        envelope: undefined,
        error: { code: 'POTTER_SERIALIZATION_FAILED' },
      });
      expect(readDeadLetter(codec.decode(codec.encode(deadLetterEnvelope(raw))))).toEqual(raw);
    }
  });

  it('rejects a message that is not a dead letter', () => {
    expect(() => readDeadLetter(sample())).toThrow(/Not a dead letter/);
  });
});

describe('encodeJsonText', () => {
  it("is exactly the JSON codec's bytes, as a string", () => {
    expect(Buffer.from(encodeJsonText(sample()), 'utf8').equals(jsonCodec.encode(sample()))).toBe(true);
  });
});
