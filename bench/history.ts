// What a run's event history says about time: activity intervals, the critical path of
// workflow tasks and activities, stage spans, and the history's size.
import { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';

type History = temporal.api.history.v1.IHistory;
type Event = temporal.api.history.v1.IHistoryEvent;

export interface ActivityRun {
  scheduledId: number;
  type: string;
  /** Event id of the WorkflowTaskCompleted whose commands scheduled it. */
  scheduledByWft: number;
  scheduledMs: number;
  startedMs: number | null;
  closedMs: number | null;
  closedId: number | null;
  attempt: number;
  outcome: 'completed' | 'failed' | 'timed-out' | 'cancelled' | 'open';
  input: unknown;
  result: unknown;
}

export interface RunTimeline {
  startedMs: number;
  closedMs: number;
  activities: ActivityRun[];
  events: Event[];
}

export function eventMs(e: Event): number {
  const t = e.eventTime;
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

function decode(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return undefined;
  }
}

export function timeline(history: History): RunTimeline {
  const events = history.events ?? [];
  const acts = new Map<number, ActivityRun>();
  let startedMs = 0;
  let closedMs = 0;
  for (const e of events) {
    const id = Number(e.eventId);
    const t = eventMs(e);
    if (e.workflowExecutionStartedEventAttributes) startedMs = t;
    if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes || e.workflowExecutionCanceledEventAttributes || e.workflowExecutionTerminatedEventAttributes) {
      closedMs = t;
    }
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      acts.set(id, {
        scheduledId: id,
        type: s.activityType?.name ?? '?',
        scheduledByWft: Number(s.workflowTaskCompletedEventId),
        scheduledMs: t,
        startedMs: null,
        closedMs: null,
        closedId: null,
        attempt: 1,
        outcome: 'open',
        input: decode(s.input),
        result: undefined,
      });
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const a = acts.get(Number(st.scheduledEventId));
      if (a) {
        a.startedMs = t;
        a.attempt = st.attempt ?? 1;
      }
    }
    const close = (sid: unknown, outcome: ActivityRun['outcome'], result?: unknown) => {
      const a = acts.get(Number(sid));
      if (!a) return;
      a.closedMs = t;
      a.closedId = id;
      a.outcome = outcome;
      a.result = result;
    };
    if (e.activityTaskCompletedEventAttributes) close(e.activityTaskCompletedEventAttributes.scheduledEventId, 'completed', decode(e.activityTaskCompletedEventAttributes.result));
    if (e.activityTaskFailedEventAttributes) close(e.activityTaskFailedEventAttributes.scheduledEventId, 'failed');
    if (e.activityTaskTimedOutEventAttributes) close(e.activityTaskTimedOutEventAttributes.scheduledEventId, 'timed-out');
    if (e.activityTaskCanceledEventAttributes) close(e.activityTaskCanceledEventAttributes.scheduledEventId, 'cancelled');
  }
  return { startedMs, closedMs, activities: [...acts.values()], events };
}

export interface CriticalPath {
  runMs: number;
  /** Activities on the path, first to last. */
  chain: ActivityRun[];
  /** Time inside the chain's activities (ActivityTaskStarted → closed, last attempt). */
  insideMs: number;
  /** runMs − insideMs: workflow tasks, dispatch, reporting, retries' waits. */
  overheadMs: number;
  activitiesExecuted: number;
}

/**
 * The critical path, walked back from the run's end: the workflow task that closed the run
 * was woken by the latest activity completion before it started; that activity was scheduled
 * by an earlier workflow task, woken in turn by the latest completion before it; … back to
 * the start. Each step's wait (completion → next workflow task → next activity's start) is
 * orchestration; what remains is time inside activities. Picking the latest completion
 * gives the smallest wait, so the overhead is never overstated.
 */
export function criticalPath(tl: RunTimeline): CriticalPath {
  const byClosed = new Map<number, ActivityRun>();
  for (const a of tl.activities) if (a.closedId !== null) byClosed.set(a.closedId, a);
  const wftStartedOf = new Map<number, number>();
  let closingWft = 0;
  for (const e of tl.events) {
    const c = e.workflowTaskCompletedEventAttributes;
    if (c) wftStartedOf.set(Number(e.eventId), Number(c.startedEventId));
    const done = e.workflowExecutionCompletedEventAttributes ?? e.workflowExecutionFailedEventAttributes;
    if (done) closingWft = Number(done.workflowTaskCompletedEventId);
  }
  const closeIds = [...byClosed.keys()].sort((a, b) => a - b);
  const latestCloseBefore = (eventId: number): ActivityRun | null => {
    let found: ActivityRun | null = null;
    for (const id of closeIds) {
      if (id >= eventId) break;
      found = byClosed.get(id)!;
    }
    return found;
  };
  const chain: ActivityRun[] = [];
  let wft = closingWft;
  const seen = new Set<number>();
  while (wft && !seen.has(wft)) {
    seen.add(wft);
    const started = wftStartedOf.get(wft);
    if (started === undefined) break;
    const a = latestCloseBefore(started);
    if (!a) break;
    // A completion already on the chain means the walk reached the start's own batch.
    if (chain.includes(a)) break;
    chain.unshift(a);
    wft = a.scheduledByWft;
  }
  const insideMs = chain.reduce((s, a) => s + ((a.closedMs ?? 0) - (a.startedMs ?? a.closedMs ?? 0)), 0);
  const runMs = tl.closedMs - tl.startedMs;
  return { runMs, chain, insideMs, overheadMs: runMs - insideMs, activitiesExecuted: tl.activities.length };
}

/** Earliest scheduled → latest closed over the activities of the given types. */
export function spanOf(tl: RunTimeline, types: string[]): { fromMs: number; toMs: number; ms: number } | null {
  const xs = tl.activities.filter((a) => types.includes(a.type));
  if (xs.length === 0) return null;
  const fromMs = Math.min(...xs.map((a) => a.scheduledMs));
  const toMs = Math.max(...xs.map((a) => a.closedMs ?? a.scheduledMs));
  return { fromMs, toMs, ms: toMs - fromMs };
}

export function historySize(history: History): { events: number; protoBytes: number; jsonBytes: number } {
  return {
    events: history.events?.length ?? 0,
    protoBytes: temporal.api.history.v1.History.encode(history).finish().length,
    jsonBytes: Buffer.byteLength(JSON.stringify(history)),
  };
}

/** Workflow task schedule-to-start (waiting for a worker's poll) and start-to-complete (the worker's turn), per task. */
export function workflowTaskTimes(tl: RunTimeline): { waitMs: number[]; runMs: number[] } {
  const at = new Map<number, number>();
  const waitMs: number[] = [];
  const runMs: number[] = [];
  for (const e of tl.events) {
    at.set(Number(e.eventId), eventMs(e));
    const st = e.workflowTaskStartedEventAttributes;
    if (st) waitMs.push(eventMs(e) - (at.get(Number(st.scheduledEventId)) ?? eventMs(e)));
    const c = e.workflowTaskCompletedEventAttributes;
    if (c) runMs.push(eventMs(e) - (at.get(Number(c.startedEventId)) ?? eventMs(e)));
  }
  return { waitMs, runMs };
}
