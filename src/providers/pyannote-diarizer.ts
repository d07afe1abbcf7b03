// Diarizer on the pyannote.ai HTTP API: temporary media upload, job submission (diarize,
// voiceprint, identify), polling. The service has no idempotency key, so callers keep the
// job id and poll it again after a crash.
import { z } from 'zod';
import { Failure } from '../domain/failures';
import { ProviderError, requestIdNote, retryHints } from './errors';
import { putFile } from './http';
import { budgetFor } from './rate-budget';
import { API_CALL_DEADLINE_MS } from '../domain/deadlines';
import type { DiarizationHints, DiarizationJob, Diarizer, IdentifyOptions, RequestWatch, SpeakerMatch } from './interfaces';

const TurnSchema = z.object({ speaker: z.string(), start: z.coerce.number(), end: z.coerce.number() });
/** identification[]: a diarization turn with the voiceprint label it was given (`speaker` is that label when matched). */
const IdentificationSchema = z.object({ start: z.coerce.number(), end: z.coerce.number(), diarizationSpeaker: z.string(), match: z.string().nullish() });
/** voiceprints[]: per diarization speaker, its match and every voiceprint label's confidence (0–100). */
const SpeakerVerdictSchema = z.object({ speaker: z.string(), match: z.string().nullish(), confidence: z.record(z.string(), z.number()).nullish() });
const JobSchema = z.object({
  jobId: z.string(),
  status: z.enum(['pending', 'created', 'running', 'succeeded', 'failed', 'canceled']),
  warning: z.string().nullish().catch(undefined),
  output: z
    .object({
      diarization: z.array(TurnSchema).optional(),
      exclusiveDiarization: z.array(TurnSchema).optional().catch(undefined),
      warning: z.string().nullish().catch(undefined),
      voiceprint: z.string().min(1).optional(),
      // A secondary source (turns and matches come from diarization and voiceprints): unreadable, it is ignored.
      identification: z.array(IdentificationSchema).optional().catch(undefined),
      voiceprints: z.array(SpeakerVerdictSchema).optional(),
      error: z.string().optional(),
    })
    .passthrough()
    .nullish(),
});
type JobOutput = NonNullable<z.infer<typeof JobSchema>['output']>;

/** The only model pyannote.ai accepts for voiceprint and identify jobs (its OpenAPI enum). */
const VOICEPRINT_MODEL = 'precision-2';
const DIARIZATION_LABEL = /^SPEAKER_\d+$/;

export interface PyannoteOptions {
  apiKey: string;
  baseUrl: string;
  model: 'precision-2' | 'community-1';
  /** Per-request timeout for API calls (uploads get a longer one). */
  requestTimeoutMs?: number;
  /**
   * API requests per window for this key, across every diarizer of the process (default 80 per
   * minute: pyannote.ai allows about 100). The local engine has no limit: null.
   */
  requestsPerMinute?: number | null;
  /** The budget's window (tests shorten it); default one minute. */
  rateWindowMs?: number;
}

/** Times a 429 is waited out inside one call before it becomes the activity's failure. */
const RATE_LIMIT_RETRIES = 5;

export function createPyannoteDiarizer(opts: PyannoteOptions): Diarizer {
  const base = opts.baseUrl.replace(/\/+$/, '');
  // A JSON call that does not answer within this is taken for hung, aborted and retried.
  const timeoutMs = opts.requestTimeoutMs ?? API_CALL_DEADLINE_MS;

  const budget = opts.requestsPerMinute === null ? null : budgetFor(opts.apiKey, opts.requestsPerMinute ?? 80, opts.rateWindowMs ?? 60_000);

  async function call(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    let res: Response;
    let text: string;
    for (let attempt = 0; ; attempt++) {
      const answered = await budget?.acquire(signal);
      try {
        res = await send(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${opts.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: withTimeout(signal, timeoutMs),
        }, signal);
        text = await res.text();
      } finally {
        answered?.();
      }
      // A 429 creates nothing (no job, no upload): the key pauses for the service's retry time
      // and the same request is sent again, without failing the activity.
      if (res.status === 429 && budget && attempt < RATE_LIMIT_RETRIES) {
        budget.pause(retryHints(res.headers).retryAfterSeconds ?? 5);
        continue;
      }
      break;
    }
    if (!res.ok) throw classifyPyannoteResponse(res, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProviderError(Failure.ProviderProtocol, `pyannote.ai answered ${method} ${path} with non-JSON: ${text.slice(0, 120)}`, { provider: 'pyannote' });
    }
  }

  return {
    async upload(file, mediaKey, signal, watch?: RequestWatch) {
      const input = z.object({ url: z.string().url() }).parse(await call('POST', '/v1/media/input', { url: mediaKey }, signal));
      // The presigned URL carries its own authorisation; sending ours there would leak the key.
      let put: Response;
      try {
        watch?.sending?.();
        put = await putFile(input.url, file, { signal: withTimeout(signal, Math.max(timeoutMs, 30 * 60_000)), ...(watch?.progress ? { onProgress: watch.progress } : {}) });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new ProviderError(Failure.ProviderUnavailable, `Could not upload the audio to pyannote.ai's media store: ${(err as Error).message}`, { provider: 'pyannote' });
      }
      if (!put.ok) throw classifyPyannoteResponse(put, await put.text());
      await put.arrayBuffer().catch(() => undefined);
      return mediaKey;
    },

    async submit(mediaUrl, hints: DiarizationHints, signal, identify?: IdentifyOptions) {
      // exclusive: also the turns with one speaker at a time, made for lining up with words
      // (the official client always asks for them).
      const body: Record<string, unknown> = { url: mediaUrl, model: identify ? VOICEPRINT_MODEL : opts.model, exclusive: true };
      if (hints.numSpeakers !== null) body.numSpeakers = hints.numSpeakers;
      else {
        if (hints.minSpeakers !== null) body.minSpeakers = hints.minSpeakers;
        if (hints.maxSpeakers !== null) body.maxSpeakers = hints.maxSpeakers;
      }
      if (identify) {
        body.voiceprints = identify.voiceprints.map((v) => ({ label: v.label, voiceprint: v.voiceprint }));
        body.matching = { exclusive: true, ...(identify.threshold !== null ? { threshold: identify.threshold } : {}) };
      }
      return { jobId: await startJob(identify ? '/v1/identify' : '/v1/diarize', body, signal) };
    },

    async submitVoiceprint(mediaUrl, signal) {
      return { jobId: await startJob('/v1/voiceprint', { url: mediaUrl, model: VOICEPRINT_MODEL }, signal) };
    },

    async poll(jobId, signal): Promise<DiarizationJob> {
      const parsed = JobSchema.safeParse(await call('GET', `/v1/jobs/${encodeURIComponent(jobId)}`, undefined, signal));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ProviderError(Failure.ProviderProtocol, `pyannote.ai job ${jobId} has an unexpected shape: ${issue ? `${issue.path.join('.')}: ${issue.message}` : ''}`, { provider: 'pyannote' });
      }
      const job = parsed.data;
      const out = job.output;
      const turns = out ? diarizationTurns(out) : undefined;
      const matches = out ? speakerMatches(out) : undefined;
      const warnings = [job.warning, out?.warning].filter((w): w is string => typeof w === 'string' && w.length > 0);
      return {
        jobId: job.jobId,
        status: job.status,
        ...(turns ? { turns } : {}),
        ...(out?.exclusiveDiarization && (!out.identification || out.exclusiveDiarization.every((t) => DIARIZATION_LABEL.test(t.speaker))) ? { exclusiveTurns: out.exclusiveDiarization } : {}),
        ...(warnings.length > 0 ? { warnings: [...new Set(warnings)] } : {}),
        ...(out?.voiceprint ? { voiceprint: out.voiceprint } : {}),
        ...(matches ? { matches } : {}),
        ...(out?.error ? { error: out.error } : {}),
      };
    },
  };

  async function startJob(path: string, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<string> {
    const res = z.object({ jobId: z.string().min(1) }).safeParse(await call('POST', path, body, signal));
    if (!res.success) throw new ProviderError(Failure.ProviderProtocol, `pyannote.ai accepted the job (${path}) but returned no jobId`, { provider: 'pyannote' });
    return res.data.jobId;
  }
}

/**
 * Turns labelled with diarization labels. pyannote.ai's identify output keeps `diarization`
 * labelled SPEAKER_xx; should a turn carry a voiceprint label instead, the turns are taken
 * from `identification`, whose `diarizationSpeaker` always is the diarization label.
 */
function diarizationTurns(out: JobOutput): DiarizationJob['turns'] {
  const turns = out.diarization;
  if (turns && (!out.identification || turns.every((t) => DIARIZATION_LABEL.test(t.speaker)))) return turns;
  return out.identification?.map((s) => ({ speaker: s.diarizationSpeaker, start: s.start, end: s.end })) ?? turns;
}

/** One verdict per diarization speaker: from `voiceprints` (with scores), else from `identification` (without). */
function speakerMatches(out: JobOutput): SpeakerMatch[] | undefined {
  if (out.voiceprints) {
    return out.voiceprints.map((v) => {
      const scores = v.confidence ?? {};
      const match = v.match ?? null;
      return { speaker: v.speaker, match, score: match !== null ? (scores[match] ?? null) : null, scores };
    });
  }
  if (!out.identification) return undefined;
  const bySpeaker = new Map<string, string | null>();
  for (const s of out.identification) if (!bySpeaker.has(s.diarizationSpeaker) || s.match) bySpeaker.set(s.diarizationSpeaker, s.match ?? null);
  return [...bySpeaker].map(([speaker, match]) => ({ speaker, match, score: null, scores: {} }));
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
  let requestId = res.headers.get('x-request-id');
  try {
    const body = JSON.parse(text) as { message?: unknown; requestId?: unknown; errors?: { field?: string; message?: string }[] };
    if (typeof body.message === 'string') message = body.message;
    if (typeof body.requestId === 'string') requestId = body.requestId;
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      message += ` (${body.errors.map((e) => `${e.field ?? '?'}: ${e.message ?? ''}`).join('; ')})`;
    }
  } catch {
    // Not JSON: keep the raw text.
  }
  const status = res.status;
  message += requestIdNote(requestId);
  const hints = retryHints(res.headers);
  const details = { status, provider: 'pyannote', ...(requestId ? { requestId } : {}), ...(hints.shouldRetry !== undefined ? { shouldRetry: hints.shouldRetry } : {}) };
  if (status === 401 || status === 403) return new ProviderError(Failure.ProviderAuth, `pyannote.ai rejected the API key (${status}): ${message}. Check PYANNOTE_API_KEY on the worker.`, details);
  if (status === 402) return new ProviderError(Failure.ProviderQuotaExceeded, `pyannote.ai refused for billing reasons (402): ${message}`, details);
  if (status === 429) {
    return new ProviderError(Failure.ProviderRateLimited, `Rate limited by pyannote.ai: ${message}`, { ...details, ...(hints.retryAfterSeconds !== undefined ? { retryAfterSeconds: hints.retryAfterSeconds } : {}) });
  }
  if (status >= 500 || status === 408) {
    return new ProviderError(Failure.ProviderUnavailable, `pyannote.ai failed (${status}): ${message}`, { ...details, ...(hints.retryAfterSeconds !== undefined ? { retryAfterSeconds: hints.retryAfterSeconds } : {}) });
  }
  return new ProviderError(Failure.ProviderBadRequest, `pyannote.ai refused the request (${status}): ${message}`, details);
}
