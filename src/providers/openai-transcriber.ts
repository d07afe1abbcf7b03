// Transcriber on the official `openai` package. Works unchanged against OpenAI and
// compatible servers (OPENAI_BASE_URL). Retries are Temporal's: maxRetries is 0 here.
import { stat } from 'node:fs/promises';
import OpenAI from 'openai';
import { z } from 'zod';
import { Failure } from '../domain/failures';
import type { Word } from '../domain/types';
import { ProviderError, requestIdNote, retryHints } from './errors';
import { streamingFetch } from './http';
import type { RequestWatch, TranscribeRequest, TranscribeResult, Transcriber, TranscriptionUsage } from './interfaces';
import { type FileRange, multipartBody } from './multipart';
import { readWavInfo, wavHeader } from './wav';

/** Models that return word timestamps through verbose_json. */
const TIMESTAMP_MODELS = /^(whisper|distil-whisper|faster-whisper|Systran\/faster-whisper|deepdml\/faster-whisper)/i;

const WordSchema = z.object({ word: z.string(), start: z.coerce.number(), end: z.coerce.number() });
const SegmentSchema = z.object({
  start: z.coerce.number(),
  end: z.coerce.number(),
  text: z.string(),
  no_speech_prob: z.coerce.number().optional(),
  avg_logprob: z.coerce.number().optional(),
  compression_ratio: z.coerce.number().optional(),
});
const ResponseSchema = z.object({
  text: z.string().default(''),
  language: z.string().nullish(),
  duration: z.coerce.number().nullish(),
  words: z.array(WordSchema).nullish(),
  segments: z.array(SegmentSchema.passthrough()).nullish(),
  usage: z
    .union([
      z.object({ type: z.literal('duration'), seconds: z.coerce.number() }),
      z.object({
        type: z.literal('tokens'),
        input_tokens: z.coerce.number().default(0),
        output_tokens: z.coerce.number().default(0),
        total_tokens: z.coerce.number().default(0),
        input_token_details: z.object({ audio_tokens: z.coerce.number().optional() }).passthrough().nullish(),
      }),
    ])
    .nullish()
    .catch(null),
});

export interface OpenAITranscriberOptions {
  apiKey: string;
  baseUrl?: string;
  /** Per-request timeout; keep it below the activity's start-to-close timeout. */
  timeoutMs?: number;
}

export function createOpenAITranscriber(opts: OpenAITranscriberOptions): Transcriber {
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 0, timeout: opts.timeoutMs ?? 10 * 60_000, fetch: streamingFetch });

  return {
    async transcribe(req: TranscribeRequest, signal?: AbortSignal, watch?: RequestWatch): Promise<TranscribeResult> {
      const withTimestamps = TIMESTAMP_MODELS.test(req.model);
      // The fields `client.audio.transcriptions.create` would send, with the file part
      // streamed from disk by our own encoder (see multipart.ts); the request itself, its
      // authentication and its errors are the SDK's.
      const fields: [string, string][] = [['model', req.model]];
      if (withTimestamps) fields.push(['response_format', 'verbose_json'], ['timestamp_granularities[]', 'word'], ['timestamp_granularities[]', 'segment']);
      else fields.push(['response_format', 'json']);
      // The diarize model refuses audio over 30 s without a chunking strategy.
      if (/diarize/i.test(req.model)) fields.push(['chunking_strategy', 'auto']);
      if (req.language) fields.push(['language', req.language]);
      if (req.prompt) fields.push(['prompt', req.prompt]);
      const raw = await postTranscription(client, fields, { fileName: req.fileName, contentType: contentTypeOf(req.fileName), content: await fileContent(req) }, signal, watch);
      const parsed = ResponseSchema.safeParse(typeof raw === 'string' ? { text: raw } : raw);
      if (!parsed.success) {
        throw new ProviderError(Failure.ProviderProtocol, `The transcription service answered in an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
          provider: 'openai',
        });
      }
      const body = parsed.data;
      const span = req.range ? (req.range.endByte - req.range.startByte) / (await bytesPerSecond(req.file)) : (req.seconds ?? null);
      const duration = body.duration ?? span ?? 0;
      const segments = (body.segments ?? []).map((s) => ({
        start: s.start,
        end: s.end,
        text: s.text.trim(),
        ...(s.no_speech_prob !== undefined ? { noSpeechProb: s.no_speech_prob } : {}),
        ...(s.avg_logprob !== undefined ? { avgLogprob: s.avg_logprob } : {}),
        ...(s.compression_ratio !== undefined ? { compressionRatio: s.compression_ratio } : {}),
      }));
      const words = body.words && body.words.length > 0 ? body.words.map((w) => ({ word: w.word.trim(), start: w.start, end: w.end })) : spreadWords(body.text, segments, duration);
      const usage = usageOf(body.usage);
      return { language: body.language ?? req.language, duration, text: body.text.trim(), words, segments, ...(usage ? { usage } : {}) };
    },
  };
}

function usageOf(u: z.infer<typeof ResponseSchema>['usage']): TranscriptionUsage | null {
  if (!u) return null;
  if (u.type === 'duration') return { type: 'duration', seconds: u.seconds };
  return { type: 'tokens', inputTokens: u.input_tokens, outputTokens: u.output_tokens, totalTokens: u.total_tokens, audioTokens: u.input_token_details?.audio_tokens ?? null };
}

/**
 * POST /audio/transcriptions with the multipart body our own encoder streams from disk; the
 * request, its authentication and its errors are the SDK's (classified for Temporal).
 */
export async function postTranscription(
  client: OpenAI,
  fields: [string, string][],
  file: { fileName: string; contentType: string; content: (Buffer | FileRange)[] },
  signal: AbortSignal | undefined,
  watch?: RequestWatch,
  /** This request's own deadline (the client's default otherwise). */
  timeoutMs?: number,
): Promise<unknown> {
  const upload = multipartBody(fields, { name: 'file', ...file });
  watch?.sending?.();
  try {
    return await client.post('/audio/transcriptions', {
      body: watch?.progress ? reporting(upload.body, watch.progress) : upload.body,
      headers: { 'Content-Type': upload.contentType, 'Content-Length': String(upload.length) },
      signal,
      maxRetries: 0,
      ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
    });
  } catch (err) {
    throw classifyOpenAIError(err, signal);
  }
}

/** The body's pieces as they are produced, telling `progress` of each. */
async function* reporting(body: AsyncIterable<Buffer>, progress: () => void): AsyncGenerator<Buffer> {
  for await (const piece of body) {
    progress();
    yield piece;
  }
}

/** The file part's type, by its extension (the service itself goes by the extension). */
function contentTypeOf(fileName: string): string {
  const ext = fileName.slice(fileName.lastIndexOf('.') + 1).toLowerCase();
  return { wav: 'audio/wav', ogg: 'audio/ogg', oga: 'audio/ogg', mp3: 'audio/mpeg', flac: 'audio/flac', m4a: 'audio/mp4', webm: 'audio/webm' }[ext] ?? 'application/octet-stream';
}

async function bytesPerSecond(file: string): Promise<number> {
  return (await readWavInfo(file)).bytesPerSecond;
}

/** The WAV to send: the whole file, or a fresh header and a byte range of its PCM data. */
async function fileContent(req: TranscribeRequest): Promise<(Buffer | FileRange)[]> {
  if (!req.range) return [{ path: req.file, start: 0, end: (await stat(req.file)).size }];
  const info = await readWavInfo(req.file);
  return [wavHeader(info, req.range.endByte - req.range.startByte), { path: req.file, start: req.range.startByte, end: req.range.endByte }];
}

/**
 * Models without word timestamps return only text: spread its words evenly over the
 * segments (or the whole span) so the merge still has times. Coarse, and documented so.
 */
function spreadWords(text: string, segments: { start: number; end: number; text: string }[], duration: number): Word[] {
  const spans = segments.length > 0 ? segments : [{ start: 0, end: duration, text }];
  const out: Word[] = [];
  for (const s of spans) {
    const tokens = s.text.split(/\s+/).filter(Boolean);
    const step = tokens.length > 0 ? (s.end - s.start) / tokens.length : 0;
    tokens.forEach((t, i) => out.push({ word: t, start: s.start + i * step, end: s.start + (i + 1) * step }));
  }
  return out;
}

export function classifyOpenAIError(err: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted) return err instanceof Error ? err : new Error(String(err));
  if (err instanceof OpenAI.APIUserAbortError) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError || err instanceof OpenAI.APIConnectionError) {
    return new ProviderError(Failure.ProviderUnavailable, `Could not reach the transcription service: ${err.message}`, { provider: 'openai' });
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const requestId = err.requestID ?? undefined;
    const detail = `${providerMessage(err)}${requestIdNote(requestId)}`;
    const hints = retryHints(err.headers);
    const base = { status, provider: 'openai', requestId, ...(hints.shouldRetry !== undefined ? { shouldRetry: hints.shouldRetry } : {}) };
    if (status === 401 || status === 403) {
      return new ProviderError(Failure.ProviderAuth, `The transcription service rejected the API key (${status}): ${detail}. Check OPENAI_API_KEY on the worker.`, base);
    }
    if (status === 429) {
      if (err.code === 'insufficient_quota') {
        return new ProviderError(Failure.ProviderQuotaExceeded, `The OpenAI account has no quota left: ${detail}`, base);
      }
      return new ProviderError(Failure.ProviderRateLimited, `Rate limited by the transcription service: ${detail}`, { ...base, ...(hints.retryAfterSeconds !== undefined ? { retryAfterSeconds: hints.retryAfterSeconds } : {}) });
    }
    if (status === 408 || status === 409 || status >= 500) {
      return new ProviderError(Failure.ProviderUnavailable, `The transcription service failed (${status}): ${detail}`, { ...base, ...(hints.retryAfterSeconds !== undefined ? { retryAfterSeconds: hints.retryAfterSeconds } : {}) });
    }
    return new ProviderError(Failure.ProviderBadRequest, `The transcription service refused the request (${status}): ${detail}`, base);
  }
  return err instanceof Error ? err : new Error(String(err));
}

function providerMessage(err: InstanceType<typeof OpenAI.APIError>): string {
  const e = err.error as { message?: unknown; detail?: unknown } | string | undefined;
  if (typeof e === 'string') return e;
  if (e && typeof e.message === 'string') return e.message;
  if (e && typeof e.detail === 'string') return e.detail;
  return err.message;
}
