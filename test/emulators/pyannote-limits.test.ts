/**
 * The pyannote.ai emulator's limits and lifetimes: 1 GiB per file at the media store, 24 h
 * of audio per job, results deleted 24 h after completion on a clock tests move, the
 * per-key rate limit and its headers; and what diarize answers beside `diarization`:
 * `exclusiveDiarization` and the speaker-count warning.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYANNOTE_MAX_AUDIO_SECONDS, PYANNOTE_MAX_MEDIA_BYTES, type PyannoteEmulator, type PyannoteEmulatorOptions, type Turn, startPyannoteEmulator } from './pyannote-emulator';
import { type Recording, makeTwoSpeakerRecording, wavHeader } from '../helpers/audio';

const KEY = 'test-pyannote-key';
const DAY_MS = 24 * 3600 * 1000;

interface JobBody {
  jobId: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  output?: { diarization?: Turn[]; exclusiveDiarization?: Turn[]; warning?: string; error?: string };
}

/** A client of one emulator, as the product's is: fetch, JSON, media upload, polling. */
function clientOf(emu: PyannoteEmulator) {
  const api = (path: string, body?: unknown) =>
    fetch(`${emu.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const presign = async (key: string) => {
    const res = await api('/v1/media/input', { url: `media://${key}` });
    assert.equal(res.status, 201);
    return ((await res.json()) as { url: string }).url;
  };
  const upload = async (key: string, bytes: Buffer) => {
    const put = await fetch(await presign(key), { method: 'PUT', body: bytes });
    assert.equal(put.status, 200, await put.text());
    return `media://${key}`;
  };
  const start = async (path: string, body: unknown) => {
    const res = await api(path, body);
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  };
  const poll = async (jobId: string): Promise<JobBody> => {
    for (let i = 0; i < 400; i++) {
      const job = (await (await api(`/v1/jobs/${jobId}`)).json()) as JobBody;
      if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('job did not finish');
  };
  return { api, presign, upload, start, poll };
}

/** Sends `total` bytes of zeros with node:http (no buffer of that size), as a client streaming a file would. */
function putZeros(url: string, total: number, headers: Record<string, string> = { 'content-length': String(total) }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 20);
    const q = request(url, { method: 'PUT', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    q.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!q.write(chunk.subarray(0, n))) return void q.once('drain', pump);
      }
      q.end();
    };
    pump();
  });
}

/** Mono 16 kHz WAV of sine "voices": [startSeconds, endSeconds, Hz] each, silence between. */
function toneWav(parts: [number, number, number][], seconds: number): Buffer {
  const rate = 16000;
  const data = Buffer.alloc(Math.round(seconds * rate) * 2);
  for (const [start, end, hz] of parts) {
    for (let i = Math.round(start * rate); i < Math.round(end * rate); i++) data.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  }
  return Buffer.concat([wavHeader(rate, 1, data.length), data]);
}

describe('pyannote.ai emulator limits and lifetimes', function () {
  let dir: string;
  let rec: Recording;
  let wav: Buffer;
  const started: PyannoteEmulator[] = [];
  const emulator = async (opts: PyannoteEmulatorOptions = {}) => {
    const emu = await startPyannoteEmulator(opts);
    started.push(emu);
    return emu;
  };

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'pyannote-limits-test-'));
    rec = await makeTwoSpeakerRecording({ dir });
    wav = await fsp.readFile(rec.path);
  });
  after(async function () {
    await Promise.all(started.map((e) => e.close()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  describe('per-file limits', function () {
    it('refuses a media PUT over maxMediaBytes with S3 EntityTooLarge, declared or chunked, and keeps nothing', async function () {
      const emu = await emulator({ maxMediaBytes: 4096 });
      const c = clientOf(emu);
      assert.equal((await fetch(await c.presign('fits.bin'), { method: 'PUT', body: Buffer.alloc(4096) })).status, 200);

      const declared = await fetch(await c.presign('declared.wav'), { method: 'PUT', body: Buffer.alloc(4097) });
      assert.equal(declared.status, 400);
      assert.equal(declared.headers.get('content-type'), 'application/xml');
      const xml = await declared.text();
      assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<Error><Code>EntityTooLarge<\/Code><Message>Your proposed upload exceeds the maximum allowed size<\/Message>/);
      assert.match(xml, /<ProposedSize>4097<\/ProposedSize><MaxSizeAllowed>4096<\/MaxSizeAllowed><RequestId>[^<]+<\/RequestId><\/Error>$/);

      // No Content-Length: the size is only known while reading, and still refused.
      const chunked = await putZeros(await c.presign('chunked.wav'), 10_000, { 'transfer-encoding': 'chunked' });
      assert.equal(chunked.status, 400);
      assert.match(chunked.body, /<Code>EntityTooLarge<\/Code>.*<ProposedSize>10000<\/ProposedSize>/);

      assert.deepEqual([...emu.media.keys()], ['fits.bin']);
      assert.deepEqual(
        emu.requests.filter((r) => r.path.startsWith('/storage/')).map((r) => [r.status, r.bytes]),
        [
          [200, 4096],
          [400, 4097],
          [400, 10_000],
        ],
      );
      const job = await c.api('/v1/diarize', { url: 'media://declared.wav' });
      assert.equal(job.status, 400);
      assert.match(JSON.stringify(await job.json()), /No media found for media:\/\/declared\.wav/);
    });

    it('takes 1 GiB by default and refuses one byte more', async function () {
      assert.equal(PYANNOTE_MAX_MEDIA_BYTES, 1_073_741_824);
      const emu = await emulator();
      const res = await putZeros(await clientOf(emu).presign('huge.wav'), PYANNOTE_MAX_MEDIA_BYTES + 1);
      assert.equal(res.status, 400);
      assert.match(res.body, /<Code>EntityTooLarge<\/Code>.*<MaxSizeAllowed>1073741824<\/MaxSizeAllowed>/);
      assert.equal(emu.media.size, 0);
    });

    it('fails diarize and identify jobs on audio over maxAudioSeconds, saying the limit', async function () {
      assert.equal(PYANNOTE_MAX_AUDIO_SECONDS, 86_400);
      assert.ok(rec.duration > 3);
      const emu = await emulator({ maxAudioSeconds: 3 });
      const c = clientOf(emu);
      const url = await c.upload('long.wav', wav);
      const diarized = await c.poll(await c.start('/v1/diarize', { url }));
      assert.deepEqual(
        { status: diarized.status, output: diarized.output },
        { status: 'failed', output: { error: `Audio duration (${rec.duration.toFixed(1)} s) exceeds the maximum of 3 seconds of audio per file.` } },
      );

      // A voiceprint to identify with, from a clip under the limit (voiceprints have their own 30 s).
      const clip = toneWav([[0.2, 2.3, 140]], 2.5);
      const vp = await c.poll(await c.start('/v1/voiceprint', { url: await c.upload('clip.wav', clip) }));
      assert.equal(vp.status, 'succeeded');
      const voiceprint = (vp.output as { voiceprint: string }).voiceprint;
      const identified = await c.poll(await c.start('/v1/identify', { url, voiceprints: [{ label: 'Alice', voiceprint }] }));
      assert.equal(identified.status, 'failed');
      assert.match(identified.output!.error!, /exceeds the maximum of 3 seconds/);

      const roomy = clientOf(await emulator({ maxAudioSeconds: 7200 }));
      assert.equal((await roomy.poll(await roomy.start('/v1/diarize', { url: await roomy.upload('ok.wav', wav) }))).status, 'succeeded');
    });
  });

  describe('the emulator clock', function () {
    it('deletes results 24 h after completion: GET answers 404 like an unknown job', async function () {
      const emu = await emulator();
      const c = clientOf(emu);
      const jobId = await c.start('/v1/diarize', { url: await c.upload('clock.wav', wav) });
      const done = await c.poll(jobId);
      assert.equal(done.status, 'succeeded');
      assert.equal(emu.jobs.get(jobId)!.completedAt, done.updatedAt);

      emu.advanceClock(DAY_MS - 1000);
      const still = (await (await c.api(`/v1/jobs/${jobId}`)).json()) as JobBody;
      assert.deepEqual(still, done);

      emu.advanceClock(1000);
      const gone = await c.api(`/v1/jobs/${jobId}`);
      assert.equal(gone.status, 404);
      const body = (await gone.json()) as { message: string; requestId: string };
      const unknown = await c.api('/v1/jobs/00000000-0000-4000-8000-000000000000');
      assert.equal(unknown.status, 404);
      const unknownBody = (await unknown.json()) as { message: string; requestId: string };
      assert.deepEqual(Object.keys(body).sort(), Object.keys(unknownBody).sort());
      assert.equal(body.message, `Job ${jobId} not found`);
      assert.equal(body.requestId, gone.headers.get('x-request-id'));
    });

    it("answers a succeeded job without output once deleted, with expiredResults: 'no-output'", async function () {
      const emu = await emulator({ expiredResults: 'no-output', resultsTtlSeconds: 60 });
      const c = clientOf(emu);
      const jobId = await c.start('/v1/diarize', { url: await c.upload('no-output.wav', wav) });
      const done = await c.poll(jobId);
      assert.ok(done.output?.diarization);
      emu.advanceClock(60_000);
      const res = await c.api(`/v1/jobs/${jobId}`);
      assert.equal(res.status, 200);
      const { output: _was, ...rest } = done;
      assert.deepEqual(await res.json(), rest);
    });

    it('takes an injected clock, moves on through the admin API, expires media and presigned URLs, and resets', async function () {
      let wall = Date.parse('2030-01-01T00:00:00.000Z');
      const emu = await emulator({ clock: () => wall });
      const c = clientOf(emu);
      const putUrl = await c.presign('media-ttl.wav');
      assert.equal((await fetch(putUrl, { method: 'PUT', body: wav })).status, 200);
      const jobId = await c.start('/v1/diarize', { url: 'media://media-ttl.wav' });
      const done = await c.poll(jobId);
      assert.equal(done.createdAt, '2030-01-01T00:00:00.000Z');
      assert.equal(emu.media.get('media-ttl.wav')!.uploadedAt, '2030-01-01T00:00:00.000Z');

      wall += 3_600_000;
      const admin = await fetch(`${emu.url}/__emulator/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 1000 }) });
      assert.deepEqual(await admin.json(), { now: '2030-01-01T01:00:01.000Z' });
      assert.equal(emu.now(), Date.parse('2030-01-01T01:00:01.000Z'));
      // The presigned URL lived an hour.
      const late = await fetch(putUrl, { method: 'PUT', body: wav });
      assert.equal(late.status, 403);
      assert.match(await late.text(), /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);

      // Uploaded media is gone after 24 h (the earliest the contract allows): a new job cannot use it.
      emu.advanceClock(DAY_MS);
      const reuse = await c.api('/v1/diarize', { url: 'media://media-ttl.wav' });
      assert.equal(reuse.status, 400);
      assert.equal(emu.media.size, 0);
      assert.equal((await c.api(`/v1/jobs/${jobId}`)).status, 404);

      emu.reset();
      assert.equal(emu.now(), wall);
      assert.deepEqual(await (await fetch(`${emu.url}/__emulator/clock`)).json(), { now: '2030-01-01T01:00:00.000Z' });
      assert.equal((await fetch(`${emu.url}/__emulator/clock`, { method: 'POST', body: '{"advanceMs":"soon"}' })).status, 400);
    });
  });

  describe('rate limit', function () {
    it('answers 429 past requestsPerMinute with Retry-After and X-RateLimit-* headers, and lets a client through after Retry-After', async function () {
      const emu = await emulator({ enforceRateLimit: true, requestsPerMinute: 10 });
      const c = clientOf(emu);
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await c.api('/v1/test'));
      assert.deepEqual(
        answers.map((r) => r.status),
        [...Array(10).fill(200), ...Array(10).fill(429)],
      );
      assert.deepEqual(
        answers.slice(0, 10).map((r) => r.headers.get('x-ratelimit-remaining')),
        ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'],
      );
      const nowSeconds = emu.now() / 1000;
      for (const r of answers.slice(10)) {
        assert.equal(r.headers.get('x-ratelimit-limit'), '10');
        assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
        const retryAfter = Number(r.headers.get('retry-after'));
        assert.ok(Number.isInteger(retryAfter) && retryAfter >= 59 && retryAfter <= 60, `Retry-After ${retryAfter}`);
        const reset = Number(r.headers.get('x-ratelimit-reset'));
        assert.ok(Number.isInteger(reset) && reset > nowSeconds + 58 && reset <= Math.ceil(nowSeconds) + 60, `X-RateLimit-Reset ${reset} at ${nowSeconds}`);
        const body = (await r.json()) as { requestId: string; message: string };
        assert.equal(body.message, 'Too many requests');
        assert.equal(body.requestId, r.headers.get('x-request-id'));
      }
      // Half a minute on the window is still full, and refused requests do not count in it:
      // waiting what Retry-After says then is enough.
      emu.advanceClock(30_000);
      const later = await c.api('/v1/test');
      assert.equal(later.status, 429);
      assert.equal(later.headers.get('retry-after'), '30');
      emu.advanceClock(30_000);
      const again = await c.api('/v1/test');
      assert.equal(again.status, 200);
      assert.equal(again.headers.get('x-ratelimit-remaining'), '9');
    });
  });

  describe('diarize output', function () {
    // Two sine "voices" an octave apart: A, a short B, then A again.
    const turns: [number, number, number][] = [
      [0.2, 2.2, 140],
      [2.55, 2.95, 280],
      [3.3, 5.3, 140],
    ];

    it('returns exclusiveDiarization beside diarization when asked: the same voices, never overlapping', async function () {
      // Merging A's two turns across B's short one (gap 1.1 s < 1.5 s) makes diarization overlap.
      const emu = await emulator({ mergeGapSeconds: 1.5 });
      const c = clientOf(emu);
      const url = await c.upload('overlap.wav', toneWav(turns, 6));
      const job = await c.poll(await c.start('/v1/diarize', { url, exclusive: true }));
      assert.equal(job.status, 'succeeded');
      const { diarization, exclusiveDiarization, warning } = job.output!;
      assert.equal(warning, undefined);
      assert.deepEqual(
        diarization!.map((t) => t.speaker),
        ['SPEAKER_00', 'SPEAKER_01'],
      );
      const [a, b] = diarization!;
      assert.ok(a!.start < b!.start && b!.end < a!.end, `A's merged turn overlaps B's: ${JSON.stringify(diarization)}`);

      assert.deepEqual(
        exclusiveDiarization!.map((t) => t.speaker),
        ['SPEAKER_00', 'SPEAKER_01', 'SPEAKER_00'],
      );
      exclusiveDiarization!.forEach((t, i) => {
        assert.ok(Math.abs(t.start - turns[i]![0]) < 0.06 && Math.abs(t.end - turns[i]![1]) < 0.06, `exclusive turn ${i}: ${JSON.stringify(t)}`);
        if (i > 0) assert.ok(t.start >= exclusiveDiarization![i - 1]!.end);
      });

      const plain = await c.poll(await c.start('/v1/diarize', { url }));
      assert.equal(plain.output!.exclusiveDiarization, undefined);
    });

    it('warns when the speaker count asked for cannot be reached, as pyannote.audio does, and honours fewer silently', async function () {
      const emu = await emulator();
      const c = clientOf(emu);
      const url = await c.upload('count.wav', toneWav(turns, 6));
      const speakers = (j: JobBody) => [...new Set(j.output!.diarization!.map((t) => t.speaker))];

      // Three stretches of speech cannot make five speakers.
      const five = await c.poll(await c.start('/v1/diarize', { url, numSpeakers: 5, exclusive: true }));
      assert.equal(five.status, 'succeeded');
      assert.equal(speakers(five).length, 3);
      assert.equal(
        five.output!.warning,
        'The detected number of speakers (3) is outside the given bounds [5, 5]. This can happen if the given audio file is too short to contain 5 or more speakers. Try to lower the desired minimal number of speakers.',
      );
      assert.ok(five.output!.exclusiveDiarization);
      const atLeast = await c.poll(await c.start('/v1/diarize', { url, minSpeakers: 4 }));
      assert.match(atLeast.output!.warning!, /^The detected number of speakers \(3\) is outside the given bounds \[4, inf\]\./);

      // One speaker asked for when there are two: the clustering is forced to one, no warning.
      const one = await c.poll(await c.start('/v1/diarize', { url, numSpeakers: 1 }));
      assert.deepEqual(speakers(one), ['SPEAKER_00']);
      assert.equal(one.output!.warning, undefined);
      const two = await c.poll(await c.start('/v1/diarize', { url, numSpeakers: 2 }));
      assert.deepEqual(speakers(two), ['SPEAKER_00', 'SPEAKER_01']);
      assert.equal(two.output!.warning, undefined);
      // No speech at all: an empty diarization and no warning.
      const silent = await c.poll(await c.start('/v1/diarize', { url: await c.upload('silent.wav', toneWav([], 3)), numSpeakers: 2 }));
      assert.deepEqual(silent.output, { diarization: [] });
    });
  });
});
