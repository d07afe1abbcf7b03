// Where provider errors become Temporal failures: one place decides what is retried,
// after how long, and what fails the run at once.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Failure, NON_RETRYABLE_FAILURES, type FailureType } from '../domain/failures';
import { ProviderError } from '../providers/errors';

export function failure(type: FailureType, message: string, opts: { retryAfterSeconds?: number } = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: NON_RETRYABLE_FAILURES.includes(type),
    ...(opts.retryAfterSeconds !== undefined ? { nextRetryDelay: `${Math.max(1, Math.ceil(opts.retryAfterSeconds))}s` } : {}),
  });
}

/** Runs an activity body, translating ProviderError into ApplicationFailure. */
export async function atBoundary<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof ProviderError) {
      throw failure(err.type, err.message, { retryAfterSeconds: err.details.retryAfterSeconds });
    }
    throw err;
  }
}

/**
 * Heartbeats every `intervalMs` with whatever `details()` returns while `work` runs, so a
 * long single await (an upload, one HTTP request) still shows the worker is alive and
 * still lets cancellation in.
 */
export async function withHeartbeat<T>(details: () => unknown, work: () => Promise<T>, intervalMs = 2000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), intervalMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function missingKey(name: string, stage: string): ApplicationFailure {
  return failure(Failure.ConfigMissing, `${name} is not set on the worker, and the ${stage} stage needs it. Set ${name} in the worker's environment and run again; finished stages are kept.`);
}
