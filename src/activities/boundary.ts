// Where provider errors become Temporal failures: one place decides what is retried,
// after how long, and what fails the run at once.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Failure, NON_RETRYABLE_FAILURES, type FailureType } from '../domain/failures';
import { HEARTBEAT_INTERVAL_MS } from '../domain/heartbeats';
import { ProviderError } from '../providers/errors';
import type { RequestWatch } from '../providers/interfaces';

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

/** A provider request under watch: what it is, its deadline, and its optional stall limit. */
export interface Live {
  /**
   * Runs one provider request. While it is within its deadline (counted from `watch.sending()`
   * when the request calls it, so time in a local queue does not count) and, with `stallMs`,
   * bytes keep moving (`watch.progress()`), the activity keeps heartbeating; at the deadline or the stall the
   * request is aborted and the attempt fails as ProviderUnavailable, retried with backoff. Should
   * the request not even stop when aborted, the heartbeats have stopped, so Temporal times the
   * attempt out and retries it on any worker.
   */
  request<T>(what: string, deadlineMs: number, fn: (signal: AbortSignal, watch: Required<RequestWatch>) => Promise<T>, opts?: RequestOptions): Promise<T>;
}

export interface RequestOptions {
  /** No byte moved for this long: stalled. */
  stallMs?: number;
  /**
   * The request waits in a local queue (a per-provider concurrency limit) before it is sent, and
   * calls `watch.sending()` when it leaves it: the deadline starts then, not before.
   */
  queued?: boolean;
}

interface Watched {
  deadline: number;
  /** The deadline, or earlier when bytes stopped moving. */
  until: number;
  expired: string | null;
}

/**
 * Runs an activity body at the boundary: a heartbeat every `intervalMs` repeating the latest
 * details the body recorded (so a dead worker is noticed within the heartbeat timeout, and
 * cancellation reaches the body through `cancellationSignal` even during one long await),
 * except while a provider request is past its deadline or stalled (see `Live.request`); and
 * ProviderError translated into ApplicationFailure.
 */
export async function atBoundary<T>(body: (beat: Beat, live: Live) => Promise<T>, intervalMs = HEARTBEAT_INTERVAL_MS): Promise<T> {
  const ctx = Context.current();
  let latest: unknown = ctx.info.heartbeatDetails;
  const watched = new Set<Watched>();
  const hung = () => [...watched].some((w) => w.expired !== null || Date.now() > w.until);
  const beat: Beat = (details) => {
    latest = details;
    if (!hung()) ctx.heartbeat(details);
  };
  const timer = setInterval(() => {
    if (!hung()) ctx.heartbeat(latest);
  }, intervalMs);
  const live: Live = {
    async request(what, deadlineMs, fn, opts = {}) {
      const started = Date.now();
      const w: Watched = opts.queued
        ? { deadline: Infinity, until: Infinity, expired: null }
        : { deadline: started + deadlineMs, until: Math.min(started + deadlineMs, opts.stallMs ? started + opts.stallMs : Infinity), expired: null };
      const controller = new AbortController();
      const watchdog = setInterval(
        () => {
          if (w.expired !== null || Date.now() <= w.until) return;
          w.expired =
            Date.now() > w.deadline
              ? `${what}: no answer within ${Math.round(deadlineMs / 1000)} s (its deadline); sent again`
              : `${what}: no byte moved for ${Math.round((opts.stallMs ?? 0) / 1000)} s; sent again`;
          controller.abort(new Error(w.expired));
        },
        Math.min(1000, Math.max(50, deadlineMs / 10)),
      );
      const stallFrom = (now: number) => (opts.stallMs ? now + opts.stallMs : Infinity);
      const watch: Required<RequestWatch> = {
        sending: () => {
          if (w.expired !== null) return;
          const now = Date.now();
          w.deadline = now + deadlineMs;
          w.until = Math.min(w.deadline, stallFrom(now));
        },
        progress: () => {
          if (w.expired === null) w.until = Math.min(w.deadline, stallFrom(Date.now()));
        },
      };
      watched.add(w);
      try {
        return await fn(AbortSignal.any([ctx.cancellationSignal, controller.signal]), watch);
      } catch (err) {
        if (w.expired !== null && !ctx.cancellationSignal.aborted) {
          ctx.log.warn('Provider request abandoned', { request: what, reason: w.expired, elapsedMs: Date.now() - started });
          throw new ProviderError(Failure.ProviderUnavailable, w.expired);
        }
        throw err;
      } finally {
        clearInterval(watchdog);
        watched.delete(w);
      }
    },
  };
  try {
    return await body(beat, live);
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
