// Chunk planning for transcription: where to cut long audio so every request
// stays under the provider's size and duration limits, preferring cuts in silence
// so no word is split between two requests.

export interface Silence {
  start: number;
  end: number;
}

export interface PlanChunksInput {
  duration: number;
  silences: Silence[];
  maxChunkSeconds: number;
  /** Shortest tail chunk worth avoiding. Default min(30, maxChunkSeconds / 4). */
  minChunkSeconds?: number;
  /** How far back from the latest possible cut to look for a silence. Default min(60, maxChunkSeconds / 3). */
  searchWindowSeconds?: number;
}

export interface PlannedChunk {
  index: number;
  start: number;
  end: number;
  /**
   * Whether the cut at this chunk's end lies in a silence. False when none was
   * found and the audio was cut at the limit, possibly mid-word; also false for
   * the last chunk, which ends with the recording rather than at a cut.
   */
  cutInSilence: boolean;
}

/** Float slack for "fits in one chunk", so a tail of 1e-12 s is never its own request. */
const EPSILON = 1e-9;

interface Cut {
  at: number;
  inSilence: boolean;
}

/**
 * The middle of the longest stretch of silence inside [from, to] (silences are
 * clipped to the range first); on equal length the later one, which keeps
 * chunks long. Null when no silence of positive length lies in the range.
 */
function bestSilenceCut(silences: readonly Silence[], from: number, to: number): number | null {
  let bestLength = 0;
  let bestAt: number | null = null;
  for (const s of silences) {
    const start = Math.max(s.start, from);
    const end = Math.min(s.end, to);
    const length = end - start;
    if (length <= 0) continue;
    if (bestAt === null || length >= bestLength) {
      bestLength = length;
      bestAt = (start + end) / 2;
    }
  }
  return bestAt;
}

/**
 * Plans contiguous chunks covering [0, duration] exactly once, each at most
 * maxChunkSeconds long.
 *
 * Each cut is placed in the middle of the longest silence within
 * [cursor + max - window, cursor + max] (ties → the later silence); with no
 * silence there, at cursor + max, with cutInSilence false.
 *
 * Short tails: when that cut would leave a final chunk shorter than
 * minChunkSeconds, the cut is moved earlier, to the middle of the longest
 * silence within [max(duration - max, cursor + min), duration - min]: the
 * range where the tail is at least min long, still fits in one chunk, and the
 * chunk before it does not become the short one instead. If that range holds
 * no silence, the original cut stands and the short tail is kept: a cut in the
 * middle of speech costs more accuracy than a short request.
 * A recording no longer than max is one chunk, however short.
 */
export function planChunks(input: PlanChunksInput): PlannedChunk[] {
  const { duration } = input;
  const max = input.maxChunkSeconds;
  if (!(duration > 0)) return [];
  if (!(max > 0)) throw new RangeError(`maxChunkSeconds must be positive, got ${max}`);
  const minChunk = Math.max(0, input.minChunkSeconds ?? Math.min(30, max / 4));
  const window = Math.min(max, Math.max(0, input.searchWindowSeconds ?? Math.min(60, max / 3)));
  const silences = input.silences
    .map((s) => ({ start: Math.max(0, s.start), end: Math.min(duration, s.end) }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start || a.end - b.end);

  const chunks: PlannedChunk[] = [];
  let cursor = 0;
  while (duration - cursor > max + EPSILON) {
    let cut = nextCut(silences, cursor, max, window);
    if (duration - cut.at < minChunk) {
      // The original cut lies after duration - minChunk, so this range ends before cursor + max.
      const moved = bestSilenceCut(silences, Math.max(duration - max, cursor + minChunk), duration - minChunk);
      if (moved !== null && moved > cursor) cut = { at: moved, inSilence: true };
    }
    chunks.push({ index: chunks.length, start: cursor, end: cut.at, cutInSilence: cut.inSilence });
    cursor = cut.at;
  }
  // The last chunk ends at the end of the recording, not at a cut.
  chunks.push({ index: chunks.length, start: cursor, end: duration, cutInSilence: false });
  return chunks;
}

function nextCut(silences: readonly Silence[], cursor: number, max: number, window: number): Cut {
  const latest = cursor + max;
  const inSilence = bestSilenceCut(silences, latest - window, latest);
  if (inSilence !== null && inSilence > cursor) return { at: inSilence, inSilence: true };
  return { at: latest, inSilence: false };
}

const MODEL_DURATION_CAPS: readonly { pattern: RegExp; seconds: number }[] = [
  // gpt-4o-transcribe, gpt-4o-mini-transcribe, gpt-4o-transcribe-diarize and their dated snapshots.
  { pattern: /^gpt-4o(-mini)?-transcribe/, seconds: 1400 },
];

/** The OpenAI request body limit: 25 MiB. */
export const OPENAI_REQUEST_LIMIT_BYTES = 26_214_400;

/**
 * The longest chunk, in seconds, that one transcription request can carry:
 * the model's duration cap (1400 s for the gpt-4o transcribe family; none for
 * whisper-1 or unknown models), and 90% of the request limit divided by the
 * audio's byte rate, leaving room for the multipart envelope and the header.
 * A configured maximum is applied on top by the caller.
 */
export function maxChunkSecondsFor(
  model: string,
  bytesPerSecond: number,
  requestLimitBytes: number = OPENAI_REQUEST_LIMIT_BYTES,
): number {
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
    throw new RangeError(`bytesPerSecond must be a positive number, got ${bytesPerSecond}`);
  }
  const bySize = (0.9 * requestLimitBytes) / bytesPerSecond;
  const cap = MODEL_DURATION_CAPS.find((c) => c.pattern.test(model))?.seconds ?? Infinity;
  return Math.min(cap, bySize);
}

export interface PlanBalancedChunksInput {
  duration: number;
  silences: Silence[];
  maxChunkSeconds: number;
  /** How many chunks are transcribed at once; the plan gives every lane the same share. */
  lanes: number;
  /**
   * Chunks per lane a long recording is cut into at least, so that what is in flight at any
   * moment (one chunk per lane) is at most about 1/chunksPerLane of the audio: what a worker
   * lost mid-transcription has to send again. Default 1 (chunks as long as the limit allows).
   */
  chunksPerLane?: number;
  /** Chunks are not made shorter than this to fill lanes. Default 60 s. */
  minChunkSeconds?: number;
  /**
   * Requests the service computes at once on this machine (a local engine's slots); absent: 1.
   * Audio that fits in one request is then still cut into one chunk per slot (parallelChunkCount).
   */
  parallelRequests?: number;
}

/** Audio is not cut for parallel requests into chunks shorter than this. */
export const MIN_PARALLEL_CHUNK_SECONDS = 60;

/** Default chunks per lane: at most an eighth of a long recording is in flight at once. */
export const DEFAULT_CHUNKS_PER_LANE = 8;

/**
 * A plan for parallel transcription: as many chunks as the limit requires, and at least
 * `lanes × chunksPerLane` when chunks of a minute or more allow it, rounded to a multiple of the
 * lanes so every lane gets the same amount of audio and all finish together (two hours on 8
 * lanes with 8 chunks per lane: 64 chunks of 112.5 s, so a crash re-sends at most 900 s). Each
 * cut goes to the middle of the longest silence near its even share, within what keeps both
 * neighbours under the limit. Audio that fits in one request stays one, unless the service
 * computes several requests at once on this machine (`parallelRequests`).
 */
export function planBalancedChunks(input: PlanBalancedChunksInput): PlannedChunk[] {
  const { duration, maxChunkSeconds: max } = input;
  if (!(max > 0)) throw new RangeError(`maxChunkSeconds must be positive, got ${max}`);
  if (!(duration > 0)) return [];
  const needed = Math.ceil(duration / max - EPSILON);
  if (needed <= 1) {
    const split = parallelChunkCount(duration, input.parallelRequests ?? 1);
    return split <= 1 ? [{ index: 0, start: 0, end: duration, cutInSilence: false }] : cutEvenly(input, split);
  }
  const lanes = Math.max(1, Math.floor(input.lanes));
  const perLane = Math.max(1, Math.floor(input.chunksPerLane ?? 1));
  const minLen = Math.min(input.minChunkSeconds ?? 60, duration / needed);
  const wanted = lanes * Math.ceil(Math.max(needed, lanes * perLane) / lanes);
  // As many minute-long chunks as fit, in whole rounds of the lanes when there are that many.
  const fit = Math.floor(duration / minLen + EPSILON);
  const cap = fit >= lanes ? lanes * Math.floor(fit / lanes) : fit;
  return cutEvenly(input, Math.max(needed, Math.min(wanted, cap)));
}

/**
 * Chunks a service that runs `parallel` requests at once on this machine (a local engine's
 * compute slots) gets for audio that fits in one request: one per slot, each at least
 * MIN_PARALLEL_CHUNK_SECONDS, so no slot idles while one request holds the whole file.
 */
export function parallelChunkCount(duration: number, parallel: number): number {
  return Math.max(1, Math.min(Math.floor(parallel), Math.floor(duration / MIN_PARALLEL_CHUNK_SECONDS + EPSILON)));
}

/** `count` chunks of about equal length, each cut in the middle of the longest silence near its even share. */
function cutEvenly(input: PlanBalancedChunksInput, count: number): PlannedChunk[] {
  const { duration, maxChunkSeconds: max } = input;
  const share = duration / count;
  // How far a cut may move from its even share to find silence.
  const window = Math.min(30, share / 4);
  const chunks: PlannedChunk[] = [];
  let cursor = 0;
  for (let k = 1; k < count; k++) {
    const remaining = count - k;
    // Keep this chunk under the limit and leave the rest room to stay under it too.
    const lo = Math.max(cursor + EPSILON, duration - remaining * max, k * share - window);
    const hi = Math.min(cursor + max, k * share + window);
    const target = Math.min(Math.max(k * share, lo), hi);
    const silent = lo <= hi ? nearestSilenceCut(input.silences, lo, hi, target) : null;
    const at = silent ?? target;
    chunks.push({ index: k - 1, start: cursor, end: at, cutInSilence: silent !== null });
    cursor = at;
  }
  chunks.push({ index: count - 1, start: cursor, end: duration, cutInSilence: false });
  return chunks;
}

/** The middle of the silence (clipped to [from, to]) whose middle is nearest `target`; longer wins ties. */
function nearestSilenceCut(silences: readonly Silence[], from: number, to: number, target: number): number | null {
  let best: { at: number; distance: number; length: number } | null = null;
  for (const s of silences) {
    const start = Math.max(s.start, from);
    const end = Math.min(s.end, to);
    const length = end - start;
    if (length <= 0) continue;
    const at = (start + end) / 2;
    const distance = Math.abs(at - target);
    if (!best || distance < best.distance - EPSILON || (Math.abs(distance - best.distance) <= EPSILON && length > best.length)) best = { at, distance, length };
  }
  return best?.at ?? null;
}

/** The longest chunk a request of `model` may carry: the model's and the request's caps, and the configured maximum. */
export function chunkLimitFor(model: string, bytesPerSecond: number, maxChunkSeconds: number): number {
  return Math.min(maxChunkSeconds, maxChunkSecondsFor(model, bytesPerSecond));
}

/** The chunks transcription sends, as the plan activity makes them (and `speech run --estimate` predicts them). */
export function transcriptionChunks(input: { duration: number; silences: Silence[]; limit: number; lanes: number; chunksPerLane: number; parallelRequests?: number }): { index: number; start: number; end: number }[] {
  return planBalancedChunks({ duration: input.duration, silences: input.silences, maxChunkSeconds: input.limit, lanes: input.lanes, chunksPerLane: input.chunksPerLane, ...(input.parallelRequests !== undefined ? { parallelRequests: input.parallelRequests } : {}) }).map((c) => ({ index: c.index, start: c.start, end: c.end }));
}

/** Whether the plan of this audio cuts it at all (and so needs its silences). */
export function planCutsAudio(duration: number, limit: number, parallelRequests = 1): boolean {
  return duration > limit || parallelChunkCount(duration, parallelRequests) > 1;
}

/**
 * How `count` chunks are shared by at most `lanes` lanes: each lane a contiguous run, in order,
 * so every chunk but a lane's first follows the chunk whose words prompt it.
 */
export function laneRanges(count: number, lanes: number): { from: number; to: number }[] {
  const n = Math.min(lanes, count);
  return Array.from({ length: n }, (_, l) => ({ from: Math.floor((l * count) / n), to: Math.floor(((l + 1) * count) / n) }));
}
