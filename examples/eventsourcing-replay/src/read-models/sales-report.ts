import { EventHandler, type RecordedEvent } from 'potter';
import { OrderCancelled, OrderPlaced, OrderShipped } from '../events/order.events';

/**
 * A read model rebuilt from events: a plain class whose `@EventHandler` methods fold events into
 * figures. `replayEvents` calls the matching methods with the domain event and its stored form.
 * Not listed in a module, it only sees the events replayed into it.
 */
export class SalesReport {
  placed = 0;
  shipped = 0;
  cancelled = 0;
  revenue = 0;
  readonly #streams = new Set<string>();

  @EventHandler(OrderPlaced)
  onPlaced(event: OrderPlaced, recorded: RecordedEvent): void {
    this.placed++;
    this.revenue += event.total;
    this.#streams.add(recorded.streamId);
  }

  @EventHandler(OrderShipped)
  onShipped(_event: OrderShipped, recorded: RecordedEvent): void {
    this.shipped++;
    this.#streams.add(recorded.streamId);
  }

  @EventHandler(OrderCancelled)
  onCancelled(event: OrderCancelled, recorded: RecordedEvent): void {
    this.cancelled++;
    this.revenue -= event.refunded;
    this.#streams.add(recorded.streamId);
  }

  summary(): string {
    return `${this.#streams.size} orders touched: ${this.placed} placed, ${this.shipped} shipped, ${this.cancelled} cancelled; revenue ${this.revenue}`;
  }
}
