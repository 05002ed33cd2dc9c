import { AppNotRunningError, ShutdownTimeoutError } from '../core/errors';
import { currentMessageContext } from '../core/message-context';

/** Lifecycle state of the application, as the buses see it. */
export type DispatchState = 'open' | 'draining' | 'closed';

/**
 * Shared by the three buses: counts in-flight handlers, and after `close()` rejects new messages
 * from outside (messages dispatched by handlers still in flight are part of draining and pass).
 * @internal
 */
export class DispatchGate {
  state: DispatchState = 'open';
  inFlight = 0;
  #waiters: (() => void)[] = [];

  /** Throws when the gate is closed to new work that does not belong to in-flight handling. */
  check(messageType: string): void {
    if (this.state !== 'open' && currentMessageContext() === undefined) {
      throw new AppNotRunningError(this.state === 'draining' ? 'stopping' : 'stopped', messageType);
    }
  }

  enter(): void {
    this.inFlight++;
  }

  leave(): void {
    if (--this.inFlight === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Stops taking new messages and waits until in-flight ones finish, or the deadline passes. */
  async drain(timeoutMs: number): Promise<void> {
    this.state = 'draining';
    try {
      if (this.inFlight === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((resolve) => this.#waiters.push(resolve));
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ShutdownTimeoutError(timeoutMs, this.inFlight)), timeoutMs);
      });
      try {
        await Promise.race([drained, deadline]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      this.state = 'closed';
    }
  }
}
