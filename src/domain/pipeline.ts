// The shapes a pipeline run is made of: the workflow's input, its in-memory state
// (which the progress query returns and the state record mirrors) and chunk plans.
import type { ArtifactRef } from './types';
import type { ExportFormat, RunStatus, StageName, StageStatus } from './stages';
import type { PipelineOptions } from './options';
import type { SubtitleOptions } from './formats/options';
import type { ActivityGroupName } from './heartbeats';

export interface ChunkSpan {
  index: number;
  start: number;
  end: number;
}

/** Knobs that change how, not what, the pipeline computes; none is secret. */
export interface RunSettings {
  /** Upper bound for one transcription request's audio, in seconds. */
  chunkMaxSeconds: number;
  /** How many chunk transcriptions run at once. */
  transcribeConcurrency: number;
  /** Heartbeat timeout of every activity, for runs started before per-group timeouts (and workers of that release). */
  heartbeatTimeoutSeconds: number;
  /** Heartbeat timeout per activity group, seconds (domain/heartbeats.ts): how soon a dead worker is noticed. */
  heartbeatTimeouts?: Partial<Record<ActivityGroupName, number>>;
  /** Prompt each chunk with the end of the previous chunk's text (where the model takes a prompt). */
  previousTextPrompt?: boolean;
}

export interface SpeechPipelineInput {
  pipelineId: string;
  /** Absolute path of the recording as the user named it. */
  inputFile: string;
  inputSha256: string;
  inputBytes: number;
  options: PipelineOptions;
  formats: ExportFormat[];
  /** Folders on the shared artifact store; absolute. */
  interimDir: string;
  outputDir: string;
  stateRecordPath: string;
  settings: RunSettings;
  /** Whether the PipelineStage search attribute is registered on the server. */
  searchAttributes?: boolean;
  /**
   * Results of stages completed by an earlier run of the same pipeline id, taken
   * from that run's history. Each is verified against its sha256 before reuse.
   */
  priorResults?: PriorResults;
  /** Run id of the earlier run the prior results came from. */
  resumedFrom?: string;
  /** false (--force-restart): compute every stage, taking nothing from the stage cache. */
  reuseCached?: boolean;
  // Since the output-options patch (runs of earlier releases carry none of these):
  /** Output files are `<outputBaseName>.<ext>`; the input's name without extension when absent. */
  outputBaseName?: string;
  /** Subtitle layout of the SRT and VTT exports; defaults for what is missing. */
  render?: { subtitles?: Partial<SubtitleOptions> };
  /** Replace existing output files this run did not write. */
  overwrite?: boolean;
  /** Name speakers after the enrolled voices in this folder (read by the worker, never put in history). */
  identify?: { voicesDir: string; threshold: number | null } | null;
}

export interface PriorResults {
  audio_conversion?: ArtifactRef;
  diarization?: ArtifactRef;
  transcription?: ArtifactRef;
  /** Finished chunk transcriptions, by chunk index, so a resumed run re-sends only the rest. */
  transcriptionChunks?: Record<number, ArtifactRef>;
  chunkPlan?: ArtifactRef;
  merge?: ArtifactRef;
}

export interface StageState {
  status: StageStatus;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  artifact: ArtifactRef | null;
  /** Extra files a stage produced (the export stage's outputs). */
  outputs?: ArtifactRef[];
  reused: boolean;
  error: string | null;
}

export interface PipelineState {
  pipelineId: string;
  inputFile: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  currentStage: StageName | null;
  stages: Record<StageName, StageState>;
  chunks: { total: number; done: number; inFlight: number[] };
  /** The transcription chunk plan (chunk-plan.json), once made. */
  chunkPlan: ArtifactRef | null;
  /** Duration of the converted audio in seconds, once known. */
  audioSeconds: number | null;
  error: { type: string; message: string; stage: StageName | null } | null;
  /** Monotonic counter so a slower state-record write never overwrites a newer one. */
  revision: number;
}

/** What the progress query answers. */
export interface ProgressSnapshot extends PipelineState {
  percent: number;
}
