// A request budget per API key, shared by every run a worker serves: pyannote.ai allows about
// 100 requests per minute per key (sliding window), and beyond ~8 concurrent jobs their polls
// alone would exceed it. Requests wait for room in the window instead of being refused; a 429
// pauses the whole key until the service's retry time.
import { createHash } from 'node:crypto';

export interface RateBudget {
  /**
   * Waits until a request fits in the window (or the signal aborts), then counts it. Call the
   * returned function when the answer arrives: the request is then counted from that moment,
   * which is never earlier than when the service counted it (requests sent in a burst reach it
   * over some milliseconds, and the window must not free up before the service's does).
   */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** The service said 429: no request on this key before `seconds` from now. */
  pause(seconds: number): void;
  /** Requests counted in the current window, and the window's limit (for tests and logs). */
  readonly load: { used: number; limit: number };
}

export function createRateBudget(limit: number, windowMs = 60_000, now: () => number = Date.now): RateBudget {
  if (!(limit >= 1)) throw new RangeError(`limit must be at least 1, got ${limit}`);
  const sent: number[] = [];
  let pausedUntil = 0;
  // Waiters go in order, so a request that waited longest is sent first.
  let queue: Promise<void> = Promise.resolve();

  const prune = (t: number) => {
    while (sent.length > 0 && sent[0]! <= t - windowMs) sent.shift();
  };

  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });

  const waitTurn = async (signal?: AbortSignal): Promise<() => void> => {
    for (;;) {
      const t = now();
      prune(t);
      const wait = Math.max(pausedUntil - t, sent.length >= limit ? sent[0]! + windowMs - t : 0);
      if (wait <= 0) {
        sent.push(t);
        let settled = false;
        return () => {
          if (settled) return;
          settled = true;
          const i = sent.indexOf(t);
          // Now is no earlier than any count kept, so the list stays in order.
          if (i >= 0) sent.splice(i, 1);
          sent.push(now());
        };
      }
      await sleep(wait + 5, signal);
    }
  };

  return {
    acquire(signal) {
      const mine = queue.then(() => waitTurn(signal));
      // One aborted waiter does not block the ones behind it.
      queue = mine.then(
        () => undefined,
        () => undefined,
      );
      return mine;
    },
    pause(seconds) {
      pausedUntil = Math.max(pausedUntil, now() + Math.max(0, seconds) * 1000);
    },
    get load() {
      prune(now());
      return { used: sent.length, limit };
    },
  };
}

/** One budget per key in this process: every diarizer built for the same key shares it. */
const budgets = new Map<string, RateBudget>();

export function budgetFor(key: string, limit: number, windowMs = 60_000): RateBudget {
  // Held by a digest of the key: the key itself stays where the client keeps it.
  const id = `${createHash('sha256').update(key).digest('hex')}\0${limit}\0${windowMs}`;
  let b = budgets.get(id);
  if (!b) {
    b = createRateBudget(limit, windowMs);
    budgets.set(id, b);
  }
  return b;
}
