// The manual timers are part of potter/testing; re-exported here for the saga tests.
export { ManualTimers, flushMicrotasks as flush } from 'potter/testing';
