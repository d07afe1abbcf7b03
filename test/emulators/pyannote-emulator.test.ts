/**
 * The pyannote.ai emulator driven with plain fetch, as the SDK does: media upload,
 * job lifecycle, diarization of espeak-ng speech, validation, faults.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PyannoteEmulator, type Turn, startPyannoteEmulator } from './pyannote-emulator';
import { type Recording, makeTwoSpeakerRecording } from '../helpers/audio';

const KEY = 'test-pyannote-key';

interface JobBody {
  jobId: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  output?: { diarization?: Turn[]; exclusiveDiarization?: Turn[]; error?: string };
}

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
});
