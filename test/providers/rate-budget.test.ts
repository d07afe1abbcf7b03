// Rate-aware requests to pyannote.ai: one budget per key across every job of a worker keeps
// 20 concurrent diarization jobs under the service's per-key limit, and a 429 pauses the key
// instead of failing a job. The emulator enforces the limit on a sped-up clock (its minute is
// six real seconds), and the budget's window is six seconds to match.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createPyannoteDiarizer } from '../../src/providers/pyannote-diarizer';
import { createRateBudget } from '../../src/providers/rate-budget';
import { startPyannoteEmulator, type PyannoteEmulator } from '../emulators';
import { makeTone } from '../helpers/audio';
import { testTmpDir } from '../helpers/temporal';

describe('rate-aware pyannote.ai requests', function () {
  this.timeout(120_000);
  const SPEED = 10;
  const LIMIT = 30;
  let dir: string;
  let emu: PyannoteEmulator;
  let clip: string;

  before(async () => {
    dir = await testTmpDir('rate-budget-');
    clip = (await makeTone({ dir, name: 'tone', seconds: 3 })).path;
    const t0 = Date.now();
    emu = await startPyannoteEmulator({ apiKeys: ['k-budget', 'k-none'], enforceRateLimit: true, requestsPerMinute: LIMIT, clock: () => t0 + (Date.now() - t0) * SPEED });
  });
  after(async () => {
    await emu?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a budget lets requests through as the window allows, in order, and a pause holds them all', async () => {
    let t = 0;
    const b = createRateBudget(3, 1000, () => t);
    await b.acquire();
    await b.acquire();
    await b.acquire();
    assert.deepEqual(b.load, { used: 3, limit: 3 });
    let fourth = false;
    const p = b.acquire().then(() => (fourth = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fourth, false, 'waits for the window');
    t = 1001;
    await p;
    b.pause(60);
    const ac = new AbortController();
    const held = b.acquire(ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(held, /stop/);
  });

  /** One job the way the diarize activity runs it: upload, submit, poll until it ends. */
  async function oneJob(apiKey: string, requestsPerMinute: number | null, n: number): Promise<string> {
    const d = createPyannoteDiarizer({ apiKey, baseUrl: emu.url, model: 'precision-2', requestsPerMinute, rateWindowMs: 60_000 / SPEED });
    const url = await d.upload(clip, `media://budget/${apiKey}/${n}.wav`);
    const { jobId } = await d.submit(url, { numSpeakers: null, minSpeakers: null, maxSpeakers: null });
    for (;;) {
      const job = await d.poll(jobId);
      if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'canceled') return job.status;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('20 concurrent jobs on one key all finish, without a 429, under a budget below the limit', async () => {
    const before = emu.requests.length;
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => oneJob('k-budget', Math.floor(LIMIT * 0.8), i)));
    assert.deepEqual(new Set(statuses), new Set(['succeeded']));
    const mine = emu.requests.slice(before).filter((r) => r.path.startsWith('/v1/'));
    const refused = mine.filter((r) => r.status === 429).length;
    console.log(`      20 jobs: ${mine.length} API requests, ${refused} answered 429 (limit ${LIMIT} per emulated minute, budget ${Math.floor(LIMIT * 0.8)})`);
    assert.equal(refused, 0);
  });

  it('keeps the local engine (no budget) out of it', () => {
    assert.doesNotThrow(() => createPyannoteDiarizer({ apiKey: 'local-engine', baseUrl: path.join('http://127.0.0.1:1'), model: 'precision-2', requestsPerMinute: null }));
  });
});
