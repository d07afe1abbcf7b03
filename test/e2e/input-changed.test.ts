// The input file changes or goes away while its run is under way. `speech run` hashed it when it
// started the run; the conversion checks it is still those bytes (size, modification time,
// sha256) before anything of it is kept. The run fails saying what changed, nothing of the new
// bytes enters its results, and `speech run` on the file afterwards is a new input.
// The timing is held still: the run is started with no worker polling, the file changed, and
// only then is a `speech worker` started.
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../src/providers/artifact-store';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import { startEmulators, workRequests, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { readRecordJson, speechInBackground, waitFor, type Background } from '../helpers/checkpoints';
import { speech, type CliResult } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

interface RunJson {
  runs: { file: string; status: string; mode: string; outputs: string[]; error: { type: string; message: string } | null; pipeline_id: string | null }[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sha12 = (s: string) => s.slice(0, 12);

describe('the input changes or goes away during its run', function () {
  this.timeout(180_000);
  let dir: string;
  let dataDir: string;
  let server: TestServer;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let worker: WorkerProcess | null = null;
  let recs: Recording[];
  const background: Background[] = [];

  const cli = (args: string[]): Promise<CliResult> => speech(args, { env, cwd: dir, timeoutMs: 120_000 });
  const runJson = async (args: string[]): Promise<RunJson['runs'][number]> => {
    const r = await cli([...args, '--json']);
    try {
      return (JSON.parse(r.stdout) as RunJson).runs[0]!;
    } catch {
      throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };

  /**
   * `speech run FILE` started with no worker polling, so the run waits before its conversion;
   * `change` is applied to the file; then a worker takes the run up. What the waiting CLI printed.
   */
  async function runChangedBeforeConversion(file: string, change: () => Promise<void>): Promise<{ code: number | null; stdout: string; id: string }> {
    await worker?.stop();
    worker = null;
    const cliRun = speechInBackground(['run', file, '--no-worker'], { env, cwd: dir });
    background.push(cliRun);
    const exited = new Promise<number | null>((resolve) => cliRun.child.once('exit', (code) => resolve(code)));
    const id = await waitFor('the run to start', async () => /^(speech-\S+): started$/m.exec(cliRun.output())?.[1]);
    await change();
    worker = await startWorkerProcess(env);
    return { code: await exited, stdout: cliRun.output(), id };
  }

  before(async function () {
    this.timeout(120_000);
    dir = await testTmpDir('speech-input-changed-');
    dataDir = path.join(dir, 'data');
    [server, emus] = await Promise.all([startTestServer(), startEmulators({ pyannote: { queueDelayMs: 1500 } })]);
    env = pipelineEnv(server, emus, { DATA_DIR: dataDir });
    recs = [];
    const texts: [string, string][] = [
      ['The river rose two metres overnight.', 'Then the bridge stays closed today.'],
      ['We ordered new chairs for the office.', 'They should arrive before the meeting.'],
      ['The train to Berlin leaves at seven.', 'I booked two seats by the window.'],
    ];
    for (const [i, [a, b]] of texts.entries()) {
      recs.push(await makeTwoSpeakerRecording({ dir: path.join(dir, 'sources'), name: `rec${i}`, turns: [{ speaker: 'A', text: a }, { speaker: 'B', text: b }] }));
    }
  });

  after(async function () {
    this.timeout(60_000);
    for (const b of background) await b.stop('SIGKILL');
    await worker?.stop();
    await emus?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('changed after the run started: the run fails saying size, time and content changed; nothing is paid or kept; the next run is a new input', async () => {
    const file = path.join(dir, 'interview.wav');
    await copyFile(recs[0]!.path, file);
    const recorded = await sha256File(file);
    const paidBefore = workRequests(emus).length;

    const r = await runChangedBeforeConversion(file, () => copyFile(recs[1]!.path, file));
    const now = await sha256File(file);
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `^${r.id}: failed: ${escapeRe(file)} changed since the run started: size ${recorded.bytes.toLocaleString('en-US')} bytes → ${now.bytes.toLocaleString('en-US')} bytes, modified at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, content differs \\(sha256 ${sha12(now.sha256)}…, the run was started for ${sha12(recorded.sha256)}…\\)\\. Nothing of the new content was used; \`speech run\` on the file as it is now starts a new run for it\\.$`,
        'm',
      ),
    );
    // Never mixed into results: no provider saw either recording, no conversion was kept.
    assert.equal(workRequests(emus).length, paidBefore);
    const record = await readRecordJson(dataDir, r.id);
    assert.equal(record.status, 'failed');
    assert.equal(record.error?.type, 'InputChanged');
    assert.deepEqual(record.completed_stages, []);
    const status = JSON.parse((await cli(['status', r.id, '--json'])).stdout) as { temporal_status: string };
    assert.equal(status.temporal_status, 'FAILED');

    // The file as it is now is a new input: a new pipeline id, a new run, not a resume.
    const next = await runJson(['run', file, '--no-worker']);
    assert.equal(next.status, 'completed', JSON.stringify(next));
    assert.equal(next.mode, 'started');
    assert.notEqual(next.pipeline_id, r.id);
    assert.equal((await readRecordJson(dataDir, next.pipeline_id!)).input_sha256, now.sha256);
  });

  it('removed after the run started: the run fails saying it is missing; put back, the same command resumes it', async () => {
    const file = path.join(dir, 'meeting.wav');
    await copyFile(recs[2]!.path, file);
    const r = await runChangedBeforeConversion(file, () => rm(file));
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `^${r.id}: failed: ${escapeRe(file)} is missing: it was removed or moved after the run started \\(or this worker does not see that path\\); nothing was converted\\. Put it back and run the same command again, or \`speech run\` it where it is now\\.$`,
        'm',
      ),
    );
    assert.equal((await readRecordJson(dataDir, r.id)).error?.type, 'InputMissing');

    const gone = await cli(['run', file, '--no-worker']);
    assert.equal(gone.code, 1, gone.stdout + gone.stderr);

    await copyFile(recs[2]!.path, file);
    const back = await runJson(['run', file, '--no-worker']);
    assert.equal(back.status, 'completed', JSON.stringify(back));
    assert.equal(back.pipeline_id, r.id);
    assert.equal(back.mode, 'resumed');
  });

  it('replaced after it was converted: the run completes from the audio of the recorded bytes; the next run is a new input', async () => {
    worker ??= await startWorkerProcess(env);
    const file = path.join(dir, 'call.wav');
    const original = path.join(dir, 'call-original.wav');
    // Bytes no other test used, so that conversion is computed here and not taken from the stage cache.
    const bytes = Buffer.concat([await readFile(recs[0]!.path), Buffer.alloc(3200)]);
    await writeFile(file, bytes);
    await writeFile(original, bytes);
    const cliRun = speechInBackground(['run', file, '--no-worker', '--json'], { env, cwd: dir });
    background.push(cliRun);
    const exited = new Promise<number | null>((resolve) => cliRun.child.once('exit', (code) => resolve(code)));
    // The diarization job waits in the emulator's queue: there is time to swap the file.
    const id = await waitFor(
      'the conversion to be recorded',
      async () => {
        for (const f of await readdir(path.join(dataDir, 'checkpoints'))) {
          const rec = await readRecordJson(dataDir, f.replace(/_state\.json$/, '')).catch(() => null);
          if (rec?.input_file === file && rec.completed_stages.includes('audio_conversion')) return rec.pipeline_id;
        }
        return undefined;
      },
      60_000,
      50,
    );
    await copyFile(recs[1]!.path, file);
    assert.equal(await exited, 0, cliRun.output());
    const done = (JSON.parse(cliRun.output()) as RunJson).runs[0]!;
    assert.equal(done.pipeline_id, id);
    assert.equal(done.status, 'completed');

    // Its audio is the conversion of the bytes it was started for, not of what the file holds now.
    const record = await readRecordJson(dataDir, id);
    const conv = record.checkpoints.find((c) => c.stage === 'audio_conversion')!;
    const check = path.join(dir, 'check.wav');
    await createFfmpegProcessor().toWav16kMono(original, check, {});
    assert.equal((await sha256File(check)).sha256, conv.sha256);
    assert.equal(record.input_sha256, (await sha256File(original)).sha256);

    const next = await runJson(['run', file, '--no-worker']);
    assert.equal(next.status, 'completed', JSON.stringify(next));
    assert.notEqual(next.pipeline_id, id);
    assert.equal(next.mode, 'started');
  });
});
