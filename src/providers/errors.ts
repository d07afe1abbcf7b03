// The one error type adapters throw: a failure type from the shared vocabulary plus
// what the CLI needs to explain it. Activities turn it into an ApplicationFailure.
import type { FailureType } from '../domain/failures';

export class ProviderError extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    readonly details: {
      status?: number;
      retryAfterSeconds?: number;
      provider?: string;
      requestId?: string;
      /** The service's own verdict (`x-should-retry`), which overrides what the failure type implies. */
      shouldRetry?: boolean;
    } = {},
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

/** What a response says about retrying: `retry-after-ms` (preferred, as the OpenAI SDK reads it), `retry-after`, and `x-should-retry`. */
export function retryHints(headers: { get(name: string): string | null } | undefined, now = Date.now()): { retryAfterSeconds?: number; shouldRetry?: boolean } {
  if (!headers) return {};
  const out: { retryAfterSeconds?: number; shouldRetry?: boolean } = {};
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) out.retryAfterSeconds = ms / 1000;
  else {
    const s = parseRetryAfter(headers.get('retry-after'), now);
    if (s !== undefined) out.retryAfterSeconds = s;
  }
  const should = headers.get('x-should-retry')?.trim().toLowerCase();
  if (should === 'true') out.shouldRetry = true;
  else if (should === 'false') out.shouldRetry = false;
  return out;
}

/** " (request id req_…)" for messages, so a support request can name the call. */
export function requestIdNote(requestId: string | null | undefined): string {
  return requestId ? ` (request id ${requestId})` : '';
}
