// transcription: plan chunks at silences, transcribe each chunk as its own activity,
// then stitch the chunks into one transcript with absolute times.
import { Context } from '@temporalio/activity';
import path from 'node:path';
import { maxChunkSecondsFor, planBalancedChunks } from '../domain/chunk-plan';
import type { ChunkSpan } from '../domain/pipeline';
import type { ArtifactRef, Transcript } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import type { Transcriber } from '../providers/interfaces';
import { byteRangeFor, hashWavFindingSilences, readWavInfo } from '../providers/wav';
import { cleanTranscript } from '../domain/transcript-cleanup';
import { stitchChunks, type ChunkTranscript } from '../domain/stitch';
import { atBoundary } from './boundary';
import { SILENCE_DETECTION, SILENCES_FILE } from './convert';

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
}

export interface AssembleTranscriptInput {
  chunks: ArtifactRef[];
  interimDir: string;
  duration: number;
}


export function makeTranscriptionActivities(deps: { store: ArtifactStore; transcriber: () => Transcriber }) {
  async function planTranscription(input: PlanTranscriptionInput): Promise<TranscriptionPlan> {
    return atBoundary(async (beat) => {
      const signal = Context.current().cancellationSignal;
      const wav = await readWavInfo(input.audio.path);
      const limit = Math.min(input.maxChunkSeconds, maxChunkSecondsFor(input.model, wav.bytesPerSecond));
      // A file that fits in one request needs no silence search.
      let silences: { start: number; end: number }[] = [];
      if (wav.durationSeconds > limit) {
        // Conversion found them in its own pass; detect again only for audio from elsewhere.
        const found = await deps.store.readJson<{ audio_sha256: string; silences: { start: number; end: number }[] }>(path.join(input.interimDir, SILENCES_FILE)).catch(() => null);
        if (found && found.audio_sha256 === input.audio.sha256) silences = found.silences;
        else {
          beat({ phase: 'detecting silences' });
          silences = (await hashWavFindingSilences(input.audio.path, SILENCE_DETECTION, signal)).silences;
        }
      }
      const chunks = planBalancedChunks({ duration: wav.durationSeconds, silences, maxChunkSeconds: limit, lanes: input.lanes ?? 1 }).map((c) => ({
        index: c.index,
        start: c.start,
        end: c.end,
      }));
      const ref = await deps.store.writeJson(path.join(input.interimDir, 'chunk-plan.json'), {
        duration: wav.durationSeconds,
        max_chunk_seconds: limit,
        silences: silences.length,
        chunks,
      });
      return { ref: { ...ref, metadata: { chunks: chunks.length, max_chunk_seconds: limit } }, chunks };
    });
  }

  async function transcribeChunk(input: TranscribeChunkInput): Promise<ArtifactRef> {
    return atBoundary(async (beat) => {
      const signal = Context.current().cancellationSignal;
      const wav = await readWavInfo(input.audio.path);
      const range = byteRangeFor(wav, input.chunk.start, input.chunk.end);
      const label = `chunk-${String(input.chunk.index).padStart(4, '0')}`;
      beat({ chunk: input.chunk.index, of: input.totalChunks, start: input.chunk.start, end: input.chunk.end, phase: 'sending' });
      const prompt = input.previousChunk && acceptsPrompt(input.model) ? promptFrom(await deps.store.readJson<Transcript>(input.previousChunk)) : null;
      const raw = await deps.transcriber().transcribe(
        { file: input.audio.path, range, fileName: `${label}.wav`, model: input.model, language: input.language, prompt },
        signal,
      );
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
      const ref = await deps.store.writeJson(path.join(input.interimDir, 'chunks', `${label}.json`), { chunk: input.chunk, ...shifted });
      return {
        ...ref,
        metadata: {
          chunk: input.chunk.index,
          start: input.chunk.start,
          end: input.chunk.end,
          words: shifted.words.length,
          prompted: prompt !== null,
          dropped_segments: report.droppedSegments,
          collapsed_repeats: report.collapsedRepeats,
        },
      };
    });
  }

  async function assembleTranscript(input: AssembleTranscriptInput): Promise<ArtifactRef> {
    return atBoundary(async () => {
      const parts = await Promise.all(input.chunks.map((c) => deps.store.readJson<ChunkTranscript>(c)));
      const { transcript, mergedAtSeams } = stitchChunks(parts, input.duration);
      const { words, segments, language } = transcript;
      const ref = await deps.store.writeJson(path.join(input.interimDir, 'transcript.json'), transcript);
      return { ...ref, metadata: { words: words.length, segments: segments.length, chunks: parts.length, language, merged_at_seams: mergedAtSeams } };
    });
  }

  return { planTranscription, transcribeChunk, assembleTranscript };
}


/** gpt-4o-transcribe-diarize rejects a prompt; the other OpenAI models take one. */
function acceptsPrompt(model: string): boolean {
  return !/diarize/i.test(model);
}

/** The last ~200 characters of the previous chunk, cut at a word boundary. */
export function promptFrom(previous: Transcript): string | null {
  const text = previous.text.trim();
  if (!text) return null;
  if (text.length <= 200) return text;
  const tail = text.slice(-200);
  const space = tail.indexOf(' ');
  return space >= 0 ? tail.slice(space + 1) : tail;
}
