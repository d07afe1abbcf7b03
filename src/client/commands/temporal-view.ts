// What the checkpoint tools ask Temporal, when it answers: visibility (runs and their
// status), one run's status, and the activity timings of its history. Every tool also
// works without a server, from the state records, and says so.
import { Client, WorkflowNotFoundError, type WorkflowExecutionStatusName } from '@temporalio/client';
import { connect } from 'node:net';
import { loadConfig, type Config } from '../../config';
import type { RunStatus, StageName } from '../../domain/stages';
import { InputFileAttribute } from '../../workflows/messages';
import { connectClient, type CliContext } from '../context';
import { activityRuns, eventMs, type ActivityRun } from '../history';

/** How long the offline-capable tools wait for a server before they fall back to the records. */
export const OPTIONAL_CONNECT_MS = 2000;

export type TemporalReach = { ctx: CliContext; reason: null } | { ctx: null; reason: string };

/**
 * A client when the server answers within a short deadline, else the reason it does not.
 * Unlike openContext this never starts the embedded server and never throws for an
 * unreachable server: the caller falls back to the state records.
 */
export async function reachTemporal(config: Config = loadConfig()): Promise<TemporalReach> {
  // A refused TCP connection answers at once, where the gRPC client would retry until its deadline.
  const refused = await tcpRefused(config.temporal.address, OPTIONAL_CONNECT_MS);
  if (refused) return { ctx: null, reason: `the Temporal server at ${config.temporal.address} is not reachable (${refused})` };
  let connection;
  try {
    connection = await connectClient(config, OPTIONAL_CONNECT_MS);
  } catch (err) {
    return { ctx: null, reason: `the Temporal server at ${config.temporal.address} is not reachable (${oneLine(err)})` };
  }
  try {
    await connection.withDeadline(Date.now() + OPTIONAL_CONNECT_MS * 2, () => connection.workflowService.describeNamespace({ namespace: config.temporal.namespace }));
  } catch (err) {
    await connection.close().catch(() => undefined);
    return { ctx: null, reason: `the Temporal server at ${config.temporal.address} does not answer for namespace ${config.temporal.namespace} (${oneLine(err)})` };
  }
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { ctx: { config, client, connection, startedServer: false, close: () => connection.close() }, reason: null };
}

/** The error when nothing listens at host:port (connection refused, unknown host); null otherwise. */
function tcpRefused(address: string, timeoutMs: number): Promise<string | null> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (v: string | null) => {
      socket.destroy();
      resolve(v);
    };
    // A slow answer is left to the gRPC connect and its deadline.
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? `${err.code}: nothing answers at ${address}` : null));
  });
}

export function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
}

/** Temporal's execution status in the state record's vocabulary. */
export function mapTemporalStatus(name: WorkflowExecutionStatusName | string): RunStatus | null {
  switch (name) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW':
    case 'PAUSED':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
    case 'TERMINATED':
    case 'TIMED_OUT':
      return 'failed';
    case 'CANCELLED':
    case 'CANCELED':
      return 'cancelled';
    default:
      return null;
  }
}

export interface TemporalRun {
  workflow_id: string;
  run_id: string;
  /** Temporal's own name, e.g. TERMINATED. */
  temporal_status: string;
  status: RunStatus | null;
  start_time: string;
  close_time: string | null;
  /** How many executions (runs) this workflow id has, newest shown. */
  executions: number;
  input_file: string | null;
}

/** The newest execution of every speechPipeline workflow id, from visibility. */
export async function listTemporalRuns(ctx: CliContext): Promise<Map<string, TemporalRun>> {
  const byId = new Map<string, TemporalRun>();
  for await (const w of ctx.client.workflow.list({ query: "WorkflowType='speechPipeline'" })) {
    const prior = byId.get(w.workflowId);
    const input = w.typedSearchAttributes.get(InputFileAttribute);
    const run: TemporalRun = {
      workflow_id: w.workflowId,
      run_id: w.runId,
      temporal_status: w.status.name,
      status: mapTemporalStatus(w.status.name),
      start_time: w.startTime.toISOString(),
      close_time: w.closeTime ? w.closeTime.toISOString() : null,
      executions: (prior?.executions ?? 0) + 1,
      input_file: typeof input === 'string' ? input : null,
    };
    if (!prior || prior.start_time < run.start_time) byId.set(w.workflowId, run);
    else prior.executions = run.executions;
  }
  return byId;
}

/** One run's newest execution, or null when Temporal does not know the id. */
export async function describeTemporalRun(ctx: CliContext, id: string, runId?: string): Promise<TemporalRun | null> {
  try {
    const d = await ctx.client.workflow.getHandle(id, runId).describe();
    return {
      workflow_id: d.workflowId,
      run_id: d.runId,
      temporal_status: d.status.name,
      status: mapTemporalStatus(d.status.name),
      start_time: d.startTime.toISOString(),
      close_time: d.closeTime ? d.closeTime.toISOString() : null,
      executions: 1,
      input_file: null,
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

export interface ActivityTiming {
  activity_id: string;
  activity_type: string;
  stage: StageName | 'bookkeeping' | null;
  scheduled_at: string | null;
  started_at: string | null;
  closed_at: string | null;
  /** completed | failed | timed_out | cancelled | scheduled | started */
  outcome: string;
  attempt: number | null;
  /** Milliseconds from scheduled to closed. */
  duration_ms: number | null;
}

export interface StageTiming {
  scheduled_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  activities: number;
  attempts: number;
}

export interface HistoryTimings {
  run_id: string;
  workflow_started_at: string | null;
  workflow_closed_at: string | null;
  events: number;
  activities: ActivityTiming[];
  stages: Partial<Record<StageName, StageTiming>>;
}

/** Scheduled, started and closed times of every activity of a run, grouped per stage. */
export async function historyTimings(ctx: CliContext, id: string, runId: string): Promise<HistoryTimings> {
  const history = await ctx.client.workflow.getHandle(id, runId).fetchHistory();
  const events = history.events ?? [];
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  let started: string | null = null;
  let closed: string | null = null;
  for (const e of events) {
    if (e.workflowExecutionStartedEventAttributes) started = iso(eventMs(e));
    else if (
      e.workflowExecutionCompletedEventAttributes ||
      e.workflowExecutionFailedEventAttributes ||
      e.workflowExecutionCanceledEventAttributes ||
      e.workflowExecutionTerminatedEventAttributes ||
      e.workflowExecutionTimedOutEventAttributes
    ) {
      closed = iso(eventMs(e));
    }
  }
  const OUTCOME: Record<ActivityRun['outcome'], string> = { completed: 'completed', failed: 'failed', 'timed-out': 'timed_out', cancelled: 'cancelled', open: 'scheduled' };
  const byScheduled = activityRuns(history).map(
    (a): ActivityTiming => ({
      activity_id: a.activityId,
      activity_type: a.type,
      stage: a.stage,
      scheduled_at: iso(a.scheduledMs),
      started_at: iso(a.startedMs),
      closed_at: iso(a.closedMs),
      outcome: a.outcome === 'open' && a.startedMs !== null ? 'started' : OUTCOME[a.outcome],
      attempt: a.startedMs !== null ? a.attempt : null,
      duration_ms: a.closedMs !== null ? a.closedMs - a.scheduledMs : null,
    }),
  );
  const activities = byScheduled;
  const stages: HistoryTimings['stages'] = {};
  for (const a of activities) {
    if (!a.stage || a.stage === 'bookkeeping') continue;
    const s = (stages[a.stage] ??= { scheduled_at: null, started_at: null, completed_at: null, duration_ms: null, activities: 0, attempts: 0 });
    s.activities += 1;
    s.attempts += a.attempt ?? (a.started_at ? 1 : 0);
    if (a.scheduled_at && (!s.scheduled_at || a.scheduled_at < s.scheduled_at)) s.scheduled_at = a.scheduled_at;
    if (a.started_at && (!s.started_at || a.started_at < s.started_at)) s.started_at = a.started_at;
    if (a.outcome === 'completed' && a.closed_at && (!s.completed_at || a.closed_at > s.completed_at)) s.completed_at = a.closed_at;
  }
  for (const s of Object.values(stages)) {
    if (s.scheduled_at && s.completed_at) s.duration_ms = Date.parse(s.completed_at) - Date.parse(s.scheduled_at);
  }
  return { run_id: runId, workflow_started_at: started, workflow_closed_at: closed, events: events.length, activities, stages };
}
