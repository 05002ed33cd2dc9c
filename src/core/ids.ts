import { v7 as uuidv7, validate, version } from 'uuid';

/** A new time-ordered identifier (UUID v7): sortable by creation time, unique across processes. */
export function newId(): string {
  return uuidv7();
}

/** True when `value` is a UUID v7 string. */
export function isUuidV7(value: unknown): value is string {
  return typeof value === 'string' && validate(value) && version(value) === 7;
}
