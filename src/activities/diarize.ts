// diarization: upload the converted audio to pyannote.ai, start one job, poll it to the end.
// The job id is kept in heartbeat details and in a small file beside the audio, so a
// retried attempt polls the same (already paid for) job instead of submitting another.
import { Context, sleep } from '@temporalio/activity';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Failure } from '../domain/failures';
import type { SpeakerMatch, SpeakerTurn, ArtifactRef } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import { ProviderError } from '../providers/errors';
import type { DiarizationHints, Diarizer, IdentifyOptions } from '../providers/interfaces';
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
  job_id: string;
  speakers: string[];
  turns: SpeakerTurn[];
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
}) {
  return async function diarizeAudio(input: DiarizeAudioInput): Promise<ArtifactRef> {
    return atBoundary(async (heartbeat) => {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const diarizer = deps.diarizer();
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
      const beat = (phase: DiarizeProgress['phase'], jobStatus?: string) =>
        heartbeat({ phase, jobId, audioSha256: input.audio.sha256, polls, jobs, ...(jobStatus ? { jobStatus } : {}) } satisfies DiarizeProgress);

      const submit = async () => {
        beat('uploading');
        const mediaKey = `media://speech/${input.pipelineId}/${input.audio.sha256.slice(0, 16)}.wav`;
        const url = await diarizer.upload(input.audio.path, mediaKey, signal);
        const job = await diarizer.submit(url, input.hints, signal, identify);
        jobId = job.jobId;
        jobs += 1;
        // Durable before anything else can fail: this job is billed.
        await deps.store.writeJson(jobFile, { jobId, audioSha256: input.audio.sha256, submittedAt: new Date().toISOString(), jobs, runId });
        beat('submitted');
      };

      if (!jobId) await submit();

      for (;;) {
        let job;
        try {
          job = await diarizer.poll(jobId!, signal);
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
            ctx.log.warn('Diarization job no longer exists; submitting a new one', { jobId });
            jobId = null;
            await submit();
            continue;
          }
          throw err;
        }
        polls += 1;
        beat('polling', job.status);
        if (job.status === 'succeeded') {
          const turns = (job.turns ?? []).filter((t) => t.end > t.start).sort((a, b) => a.start - b.start || a.end - b.end);
          const speakers = [...new Set(turns.map((t) => t.speaker))];
          const matches = identify ? speakers.map((speaker) => toMatch(speaker, job.matches)) : undefined;
          const result: DiarizationResult = { job_id: job.jobId, speakers, turns, ...(matches ? { matches } : {}) };
          const ref = await deps.store.writeJson(resultFile, result);
          const metadata: Record<string, string | number> = {
            job_id: job.jobId,
            speakers: speakers.length,
            turns: turns.length,
            provider: service.provider,
            model: service.model,
            // What the jobs bill by: the audio's length, once per job submitted for it.
            audio_seconds: typeof input.audio.metadata?.duration_s === 'number' ? input.audio.metadata.duration_s : 0,
            jobs: Math.max(1, jobs),
          };
          if (matches) metadata.identified = matches.filter((m) => m.match !== null).length;
          const out = { ...ref, metadata };
          await deps.cache?.put('diarization', key, keyInputs, { pipelineId: input.pipelineId, files: { result: out } });
          return out;
        }
        if (job.status === 'failed' || job.status === 'canceled') {
          throw failure(Failure.ProviderJobFailed, `pyannote.ai diarization job ${job.jobId} ${job.status}: ${job.error ?? 'no reason given'}`);
        }
        await sleep(deps.pollIntervalMs);
      }
    });
  };
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
