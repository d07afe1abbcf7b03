// `speech status ID`, `speech watch ID` and `speech cancel ID`: the progress query of a
// running pipeline, a live view of it, and cancellation that keeps finished stages.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ProgressSnapshot } from '../../domain/pipeline';
import { progressQuery } from '../../workflows/messages';
import { openContext, webUiLink, type CliContext } from '../context';
import { EXIT, UsageError } from '../errors';
import { printJson, printJsonLine, progressLine, stageLines } from '../output';
import { readRecord } from '../records';
import { diagnoseRun, sameProblem, type RunProblem } from '../run-health';

async function handleFor(ctx: CliContext, id: string) {
  const handle = ctx.client.workflow.getHandle(id);
  try {
    const d = await handle.describe();
    return { handle, description: d };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`no pipeline run with id ${id}`, 'List runs with `speech list`.');
    throw err;
  }
}

/** The progress of a run: from the live query when it runs, from the state record otherwise. */
/** An activity that is being retried, with the failure of its last attempt. */
export interface RetryingActivity {
  activity: string;
  attempt: number;
  last_failure: string;
}

async function progressOf(
  ctx: CliContext,
  id: string,
): Promise<{ status: string; progress: ProgressSnapshot | null; runId: string; retrying: RetryingActivity[]; problem: RunProblem | null }> {
  const { handle, description } = await handleFor(ctx, id);
  if (description.status.name === 'RUNNING') {
    // A query waits for a worker to answer; a stuck run is explained by the diagnosis instead.
    const [progress, problem] = await Promise.all([
      ctx.client.withDeadline(Date.now() + 3000, () => handle.query(progressQuery)).catch(() => null),
      diagnoseRun(ctx, handle, description).catch(() => null),
    ]);
    // The workflow sees an activity's failures only once retries are exhausted; the server
    // knows the last failure of each attempt, which is what explains a slow run.
    const retrying = (description.raw.pendingActivities ?? [])
      .filter((a) => (a.attempt ?? 1) > 1 && a.lastFailure?.message)
      .map((a) => ({ activity: a.activityType?.name ?? '?', attempt: a.attempt ?? 0, last_failure: a.lastFailure?.message ?? '' }));
    return { status: 'RUNNING', progress, runId: description.runId, retrying, problem };
  }
  return { status: description.status.name, progress: null, runId: description.runId, retrying: [], problem: null };
}

export async function statusCommand(id: string, flags: { json?: boolean }): Promise<number> {
  const ctx = await openContext({ embedded: false });
  try {
    const s = await progressOf(ctx, id);
    const record = await readRecord(ctx.config.dataDir, id).catch(() => null);
    if (flags.json) {
      printJson({ ok: true, workflow_id: id, run_id: s.runId, temporal_status: s.status, progress: s.progress, problem: s.problem, retrying: s.retrying, record, web_ui: webUiLink(ctx.config, id, s.runId) });
    } else {
      console.log(`${id}: ${s.status.toLowerCase()}${s.progress ? ` — ${progressLine(s.progress)}` : ''}`);
      if (s.progress) for (const l of stageLines(s.progress)) console.log(l);
      else if (record) console.log(`  completed stages: ${record.completed_stages.join(', ') || 'none'}${record.error ? `\n  error: ${record.error.message}` : ''}`);
      if (s.progress?.error) console.log(`  last error: ${s.progress.error.message}`);
      for (const r of s.retrying) console.log(`  retrying ${r.activity} (attempt ${r.attempt}): ${r.last_failure}`);
      if (s.problem) console.log(`${s.problem.message}\n  ${s.problem.hint}`);
      const link = webUiLink(ctx.config, id, s.runId);
      if (link) console.log(`Web UI: ${link}`);
    }
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}

export async function watchCommand(id: string, flags: { json?: boolean; interval?: string }): Promise<number> {
  const ctx = await openContext({ embedded: false });
  const interval = Math.max(200, Number(flags.interval ?? 1000) || 1000);
  try {
    let last = '';
    let problem: RunProblem | null = null;
    for (;;) {
      const s = await progressOf(ctx, id);
      if (!sameProblem(s.problem, problem)) {
        problem = s.problem;
        if (flags.json) printJsonLine({ event: 'problem', workflow_id: id, problem });
        else console.log(problem ? `${problem.message}\n  ${problem.hint}` : `${id}: a worker has picked the run up again.`);
      }
      if (s.status !== 'RUNNING') {
        if (flags.json) printJsonLine({ event: 'ended', ok: s.status === 'COMPLETED', workflow_id: id, run_id: s.runId, temporal_status: s.status });
        else console.log(`${id}: ${s.status.toLowerCase()}`);
        return s.status === 'COMPLETED' ? EXIT.ok : EXIT.failed;
      }
      if (s.progress) {
        const line = progressLine(s.progress);
        if (line !== last) {
          last = line;
          if (flags.json) printJsonLine({ event: 'progress', workflow_id: id, progress: s.progress });
          else console.log(`${id}: ${line}`);
        }
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  } finally {
    await ctx.close();
  }
}

export async function cancelCommand(id: string, flags: { json?: boolean; wait?: boolean }): Promise<number> {
  const ctx = await openContext({ embedded: false });
  try {
    const { handle, description } = await handleFor(ctx, id);
    if (description.status.name !== 'RUNNING') {
      throw new UsageError(`${id} is not running (it is ${description.status.name.toLowerCase()}); there is nothing to cancel.`);
    }
    await handle.cancel();
    let final = 'RUNNING';
    if (flags.wait !== false) {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        final = (await handle.describe()).status.name;
        if (final !== 'RUNNING') break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    if (flags.json) printJson({ ok: true, workflow_id: id, run_id: description.runId, temporal_status: final });
    else console.log(final === 'RUNNING' ? `${id}: cancellation requested.` : `${id}: ${final.toLowerCase()}. Finished stages are kept; \`speech run\` on the same file resumes.`);
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
