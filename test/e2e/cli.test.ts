// The `speech` executable as a user runs it: the embedded default starts its own Temporal
// dev server and an in-process worker; errors are one readable line with the right exit code.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readServerInfo } from '../../src/client/dev-server';
import { startEmulators, type Emulators, workRequests } from '../emulators';
import { makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { assertSpeakersMatchTurns, embeddedCliEnv, readMergedJson } from '../helpers/pipeline';

describe('speech CLI (child process, embedded Temporal server)', function () {
  this.timeout(180_000);
  let dir: string;
  let dataDir: string;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let recording: Recording;
  let cleanUp = async () => {};

  before(async () => {
    emus = await startEmulators();
    ({ dir, dataDir, env, cleanUp } = await embeddedCliEnv(emus, 'speech-cli-'));
    recording = await makeTwoSpeakerRecording({ dir, name: 'interview' });
  });

  after(async () => {
    await cleanUp();
    await emus?.close();
  });

  it('runs a recording end to end, starting the embedded server and a worker by itself', async () => {
    const r = await speech(['run', recording.path], { env, cwd: dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Starting the embedded Temporal dev server/);
    assert.match(r.stdout, /completed in/);
    assert.match(r.stdout, /Web UI: http:\/\/localhost:\d+\/namespaces\/default\/workflows\/speech-interview-[0-9a-f]{12}\//);
    const outputs = r.stdout.split('\n').filter((l) => l.startsWith('  /')).map((l) => l.trim());
    assert.equal(outputs.length, 6);
    for (const f of outputs) assert.ok(existsSync(f), f);
    assertSpeakersMatchTurns(await readMergedJson(outputs.find((f) => f.endsWith('.json'))!), recording.turns);
    const info = readServerInfo(dataDir);
    assert.ok(info && existsSync(info.dbFile), 'the dev server keeps its database under DATA_DIR');
  });

  it('shows the stored result for a completed input without calling any provider', async () => {
    const before = workRequests(emus).length;
    const r = await speech(['run', recording.path, '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; runs: { mode: string; status: string; outputs: string[] }[] };
    assert.equal(out.ok, true);
    assert.equal(out.runs[0]!.mode, 'completed');
    assert.equal(out.runs[0]!.status, 'completed');
    assert.equal(workRequests(emus).length, before);
  });

  it('recomputes only what is lost when a completed run\'s outputs and merge result were deleted', async () => {
    const first = JSON.parse((await speech(['run', recording.path, '--json'], { env, cwd: dir })).stdout) as { runs: { pipeline_id: string; outputs: string[] }[] };
    const id = first.runs[0]!.pipeline_id;
    await rm(path.dirname(first.runs[0]!.outputs[0]!), { recursive: true });
    await rm(path.join(dataDir, 'interim', id, 'merged.json'));
    const before = workRequests(emus).length;
    const r = await speech(['run', recording.path, '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = (JSON.parse(r.stdout) as { runs: { mode: string; outputs: string[] }[] }).runs[0]!;
    assert.equal(run.mode, 'resumed');
    for (const f of run.outputs) assert.ok(existsSync(f), f);
    assert.equal(workRequests(emus).length, before, 'no provider call: conversion, diarization and transcription were reused');
  });

  it('writes only the requested formats into --out', async () => {
    const out = path.join(dir, 'subtitles');
    const r = await speech(['run', recording.path, '--formats', 'srt,vtt', '--out', out, '--json'], { env, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { runs: { outputs: string[] }[] }).runs[0]!.outputs.map((f) => path.relative(out, f)).sort();
    assert.deepEqual(files, ['interview.srt', 'interview.vtt']);
    assert.match(await readFile(path.join(out, 'interview.vtt'), 'utf8'), /^WEBVTT\n[\s\S]*<v SPEAKER_0[01]>/);
  });

  it('refuses a file that is not audio with exit code 1 and one plain line', async () => {
    const notes = path.join(dir, 'notes.mp3');
    await writeFile(notes, 'not audio at all\n'.repeat(100));
    const r = await speech(['run', notes], { env, cwd: dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /Not a readable audio or video file/);
    assert.equal((r.stdout + r.stderr).split(notes).length - 1, 1, `the path is said once: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace without --verbose');
  });

  it('reports a missing file and bad flags as usage errors (exit 1)', async () => {
    const missing = await speech(['run', path.join(dir, 'nope.wav')], { env, cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.wav: no such file or folder/);

    const flags = await speech(['run', recording.path, '--speakers', '2', '--min-speakers', '1', '--formats', 'srt,doc'], { env, cwd: dir });
    assert.equal(flags.code, 1);
    assert.match(flags.stderr, /--speakers: use either --speakers N or --min-speakers\/--max-speakers/);
    assert.match(flags.stderr, /--formats: unknown format "doc"/);

    const json = await speech(['run', recording.path, '--language', 'english', '--json'], { env, cwd: dir });
    assert.equal(json.code, 1);
    const body = JSON.parse(json.stdout) as { ok: boolean; error: { problems: string[] } };
    assert.equal(body.ok, false);
    assert.match(body.error.problems[0]!, /--language: must be an ISO-639-1 code/);
  });

  it('reports bad configuration with one line per problem and exit code 1', async () => {
    const r = await speech(['run', recording.path], { env: { ...env, TEMPORAL_ADDRESS: 'not an address', OPENAI_BASE_URL: 'ftp://x', CHUNK_MAX_SECONDS: 'ten' }, cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(lines.length, 3, r.stderr);
    assert.match(r.stderr, /TEMPORAL_ADDRESS must be host:port/);
    assert.match(r.stderr, /OPENAI_BASE_URL must be an http\(s\) URL/);
    assert.match(r.stderr, /CHUNK_MAX_SECONDS/);
  });

  it('keeps the API keys out of everything it writes under DATA_DIR, logs included', async () => {
    const files = (await readdir(dataDir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && !/\.(wav|db|db-shm|db-wal)$/.test(e.name))
      .map((e) => path.join(e.parentPath ?? e.path, e.name));
    assert.ok(files.some((f) => f.endsWith('worker.log')), 'the in-process worker log is among the files checked');
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      for (const key of [env.OPENAI_API_KEY!, env.PYANNOTE_API_KEY!]) assert.ok(!text.includes(key), `API key found in ${f}`);
    }
  });

  it('refuses a transcription key the service rejects before anything is paid (exit 1), naming the fix', async () => {
    const other = await makeTwoSpeakerRecording({ dir, name: 'refused', turns: [{ speaker: 'A', text: 'A short statement for the record.' }, { speaker: 'B', text: 'And a short reply to it.' }] });
    const before = workRequests(emus).length;
    const r = await speech(['run', other.path], { env: { ...env, OPENAI_API_KEY: 'sk-wrong-key-123456' }, cwd: dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /OPENAI_API_KEY was refused by .* \(401\); nothing was started/);
    assert.doesNotMatch(r.stdout + r.stderr, /run the same command again/);
    assert.doesNotMatch(r.stdout + r.stderr, /sk-wrong-key-123456/, 'the key is never printed');
    assert.equal(workRequests(emus).length, before, 'no audio sent, no job started');
  });

  it('reports the embedded server with `speech server status` and stops it with `speech server stop`', async () => {
    const status = await speech(['server', 'status', '--json'], { env, cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { serving: boolean; embedded: { pid: number } | null };
    assert.equal(s.serving, true);
    assert.ok(s.embedded);
    const stop = await speech(['server', 'stop'], { env, cwd: dir });
    assert.equal(stop.code, 0);
    const after = await speech(['server', 'status', '--json'], { env, cwd: dir });
    assert.equal(after.code, 2);
    assert.equal((JSON.parse(after.stdout) as { serving: boolean }).serving, false);
  });
});
