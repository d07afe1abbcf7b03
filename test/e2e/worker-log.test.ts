// What `speech worker` tells an operator: one line per run and stage event, readable or JSON.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startEmulators, type Emulators } from '../emulators';
import { DEFAULT_TURNS, makeTwoSpeakerRecording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { startWorkerProcess } from '../helpers/worker-process';

describe('speech worker logs (LOG_FORMAT)', function () {
  this.timeout(120_000);
  let dir: string;
  let server: TestServer;
  let emus: Emulators;

  before(async () => {
    dir = await testTmpDir('speech-worker-log-');
    [server, emus] = await Promise.all([startTestServer(), startEmulators()]);
  });
  after(async () => {
    await emus?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const format of ['json', 'text'] as const) {
    it(`says each stage of each run it serves on one line (${format})`, async () => {
      const env = pipelineEnv(server, emus, { LOG_FORMAT: format, LOG_LEVEL: 'info' });
      const rec = await makeTwoSpeakerRecording({ dir, name: `logged-${format}`, turns: [...DEFAULT_TURNS] });
      const worker = await startWorkerProcess(env);
      try {
        const r = await speech(['run', rec.path, '--no-worker', '--formats', 'txt', '--json'], { env, cwd: dir });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const id = (JSON.parse(r.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
        await new Promise((res) => setTimeout(res, 300));
        const lines = worker.output().trim().split('\n');
        assert.ok(!lines.some((l) => /No Nexus services/.test(l)), 'no SDK noise');
        const messages = format === 'json' ? lines.map((l) => (JSON.parse(l) as { message: string }).message) : lines;
        for (const activity of ['convertAudio', 'diarizeAudio', 'transcribeChunk', 'mergeTranscript', 'exportTranscript']) {
          assert.ok(messages.some((m) => m.includes(`${id}: ${activity} started`)), `${activity} started:\n${lines.join('\n')}`);
          assert.ok(messages.some((m) => m.includes(`${id}: ${activity} completed in `)), `${activity} completed`);
        }
        if (format === 'text') assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARN|ERROR|DEBUG|TRACE) /.test(l)), lines.join('\n'));
      } finally {
        await worker.stop();
      }
    });
  }
});
