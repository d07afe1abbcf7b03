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
import { MAX_VOICEPRINTS, voiceprintsFor } from '../providers/voices';
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
}

/** What a retry needs to pick up where the last attempt stopped. */
export interface DiarizeProgress {
  phase: 'uploading' | 'submitted' | 'polling';
  jobId: string | null;
  audioSha256: string;
  polls: number;
  jobStatus?: string;
}

export interface DiarizationResult {
  job_id: string;
  speakers: string[];
  turns: SpeakerTurn[];
  /** With --identify: how each speaker compared with the enrolled voices. */
  matches?: SpeakerMatch[];
}

export function makeDiarizeAudio(deps: { diarizer: () => Diarizer; store: ArtifactStore; pollIntervalMs: number; voiceSpace: string }) {
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
      const previous = fromHeartbeat?.jobId ? fromHeartbeat : ((await readJobFile(jobFile)) ?? fromHeartbeat);
      let jobId = previous && previous.audioSha256 === input.audio.sha256 ? previous.jobId : null;
      let polls = previous?.polls ?? 0;
      const beat = (phase: DiarizeProgress['phase'], jobStatus?: string) =>
        heartbeat({ phase, jobId, audioSha256: input.audio.sha256, polls, ...(jobStatus ? { jobStatus } : {}) } satisfies DiarizeProgress);

      const submit = async () => {
        beat('uploading');
        const mediaKey = `media://speech/${input.pipelineId}/${input.audio.sha256.slice(0, 16)}.wav`;
        const url = await diarizer.upload(input.audio.path, mediaKey, signal);
        const job = await diarizer.submit(url, input.hints, signal, identify);
        jobId = job.jobId;
        // Durable before anything else can fail: this job is billed.
        await deps.store.writeJson(jobFile, { jobId, audioSha256: input.audio.sha256, submittedAt: new Date().toISOString() });
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
          const ref = await deps.store.writeJson(path.join(input.interimDir, 'diarization.json'), result);
          const metadata: Record<string, string | number> = { job_id: job.jobId, speakers: speakers.length, turns: turns.length };
          if (matches) metadata.identified = matches.filter((m) => m.match !== null).length;
          return { ...ref, metadata };
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

async function readJobFile(file: string): Promise<DiarizeProgress | undefined> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as { jobId?: unknown; audioSha256?: unknown };
    if (typeof data.jobId === 'string' && typeof data.audioSha256 === 'string') {
      return { phase: 'submitted', jobId: data.jobId, audioSha256: data.audioSha256, polls: 0 };
    }
  } catch {
    // No job was submitted by an earlier attempt.
  }
  return undefined;
}
