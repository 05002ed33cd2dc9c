import { CommandHandler, EventBus, Injectable, describeError, type MessageContext } from 'potter';
import { AppliedCommands, idempotencyKeyOf } from '../idempotency';
import { ChargeCard, PaymentCaptured, PaymentDeclined, RefundPayment } from './payments.messages';

/** A domain error: the card provider declined the charge. Retrying cannot change the answer. */
export class PaymentDeclinedError extends Error {
  constructor(
    readonly orderId: string,
    readonly reason: string,
  ) {
    super(`The card was declined for ${orderId}: ${reason}.`);
    this.name = 'PaymentDeclinedError';
  }
}

/** A payment in the ledger. */
export interface Payment {
  readonly paymentId: string;
  readonly orderId: string;
  readonly amount: number;
  status: 'captured' | 'refunded';
}

/** What the card provider answered to a charge. */
type Outcome =
  | { readonly kind: 'captured'; readonly payment: Payment }
  | { readonly kind: 'declined'; readonly reason: string };

/** The test card the provider always declines. */
const DECLINED_CARD = '4000000000000002';
/** How long the provider takes to call back. */
const PROVIDER_DELAY_MS = 20;

/**
 * The payments service, with a simulated card provider that answers asynchronously (as a webhook
 * would): `ChargeCard` returns at once, and `PaymentCaptured` or `PaymentDeclined` follows on the
 * event bus with the command's correlation id. Each command is applied once per idempotency key: a
 * repeated `ChargeCard` does not charge again, it makes the provider send its answer again.
 */
@Injectable()
export class Payments {
  readonly #ledger = new Map<string, Payment>();
  readonly #applied = new AppliedCommands();
  #loseNextAnswer = false;
  #nextAnswerDelayMs: number | undefined;

  constructor(private readonly events: EventBus) {}

  /** Simulates a lost webhook: the provider's next answer never arrives. */
  loseNextAnswer(): void {
    this.#loseNextAnswer = true;
  }

  /** Simulates a slow provider: its next answer takes `ms`. */
  delayNextAnswer(ms: number): void {
    this.#nextAnswerDelayMs = ms;
  }

  @CommandHandler(ChargeCard)
  charge(command: ChargeCard, context: MessageContext): void {
    const { result: outcome, repeated } = this.#applied.once(idempotencyKeyOf(context), () =>
      this.#authorize(command),
    );
    const card = `•••• ${command.card.slice(-4)}`;
    if (repeated) {
      console.log(
        `  [payments] ${command.orderId}: ChargeCard again with the same idempotency key: not charged twice, the provider answers again`,
      );
    } else if (outcome.kind === 'captured') {
      console.log(
        `  [payments] ${command.orderId}: ${command.amount} € captured on ${card} as ${outcome.payment.paymentId}`,
      );
    } else {
      console.log(`  [payments] ${command.orderId}: ${card} declined (${outcome.reason})`);
    }
    this.#answerLater(command.orderId, outcome, context);
  }

  @CommandHandler(RefundPayment)
  refund(command: RefundPayment, context: MessageContext): void {
    const { result: refunded, repeated } = this.#applied.once(idempotencyKeyOf(context), () => {
      const payment = this.#ledger.get(command.orderId);
      if (payment?.status !== 'captured') return undefined;
      payment.status = 'refunded';
      return payment;
    });
    if (repeated) {
      console.log(`  [payments] ${command.orderId}: already refunded (same idempotency key)`);
    } else if (refunded === undefined) {
      console.log(`  [payments] ${command.orderId}: nothing captured, nothing to refund`);
    } else {
      console.log(`  [payments] ${command.orderId}: refunded ${refunded.amount} € (${refunded.paymentId})`);
    }
  }

  /** The ledger, for the report at the end. */
  ledger(): Payment[] {
    return [...this.#ledger.values()].map((payment) => ({ ...payment }));
  }

  #authorize(command: ChargeCard): Outcome {
    if (command.card === DECLINED_CARD) return { kind: 'declined', reason: 'do not honour' };
    const payment: Payment = {
      paymentId: `pay-${this.#ledger.size + 1}`,
      orderId: command.orderId,
      amount: command.amount,
      status: 'captured',
    };
    this.#ledger.set(command.orderId, payment);
    return { kind: 'captured', payment };
  }

  /** The provider's webhook: the answer, published on the event bus a little later. */
  #answerLater(orderId: string, outcome: Outcome, context: MessageContext): void {
    if (this.#loseNextAnswer) {
      this.#loseNextAnswer = false;
      console.log(`  [payments] ${orderId}: the provider's answer is lost on the way`);
      return;
    }
    const answer =
      outcome.kind === 'captured'
        ? new PaymentCaptured(orderId, outcome.payment.paymentId, outcome.payment.amount)
        : new PaymentDeclined(orderId, outcome.reason);
    // Same correlation id as the command: the saga step waiting for it recognises it by that.
    const metadata = { correlationId: context.correlationId, causationId: context.id };
    const delayMs = this.#nextAnswerDelayMs ?? PROVIDER_DELAY_MS;
    this.#nextAnswerDelayMs = undefined;
    setTimeout(() => {
      this.events.publish(answer, metadata).catch((error: unknown) => {
        console.error(`  [payments] could not deliver the answer for ${orderId}: ${describeError(error)}`);
      });
    }, delayMs);
  }
}
