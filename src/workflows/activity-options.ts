// The activity option groups of the pipeline, named per stage: how long each may take and how
// often it is tried. Heartbeat timeouts come from the run's settings, per group (defaults in
// domain/heartbeats.ts). Changing a timeout or a retry count changes no command, so it needs no
// patch; scheduling another activity does.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_FAILURES } from '../domain/failures';
import type { ActivityGroupName } from '../domain/heartbeats';

interface Group {
  startToCloseTimeout: ActivityOptions['startToCloseTimeout'];
  maximumAttempts: number;
}

export const ACTIVITY_GROUPS = {
  /** State record writes and artifact checks. */
  bookkeeping: { startToCloseTimeout: '10m', maximumAttempts: 10 },
  /**
   * ffmpeg over the whole input: long files take a while. Local work costs nothing to repeat,
   * and every worker lost mid-conversion costs an attempt (all of a busy worker's conversions
   * at once): 10, as for the other groups, so that a run outlasts a stretch of lost workers.
   */
  conversion: { startToCloseTimeout: '2h', maximumAttempts: 10 },
  /** Upload, job and polling: a provider's queue can be long. */
  diarization: { startToCloseTimeout: '12h', maximumAttempts: 8 },
  /** Chunk planning and stitching the chunk transcripts (local work, like conversion). */
  transcriptionPlan: { startToCloseTimeout: '30m', maximumAttempts: 10 },
  /** One chunk's request. */
  transcriptionChunk: { startToCloseTimeout: '20m', maximumAttempts: 10 },
  /** Merge and export work on local files only. */
  mergeExport: { startToCloseTimeout: '10m', maximumAttempts: 10 },
} as const satisfies Record<ActivityGroupName, Group>;

export type ActivityGroup = keyof typeof ACTIVITY_GROUPS;

export function activityOptions(group: ActivityGroup, heartbeatTimeoutMs: number, summary?: string): ActivityOptions {
  const g = ACTIVITY_GROUPS[group];
  return {
    startToCloseTimeout: g.startToCloseTimeout,
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: g.maximumAttempts, nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES] },
    ...(summary ? { summary } : {}),
  };
}

/** The activities of one group, with the Web UI summary their next calls show. */
export function stageActivities(group: ActivityGroup, heartbeatTimeoutMs: number, summary?: string) {
  return proxyActivities<Activities>(activityOptions(group, heartbeatTimeoutMs, summary));
}
