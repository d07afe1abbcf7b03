// Where provider errors become Temporal failures: one place decides what is retried,
// after how long, and what fails the run at once.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Failure, NON_RETRYABLE_FAILURES, type FailureType } from '../domain/failures';
import { ProviderError } from '../providers/errors';

export function failure(type: FailureType, message: string, opts: { retryAfterSeconds?: number; shouldRetry?: boolean } = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    // The service's `x-should-retry` wins over what the failure type implies.
    nonRetryable: opts.shouldRetry !== undefined ? !opts.shouldRetry : NON_RETRYABLE_FAILURES.includes(type),
    ...(opts.retryAfterSeconds !== undefined ? { nextRetryDelay: `${Math.max(1, Math.ceil(opts.retryAfterSeconds))}s` } : {}),
  });
}

/** Records heartbeat details: sent at once, and repeated by the ticker until replaced. */
export type Beat = (details: unknown) => void;

/**
 * Runs an activity body at the boundary: a heartbeat every `intervalMs` (so a dead worker is
 * noticed within the heartbeat timeout, and cancellation reaches the body through
 * `cancellationSignal` even during one long await), repeating the latest details the body
 * recorded; and ProviderError translated into ApplicationFailure.
 */
export async function atBoundary<T>(body: (beat: Beat) => Promise<T>, intervalMs = 2000): Promise<T> {
  const ctx = Context.current();
  let latest: unknown = ctx.info.heartbeatDetails;
  const beat: Beat = (details) => {
    latest = details;
    ctx.heartbeat(details);
  };
  const timer = setInterval(() => ctx.heartbeat(latest), intervalMs);
  try {
    return await body(beat);
  } catch (err) {
    // However the body noticed (an SDK's own abort error, a killed ffmpeg), a cancelled
    // activity reports a cancellation, which the worker records as such rather than a failure.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
    if (err instanceof ProviderError) {
      throw failure(err.type, err.message, { retryAfterSeconds: err.details.retryAfterSeconds, shouldRetry: err.details.shouldRetry });
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
}

export function missingKey(name: string, stage: string): ApplicationFailure {
  return failure(Failure.ConfigMissing, `${name} is not set on the worker, and the ${stage} stage needs it. Set ${name} in the worker's environment and run again; finished stages are kept.`);
}

export function missingEngine(stage: string): ApplicationFailure {
  return failure(
    Failure.ConfigMissing,
    `The ${stage} stage runs on the local speech engine, but this worker was started without it. Start workers with \`speech worker\` (which starts the engine), or set the provider's key (OPENAI_API_KEY / PYANNOTE_API_KEY) to use the cloud; finished stages are kept.`,
  );
}
