// createActivities(deps): every activity of the pipeline, built from its providers.
// Workflows import this module's type only.
import type { ArtifactStore } from '../providers/artifact-store';
import type { Diarizer, MediaProcessor, Transcriber } from '../providers/interfaces';
import type { ServiceId, StageCache } from '../providers/stage-cache';
import type { UploadFormat } from '../domain/upload-format';
import type { OpenAIDiarizer } from '../providers/openai-diarizer';
import { makeConvertAudio } from './convert';
import { makeDiarizeAudio } from './diarize';
import { makeMergeExportActivities } from './merge-export';
import { makeRecordActivities } from './record';
import { makeTranscriptionActivities } from './transcribe';

export interface ActivityDeps {
  media: MediaProcessor;
  store: ArtifactStore;
  /** Built on first use, so a missing key fails only the stage that needs it. */
  transcriber: () => Transcriber;
  diarizer: () => Diarizer;
  diarizePollIntervalMs: number;
  /** Whose voiceprints this worker's diarizer can compare against (config.ts, voiceSpace). */
  voiceSpace: string;
  /** Results of the paid stages by what they depend on (providers/stage-cache.ts); absent: every stage computes. */
  cache?: StageCache;
  /** Who answers each stage: part of the cache keys, and what usage is billed by. */
  services?: { transcription: ServiceId; diarization: ServiceId & { model: string } };
  /** What audio each stage sends (compact encodings for cloud providers); absent: the WAV. */
  upload?: { transcription: UploadFormat; diarization: UploadFormat };
  /** DIARIZE_PROVIDER=openai: diarization by gpt-4o-transcribe-diarize requests. */
  openaiDiarizer?: () => OpenAIDiarizer;
  /** Chunks per transcription lane a long file is cut into at least (CHUNKS_PER_LANE). */
  chunksPerLane?: number;
  /** Requests the transcription service computes at once on this machine (the local engine's slots); absent: a cloud service. */
  transcriptionSlots?: () => Promise<number>;
  /** Fixed part of each provider request's deadline (REQUEST_DEADLINE_BASE_SECONDS), ms. */
  requestDeadlineBaseMs?: number;
}

export function createActivities(deps: ActivityDeps) {
  return {
    convertAudio: makeConvertAudio(deps),
    diarizeAudio: makeDiarizeAudio({
      diarizer: deps.diarizer,
      store: deps.store,
      pollIntervalMs: deps.diarizePollIntervalMs,
      voiceSpace: deps.voiceSpace,
      ...(deps.cache ? { cache: deps.cache } : {}),
      ...(deps.services ? { service: deps.services.diarization } : {}),
      ...(deps.upload ? { upload: deps.upload.diarization, media: deps.media } : {}),
      ...(deps.requestDeadlineBaseMs !== undefined ? { requestDeadlineBaseMs: deps.requestDeadlineBaseMs } : {}),
      ...(deps.openaiDiarizer ? { openaiDiarizer: deps.openaiDiarizer } : {}),
    }),
    ...makeTranscriptionActivities({
      ...deps,
      ...(deps.services ? { transcriptionService: deps.services.transcription } : {}),
      ...(deps.upload ? { transcriptionUpload: deps.upload.transcription } : {}),
    }),
    ...makeMergeExportActivities(deps),
    ...makeRecordActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ConvertAudioInput } from './convert';
export type { DiarizeAudioInput, DiarizationResult } from './diarize';
export type { TranscribeChunkInput, PlanTranscriptionInput, AssembleTranscriptInput, TranscriptionPlan } from './transcribe';
export type { MergeInput, ExportInput } from './merge-export';
export type { RecordStateInput } from './record';
