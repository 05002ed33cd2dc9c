/**
 * Port for one-shot timers, so step and saga timeouts and retry delays can be driven by a manual
 * clock in tests (and, later, by durable timers).
 */
export interface SagaTimers {
  /** Calls `callback` once after `ms`; the returned function cancels the timer. */
  schedule(ms: number, callback: () => void): () => void;
}

/** Timers on `setTimeout` (unref'd: a pending saga timer does not keep the process alive). */
export const systemTimers: SagaTimers = {
  schedule(ms, callback) {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on `timers`, or rejects with the signal's reason as soon as it aborts. */
export function delay(timers: SagaTimers, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(signal.reason);
    };
    const cancel = timers.schedule(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
