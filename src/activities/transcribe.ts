// transcription: plan chunks at silences, transcribe each chunk as its own activity,
// then stitch the chunks into one transcript with absolute times.
import { Context } from '@temporalio/activity';
import path from 'node:path';
import { chunkLimitFor, DEFAULT_CHUNKS_PER_LANE, planCutsAudio, transcriptionChunks } from '../domain/chunk-plan';
import { compactJsonPieces } from '../domain/compact-json';
import type { ChunkSpan } from '../domain/pipeline';
import type { ArtifactRef, Transcript } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import type { MediaProcessor, Transcriber, TranscriptionUsage } from '../providers/interfaces';
import { plannedUploadBytesPerSecond, uploadExtension, uploadLabel, type UploadFormat } from '../domain/upload-format';
import { mkdir, unlink } from 'node:fs/promises';
import { cacheKey, chunkKeyInputs, type ServiceId, type StageCache } from '../providers/stage-cache';
import { byteRangeFor, hashWavFindingSilences, readWavInfo } from '../providers/wav';
import { cleanTranscript } from '../domain/transcript-cleanup';
import { acceptsPrompt, combinePrompt, promptFrom } from '../domain/prompt';
export { promptFrom } from '../domain/prompt';
import { stitchChunks, type ChunkTranscript } from '../domain/stitch';
import { requestDeadlineMs } from '../domain/deadlines';
import { atBoundary } from './boundary';
import { removeStaleTemporaryFiles, SILENCE_DETECTION, SILENCES_FILE } from './convert';

export interface PlanTranscriptionInput {
  audio: ArtifactRef;
  interimDir: string;
  model: string;
  maxChunkSeconds: number;
  /** Chunks transcribed at once: the plan gives each lane an equal share. */
  lanes?: number;
}

export interface TranscriptionPlan {
  ref: ArtifactRef;
  chunks: ChunkSpan[];
}

export interface TranscribeChunkInput {
  audio: ArtifactRef;
  chunk: ChunkSpan;
  totalChunks: number;
  interimDir: string;
  model: string;
  language: string | null;
  /** The chunk before this one, whose closing words become the prompt (models that take one). */
  previousChunk: ArtifactRef | null;
  /** false: send the chunk even when the same request was answered before (--force-restart). */
  reuseCached?: boolean;
  /** The user's vocabulary prompt (--prompt), sent before the previous chunk's words. */
  prompt?: string | null;
}

export interface AssembleTranscriptInput {
  chunks: ArtifactRef[];
  interimDir: string;
  duration: number;
}


export function makeTranscriptionActivities(deps: {
  store: ArtifactStore;
  transcriber: () => Transcriber;
  cache?: StageCache;
  /** Who transcribes: part of each chunk's cache key, and what its usage is billed by. */
  transcriptionService?: ServiceId;
  /** What each chunk is sent as (a compact encoding of its span, or the WAV bytes); default the WAV. */
  transcriptionUpload?: UploadFormat;
  /** Encodes compact uploads. */
  media?: MediaProcessor;
  /** Chunks per lane a long file is cut into at least; default DEFAULT_CHUNKS_PER_LANE. */
  chunksPerLane?: number;
  /**
   * How many requests the transcription service computes at once on this machine (the local
   * engine's slots): a file that fits in one request is cut into that many, so none idles.
   * Absent (a cloud service): such a file is one request.
   */
  transcriptionSlots?: () => Promise<number>;
  /** Fixed part of each request's deadline; default DEFAULT_DEADLINE_BASE_MS. */
  requestDeadlineBaseMs?: number;
}) {
  const upload = deps.transcriptionUpload ?? { codec: 'wav', bitrateKbps: null };
  async function planTranscription(input: PlanTranscriptionInput): Promise<TranscriptionPlan> {
    return atBoundary(async (beat) => {
      const signal = Context.current().cancellationSignal;
      const wav = await readWavInfo(input.audio.path);
      // Planned by the bytes each request will really carry, so a compact upload may send longer chunks.
      const limit = chunkLimitFor(input.model, plannedUploadBytesPerSecond(upload, wav.bytesPerSecond), input.maxChunkSeconds);
      const slots = deps.transcriptionSlots ? await deps.transcriptionSlots() : 1;
      // A file that is sent whole needs no silence search.
      let silences: { start: number; end: number }[] = [];
      if (planCutsAudio(wav.durationSeconds, limit, slots)) {
        // Conversion found them in its own pass; detect again only for audio from elsewhere.
        const found = await deps.store.readJson<{ audio_sha256: string; silences: { start: number; end: number }[] }>(path.join(input.interimDir, SILENCES_FILE)).catch(() => null);
        if (found && found.audio_sha256 === input.audio.sha256) silences = found.silences;
        else {
          beat({ phase: 'detecting silences' });
          silences = (await hashWavFindingSilences(input.audio.path, SILENCE_DETECTION, signal)).silences;
        }
      }
      const planFile = path.join(input.interimDir, 'chunk-plan.json');
      // An earlier attempt or run of this pipeline (perhaps by an earlier release, which planned
      // differently) already paid for chunks of its plan: keep that plan, so they are reused.
      const earlier = await earlierPlanWithPaidChunks(planFile, input.interimDir, wav.durationSeconds, limit);
      const chunks = earlier ?? transcriptionChunks({ duration: wav.durationSeconds, silences, limit, lanes: input.lanes ?? 1, chunksPerLane: deps.chunksPerLane ?? DEFAULT_CHUNKS_PER_LANE, parallelRequests: slots });
      const ref = await deps.store.writeJson(planFile, {
        duration: wav.durationSeconds,
        audio_sha256: input.audio.sha256,
        max_chunk_seconds: limit,
        silences: silences.length,
        chunks,
        ...(earlier ? { kept_from_earlier_plan: true } : {}),
      });
      return { ref: { ...ref, metadata: { chunks: chunks.length, max_chunk_seconds: limit, ...(earlier ? { kept_from_earlier_plan: true } : {}) } }, chunks };
    });
  }

  /**
   * The chunks of the plan this pipeline's folder already holds, when at least one of them was
   * transcribed (its chunk file names the same span) and the plan still fits the audio and the
   * request limit; null otherwise.
   */
  async function earlierPlanWithPaidChunks(planFile: string, interimDir: string, duration: number, limit: number): Promise<ChunkSpan[] | null> {
    const plan = await deps.store.readJson<{ duration?: number; chunks?: ChunkSpan[] }>(planFile).catch(() => null);
    const chunks = plan?.chunks;
    if (!chunks || chunks.length === 0 || plan.duration === undefined || Math.abs(plan.duration - duration) > 1e-6) return null;
    const covers = chunks.every((c, i) => c.index === i && c.end > c.start && c.end - c.start <= limit + 1e-6 && (i === 0 ? c.start === 0 : c.start === chunks[i - 1]!.end));
    if (!covers || Math.abs(chunks[chunks.length - 1]!.end - duration) > 1e-6) return null;
    for (const c of chunks) {
      const file = path.join(interimDir, 'chunks', `chunk-${String(c.index).padStart(4, '0')}.json`);
      const done = await deps.store.readJson<{ chunk?: ChunkSpan }>(file).catch(() => null);
      if (done?.chunk && done.chunk.start === c.start && done.chunk.end === c.end) return chunks.map((x) => ({ index: x.index, start: x.start, end: x.end }));
    }
    return null;
  }

  async function transcribeChunk(input: TranscribeChunkInput): Promise<ArtifactRef> {
    return atBoundary(async (beat, live) => {
      const signal = Context.current().cancellationSignal;
      const wav = await readWavInfo(input.audio.path);
      const range = byteRangeFor(wav, input.chunk.start, input.chunk.end);
      const label = `chunk-${String(input.chunk.index).padStart(4, '0')}`;
      beat({ chunk: input.chunk.index, of: input.totalChunks, start: input.chunk.start, end: input.chunk.end, phase: 'sending' });
      const previous = input.previousChunk && acceptsPrompt(input.model) ? promptFrom(await deps.store.readJson<Transcript>(input.previousChunk)) : null;
      const prompt = acceptsPrompt(input.model) ? combinePrompt(input.prompt, previous) : null;
      const service = deps.transcriptionService ?? { provider: 'openai', endpoint: '' };
      const keyInputs = chunkKeyInputs({ audioSha256: input.audio.sha256, start: input.chunk.start, end: input.chunk.end, service, model: input.model, language: input.language, prompt });
      const key = cacheKey('transcription_chunk', keyInputs);
      const chunkFile = path.join(input.interimDir, 'chunks', `${label}.json`);
      const pipelineId = path.basename(input.interimDir);
      // The same span of the same audio, sent the same way, was transcribed before: take it.
      const hit = input.reuseCached !== false ? await deps.cache?.take('transcription_chunk', key, pipelineId, { transcript: chunkFile }) : null;
      if (hit?.files.transcript) {
        await deps.cache?.put('transcription_chunk', key, keyInputs, { pipelineId, files: hit.files });
        return { ...hit.files.transcript, metadata: { ...hit.files.transcript.metadata, reused_from: hit.computedBy } };
      }
      const sent = await chunkUpload(input, range, label, signal);
      let raw;
      try {
        // A request that does not answer within what its audio and model allow is taken for
        // hung: abandoned, and sent again by the next attempt (on whichever worker takes it).
        const seconds = input.chunk.end - input.chunk.start;
        const deadline = requestDeadlineMs({ provider: service.provider, model: input.model, audioSeconds: seconds, uploadBytes: sent.bytes, ...(deps.requestDeadlineBaseMs !== undefined ? { baseMs: deps.requestDeadlineBaseMs } : {}) });
        raw = await live.request(`transcription of chunk ${input.chunk.index + 1}/${input.totalChunks}`, deadline, (s, watch) =>
          deps.transcriber().transcribe({ ...sent.request, model: input.model, language: input.language, prompt }, s, watch), { queued: true },
        );
      } finally {
        await sent.done();
      }
      const { transcript: t, report } = cleanTranscript(raw);
      const offset = input.chunk.start;
      const span = input.chunk.end - input.chunk.start;
      // Providers sometimes place the last word a little past the end of the audio sent.
      const clamp = (x: number) => Math.min(Math.max(0, x), span);
      const shifted: Transcript = {
        language: t.language,
        duration: span,
        text: t.text,
        words: t.words.map((w) => ({ word: w.word, start: offset + clamp(w.start), end: offset + clamp(w.end) })),
        segments: t.segments.map((s) => ({ text: s.text, start: offset + clamp(s.start), end: offset + clamp(s.end) })),
      };
      const ref = await deps.store.writeJson(chunkFile, { chunk: input.chunk, ...shifted, ...(raw.usage ? { usage: raw.usage } : {}) });
      const result: ArtifactRef = {
        ...ref,
        metadata: {
          chunk: input.chunk.index,
          start: input.chunk.start,
          end: input.chunk.end,
          words: shifted.words.length,
          prompted: prompt !== null,
          dropped_segments: report.droppedSegments,
          collapsed_repeats: report.collapsedRepeats,
          provider: service.provider,
          model: input.model,
          upload: uploadLabel(upload),
          upload_bytes: sent.bytes,
          ...usageMetadata(raw.usage),
        },
      };
      await deps.cache?.put('transcription_chunk', key, keyInputs, { pipelineId, files: { transcript: result } });
      return result;
    });
  }

  /**
   * What one chunk request sends: the WAV byte range itself, or the span encoded in the upload
   * format into a temporary file beside the chunk transcripts (removed once the request ends).
   */
  async function chunkUpload(input: TranscribeChunkInput, range: { startByte: number; endByte: number }, label: string, signal: AbortSignal) {
    if (upload.codec === 'wav' || !deps.media) {
      return { request: { file: input.audio.path, range, fileName: `${label}.wav` }, bytes: range.endByte - range.startByte + 44, done: async () => undefined };
    }
    const ext = uploadExtension(upload);
    const target = path.join(input.interimDir, 'chunks', `${label}.${ext}`);
    const tmp = deps.store.tempPathFor(target);
    await mkdir(path.dirname(tmp), { recursive: true });
    await removeStaleTemporaryFiles(path.dirname(target), path.basename(target));
    const { bytes } = await deps.media.encodeUpload(input.audio.path, tmp, { format: upload, span: { start: input.chunk.start, end: input.chunk.end }, signal });
    return {
      request: { file: tmp, fileName: `${label}.${ext}`, seconds: input.chunk.end - input.chunk.start },
      bytes,
      done: () => unlink(tmp).catch(() => undefined),
    };
  }

  async function assembleTranscript(input: AssembleTranscriptInput): Promise<ArtifactRef> {
    return atBoundary(async () => {
      // One file at a time: read all at once, a whole day's 144 chunk texts would be held together.
      const parts: ChunkTranscript[] = [];
      for (const c of input.chunks) parts.push(await deps.store.readJson<ChunkTranscript>(c));
      const { transcript, mergedAtSeams } = stitchChunks(parts, input.duration);
      const { words, segments, language } = transcript;
      // Compact, in pieces: a whole day's words are some 15 MB of JSON, never held as one string.
      const ref = await deps.store.writeAtomic(path.join(input.interimDir, 'transcript.json'), { pieces: () => compactJsonPieces(transcript, ['words', 'segments']) });
      return {
        ...ref,
        metadata: { words: words.length, segments: segments.length, chunks: parts.length, language, merged_at_seams: mergedAtSeams, ...chunkUsage(input.chunks) },
      };
    });
  }

  return { planTranscription, transcribeChunk, assembleTranscript };
}


/** What one request billed, flat for an artifact's metadata. */
function usageMetadata(u: TranscriptionUsage | undefined): Record<string, number> {
  if (!u) return {};
  if (u.type === 'duration') return { usage_seconds: u.seconds };
  return { input_tokens: u.inputTokens, output_tokens: u.outputTokens, ...(u.audioTokens !== null ? { audio_tokens: u.audioTokens } : {}) };
}

/**
 * What the chunks of a transcript cost: requests and audio sent for the chunks computed for
 * this pipeline (by this run or an earlier run of it), the billed usage they reported, and how
 * many were taken from another pipeline's results at no cost.
 */
export function chunkUsage(chunks: ArtifactRef[]): Record<string, string | number> {
  const num = (r: ArtifactRef, k: string) => (typeof r.metadata?.[k] === 'number' ? (r.metadata[k] as number) : 0);
  const out = { requests: 0, reused_chunks: 0, audio_seconds_sent: 0, usage_seconds: 0, input_tokens: 0, output_tokens: 0 };
  let provider: string | undefined;
  let model: string | undefined;
  for (const c of chunks) {
    if (typeof c.metadata?.provider === 'string') provider ??= c.metadata.provider;
    if (typeof c.metadata?.model === 'string') model ??= c.metadata.model;
    if (c.metadata?.reused_from !== undefined) {
      out.reused_chunks += 1;
      continue;
    }
    out.requests += 1;
    out.audio_seconds_sent += num(c, 'end') - num(c, 'start');
    out.usage_seconds += num(c, 'usage_seconds');
    out.input_tokens += num(c, 'input_tokens');
    out.output_tokens += num(c, 'output_tokens');
  }
  out.audio_seconds_sent = Math.round(out.audio_seconds_sent * 1000) / 1000;
  return { ...out, ...(provider ? { provider } : {}), ...(model ? { model } : {}) };
}
