// transcription activities against the OpenAI emulator and real ffmpeg: chunking at silences,
// stitching to absolute times, the failure each provider answer becomes, and cancellation.
import assert from 'node:assert/strict';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { missingKey } from '../../src/activities/boundary';
import { makeConvertAudio } from '../../src/activities/convert';
import { makeTranscriptionActivities, type TranscribeChunkInput, type TranscriptionPlan } from '../../src/activities/transcribe';
import type { ChunkSpan } from '../../src/domain/pipeline';
import type { ArtifactRef, Transcript } from '../../src/domain/types';
import { createFsArtifactStore, sha256File } from '../../src/providers/artifact-store';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import type { Transcriber } from '../../src/providers/interfaces';
import { createOpenAITranscriber } from '../../src/providers/openai-transcriber';
import { readWavInfo } from '../../src/providers/wav';
import { type OpenAIEmulator, type Region, analyzeAudio, speechRegions, startOpenAIEmulator } from '../emulators';
import { type Recording, makeTwoSpeakerRecording } from '../helpers/audio';
import { mockActivityEnv, testTmpDir, until } from '../helpers/temporal';
import { expectFailure } from '../helpers/failures';

const KEY = 'test-openai-key';
const execFileAsync = promisify(execFile);

/** Short turns with one-second gaps: every 8 s stretch of the recording holds a pause to cut in. */
const TURNS = [
  { speaker: 'A', text: 'Good morning and welcome everyone.' },
  { speaker: 'B', text: 'Thanks, it is good to be here.' },
  { speaker: 'A', text: 'Let us look at the budget first.' },
  { speaker: 'B', text: 'Sales grew by ten percent.' },
  { speaker: 'A', text: 'Costs stayed flat this quarter.' },
  { speaker: 'B', text: 'That is very good news.' },
  { speaker: 'A', text: 'We should share the notes.' },
  { speaker: 'B', text: 'I will send them today.' },
] as const;

describe('transcription activities (OpenAI emulator, real ffmpeg)', function () {
  this.timeout(60_000);
  let dir: string;
  let rec: Recording;
  let audio: ArtifactRef;
  let openai: OpenAIEmulator;
  const store = createFsArtifactStore();
  const media = createFfmpegProcessor();
  let counter = 0;
  const freshDir = (name: string) => path.join(dir, `${name}-${++counter}`);

  const activities = (transcriber: () => Transcriber = () => createOpenAITranscriber({ apiKey: KEY, baseUrl: openai.url })) =>
    makeTranscriptionActivities({ store, transcriber });

  before(async () => {
    dir = await testTmpDir('speech-transcribe-');
    rec = await makeTwoSpeakerRecording({ dir, turns: [...TURNS], gapSeconds: 1.0 });
    const { sha256 } = await sha256File(rec.path);
    audio = await mockActivityEnv().run(makeConvertAudio({ media, store }), { inputFile: rec.path, inputSha256: sha256, interimDir: path.join(dir, 'interim') });
    openai = await startOpenAIEmulator({ apiKeys: [KEY] });
  });
  beforeEach(() => openai.reset());
  after(async () => {
    await openai?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('a recording longer than one request', () => {
    let plan: TranscriptionPlan;
    let duration: number;
    let regions: Region[];
    let chunkRefs: ArtifactRef[];
    let transcript: Transcript;
    let assembled: ArtifactRef;
    let requests: OpenAIEmulator['requests'];

    before(async () => {
      const interimDir = path.join(dir, 'long');
      const { planTranscription, transcribeChunk, assembleTranscript } = activities();
      duration = (await readWavInfo(audio.path)).durationSeconds;
      regions = speechRegions(await analyzeAudio(audio.path));
      plan = await mockActivityEnv().run(planTranscription, { audio, interimDir, model: 'whisper-1', maxChunkSeconds: 8 });
      openai.reset();
      chunkRefs = [];
      for (const chunk of plan.chunks) {
        // As the workflow runs one lane: each chunk is prompted with the one before it.
        const previousChunk = chunkRefs[chunkRefs.length - 1] ?? null;
        const input: TranscribeChunkInput = { audio, chunk, totalChunks: plan.chunks.length, interimDir, model: 'whisper-1', language: null, previousChunk };
        chunkRefs.push(await mockActivityEnv().run(transcribeChunk, input));
      }
      requests = [...openai.requests];
      assembled = await mockActivityEnv().run(assembleTranscript, { chunks: chunkRefs, interimDir, duration });
      transcript = await store.readJson<Transcript>(assembled);
    });

    it('plans several chunks, each within the limit, that cover the file exactly once', async () => {
      assert.ok(duration > 25 && duration < 30, `recording is ${duration} s`);
      assert.ok(plan.chunks.length >= 4, `${plan.chunks.length} chunks`);
      assert.equal(plan.chunks[0]!.start, 0);
      assert.ok(Math.abs(plan.chunks[plan.chunks.length - 1]!.end - duration) < 1e-6);
      plan.chunks.forEach((c, i) => {
        assert.equal(c.index, i);
        assert.ok(c.end - c.start <= 8 + 1e-9, `chunk ${i} is ${c.end - c.start} s`);
        assert.ok(c.end > c.start);
        if (i > 0) assert.equal(c.start, plan.chunks[i - 1]!.end, `gap or overlap before chunk ${i}`);
      });
      assert.equal(plan.ref.metadata?.chunks, plan.chunks.length);
      const onDisk = await store.readJson<{ chunks: ChunkSpan[] }>(plan.ref);
      assert.deepEqual(onDisk.chunks, plan.chunks);
      assert.deepEqual(await store.verify(plan.ref), { ok: true });
    });

    it('cuts only in the pauses between turns, never inside speech', () => {
      for (const c of plan.chunks.slice(0, -1)) {
        for (const t of rec.turns) {
          assert.ok(c.end < t.start - 0.1 || c.end > t.end + 0.1, `cut at ${c.end.toFixed(3)} s falls in the turn ${t.start.toFixed(2)}–${t.end.toFixed(2)} s`);
        }
      }
    });

    it('sends each chunk as its own request, named chunk-000N.wav and as long as the chunk', () => {
      assert.equal(requests.length, plan.chunks.length);
      const byName = new Map(requests.map((r) => [r.filename, r]));
      plan.chunks.forEach((c, i) => {
        const r = byName.get(`chunk-${String(i).padStart(4, '0')}.wav`);
        assert.ok(r, `no request for chunk ${i}; got ${requests.map((q) => q.filename).join(', ')}`);
        assert.equal(r.status, 200);
        assert.equal(r.model, 'whisper-1');
        assert.equal(r.responseFormat, 'verbose_json');
        assert.ok(Math.abs(r.audioSeconds! - (c.end - c.start)) < 0.002, `chunk ${i}: sent ${r.audioSeconds} s for a ${c.end - c.start} s chunk`);
      });
    });

    it('prompts each chunk after the first with the text of the chunk before it', async () => {
      const byName = new Map(requests.map((r) => [r.filename, r]));
      assert.equal(byName.get('chunk-0000.wav')?.prompt, undefined);
      for (let i = 1; i < plan.chunks.length; i++) {
        const previous = await store.readJson<Transcript>(chunkRefs[i - 1]!);
        const sent = byName.get(`chunk-${String(i).padStart(4, '0')}.wav`)?.prompt;
        assert.ok(previous.text.length > 0);
        if (previous.text.length <= 200) assert.equal(sent, previous.text);
        assert.ok(sent && previous.text.endsWith(sent), `chunk ${i} prompt "${sent}" is not the end of "${previous.text}"`);
        assert.equal(chunkRefs[i]!.metadata?.prompted, true);
      }
    });

    it('writes each chunk transcript as a file matching its sha256, with words inside the chunk', async () => {
      assert.equal(chunkRefs.length, plan.chunks.length);
      for (const [i, ref] of chunkRefs.entries()) {
        const c = plan.chunks[i]!;
        assert.equal(path.basename(ref.path), `chunk-${String(i).padStart(4, '0')}.json`);
        const { sha256, bytes } = await sha256File(ref.path);
        assert.equal(ref.sha256, sha256);
        assert.equal(ref.bytes, bytes);
        const part = await store.readJson<Transcript & { chunk: ChunkSpan }>(ref);
        assert.deepEqual(part.chunk, c);
        assert.ok(part.words.length > 0, `chunk ${i} has no words`);
        assert.equal(ref.metadata?.words, part.words.length);
        for (const w of part.words) assert.ok(w.start >= c.start - 1e-9 && w.end <= c.end + 1e-9, `chunk ${i}: word at ${w.start}–${w.end} outside ${c.start}–${c.end}`);
      }
    });

    it('stitches words at absolute times, each inside the speech of the whole file (±50 ms)', async () => {
      const words = transcript.words;
      assert.ok(words.length >= 30, `${words.length} words`);
      for (let i = 1; i < words.length; i++) assert.ok(words[i]!.start >= words[i - 1]!.start, `word ${i} goes back in time`);
      for (const w of words) {
        assert.ok(w.end > w.start);
        const inside = regions.some((r) => w.start >= r.start - 0.05 && w.end <= r.end + 0.05);
        assert.ok(inside, `"${w.word}" at ${w.start.toFixed(2)}–${w.end.toFixed(2)} s lies outside every speech region`);
      }
      // Every turn of the recording is heard, the last one included (so later chunks are offset).
      for (const t of rec.turns) {
        assert.ok(
          words.some((w) => w.start >= t.start - 0.05 && w.end <= t.end + 0.05),
          `no word in the turn ${t.start.toFixed(2)}–${t.end.toFixed(2)} s`,
        );
      }
    });

    it('assembles one transcript from all chunks, in order', async () => {
      assert.equal(assembled.metadata?.chunks, plan.chunks.length);
      assert.equal(assembled.metadata?.words, transcript.words.length);
      assert.equal(transcript.language, 'english');
      assert.equal(transcript.duration, duration);
      const parts = await Promise.all(chunkRefs.map((r) => store.readJson<Transcript>(r)));
      // Cuts lie in silence, so no word is a seam duplicate: nothing is lost or doubled.
      assert.equal(transcript.words.length, parts.reduce((n, p) => n + p.words.length, 0));
      assert.equal(transcript.text, parts.map((p) => p.text).join(' '));
      assert.deepEqual(await store.verify(assembled), { ok: true });
    });

    it('assembles the same transcript whatever order the chunk results arrive in', async () => {
      const { assembleTranscript } = activities();
      const again = await mockActivityEnv().run(assembleTranscript, { chunks: [...chunkRefs].reverse(), interimDir: path.join(dir, 'reassembled'), duration });
      assert.deepEqual(await store.readJson<Transcript>(again), transcript);
    });
    it('keeps the plan whose chunks were already transcribed when planned again with other settings (nothing is paid twice)', async () => {
      const interimDir = path.join(dir, 'long');
      const { planTranscription } = activities();
      const fresh = await mockActivityEnv().run(planTranscription, { audio, interimDir: freshDir('replan'), model: 'whisper-1', maxChunkSeconds: 10, lanes: 2 });
      assert.notDeepEqual(fresh.chunks, plan.chunks, 'other settings plan other chunks on a folder without transcripts');
      const again = await mockActivityEnv().run(planTranscription, { audio, interimDir, model: 'whisper-1', maxChunkSeconds: 10, lanes: 2 });
      assert.deepEqual(again.chunks, plan.chunks);
      assert.equal(again.ref.metadata?.kept_from_earlier_plan, true);
      // A limit the earlier chunks no longer fit under plans anew.
      const smaller = await mockActivityEnv().run(planTranscription, { audio, interimDir, model: 'whisper-1', maxChunkSeconds: 6 });
      assert.ok(smaller.chunks.every((c) => c.end - c.start <= 6 + 1e-9));
      assert.equal(smaller.ref.metadata?.kept_from_earlier_plan, undefined);
    });
  });

  it('cuts a file that fits in one request into one chunk per slot of a local engine, at a silence, and keeps it whole for a cloud service', async () => {
    // The recording five times over (≈2.3 minutes with its pauses), so two slots get a minute each.
    const looped = path.join(dir, 'looped.wav');
    await execFileAsync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '4', '-i', rec.path, '-c', 'copy', looped]);
    const { sha256 } = await sha256File(looped);
    const long = await mockActivityEnv().run(makeConvertAudio({ media, store }), { inputFile: looped, inputSha256: sha256, interimDir: freshDir('looped') });
    const duration = (await readWavInfo(long.path)).durationSeconds;
    assert.ok(duration >= 120, `${duration} s`);
    const input = { audio: long, model: 'whisper-1', maxChunkSeconds: 600, lanes: 8 };
    const cloud = await mockActivityEnv().run(activities().planTranscription, { ...input, interimDir: freshDir('slots') });
    assert.deepEqual(cloud.chunks, [{ index: 0, start: 0, end: duration }]);
    let asked = 0;
    const local = makeTranscriptionActivities({ store, transcriber: () => createOpenAITranscriber({ apiKey: KEY, baseUrl: openai.url }), transcriptionSlots: async () => (asked += 1, 2) });
    const plan = await mockActivityEnv().run(local.planTranscription, { ...input, interimDir: freshDir('slots') });
    assert.equal(asked, 1);
    assert.equal(plan.chunks.length, 2);
    const cut = plan.chunks[0]!.end;
    assert.ok(Math.abs(cut - duration / 2) <= 30, `cut at ${cut} s of ${duration} s`);
    // In a pause between turns: no speech region of the audio spans the cut.
    assert.ok(speechRegions(await analyzeAudio(long.path)).every((r) => r.end <= cut || r.start >= cut), `cut at ${cut} s falls in speech`);
  });

  describe('provider failures at the boundary', () => {
    const chunk: ChunkSpan = { index: 0, start: 0, end: 3.5 };
    const run = (transcriber?: () => Transcriber, model = 'whisper-1') =>
      mockActivityEnv().run(activities(transcriber).transcribeChunk, {
        audio,
        chunk,
        totalChunks: 1,
        interimDir: freshDir('fail'),
        model,
        language: null,
        previousChunk: null,
      });


    it('a rejected key is ProviderAuth, not retried, and the message never shows the key', async () => {
      const secret = 'sk-proj-Zq8wLx3vTq9mN2rB7kYp';
      const err = await expectFailure(
        run(() => createOpenAITranscriber({ apiKey: secret, baseUrl: openai.url })),
        { type: 'ProviderAuth', nonRetryable: true, message: /OPENAI_API_KEY/ },
      );
      assert.ok(!err.message.includes(secret), err.message);
      assert.ok(!err.message.includes('Zq8wLx3vTq9mN2'), err.message);
      assert.equal(openai.requests.length, 1);
      assert.equal(openai.requests[0]!.status, 401);
    });

    it('a 400 is ProviderBadRequest, not retried', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 400, message: 'Audio file might be corrupted or unsupported' });
      await expectFailure(run(), { type: 'ProviderBadRequest', nonRetryable: true, message: /corrupted or unsupported/ });
    });

    it('an unknown model (404) is ProviderBadRequest, not retried', async () => {
      await expectFailure(run(undefined, 'whisper-0-nonexistent'), { type: 'ProviderBadRequest', nonRetryable: true, message: /whisper-0-nonexistent/ });
      assert.equal(openai.requests[0]!.status, 404);
    });

    it('a 429 with Retry-After: 7 is ProviderRateLimited, retried after 7 s', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, retryAfterSeconds: 7 });
      await expectFailure(run(), { type: 'ProviderRateLimited', nonRetryable: false, retryDelayMs: 7000 });
      // maxRetries 0: Temporal counts the retries, the SDK makes none of its own.
      assert.equal(openai.requests.length, 1);
    });

    it('a 429 without Retry-After is retried on the normal backoff', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429 });
      await expectFailure(run(), { type: 'ProviderRateLimited', nonRetryable: false });
    });

    it('a 429 insufficient_quota is ProviderQuotaExceeded, not retried', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, code: 'insufficient_quota', retryAfterSeconds: 7 });
      await expectFailure(run(), { type: 'ProviderQuotaExceeded', nonRetryable: true, message: /quota/ });
    });

    for (const status of [500, 503]) {
      it(`a ${status} is ProviderUnavailable, retried (once per attempt)`, async () => {
        openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status });
        await expectFailure(run(), { type: 'ProviderUnavailable', nonRetryable: false, message: new RegExp(`\\(${status}\\)`) });
        assert.equal(openai.requests.length, 1);
      });
    }

    it('a connection reset is ProviderUnavailable, retried', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'reset' });
      await expectFailure(run(), { type: 'ProviderUnavailable', nonRetryable: false, message: /Could not reach/ });
    });

    it('a request that hangs is abandoned at its deadline (from its size and model) as ProviderUnavailable, and sent again by the retry', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'hang' });
      const { env, run } = mockActivityEnv();
      const beats: number[] = [];
      env.on('heartbeat', () => beats.push(Date.now()));
      const started = Date.now();
      const acts = makeTranscriptionActivities({ store, transcriber: () => createOpenAITranscriber({ apiKey: KEY, baseUrl: openai.url }), requestDeadlineBaseMs: 1000 });
      const input = { audio, chunk, totalChunks: 1, interimDir: freshDir('hang'), model: 'whisper-1', language: null, previousChunk: null };
      // 1 s + 112 kB at the slowest link allowed (64 kB/s) + 3.5 s × 0.5 for whisper-1 ≈ 4.5 s.
      await expectFailure(run(acts.transcribeChunk, input), { type: 'ProviderUnavailable', nonRetryable: false, message: /transcription of chunk 1\/1: no answer within 4 s/ });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 4000 && elapsed < 9000, `abandoned after ${elapsed} ms`);
      assert.ok(beats.length >= 2, `the activity heartbeat while the request was within its deadline (${beats.length} beats)`);
      await until(() => openai.inFlight === 0, 2000, 'the emulator to see the request aborted');
      // The retry sends it again and succeeds.
      const ref = await mockActivityEnv().run(acts.transcribeChunk, input);
      assert.ok((ref.metadata?.words as number) > 0);
    });

    it('stops heartbeating once a request is past its deadline, even if the request ignores the abort', async () => {
      const { env, run } = mockActivityEnv();
      const beats: number[] = [];
      env.on('heartbeat', () => beats.push(Date.now()));
      // A request that never settles and ignores its signal: only the missing heartbeats can end it.
      const stuck: Transcriber = {
        transcribe: (_req, _signal, watch) => {
          watch?.sending?.();
          return new Promise(() => undefined);
        },
      };
      const acts = makeTranscriptionActivities({ store, transcriber: () => stuck, requestDeadlineBaseMs: 1000 });
      const sentAt = Date.now();
      void run(acts.transcribeChunk, { audio, chunk, totalChunks: 1, interimDir: freshDir('stuck'), model: 'whisper-1', language: null, previousChunk: null }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 9000));
      const deadline = sentAt + 4500;
      assert.ok(beats.some((t) => t < deadline), 'no heartbeat while the request was within its deadline');
      const late = beats.filter((t) => t > deadline + 1500);
      assert.deepEqual(late.map((t) => t - sentAt), [], 'heartbeats went on after the deadline');
    });

    it('a missing key is ConfigMissing, not retried, and names OPENAI_API_KEY', async () => {
      await expectFailure(
        run(() => {
          throw missingKey('OPENAI_API_KEY', 'transcription');
        }),
        { type: 'ConfigMissing', nonRetryable: true, message: /OPENAI_API_KEY is not set/ },
      );
      assert.equal(openai.requests.length, 0);
    });

    it('writes no chunk transcript when the request failed', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 503 });
      const interimDir = freshDir('nofile');
      await assert.rejects(
        mockActivityEnv().run(activities().transcribeChunk, { audio, chunk, totalChunks: 1, interimDir, model: 'whisper-1', language: null, previousChunk: null }),
      );
      await assert.rejects(stat(path.join(interimDir, 'chunks', 'chunk-0000.json')), { code: 'ENOENT' });
    });
  });

  describe('cancellation', () => {
    it('aborts the HTTP request promptly when the activity is cancelled', async () => {
      openai.faults.add({ endpoint: 'transcriptions', kind: 'hang' });
      const { env, run } = mockActivityEnv();
      const interimDir = freshDir('cancel');
      const p = run(activities().transcribeChunk, {
        audio,
        chunk: { index: 0, start: 0, end: 3.5 },
        totalChunks: 1,
        interimDir,
        model: 'whisper-1',
        language: null,
        previousChunk: null,
      });
      const settled = p.then(
        () => ({ ok: true as const, at: Date.now() }),
        (err: unknown) => ({ ok: false as const, err, at: Date.now() }),
      );
      await until(() => openai.inFlight === 1, 5000, 'the request to reach the emulator');
      await new Promise((r) => setTimeout(r, 300));
      const cancelledAt = Date.now();
      env.cancel();
      const outcome = await settled;
      assert.equal(outcome.ok, false, 'the activity completed although it was cancelled');
      assert.ok(outcome.at - cancelledAt < 3000, `rejected ${outcome.at - cancelledAt} ms after the cancel`);
      // A cancelled chunk is not a provider outage: it must not come back as a retryable provider failure.
      if (!outcome.ok) assert.ok(!(outcome.err instanceof ApplicationFailure && outcome.err.type?.startsWith('Provider')), `cancel reported as ${String(outcome.err)}`);
      await until(() => openai.inFlight === 0, 2000, 'the emulator to see the request aborted');
      await assert.rejects(readFile(path.join(interimDir, 'chunks', 'chunk-0000.json')), { code: 'ENOENT' });
    });

    it('reports the cancellation as a cancellation (CancelledFailure), as the worker needs to record it so', async () => {
      // The worker reports an activity as cancelled only for CancelledFailure or an AbortError;
      // anything else becomes a retryable ApplicationFailure in the history.
      openai.faults.add({ endpoint: 'transcriptions', kind: 'hang' });
      const { env, run } = mockActivityEnv();
      const p = run(activities().transcribeChunk, {
        audio,
        chunk: { index: 0, start: 0, end: 3.5 },
        totalChunks: 1,
        interimDir: freshDir('cancel-kind'),
        model: 'whisper-1',
        language: null,
        previousChunk: null,
      });
      await until(() => openai.inFlight === 1, 5000, 'the request to reach the emulator');
      env.cancel();
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof CancelledFailure || (err instanceof Error && err.name === 'AbortError'), `cancel surfaced as ${(err as Error).constructor.name}: ${String(err)}`);
        return true;
      });
    });
  });
});
