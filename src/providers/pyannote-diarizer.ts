// Diarizer on the pyannote.ai HTTP API: temporary media upload, job submission, polling.
// The service has no idempotency key, so callers keep the job id and poll it again after a crash.
import { z } from 'zod';
import { Failure } from '../domain/failures';
import { ProviderError, parseRetryAfter } from './errors';
import { putFile } from './http';
import type { DiarizationHints, DiarizationJob, Diarizer } from './interfaces';

const TurnSchema = z.object({ speaker: z.string(), start: z.coerce.number(), end: z.coerce.number() });
const JobSchema = z.object({
  jobId: z.string(),
  status: z.enum(['pending', 'created', 'running', 'succeeded', 'failed', 'canceled']),
  output: z
    .object({
      diarization: z.array(TurnSchema).optional(),
      error: z.string().optional(),
    })
    .passthrough()
    .nullish(),
});

export interface PyannoteOptions {
  apiKey: string;
  baseUrl: string;
  model: 'precision-2' | 'community-1';
  /** Per-request timeout for API calls (uploads get a longer one). */
  requestTimeoutMs?: number;
}

export function createPyannoteDiarizer(opts: PyannoteOptions): Diarizer {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.requestTimeoutMs ?? 60_000;

  async function call(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const res = await send(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${opts.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: withTimeout(signal, timeoutMs),
    }, signal);
    const text = await res.text();
    if (!res.ok) throw classifyPyannoteResponse(res, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProviderError(Failure.ProviderProtocol, `pyannote.ai answered ${method} ${path} with non-JSON: ${text.slice(0, 120)}`, { provider: 'pyannote' });
    }
  }

  return {
    async upload(file, mediaKey, signal) {
      const input = z.object({ url: z.string().url() }).parse(await call('POST', '/v1/media/input', { url: mediaKey }, signal));
      // The presigned URL carries its own authorisation; sending ours there would leak the key.
      let put: Response;
      try {
        put = await putFile(input.url, file, { signal: withTimeout(signal, Math.max(timeoutMs, 30 * 60_000)) });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new ProviderError(Failure.ProviderUnavailable, `Could not upload the audio to pyannote.ai's media store: ${(err as Error).message}`, { provider: 'pyannote' });
      }
      if (!put.ok) throw classifyPyannoteResponse(put, await put.text());
      await put.arrayBuffer().catch(() => undefined);
      return mediaKey;
    },

    async submit(mediaUrl, hints: DiarizationHints, signal) {
      const body: Record<string, unknown> = { url: mediaUrl, model: opts.model };
      if (hints.numSpeakers !== null) body.numSpeakers = hints.numSpeakers;
      else {
        if (hints.minSpeakers !== null) body.minSpeakers = hints.minSpeakers;
        if (hints.maxSpeakers !== null) body.maxSpeakers = hints.maxSpeakers;
      }
      const res = z.object({ jobId: z.string().min(1) }).safeParse(await call('POST', '/v1/diarize', body, signal));
      if (!res.success) throw new ProviderError(Failure.ProviderProtocol, 'pyannote.ai accepted the job but returned no jobId', { provider: 'pyannote' });
      return { jobId: res.data.jobId };
    },

    async poll(jobId, signal): Promise<DiarizationJob> {
      const parsed = JobSchema.safeParse(await call('GET', `/v1/jobs/${encodeURIComponent(jobId)}`, undefined, signal));
      if (!parsed.success) {
        throw new ProviderError(Failure.ProviderProtocol, `pyannote.ai job ${jobId} has an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`, { provider: 'pyannote' });
      }
      const job = parsed.data;
      return {
        jobId: job.jobId,
        status: job.status,
        ...(job.output?.diarization ? { turns: job.output.diarization } : {}),
        ...(job.output?.error ? { error: job.output.error } : {}),
      };
    },
  };
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

async function send(url: string, init: RequestInit, callerSignal: AbortSignal | undefined): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (callerSignal?.aborted) throw err;
    const reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message) : String(err);
    throw new ProviderError(Failure.ProviderUnavailable, `Could not reach pyannote.ai at ${new URL(url).origin}: ${reason}`, { provider: 'pyannote' });
  }
}

function classifyPyannoteResponse(res: Response, text: string): ProviderError {
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: { field?: string; message?: string }[] };
    if (typeof body.message === 'string') message = body.message;
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      message += ` (${body.errors.map((e) => `${e.field ?? '?'}: ${e.message ?? ''}`).join('; ')})`;
    }
  } catch {
    // Not JSON: keep the raw text.
  }
  const status = res.status;
  const details = { status, provider: 'pyannote' };
  if (status === 401 || status === 403) return new ProviderError(Failure.ProviderAuth, `pyannote.ai rejected the API key (${status}): ${message}. Check PYANNOTE_API_KEY on the worker.`, details);
  if (status === 402) return new ProviderError(Failure.ProviderQuotaExceeded, `pyannote.ai refused for billing reasons (402): ${message}`, details);
  if (status === 429) {
    return new ProviderError(Failure.ProviderRateLimited, `Rate limited by pyannote.ai: ${message}`, { ...details, retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')) });
  }
  if (status >= 500 || status === 408) return new ProviderError(Failure.ProviderUnavailable, `pyannote.ai failed (${status}): ${message}`, details);
  return new ProviderError(Failure.ProviderBadRequest, `pyannote.ai refused the request (${status}): ${message}`, details);
}
