// A stuck run is never silent: with no worker polling, or with a worker whose workflow code
// does not match the run's history, `speech run`, `watch` and `status` say so within seconds.
import assert from 'node:assert/strict';
import { copyFile, rm } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { activitiesFromConfig } from '../../src/worker';
import { startEmulators, type Emulators } from '../emulators';
import { DEFAULT_TURNS, makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { speech, type CliResult } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { quietRuntime, startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { startWorkerProcess } from '../helpers/worker-process';

/** Runs `speech ARGS` until its output matches `pattern` (then stops it), or fails after `timeoutMs`. */
async function speechUntil(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp, timeoutMs: number): Promise<{ output: string; afterMs: number }> {
  const t0 = Date.now();
  let output = '';
  let stop: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const run: Promise<CliResult> = speech(args, {
    env,
    timeoutMs: timeoutMs + 5000,
    onSpawn: (child) => {
      const onData = (d: Buffer) => {
        output += d.toString('utf8');
        if (pattern.test(output)) {
          child.kill('SIGKILL');
          stop();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
    },
  });
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`speech ${args.join(' ')}: no ${pattern} within ${timeoutMs} ms; output:\n${output}`)), timeoutMs));
  await Promise.race([seen, run.then((r) => assert.fail(`speech ${args.join(' ')} ended (exit ${r.code}) before saying ${pattern}:\n${r.stdout}${r.stderr}`)), timer]);
  return { output, afterMs: Date.now() - t0 };
}

describe('stuck runs are never silent', function () {
  this.timeout(120_000);
  let server: TestServer;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let recording: Recording;
  let client: Client;
  let connection: Connection;

  before(async () => {
    quietRuntime();
    dir = await testTmpDir('speech-stuck-');
    [server, emus, recording] = await Promise.all([startTestServer(), startEmulators(), makeTwoSpeakerRecording({ dir, name: 'stuck', turns: [...DEFAULT_TURNS] })]);
    env = pipelineEnv(server, emus);
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
  });

  after(async () => {
    await connection?.close();
    await emus?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('says at once that no worker polls the task queue: run, status and watch', async () => {
    const run = await speechUntil(['run', recording.path, '--no-worker'], env, /is waiting for a worker/, 20_000);
    assert.match(run.output, /none is polling task queue speech-test in namespace default/);
    assert.match(run.output, /Start one with `speech worker`/);
    assert.ok(run.afterMs < 15_000, `said after ${run.afterMs} ms`);
    const id = /^(speech-\S+): started/m.exec(run.output)![1]!;

    const status = await speech(['status', id, '--json'], { env });
    const body = JSON.parse(status.stdout) as { temporal_status: string; problem: { kind: string; message: string } | null };
    assert.equal(body.temporal_status, 'RUNNING');
    assert.equal(body.problem?.kind, 'no-worker', status.stdout);
    const text = await speech(['status', id], { env });
    assert.match(text.stdout, /is waiting for a worker/);

    const watch = await speechUntil(['watch', id], env, /is waiting for a worker/, 15_000);
    assert.ok(watch.afterMs < 10_000, `watch said it after ${watch.afterMs} ms`);
    await client.workflow.getHandle(id).terminate('test done');
  });

  it('says that the workflow task fails with nondeterminism when a worker of other workflow code takes the run over', async () => {
    const file = `${dir}/other.wav`;
    await copyFile(recording.path, file);
    // A worker of this release runs the run into merge and dies there.
    const w = await startWorkerProcess({ ...env, FAULT_ACTIVITY_DELAYS: 'mergeTranscript:60000' });
    const started = await speech(['run', file, '--no-worker', '--no-wait', '--json'], { env });
    const id = (JSON.parse(started.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = JSON.parse((await speech(['status', id, '--json'], { env })).stdout) as { progress: { stages: { merge: { status: string } } } | null };
      if (s.progress?.stages.merge.status === 'running') break;
      if (Date.now() > deadline) assert.fail('merge never started');
      await new Promise((r) => setTimeout(r, 300));
    }
    await w.kill();

    // A worker whose workflow code schedules something else first, with the real activities:
    // it finishes the merge the dead worker held, then cannot replay the run's history.
    const config = loadConfig(env);
    const nc = await NativeConnection.connect({ address: server.address });
    const other = await Worker.create({
      connection: nc,
      taskQueue: config.temporal.taskQueue,
      workflowsPath: require.resolve('../fixtures/workflows/incompatible'),
      activities: activitiesFromConfig(config),
    });
    const running = other.run();
    try {
      const status = await speechUntil(['watch', id], env, /nondeterminism/, 60_000);
      assert.match(status.output, new RegExp(`${id} is stuck: its workflow task has failed \\d+ time\\(s\\) because the worker's workflow code does not match this run's history`));
      assert.match(status.output, /TMPRL1100/);
      assert.match(status.output, /Start a worker of the release that started the run/);
      const json = JSON.parse((await speech(['status', id, '--json'], { env })).stdout) as { problem: { kind: string } | null };
      assert.equal(json.problem?.kind, 'workflow-task-failing');
      const attached = await speechUntil(['run', file, '--no-worker'], env, /is stuck: its workflow task has failed/, 15_000);
      assert.match(attached.output, /attached to the running pipeline/);
      assert.ok(attached.afterMs < 10_000, `run said it after ${attached.afterMs} ms`);
    } finally {
      await client.workflow.getHandle(id).terminate('test done');
      other.shutdown();
      await running;
      await nc.close();
    }
  });
});
