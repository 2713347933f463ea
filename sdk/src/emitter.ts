// A small typed event emitter, the same in browsers and Node.

/** Logger receives the SDK's diagnostics; console fits. Every method is optional. */
export interface Logger {
  debug?(msg: string, ...args: unknown[]): void;
  info?(msg: string, ...args: unknown[]): void;
  warn?(msg: string, ...args: unknown[]): void;
  error?(msg: string, ...args: unknown[]): void;
}

export type Listener<T> = (value: T) => void;

/**
 * Emitter calls each listener of an event in the order they were added.
 * A listener that throws is reported to onError and does not stop the
 * others (nor the connection that emits).
 */
export class Emitter<Events extends object> {
  private listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onError: (err: unknown, event: keyof Events) => void = () => {}) {}

  /** on adds fn for event and returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => this.off(event, fn);
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(fn as Listener<never>);
  }

  has(event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(value);
      } catch (err) {
        this.onError(err, event);
      }
    }
  }
}

/**
 * listenerFailed reports a listener that threw: to the logger if it has an
 * error method, else by throwing it again on its own, so that it is not
 * lost (an uncaught exception in Node, a console error in a browser).
 */
export function listenerFailed(log: Logger): (err: unknown, event: string | number | symbol) => void {
  return (err, event) => {
    if (log.error) log.error(`mesh: a ${String(event)} listener threw`, err);
    else queueMicrotask(() => {
      throw err;
    });
  };
}
