// Following a run until it ends: progress whenever it changes, and what holds it when it is stuck.
import type { WorkflowHandle } from '@temporalio/client';
import type { ProgressSnapshot } from '../domain/pipeline';
import { progressQuery } from '../workflows/messages';
import type { CliContext } from './context';
import { progressLine } from './output';
import { diagnoseRun, sameProblem, type RunProblem } from './run-health';

export interface FollowHooks {
  onProgress: (p: ProgressSnapshot) => void;
  /** Called when a problem appears, changes, or clears (with null). */
  onProblem?: (p: RunProblem | null) => void;
  intervalMs?: number;
  /** How often to look for a stuck run. */
  diagnoseEveryMs?: number;
  /** Stops following (the run goes on): `follow` then rejects with DetachedError. */
  signal?: AbortSignal;
}

/** Following stopped at the user's request (Ctrl-C); the run itself goes on. */
export class DetachedError extends Error {
  constructor() {
    super('detached from the run; it goes on');
    this.name = 'DetachedError';
  }
}

/** Waits for the result, reporting progress whenever it changes and problems as they appear. */
export async function follow<T>(ctx: CliContext, handle: WorkflowHandle, hooks: FollowHooks): Promise<T> {
  const intervalMs = hooks.intervalMs ?? 500;
  const diagnoseEveryMs = hooks.diagnoseEveryMs ?? 2000;
  let settled = false;
  const detached = new Promise<never>((_, reject) => {
    if (hooks.signal?.aborted) reject(new DetachedError());
    hooks.signal?.addEventListener('abort', () => reject(new DetachedError()), { once: true });
  });
  detached.catch(() => undefined);
  const result = Promise.race([handle.result() as Promise<T>, detached]).finally(() => {
    settled = true;
  });
  const tick = (wait: number) => Promise.race([new Promise((r) => setTimeout(r, wait)), result.catch(() => undefined)]);

  let last = '';
  const pollProgress = async () => {
    while (!settled) {
      try {
        // A query waits for a worker to answer it; a stuck run is reported by the diagnosis.
        const p = await ctx.client.withDeadline(Date.now() + Math.max(2000, intervalMs * 4), () => handle.query(progressQuery));
        const line = progressLine(p);
        if (line !== last && !settled) {
          last = line;
          hooks.onProgress(p);
        }
      } catch {
        // No worker has the run loaded yet, or it just closed: try again.
      }
      await tick(intervalMs);
    }
  };
  let problem: RunProblem | null = null;
  const watchHealth = async () => {
    if (!hooks.onProblem) return;
    await tick(Math.min(1500, diagnoseEveryMs));
    while (!settled) {
      const now = await diagnoseRun(ctx, handle).catch(() => problem);
      if (!settled && !sameProblem(now, problem)) {
        hooks.onProblem(now);
        problem = now;
      }
      await tick(diagnoseEveryMs);
    }
  };
  const loops = Promise.all([pollProgress(), watchHealth()]);
  try {
    return await result;
  } finally {
    await loops;
  }
}
