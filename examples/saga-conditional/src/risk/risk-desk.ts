import {
  Command,
  CommandHandler,
  Event,
  EventBus,
  Injectable,
  idempotencyKeyOf,
  type MessageContext,
} from 'potter';

/** Asks the risk team to review an order. The answer comes later, as `ReviewDecided`. */
@Command('risk.RequestReview')
export class RequestReview {
  constructor(
    readonly orderId: string,
    readonly customer: string,
    readonly amount: number,
  ) {}
}

/** Takes a review request back (the order is no longer going ahead). */
@Command('risk.WithdrawReview')
export class WithdrawReview {
  constructor(readonly orderId: string) {}
}

/** An analyst's decision on a pending review. */
@Command('risk.DecideReview')
export class DecideReview {
  constructor(
    readonly orderId: string,
    readonly decision: 'approved' | 'rejected',
    readonly analyst: string,
  ) {}
}

/** Published when an analyst decided. */
@Event('risk.ReviewDecided')
export class ReviewDecided {
  constructor(
    readonly orderId: string,
    readonly decision: 'approved' | 'rejected',
    readonly analyst: string,
  ) {}
}

/**
 * The risk team's review queue. Requests come from the checkout saga (a command with the saga's
 * idempotency key, so a re-run step does not queue the order twice); decisions come from an
 * analyst, long after, and are published as `ReviewDecided` — with the analyst's own correlation
 * id, not the saga's, so the saga recognises its decision by the order id.
 */
@Injectable()
export class RiskDesk {
  readonly #pending = new Map<string, RequestReview>();
  readonly #applied = new Set<string>();
  readonly #inbox = new Map<string, () => void>();

  constructor(private readonly events: EventBus) {}

  @CommandHandler(RequestReview)
  request(command: RequestReview, context: MessageContext): void {
    // The saga step's key (the same for every attempt of the step), else the command's own id.
    const key = idempotencyKeyOf(context) ?? context.id;
    if (this.#applied.has(key)) return;
    this.#applied.add(key);
    this.#pending.set(command.orderId, command);
    console.log(
      `  [risk] ${command.orderId}: review requested (${command.amount} € from ${command.customer})`,
    );
    this.#inbox.get(command.orderId)?.();
  }

  @CommandHandler(WithdrawReview)
  withdraw(command: WithdrawReview): void {
    if (this.#pending.delete(command.orderId))
      console.log(`  [risk] ${command.orderId}: review request withdrawn`);
  }

  @CommandHandler(DecideReview)
  async decide(command: DecideReview): Promise<void> {
    if (!this.#pending.delete(command.orderId))
      throw new Error(`No review of ${command.orderId} is pending.`);
    console.log(`  [risk] ${command.orderId}: ${command.decision} by ${command.analyst}`);
    await this.events.publish(new ReviewDecided(command.orderId, command.decision, command.analyst));
  }

  /** Resolves once a review of `orderId` is requested: the analyst's inbox, for this demo. */
  requested(orderId: string): Promise<void> {
    if (this.#pending.has(orderId)) return Promise.resolve();
    return new Promise((resolve) =>
      this.#inbox.set(orderId, () => {
        this.#inbox.delete(orderId);
        resolve();
      }),
    );
  }

  /** The orders waiting for a decision. */
  pending(): string[] {
    return [...this.#pending.keys()];
  }
}
