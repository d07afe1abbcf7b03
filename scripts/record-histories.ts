// `npm run record-histories [-- --label NAME]`: records the Temporal event histories of the
// current workflow code in every situation a run can be in when an upgrade lands, and writes
// them to test/fixtures/histories/<label>/ (label: the short commit id). The replay test
// replays every history in that folder against the current code, so the folder is the
// product's compatibility promise: a run started by any recorded release finishes on this one.
//
// Everything is real: a `temporal server start-dev`, `speech worker` processes (one is killed
// with SIGKILL), the `speech` CLI for the failed and resumed runs, and the provider emulators.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { loadConfig } from '../src/config';
import { preparePipelineInput } from '../src/client/run-input';
import { findTemporalCli } from '../src/client/dev-server';
import { priorResults, workflowInput } from '../src/client/history';
import type { PipelineOptions } from '../src/domain/options';
import type { ProgressSnapshot } from '../src/domain/pipeline';
import { EXPORT_FORMATS } from '../src/domain/stages';
import { progressQuery } from '../src/workflows/messages';
import { startEmulators } from '../test/emulators';
import { DEFAULT_TURNS, MEETING_SENTENCES, makeTwoSpeakerRecording } from '../test/helpers/audio';
import { speech } from '../test/helpers/cli';
import { pipelineEnv } from '../test/helpers/pipeline';
import { quietRuntime, startTestServer, testTmpDir } from '../test/helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process';

const ROOT = path.resolve(__dirname, '..');
const OPTIONS: PipelineOptions = { language: 'en', numSpeakers: null, minSpeakers: null, maxSpeakers: null, transcribeModel: 'whisper-1' };

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src/workflows', 'src/domain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  const label = argValue('--label') ?? commit.slice(0, 7);
  const outDir = path.join(ROOT, 'test', 'fixtures', 'histories', label);
  quietRuntime();

  const dir = await testTmpDir('speech-record-');
  const [server, emus, short, meeting] = await Promise.all([
    startTestServer(),
    startEmulators({ openai: { latency: { fixedMs: 150, perAudioSecondMs: 40 } }, pyannote: { latency: { fixedMs: 1500 } } }),
    makeTwoSpeakerRecording({ dir, name: 'short', turns: [...DEFAULT_TURNS] }),
    makeTwoSpeakerRecording({ dir, name: 'meeting', turns: MEETING_SENTENCES.map((text, i) => ({ speaker: i % 2 === 0 ? 'A' : 'B', text })) }),
  ]);
  const env = pipelineEnv(server, emus, { CHUNK_MAX_SECONDS: '8', TRANSCRIBE_CONCURRENCY: '2' });
  const config = loadConfig(env);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const workers: WorkerProcess[] = [];
  const worker = async (extra: Record<string, string> = {}) => {
    const w = await startWorkerProcess({ ...env, ...extra });
    workers.push(w);
    return w;
  };
  const recorded: { name: string; what: string; workflowId: string; events: number; status: string }[] = [];

  const save = async (name: string, what: string, handle: WorkflowHandle) => {
    const history = await handle.fetchHistory();
    const d = await handle.describe();
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, `${name}.json`), `${historyToJSON(history)}\n`);
    recorded.push({ name, what, workflowId: handle.workflowId, events: history.events?.length ?? 0, status: d.status.name });
    console.log(`  ${name.padEnd(30)} ${d.status.name.padEnd(10)} ${String(history.events?.length ?? 0).padStart(4)} events  ${what}`);
  };

  /** Starts a run from the workflow input the CLI would build, under its own folders. */
  const start = async (file: string, tag: string, chunkMaxSeconds?: number) => {
    const { input } = await preparePipelineInput(config, file, { options: OPTIONS, formats: [...EXPORT_FORMATS], searchAttributes: true });
    const workflowId = `${input.pipelineId}-${tag}`;
    const base = path.join(server.dataDir, 'runs', tag);
    Object.assign(input, {
      pipelineId: workflowId,
      interimDir: path.join(base, 'interim'),
      outputDir: path.join(base, 'output'),
      stateRecordPath: path.join(server.dataDir, 'checkpoints', `${workflowId}_state.json`),
      settings: { ...input.settings, ...(chunkMaxSeconds ? { chunkMaxSeconds } : {}) },
    });
    return client.workflow.start('speechPipeline', { taskQueue: config.temporal.taskQueue, workflowId, args: [input] });
  };
  const waitFor = async (handle: WorkflowHandle, ready: (p: ProgressSnapshot) => boolean, what: string) => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const p = await handle.query(progressQuery).catch(() => null);
      if (p && ready(p)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const cliRun = async (file: string, expectCode: number, extra: string[] = []) => {
    const r = await speech(['run', file, '--no-worker', '--json', ...extra], { env, timeoutMs: 180_000 });
    if (r.code !== expectCode) throw new Error(`speech run ${file} exited ${r.code}, expected ${expectCode}\n${r.stdout}\n${r.stderr}`);
    return (JSON.parse(r.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
  };

  console.log(`Recording workflow histories of ${commit}${dirty ? ' (with uncommitted changes to workflow or domain code)' : ''} into ${path.relative(ROOT, outDir)}/`);
  try {
    await rm(outDir, { recursive: true, force: true });
    let w = await worker();

    // 1. A short run that completes in one chunk.
    let h = await start(short.path, 'short', 600);
    await h.result();
    await save('short-completed', 'short file, one transcription chunk, completed', h);

    // 2. A chunked run.
    h = await start(meeting.path, 'chunked');
    await h.result();
    const chunks = (await h.query(progressQuery)).chunks.total;
    if (chunks < 4) throw new Error(`the chunked run has ${chunks} chunks; expected at least 4`);
    await save('chunked-completed', `${chunks} transcription chunks over 2 lanes, completed`, h);

    // 3. The worker killed with SIGKILL mid-transcription; a new worker finishes the run.
    h = await start(meeting.path, 'killed');
    await waitFor(h, (p) => p.chunks.done >= 1 && p.chunks.done < p.chunks.total - 1, 'a transcribed chunk');
    await new Promise((r) => setTimeout(r, 300));
    await w.kill();
    w = await worker();
    await h.result();
    await save('worker-killed-mid-transcription', 'worker SIGKILLed while chunks were in flight, finished by another worker (retried attempts)', h);

    // 4. Cancelled while chunk requests are in flight, after some chunks finished; then resumed
    // the way `speech run` resumes it: the finished chunks are reused.
    emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'delay', ms: 1500, times: -1 });
    h = await start(meeting.path, 'cancelled');
    await waitFor(h, (p) => p.chunks.done >= 1 && p.chunks.inFlight.length > 0, 'a finished chunk and one in flight');
    await new Promise((r) => setTimeout(r, 300));
    await h.cancel();
    await h.result().catch(() => undefined);
    emus.openai.faults.clear();
    await save('cancelled-mid-transcription', 'cancelled while transcription requests were in flight', h);
    const cancelledHistory = await h.fetchHistory();
    const cancelledRunId = (await h.describe()).runId;
    const resumedInput = { ...workflowInput(cancelledHistory)!, priorResults: priorResults(cancelledHistory), resumedFrom: cancelledRunId };
    const resumed = await client.workflow.start('speechPipeline', { taskQueue: config.temporal.taskQueue, workflowId: h.workflowId, args: [resumedInput] });
    await resumed.result();
    await save('resumed-after-cancel', 'the cancelled run resumed: conversion, diarization and the finished chunks reused', resumed);

    // 5 and 6. Failed on a refused transcription key through the CLI, then resumed by it.
    const refusedFile = path.join(dir, 'refused.wav');
    await copyFile(meeting.path, refusedFile);
    emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 401, times: -1 });
    const refusedId = await cliRun(refusedFile, 2);
    emus.openai.faults.clear();
    const failedRunId = (await client.workflow.getHandle(refusedId).describe()).runId;
    await save('failed-refused-key', '`speech run` failed by a 401 from the transcription provider', client.workflow.getHandle(refusedId, failedRunId));
    await cliRun(refusedFile, 0);
    await save('resumed-after-failure', '`speech run` again: conversion and diarization reused from the failed run', client.workflow.getHandle(refusedId));

    // 7. A completed run asked for again into another folder (a re-render) after its stored
    // merge result was lost: the re-render cannot be served from the merge result, so the run
    // starts again under its id, reusing every intact stage. (A re-render of an intact
    // completed run starts no workflow at all.)
    const rerunFile = path.join(dir, 'rerun.wav');
    await copyFile(short.path, rerunFile);
    const rerunId = await cliRun(rerunFile, 0);
    await rm(path.join(server.dataDir, 'interim', rerunId, 'merged.json'));
    await cliRun(rerunFile, 0, ['--out', path.join(dir, 'rerendered'), '--formats', 'srt,vtt']);
    await save('completed-rerendered-merge-lost', 'a completed run re-rendered into another folder after merged.json was lost: earlier stages reused, merge and export run again', client.workflow.getHandle(rerunId));

    await w.stop();
    const manifest = { commit, dirty, recordedAt: new Date().toISOString(), temporalCli: execFileSync(findTemporalCli(config.temporal.cliPath), ['--version'], { encoding: 'utf8' }).trim(), histories: recorded };
    await writeFile(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const files = (await readdir(outDir)).filter((f) => f.endsWith('.json') && f !== 'manifest.json');
    console.log(`Wrote ${files.length} histories and manifest.json.`);
  } finally {
    for (const wp of workers) if (wp.child.exitCode === null) await wp.kill();
    await connection.close();
    await emus.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
