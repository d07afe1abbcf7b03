// State record writes run one at a time, in order, each taking the state as it is when it
// starts; calls made while one is queued share it. A stage's activity is scheduled in the same
// workflow task as the write saying it started, not one round trip later, so the record lags
// the history by a write or two and never leads it.
//
// The order in which this queue issues its activity calls is part of the recorded histories:
// keep its shape (a promise chain whose links start on the next microtask) as it is.

export interface RecordQueue {
  /** Queues a write of the current state. */
  push(): void;
  /** Waits for queued writes; a write that failed (after its retries) fails the run. */
  recorded(): Promise<void>;
  /** Waits for queued writes, ignoring their failure (the run's own error wins). */
  settled(): Promise<void>;
  /** The first write failure, if any. */
  readonly failure: unknown;
}

export function recordQueue(write: () => Promise<void>): RecordQueue {
  let writing: Promise<void> = Promise.resolve();
  let queued = false;
  let failure: unknown = null;
  return {
    push() {
      if (queued) return;
      queued = true;
      writing = writing.then(async () => {
        queued = false;
        try {
          await write();
        } catch (err) {
          failure ??= err;
        }
      });
    },
    async recorded() {
      await writing;
      if (failure) throw failure;
    },
    settled() {
      return writing;
    },
    get failure() {
      return failure;
    },
  };
}
