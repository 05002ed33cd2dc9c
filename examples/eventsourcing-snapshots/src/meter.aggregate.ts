import { Aggregate, AggregateRoot, Apply, CommandHandler } from 'potter';
import { RecordReadings } from './commands/record-readings.command';
import { ReadingRecorded } from './events/reading-recorded.event';

/**
 * An electricity meter: one event per reading, so its stream grows long. Its state is small — a
 * few running totals — which is what makes a snapshot cheap to store and quick to restore.
 */
@Aggregate('Meter')
export class Meter extends AggregateRoot {
  readings = 0;
  totalKwh = 0;
  peakKwh = 0;
  /**
   * Events folded into this instance. An ES private field is not part of `toSnapshot()`, so a meter
   * restored from a snapshot counts only the events read after it.
   */
  #folded = 0;

  get foldedEvents(): number {
    return this.#folded;
  }

  @CommandHandler(RecordReadings, { emits: [ReadingRecorded] })
  record(command: RecordReadings): number {
    for (const kwh of command.readings) this.apply(new ReadingRecorded(this.id, kwh));
    return this.version + this.uncommittedEvents.length;
  }

  @Apply(ReadingRecorded)
  protected onReading(event: ReadingRecorded): void {
    this.readings++;
    this.totalKwh += event.kwh;
    this.peakKwh = Math.max(this.peakKwh, event.kwh);
    this.#folded++;
  }
}
