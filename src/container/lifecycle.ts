/** Implemented by providers that prepare themselves once the graph is built (during `bootstrap`). */
export interface OnInit {
  onInit(): void | Promise<void>;
}

/** Implemented by providers that start background work on `app.start()`. */
export interface OnStart {
  onStart(): void | Promise<void>;
}

/** Implemented by providers that release resources on `app.stop()` (reverse dependency order). */
export interface OnStop {
  onStop(): void | Promise<void>;
}

/** The hook names, in the order they run. */
export type LifecycleHook = 'onInit' | 'onStart' | 'onStop';

/** True when `instance` has a callable `hook` method. */
export function hasHook(
  instance: unknown,
  hook: LifecycleHook,
): instance is Record<LifecycleHook, () => unknown> {
  return (
    typeof instance === 'object' &&
    instance !== null &&
    typeof (instance as Record<string, unknown>)[hook] === 'function'
  );
}
