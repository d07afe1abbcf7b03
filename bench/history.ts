// What a run's event history says about time: activity intervals, the critical path of
// workflow tasks and activities, stage spans, and the history's size.
import { temporal } from '@temporalio/proto';
import { activityRuns, eventMs, type ActivityRun } from '../src/client/history';

type History = temporal.api.history.v1.IHistory;
type Event = temporal.api.history.v1.IHistoryEvent;

export type { ActivityRun } from '../src/client/history';

export interface RunTimeline {
  startedMs: number;
  closedMs: number;
  activities: ActivityRun[];
  events: Event[];
}

export function timeline(history: History): RunTimeline {
  const events = history.events ?? [];
  let startedMs = 0;
  let closedMs = 0;
  for (const e of events) {
    if (e.workflowExecutionStartedEventAttributes) startedMs = eventMs(e);
    if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes || e.workflowExecutionCanceledEventAttributes || e.workflowExecutionTerminatedEventAttributes) {
      closedMs = eventMs(e);
    }
  }
  return { startedMs, closedMs, activities: activityRuns(history), events };
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
