import { ArrayNotEmpty, IsArray, IsNotEmpty, IsNumber, IsString, Min } from 'class-validator';
import { Command, TargetAggregateId, TypedCommand } from 'potter';

/** Records a batch of readings of one meter (one event each); answers with the meter's version. */
@Command()
export class RecordReadings extends TypedCommand<number> {
  @TargetAggregateId()
  @IsString()
  @IsNotEmpty()
  readonly meterId: string;

  @IsArray()
  @ArrayNotEmpty()
  @IsNumber({}, { each: true })
  @Min(0, { each: true })
  readonly readings: number[];

  constructor(meterId: string, readings: number[]) {
    super();
    this.meterId = meterId;
    this.readings = readings;
  }
}
