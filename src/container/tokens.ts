import type { Clock, Logger } from '../core';
import { createToken } from '../metadata';

/** Injects the application's {@link Logger}. */
export const LOGGER = createToken<Logger>('potter:Logger');

/** Injects the application's {@link Clock}. */
export const CLOCK = createToken<Clock>('potter:Clock');
