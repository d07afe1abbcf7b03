// The one error type adapters throw: a failure type from the shared vocabulary plus
// what the CLI needs to explain it. Activities turn it into an ApplicationFailure.
import type { FailureType } from '../domain/failures';

export class ProviderError extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    readonly details: { status?: number; retryAfterSeconds?: number; provider?: string; requestId?: string } = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Parses a Retry-After header: integer seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  if (!Number.isNaN(date)) return Math.max(0, (date - now) / 1000);
  return undefined;
}
