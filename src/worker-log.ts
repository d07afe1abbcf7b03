// What `speech worker` says: one line per event, readable (time, level, message, then the
// details as key=value) or, with LOG_FORMAT=json, one JSON object per line for log
// collectors. Each activity of a run says when it starts and how it ends, with the run's id,
// the stage's own summary and the attempt, so an operator can follow the runs a worker serves.
import { Context } from '@temporalio/activity';
import type { Next } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, LogEntry } from '@temporalio/worker';

/** SDK lines that say nothing an operator can act on. */
const QUIET = [/^No Nexus services registered/];

function flat(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify(String(value));
  }
}

/** One log entry as one line of text or JSON; null for the lines left out. */
export function formatLogEntry(entry: Pick<LogEntry, 'level' | 'message' | 'meta' | 'timestampNanos'>, format: 'text' | 'json'): string | null {
  if (QUIET.some((q) => q.test(entry.message))) return null;
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta ?? {};
  if (format === 'json') {
    const safe: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(meta)) safe[k] = v instanceof Error ? v.message : typeof v === 'bigint' ? String(v) : v;
    return JSON.stringify({ time, level: entry.level.toLowerCase(), message: entry.message, ...safe });
  }
  const details = Object.entries(meta)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${flat(v)}`)
    .join(' ');
  return `${time} ${entry.level.padEnd(5)} ${entry.message.replace(/\s*\n\s*/g, ' ')}${details ? `  ${details}` : ''}`;
}

/** Logs each activity's start and end at INFO: the run, the stage's summary, the attempt, the time it took. */
export class ActivityEventLog implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const ctx = Context.current();
    const info = ctx.info;
    const run = info.workflowExecution?.workflowId ?? '(no run)';
    const what = { run, activity: info.activityType, attempt: info.attempt };
    const started = Date.now();
    ctx.log.info(`${run}: ${info.activityType} started${info.attempt > 1 ? ` (attempt ${info.attempt})` : ''}`, what);
    try {
      const result = await next(input);
      ctx.log.info(`${run}: ${info.activityType} completed in ${((Date.now() - started) / 1000).toFixed(1)} s`, what);
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.log.warn(`${run}: ${info.activityType} ended: ${message.split('\n')[0]}`, what);
      throw err;
    }
  }
}
