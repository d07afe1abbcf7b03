// A server outage longer than the Temporal client's own retries (about 20 s), which
// `speech run --no-worker` must wait through (src/client/follow.ts, resultThroughOutages).
// The chaos drill's quick restart of the server (`npm run drill:chaos`) does not cover it.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startDevServer, stopDevServer } from '../../src/client/dev-server';
import { startEmulators, type Emulators } from '../emulators';
import { DEFAULT_TURNS, makeTwoSpeakerRecording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

describe('speech run --no-worker through a long server outage', function () {
  this.timeout(180_000);
  let dir: string;
  let server: TestServer;
  let emus: Emulators;
  let worker: WorkerProcess | null = null;

  before(async function () {
    dir = await testTmpDir('speech-outage-');
    // Each transcription takes 15 s, so the run is under way for the whole outage.
    [server, emus] = await Promise.all([startTestServer(), startEmulators({ openai: { latency: { fixedMs: 15_000 } } })]);
  });

  after(async function () {
    await worker?.kill();
    await emus?.close();
    await stopDevServer(server.dataDir);
    await rm(server.dataDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps waiting while the server is away longer than the client retries (30 s), then reports the completed run', async function () {
    const rec = await makeTwoSpeakerRecording({ dir, name: 'outage', turns: [...DEFAULT_TURNS] });
    const env = pipelineEnv(server, emus);
    worker = await startWorkerProcess(env);
    const run = speech(['run', rec.path, '--no-worker', '--json'], { env, timeoutMs: 150_000 });
    // Away once the run is under way: diarization submitted, a transcription request open.
    const deadline = Date.now() + 30_000;
    while (emus.pyannote.jobs.size === 0 || emus.openai.inFlight === 0) {
      assert.ok(Date.now() < deadline, 'the run did not reach transcription');
      await new Promise((r) => setTimeout(r, 100));
    }
    await server.stop({ keepData: true });
    await new Promise((r) => setTimeout(r, 30_000));
    await startDevServer({ dataDir: server.dataDir, address: server.address, namespace: 'default', headless: true });
    const r = await run;
    assert.equal(r.code, 0, `speech run gave up during the outage:\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { runs: { status: string; outputs: string[] }[] };
    assert.equal(out.runs[0]!.status, 'completed');
    assert.ok(out.runs[0]!.outputs.length > 0);
  });
});
