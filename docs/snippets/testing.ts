import { Injectable, Module, Query, QueryHandler, TypedQuery } from 'potter';
import { createTestApp } from 'potter/testing';

@Injectable()
class ExchangeRates {
  rate(currency: string): number {
    throw new Error(`no network in tests (asked for ${currency})`);
  }
}

@Query()
class ConvertToEuro extends TypedQuery<number> {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {
    super();
  }
}

@QueryHandler(ConvertToEuro)
class ConvertToEuroHandler {
  constructor(private readonly rates: ExchangeRates) {}
  execute(query: ConvertToEuro): number {
    return query.amount * this.rates.rate(query.currency);
  }
}

@Module({ providers: [ExchangeRates], handlers: [ConvertToEuroHandler] })
class FxModule {}

async function main(): Promise<void> {
  // A silent logger, no signal handlers, and fakes in place of real providers.
  const app = await createTestApp(FxModule, {
    overrides: [{ provide: ExchangeRates, useValue: { rate: () => 0.5 } }],
  });
  console.log(await app.queryBus.execute(new ConvertToEuro(10, 'USD'))); // 5

  // A child container: the override applies there, and to what depends on it; the app is untouched.
  const child = app.container.createChild([{ provide: ExchangeRates, useValue: { rate: () => 2 } }]);
  console.log(child.resolve(ConvertToEuroHandler).execute(new ConvertToEuro(10, 'USD'))); // 20
  console.log(app.resolve(ConvertToEuroHandler).execute(new ConvertToEuro(10, 'USD'))); // 5
  await app.stop();
}

void main();
