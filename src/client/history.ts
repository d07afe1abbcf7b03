// The one reader of a run's Temporal event history: which activity ran for which stage, when,
// how often and with what result. The resume (prior results), `speech show`/`export` timings,
// the stuck-run diagnosis, the bench and the tests all read histories through this module.
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Activities } from '../activities';
import type { PriorResults, SpeechPipelineInput } from '../domain/pipeline';
import type { StageName } from '../domain/stages';
import type { ArtifactRef } from '../domain/types';

export type History = temporal.api.history.v1.IHistory;
export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
export type ActivityType = keyof Activities;

/**
 * The stage each activity belongs to. Typed against `Activities`: adding, renaming or removing
 * an activity does not compile until this map says where it belongs.
 */
export const ACTIVITY_STAGE: Record<ActivityType, StageName | 'bookkeeping'> = {
  convertAudio: 'audio_conversion',
  diarizeAudio: 'diarization',
  planTranscription: 'transcription',
  transcribeChunk: 'transcription',
  assembleTranscript: 'transcription',
  mergeTranscript: 'merge',
  exportTranscript: 'export',
  recordState: 'bookkeeping',
  verifyArtifacts: 'bookkeeping',
};

export function isActivityType(name: string): name is ActivityType {
  return Object.hasOwn(ACTIVITY_STAGE, name);
}

export interface ActivityRun {
  scheduledId: number;
  activityId: string;
  type: string;
  stage: StageName | 'bookkeeping' | null;
  /** Event id of the WorkflowTaskCompleted whose commands scheduled it. */
  scheduledByWft: number;
  scheduledMs: number;
  startedMs: number | null;
  closedMs: number | null;
  closedId: number | null;
  /** The attempt that closed it (or the latest started). */
  attempt: number;
  outcome: 'completed' | 'failed' | 'timed-out' | 'cancelled' | 'open';
  input: unknown;
  result: unknown;
  failure: string | null;
}

export function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

export function decodeFirst<T = unknown>(payloads: temporal.api.common.v1.IPayloads | null | undefined): T | undefined {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<T>(p);
  } catch {
    return undefined;
  }
}

/** Every activity of the history, in scheduling order. */
export function activityRuns(history: History): ActivityRun[] {
  const acts = new Map<number, ActivityRun>();
  for (const e of history.events ?? []) {
    const id = Number(e.eventId);
    const t = eventMs(e);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const type = s.activityType?.name ?? '?';
      acts.set(id, {
        scheduledId: id,
        activityId: s.activityId ?? '',
        type,
        stage: isActivityType(type) ? ACTIVITY_STAGE[type] : null,
        scheduledByWft: Number(s.workflowTaskCompletedEventId),
        scheduledMs: t,
        startedMs: null,
        closedMs: null,
        closedId: null,
        attempt: 1,
        outcome: 'open',
        input: decodeFirst(s.input),
        result: undefined,
        failure: null,
      });
      continue;
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const a = acts.get(Number(st.scheduledEventId));
      if (a) {
        a.startedMs = t;
        a.attempt = st.attempt ?? 1;
        if (st.lastFailure?.message) a.failure = st.lastFailure.message;
      }
      continue;
    }
    const close = (sid: unknown, outcome: ActivityRun['outcome'], extra: Partial<ActivityRun> = {}) => {
      const a = acts.get(Number(sid));
      if (!a) return;
      Object.assign(a, { closedMs: t, closedId: id, outcome, ...extra });
    };
    const c = e.activityTaskCompletedEventAttributes;
    if (c) close(c.scheduledEventId, 'completed', { result: decodeFirst(c.result) });
    const f = e.activityTaskFailedEventAttributes;
    if (f) close(f.scheduledEventId, 'failed', { failure: f.failure?.message ?? null });
    const to = e.activityTaskTimedOutEventAttributes;
    if (to) close(to.scheduledEventId, 'timed-out', { failure: to.failure?.message ?? null });
    const cc = e.activityTaskCanceledEventAttributes;
    if (cc) close(cc.scheduledEventId, 'cancelled');
  }
  return [...acts.values()];
}

export function workflowInput(history: History): SpeechPipelineInput | undefined {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  return started ? decodeFirst<SpeechPipelineInput>(started.input) : undefined;
}

/**
 * The stage results a run completed, for a later run of the same pipeline id to reuse: the
 * results it reused itself (from its input) plus those its activities computed.
 */
export function priorResults(history: History): PriorResults {
  const results: PriorResults = structuredClone(workflowInput(history)?.priorResults ?? {});
  for (const a of activityRuns(history)) {
    if (a.outcome !== 'completed') continue;
    switch (a.type as ActivityType) {
      case 'convertAudio':
        results.audio_conversion = a.result as ArtifactRef;
        break;
      case 'diarizeAudio':
        results.diarization = a.result as ArtifactRef;
        break;
      case 'assembleTranscript':
        results.transcription = a.result as ArtifactRef;
        break;
      case 'mergeTranscript':
        results.merge = a.result as ArtifactRef;
        break;
      case 'planTranscription':
        results.chunkPlan = (a.result as { ref: ArtifactRef }).ref;
        break;
      case 'transcribeChunk': {
        const ref = a.result as ArtifactRef;
        const idx = ref.metadata?.chunk;
        if (typeof idx === 'number') (results.transcriptionChunks ??= {})[idx] = ref;
        break;
      }
      default:
        break;
    }
  }
  return results;
}

/** Chunk indexes whose transcription completed in the history before `beforeMs` (epoch ms). */
export function chunksCompleted(history: History, beforeMs = Infinity): Set<number> {
  const done = new Set<number>();
  for (const a of activityRuns(history)) {
    if (a.type !== 'transcribeChunk' || a.outcome !== 'completed' || (a.closedMs ?? Infinity) >= beforeMs) continue;
    const idx = (a.result as ArtifactRef).metadata?.chunk;
    if (typeof idx === 'number') done.add(idx);
  }
  return done;
}

export interface WorkflowTaskFailure {
  eventId: number;
  at: string;
  /** Temporal's cause, e.g. WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR. */
  cause: string;
  nondeterminism: boolean;
  message: string;
  /** The build id of the worker whose task failed, when it reported one. */
  buildId: string | null;
}

/** Workflow tasks that failed, oldest first. */
export function workflowTaskFailures(history: History): WorkflowTaskFailure[] {
  const out: WorkflowTaskFailure[] = [];
  for (const e of history.events ?? []) {
    const f = e.workflowTaskFailedEventAttributes;
    if (!f) continue;
    const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[f.cause ?? 0] ?? String(f.cause);
    const message = f.failure?.message ?? '';
    out.push({
      eventId: Number(e.eventId),
      at: new Date(eventMs(e)).toISOString(),
      cause,
      nondeterminism: /NON_DETERMINISTIC/.test(cause) || /TMPRL1100|nondetermin/i.test(message),
      message,
      buildId: f.workerVersion?.buildId || f.binaryChecksum || null,
    });
  }
  return out;
}

/** The build ids of the workers that completed this run's workflow tasks, in order of first appearance. */
export function workerBuildIds(history: History): string[] {
  const ids: string[] = [];
  for (const e of history.events ?? []) {
    const c = e.workflowTaskCompletedEventAttributes;
    const id = c?.deployment?.buildId || c?.workerVersion?.buildId || c?.binaryChecksum;
    if (id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
