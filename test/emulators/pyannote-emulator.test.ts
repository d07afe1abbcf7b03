/**
 * The pyannote.ai emulator driven with plain fetch, as the SDK does: media upload,
 * job lifecycle, diarization of espeak-ng speech, voiceprints and identification,
 * validation, faults.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PyannoteEmulator, type Turn, startPyannoteEmulator } from './pyannote-emulator';
import { type Recording, makeTone, makeTwoSpeakerRecording, readWav, run, wavHeader } from '../helpers/audio';

const KEY = 'test-pyannote-key';

interface JobBody {
  jobId: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  output?: {
    diarization?: Turn[];
    exclusiveDiarization?: Turn[];
    voiceprint?: string;
    identification?: (Turn & { diarizationSpeaker: string; match: string | null })[];
    voiceprints?: { speaker: string; match: string | null; confidence: Record<string, number> }[];
    error?: string;
  };
}

interface FieldErrors {
  message: string;
  errors: { field: string; message: string }[];
}

/** Enrolment sentences: none of them is spoken in the recordings identified. */
const ENROL_A = 'The weather was pleasant yesterday, so we walked along the river and watched the boats.';
const ENROL_B = 'My favourite book tells the story of a lighthouse keeper who writes letters to sailors.';
/** A third voice, half an octave above A and an octave below B: enrolled by nobody. */
const VOICE_C = ['-v', 'en+m3', '-p', '70'];

describe('pyannote.ai emulator', function () {
  let dir: string;
  let rec: Recording;
  let emu: PyannoteEmulator;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'pyannote-emu-test-'));
    rec = await makeTwoSpeakerRecording({ dir });
    emu = await startPyannoteEmulator();
  });
  beforeEach(() => emu.reset());
  after(async function () {
    await emu?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const api = (path: string, init: { method?: string; body?: unknown; key?: string; signal?: AbortSignal } = {}) =>
    fetch(`${emu.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.key ?? KEY}`, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      ...(init.signal ? { signal: init.signal } : {}),
    });

  async function upload(key: string, bytes: Buffer): Promise<string> {
    const res = await api('/v1/media/input', { body: { url: `media://${key}` } });
    assert.equal(res.status, 201);
    const { url } = (await res.json()) as { url: string };
    const put = await fetch(url, { method: 'PUT', body: bytes });
    assert.equal(put.status, 200);
    return `media://${key}`;
  }

  async function pollJob(jobId: string, seen: string[] = []): Promise<JobBody> {
    for (let i = 0; i < 400; i++) {
      const res = await api(`/v1/jobs/${jobId}`);
      assert.equal(res.status, 200);
      const job = (await res.json()) as JobBody;
      if (seen.at(-1) !== job.status) seen.push(job.status);
      if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  }

  it('runs the full lifecycle and diarizes the two voices at the constructed times', async function () {
    const test = await api('/v1/test');
    assert.equal(test.status, 200);
    assert.ok(test.headers.get('x-ratelimit-limit'));
    assert.ok(test.headers.get('x-ratelimit-remaining'));

    const url = await upload('meetings/two-speakers.wav', await fsp.readFile(rec.path));
    const start = await api('/v1/diarize', { body: { url, exclusive: true, numSpeakers: null } });
    assert.equal(start.status, 200);
    const created = (await start.json()) as { jobId: string; status: string };
    assert.match(created.jobId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(created.status, 'created');

    const seen: string[] = [];
    const job = await pollJob(created.jobId, seen);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(seen.filter((s) => s !== 'created' && s !== 'running'), ['succeeded']);
    const turns = job.output!.diarization!;
    assert.equal(new Set(turns.map((t) => t.speaker)).size, 2);
    assert.equal(turns.length, rec.turns.length);

    const labelFor = new Map<string, string>();
    rec.turns.forEach((truth, i) => {
      const got = turns[i]!;
      assert.ok(Math.abs(got.start - truth.start) < 0.15, `turn ${i} start ${got.start} vs ${truth.start}`);
      assert.ok(Math.abs(got.end - truth.end) < 0.15, `turn ${i} end ${got.end} vs ${truth.end}`);
      const known = labelFor.get(truth.speaker);
      if (known) assert.equal(got.speaker, known, `speaker ${truth.speaker} labelled inconsistently`);
      else labelFor.set(truth.speaker, got.speaker);
    });
    assert.notEqual(labelFor.get('A'), labelFor.get('B'));
    assert.equal(labelFor.get('A'), 'SPEAKER_00');

    const exclusive = job.output!.exclusiveDiarization!;
    for (let i = 1; i < exclusive.length; i++) assert.ok(exclusive[i]!.start >= exclusive[i - 1]!.end);
    assert.equal(emu.jobs.get(created.jobId)!.numSpeakers, 2);
    assert.ok(Math.abs(emu.jobs.get(created.jobId)!.audioSeconds! - rec.duration) < 0.01);
  });

  it('follows speaker-count hints', async function () {
    const url = await upload('hint.wav', await fsp.readFile(rec.path));
    const res = await api('/v1/diarize', { body: { url, numSpeakers: 1, model: 'community-1' } });
    const job = await pollJob(((await res.json()) as { jobId: string }).jobId);
    assert.deepEqual([...new Set(job.output!.diarization!.map((t) => t.speaker))], ['SPEAKER_00']);
    assert.equal(job.output!.exclusiveDiarization, undefined);
  });

  it('validates the diarize body with field errors', async function () {
    const url = await upload('v.wav', await fsp.readFile(rec.path));
    const both = await api('/v1/diarize', { body: { url, numSpeakers: 2, minSpeakers: 1 } });
    assert.equal(both.status, 400);
    const body = (await both.json()) as { message: string; errors: { field: string; message: string }[] };
    assert.equal(typeof body.message, 'string');
    assert.ok(body.errors.some((e) => e.field === 'numSpeakers'));

    const missing = (await (await api('/v1/diarize', { body: { model: 'precision-9' } })).json()) as { errors: { field: string }[] };
    assert.deepEqual(missing.errors.map((e) => e.field).sort(), ['model', 'url']);

    const notUploaded = await api('/v1/diarize', { body: { url: 'media://never-uploaded' } });
    assert.equal(notUploaded.status, 400);
    const badKey = await api('/v1/media/input', { body: { url: 'media://has spaces' } });
    assert.equal(badKey.status, 400);
  });

  it('answers 404 for unknown jobs and 401 for bad keys', async function () {
    assert.equal((await api('/v1/jobs/00000000-0000-4000-8000-000000000000')).status, 404);
    assert.equal((await api('/v1/test', { key: 'wrong' })).status, 401);
    assert.equal((await api('/v1/diarize', { key: 'wrong', body: { url: 'media://x' } })).status, 401);
  });

  it('refuses uploads with a tampered signature', async function () {
    const { url } = (await (await api('/v1/media/input', { body: { url: 'media://signed' } })).json()) as { url: string };
    const tampered = url.replace(/signature=[0-9a-f]/, (m) => (m.endsWith('0') ? m.slice(0, -1) + '1' : m.slice(0, -1) + '0'));
    assert.equal((await fetch(tampered, { method: 'PUT', body: 'x' })).status, 403);
  });

  it('fails the job when the audio cannot be decoded', async function () {
    const url = await upload('corrupt.mp3', Buffer.alloc(3000, 9));
    const { jobId } = (await (await api('/v1/diarize', { body: { url } })).json()) as { jobId: string };
    const job = await pollJob(jobId);
    assert.deepEqual({ status: job.status, output: job.output }, { status: 'failed', output: { error: 'An error occurred while processing the audio.' } });
  });

  it('keeps jobs running for the modelled processing time', async function () {
    const slow = await startPyannoteEmulator({ latency: { fixedMs: 300 } });
    try {
      const base = slow.url;
      const h = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
      const { url } = (await (await fetch(`${base}/v1/media/input`, { method: 'POST', headers: h, body: JSON.stringify({ url: 'media://slow' }) })).json()) as { url: string };
      await fetch(url, { method: 'PUT', body: await fsp.readFile(rec.path) });
      const t0 = Date.now();
      const { jobId } = (await (await fetch(`${base}/v1/diarize`, { method: 'POST', headers: h, body: JSON.stringify({ url: 'media://slow' }) })).json()) as { jobId: string };
      await new Promise((r) => setTimeout(r, 150));
      const mid = (await (await fetch(`${base}/v1/jobs/${jobId}`, { headers: h })).json()) as JobBody;
      assert.equal(mid.status, 'running');
      for (;;) {
        const j = (await (await fetch(`${base}/v1/jobs/${jobId}`, { headers: h })).json()) as JobBody;
        if (j.status === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(Date.now() - t0 >= 300);
    } finally {
      await slow.close();
    }
  });

  it('injects 429 with Retry-After and X-RateLimit-Reset, and job failures', async function () {
    emu.faults.add({ endpoint: 'jobs', kind: 'status', status: 429, retryAfterSeconds: 5 });
    const res = await api('/v1/jobs/whatever');
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.ok(Number(res.headers.get('x-ratelimit-reset')) >= Math.floor(Date.now() / 1000) + 4);
    const body = (await res.json()) as { requestId: string; message: string };
    assert.ok(body.requestId && body.message);

    const url = await upload('to-fail.wav', await fsp.readFile(rec.path));
    emu.faults.add({ endpoint: 'diarize', kind: 'fail-job' });
    const { jobId } = (await (await api('/v1/diarize', { body: { url } })).json()) as { jobId: string };
    assert.equal((await pollJob(jobId)).status, 'failed');
  });

  it('hangs until the client aborts', async function () {
    emu.faults.add({ endpoint: 'jobs', kind: 'hang', afterRequests: 1 });
    assert.equal((await api('/v1/jobs/a')).status, 404);
    const err = await api('/v1/jobs/b', { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    assert.equal((err as Error).name, 'TimeoutError');
    assert.equal((await api('/v1/jobs/c')).status, 404);
  });

  it('posts a signed webhook when the job ends, and serves the admin API', async function () {
    const received: { headers: Record<string, unknown>; body: string }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const url = await upload('hook.wav', await fsp.readFile(rec.path));
      const webhook = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const { jobId } = (await (await api('/v1/diarize', { body: { url, webhook } })).json()) as { jobId: string };
      await pollJob(jobId);
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const payload = JSON.parse(received[0]!.body) as { jobId: string; status: string; output: unknown };
      assert.equal(payload.jobId, jobId);
      assert.equal(payload.status, 'succeeded');
      assert.match(String(received[0]!.headers['x-signature']), /^[0-9a-f]{64}$/);
    } finally {
      hook.close();
    }

    const admin = `${emu.url}/__emulator`;
    assert.equal((await fetch(`${admin}/faults`, { method: 'POST', body: JSON.stringify({ endpoint: 'test', kind: 'status', status: 503 }) })).status, 201);
    assert.equal((await api('/v1/test')).status, 503);
    assert.equal((await api('/v1/test')).status, 200);
    const log = (await (await fetch(`${admin}/requests`)).json()) as { path: string; status: number }[];
    assert.deepEqual(log.slice(-2).map((r) => r.status), [503, 200]);
    const state = (await (await fetch(`${admin}/state`)).json()) as { jobs: unknown[] };
    assert.equal(state.jobs.length, 1);
  });
  describe('voiceprints and identification', function () {
    let clipA: string;
    let clipB: string;
    let withStranger: string;

    before(async function () {
      const [a, b, aOnly] = await Promise.all([
        makeTwoSpeakerRecording({ dir, name: 'enrol-a', turns: [{ speaker: 'A', text: ENROL_A }] }),
        makeTwoSpeakerRecording({ dir, name: 'enrol-b', turns: [{ speaker: 'B', text: ENROL_B }] }),
        makeTwoSpeakerRecording({ dir, name: 'a-only', turns: [{ speaker: 'A', text: 'Good morning and thank you for joining the meeting today.' }] }),
      ]);
      clipA = a.path;
      clipB = b.path;
      // A then a voice nobody enrolled, at A's sample rate.
      const raw = join(dir, 'stranger.raw.wav');
      const trimmed = join(dir, 'stranger.wav');
      await run('espeak-ng', [...VOICE_C, '-s', '150', '-g', '10', '-w', raw, 'Thanks for having me, I am happy to be here today.']);
      const pcmA = await readWav(aOnly.path);
      await run('sox', [raw, '-b', '16', '-c', '1', trimmed, 'rate', '-h', String(pcmA.sampleRate)]);
      const data = Buffer.concat([pcmA.data, Buffer.alloc(pcmA.sampleRate * 2), (await readWav(trimmed)).data, Buffer.alloc(pcmA.sampleRate)]);
      withStranger = join(dir, 'with-stranger.wav');
      await fsp.writeFile(withStranger, Buffer.concat([wavHeader(pcmA.sampleRate, 1, data.length), data]));
    });

    async function voiceprintOf(key: string, file: string): Promise<string> {
      const url = await upload(key, await fsp.readFile(file));
      const res = await api('/v1/voiceprint', { body: { url } });
      assert.equal(res.status, 200);
      const created = (await res.json()) as { jobId: string; status: string };
      assert.equal(created.status, 'created');
      const job = await pollJob(created.jobId);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.output));
      return job.output!.voiceprint!;
    }

    async function identify(url: string, body: Record<string, unknown>): Promise<JobBody> {
      const res = await api('/v1/identify', { body: { url, ...body } });
      assert.equal(res.status, 200, await res.clone().text());
      return pollJob(((await res.json()) as { jobId: string }).jobId);
    }

    it('makes an opaque voiceprint of a clip and names both enrolled voices of a conversation', async function () {
      const alice = await voiceprintOf('enrol/alice.wav', clipA);
      const bob = await voiceprintOf('enrol/bob.wav', clipB);
      assert.match(alice, /^[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(alice, 'base64').toString('latin1', 0, 4), 'EMVP');
      assert.notEqual(alice, bob);

      const url = await upload('meetings/identify.wav', await fsp.readFile(rec.path));
      const job = await identify(url, { voiceprints: [{ label: 'Alice', voiceprint: alice }, { label: 'Bob', voiceprint: bob }], matching: { threshold: 50 }, exclusive: true });
      assert.equal(job.status, 'succeeded');
      const out = job.output!;
      // The diarization keeps its labels; the names are in identification and voiceprints.
      assert.deepEqual([...new Set(out.diarization!.map((t) => t.speaker))], ['SPEAKER_00', 'SPEAKER_01']);
      assert.ok(out.exclusiveDiarization);
      const verdict = new Map(out.voiceprints!.map((v) => [v.speaker, v]));
      assert.equal(verdict.get('SPEAKER_00')!.match, 'Alice');
      assert.equal(verdict.get('SPEAKER_01')!.match, 'Bob');
      assert.ok(verdict.get('SPEAKER_00')!.confidence.Alice! >= 90, JSON.stringify(out.voiceprints));
      assert.ok(verdict.get('SPEAKER_00')!.confidence.Bob! <= 5, JSON.stringify(out.voiceprints));
      assert.ok(verdict.get('SPEAKER_01')!.confidence.Bob! >= 90, JSON.stringify(out.voiceprints));
      assert.equal(out.identification!.length, out.diarization!.length);
      out.identification!.forEach((seg, i) => {
        const turn = out.diarization![i]!;
        assert.deepEqual({ start: seg.start, end: seg.end, diarizationSpeaker: seg.diarizationSpeaker }, { start: turn.start, end: turn.end, diarizationSpeaker: turn.speaker });
        assert.equal(seg.match, turn.speaker === 'SPEAKER_00' ? 'Alice' : 'Bob');
        assert.equal(seg.speaker, seg.match);
      });
      // The truth: A's turns are Alice's.
      rec.turns.forEach((truth, i) => assert.equal(out.identification![i]!.speaker, truth.speaker === 'A' ? 'Alice' : 'Bob'));
    });

    it('leaves a voice nobody enrolled unmatched above the threshold; threshold 0 and non-exclusive matching match what they can', async function () {
      const alice = await voiceprintOf('enrol/alice-2.wav', clipA);
      const bob = await voiceprintOf('enrol/bob-2.wav', clipB);
      const url = await upload('meetings/stranger.wav', await fsp.readFile(withStranger));
      const voiceprints = [
        { label: 'Alice', voiceprint: alice },
        { label: 'Bob', voiceprint: bob },
      ];

      const strict = (await identify(url, { voiceprints, matching: { threshold: 50 } })).output!;
      assert.deepEqual(
        strict.voiceprints!.map((v) => [v.speaker, v.match]),
        [
          ['SPEAKER_00', 'Alice'],
          ['SPEAKER_01', null],
        ],
      );
      const stranger = strict.voiceprints![1]!.confidence;
      assert.ok(stranger.Alice! < 50 && stranger.Bob! < 50, JSON.stringify(stranger));
      const unmatched = strict.identification!.filter((s) => s.diarizationSpeaker === 'SPEAKER_01');
      assert.ok(unmatched.length > 0 && unmatched.every((s) => s.speaker === 'SPEAKER_01' && s.match === null));

      // pyannote's default threshold is 0: every speaker takes a voiceprint while one is left.
      const loose = (await identify(url, { voiceprints })).output!;
      assert.deepEqual(
        loose.voiceprints!.map((v) => v.match),
        ['Alice', 'Bob'],
      );
      // Exclusive by default: one voiceprint names one speaker at most; not so when asked.
      const one = [{ label: 'Alice', voiceprint: alice }];
      assert.deepEqual((await identify(url, { voiceprints: one })).output!.voiceprints!.map((v) => v.match), ['Alice', null]);
      assert.deepEqual((await identify(url, { voiceprints: one, matching: { exclusive: false } })).output!.voiceprints!.map((v) => v.match), ['Alice', 'Alice']);
    });

    it('fails a voiceprint job on a clip over 30 s or without speech', async function () {
      const long = await makeTone({ dir, seconds: 31, name: 'long-clip', amplitude: 0.3 });
      const tooLong = await pollJob(((await (await api('/v1/voiceprint', { body: { url: await upload('enrol/long.wav', await fsp.readFile(long.path)) } })).json()) as { jobId: string }).jobId);
      assert.equal(tooLong.status, 'failed');
      assert.match(tooLong.output!.error!, /at most 30 seconds/);
      const silence = await makeTone({ dir, seconds: 3, name: 'silent-clip', amplitude: 0 });
      const empty = await pollJob(((await (await api('/v1/voiceprint', { body: { url: await upload('enrol/silent.wav', await fsp.readFile(silence.path)) } })).json()) as { jobId: string }).jobId);
      assert.deepEqual({ status: empty.status, output: empty.output }, { status: 'failed', output: { error: 'An error occurred while processing the audio.' } });
    });

    it("validates voiceprint and identify bodies with pyannote's field errors", async function () {
      const fields = async (path: string, body: unknown) => {
        const res = await api(path, { body });
        assert.equal(res.status, 400);
        const b = (await res.json()) as FieldErrors;
        assert.equal(b.message, 'Validation failed');
        return b.errors.map((e) => e.field).sort();
      };
      assert.deepEqual(await fields('/v1/voiceprint', { model: 'community-1' }), ['model', 'url']);
      const url = await upload('v/identify.wav', await fsp.readFile(rec.path));
      const good = await voiceprintOf('enrol/alice-3.wav', clipA);
      assert.deepEqual(await fields('/v1/identify', { url }), ['voiceprints']);
      assert.deepEqual(await fields('/v1/identify', { url, voiceprints: [] }), ['voiceprints']);
      const many = Array.from({ length: 51 }, (_, i) => ({ label: `Voice ${i}`, voiceprint: good }));
      assert.deepEqual(await fields('/v1/identify', { url, voiceprints: many }), ['voiceprints']);
      assert.deepEqual(
        await fields('/v1/identify', {
          url,
          model: 'community-1',
          numSpeakers: 2,
          maxSpeakers: 3,
          voiceprints: [
            { label: 'SPEAKER_00', voiceprint: good },
            { label: 'Bob', voiceprint: 'aGVsbG8gd29ybGQ=' },
            { label: 'Bob', voiceprint: good },
            { label: 'x'.repeat(101), voiceprint: good },
          ],
          matching: { threshold: 101, exclusive: 'yes' },
        }),
        ['matching.exclusive', 'matching.threshold', 'model', 'numSpeakers', 'voiceprints[0].label', 'voiceprints[1].voiceprint', 'voiceprints[2].label', 'voiceprints[3].label'],
      );
      assert.equal((await api('/v1/identify', { key: 'wrong', body: { url, voiceprints: [{ label: 'A', voiceprint: good }] } })).status, 401);
      assert.equal((await api('/v1/voiceprint', { key: 'wrong', body: { url } })).status, 401);
    });

    it('shares the job lifecycle, faults and rate-limit headers with diarize', async function () {
      const url = await upload('v/faults.wav', await fsp.readFile(clipA));
      emu.faults.add({ endpoint: 'voiceprint', kind: 'status', status: 429, retryAfterSeconds: 2 });
      const limited = await api('/v1/voiceprint', { body: { url } });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '2');
      const ok = await api('/v1/voiceprint', { body: { url } });
      assert.ok(ok.headers.get('x-ratelimit-remaining'));
      assert.equal((await pollJob(((await ok.json()) as { jobId: string }).jobId)).status, 'succeeded');

      emu.faults.add({ endpoint: 'identify', kind: 'fail-job' });
      const vp = (await pollJob(((await (await api('/v1/voiceprint', { body: { url } })).json()) as { jobId: string }).jobId)).output!.voiceprint!;
      const failed = await identify(url, { voiceprints: [{ label: 'Alice', voiceprint: vp }] });
      assert.deepEqual({ status: failed.status, output: failed.output }, { status: 'failed', output: { error: 'An error occurred while processing the audio.' } });
      assert.deepEqual(
        [...emu.jobs.values()].map((j) => j.kind),
        ['voiceprint', 'voiceprint', 'identify'],
      );
    });
  });
});
