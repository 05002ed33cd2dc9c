import { duration, shortPosition, statusTable, table } from '../../../src/cli/projections/format';
import { createProgress } from '../../../src/cli/projections/progress';
import { recordingIo } from './recording-io';

describe('rebuild progress without a terminal', () => {
  it('writes the first line, then about one a second with rate and ETA, and always the last', () => {
    const io = recordingIo();
    let now = 0;
    const progress = createProgress(io, { label: 'rebuild orders', now: () => now });
    progress.waiting('waiting for instance 1234abcd to pick the request up');
    progress.waiting('waiting for instance 1234abcd to pick the request up');
    progress.update(0, 1000);
    now = 500;
    progress.update(100, 1000); // within the second: not shown
    now = 1000;
    progress.update(200, 1000);
    now = 2000;
    progress.update(400, 1000);
    now = 2500;
    progress.update(1000, 1200); // live appends grew the total
    progress.stop();
    expect(io.stderr).toEqual([
      'rebuild orders: waiting for instance 1234abcd to pick the request up',
      'rebuild orders: 0/1000 events (0%)',
      'rebuild orders: 200/1000 events (20%), 200 events/s, ETA 4.0s',
      'rebuild orders: 400/1000 events (40%), 200 events/s, ETA 3.0s',
      'rebuild orders: 1000/1200 events (83%), 400 events/s, ETA 500ms',
    ]);
  });
});

describe('formatting', () => {
  it('shortens positions and durations', () => {
    expect(shortPosition('')).toBe('start');
    expect(shortPosition('00000000000000000756:00000000000000000004')).toBe('756:4');
    expect(shortPosition('00000000000000000000:00000000000000000010')).toBe('0:10');
    expect(shortPosition('42')).toBe('42');
    expect(duration(850)).toBe('850ms');
    expect(duration(12_345)).toBe('12.3s');
    expect(duration(245_000)).toBe('4m05s');
    expect(duration(3_720_000)).toBe('1h02m');
    expect(duration(Infinity)).toBe('?');
  });

  it('aligns table columns', () => {
    expect(table(['A', 'LONGER'], [['wide cell', 'x']])).toEqual(['A          LONGER', 'wide cell  x']);
  });

  it('describes what each projection does', () => {
    const base = {
      state: 'stopped' as const,
      status: 'running' as const,
      delivery: 'transactional' as const,
      owner: undefined,
      ownedHere: false,
      position: '',
      lag: 3,
      generation: 1,
      shadow: undefined,
      eventsHandled: 0,
      throughput: 0,
      lastError: undefined,
      parked: 0,
      request: undefined,
      timings: { batches: 0, readMs: 0, handleMs: 0, commitMs: 0 },
      updatedAt: undefined,
    };
    const lines = statusTable([
      { ...base, name: 'idle' },
      { ...base, name: 'running', owner: '0123456789abcdef', position: '0007:0002', lag: 0 },
      { ...base, name: 'rebuilding', owner: 'x', shadow: { generation: 2, position: '' } },
      { ...base, name: 'pending', request: { action: 'rebuild', id: 'r1', requestedAt: 'now' } },
      { ...base, name: 'paused', status: 'stopped' },
      { ...base, name: 'faulted', status: 'faulted', lag: undefined, parked: 2 },
    ]);
    expect(lines.map((line) => line.split(/\s+/))).toEqual([
      ['NAME', 'STATE', 'OWNER', 'POSITION', 'LAG', 'PARKED', 'GEN'],
      ['idle', 'idle', '-', 'start', '3', '0', '1'],
      ['running', 'running', '01234567', '7:2', '0', '0', '1'],
      ['rebuilding', 'rebuilding', 'x', 'start', '3', '0', '1→2'],
      ['pending', 'pending', 'rebuild', '-', 'start', '3', '0', '1'],
      ['paused', 'paused', '-', 'start', '3', '0', '1'],
      ['faulted', 'faulted', '-', 'start', '?', '2', '1'],
    ]);
  });
});
