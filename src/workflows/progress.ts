// What a run shows of itself: the percent, the Web UI's "current details" panel, and the
// failure it ends with.
import { ApplicationFailure, setCurrentDetails } from '@temporalio/workflow';
import type { PipelineState, StageState } from '../domain/pipeline';
import { STAGES, type StageName } from '../domain/stages';

/** Weight of each stage in the overall percent; transcription also moves per chunk. */
const WEIGHTS: Record<StageName, number> = { audio_conversion: 10, diarization: 25, transcription: 50, merge: 5, export: 10 };

export function emptyStage(): StageState {
  return { status: 'pending', startedAt: null, completedAt: null, durationMs: null, artifact: null, reused: false, error: null };
}

export function percentOf(state: PipelineState): number {
  if (state.status === 'completed') return 100;
  let done = 0;
  for (const s of STAGES) {
    if (state.stages[s].status === 'completed') done += WEIGHTS[s];
    else if (s === 'transcription' && state.chunks.total > 0) done += (WEIGHTS[s] * state.chunks.done) / state.chunks.total;
  }
  return Math.round(done);
}

/** The "current details" panel of the Web UI. */
export function updateDetails(state: PipelineState): void {
  const lines = STAGES.map((s) => {
    const st = state.stages[s];
    const extra = s === 'transcription' && state.chunks.total > 0 ? ` — chunks ${state.chunks.done}/${state.chunks.total}` : '';
    const took = st.durationMs !== null ? ` (${(st.durationMs / 1000).toFixed(1)} s)` : '';
    return `- **${s}**: ${st.status}${took}${extra}${st.status === 'completed' ? ` — ${provenance(st)}` : ''}`;
  });
  setCurrentDetails(`**${state.status}** — ${percentOf(state)} %\n\n${lines.join('\n')}`);
}

/** Where a completed stage's result came from: computed, or reused (from which pipeline). */
export function provenance(st: StageState): string {
  if (st.reused) return 'reused from an earlier run of this pipeline';
  const meta = st.artifact?.metadata;
  if (typeof meta?.reused_from === 'string') return `reused from ${meta.reused_from}`;
  const chunks = typeof meta?.chunks === 'number' ? meta.chunks : 0;
  const reusedChunks = typeof meta?.reused_chunks === 'number' ? meta.reused_chunks : 0;
  if (reusedChunks > 0) return reusedChunks === chunks ? `reused (all ${chunks} chunks from earlier results)` : `computed (${reusedChunks} of ${chunks} chunks reused)`;
  return 'computed';
}

/** The activity's own failure inside the ActivityFailure that wraps it. */
export function describeFailure(err: unknown): { type: string; message: string } {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause && !(e instanceof ApplicationFailure)) {
    e = (e as { cause: unknown }).cause;
  }
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'ApplicationFailure', message: e.message };
  if (e instanceof Error) return { type: e.name, message: e.message };
  return { type: 'Error', message: String(e) };
}
