// How soon a dead worker is noticed, per kind of activity. Every activity runs under the
// boundary's ticker (activities/boundary.ts), which heartbeats every 2 s while the activity is
// alive and not stuck on an overdue provider request; the SDK sends at most one heartbeat per
// 80 % of the timeout. A timeout is then a few ticks, plus room for what can hold a worker's
// event loop in that kind of activity: an attempt that misses it is retried, which for a
// provider request means paying for it again, so the margins are not cut to the bone.

/** The activity groups of the workflow (workflows/activity-options.ts), by what they do. */
export const ACTIVITY_GROUP_NAMES = ['bookkeeping', 'conversion', 'diarization', 'transcriptionPlan', 'transcriptionChunk', 'mergeExport'] as const;
export type ActivityGroupName = (typeof ACTIVITY_GROUP_NAMES)[number];

/** How often the boundary's ticker heartbeats, ms. */
export const HEARTBEAT_INTERVAL_MS = 2000;

/**
 * Heartbeat timeout per group, seconds. Provider-facing and ffmpeg activities do their heavy
 * work off the event loop (sockets, child processes): 10 s, five ticks. Planning and stitching
 * parse every chunk's JSON on the loop (a day of audio is hundreds of files): 20 s. Merge and
 * export build whole documents on the loop (DOCX of a day-long meeting): 30 s, and a retry of
 * them costs nothing but time.
 */
export const DEFAULT_HEARTBEAT_TIMEOUTS: Record<ActivityGroupName, number> = {
  bookkeeping: 10,
  conversion: 10,
  diarization: 10,
  transcriptionPlan: 20,
  transcriptionChunk: 10,
  mergeExport: 30,
};

/** Every group's timeout: one value for all when HEARTBEAT_TIMEOUT_SECONDS is set, else the defaults. */
export function heartbeatTimeouts(override: number | undefined): Record<ActivityGroupName, number> {
  return Object.fromEntries(ACTIVITY_GROUP_NAMES.map((g) => [g, override ?? DEFAULT_HEARTBEAT_TIMEOUTS[g]])) as Record<ActivityGroupName, number>;
}
