// Why a running pipeline makes no progress, when Temporal can tell: its workflow task fails on
// every attempt (typically a worker whose workflow code does not match the run's history), or
// no worker polls its task queue. `speech run`, `watch` and `status` say so within seconds,
// with what to do, instead of waiting in silence.
import { temporal } from '@temporalio/proto';
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { CliContext } from './context';
import { workerBuildIds, workflowTaskFailures } from './history';

export interface RunProblem {
  kind: 'workflow-task-failing' | 'no-worker';
  /** One line: what is wrong, for which run. */
  message: string;
  /** What to do about it. */
  hint: string;
}

/** A worker that has polled within this long is taken to be alive (long polls last about a minute). */
const POLLER_FRESH_MS = 90_000;
/** A workflow task that waits longer than this for a worker means no live worker takes it. */
const WFT_WAIT_MS = 10_000;

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null {
  if (!t) return null;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** Every poller of the task queue (workflow and activity pollers) with when it last polled. */
async function pollersOf(ctx: CliContext, taskQueue: string): Promise<{ identity: string; at: number | null }[]> {
  const all: { identity: string; at: number | null }[] = [];
  for (const taskQueueType of [temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]) {
    const res = await ctx.client.workflowService.describeTaskQueue({
      namespace: ctx.config.temporal.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType,
    });
    for (const p of res.pollers ?? []) all.push({ identity: p.identity ?? '', at: ms(p.lastAccessTime) });
  }
  return all;
}

async function lastPoll(ctx: CliContext, taskQueue: string): Promise<number | null> {
  let latest: number | null = null;
  for (const p of await pollersOf(ctx, taskQueue)) if (p.at !== null && (latest === null || p.at > latest)) latest = p.at;
  return latest;
}

/** Identities of the workers that polled the task queue recently, but for `except` (this process's own). */
export async function livePollers(ctx: CliContext, taskQueue: string, except: string | null = null): Promise<string[]> {
  const now = Date.now();
  const live = (await pollersOf(ctx, taskQueue)).filter((p) => p.identity !== '' && p.identity !== except && p.at !== null && now - p.at < POLLER_FRESH_MS);
  return [...new Set(live.map((p) => p.identity))].sort();
}

/** The problem holding a running run, or null when it is healthy (or not running). */
export async function diagnoseRun(ctx: CliContext, handle: WorkflowHandle, description?: WorkflowExecutionDescription): Promise<RunProblem | null> {
  const d = description ?? (await handle.describe());
  if (d.status.name !== 'RUNNING') return null;
  const id = d.workflowId;
  const now = Date.now();
  const wft = d.raw.pendingWorkflowTask;

  if (wft && (wft.attempt ?? 1) >= 2) {
    const history = await ctx.client.workflow.getHandle(id, d.runId).fetchHistory();
    const failures = workflowTaskFailures(history);
    const last = failures.at(-1);
    if (last) {
      const builds = workerBuildIds(history);
      const firstLine = last.message.split('\n')[0]!.trim();
      const startedBy = builds[0] ? ` The run was started by worker build ${builds[0]}${last.buildId && last.buildId !== builds[0] ? `; the failing worker is build ${last.buildId}` : ''}.` : '';
      if (last.nondeterminism) {
        return {
          kind: 'workflow-task-failing',
          message: `${id} is stuck: its workflow task has failed ${wft.attempt! - 1} time(s) because the worker's workflow code does not match this run's history (nondeterminism): ${firstLine}.${startedBy}`,
          hint: `Start a worker of the release that started the run so it can finish, or cancel it (\`speech cancel ${id}\`; finished stages are kept and \`speech run\` reuses them), or reset it (\`temporal workflow reset --workflow-id ${id} --type FirstWorkflowTask\`).`,
        };
      }
      return {
        kind: 'workflow-task-failing',
        message: `${id} is stuck: its workflow task has failed ${wft.attempt! - 1} time(s): ${firstLine}.${startedBy}`,
        hint: `See the worker's log for the stack trace; fix the worker and restart it, or cancel the run (\`speech cancel ${id}\`; finished stages are kept).`,
      };
    }
  }

  const taskQueue = d.taskQueue;
  const polled = await lastPoll(ctx, taskQueue);
  const pollerFresh = polled !== null && now - polled < POLLER_FRESH_MS;
  const wftScheduled = wft && wft.state === temporal.api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED ? ms(wft.scheduledTime) : null;
  const wftWaiting = wftScheduled !== null && now - wftScheduled > WFT_WAIT_MS;
  if (!pollerFresh || wftWaiting) {
    const seen = polled === null ? 'no worker has polled it recently' : `the last poll was ${Math.round((now - polled) / 1000)} s ago`;
    const waiting = wftWaiting ? ` Its next workflow task has waited ${Math.round((now - wftScheduled!) / 1000)} s.` : '';
    return {
      kind: 'no-worker',
      message: `${id} is waiting for a worker: none is polling task queue ${taskQueue} in namespace ${ctx.config.temporal.namespace} (${seen}).${waiting}`,
      hint: `Start one with \`speech worker\` (same TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_TASK_QUEUE), or run \`speech run\` on the file again, which runs a worker in-process for a local server.`,
    };
  }
  return null;
}

/** Same problem, same words: to print a problem once, not on every poll. */
export function sameProblem(a: RunProblem | null, b: RunProblem | null): boolean {
  return (a?.kind ?? null) === (b?.kind ?? null);
}
