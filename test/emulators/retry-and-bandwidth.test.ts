/**
 * What both emulators share: injected 429/5xx answers carrying `retry-after-ms` and
 * `x-should-retry` (the headers the `openai` package obeys, proven with the package itself),
 * and the upload link model that reads request bodies no faster than a given bandwidth.
 */
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { createBandwidth } from './bandwidth';
import { parseFaultSpec } from './faults';
import { startEmulators } from './index';
import { type OpenAIEmulator, type OpenAIEmulatorOptions, startOpenAIEmulator } from './openai-emulator';
import { type PyannoteEmulator, type PyannoteEmulatorOptions, startPyannoteEmulator } from './pyannote-emulator';
import { wavHeader } from '../helpers/audio';

const OPENAI_KEY = 'test-openai-key';
const PYANNOTE_KEY = 'test-pyannote-key';

/** A WAV of exactly `bytes` bytes: 16 kHz mono, a 200 Hz tone. */
function wavOf(bytes: number): Buffer {
  const data = Buffer.alloc(bytes - 44);
  for (let i = 0; i < data.length / 2; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 200 * i) / 16000)), i * 2);
  return Buffer.concat([wavHeader(16000, 1, data.length), data]);
}

const secondsSince = (t0: number) => (performance.now() - t0) / 1000;

describe('retry headers and the upload link', function () {
  const closers: (() => Promise<void>)[] = [];
  const openai = async (opts: OpenAIEmulatorOptions = {}): Promise<OpenAIEmulator> => {
    const e = await startOpenAIEmulator(opts);
    closers.push(() => e.close());
    return e;
  };
  const pyannote = async (opts: PyannoteEmulatorOptions = {}): Promise<PyannoteEmulator> => {
    const e = await startPyannoteEmulator(opts);
    closers.push(() => e.close());
    return e;
  };
  after(async function () {
    await Promise.all(closers.map((close) => close()));
  });

  const transcribe = async (client: OpenAI, wav: Buffer) => client.audio.transcriptions.create({ file: await toFile(wav, 'speech.wav'), model: 'whisper-1' });

  /** Presigns and PUTs `body` to a pyannote emulator; resolves to the PUT's status. */
  async function putMedia(emu: PyannoteEmulator, key: string, body: Buffer): Promise<number> {
    const res = await fetch(`${emu.url}/v1/media/input`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PYANNOTE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `media://${key}` }),
    });
    const { url } = (await res.json()) as { url: string };
    return (await fetch(url, { method: 'PUT', body })).status;
  }

  describe('retry-after-ms and x-should-retry on injected faults', function () {
    const wav = wavOf(64_000);

    it('parses them in rules and CLI specs, old forms unchanged', function () {
      assert.deepEqual(parseFaultSpec('transcriptions:429:1:retryAfterMs=1500:shouldRetry=false'), {
        endpoint: 'transcriptions',
        kind: 'status',
        status: 429,
        times: 1,
        retryAfterMs: 1500,
        shouldRetry: false,
      });
      assert.deepEqual(parseFaultSpec('jobs:503:-1:2:shouldRetry=true'), { endpoint: 'jobs', kind: 'status', status: 503, times: -1, retryAfterSeconds: 2, shouldRetry: true });
      assert.deepEqual(parseFaultSpec('transcriptions:429:2:3'), { endpoint: 'transcriptions', kind: 'status', status: 429, times: 2, retryAfterSeconds: 3 });
      assert.throws(() => parseFaultSpec('jobs:503:1:shouldRetry=maybe'), /shouldRetry/);
      assert.throws(() => parseFaultSpec('jobs:503:1:retryAfter=2'), /unknown field "retryAfter"/);
      assert.throws(() => parseFaultSpec('jobs:hang:1:retryAfterMs=5'), /status faults only/);
    });

    it('OpenAI: the openai package waits retry-after-ms before its retry, and obeys x-should-retry', async function () {
      const emu = await openai();
      const client = new OpenAI({ apiKey: OPENAI_KEY, baseURL: emu.url, maxRetries: 1 });

      // 1.2 s, well clear of the package's own first backoff (0.375–0.5 s).
      emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, retryAfterMs: 1200 });
      const t0 = performance.now();
      await transcribe(client, wav);
      const waited = secondsSince(t0);
      assert.ok(waited >= 1.2 && waited < 2.5, `waited ${waited} s`);
      assert.deepEqual(
        emu.requests.map((r) => r.status),
        [429, 200],
      );

      emu.reset();
      emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 503, shouldRetry: false, times: -1 });
      await assert.rejects(transcribe(new OpenAI({ apiKey: OPENAI_KEY, baseURL: emu.url, maxRetries: 2 }), wav), OpenAI.InternalServerError);
      assert.equal(emu.requests.length, 1, 'x-should-retry: false stops the retries a 503 would get');

      // Posted as JSON through the admin API, and on the wire as sent.
      emu.reset();
      const admin = await fetch(`${emu.origin}/__emulator/faults`, {
        method: 'POST',
        body: JSON.stringify({ endpoint: 'transcriptions', kind: 'status', status: 400, shouldRetry: true, retryAfterMs: 50, retryAfterSeconds: 1 }),
      });
      assert.equal(admin.status, 201);
      await transcribe(client, wav);
      assert.deepEqual(
        emu.requests.map((r) => r.status),
        [400, 200],
        'x-should-retry: true makes even a 400 retried',
      );
      emu.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, retryAfterMs: 250.5, shouldRetry: false });
      const raw = await fetch(`${emu.url}/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${OPENAI_KEY}` }, body: 'x' });
      assert.equal(raw.status, 429);
      assert.equal(raw.headers.get('retry-after-ms'), '250.5');
      assert.equal(raw.headers.get('x-should-retry'), 'false');
      assert.equal(raw.headers.get('retry-after'), null);
    });

    it('pyannote: on 429 and 5xx, with Retry-After in whole seconds beside them', async function () {
      const emu = await pyannote();
      const get = () => fetch(`${emu.url}/v1/test`, { headers: { authorization: `Bearer ${PYANNOTE_KEY}` } });
      emu.faults.add({ endpoint: 'test', kind: 'status', status: 429, retryAfterMs: 1500, shouldRetry: false });
      emu.faults.add({ endpoint: 'test', kind: 'status', status: 503, shouldRetry: true, afterRequests: 1 });
      const limited = await get();
      assert.equal(limited.status, 429);
      assert.deepEqual(
        ['retry-after', 'retry-after-ms', 'x-should-retry', 'x-ratelimit-remaining'].map((h) => limited.headers.get(h)),
        ['2', '1500', 'false', '0'],
      );
      assert.ok(Number(limited.headers.get('x-ratelimit-reset')) >= Math.floor(emu.now() / 1000) + 1);
      const down = await get();
      assert.equal(down.status, 503);
      assert.deepEqual(
        ['retry-after', 'retry-after-ms', 'x-should-retry'].map((h) => down.headers.get(h)),
        [null, null, 'true'],
      );
      assert.equal((await get()).status, 200);
    });
  });

  describe('upload bandwidth', function () {
    const megabyte = wavOf(1_000_000);

    it('books a link in arrival order, without banking idle time', function () {
      const link = createBandwidth(1000);
      assert.equal(link.reserve(500, 0), 500);
      assert.equal(link.reserve(500, 0), 1000);
      assert.equal(link.reserve(100, 5000), 100);
      assert.throws(() => createBandwidth(0), /positive/);
    });

    it('OpenAI: a 1 MB upload at 1 MB/s takes about a second; unlimited by default', async function () {
      const slow = await openai({ uploadBandwidth: 1_000_000 });
      const fast = await openai();
      const t0 = performance.now();
      await transcribe(new OpenAI({ apiKey: OPENAI_KEY, baseURL: slow.url, maxRetries: 0 }), megabyte);
      const took = secondsSince(t0);
      assert.ok(took >= 0.95 && took < 1.6, `1 MB at 1 MB/s took ${took} s`);
      assert.ok(slow.requests[0]!.bytes > 1_000_000);

      const t1 = performance.now();
      await transcribe(new OpenAI({ apiKey: OPENAI_KEY, baseURL: fast.url, maxRetries: 0 }), megabyte);
      assert.ok(secondsSince(t1) < 0.5, `unlimited took ${secondsSince(t1)} s`);
    });

    it('pyannote: a 1 MB media PUT at 1 MB/s takes about a second', async function () {
      const emu = await pyannote({ uploadBandwidth: createBandwidth(1_000_000) });
      const t0 = performance.now();
      assert.equal(await putMedia(emu, 'slow.wav', megabyte), 200);
      const took = secondsSince(t0);
      assert.ok(took >= 0.95 && took < 1.6, `1 MB at 1 MB/s took ${took} s`);
      assert.equal(emu.media.get('slow.wav')!.bytes, 1_000_000);
    });

    it('one link shared by both emulators: two 1 MB uploads at once take about two seconds', async function () {
      const emus = await startEmulators({ uploadBytesPerSecond: 1_000_000 });
      closers.push(() => emus.close());
      const client = new OpenAI({ apiKey: emus.env.OPENAI_API_KEY, baseURL: emus.env.OPENAI_BASE_URL, maxRetries: 0 });
      const t0 = performance.now();
      const finished: number[] = [];
      await Promise.all([
        transcribe(client, megabyte).then(() => finished.push(secondsSince(t0))),
        putMedia(emus.pyannote, 'shared.wav', megabyte).then((status) => {
          assert.equal(status, 200);
          finished.push(secondsSince(t0));
        }),
      ]);
      // Interleaved on the link: both finish near the end, not one after a second and one after two.
      for (const t of finished) assert.ok(t >= 1.7 && t < 3, `finished at ${finished.join(', ')} s`);
    });
  });
});
