import { Type } from 'class-transformer';
import fc from 'fast-check';
import { ConfigurationError, SerializationError, SerializerRegistry, UnknownMessageTypeError } from 'potter';

class Address {
  constructor(
    readonly street: string,
    readonly city: string,
  ) {}
  label(): string {
    return `${this.street}, ${this.city}`;
  }
}

class CustomerRegistered {
  readonly customerId!: string;
  @Type(() => Address) readonly address!: Address;
  @Type(() => Date) readonly at!: Date;
  readonly tags!: string[];
}

describe('SerializerRegistry', () => {
  const registry = new SerializerRegistry().register('customer.registered', CustomerRegistered, {
    schemaVersion: 2,
  });

  it('round-trips plain JSON into class instances, nested objects and dates included', () => {
    const json = JSON.stringify({
      type: 'customer.registered',
      schemaVersion: 2,
      payload: {
        customerId: 'c1',
        address: { street: 'Main 1', city: 'Oslo' },
        at: '2026-01-02T03:04:05.000Z',
        tags: ['a'],
      },
    });
    const event = registry.fromJSON<CustomerRegistered>(json);
    expect(event).toBeInstanceOf(CustomerRegistered);
    expect(event.address).toBeInstanceOf(Address);
    expect(event.address.label()).toBe('Main 1, Oslo');
    expect(event.at).toBeInstanceOf(Date);
    expect(event.at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    const wire = registry.serialize(event);
    expect(wire).toEqual({
      type: 'customer.registered',
      schemaVersion: 2,
      payload: {
        customerId: 'c1',
        address: { street: 'Main 1', city: 'Oslo' },
        at: new Date('2026-01-02T03:04:05.000Z'),
        tags: ['a'],
      },
    });
  });

  it('fills undecorated classes by assignment, and classes inheriting decorators through class-transformer', () => {
    class Plain {
      readonly id!: string;
      readonly nested!: { n: number };
      greet(): string {
        return `hi ${this.id}`;
      }
    }
    class Derived extends CustomerRegistered {
      readonly extra!: string;
    }
    const local = new SerializerRegistry().register('plain', Plain).register('derived', Derived);
    const plain = local.deserialize<Plain>('plain', { id: 'p-1', nested: { n: 1 } });
    expect(plain).toBeInstanceOf(Plain);
    expect(plain.greet()).toBe('hi p-1');
    expect(plain.nested).toEqual({ n: 1 });
    // Decorators of a base class still apply: the nested value becomes an Address, the date a Date.
    const derived = local.deserialize<Derived>('derived', {
      customerId: 'c',
      address: { street: 's', city: 'c' },
      at: '2026-01-01T00:00:00.000Z',
      tags: [],
      extra: 'x',
    });
    expect(derived.address).toBeInstanceOf(Address);
    expect(derived.at).toBeInstanceOf(Date);
    expect(derived.extra).toBe('x');
  });

  it('maps names to classes and back', () => {
    expect(registry.lookup('customer.registered')?.target).toBe(CustomerRegistered);
    expect(registry.lookupClass(CustomerRegistered)?.typeName).toBe('customer.registered');
    expect(registry.typeNames()).toEqual(['customer.registered']);
  });

  it('refuses a second class under the same name', () => {
    class Other {}
    expect(() => registry.register('customer.registered', Other)).toThrow(ConfigurationError);
    expect(() => registry.register('customer.registered', CustomerRegistered)).not.toThrow();
  });

  it('reports unknown types and malformed input with typed errors', () => {
    expect(() => registry.deserialize('nope', {})).toThrow(UnknownMessageTypeError);
    expect(() => registry.serialize(new (class Unregistered {})())).toThrow(UnknownMessageTypeError);
    expect(() => registry.deserialize('customer.registered', 'text')).toThrow(SerializationError);
    expect(() => registry.deserialize('customer.registered', [1])).toThrow(SerializationError);
    expect(() => registry.fromJSON('{not json')).toThrow(SerializationError);
    expect(() => registry.fromJSON('{"payload":{}}')).toThrow(SerializationError);
    try {
      registry.deserialize('nope', {});
    } catch (error) {
      expect((error as UnknownMessageTypeError).details).toEqual({
        typeName: 'nope',
        known: ['customer.registered'],
      });
    }
  });

  it('round-trips arbitrary payloads (property)', () => {
    class Bag {
      readonly id!: string;
      readonly n!: number;
      readonly flags!: boolean[];
      readonly note!: string | null;
    }
    const bags = new SerializerRegistry().register('Bag', Bag);
    fc.assert(
      fc.property(
        fc.record({
          id: fc.string(),
          n: fc.integer(),
          flags: fc.array(fc.boolean()),
          note: fc.option(fc.string(), { nil: null }),
        }),
        (payload) => {
          const restored = bags.fromJSON<Bag>(JSON.stringify({ type: 'Bag', schemaVersion: 1, payload }));
          expect(restored).toBeInstanceOf(Bag);
          expect(JSON.parse(bags.toJSON(restored))).toEqual({ type: 'Bag', schemaVersion: 1, payload });
        },
      ),
    );
  });
});
