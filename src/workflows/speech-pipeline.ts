// speechPipeline: one run per input file. Calls the stage activities in order (diarization
// and transcription side by side), keeps a small state for queries and the state record,
// and reuses results of an earlier run after checking their artifacts.
//
// Every change to what this code schedules, or in which order, goes behind `patched()`; the
// replay gate (test/workflows/replay.test.ts) replays the recorded histories of every
// release against it. See the README, "Changing workflow code".
import { ApplicationFailure, CancellationScope, isCancellation, log, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PipelineState, ProgressSnapshot, SpeechPipelineInput, StageState } from '../domain/pipeline';
import { STAGES, type StageName } from '../domain/stages';
import { formatClock } from '../domain/timecode';
import type { ArtifactRef } from '../domain/types';
import { laneRanges } from '../domain/chunk-plan';
import { stageActivities, type ActivityGroup } from './activity-options';
import { PipelineStageAttribute, progressQuery } from './messages';
import { PATCHES } from './patches';
import { describeFailure, emptyStage, percentOf, updateDetails } from './progress';
import { recordQueue } from './record-queue';
import { reusableChunks, verifiedPrior } from './reuse';
import { baseName, numberMeta, stripExtension } from './util';

export interface SpeechPipelineResult {
  pipelineId: string;
  status: 'completed';
  audioSeconds: number | null;
  outputs: ArtifactRef[];
  stages: Record<StageName, { status: string; durationMs: number | null; reused: boolean }>;
  /** The checked artifacts of each stage, so a later run can reuse them. */
  artifacts: Partial<Record<StageName, ArtifactRef>>;
}

export async function speechPipeline(input: SpeechPipelineInput): Promise<SpeechPipelineResult> {
  // Each group's heartbeat timeout; runs started before per-group timeouts have one for all.
  const hb = (group: ActivityGroup) => (input.settings.heartbeatTimeouts?.[group] ?? input.settings.heartbeatTimeoutSeconds) * 1000;
  const { recordState, verifyArtifacts } = stageActivities('bookkeeping', hb('bookkeeping'));
  const name = baseName(input.inputFile);
  const state = initialState(input);
  setHandler(progressQuery, (): ProgressSnapshot => ({ ...state, percent: percentOf(state) }));

  // The writes are not cancellable: a cancelled run still records how it ended.
  const records = recordQueue(() =>
    CancellationScope.nonCancellable(() => recordState({ path: input.stateRecordPath, state: JSON.parse(JSON.stringify(state)) as PipelineState, context: recordContext(input) })),
  );
  const record = (): void => {
    state.revision += 1;
    state.updatedAt = new Date().toISOString();
    updateDetails(state);
    records.push();
  };
  const setStage = (stage: StageName | null) => {
    state.currentStage = stage;
    const shown = stage ?? (state.status === 'running' ? null : state.status);
    if (shown && input.searchAttributes) upsertSearchAttributes([{ key: PipelineStageAttribute, value: shown }]);
  };
  const runStage = stageRunner(state, { record, setStage, writeFailure: () => records.failure });

  try {
    record();
    // Decided once, at the start: a run replayed from an earlier release's history keeps that
    // release's activity inputs throughout.
    const outputOptions = patched(PATCHES.outputOptions);
    const cache = patched(PATCHES.stageCache) ? { reuseCached: input.reuseCached !== false } : {};
    const userPrompt = patched(PATCHES.userPrompt) && input.options.prompt ? { prompt: input.options.prompt } : {};
    const prior = await verifiedPrior(input, verifyArtifacts, log);

    const { convertAudio } = stageActivities('conversion', hb('conversion'), `convert ${name} to 16 kHz mono WAV`);
    const audio = await runStage('audio_conversion', prior.audio_conversion, () =>
      convertAudio({ inputFile: input.inputFile, inputSha256: input.inputSha256, interimDir: input.interimDir, ...cache }),
    );
    state.audioSeconds = numberMeta(audio, 'duration_s');

    const diarization = runStage('diarization', prior.diarization, () => {
      const { diarizeAudio } = stageActivities('diarization', hb('diarization'), `diarize ${formatClock(state.audioSeconds ?? 0)} of audio`);
      const { numSpeakers, minSpeakers, maxSpeakers } = input.options;
      const identify = outputOptions && input.identify ? { identify: input.identify } : {};
      return diarizeAudio({ pipelineId: input.pipelineId, audio, hints: { numSpeakers, minSpeakers, maxSpeakers }, interimDir: input.interimDir, ...identify, ...cache });
    });
    const transcription = runStage('transcription', prior.transcription, () => transcribeAll(audio, { ...cache, ...userPrompt }));
    // When one branch fails the other is left to finish: its result is paid work, and a
    // later run takes it from this run's history. Cancelling the run cancels both.
    const [d, t] = await Promise.allSettled([diarization, transcription]);
    if (d.status === 'rejected') throw d.reason;
    if (t.status === 'rejected') throw t.reason;

    const { mergeTranscript, exportTranscript } = stageActivities('mergeExport', hb('mergeExport'));
    const merged = await runStage('merge', prior.merge, () => mergeTranscript({ diarization: d.value, transcript: t.value, interimDir: input.interimDir, source: name }));
    const outputs = await runStage('export', undefined, () =>
      exportTranscript({
        merged,
        formats: input.formats,
        outputDir: input.outputDir,
        baseName: (outputOptions ? input.outputBaseName : undefined) ?? stripExtension(name),
        ...(outputOptions ? { render: input.render ?? {}, overwrite: input.overwrite ?? false } : {}),
      }),
    );

    state.status = 'completed';
    setStage(null);
    record();
    await records.recorded();
    return {
      pipelineId: input.pipelineId,
      status: 'completed',
      audioSeconds: state.audioSeconds,
      outputs,
      stages: Object.fromEntries(STAGES.map((s) => [s, { status: state.stages[s].status, durationMs: state.stages[s].durationMs, reused: state.stages[s].reused }])) as SpeechPipelineResult['stages'],
      artifacts: { audio_conversion: audio, diarization: d.value, transcription: t.value, merge: merged },
    };
  } catch (err) {
    const cancelled = isCancellation(err);
    const failure = describeFailure(err);
    state.status = cancelled ? 'cancelled' : 'failed';
    state.error = { type: cancelled ? 'Cancelled' : failure.type, message: cancelled ? 'The run was cancelled.' : failure.message, stage: state.currentStage };
    for (const s of STAGES) if (state.stages[s].status === 'running') state.stages[s].status = cancelled ? 'cancelled' : 'failed';
    if (input.searchAttributes) upsertSearchAttributes([{ key: PipelineStageAttribute, value: state.status }]);
    record();
    // The run's own error, not a failed record write, is what it ends with.
    await records.settled();
    if (cancelled) throw err;
    throw ApplicationFailure.create({ type: failure.type, message: failure.message, nonRetryable: true, cause: err instanceof Error ? err : undefined });
  }

  /**
   * Whether an earlier run's finished chunks were cut from this run's audio. Before the patch,
   * chunks were reused whenever they were intact, even after the audio was converted again.
   */
  function chunksFromSameAudio(audio: ArtifactRef): boolean {
    const earlierAudio = input.priorResults?.audio_conversion;
    if (!input.priorResults?.transcriptionChunks || !earlierAudio) return true;
    if (!patched(PATCHES.chunkReuseNeedsSameAudio)) return true;
    return earlierAudio.sha256 === audio.sha256;
  }

  /** Plans chunks at silences, transcribes them with bounded concurrency, stitches them. */
  async function transcribeAll(audio: ArtifactRef, chunkExtras: { reuseCached?: boolean; prompt?: string }): Promise<ArtifactRef> {
    const { planTranscription } = stageActivities('transcriptionPlan', hb('transcriptionPlan'), 'plan transcription chunks at silences');
    const plan = await planTranscription({
      audio,
      interimDir: input.interimDir,
      model: input.options.transcribeModel,
      maxChunkSeconds: input.settings.chunkMaxSeconds,
      lanes: input.settings.transcribeConcurrency,
    });
    state.chunks = { total: plan.chunks.length, done: 0, inFlight: [] };
    state.chunkPlan = plan.ref;
    const reusable = await reusableChunks(input, plan.chunks, verifyArtifacts, chunksFromSameAudio(audio));
    const results: ArtifactRef[] = new Array(plan.chunks.length);
    // Each lane takes a contiguous run of chunks, in order, so every chunk but a lane's first
    // can be prompted with the text just before it, and which chunk gets which prompt does
    // not depend on timing.
    const lane = async ({ from, to }: { from: number; to: number }) => {
      for (let i = from; i < to; i++) {
        const chunk = plan.chunks[i]!;
        const reused = reusable.get(chunk.index);
        if (reused) {
          results[chunk.index] = reused;
          state.chunks.done += 1;
          continue;
        }
        const { transcribeChunk } = stageActivities('transcriptionChunk', hb('transcriptionChunk'), `transcribe chunk ${chunk.index + 1}/${plan.chunks.length} (${formatClock(chunk.start)}–${formatClock(chunk.end)})`);
        state.chunks.inFlight.push(chunk.index);
        updateDetails(state);
        try {
          results[chunk.index] = await transcribeChunk({
            audio,
            chunk,
            totalChunks: plan.chunks.length,
            interimDir: input.interimDir,
            model: input.options.transcribeModel,
            language: input.options.language,
            previousChunk: input.settings.previousTextPrompt !== false && i > from ? (results[i - 1] ?? null) : null,
            ...chunkExtras,
          });
          state.chunks.done += 1;
        } finally {
          state.chunks.inFlight = state.chunks.inFlight.filter((c) => c !== chunk.index);
        }
        updateDetails(state);
      }
    };
    await Promise.all(laneRanges(plan.chunks.length, input.settings.transcribeConcurrency).map(lane));
    const { assembleTranscript } = stageActivities('transcriptionPlan', hb('transcriptionPlan'), `stitch ${plan.chunks.length} chunk transcript${plan.chunks.length === 1 ? '' : 's'} into one`);
    return assembleTranscript({ chunks: results, interimDir: input.interimDir, duration: state.audioSeconds ?? 0 });
  }
}

function initialState(input: SpeechPipelineInput): PipelineState {
  const now = new Date().toISOString();
  return {
    pipelineId: input.pipelineId,
    inputFile: input.inputFile,
    status: 'running',
    createdAt: now,
    updatedAt: now,
    currentStage: null,
    stages: Object.fromEntries(STAGES.map((s) => [s, emptyStage()])) as Record<StageName, StageState>,
    chunks: { total: 0, done: 0, inFlight: [] },
    chunkPlan: null,
    audioSeconds: null,
    error: null,
    revision: 0,
  };
}

function recordContext(input: SpeechPipelineInput) {
  const info = workflowInfo();
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    inputSha256: input.inputSha256,
    inputBytes: input.inputBytes,
    options: input.options,
    formats: input.formats,
    interimDir: input.interimDir,
    outputDir: input.outputDir,
    resumedFrom: input.resumedFrom ?? null,
  };
}

/** Runs one stage, or takes its earlier result when that was verified intact; keeps the stage's state. */
function stageRunner(state: PipelineState, hooks: { record: () => void; setStage: (s: StageName) => void; writeFailure: () => unknown }) {
  const now = () => new Date().toISOString();
  return async <T extends ArtifactRef | ArtifactRef[]>(stage: StageName, reuse: ArtifactRef | undefined, body: () => Promise<T>): Promise<T> => {
    const s = state.stages[stage];
    if (reuse) {
      Object.assign(s, { status: 'completed', startedAt: now(), completedAt: now(), durationMs: 0, artifact: reuse, reused: true });
      return reuse as T;
    }
    const failed = hooks.writeFailure();
    if (failed) throw failed;
    hooks.setStage(stage);
    Object.assign(s, { status: 'running', startedAt: now(), error: null });
    hooks.record();
    const started = Date.now();
    try {
      const result = await body();
      s.status = 'completed';
      s.completedAt = now();
      s.durationMs = Date.now() - started;
      if (Array.isArray(result)) {
        s.outputs = result;
        s.artifact = result[0] ?? null;
      } else {
        s.artifact = result as ArtifactRef;
      }
      hooks.record();
      return result;
    } catch (err) {
      s.status = isCancellation(err) ? 'cancelled' : 'failed';
      s.completedAt = now();
      s.durationMs = Date.now() - started;
      s.error = describeFailure(err).message;
      throw err;
    }
  };
}
