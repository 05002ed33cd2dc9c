import { ConfigurationError } from '../../core/errors';
import { START, type GlobalPosition } from '../event-store';

/**
 * A position in the SQL event log: the writing transaction's id (`xid8`) and the row's sequence
 * number, both as decimal strings. @internal
 */
export interface SqlPosition {
  transactionId: string;
  seq: string;
}

const DIGITS = 20; // 2^64 has 20 decimal digits: xid8 and bigint both fit
const FORMAT = /^(\d{20}):(\d{20})$/;

/**
 * Encodes `(transactionId, seq)` as a string that sorts like the pair: both zero-padded to 20
 * digits, joined by `:`. @internal
 */
export function encodePosition(transactionId: string, seq: string): GlobalPosition {
  return `${transactionId.padStart(DIGITS, '0')}:${seq.padStart(DIGITS, '0')}`;
}

/** Decodes a position made by {@link encodePosition}; `START` is the pair before every event. @internal */
export function decodePosition(position: GlobalPosition): SqlPosition {
  if (position === START) return { transactionId: '0', seq: '0' };
  const match = typeof position === 'string' ? FORMAT.exec(position) : null;
  if (!match) {
    throw new ConfigurationError(
      `"${String(position)}" is not a position of a SQL event store (expected "<20 digits>:<20 digits>" or START).`,
      { position },
    );
  }
  return { transactionId: trimZeros(match[1]!), seq: trimZeros(match[2]!) };
}

function trimZeros(digits: string): string {
  return digits.replace(/^0+(?=\d)/, '');
}
