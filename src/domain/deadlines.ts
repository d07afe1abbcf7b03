// How long a provider request may take before it is taken for hung: derived from what it
// carries and who answers it. A request past its deadline is aborted and sent again, and its
// activity stops heartbeating (activities/boundary.ts), so a hang never holds a run.
//
// The deadlines are generous on purpose: a request abandoned while the service was still
// working on it is billed twice, so a false "hung" costs money; a true hang costs minutes.

/** The slowest upload a deadline allows for: 64 kB/s (about 0.5 Mbit/s). */
export const SLOWEST_UPLOAD_BYTES_PER_SECOND = 64 * 1024;

/** No byte of an upload moved for this long: the upload is stalled. */
export const UPLOAD_STALL_MS = 60_000;

/** A small JSON call (create a job, poll it, ask for an upload URL). */
export const API_CALL_DEADLINE_MS = 30_000;

/** Fixed allowance per request: connection, queueing at the service, the answer (REQUEST_DEADLINE_BASE_SECONDS). */
export const DEFAULT_DEADLINE_BASE_MS = 60_000;

/**
 * Seconds of processing a service may spend per second of audio, by who answers and the model.
 * OpenAI's whisper-1 answers a 10-minute file in well under a minute; the gpt-4o family is
 * slower, the diarizing model slower still. The local engine runs on the user's CPU, where a
 * large model can be slower than real time.
 */
export function processingFactor(provider: string, model: string): number {
  if (provider === 'local') return 5;
  if (/diarize/i.test(model)) return 1.5;
  if (/^gpt-4o/.test(model)) return 1;
  return 0.5;
}

/** The deadline of one transcription (or diarization) request of `audioSeconds` carried in `uploadBytes`. */
export function requestDeadlineMs(r: { provider: string; model: string; audioSeconds: number; uploadBytes: number; baseMs?: number }): number {
  const upload = (1000 * Math.max(0, r.uploadBytes)) / SLOWEST_UPLOAD_BYTES_PER_SECOND;
  const processing = 1000 * Math.max(0, r.audioSeconds) * processingFactor(r.provider, r.model);
  return Math.round((r.baseMs ?? DEFAULT_DEADLINE_BASE_MS) + upload + processing);
}

/** The deadline of an upload of `bytes` (pyannote.ai's presigned PUT), beside its stall limit. */
export function uploadDeadlineMs(bytes: number, baseMs = DEFAULT_DEADLINE_BASE_MS): number {
  return Math.round(baseMs + (1000 * Math.max(0, bytes)) / SLOWEST_UPLOAD_BYTES_PER_SECOND);
}
