// The mirrored state record: a snake_case superset of the original checkpoint format,
// built from the workflow's state and read back by the offline tools.
import { z } from 'zod';
import type { PipelineState, SpeechPipelineInput } from './pipeline';
import type { PipelineOptions } from './options';
import { STAGES } from './stages';

const ArtifactRefSchema = z.object({
  path: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
});

export const CheckpointSchema = z.object({
  stage: z.enum(STAGES),
  output_file: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  success: z.boolean(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  duration_ms: z.number().nullable(),
  reused: z.boolean().optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  outputs: z.array(ArtifactRefSchema).optional(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

export const StateRecordSchema = z.object({
  input_file: z.string(),
  pipeline_id: z.string(),
  workflow_id: z.string(),
  run_id: z.string().nullable(),
  status: z.enum(['running', 'completed', 'failed', 'cancelled']),
  created_at: z.string(),
  updated_at: z.string(),
  current_stage: z.enum(STAGES).nullable(),
  completed_stages: z.array(z.enum(STAGES)),
  checkpoints: z.array(CheckpointSchema),
  options: z.record(z.string(), z.unknown()),
  error: z.object({ type: z.string(), message: z.string(), stage: z.enum(STAGES).nullable() }).nullable(),
  // Additions over the original format.
  input_sha256: z.string().optional(),
  input_bytes: z.number().optional(),
  formats: z.array(z.string()).optional(),
  interim_dir: z.string().optional(),
  output_dir: z.string().optional(),
  audio_seconds: z.number().nullable().optional(),
  chunks: z.object({ total: z.number(), done: z.number() }).optional(),
  chunk_plan: ArtifactRefSchema.nullable().optional(),
  stages: z
    .record(z.string(), z.object({ status: z.string(), started_at: z.string().nullable(), completed_at: z.string().nullable(), duration_ms: z.number().nullable() }))
    .optional(),
  resumed_from: z.string().nullable().optional(),
  revision: z.number().optional(),
  /** Names given to speakers with `speech rename`, by diarization label. */
  speaker_names: z.record(z.string(), z.string()).optional(),
});
export type StateRecord = z.infer<typeof StateRecordSchema>;

/** What the record says beyond the workflow's state: the run's identity and its input. */
export type StateRecordContext = Pick<SpeechPipelineInput, 'inputSha256' | 'inputBytes' | 'options' | 'formats' | 'interimDir' | 'outputDir'> & {
  workflowId: string;
  runId: string | null;
  resumedFrom: string | null;
};

/** Snake_case options, the original tool's naming. */
export function optionsRecord(o: PipelineOptions): Record<string, unknown> {
  return {
    language: o.language,
    num_speakers: o.numSpeakers,
    min_speakers: o.minSpeakers,
    max_speakers: o.maxSpeakers,
    transcribe_model: o.transcribeModel,
  };
}

export function toStateRecord(state: PipelineState, ctx: StateRecordContext): StateRecord {
  const checkpoints: Checkpoint[] = [];
  for (const stage of STAGES) {
    const s = state.stages[stage];
    if (s.status !== 'completed' || !s.artifact) continue;
    checkpoints.push({
      stage,
      output_file: s.artifact.path,
      sha256: s.artifact.sha256,
      bytes: s.artifact.bytes,
      success: true,
      started_at: s.startedAt,
      completed_at: s.completedAt,
      duration_ms: s.durationMs,
      reused: s.reused,
      metadata: { ...(s.artifact.metadata ?? {}) },
      ...(s.outputs ? { outputs: s.outputs } : {}),
    });
  }
  return {
    input_file: state.inputFile,
    pipeline_id: state.pipelineId,
    workflow_id: ctx.workflowId,
    run_id: ctx.runId,
    status: state.status,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    current_stage: state.currentStage,
    completed_stages: checkpoints.map((c) => c.stage),
    checkpoints,
    options: optionsRecord(ctx.options),
    error: state.error,
    input_sha256: ctx.inputSha256,
    input_bytes: ctx.inputBytes,
    formats: ctx.formats,
    interim_dir: ctx.interimDir,
    output_dir: ctx.outputDir,
    audio_seconds: state.audioSeconds,
    chunks: { total: state.chunks.total, done: state.chunks.done },
    chunk_plan: state.chunkPlan,
    stages: Object.fromEntries(
      STAGES.map((st) => {
        const s = state.stages[st];
        return [st, { status: s.status, started_at: s.startedAt, completed_at: s.completedAt, duration_ms: s.durationMs }];
      }),
    ),
    resumed_from: ctx.resumedFrom,
    revision: state.revision,
  };
}
