// diarization: upload the converted audio to pyannote.ai, start one job, poll it to the end.
// The job id is kept in heartbeat details and in a small file beside the audio, so a
// retried attempt polls the same (already paid for) job instead of submitting another.
import { Context, sleep } from '@temporalio/activity';
import { readFile, stat, unlink } from 'node:fs/promises';
import { UPLOAD_STALL_MS, uploadDeadlineMs } from '../domain/deadlines';
import { uploadExtension, uploadLabel, type UploadFormat } from '../domain/upload-format';
import path from 'node:path';
import { Failure } from '../domain/failures';
import type { SpeakerMatch, SpeakerTurn, ArtifactRef } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import { ProviderError } from '../providers/errors';
import type { DiarizationHints, Diarizer, IdentifyOptions, MediaProcessor } from '../providers/interfaces';
import type { OpenAIDiarizer } from '../providers/openai-diarizer';
import { sha256File } from '../providers/artifact-store';
import { removeStaleTemporaryFiles, SILENCES_FILE } from './convert';
import { cacheKey, diarizationKeyInputs, type ServiceId, type StageCache } from '../providers/stage-cache';
import { MAX_VOICEPRINTS, voiceprintsDigest, voiceprintsFor } from '../providers/voices';
import { atBoundary, failure } from './boundary';

export interface DiarizeAudioInput {
  pipelineId: string;
  audio: ArtifactRef;
  hints: DiarizationHints;
  interimDir: string;
  /**
   * Name speakers after enrolled voices (`--identify`): the folder of voice files and the match
   * threshold (0–100; null: the provider's default). The voiceprints are read here, on the
   * worker, so they never enter the workflow's history.
   */
  identify?: { voicesDir: string; threshold: number | null } | null;
  /** false: diarize even when the same diarization was made before (--force-restart). */
  reuseCached?: boolean;
}

/** What a retry needs to pick up where the last attempt stopped. */
export interface DiarizeProgress {
  phase: 'uploading' | 'submitted' | 'polling';
  jobId: string | null;
  audioSha256: string;
  polls: number;
  jobStatus?: string;
  /** Jobs submitted for this audio so far, by every attempt (each one is billed). */
  jobs?: number;
}

export interface DiarizationResult {
  /** pyannote.ai's job (null for request-based providers). */
  job_id: string | null;
  speakers: string[];
  /** One speaker at a time (pyannote.ai's exclusiveDiarization when given): what the merge uses. */
  turns: SpeakerTurn[];
  /** Turns as diarized, overlaps included (results of earlier releases have only `turns`). */
  overlapping_turns?: SpeakerTurn[];
  /** What the service said about the result (e.g. a speaker count it could not honour). */
  warnings?: string[];
  /** With --identify: how each speaker compared with the enrolled voices. */
  matches?: SpeakerMatch[];
}

export function makeDiarizeAudio(deps: {
  diarizer: () => Diarizer;
  store: ArtifactStore;
  pollIntervalMs: number;
  voiceSpace: string;
  cache?: StageCache;
  /** Who diarizes, with which model: part of the cache key, and what the usage is billed by. */
  service?: ServiceId & { model: string };
  /** What the audio is uploaded as (a compact encoding of the WAV); absent: the WAV. */
  upload?: UploadFormat;
  media?: MediaProcessor;
  /** DIARIZE_PROVIDER=openai: gpt-4o-transcribe-diarize, request by request, instead of a pyannote.ai-style job. */
  openaiDiarizer?: () => OpenAIDiarizer;
  /** Fixed part of the upload's deadline; default DEFAULT_DEADLINE_BASE_MS. */
  requestDeadlineBaseMs?: number;
}) {
  return async function diarizeAudio(input: DiarizeAudioInput): Promise<ArtifactRef> {
    return atBoundary(async (heartbeat, live) => {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      // Built on first use: with DIARIZE_PROVIDER=openai there is no job-based diarizer.
      let jobDiarizer: Diarizer | undefined;
      const diarizer = () => (jobDiarizer ??= deps.diarizer());
      const identify = input.identify ? await identifyOptions(input.identify, deps.voiceSpace) : undefined;
      const jobFile = path.join(input.interimDir, 'diarization-job.json');

      // The heartbeat may be older than the submission (heartbeats are throttled); the job file,
      // written right after the job was accepted, covers that gap.
      const fromHeartbeat = ctx.info.heartbeatDetails as DiarizeProgress | undefined;
      // With --force-restart (reuseCached false) a job submitted by an earlier run is not taken:
      // only this run's own attempts continue the job they paid for.
      const runId = ctx.info.workflowExecution?.runId ?? '';
      const fromFile = await readJobFile(jobFile);
      const usableFile = fromFile && (input.reuseCached !== false || fromFile.runId === runId) ? fromFile : undefined;
      const previous = fromHeartbeat?.jobId ? fromHeartbeat : (usableFile ?? fromHeartbeat);
      const sameAudio = previous && previous.audioSha256 === input.audio.sha256;
      let jobId = sameAudio ? previous.jobId : null;
      let jobs = sameAudio ? (previous.jobs ?? (jobId ? 1 : 0)) : 0;
      let polls = previous?.polls ?? 0;
      let uploadBytes: number | null = null;
      /** Why a second job was paid for this audio, when one was. */
      let paidAgain: string | null = null;
      const service = deps.service ?? { provider: 'pyannote', endpoint: '', model: 'unknown' };
      const keyInputs = diarizationKeyInputs({ audioSha256: input.audio.sha256, service, hints: input.hints, identify: identify ? { voicesSha256: voiceprintsDigest(identify.voiceprints), threshold: identify.threshold } : null });
      const key = cacheKey('diarization', keyInputs);
      const resultFile = path.join(input.interimDir, 'diarization.json');
      // Nothing paid yet for this audio: the same diarization (same audio, provider, model,
      // hints and voices) made by any run is taken instead.
      if (!jobId && deps.cache && input.reuseCached !== false) {
        const hit = await deps.cache.take('diarization', key, input.pipelineId, { result: resultFile });
        if (hit?.files.result) {
          await deps.cache.put('diarization', key, keyInputs, { pipelineId: input.pipelineId, files: hit.files });
          return { ...hit.files.result, metadata: { ...hit.files.result.metadata, reused_from: hit.computedBy } };
        }
      }
      if (deps.openaiDiarizer) {
        // With --identify the enrolled voices' clips go along as known speakers (at most 4).
        if (identify && identify.voiceprints.length > OPENAI_KNOWN_SPEAKERS) {
          throw failure(Failure.ConfigMissing, `--identify with DIARIZE_PROVIDER=openai names at most ${OPENAI_KNOWN_SPEAKERS} voices, and ${identify.voiceprints.length} are enrolled; remove some with \`speech voices remove NAME\`.`);
        }
        const knownSpeakers = identify?.voiceprints.map((v) => ({ name: v.label, clip: Buffer.from(v.voiceprint, 'base64') }));
        heartbeat({ phase: 'requesting' });
        const r = await deps.openaiDiarizer().diarize(input.audio.path, { signal, onProgress: (done, total) => heartbeat({ phase: 'requesting', done, total }), ...(knownSpeakers ? { knownSpeakers } : {}) });
        const named = labelNamedSpeakers(r.turns, r.speakers);
        const turns = named.turns.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start || a.end - b.end);
        await refuseEmpty(turns, input);
        const result: DiarizationResult = { job_id: null, speakers: named.speakers, turns, overlapping_turns: turns, ...(identify ? { matches: named.matches } : {}) };
        const ref = await deps.store.writeJson(resultFile, result);
        const out: ArtifactRef = {
          ...ref,
          metadata: {
            speakers: r.speakers.length,
            turns: turns.length,
            provider: service.provider,
            model: service.model,
            audio_seconds: audioSeconds(input.audio),
            requests: r.requests,
            input_tokens: r.usage.inputTokens,
            output_tokens: r.usage.outputTokens,
            upload: 'wav',
          },
        };
        await deps.cache?.put('diarization', key, keyInputs, { pipelineId: input.pipelineId, files: { result: out } });
        return out;
      }
      const beat = (phase: DiarizeProgress['phase'], jobStatus?: string) =>
        heartbeat({ phase, jobId, audioSha256: input.audio.sha256, polls, jobs, ...(jobStatus ? { jobStatus } : {}) } satisfies DiarizeProgress);

      const submit = async () => {
        beat('uploading');
        const upload = deps.upload && deps.media && deps.upload.codec !== 'wav' ? deps.upload : null;
        const mediaKey = `media://speech/${input.pipelineId}/${input.audio.sha256.slice(0, 16)}.${upload ? uploadExtension(upload) : 'wav'}`;
        let url: string;
        // An upload is hung when no byte moved for a minute, or it outlasts what the slowest
        // link allows for its size: abandoned, and the next attempt uploads again.
        const send = async (file: string) => {
          const { size } = await stat(file);
          return live.request('upload of the audio for diarization', uploadDeadlineMs(size, deps.requestDeadlineBaseMs), (s, watch) => diarizer().upload(file, mediaKey, s, watch), { stallMs: UPLOAD_STALL_MS, queued: true });
        };
        if (!upload) url = await send(input.audio.path);
        else {
          // The compact encoding exists only for the upload: the WAV stays the source of truth.
          const target = path.join(input.interimDir, `upload.${uploadExtension(upload)}`);
          await removeStaleTemporaryFiles(input.interimDir, path.basename(target));
          const tmp = deps.store.tempPathFor(target);
          try {
            const { bytes } = await deps.media!.encodeUpload(input.audio.path, tmp, { format: upload, signal, onProgress: () => beat('uploading') });
            uploadBytes = bytes;
            url = await send(tmp);
          } finally {
            await unlink(tmp).catch(() => undefined);
          }
        }
        const job = await diarizer().submit(url, input.hints, signal, identify);
        jobId = job.jobId;
        jobs += 1;
        // Durable before anything else can fail: this job is billed.
        await deps.store.writeJson(jobFile, { jobId, audioSha256: input.audio.sha256, submittedAt: new Date().toISOString(), jobs, runId });
        beat('submitted');
        // A job just created is not done: its first poll waits (pollDelayMs).
        jobPolls = 0;
      };
      /** Polls of the current job by this attempt; -1: a job found from an earlier attempt, polled at once. */
      let jobPolls = -1;

      if (!jobId) await submit();

      for (;;) {
        if (jobPolls >= 0) await sleep(pollDelayMs(jobPolls, deps.pollIntervalMs));
        jobPolls += 1;
        let job;
        try {
          job = await diarizer().poll(jobId!, signal);
        } catch (err) {
          // Results and jobs expire (24 h): a job that no longer exists has to be redone.
          if (err instanceof ProviderError && err.details.status === 404) {
            // An earlier attempt may already have replaced the vanished job before it died.
            const recorded = await readJobFile(jobFile);
            if (recorded?.jobId && recorded.jobId !== jobId && recorded.audioSha256 === input.audio.sha256) {
              jobId = recorded.jobId;
              jobs = Math.max(jobs, recorded.jobs ?? jobs);
              continue;
            }
            const saved = await savedResult(resultFile, jobId);
            if (saved) return saved;
            ctx.log.warn('Diarization job no longer exists; submitting a new one', { jobId });
            paidAgain = `job ${jobId} was no longer known to pyannote.ai (404; jobs and results expire after 24 h) and no result of it was saved`;
            jobId = null;
            await submit();
            continue;
          }
          throw err;
        }
        polls += 1;
        beat('polling', job.status);
        if (job.status === 'succeeded' && job.turns === undefined) {
          // Succeeded, but its output is gone (results are deleted 24 h after completion): a result
          // saved by an earlier attempt is used; otherwise the audio is diarized again, and the
          // record says so (it is paid twice).
          const saved = await savedResult(resultFile, job.jobId);
          if (saved) return saved;
          ctx.log.warn('Diarization job succeeded without output (expired); submitting a new one', { jobId: job.jobId });
          paidAgain = `job ${job.jobId} succeeded but its result was gone (pyannote.ai keeps results 24 h) before it was saved`;
          jobId = null;
          await submit();
          continue;
        }
        if (job.status === 'succeeded') {
          const sort = (ts: SpeakerTurn[]) => ts.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start || a.end - b.end);
          // The merge lines words up with exclusive turns (one speaker at a time); the
          // overlapping ones stay in the result for the JSON export.
          const overlapping = sort(job.turns ?? []);
          const turns = job.exclusiveTurns ? sort(job.exclusiveTurns) : overlapping;
          try {
            await refuseEmpty(turns, input, job.jobId);
          } catch (err) {
            // The next run submits afresh instead of polling this job's empty output again.
            await unlink(jobFile).catch(() => undefined);
            throw err;
          }
          const speakers = [...new Set(overlapping.map((t) => t.speaker))];
          const matches = identify ? speakers.map((speaker) => toMatch(speaker, job.matches)) : undefined;
          const warnings = job.warnings ?? [];
          const result: DiarizationResult = {
            job_id: job.jobId,
            speakers,
            turns,
            overlapping_turns: overlapping,
            ...(matches ? { matches } : {}),
            ...(warnings.length > 0 ? { warnings } : {}),
          };
          const ref = await deps.store.writeJson(resultFile, result);
          const metadata: Record<string, string | number> = {
            job_id: job.jobId,
            speakers: speakers.length,
            turns: turns.length,
            provider: service.provider,
            model: service.model,
            // What the jobs bill by: the audio's length, once per job submitted for it.
            audio_seconds: audioSeconds(input.audio),
            jobs: Math.max(1, jobs),
            upload: deps.upload ? uploadLabel(deps.upload) : 'wav',
          };
          if (uploadBytes !== null) metadata.upload_bytes = uploadBytes;
          if (matches) metadata.identified = matches.filter((m) => m.match !== null).length;
          if (warnings.length > 0) metadata.warning = warnings.join(' | ');
          if (paidAgain) metadata.paid_again = paidAgain;
          const out = { ...ref, metadata };
          await deps.cache?.put('diarization', key, keyInputs, { pipelineId: input.pipelineId, files: { result: out } });
          return out;
        }
        if (job.status === 'failed' || job.status === 'canceled') {
          throw failure(Failure.ProviderJobFailed, `pyannote.ai diarization job ${job.jobId} ${job.status}: ${job.error ?? 'no reason given'}`);
        }
      }
    });
  };
}

/**
 * The wait before the next poll of a job this attempt has polled `polls` times: 1 s after the
 * submission, then doubling up to the poll interval (1, 2, 4, 5, 5 … s by default). A short
 * file's job is done within seconds, and a flat 5 s would add up to 5 s to each; polling a job
 * the moment it was created would only spend the per-key request budget (80 calls a minute),
 * which is what a batch of short files runs into first.
 */
export function pollDelayMs(polls: number, intervalMs: number): number {
  return Math.min(intervalMs, 1000 * 2 ** Math.max(0, Math.min(polls, 20)));
}

async function identifyOptions(opts: { voicesDir: string; threshold: number | null }, space: string): Promise<IdentifyOptions> {
  const { voiceprints, otherSpaces } = await voiceprintsFor(opts.voicesDir, space);
  if (voiceprints.length === 0) {
    throw failure(
      Failure.ConfigMissing,
      `--identify needs enrolled voices, and ${opts.voicesDir} holds none made by this worker's diarizer (${space})${otherSpaces > 0 ? `; ${otherSpaces} voice(s) there were made by another provider` : ''}. Enrol them with \`speech voices add NAME CLIP\`.`,
    );
  }
  if (voiceprints.length > MAX_VOICEPRINTS) {
    throw failure(Failure.ConfigMissing, `--identify compares against at most ${MAX_VOICEPRINTS} voices, and ${opts.voicesDir} holds ${voiceprints.length} for ${space}; remove some with \`speech voices remove NAME\`.`);
  }
  return { voiceprints, threshold: opts.threshold };
}

/**
 * The provider's verdict on one speaker; a speaker it said nothing about is unmatched. An
 * unmatched speaker keeps the best score any voice got, so a user can see how near it came.
 */
function toMatch(speaker: string, matches: (SpeakerMatch & { scores?: Record<string, number> })[] | undefined): SpeakerMatch {
  const m = matches?.find((x) => x.speaker === speaker);
  const best = Object.values(m?.scores ?? {}).reduce<number | null>((a, b) => (a === null || b > a ? b : a), null);
  return { speaker, match: m?.match ?? null, score: m?.match ? (m.score ?? null) : (m?.score ?? best) };
}

/** Known speakers one gpt-4o-transcribe-diarize request takes. */
const OPENAI_KNOWN_SPEAKERS = 4;

/**
 * Speakers the OpenAI diarizer named after an enrolled voice get a SPEAKER_xx label like every
 * other, and the name as their match: the transcript keeps labels, and names sit beside them.
 */
function labelNamedSpeakers(turns: SpeakerTurn[], speakers: string[]): { turns: SpeakerTurn[]; speakers: string[]; matches: SpeakerMatch[] } {
  const isLabel = (s: string) => /^SPEAKER_\d+$/.test(s);
  let next = Math.max(-1, ...speakers.filter(isLabel).map((s) => Number(s.slice('SPEAKER_'.length)))) + 1;
  const label = new Map<string, string>();
  for (const s of speakers) label.set(s, isLabel(s) ? s : `SPEAKER_${String(next++).padStart(2, '0')}`);
  return {
    turns: turns.map((t) => ({ ...t, speaker: label.get(t.speaker) ?? t.speaker })),
    speakers: speakers.map((s) => label.get(s)!),
    matches: speakers.map((s) => ({ speaker: label.get(s)!, match: isLabel(s) ? null : s, score: null })),
  };
}

function audioSeconds(audio: ArtifactRef): number {
  return typeof audio.metadata?.duration_s === 'number' ? audio.metadata.duration_s : 0;
}

/** The result an earlier attempt saved for this job, if it is on disk. */
async function savedResult(file: string, jobId: string | null): Promise<ArtifactRef | null> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as DiarizationResult;
    if (!jobId || data.job_id !== jobId || !Array.isArray(data.turns)) return null;
    const { sha256, bytes } = await sha256File(file);
    return { path: file, sha256, bytes, metadata: { job_id: jobId, speakers: data.speakers.length, turns: data.turns.length, recovered: 'result saved before the job expired' } };
  } catch {
    return null;
  }
}

/**
 * No speaker at all is a result only for audio without speech: on audio with sound, it is the
 * provider's failure (an expired or broken output), never a silently empty transcript.
 */
async function refuseEmpty(turns: SpeakerTurn[], input: DiarizeAudioInput, jobId?: string): Promise<void> {
  if (turns.length > 0) return;
  const sound = await soundSeconds(input);
  if (sound !== null && sound < 1) return;
  throw failure(
    Failure.ProviderJobFailed,
    `The diarization${jobId ? ` (job ${jobId})` : ''} found no speaker in audio with ${sound !== null ? `${sound.toFixed(1)} s of sound` : 'sound'}; an empty result is not kept. Run the same command again to diarize it afresh.`,
  );
}

/** Seconds of the converted audio that are not silence, from the silences conversion found; null when unknown. */
async function soundSeconds(input: DiarizeAudioInput): Promise<number | null> {
  try {
    const found = JSON.parse(await readFile(path.join(input.interimDir, SILENCES_FILE), 'utf8')) as { audio_sha256?: string; silences?: { start: number; end: number }[] };
    if (found.audio_sha256 !== input.audio.sha256 || !Array.isArray(found.silences)) return null;
    const silent = found.silences.reduce((a, x) => a + (x.end - x.start), 0);
    return Math.max(0, audioSeconds(input.audio) - silent);
  } catch {
    return null;
  }
}

async function readJobFile(file: string): Promise<(DiarizeProgress & { runId?: string }) | undefined> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as { jobId?: unknown; audioSha256?: unknown; jobs?: unknown; runId?: unknown };
    if (typeof data.jobId === 'string' && typeof data.audioSha256 === 'string') {
      return { phase: 'submitted', jobId: data.jobId, audioSha256: data.audioSha256, polls: 0, jobs: typeof data.jobs === 'number' ? data.jobs : 1, ...(typeof data.runId === 'string' ? { runId: data.runId } : {}) };
    }
  } catch {
    // No job was submitted by an earlier attempt.
  }
  return undefined;
}
