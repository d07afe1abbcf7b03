// speechPipeline: one run per input file. Calls the stage activities in order (diarization
// and transcription side by side), keeps a small state for queries and the state record,
// and reuses results of an earlier run after checking their artifacts.
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_FAILURES } from '../domain/failures';
import type { ChunkSpan, PipelineState, ProgressSnapshot, SpeechPipelineInput, StageState } from '../domain/pipeline';
import { STAGES, type StageName } from '../domain/stages';
import { formatClock } from '../domain/timecode';
import type { ArtifactRef } from '../domain/types';
import { PipelineStageAttribute, progressQuery } from './messages';

export interface SpeechPipelineResult {
  pipelineId: string;
  status: 'completed';
  audioSeconds: number | null;
  outputs: ArtifactRef[];
  stages: Record<StageName, { status: string; durationMs: number | null; reused: boolean }>;
  /** The checked artifacts of each stage, so a later run can reuse them. */
  artifacts: Partial<Record<StageName, ArtifactRef>>;
}

const retry = (maximumAttempts: number): ActivityOptions['retry'] => ({
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts,
  nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
});

/** Weight of each stage in the overall percent; transcription also moves per chunk. */
const WEIGHTS: Record<StageName, number> = { audio_conversion: 10, diarization: 25, transcription: 50, merge: 5, export: 10 };

export async function speechPipeline(input: SpeechPipelineInput): Promise<SpeechPipelineResult> {
  const hb = input.settings.heartbeatTimeoutSeconds * 1000;
  const acts = (summary: string | undefined, opts: ActivityOptions) => proxyActivities<Activities>(summary ? { ...opts, summary } : opts);
  const shortOpts: ActivityOptions = { startToCloseTimeout: '10m', heartbeatTimeout: hb, retry: retry(10) };
  const { recordState, verifyArtifacts } = acts(undefined, shortOpts);

  const info = workflowInfo();
  const now = () => new Date().toISOString();
  const state: PipelineState = {
    pipelineId: input.pipelineId,
    inputFile: input.inputFile,
    status: 'running',
    createdAt: now(),
    updatedAt: now(),
    currentStage: null,
    stages: Object.fromEntries(STAGES.map((s) => [s, emptyStage()])) as Record<StageName, StageState>,
    chunks: { total: 0, done: 0, inFlight: [] },
    chunkPlan: null,
    audioSeconds: null,
    error: null,
    revision: 0,
  };
  setHandler(progressQuery, (): ProgressSnapshot => ({ ...state, percent: percentOf(state) }));

  // State record writes run one at a time, in order, each taking the state as it is when it
  // starts; calls made while one is queued share it. A stage's activity is scheduled in the
  // same workflow task as the write saying it started, not one round trip later, so the
  // record lags the history by a write or two and never leads it. The writes are not
  // cancellable: a cancelled run still records how it ended.
  let writing: Promise<void> = Promise.resolve();
  let writeQueued = false;
  let writeFailure: unknown = null;
  const writeRecord = () =>
    CancellationScope.nonCancellable(() =>
      recordState({
        path: input.stateRecordPath,
        state: JSON.parse(JSON.stringify(state)) as PipelineState,
        context: {
          workflowId: info.workflowId,
          runId: info.runId,
          inputSha256: input.inputSha256,
          inputBytes: input.inputBytes,
          options: input.options,
          formats: input.formats,
          interimDir: input.interimDir,
          outputDir: input.outputDir,
          resumedFrom: input.resumedFrom ?? null,
        },
      }),
    );
  /** Queues a write of the current state. */
  const record = (): void => {
    state.revision += 1;
    state.updatedAt = now();
    updateDetails(state);
    if (writeQueued) return;
    writeQueued = true;
    writing = writing.then(async () => {
      writeQueued = false;
      try {
        await writeRecord();
      } catch (err) {
        writeFailure ??= err;
      }
    });
  };
  /** Waits for queued writes; a write that failed (after its retries) fails the run. */
  const recorded = async (): Promise<void> => {
    await writing;
    if (writeFailure) throw writeFailure;
  };

  /** The stage shown in the Web UI and searchable; a finished run shows how it ended. */
  const setStage = (stage: StageName | null) => {
    state.currentStage = stage;
    const shown = stage ?? (state.status === 'running' ? null : state.status);
    if (shown && input.searchAttributes) upsertSearchAttributes([{ key: PipelineStageAttribute, value: shown }]);
  };

  /** Runs one stage, or takes its earlier result when that was verified intact. */
  const runStage = async <T extends ArtifactRef | ArtifactRef[]>(stage: StageName, reuse: ArtifactRef | undefined, body: () => Promise<T>): Promise<T> => {
    const s = state.stages[stage];
    if (reuse) {
      Object.assign(s, { status: 'completed', startedAt: now(), completedAt: now(), durationMs: 0, artifact: reuse, reused: true });
      return reuse as T;
    }
    if (writeFailure) throw writeFailure;
    setStage(stage);
    Object.assign(s, { status: 'running', startedAt: now(), error: null });
    record();
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
      record();
      return result;
    } catch (err) {
      s.status = isCancellation(err) ? 'cancelled' : 'failed';
      s.completedAt = now();
      s.durationMs = Date.now() - started;
      s.error = describeFailure(err).message;
      throw err;
    }
  };

  try {
    record();
    const prior = await verifiedPrior(input, verifyArtifacts, log);

    const { convertAudio } = acts(`convert ${baseName(input.inputFile)} to 16 kHz mono WAV`, {
      startToCloseTimeout: '2h',
      heartbeatTimeout: hb,
      retry: retry(5),
    });
    const audio = await runStage('audio_conversion', prior.audio_conversion, () =>
      convertAudio({ inputFile: input.inputFile, inputSha256: input.inputSha256, interimDir: input.interimDir }),
    );
    state.audioSeconds = numberMeta(audio, 'duration_s');

    const diarization = runStage('diarization', prior.diarization, () => {
        const { diarizeAudio } = acts(`diarize ${formatClock(state.audioSeconds ?? 0)} of audio`, {
          startToCloseTimeout: '12h',
          heartbeatTimeout: hb,
          retry: retry(8),
        });
        return diarizeAudio({
          pipelineId: input.pipelineId,
          audio,
          hints: { numSpeakers: input.options.numSpeakers, minSpeakers: input.options.minSpeakers, maxSpeakers: input.options.maxSpeakers },
          interimDir: input.interimDir,
        });
    });
    const transcription = runStage('transcription', prior.transcription, () => transcribeAll(audio));
    // When one branch fails the other is left to finish: its result is paid work, and a
    // later run takes it from this run's history. Cancelling the run cancels both.
    const [d, t] = await Promise.allSettled([diarization, transcription]);
    if (d.status === 'rejected') throw d.reason;
    if (t.status === 'rejected') throw t.reason;
    const diarized = d.value;
    const transcript = t.value;

    const { mergeTranscript, exportTranscript } = acts(undefined, shortOpts);
    const merged = await runStage('merge', prior.merge, () =>
      mergeTranscript({ diarization: diarized, transcript, interimDir: input.interimDir, source: baseName(input.inputFile) }),
    );
    const outputs = await runStage('export', undefined, () =>
      exportTranscript({ merged, formats: input.formats, outputDir: input.outputDir, baseName: stripExtension(baseName(input.inputFile)) }),
    );

    state.status = 'completed';
    setStage(null);
    record();
    await recorded();
    return {
      pipelineId: input.pipelineId,
      status: 'completed',
      audioSeconds: state.audioSeconds,
      outputs,
      stages: Object.fromEntries(STAGES.map((s) => [s, { status: state.stages[s].status, durationMs: state.stages[s].durationMs, reused: state.stages[s].reused }])) as SpeechPipelineResult['stages'],
      artifacts: { audio_conversion: audio, diarization: diarized, transcription: transcript, merge: merged },
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
    await writing;
    if (cancelled) throw err;
    throw ApplicationFailure.create({ type: failure.type, message: failure.message, nonRetryable: true });
  }

  /** Plans chunks at silences, transcribes them with bounded concurrency, stitches them. */
  async function transcribeAll(audio: ArtifactRef): Promise<ArtifactRef> {
    const { planTranscription, assembleTranscript } = acts('plan transcription chunks at silences', {
      startToCloseTimeout: '30m',
      heartbeatTimeout: hb,
      retry: retry(5),
    });
    const plan = await planTranscription({
      audio,
      interimDir: input.interimDir,
      model: input.options.transcribeModel,
      maxChunkSeconds: input.settings.chunkMaxSeconds,
      lanes: input.settings.transcribeConcurrency,
    });
    state.chunks = { total: plan.chunks.length, done: 0, inFlight: [] };
    state.chunkPlan = plan.ref;
    const reusable = await reusableChunks(plan.chunks);
    const results: ArtifactRef[] = new Array(plan.chunks.length);
    // Each lane takes a contiguous run of chunks, in order, so every chunk but a lane's first
    // can be prompted with the text just before it, and which chunk gets which prompt does
    // not depend on timing.
    const lanes = Math.min(input.settings.transcribeConcurrency, plan.chunks.length);
    const lane = async (l: number) => {
      const from = Math.floor((l * plan.chunks.length) / lanes);
      const to = Math.floor(((l + 1) * plan.chunks.length) / lanes);
      for (let i = from; i < to; i++) {
        const chunk = plan.chunks[i]!;
        const reused = reusable.get(chunk.index);
        if (reused) {
          results[chunk.index] = reused;
          state.chunks.done += 1;
          continue;
        }
        const { transcribeChunk } = acts(
          `transcribe chunk ${chunk.index + 1}/${plan.chunks.length} (${formatClock(chunk.start)}–${formatClock(chunk.end)})`,
          { startToCloseTimeout: '20m', heartbeatTimeout: hb, retry: retry(10) },
        );
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
          });
          state.chunks.done += 1;
        } finally {
          state.chunks.inFlight = state.chunks.inFlight.filter((c) => c !== chunk.index);
        }
        updateDetails(state);
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
    return assembleTranscript({ chunks: results, interimDir: input.interimDir, duration: state.audioSeconds ?? 0 });
  }

  /** Chunks an earlier run finished, matched by their exact span and checked on disk. */
  async function reusableChunks(chunks: ChunkSpan[]): Promise<Map<number, ArtifactRef>> {
    const earlier = input.priorResults?.transcriptionChunks ?? {};
    const candidates: Record<string, ArtifactRef> = {};
    for (const c of chunks) {
      const ref = earlier[c.index];
      if (ref && numberMeta(ref, 'start') === c.start && numberMeta(ref, 'end') === c.end) candidates[String(c.index)] = ref;
    }
    const out = new Map<number, ArtifactRef>();
    if (Object.keys(candidates).length === 0) return out;
    const checks = await verifyArtifacts(candidates);
    for (const [k, ref] of Object.entries(candidates)) if (checks[k]?.ok) out.set(Number(k), ref);
    return out;
  }
}

async function verifiedPrior(
  input: SpeechPipelineInput,
  verify: (refs: Record<string, ArtifactRef>) => Promise<Record<string, { ok: boolean; detail?: string }>>,
  logger: typeof log,
): Promise<Partial<Record<'audio_conversion' | 'diarization' | 'transcription' | 'merge', ArtifactRef>>> {
  const p = input.priorResults;
  if (!p) return {};
  const refs: Record<string, ArtifactRef> = {};
  for (const k of ['audio_conversion', 'diarization', 'transcription', 'merge'] as const) if (p[k]) refs[k] = p[k]!;
  if (Object.keys(refs).length === 0) return {};
  const checks = await verify(refs);
  const out: Partial<Record<'audio_conversion' | 'diarization' | 'transcription' | 'merge', ArtifactRef>> = {};
  // A stage is reused only if it and everything it was computed from are intact.
  const order = ['audio_conversion', 'diarization', 'transcription', 'merge'] as const;
  const deps: Record<(typeof order)[number], (typeof order)[number][]> = {
    audio_conversion: [],
    diarization: ['audio_conversion'],
    transcription: ['audio_conversion'],
    merge: ['diarization', 'transcription'],
  };
  for (const k of order) {
    const ok = refs[k] !== undefined && checks[k]?.ok === true && deps[k].every((d) => out[d] !== undefined);
    if (ok) out[k] = refs[k];
    else if (refs[k]) logger.warn('Earlier result not reused', { stage: k, detail: checks[k]?.detail ?? 'depends on a stage that is redone' });
  }
  return out;
}

function emptyStage(): StageState {
  return { status: 'pending', startedAt: null, completedAt: null, durationMs: null, artifact: null, reused: false, error: null };
}

function percentOf(state: PipelineState): number {
  if (state.status === 'completed') return 100;
  let done = 0;
  for (const s of STAGES) {
    if (state.stages[s].status === 'completed') done += WEIGHTS[s];
    else if (s === 'transcription' && state.chunks.total > 0) done += (WEIGHTS[s] * state.chunks.done) / state.chunks.total;
  }
  return Math.round(done);
}

/** The "current details" panel of the Web UI. */
function updateDetails(state: PipelineState): void {
  const lines = STAGES.map((s) => {
    const st = state.stages[s];
    const extra = s === 'transcription' && state.chunks.total > 0 ? ` — chunks ${state.chunks.done}/${state.chunks.total}` : '';
    const took = st.durationMs !== null ? ` (${(st.durationMs / 1000).toFixed(1)} s${st.reused ? ', reused' : ''})` : '';
    return `- **${s}**: ${st.status}${took}${extra}`;
  });
  setCurrentDetails(`**${state.status}** — ${percentOf(state)} %\n\n${lines.join('\n')}`);
}

function describeFailure(err: unknown): { type: string; message: string } {
  let e: unknown = err;
  // ActivityFailure wraps the activity's ApplicationFailure in `cause`.
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause && !(e instanceof ApplicationFailure)) {
    e = (e as { cause: unknown }).cause;
  }
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'ApplicationFailure', message: e.message };
  if (e instanceof Error) return { type: e.name, message: e.message };
  return { type: 'Error', message: String(e) };
}

function numberMeta(ref: ArtifactRef, key: string): number | null {
  const v = ref.metadata?.[key];
  return typeof v === 'number' ? v : null;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

function stripExtension(name: string): string {
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(0, i) : name;
}
