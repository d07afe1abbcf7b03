// A disk that fills during a run: DATA_DIR (interim files, state records, the stage cache) and
// the output folder are small tmpfs mounts the test fills at chosen moments. The run fails with
// one line naming the folder and the space it needed, no earlier file is damaged or left
// half-written, and the same command after space is freed resumes without paying again.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { StateRecord } from '../../src/domain/state-record';
import { createFsArtifactStore } from '../../src/providers/artifact-store';
import { startEmulators, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { readRecordJson, speechInBackground, waitFor } from '../helpers/checkpoints';
import { speech, type CliResult } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

interface RunJson {
  ok: boolean;
  runs: { file: string; status: string; mode: string; outputs: string[]; error: { type: string; message: string } | null; pipeline_id: string | null }[];
}

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

const temporaries = (files: string[]) => files.filter((f) => /(^|\/)\.[^/]+\.tmp$/.test(f));
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a disk that fills during a run (tmpfs DATA_DIR and output folder)', function () {
  this.timeout(240_000);
  let dir: string;
  let server: TestServer;
  let emus: Emulators;
  let data: Tmpfs;
  let out: Tmpfs;
  let env: NodeJS.ProcessEnv;
  let worker: WorkerProcess;
  const recs: Record<string, Recording> = {};

  const cli = (args: string[], timeoutMs = 120_000): Promise<CliResult> => speech(args, { env, cwd: dir, timeoutMs });
  const json = (r: CliResult): RunJson => {
    try {
      return JSON.parse(r.stdout) as RunJson;
    } catch {
      throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };
  const count = (emu: 'openai' | 'pyannote', method: string, re: RegExp) => emus[emu].requests.filter((q) => q.method === method && re.test(q.path)).length;
  const paid = () => ({ transcriptions: count('openai', 'POST', /\/audio\/transcriptions$/), diarizeJobs: count('pyannote', 'POST', /^\/v1\/diarize$/), mediaUploads: count('pyannote', 'PUT', /./) });

  before(async function () {
    this.timeout(120_000);
    dir = await testTmpDir('speech-diskfull-e2e-');
    // DATA_DIR must pass `speech run`'s free-space check (16 MiB + the WAV) when the run starts.
    [server, emus, data, out] = await Promise.all([
      startTestServer(),
      // Diarization jobs wait in the queue, so that the disk can fill while one is pending.
      startEmulators({ pyannote: { queueDelayMs: 2500 } }),
      mountTmpfs(path.join(dir, 'data'), '24m'),
      mountTmpfs(path.join(dir, 'out'), '1m'),
    ]);
    env = pipelineEnv(server, emus, { DATA_DIR: data.dir });
    // A `speech worker` beside the CLI (which runs with --no-worker): it logs to stderr, where
    // the in-process worker of `speech run` logs to DATA_DIR/logs.
    worker = await startWorkerProcess(env);
    const texts: Record<string, [string, string]> = {
      during: ['The shipment left the harbour this morning.', 'Good, then it arrives on Thursday.'],
      convert: ['Please bring the signed contract tomorrow.', 'I will send it by courier tonight.'],
      earlier: ['The library opens at nine on weekdays.', 'And on Saturdays it opens at ten.'],
      exported: ['Our team finished the survey last week.', 'The results look better than expected.'],
    };
    for (const [name, [a, b]] of Object.entries(texts)) {
      recs[name] = await makeTwoSpeakerRecording({ dir, name, turns: [{ speaker: 'A', text: a }, { speaker: 'B', text: b }] });
    }
  });

  afterEach(async () => {
    await data?.unfill();
    await out?.unfill();
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.stop();
    await emus?.close();
    await server?.stop();
    await data?.unmount();
    await out?.unmount();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('DATA_DIR fills while diarization runs: one line naming the interim folder and the bytes needed; the re-run polls the same job and re-sends nothing', async () => {
    const rec = recs.during!;
    const before = paid();
    const running = cli(['run', rec.path, '--no-worker']);
    // Conversion and transcription done, the diarization job submitted and still queued.
    const id = await waitFor(
      'transcription to be recorded with the diarization job pending',
      async () => {
        for (const f of await readdir(path.join(data.dir, 'checkpoints')).catch(() => [])) {
          const rid = f.replace(/_state\.json$/, '');
          const r = await readRecordJson(data.dir, rid).catch(() => null);
          if (r?.completed_stages.includes('transcription') && existsSync(path.join(data.dir, 'interim', rid, 'diarization-job.json'))) return rid;
        }
        return undefined;
      },
      60_000,
      50,
    );
    const recordBefore = await readFile(path.join(data.dir, 'checkpoints', `${id}_state.json`), 'utf8');
    await data.fill();
    const r = await running;
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const interim = path.join(data.dir, 'interim', id);
    const line = new RegExp(
      `^${id}: failed: No space left in ${escapeRe(interim)}: writing diarization\\.json needs [\\d.]+ (B|KiB), and 0 B is free there\\. Free some space on that disk \\(\`speech cleanup --dry-run\` lists what can go\\) or set DATA_DIR to a larger one, then run the same command again: finished stages are kept\\.$`,
      'm',
    );
    assert.match(r.stdout, line);
    assert.equal(r.stdout.match(/: failed: /g)?.length, 1, r.stdout);
    const afterFailure = paid();
    assert.deepEqual({ diarizeJobs: afterFailure.diarizeJobs - before.diarizeJobs, mediaUploads: afterFailure.mediaUploads - before.mediaUploads }, { diarizeJobs: 1, mediaUploads: 1 });

    // Nothing half-written: no temporary file; the state record is the last complete one;
    // the converted audio is what the record says.
    assert.deepEqual(temporaries(await filesUnder(data.dir)), []);
    assert.equal(await readFile(path.join(data.dir, 'checkpoints', `${id}_state.json`), 'utf8'), recordBefore);
    const record = JSON.parse(recordBefore) as StateRecord;
    const conv = record.checkpoints.find((c) => c.stage === 'audio_conversion')!;
    assert.deepEqual(await createFsArtifactStore().verify({ path: conv.output_file, sha256: conv.sha256, bytes: conv.bytes }), { ok: true });
    assert.equal(existsSync(path.join(interim, 'diarization.json')), false);

    await data.unfill();
    const again = json(await cli(['run', rec.path, '--no-worker', '--json']));
    assert.equal(again.runs[0]!.status, 'completed', JSON.stringify(again));
    assert.equal(again.runs[0]!.mode, 'resumed');
    // The job paid before the disk filled is polled again, not paid again; no audio is re-sent.
    assert.deepEqual(paid(), afterFailure);
    const show = await cli(['show', id]);
    assert.match(show.stdout, /audio_conversion\s+completed \(reused\)/);
    assert.match(show.stdout, /transcription\s+completed \(reused\)/);
    assert.match(show.stdout, /diarization\s+completed\s/);
  });

  it('DATA_DIR fills before conversion: the line says what the WAV needs and what is free; nothing half-written is kept', async () => {
    const rec = recs.convert!;
    // Held: no worker polls while the run is started and the disk fills.
    await worker.stop();
    const started = json(await cli(['run', rec.path, '--no-worker', '--no-wait', '--json']));
    const id = started.runs[0]!.pipeline_id!;
    await data.fill(48 * 1024);
    const before = paid();
    // Attached, the CLI follows the run the worker then takes up; the conversion finds no room.
    const attached = speechInBackground(['run', rec.path, '--no-worker'], { env, cwd: dir });
    const exited = new Promise<number | null>((resolve) => attached.child.once('exit', (code) => resolve(code)));
    await waitFor('the CLI to attach', async () => (/attached to the running pipeline/.test(attached.output()) ? true : undefined));
    worker = await startWorkerProcess(env);
    const r = { code: await exited, stdout: attached.output() };
    assert.equal(r.code, 2, r.stdout);
    const interim = path.join(data.dir, 'interim', id);
    assert.match(r.stdout, new RegExp(`^${id}: failed: No space left in ${escapeRe(interim)}: writing converted\\.wav needs about \\d+\\.\\d KiB, and \\d+\\.\\d KiB is free there\\. Free some space on that disk`, 'm'));
    const [, need, free] = /needs about ([\d.]+) KiB, and ([\d.]+) KiB is free/.exec(r.stdout)!;
    assert.ok(Number(need) > Number(free), r.stdout);
    assert.deepEqual(await filesUnder(interim), []);
    assert.deepEqual(temporaries(await filesUnder(data.dir)), []);
    assert.deepEqual(paid(), before, 'nothing was sent to a provider');

    await data.unfill();
    const again = json(await cli(['run', rec.path, '--no-worker', '--json']));
    assert.equal(again.runs[0]!.status, 'completed', JSON.stringify(again));
    assert.equal(again.runs[0]!.mode, 'resumed');
    assert.equal(paid().diarizeJobs, before.diarizeJobs + 1);
  });

  it('the output folder is full: one line naming it and the files still to write; earlier outputs stay whole; the re-run pays nothing again', async () => {
    const earlier = json(await cli(['run', recs.earlier!.path, '--out', out.dir, '--no-worker', '--json']));
    assert.equal(earlier.runs[0]!.status, 'completed', JSON.stringify(earlier));
    const earlierOutputs = earlier.runs[0]!.outputs;
    const earlierBytes = await Promise.all(earlierOutputs.map((f) => readFile(f)));
    await out.fill();

    const rec = recs.exported!;
    const r = await cli(['run', rec.path, '--out', out.dir, '--no-worker']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const id = /^(speech-exported-[0-9a-f]{12}): failed: /m.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `^${id}: failed: No space left in the output folder ${escapeRe(out.dir)}: writing exported\\.json, exported\\.srt, exported\\.vtt, exported\\.txt, exported\\.md, exported\\.rttm needs [\\d.]+ KiB, and 0 B is free there\\. Free some space there or choose another folder with --out DIR, then run the same command again: finished stages are kept\\.$`,
        'm',
      ),
    );
    const paidBefore = paid();

    // Rendering the earlier run again (another subtitle layout) into the full folder: refused
    // the same way, and its subtitles are the earlier, complete ones.
    const restyled = await cli(['run', recs.earlier!.path, '--out', out.dir, '--max-line-chars', '30']);
    assert.equal(restyled.code, 2, restyled.stdout + restyled.stderr);
    assert.match(restyled.stderr, new RegExp(`^error: No space left in the output folder ${escapeRe(out.dir)}: writing earlier\\.srt(, earlier\\.vtt)? needs [\\d.]+ (B|KiB), and 0 B is free there\\.`, 'm'));

    assert.deepEqual(await Promise.all(earlierOutputs.map((f) => readFile(f))), earlierBytes);
    assert.deepEqual(await filesUnder(out.dir), [...earlierOutputs.map((f) => path.basename(f)), 'filler.bin'].sort());

    await out.unfill();
    const again = json(await cli(['run', rec.path, '--out', out.dir, '--no-worker', '--json']));
    assert.equal(again.runs[0]!.status, 'completed', JSON.stringify(again));
    assert.equal(again.runs[0]!.mode, 'resumed');
    assert.equal(again.runs[0]!.outputs.length, 6);
    assert.deepEqual(paid(), paidBefore, 'nothing was sent to a provider again');
    const show = await cli(['show', id!]);
    for (const stage of ['audio_conversion', 'diarization', 'transcription', 'merge']) assert.match(show.stdout, new RegExp(`${stage}\\s+completed \\(reused\\)`));
  });
});
