import { Event } from 'potter';

/** A meter reported how much energy was used since its previous reading. */
@Event('meter.reading-recorded')
export class ReadingRecorded {
  constructor(
    readonly meterId: string,
    readonly kwh: number,
  ) {}
}
