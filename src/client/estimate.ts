// `speech run --estimate FILE…`: for each file, its length, what earlier results would be
// reused (a completed pipeline, or the stage cache), what would be sent to which provider,
// and the estimated cost. Reads local files only: no provider, no Temporal, nothing spent.
import { readFile } from 'node:fs/promises';
import { dataPaths, serviceIds, voicesDir, voiceSpace, type Config } from '../config';
import { chunkLimitFor, laneRanges, planCutsAudio, transcriptionChunks } from '../domain/chunk-plan';
import { CONVERSION_SETTINGS } from '../domain/conversion';
import { plannedUploadBytesPerSecond } from '../domain/upload-format';
import type { PipelineOptions } from '../domain/options';
import { acceptsPrompt, combinePrompt, promptFrom } from '../domain/prompt';
import type { Transcript } from '../domain/types';
import { diarizationCost, transcriptionCost, type CostLine, type PriceTable } from '../domain/usage';
import { createFsArtifactStore } from '../providers/artifact-store';
import { cacheDirOf, cacheKey, chunkKeyInputs, conversionKeyInputs, createStageCache, diarizationKeyInputs, type StageCache } from '../providers/stage-cache';
import { voiceprintsDigest, voiceprintsFor } from '../providers/voices';
import { readWavInfo } from '../providers/wav';
import { loadRecordFile } from './records';

/** Estimates compare sizes only; a run checks the sha256 of whatever it takes. */
const QUICK = { check: 'size' } as const;

/** The run settings the chunk plan depends on (SpeechPipelineInput.settings). */
export interface EstimateSettings {
  chunkMaxSeconds: number;
  lanes: number;
  /** The workers' CHUNKS_PER_LANE (assumed to be this machine's). */
  chunksPerLane: number;
  /** Requests the transcription service computes at once here (the local engine's slots); 1 for a cloud service. */
  parallelRequests: number;
  previousTextPrompt: boolean;
}

export interface FileEstimate {
  file: string;
  pipeline_id: string;
  audio_seconds: number | null;
  /** A completed run of this pipeline holds the result: nothing would run. */
  completed_earlier: boolean;
  reused: { conversion: boolean; diarization: boolean; chunks: number; of_chunks: number | null };
  to_pay: { diarization_seconds: number; transcription_seconds: number; transcription_requests: number };
  cost: { amount: number | null; lines: CostLine[] };
}

export async function estimateFile(
  config: Config,
  prices: PriceTable,
  settings: EstimateSettings,
  f: { file: string; pipelineId: string; sha256: string; seconds: number | null; options: PipelineOptions },
): Promise<FileEstimate> {
  const out: FileEstimate = {
    file: f.file,
    pipeline_id: f.pipelineId,
    audio_seconds: f.seconds,
    completed_earlier: false,
    reused: { conversion: false, diarization: false, chunks: 0, of_chunks: null },
    to_pay: { diarization_seconds: 0, transcription_seconds: 0, transcription_requests: 0 },
    cost: { amount: 0, lines: [] },
  };
  const record = await loadRecordFile(dataPaths(config.dataDir, f.pipelineId).stateRecord).catch(() => null);
  if (record?.status === 'completed') {
    out.completed_earlier = true;
    out.reused = { conversion: true, diarization: true, chunks: record.chunks?.total ?? 0, of_chunks: record.chunks?.total ?? null };
    return out;
  }

  const store = createFsArtifactStore();
  const cache = createStageCache(cacheDirOf(config.dataDir), store);
  const services = serviceIds(config);
  const converted = await cache.peek('audio_conversion', cacheKey('audio_conversion', conversionKeyInputs(f.sha256, CONVERSION_SETTINGS)), QUICK);
  const audio = converted?.files.audio ?? null;
  out.reused.conversion = audio !== null;
  const seconds = typeof audio?.metadata?.duration_s === 'number' ? audio.metadata.duration_s : f.seconds;
  out.audio_seconds = seconds;

  // Diarization: the same audio, provider, model, hints (and voices) diarized before.
  if (audio) {
    const identify = f.options.identify ? await identifyKey(config, f.options.identify.threshold) : null;
    const hints = { numSpeakers: f.options.numSpeakers, minSpeakers: f.options.minSpeakers, maxSpeakers: f.options.maxSpeakers };
    const key = cacheKey('diarization', diarizationKeyInputs({ audioSha256: audio.sha256, service: services.diarization, hints, identify }));
    out.reused.diarization = (await cache.peek('diarization', key, QUICK)) !== null;
  }
  if (!out.reused.diarization) out.to_pay.diarization_seconds = seconds ?? 0;

  // Transcription: the chunks the plan would make, each looked up with the prompt it would get.
  const model = f.options.transcribeModel;
  if (audio) {
    const wav = await readWavInfo(audio.path);
    const limit = chunkLimitFor(model, plannedUploadBytesPerSecond(config.upload.transcription, wav.bytesPerSecond), settings.chunkMaxSeconds);
    const silences = planCutsAudio(wav.durationSeconds, limit, settings.parallelRequests) && converted?.files.silences ? ((await store.readJson<{ silences: { start: number; end: number }[] }>(converted.files.silences)).silences ?? []) : [];
    const chunks = transcriptionChunks({ duration: wav.durationSeconds, silences, limit, lanes: settings.lanes, chunksPerLane: settings.chunksPerLane, parallelRequests: settings.parallelRequests });
    out.reused.of_chunks = chunks.length;
    for (const { from, to } of laneRanges(chunks.length, settings.lanes)) {
      const user = acceptsPrompt(model) ? (f.options.prompt ?? null) : null;
      let prompt: string | null = combinePrompt(user, null);
      let known = true;
      for (let i = from; i < to; i++) {
        const c = chunks[i]!;
        const hit: Transcript | null = known ? await lookupChunk(cache, { audioSha256: audio.sha256, start: c.start, end: c.end, service: services.transcription, model, language: f.options.language, prompt }) : null;
        if (hit) {
          out.reused.chunks += 1;
          prompt = combinePrompt(user, settings.previousTextPrompt && acceptsPrompt(model) ? promptFrom(hit) : null);
        } else {
          // Past a chunk that is not cached, the prompts of the lane's later chunks are unknown.
          known = false;
          out.to_pay.transcription_seconds += c.end - c.start;
          out.to_pay.transcription_requests += 1;
        }
      }
    }
  } else if (seconds !== null) {
    const limit = chunkLimitFor(model, plannedUploadBytesPerSecond(config.upload.transcription, 32_000), settings.chunkMaxSeconds);
    out.to_pay.transcription_seconds = seconds;
    out.to_pay.transcription_requests = Math.max(1, Math.ceil(seconds / limit));
  }

  const diarizing = out.to_pay.diarization_seconds > 0;
  const lines = [
    services.diarization.provider === 'openai'
      ? (() => {
          // Request-based diarization is billed like transcription by the same provider.
          const l = transcriptionCost(prices, { provider: 'openai', model: services.diarization.model, requests: diarizing ? 1 : 0, audioSecondsSent: out.to_pay.diarization_seconds, usageSeconds: 0, inputTokens: 0, outputTokens: 0 });
          return l ? { ...l, stage: 'diarization' as const } : null;
        })()
      : diarizationCost(prices, services.diarization.provider, services.diarization.model, out.to_pay.diarization_seconds, diarizing ? 1 : 0),
    transcriptionCost(prices, {
      provider: services.transcription.provider,
      model,
      requests: out.to_pay.transcription_requests,
      audioSecondsSent: out.to_pay.transcription_seconds,
      usageSeconds: 0,
      inputTokens: 0,
      outputTokens: 0,
    }),
  ].filter((l): l is CostLine => l !== null);
  out.to_pay.transcription_seconds = Math.round(out.to_pay.transcription_seconds * 1000) / 1000;
  out.cost = { amount: lines.some((l) => l.amount === null) ? null : lines.reduce((a, l) => a + (l.amount ?? 0), 0), lines };
  return out;
}

async function lookupChunk(cache: StageCache, k: Parameters<typeof chunkKeyInputs>[0]): Promise<Transcript | null> {
  const hit = await cache.peek('transcription_chunk', cacheKey('transcription_chunk', chunkKeyInputs(k)), QUICK);
  if (!hit?.files.transcript) return null;
  try {
    return JSON.parse(await readFile(hit.files.transcript.path, 'utf8')) as Transcript;
  } catch {
    return null;
  }
}

async function identifyKey(config: Config, threshold: number | null): Promise<{ voicesSha256: string; threshold: number | null } | null> {
  const { voiceprints } = await voiceprintsFor(voicesDir(config.dataDir), voiceSpace(config));
  return voiceprints.length > 0 ? { voicesSha256: voiceprintsDigest(voiceprints), threshold } : null;
}
