// Following a run until it ends: progress whenever it changes, what holds it when it is stuck,
// and the result even when the Temporal server is out of reach for a while.
import { isGrpcServiceError, type WorkflowHandle } from '@temporalio/client';
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
  /** Called when the server stops answering (with the error) and when it answers again (null). */
  onServerLost?: (err: Error | null) => void;
  /** How long the server may stay out of reach before following gives up with its error; default 10 min. */
  serverLostLimitMs?: number;
}

/** gRPC codes of a server that cannot be reached right now (restarting, a network blip), as opposed to one that refuses. */
const UNREACHABLE_CODES = new Set([
  14, // UNAVAILABLE
  4, // DEADLINE_EXCEEDED
]);

/** Whether an error (or one of its causes) says the Temporal server could not be reached. */
export function serverUnreachable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && UNREACHABLE_CODES.has(e.code)) return true;
  }
  return false;
}

/**
 * The run's result, waiting through losses of the server: the client's own retries end after
 * about 20 s, and a server restart (the dev server on a large database, a cluster upgrade) may
 * take longer while the run goes on there. Gives up after `limitMs` of continuous loss.
 */
async function resultThroughOutages<T>(handle: WorkflowHandle, hooks: Pick<FollowHooks, 'onServerLost' | 'serverLostLimitMs' | 'signal'>): Promise<T> {
  const limitMs = hooks.serverLostLimitMs ?? 10 * 60_000;
  let lostSince: number | null = null;
  for (;;) {
    try {
      const result = (await handle.result()) as T;
      if (lostSince !== null) hooks.onServerLost?.(null);
      return result;
    } catch (err) {
      if (!serverUnreachable(err) || hooks.signal?.aborted) throw err;
      if (lostSince === null) {
        lostSince = Date.now();
        hooks.onServerLost?.(err as Error);
      }
      if (Date.now() - lostSince > limitMs) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
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
  const result = Promise.race([resultThroughOutages<T>(handle, hooks), detached]).finally(() => {
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
