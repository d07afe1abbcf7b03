// The checkpoint tools (`speech list|show|validate|cleanup|export|delete` and the original
// tool's `run` flags) against real runs: real `speech` child processes, the embedded
// Temporal dev server, ffmpeg, and the provider emulators.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stopDevServer } from '../../src/client/dev-server';
import type { StateRecord } from '../../src/domain/state-record';
import { startEmulators, type Emulators, workRequests } from '../emulators';
import { distinctCopy, makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { readRecordJson, recordPath, speechInBackground, waitFor, type Background } from '../helpers/checkpoints';
import { speech, type CliResult } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { serverPort, testTmpDir } from '../helpers/temporal';

interface ListJson {
  ok: boolean;
  source: string;
  temporal: { reachable: boolean; reason: string | null };
  runs: { id: string; status: string; source: string; problem: string | null; note: string | null; completed_stages: string[]; stages?: unknown[] }[];
}

describe('checkpoint tools (real runs, embedded Temporal server)', function () {
  this.timeout(60_000);
  let dir: string;
  let dataDir: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let recA: Recording;
  let recB: Recording;
  /** Two completed runs and one left running with a state record (its worker was killed). */
  let idA: string;
  let idB: string;
  let idRunning: string;
  const workers: Background[] = [];

  const cli = (args: string[]): Promise<CliResult> => speech(args, { env, cwd: dir, timeoutMs: 60_000 });
  const json = <T>(r: CliResult): T => {
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };
  const providerCalls = () => workRequests(emus).length;

  before(async function () {
    this.timeout(90_000);
    dir = await testTmpDir('speech-ckpt-');
    dataDir = path.join(dir, 'data');
    [emus, recA, recB] = await Promise.all([
      startEmulators(),
      makeTwoSpeakerRecording({ dir, name: 'alpha', turns: [{ speaker: 'A', text: 'Hello there, how are you today.' }, { speaker: 'B', text: 'I am fine, thank you very much.' }] }),
      makeTwoSpeakerRecording({ dir, name: 'bravo', turns: [{ speaker: 'A', text: 'The weather is nice this morning.' }, { speaker: 'B', text: 'Yes, it is sunny and warm outside.' }] }),
    ]);
    const port = await serverPort();
    env = pipelineEnv({ address: `127.0.0.1:${port}`, dataDir }, emus);

    // Two finished runs; the first `speech run` starts the embedded server.
    const done = await cli(['run', recA.path, recB.path, '--json']);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    const runs = json<{ runs: { file: string; pipeline_id: string; status: string }[] }>(done).runs;
    assert.deepEqual(runs.map((r) => r.status), ['completed', 'completed']);
    idA = runs[0]!.pipeline_id;
    idB = runs[1]!.pipeline_id;

    // A third run (same audio, other options) that stays running: started without a worker,
    // taken up to transcription by a `speech worker` whose transcription requests hang, and
    // left there when that worker is killed. Its record says running, at transcription.
    // Its own bytes (a byte-identical bravo.wav would take every stage from the stage cache).
    await mkdir(path.join(dir, 'running'), { recursive: true });
    const runningFile = await distinctCopy(recB.path, path.join(dir, 'running', 'bravo.wav'), 1);
    emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'hang', times: -1 });
    const started = await cli(['run', runningFile, '--speakers', '2', '--no-wait', '--no-worker', '--json']);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    idRunning = json<{ runs: { pipeline_id: string }[] }>(started).runs[0]!.pipeline_id;
    const worker = speechInBackground(['worker'], { env, cwd: dir });
    workers.push(worker);
    await waitFor('the running run to record its diarization', async () => {
      const r = await readRecordJson(dataDir, idRunning);
      return r.status === 'running' && r.completed_stages.includes('diarization') ? r : undefined;
    });
    await worker.stop('SIGKILL');
  });

  after(async function () {
    this.timeout(60_000);
    for (const w of workers) await w.stop('SIGKILL');
    if (dataDir) await stopDevServer(dataDir);
    await emus?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists runs from Temporal and the records, with --status, --detailed and --json', async () => {
    const r = await cli(['list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+STATUS\s+STAGES\s+INPUT/m);
    assert.match(r.stdout, new RegExp(`${idA}\\s+completed\\s+5/5\\s+alpha\\.wav`));
    assert.match(r.stdout, new RegExp(`${idRunning}\\s+running\\s+[23]/5\\s+bravo\\.wav`));
    assert.match(r.stdout, /source: Temporal \+ state records/);

    const all = json<ListJson>(await cli(['list', '--json']));
    assert.equal(all.source, 'temporal+records');
    assert.deepEqual(all.runs.map((x) => x.id).sort(), [idA, idB, idRunning].sort());
    assert.ok(all.runs.every((x) => x.source === 'temporal+record'));

    const running = json<ListJson>(await cli(['list', '--status', 'running', '--json']));
    assert.deepEqual(running.runs.map((x) => x.id), [idRunning]);

    const detailed = await cli(['list', '--detailed', '--status', 'completed']);
    assert.equal(detailed.code, 0);
    assert.match(detailed.stdout, /^\s+audio_conversion\s+completed\s+\S+ m?s\s+converted\.wav \(/m);
    assert.match(detailed.stdout, /^\s+export\s+completed\s+.*alpha\.json \(.*\) \+5 more/m);
    assert.doesNotMatch(detailed.stdout, new RegExp(idRunning));

    const bad = await cli(['list', '--status', 'finished']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: --status: unknown status "finished"; choose from running, completed, failed, cancelled$/m);
  });

  it('shows one run: stages, timings, artifacts with size and sha256, options, outputs, Web UI link', async () => {
    const r = await cli(['show', idA]);
    assert.equal(r.code, 0, r.stderr);
    const rec = await readRecordJson(dataDir, idA);
    assert.match(r.stdout, new RegExp(`input\\s+${escapeRe(recA.path)}`));
    assert.match(r.stdout, /status\s+completed\s+\[Temporal: completed, run /);
    assert.match(r.stdout, /options\s+transcribe_model=whisper-1; formats json,srt,vtt,txt,md,rttm/);
    const conv = rec.checkpoints.find((c) => c.stage === 'audio_conversion')!;
    assert.match(r.stdout, new RegExp(`audio_conversion\\s+completed\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+[\\d.]+ m?s\\s+converted\\.wav\\s+[\\d.]+ KiB\\s+${conv.sha256.slice(0, 12)}…`));
    assert.match(r.stdout, /Outputs:\n(\s+\S+alpha\.(json|srt|vtt|txt|md|rttm)\s+.*\n){6}/);
    assert.match(r.stdout, new RegExp(`Web UI: http://localhost:\\d+/namespaces/default/workflows/${idA}/`));

    const running = json<{ status: string; record: { current_stage: string } }>(await cli(['show', idRunning, '--json']));
    assert.equal(running.status, 'running');
    assert.ok(['transcription', 'diarization'].includes(running.record.current_stage));
  });

  it('validates an intact run (exit 0), decoding the converted audio with ffprobe', async () => {
    const r = await cli(['validate', idA]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+audio_conversion\s+converted\.wav\s+.*KiB, \d+\.\d s of audio/);
    assert.match(r.stdout, /All 10 file\(s\) intact\./);
  });

  it('exports the record with stage timings from the Temporal history, atomically', async () => {
    const file = path.join(dir, 'backup', 'alpha.json');
    const r = await cli(['export', idA, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stage timings from the Temporal history/);
    const doc = JSON.parse(await readFile(file, 'utf8')) as {
      pipeline_id: string;
      status: string;
      checkpoints: { stage: string; sha256: string; timings: { source: string; scheduled_at: string; started_at: string; completed_at: string; duration_ms: number } }[];
      history: { activities: { activity_type: string }[] };
    };
    assert.equal(doc.pipeline_id, idA);
    assert.equal(doc.status, 'completed');
    assert.deepEqual(doc.checkpoints.map((c) => c.stage), ['audio_conversion', 'diarization', 'transcription', 'merge', 'export']);
    for (const c of doc.checkpoints) {
      assert.equal(c.timings.source, 'temporal-history', c.stage);
      assert.ok(Date.parse(c.timings.scheduled_at) <= Date.parse(c.timings.started_at) && Date.parse(c.timings.started_at) <= Date.parse(c.timings.completed_at), c.stage);
      assert.ok(c.timings.duration_ms >= 0);
    }
    assert.ok(doc.history.activities.some((a) => a.activity_type === 'transcribeChunk'));
    assert.deepEqual((await readdir(path.dirname(file))).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
  });

  it('re-renders formats from the stored merge result without calling any provider', async () => {
    const before = providerCalls();
    const out = path.join(dir, 'subs');
    const r = await cli(['export', idA, '--formats', 'srt,vtt', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['alpha.srt', 'alpha.vtt']);
    assert.match(await readFile(path.join(out, 'alpha.vtt'), 'utf8'), /^WEBVTT\n[\s\S]*<v SPEAKER_/);

    // Default folder: the run's own output folder; the rewritten files match the record.
    await rm(path.join(dataDir, 'output', idA, 'alpha.txt'));
    const again = json<{ out_dir: string; outputs: { path: string }[] }>(await cli(['export', idA, '--formats', 'txt', '--json']));
    assert.equal(again.out_dir, path.join(dataDir, 'output', idA));
    assert.ok(existsSync(path.join(dataDir, 'output', idA, 'alpha.txt')));
    assert.equal((await cli(['validate', idA])).code, 0);
    assert.equal(providerCalls(), before, 'no request reached the provider emulators');

    const both = await cli(['export', idA, 'x.json', '--formats', 'srt']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give either FILE\.json .* or --formats .*, not both/);
    const fmt = await cli(['export', idA, '--formats', 'srt,pdf']);
    assert.equal(fmt.code, 1);
    assert.match(fmt.stderr, /--formats: unknown format "pdf"/);
  });

  it('works from the records alone while the server is down, and says so', async function () {
    this.timeout(90_000);
    const stop = await cli(['server', 'stop']);
    assert.equal(stop.code, 0, stop.stderr);
    try {
      const t0 = Date.now();
      const r = await cli(['list']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() - t0 < 15_000, 'the server check gives up quickly');
      assert.match(r.stderr, /not reachable .*listed from the state records in DATA_DIR only/);
      assert.match(r.stdout, /source: state records only \(Temporal not reachable\)/);
      assert.match(r.stdout, new RegExp(`${idRunning}\\s+running`));

      const j = json<ListJson>(await cli(['list', '--json']));
      assert.equal(j.source, 'records');
      assert.equal(j.temporal.reachable, false);
      assert.deepEqual(j.runs.map((x) => x.id).sort(), [idA, idB, idRunning].sort());
      assert.ok(j.runs.every((x) => x.source === 'record'));

      const show = await cli(['show', idA]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /status\s+completed\s+\[Temporal not asked: /);
      assert.match(show.stderr, /shown from the state record only/);

      const file = path.join(dir, 'offline.json');
      const exp = await cli(['export', idA, file]);
      assert.equal(exp.code, 0, exp.stderr);
      const doc = JSON.parse(await readFile(file, 'utf8')) as { checkpoints: { timings: { source: string; started_at: string } }[] };
      assert.ok(doc.checkpoints.every((c) => c.timings.source === 'state-record' && c.timings.started_at));

      // Without the server, a record that says running is treated as running.
      const clean = json<{ would_remove: { id: string }[]; skipped: { id: string; reason: string }[]; source: string }>(await cli(['cleanup', '--older-than', '0s', '--dry-run', '--json']));
      assert.equal(clean.source, 'records');
      assert.deepEqual(clean.would_remove.map((x) => x.id).sort(), [idA, idB].sort());
      assert.match(clean.skipped.find((s) => s.id === idRunning)!.reason, /record says running/);
    } finally {
      const start = await cli(['server', 'start', '--headless']);
      assert.equal(start.code, 0, start.stdout + start.stderr);
    }
    // Same DATA_DIR, same database: the history survived the restart.
    const back = json<ListJson>(await cli(['list', '--json']));
    assert.equal(back.source, 'temporal+records');
    assert.equal(back.runs.find((x) => x.id === idRunning)!.status, 'running');
  });

  it('validate names a deleted and a corrupted artifact (exit 2)', async () => {
    const rec = await readRecordJson(dataDir, idB);
    const transcript = rec.checkpoints.find((c) => c.stage === 'transcription')!.output_file;
    const converted = rec.checkpoints.find((c) => c.stage === 'audio_conversion')!.output_file;
    await rm(transcript);
    const wav = await readFile(converted);
    wav.fill(0x7f, 44, 2044);
    await writeFile(converted, wav);

    const r = await cli(['validate', idB]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /MISSING\s+transcription\s+transcript\.json/);
    assert.match(r.stdout, /CORRUPT\s+audio_conversion\s+converted\.wav\s+.*does not match its recorded sha256 .*same size/);
    const problems = r.stderr.split('\n').filter((l) => l.startsWith('problem: '));
    assert.equal(problems.length, 2, r.stderr);
    assert.match(r.stderr, /2 of 10 file\(s\) failed the check \(exit code 2\)/);

    const j = json<{ ok: boolean; problems: string[] }>(await cli(['validate', idB, '--json']));
    assert.equal(j.ok, false);
    assert.equal(j.problems.length, 2);
  });

  it('validate reports a WAV that does not decode, and a folder that cannot be reached', async () => {
    // A converted.wav that hashes as recorded but holds no audio: the record vouches for a bad file.
    const file = recordPath(dataDir, idA);
    const original = await readFile(file, 'utf8');
    const rec = JSON.parse(original) as StateRecord;
    const conv = rec.checkpoints.find((c) => c.stage === 'audio_conversion')!;
    const audio = await readFile(conv.output_file);
    const bogus = Buffer.from('RIFF\0\0\0\0WAVEjunk'.repeat(8));
    await writeFile(conv.output_file, bogus);
    Object.assign(conv, { sha256: createHash('sha256').update(bogus).digest('hex'), bytes: bogus.length });
    await writeFile(file, JSON.stringify(rec));
    try {
      const r = await cli(['validate', idA]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, /UNDECODABLE\s+audio_conversion\s+converted\.wav\s+.*converted\.wav does not decode: /);
      assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('problem: ')).length, 1, r.stderr);
    } finally {
      await writeFile(conv.output_file, audio);
      await writeFile(file, original);
    }

    // A file where the interim folder should be: every interim artifact is unreachable.
    const interim = path.join(dataDir, 'interim', idA);
    await rename(interim, `${interim}.moved`);
    await writeFile(interim, 'not a folder');
    try {
      const r = await cli(['validate', idA]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`problem: audio_conversion: unreadable: .*converted\\.wav cannot be reached: ${escapeRe(interim)} is a file, not a folder`));
      assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('problem: ')).length, 4, 'the four interim artifacts');
      // delete refuses to guess, and says why.
      const del = await cli(['delete', idA]);
      assert.equal(del.code, 1);
      assert.match(del.stderr, /should be a folder but is a file/);
    } finally {
      await rm(interim, { force: true });
      await rename(`${interim}.moved`, interim);
    }
    assert.equal((await cli(['validate', idA])).code, 0);
  });

  it('reports broken records as rows in list, and as input errors in show, validate and export', async () => {
    const ckpt = path.join(dataDir, 'checkpoints');
    const garbled = 'speech-garbled-000000000000';
    const shapeless = 'speech-shapeless-000000000000';
    await writeFile(path.join(ckpt, `${garbled}_state.json`), '{ "input_file": "x.wav", ');
    await writeFile(path.join(ckpt, `${shapeless}_state.json`), JSON.stringify({ input_file: 'x.wav', status: 'exploded' }));

    const list = json<ListJson>(await cli(['list', '--json']));
    const g = list.runs.find((x) => x.id === garbled)!;
    const s = list.runs.find((x) => x.id === shapeless)!;
    assert.equal(g.status, 'broken');
    assert.match(g.problem!, /is not valid JSON/);
    assert.equal(s.status, 'broken');
    assert.match(s.problem!, /is not a state record: /);
    assert.equal(list.runs.filter((x) => x.status !== 'broken').length, 3, 'the broken records hide no other run');
    const text = await cli(['list', '--status', 'completed']);
    assert.match(text.stdout, new RegExp(`${garbled}\\s+broken\\s+.*is not valid JSON`));
    assert.match(text.stdout, /2 broken record\(s\)/);

    for (const cmd of [['show', garbled], ['validate', garbled], ['export', garbled, path.join(dir, 'g.json')]]) {
      const r = await cli(cmd);
      assert.equal(r.code, 1, `${cmd[0]}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /error: .*speech-garbled-000000000000_state\.json is not valid JSON/, cmd[0]);
      assert.match(r.stderr, /hint: Delete the damaged record with `speech delete ID`/);
    }
    const v = await cli(['validate', shapeless]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /is not a state record: pipeline_id: /);

    // Both go with delete (the seed's flag and the command); cleanup leaves them alone.
    const dry = json<{ skipped: { id: string; reason: string }[] }>(await cli(['cleanup', '--older-than', '0s', '--dry-run', '--json']));
    assert.match(dry.skipped.find((x) => x.id === garbled)!.reason, /broken record/);
    const viaAlias = await cli(['run', '--delete-checkpoint', garbled]);
    assert.equal(viaAlias.code, 0, viaAlias.stderr);
    assert.match(viaAlias.stdout, /Deleted speech-garbled-000000000000: state record/);
    assert.equal((await cli(['delete', shapeless])).code, 0);
    assert.ok(!existsSync(recordPath(dataDir, garbled)) && !existsSync(recordPath(dataDir, shapeless)));
  });

  it('refuses unknown ids, ids that are paths, and durations that do not parse (exit 1, one line each)', async () => {
    for (const cmd of ['show', 'validate', 'delete']) {
      const r = await cli([cmd, 'speech-nothing-123456789abc']);
      assert.equal(r.code, 1, cmd);
      assert.match(r.stderr, /^error: no run with id speech-nothing-123456789abc/m, cmd);
      assert.match(r.stderr, /^hint: List runs and their ids with `speech list`\./m, cmd);
    }
    const exp = await cli(['export', 'speech-nothing-123456789abc', path.join(dir, 'n.json')]);
    assert.equal(exp.code, 1);
    assert.match(exp.stderr, /no run with id/);

    const climb = await cli(['delete', '../../etc']);
    assert.equal(climb.code, 1);
    assert.match(climb.stderr, /"\.\.\/\.\.\/etc" is not a pipeline id/);

    for (const bad of ['7', 'seven days', '1h2h', '-3d']) {
      const r = await cli(['cleanup', '--older-than', bad]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stderr, /^error: --older-than: ".*" is not a duration; write it like 90m, 36h, 7d, 2w or 1d12h/m, bad);
    }
    const json1 = json<{ ok: boolean; error: { problems: string[] } }>(await cli(['cleanup', '--older-than', 'soon', '--json']));
    assert.equal(json1.ok, false);
    assert.match(json1.error.problems[0]!, /--older-than/);
  });

  it('cleanup --dry-run lists what it would remove and removes nothing; never a running run', async () => {
    const r = await cli(['cleanup', '--older-than', '0s', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Would remove 2 finished run\(s\) last updated more than 0s ago:/);
    assert.match(r.stdout, new RegExp(`${idA}\\s+completed\\s+.*record, interim folder`));
    assert.match(r.stdout, new RegExp(`Kept ${idRunning}: running\\.`));
    assert.match(r.stdout, /Dry run: nothing was removed; [\d.]+ KiB would be freed\./);
    for (const id of [idA, idB, idRunning]) {
      assert.ok(existsSync(recordPath(dataDir, id)), id);
      assert.ok(existsSync(path.join(dataDir, 'interim', id)), id);
    }
    // The seed's flag: the defaults (7 days) remove nothing this young.
    const alias = await cli(['run', '--cleanup-checkpoints']);
    assert.equal(alias.code, 0, alias.stderr);
    assert.match(alias.stdout, /Nothing to clean up: no finished run was last updated more than 7d ago\./);
    assert.match(alias.stdout, new RegExp(`Kept ${idRunning}: running\\.`));
  });

  it('cleanup removes records and interim folders of finished runs, keeps outputs and the running run', async () => {
    const r = json<{ removed: { id: string; bytes: number; folders: { kind: string }[] }[]; skipped: { id: string }[]; bytes_freed: number }>(
      await cli(['cleanup', '--older-than', '0s', '--json']),
    );
    assert.deepEqual(r.removed.map((x) => x.id).sort(), [idA, idB].sort());
    assert.ok(r.bytes_freed > 100_000, `freed ${r.bytes_freed}`);
    assert.equal(r.bytes_freed, r.removed.reduce((n, x) => n + x.bytes, 0));
    assert.deepEqual(r.skipped.map((x) => x.id), [idRunning]);
    for (const id of [idA, idB]) {
      assert.ok(!existsSync(recordPath(dataDir, id)), id);
      assert.ok(!existsSync(path.join(dataDir, 'interim', id)), id);
      assert.ok(existsSync(path.join(dataDir, 'output', id)), `outputs of ${id} stay`);
    }
    assert.ok(existsSync(recordPath(dataDir, idRunning)) && existsSync(path.join(dataDir, 'interim', idRunning)));

    // Temporal still knows the cleaned runs: list shows them as history-only rows.
    const list = json<ListJson>(await cli(['list', '--json']));
    const a = list.runs.find((x) => x.id === idA)!;
    assert.equal(a.source, 'temporal');
    assert.equal(a.note, 'no state record on disk');
  });

  it('delete refuses a running run, and --force cancels it first, then deletes', async function () {
    this.timeout(90_000);
    const refused = await cli(['delete', idRunning]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`error: ${idRunning} is running; deleting its files now would break the run\\.`));
    assert.match(refused.stderr, /hint: Cancel it first with `speech cancel .*`, or use `speech delete .* --force`/);
    const alias = await cli(['run', '--delete-checkpoint', idRunning]);
    assert.equal(alias.code, 1);
    assert.match(alias.stderr, /is running/);
    assert.ok(existsSync(recordPath(dataDir, idRunning)));

    // A worker is there to act on the cancellation (its transcription requests still hang).
    workers.push(speechInBackground(['worker', '--grace-seconds', '1'], { env, cwd: dir }));
    const forced = await cli(['delete', idRunning, '--force', '--timeout', '40']);
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /is running: cancelling it first \(--force\)/);
    assert.match(forced.stdout, new RegExp(`${idRunning}: cancelled\\.`));
    assert.match(forced.stdout, new RegExp(`Deleted ${idRunning}: state record, interim folder`));
    assert.ok(!existsSync(recordPath(dataDir, idRunning)));
    assert.ok(!existsSync(path.join(dataDir, 'interim', idRunning)));
    await workers.pop()!.stop('SIGTERM');
    emus.openai.faults.clear();

    const list = json<ListJson>(await cli(['list', '--json']));
    assert.equal(list.runs.find((x) => x.id === idRunning)!.status, 'cancelled');
  });

  it('keeps the original tool\'s flags on `speech run`', async () => {
    const all = await cli(['run', '--list-checkpoints', '--json']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(json<ListJson>(all).runs.map((x) => x.id).sort(), [idA, idB, idRunning].sort());

    // With a file: only that file's runs (the original `speech_pipeline.py audio.wav --list-checkpoints`).
    const one = json<ListJson>(await cli(['run', recA.path, '--list-checkpoints', '--json']));
    assert.deepEqual(one.runs.map((x) => x.id), [idA]);

    const none = await cli(['run']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: name at least one audio or video file/m);
    const two = await cli(['run', '--list-checkpoints', '--cleanup-checkpoints']);
    assert.equal(two.code, 1);
    assert.match(two.stderr, /use one of --list-checkpoints, --cleanup-checkpoints at a time/);
    const withFile = await cli(['run', recA.path, '--cleanup-checkpoints']);
    assert.equal(withFile.code, 1);
    assert.match(withFile.stderr, /--cleanup-checkpoints takes no files/);

    // --include-outputs removes the outputs too (all that is left of B after the clean-up).
    const del = await cli(['delete', idB, '--include-outputs']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, new RegExp(`Deleted ${idB}: outputs folder`));
    assert.ok(!existsSync(path.join(dataDir, 'output', idB)));
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
