// diarizeAudio against the pyannote.ai emulator: two voices found, the job id kept so a
// retried attempt polls the job it already paid for, failures classified, cancellation.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CancelledFailure } from '@temporalio/common';
import { makeConvertAudio } from '../../src/activities/convert';
import { type DiarizationResult, type DiarizeAudioInput, type DiarizeProgress, makeDiarizeAudio, pollDelayMs } from '../../src/activities/diarize';
import type { ArtifactRef } from '../../src/domain/types';
import { createFsArtifactStore, sha256File } from '../../src/providers/artifact-store';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import type { DiarizationHints } from '../../src/providers/interfaces';
import { createPyannoteDiarizer } from '../../src/providers/pyannote-diarizer';
import { type PyannoteEmulator, startPyannoteEmulator } from '../emulators';
import { type Recording, makeTwoSpeakerRecording } from '../helpers/audio';
import { mockActivityEnv, testTmpDir, until } from '../helpers/temporal';
import { expectFailure } from '../helpers/failures';

const KEY = 'test-pyannote-key';
const NO_HINTS: DiarizationHints = { numSpeakers: null, minSpeakers: null, maxSpeakers: null };

describe('pollDelayMs', () => {
  it('polls a fresh job after 1 s, doubling the wait up to the poll interval', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 40].map((k) => pollDelayMs(k, 5000)), [1000, 2000, 4000, 5000, 5000, 5000]);
    assert.equal(pollDelayMs(0, 100), 100);
  });
});

describe('diarizeAudio activity (pyannote.ai emulator)', function () {
  this.timeout(60_000);
  let dir: string;
  let rec: Recording;
  let audio: ArtifactRef;
  let pyannote: PyannoteEmulator;
  const store = createFsArtifactStore();
  let counter = 0;
  const freshDir = (name: string) => path.join(dir, `${name}-${++counter}`);

  const diarizeAudioOn = (emu: PyannoteEmulator, pollIntervalMs = 100) =>
    makeDiarizeAudio({ diarizer: () => createPyannoteDiarizer({ apiKey: KEY, baseUrl: emu.url, model: 'precision-2' }), store, pollIntervalMs, voiceSpace: `pyannote:${emu.url}` });

  const input = (interimDir: string, hints: DiarizationHints = NO_HINTS): DiarizeAudioInput => ({ pipelineId: 'pl-test', audio, hints, interimDir });

  /** Runs one attempt; `heartbeatDetails` stands for what an earlier attempt recorded. */
  function attempt(interimDir: string, opts: { heartbeatDetails?: DiarizeProgress; hints?: DiarizationHints; emu?: PyannoteEmulator; pollIntervalMs?: number } = {}) {
    const m = mockActivityEnv(opts.heartbeatDetails ? { attempt: 2, heartbeatDetails: opts.heartbeatDetails } : {});
    const beats: DiarizeProgress[] = [];
    m.env.on('heartbeat', (d: DiarizeProgress) => beats.push(d));
    const result = m.run(diarizeAudioOn(opts.emu ?? pyannote, opts.pollIntervalMs), input(interimDir, opts.hints));
    return { env: m.env, beats, result };
  }

  const diarizePosts = (emu: PyannoteEmulator = pyannote) => emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/diarize');

  before(async () => {
    dir = await testTmpDir('speech-diarize-');
    rec = await makeTwoSpeakerRecording({ dir });
    const { sha256 } = await sha256File(rec.path);
    audio = await mockActivityEnv().run(makeConvertAudio({ media: createFfmpegProcessor(), store }), {
      inputFile: rec.path,
      inputSha256: sha256,
      interimDir: path.join(dir, 'interim'),
    });
    pyannote = await startPyannoteEmulator({ apiKeys: [KEY] });
  });
  beforeEach(() => pyannote.faults.clear());
  after(async () => {
    await pyannote?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The label diarization gave most of each ground-truth turn. */
  function labelsOfTurns(result: DiarizationResult): string[] {
    return rec.turns.map((t) => {
      const overlap = new Map<string, number>();
      for (const d of result.turns) {
        const o = Math.min(t.end, d.end) - Math.max(t.start, d.start);
        if (o > 0) overlap.set(d.speaker, (overlap.get(d.speaker) ?? 0) + o);
      }
      const best = [...overlap.entries()].sort((a, b) => b[1] - a[1])[0];
      assert.ok(best, `no diarized speech in the turn ${t.start.toFixed(2)}–${t.end.toFixed(2)} s`);
      return best[0];
    });
  }

  describe('a first attempt', () => {
    let ref: ArtifactRef;
    let result: DiarizationResult;
    let beats: DiarizeProgress[];
    let interimDir: string;
    let jobsBefore: number;

    before(async () => {
      interimDir = freshDir('first');
      jobsBefore = pyannote.jobs.size;
      const a = attempt(interimDir);
      ref = await a.result;
      beats = a.beats;
      result = await store.readJson<DiarizationResult>(ref);
    });

    it('finds the two voices and attributes each turn to the right one', () => {
      assert.equal(result.speakers.length, 2, `speakers ${result.speakers.join(', ')}`);
      assert.equal(ref.metadata?.speakers, 2);
      assert.equal(ref.metadata?.turns, result.turns.length);
      const labels = labelsOfTurns(result);
      // A, B, A, B in the recording.
      assert.equal(labels[0], labels[2]);
      assert.equal(labels[1], labels[3]);
      assert.notEqual(labels[0], labels[1]);
      for (let i = 1; i < result.turns.length; i++) assert.ok(result.turns[i]!.start >= result.turns[i - 1]!.start, 'turns out of order');
    });

    it('submits exactly one job and writes a result file matching its sha256', async () => {
      assert.equal(pyannote.jobs.size, jobsBefore + 1);
      assert.ok(pyannote.jobs.has(result.job_id!));
      assert.equal(ref.metadata?.job_id, result.job_id);
      assert.equal(path.basename(ref.path), 'diarization.json');
      const { sha256 } = await sha256File(ref.path);
      assert.equal(ref.sha256, sha256);
    });

    it('records the job id in its heartbeats once submitted, and in diarization-job.json', async () => {
      const firstWithJob = beats.findIndex((b) => b.jobId !== null);
      assert.ok(firstWithJob > 0, `heartbeats: ${JSON.stringify(beats)}`);
      assert.equal(beats[0]!.phase, 'uploading');
      assert.equal(beats[0]!.jobId, null);
      for (const b of beats.slice(firstWithJob)) {
        assert.equal(b.jobId, result.job_id);
        assert.equal(b.audioSha256, audio.sha256);
      }
      assert.ok(beats.some((b) => b.phase === 'polling' && b.polls >= 1));
      const file = JSON.parse(await readFile(path.join(interimDir, 'diarization-job.json'), 'utf8')) as { jobId: string; audioSha256: string };
      assert.equal(file.jobId, result.job_id);
      assert.equal(file.audioSha256, audio.sha256);
    });
  });

  describe('a retried attempt', () => {
    let existingJob: string;

    before(async () => {
      existingJob = (await store.readJson<DiarizationResult>(await attempt(freshDir('seed')).result)).job_id!;
    });

    it('polls the job from the heartbeat details and submits no new one', async () => {
      const jobsBefore = pyannote.jobs.size;
      const logBefore = pyannote.requests.length;
      const a = attempt(freshDir('retry-hb'), { heartbeatDetails: { phase: 'polling', jobId: existingJob, audioSha256: audio.sha256, polls: 0 } });
      const ref = await a.result;
      const newRequests = pyannote.requests.slice(logBefore);
      assert.equal(pyannote.jobs.size, jobsBefore);
      assert.deepEqual(
        newRequests.filter((r) => r.method === 'POST'),
        [],
        'no upload and no submission',
      );
      assert.ok(newRequests.some((r) => r.path === `/v1/jobs/${existingJob}`));
      assert.equal(ref.metadata?.job_id, existingJob);
      assert.equal((await store.readJson<DiarizationResult>(ref)).speakers.length, 2);
    });

    it('reuses the job in diarization-job.json when the heartbeat predates the submission', async () => {
      const interimDir = freshDir('retry-file');
      await mkdir(interimDir, { recursive: true });
      await writeFile(path.join(interimDir, 'diarization-job.json'), JSON.stringify({ jobId: existingJob, audioSha256: audio.sha256, submittedAt: new Date().toISOString() }));
      const jobsBefore = pyannote.jobs.size;
      const postsBefore = diarizePosts().length;
      const ref = await attempt(interimDir, { heartbeatDetails: { phase: 'uploading', jobId: null, audioSha256: audio.sha256, polls: 0 } }).result;
      assert.equal(pyannote.jobs.size, jobsBefore);
      assert.equal(diarizePosts().length, postsBefore);
      assert.equal(ref.metadata?.job_id, existingJob);
    });

    it('does not reuse a job that was made for different audio', async () => {
      const interimDir = freshDir('retry-other-audio');
      const stale = { phase: 'polling' as const, jobId: existingJob, audioSha256: 'f'.repeat(64), polls: 3 };
      const jobsBefore = pyannote.jobs.size;
      const ref = await attempt(interimDir, { heartbeatDetails: stale }).result;
      assert.equal(pyannote.jobs.size, jobsBefore + 1);
      assert.notEqual(ref.metadata?.job_id, existingJob);
    });

    it('submits a fresh job when the service no longer knows the recorded one (404)', async () => {
      const gone = randomUUID();
      const interimDir = freshDir('retry-gone');
      const jobsBefore = pyannote.jobs.size;
      const postsBefore = diarizePosts().length;
      const logBefore = pyannote.requests.length;
      const ref = await attempt(interimDir, { heartbeatDetails: { phase: 'polling', jobId: gone, audioSha256: audio.sha256, polls: 5 } }).result;
      const polledGone = pyannote.requests.slice(logBefore).filter((r) => r.path === `/v1/jobs/${gone}`);
      assert.deepEqual(
        polledGone.map((r) => r.status),
        [404],
      );
      assert.equal(pyannote.jobs.size, jobsBefore + 1);
      assert.equal(diarizePosts().length, postsBefore + 1);
      const newJob = ref.metadata?.job_id;
      assert.ok(typeof newJob === 'string' && newJob !== gone && pyannote.jobs.has(newJob));
      // The replacement is durable too, for the attempt after this one.
      const file = JSON.parse(await readFile(path.join(interimDir, 'diarization-job.json'), 'utf8')) as { jobId: string };
      assert.equal(file.jobId, newJob);
    });

    it('after a 404, polls the replacement job an earlier attempt recorded in the job file instead of paying for a third', async () => {
      // Attempt 1 polled job X (heartbeat says X), found it gone, submitted Y and wrote Y to the
      // job file, then died before its throttled heartbeat carrying Y reached the server.
      const gone = randomUUID();
      const interimDir = freshDir('retry-gone-replaced');
      await mkdir(interimDir, { recursive: true });
      await writeFile(path.join(interimDir, 'diarization-job.json'), JSON.stringify({ jobId: existingJob, audioSha256: audio.sha256, submittedAt: new Date().toISOString() }));
      const jobsBefore = pyannote.jobs.size;
      const postsBefore = diarizePosts().length;
      const ref = await attempt(interimDir, { heartbeatDetails: { phase: 'polling', jobId: gone, audioSha256: audio.sha256, polls: 5 } }).result;
      assert.equal(diarizePosts().length, postsBefore, 'a new job was submitted although the job file names a live one');
      assert.equal(pyannote.jobs.size, jobsBefore);
      assert.equal(ref.metadata?.job_id, existingJob);
    });
  });

  describe('speaker hints', () => {
    it('passes numSpeakers through: one speaker asked, one speaker returned', async () => {
      const ref = await attempt(freshDir('hint-one'), { hints: { numSpeakers: 1, minSpeakers: null, maxSpeakers: null } }).result;
      const result = await store.readJson<DiarizationResult>(ref);
      assert.deepEqual(result.speakers, ['SPEAKER_00']);
      const job = pyannote.jobs.get(result.job_id!)!;
      assert.equal(job.request.numSpeakers, 1);
      assert.equal(job.request.minSpeakers, null);
      assert.equal(job.request.maxSpeakers, null);
      assert.equal(job.request.model, 'precision-2');
      assert.match(job.request.url, /^media:\/\/speech\/pl-test\//);
    });

    it('passes minSpeakers and maxSpeakers through when no exact count is given', async () => {
      const ref = await attempt(freshDir('hint-range'), { hints: { numSpeakers: null, minSpeakers: 3, maxSpeakers: 4 } }).result;
      const result = await store.readJson<DiarizationResult>(ref);
      const job = pyannote.jobs.get(result.job_id!)!;
      assert.equal(job.request.numSpeakers, null);
      assert.equal(job.request.minSpeakers, 3);
      assert.equal(job.request.maxSpeakers, 4);
      assert.equal(result.speakers.length, 3);
    });
  });

  describe('failures', () => {

    it('a job that fails at the service is ProviderJobFailed, not retried', async () => {
      pyannote.faults.add({ endpoint: 'diarize', kind: 'fail-job' });
      await expectFailure(attempt(freshDir('fail-job')).result, { type: 'ProviderJobFailed', nonRetryable: true, message: /failed: An error occurred while processing the audio/ });
    });

    it('a 429 is waited out for its Retry-After inside the call: the same request goes again, one job results', async () => {
      pyannote.faults.add({ endpoint: 'diarize', kind: 'status', status: 429, retryAfterSeconds: 1 });
      const posts = diarizePosts().length;
      const jobs = pyannote.jobs.size;
      const t0 = Date.now();
      const ref = await attempt(freshDir('rate-once')).result;
      assert.ok(Date.now() - t0 >= 1000, 'waited the Retry-After');
      assert.equal(diarizePosts().length, posts + 2, 'the refused request and the accepted one');
      assert.equal(pyannote.jobs.size, jobs + 1);
      assert.ok(ref.metadata?.job_id);
    });

    it('a 429 that persists is ProviderRateLimited, retried by Temporal after the retry-after-ms the service gave', async () => {
      pyannote.faults.add({ endpoint: 'diarize', kind: 'status', status: 429, retryAfterMs: 100, times: -1 });
      try {
        await expectFailure(attempt(freshDir('rate')).result, { type: 'ProviderRateLimited', nonRetryable: false, retryDelayMs: 1000, message: /Too many requests/ });
      } finally {
        pyannote.faults.clear();
      }
    });

    it('x-should-retry: false makes a 503 final, whatever its type implies', async () => {
      pyannote.faults.add({ endpoint: 'diarize', kind: 'status', status: 503, shouldRetry: false });
      await expectFailure(attempt(freshDir('no-retry')).result, { type: 'ProviderUnavailable', nonRetryable: true, message: /503/ });
    });

    it('a rejected key is ProviderAuth, not retried', async () => {
      const m = mockActivityEnv();
      const diarizeAudio = makeDiarizeAudio({ diarizer: () => createPyannoteDiarizer({ apiKey: 'wrong-key', baseUrl: pyannote.url, model: 'precision-2' }), store, pollIntervalMs: 100, voiceSpace: 'test' });
      await expectFailure(m.run(diarizeAudio, input(freshDir('auth'))), { type: 'ProviderAuth', nonRetryable: true, message: /PYANNOTE_API_KEY/ });
    });

    it('a 503 while polling is ProviderUnavailable, retried, and the job id survives for the retry', async () => {
      pyannote.faults.add({ endpoint: 'jobs', kind: 'status', status: 503 });
      const interimDir = freshDir('poll-503');
      const a = attempt(interimDir);
      await expectFailure(a.result, { type: 'ProviderUnavailable', nonRetryable: false, message: /503/ });
      const last = a.beats[a.beats.length - 1]!;
      assert.ok(last.jobId && pyannote.jobs.has(last.jobId), `last heartbeat ${JSON.stringify(last)}`);
      const postsBefore = diarizePosts().length;
      const ref = await attempt(interimDir, { heartbeatDetails: last }).result;
      assert.equal(ref.metadata?.job_id, last.jobId);
      assert.equal(diarizePosts().length, postsBefore);
    });
  });

  describe('what the service says, and results that are gone', () => {
    it('lines words up with the exclusive turns and keeps the overlapping ones beside them', async () => {
      const ref = await attempt(freshDir('exclusive')).result;
      const result = await store.readJson<DiarizationResult>(ref);
      const job = pyannote.jobs.get(result.job_id!)!;
      assert.equal(job.request.exclusive, true, 'exclusive turns were asked for');
      const sorted = (ts: { speaker: string; start: number; end: number }[]) => ts.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start || a.end - b.end);
      assert.deepEqual(result.turns, sorted(job.output!.exclusiveDiarization!));
      assert.deepEqual(result.overlapping_turns, sorted(job.output!.diarization!));
    });

    it("carries the service's warning into the result and its metadata", async () => {
      // More speakers asked than the recording has stretches of speech: pyannote warns.
      const ref = await attempt(freshDir('warning'), { hints: { numSpeakers: 30, minSpeakers: null, maxSpeakers: null } }).result;
      assert.match(String(ref.metadata?.warning), /outside the given bounds/);
      assert.match((await store.readJson<DiarizationResult>(ref)).warnings?.[0] ?? '', /outside the given bounds/);
    });

    it('a job whose result expired (404) before it was saved is submitted again, and the metadata says it was paid twice and why', async () => {
      const interimDir = freshDir('expired');
      const first = attempt(interimDir);
      await until(() => first.beats.some((b) => b.jobId !== null), 20_000, 'the job to be submitted');
      const seen = first.beats.find((b) => b.jobId !== null)!;
      await first.result.catch(() => undefined);
      await rm(path.join(interimDir, 'diarization.json'), { force: true });
      pyannote.advanceClock(25 * 3600 * 1000);
      const posts = diarizePosts().length;
      const ref = await attempt(interimDir, { heartbeatDetails: { ...seen, phase: 'polling' } }).result;
      assert.equal(diarizePosts().length, posts + 1, 'one new job');
      assert.equal(ref.metadata?.jobs, 2);
      assert.match(String(ref.metadata?.paid_again), /no longer known to pyannote\.ai \(404/);
      assert.notEqual(ref.metadata?.job_id, seen.jobId);
    });

    it('a job that expired after an earlier attempt saved its result takes the saved result, paying nothing', async () => {
      const interimDir = freshDir('expired-saved');
      const done = await attempt(interimDir).result;
      const jobId = String(done.metadata?.job_id);
      pyannote.advanceClock(25 * 3600 * 1000);
      const posts = diarizePosts().length;
      const ref = await attempt(interimDir, { heartbeatDetails: { phase: 'polling', jobId, audioSha256: audio.sha256, polls: 3, jobs: 1 } }).result;
      assert.equal(diarizePosts().length, posts, 'no new job');
      assert.equal(ref.metadata?.job_id, jobId);
      assert.equal(ref.sha256, done.sha256);
    });

    it('a succeeded job without output is never an empty diarization', async () => {
      const emu = await startPyannoteEmulator({ apiKeys: [KEY], expiredResults: 'no-output' });
      try {
        const interimDir = freshDir('no-output');
        const done = await attempt(interimDir, { emu }).result;
        await rm(path.join(interimDir, 'diarization.json'), { force: true });
        emu.advanceClock(25 * 3600 * 1000);
        const ref = await attempt(interimDir, { emu, heartbeatDetails: { phase: 'polling', jobId: String(done.metadata?.job_id), audioSha256: audio.sha256, polls: 3, jobs: 1 } }).result;
        assert.match(String(ref.metadata?.paid_again), /succeeded but its result was gone/);
        assert.ok(Number(ref.metadata?.speakers) >= 2, 'a real diarization, not an empty one');
      } finally {
        await emu.close();
      }
    });

    it('a diarization with no speaker on audio that has speech fails the stage instead of becoming an empty result', async () => {
      const m = mockActivityEnv();
      const empty = makeDiarizeAudio({
        // A diarizer that answers like a service whose output came back with no turns.
        diarizer: () => ({
          upload: async (_f, key) => key,
          submit: async () => ({ jobId: 'job-empty' }),
          submitVoiceprint: async () => ({ jobId: 'vp' }),
          poll: async (jobId) => ({ jobId, status: 'succeeded', turns: [] }),
        }),
        store,
        pollIntervalMs: 10,
        voiceSpace: 'test',
      });
      const interimDir = path.dirname(audio.path);
      await expectFailure(m.run(empty, { ...input(interimDir), pipelineId: 'pl-empty' }), { type: 'ProviderJobFailed', nonRetryable: true, message: /found no speaker in audio with \d+\.\d s of sound/ });
      await rm(path.join(interimDir, 'diarization-job.json'), { force: true });
    });

    it('names the request id in the errors it reports', async () => {
      pyannote.faults.add({ endpoint: 'diarize', kind: 'status', status: 400 });
      await expectFailure(attempt(freshDir('reqid')).result, { type: 'ProviderBadRequest', nonRetryable: true, message: /request id \S+/ });
    });
  });

  describe('cancellation', () => {
    let slow: PyannoteEmulator;
    before(async () => {
      // Jobs that take a minute, so the activity is still polling when it is cancelled.
      slow = await startPyannoteEmulator({ apiKeys: [KEY], latency: { fixedMs: 60_000 } });
    });
    after(async () => {
      await slow?.close();
    });

    async function cancelWhilePolling(pollIntervalMs: number) {
      const a = attempt(freshDir('cancel'), { emu: slow, pollIntervalMs });
      const settled = a.result.then(
        () => ({ ok: true as const, at: Date.now() }),
        (err: unknown) => ({ ok: false as const, err, at: Date.now() }),
      );
      await until(() => a.beats.some((b) => b.phase === 'polling'), 10_000, 'the first poll');
      const cancelledAt = Date.now();
      a.env.cancel();
      const outcome = await settled;
      assert.equal(outcome.ok, false, 'the activity completed although it was cancelled');
      assert.ok(outcome.at - cancelledAt < 2000, `rejected ${outcome.at - cancelledAt} ms after the cancel`);
      if (!outcome.ok) assert.ok(outcome.err instanceof CancelledFailure, `cancel surfaced as ${String(outcome.err)}`);
      return a;
    }

    it('stops within a couple of seconds while waiting between polls', async () => {
      // A 30 s poll interval: only a cancellable wait ends this quickly.
      const a = await cancelWhilePolling(30_000);
      const polls = a.beats.filter((b) => b.phase === 'polling').length;
      assert.equal(polls, 1);
    });

    it('aborts a poll request that hangs', async () => {
      slow.faults.add({ endpoint: 'jobs', kind: 'hang', afterRequests: 1 });
      const logBefore = slow.requests.length;
      const a = attempt(freshDir('cancel-hang'), { emu: slow, pollIntervalMs: 50 });
      const settled = a.result.then(
        () => ({ ok: true as const, at: Date.now() }),
        (err: unknown) => ({ ok: false as const, err, at: Date.now() }),
      );
      // The second poll hangs: wait until it is open at the emulator.
      await until(() => slow.faults.list()[0]!.fired === 1, 10_000, 'the hanging poll');
      await new Promise((r) => setTimeout(r, 200));
      const cancelledAt = Date.now();
      a.env.cancel();
      const outcome = await settled;
      assert.equal(outcome.ok, false);
      assert.ok(outcome.at - cancelledAt < 2000, `rejected ${outcome.at - cancelledAt} ms after the cancel`);
      // The hung request was closed by the client, so the emulator logged it unanswered.
      await until(() => slow.requests.slice(logBefore).some((r) => r.fault === 'hang'), 2000, 'the hung poll to be closed');
      const hung = slow.requests.slice(logBefore).find((r) => r.fault === 'hang')!;
      assert.equal(hung.status, 0);
    });
  });
});
