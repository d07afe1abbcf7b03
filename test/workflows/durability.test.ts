// Durability with real crashes: workers are child processes killed with SIGKILL inside each
// stage, the dev server is restarted mid-run, runs fail and resume, are cancelled, started
// ten times at once, and queried with the official `temporal` CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { loadConfig, type Config } from '../../src/config';
import { preparePipelineInput } from '../../src/client/run-input';
import { findTemporalCli } from '../../src/client/dev-server';
import { activityRuns, chunksCompleted } from '../../src/client/history';
import type { PipelineOptions } from '../../src/domain/options';
import type { ProgressSnapshot, SpeechPipelineInput } from '../../src/domain/pipeline';
import { EXPORT_FORMATS, type StageName } from '../../src/domain/stages';
import { StateRecordSchema } from '../../src/domain/state-record';
import { sha256File } from '../../src/providers/artifact-store';
import type { SpeechPipelineResult, speechPipeline } from '../../src/workflows';
import { progressQuery } from '../../src/workflows/messages';
import { startEmulators, type Emulators, type OpenAIEmulatorOptions, type PyannoteEmulatorOptions } from '../emulators';
import { MEETING_SENTENCES, distinctCopy, makeTwoSpeakerRecording, type Recording, type TurnSpec } from '../helpers/audio';
import { speech } from '../helpers/cli';
import { pipelineEnv } from '../helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const OPTIONS: PipelineOptions = { language: 'en', numSpeakers: null, minSpeakers: null, maxSpeakers: null, transcribeModel: 'whisper-1' };
const TURNS: TurnSpec[] = MEETING_SENTENCES.map((text, i) => ({ speaker: i % 2 === 0 ? 'A' : 'B', text }));

/** What one crash cost, for the issue note. */
const crashReport: string[] = [];

describe('durability: crashes, restarts, resume, cancel, duplicate starts, query', function () {
  this.timeout(240_000);
  let server: TestServer;
  let emus: Emulators;
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let connection: Connection;
  let client: Client;
  let recording: Recording;
  let dir: string;
  const openaiOpts: OpenAIEmulatorOptions = { latency: { fixedMs: 150, perAudioSecondMs: 60 } };
  const pyannoteOpts: PyannoteEmulatorOptions = { latency: { fixedMs: 2500 } };
  const baseline: Record<string, string> = {};
  const workers: WorkerProcess[] = [];

  const worker = async (extra: Record<string, string> = {}) => {
    const w = await startWorkerProcess({ ...env, ...extra });
    workers.push(w);
    return w;
  };

  before(async () => {
    dir = await testTmpDir('speech-durable-');
    [server, emus, recording] = await Promise.all([
      startTestServer(),
      startEmulators({ openai: openaiOpts, pyannote: pyannoteOpts }),
      makeTwoSpeakerRecording({ dir, name: 'planning', turns: TURNS }),
    ]);
    env = pipelineEnv(server, emus, { CHUNK_MAX_SECONDS: '10', TRANSCRIBE_CONCURRENCY: '2' });
    config = loadConfig(env);
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });

    // The uninterrupted run every crash run is compared with.
    const w = await worker();
    const { handle } = await start('baseline');
    const result = await handle.result();
    for (const o of result.outputs) baseline[String(o.metadata?.format)] = o.sha256;
    assert.equal(Object.keys(baseline).length, EXPORT_FORMATS.length);
    await w.stop();
  });

  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) await w.kill();
    await connection?.close();
    await emus?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    if (crashReport.length > 0) console.log(`\n    Crash cost (work repeated, resume time):\n${crashReport.map((l) => `      ${l}`).join('\n')}\n`);
  });

  /** Starts the pipeline for the shared recording under its own id and folders. */
  async function start(tag: string, settings: Partial<SpeechPipelineInput['settings']> = {}): Promise<{ handle: WorkflowHandle<typeof speechPipeline>; workflowId: string }> {
    const { input } = await preparePipelineInput(config, recording.path, { options: OPTIONS, formats: [...EXPORT_FORMATS], searchAttributes: true });
    const workflowId = `${input.pipelineId}-${tag}`;
    const base = path.join(server.dataDir, 'runs', tag);
    Object.assign(input, {
      pipelineId: workflowId,
      interimDir: path.join(base, 'interim'),
      outputDir: path.join(base, 'output'),
      stateRecordPath: path.join(server.dataDir, 'checkpoints', `${workflowId}_state.json`),
      settings: { ...input.settings, ...settings },
      // Each case pays for its own work: the stage cache would hand every case the baseline's
      // results (same recording, same options) and there would be nothing left to crash in.
      reuseCached: false,
    });
    const handle = await client.workflow.start<typeof speechPipeline>('speechPipeline', { taskQueue: config.temporal.taskQueue, workflowId, args: [input] });
    return { handle, workflowId };
  }

  async function waitFor(handle: WorkflowHandle, ready: (p: ProgressSnapshot) => boolean, what: string, timeoutMs = 60_000): Promise<ProgressSnapshot> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const p = await handle.query(progressQuery).catch(() => null);
      if (p && ready(p)) return p;
      if (p && p.status !== 'running') throw new Error(`run ended (${p.status}) before ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async function assertExportsMatchBaseline(result: SpeechPipelineResult): Promise<void> {
    for (const o of result.outputs) {
      assert.equal((await sha256File(o.path)).sha256, baseline[String(o.metadata?.format)], `${path.basename(o.path)} differs from the uninterrupted run`);
    }
  }

  /** Chunk indexes whose transcribeChunk activity had completed in the history before `t`. */
  async function chunksCompletedBefore(handle: WorkflowHandle, t: number): Promise<Set<number>> {
    return chunksCompleted(await handle.fetchHistory(), t);
  }

  const stageCases: { stage: StageName; delays?: string; ready: (p: ProgressSnapshot) => boolean }[] = [
    { stage: 'audio_conversion', delays: 'convertAudio:4000', ready: (p) => p.stages.audio_conversion.status === 'running' },
    { stage: 'diarization', ready: (p) => p.stages.diarization.status === 'running' },
    { stage: 'transcription', ready: (p) => p.chunks.done >= 1 && p.chunks.done < p.chunks.total - 1 },
    { stage: 'merge', delays: 'mergeTranscript:4000', ready: (p) => p.stages.merge.status === 'running' },
    { stage: 'export', delays: 'exportTranscript:4000', ready: (p) => p.stages.export.status === 'running' },
  ];

  for (const c of stageCases) {
    it(`SIGKILL of the worker during ${c.stage}: a new worker completes the run with identical exports and no repeated paid work`, async () => {
      const o0 = emus.openai.requests.length;
      const p0 = emus.pyannote.requests.length;
      const jobs0 = emus.pyannote.jobs.size;
      const w1 = await worker(c.delays ? { FAULT_ACTIVITY_DELAYS: c.delays } : {});
      const { handle } = await start(`crash-${c.stage}`);
      await waitFor(handle, (p) => c.ready(p) && (c.stage !== 'diarization' || emus.pyannote.jobs.size > jobs0), `${c.stage} to run`);
      // Inside the activity, not just scheduled.
      await new Promise((r) => setTimeout(r, 500));
      await w1.kill();
      const killedAt = Date.now();

      const w2 = await worker();
      const result = await handle.result();
      const resumeMs = Date.now() - killedAt;
      await w2.stop();
      assert.equal(result.status, 'completed');
      await assertExportsMatchBaseline(result);

      const diarizeJobs = emus.pyannote.requests.slice(p0).filter((r) => r.method === 'POST' && r.path === '/v1/diarize');
      assert.equal(diarizeJobs.length, 1, 'exactly one (paid) diarization job');
      const uploads = emus.pyannote.requests.slice(p0).filter((r) => r.method === 'PUT').length;

      const sent = emus.openai.requests.slice(o0).filter((r) => r.path === '/v1/audio/transcriptions');
      const perChunk = new Map<string, typeof sent>();
      // By chunk, whatever format it was sent in (chunk-0003.ogg is chunk 3).
      const chunkOf = (name: string | undefined) => (name ?? '?').replace(/\.[a-z0-9]+$/, '');
      for (const r of sent) perChunk.set(chunkOf(r.filename), [...(perChunk.get(chunkOf(r.filename)) ?? []), r]);
      const completedBeforeKill = await chunksCompletedBefore(handle, killedAt);
      for (const idx of completedBeforeKill) {
        const name = `chunk-${String(idx).padStart(4, '0')}`;
        assert.equal(perChunk.get(name)?.length, 1, `${name} had completed before the crash and must not be sent again`);
      }
      const repeated = [...perChunk.values()].filter((rs) => rs.length > 1);
      const repeatedSeconds = repeated.reduce((s, rs) => s + rs.slice(1).reduce((a, r) => a + (r.audioSeconds ?? 0), 0), 0);
      const totalSeconds = sent.reduce((a, r) => a + (r.audioSeconds ?? 0), 0);
      // Transcription runs beside diarization: a crash then may repeat chunks that were in flight, never finished ones.
      if (c.stage !== 'transcription' && c.stage !== 'diarization') assert.equal(repeated.length, 0, 'no transcription request repeated');
      crashReport.push(
        `${c.stage.padEnd(16)} transcription requests ${sent.length} (${repeated.length} repeated, ${repeatedSeconds.toFixed(1)} of ${totalSeconds.toFixed(1)} audio s re-sent), diarization jobs ${diarizeJobs.length}, uploads ${uploads}, resume ${(resumeMs / 1000).toFixed(1)} s after the kill`,
      );
    });
  }

  it('survives a restart of the Temporal dev server in the middle of a run', async () => {
    const w = await worker();
    const { handle } = await start('server-restart');
    await waitFor(handle, (p) => p.stages.transcription.status === 'running', 'transcription to run');
    await server.restart();
    const result = await handle.result();
    assert.equal(result.status, 'completed');
    await assertExportsMatchBaseline(result);
    await w.stop();
  });

  it('resumes at transcription after a run failed on a refused key: conversion and diarization are not repeated', async () => {
    const file = path.join(dir, 'planning-401.wav');
    await distinctCopy(recording.path, file, 1);
    const w = await worker();
    emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 401, times: -1 });
    const failed = await speech(['run', file, '--no-worker', '--json'], { env });
    emus.openai.faults.clear();
    assert.equal(failed.code, 2, failed.stdout + failed.stderr);
    const first = (JSON.parse(failed.stdout) as { runs: { pipeline_id: string; error: { type: string } }[] }).runs[0]!;
    assert.equal(first.error.type, 'ProviderAuth');
    const id = first.pipeline_id;
    const recordPath = path.join(server.dataDir, 'checkpoints', `${id}_state.json`);
    const failedRecord = StateRecordSchema.parse(JSON.parse(await readFile(recordPath, 'utf8')));
    assert.equal(failedRecord.status, 'failed');
    assert.deepEqual(failedRecord.completed_stages, ['audio_conversion', 'diarization']);

    const p0 = emus.pyannote.requests.length;
    const resumed = await speech(['run', file, '--no-worker', '--json'], { env });
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    const run = (JSON.parse(resumed.stdout) as { runs: { mode: string; status: string }[] }).runs[0]!;
    assert.equal(run.mode, 'resumed');
    assert.equal(emus.pyannote.requests.length, p0, 'no call to pyannote.ai on resume');
    const record = StateRecordSchema.parse(JSON.parse(await readFile(recordPath, 'utf8')));
    assert.equal(record.status, 'completed');
    const reused = Object.fromEntries(record.checkpoints.map((c) => [c.stage, c.reused]));
    assert.deepEqual(reused, { audio_conversion: true, diarization: true, transcription: false, merge: false, export: false });
    // The new run's history has no conversion or diarization activity at all.
    const activities = activityRuns(await client.workflow.getHandle(id).fetchHistory()).map((a) => a.type);
    assert.ok(!activities.includes('convertAudio') && !activities.includes('diarizeAudio'), activities.join(','));
    await w.stop();
  });

  it('runs a stage again when its recorded artifact was corrupted, instead of trusting it', async () => {
    const file = path.join(dir, 'planning-corrupt.wav');
    await distinctCopy(recording.path, file, 2);
    const w = await worker();
    try {
      emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 401, times: -1 });
      const failed = await speech(['run', file, '--no-worker', '--json'], { env });
      emus.openai.faults.clear();
      assert.equal(failed.code, 2, failed.stdout + failed.stderr);
      const id = (JSON.parse(failed.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
      const converted = path.join(server.dataDir, 'interim', id, 'converted.wav');
      const bytes = await readFile(converted);
      bytes[bytes.length - 1000] = bytes[bytes.length - 1000]! ^ 0xff;
      await writeFile(converted, bytes);
      const jobs0 = emus.pyannote.jobs.size;

      const resumed = await speech(['run', file, '--no-worker', '--json'], { env });
      assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      const record = StateRecordSchema.parse(JSON.parse(await readFile(path.join(server.dataDir, 'checkpoints', `${id}_state.json`), 'utf8')));
      const reused = Object.fromEntries(record.checkpoints.map((c) => [c.stage, c.reused]));
      // Diarization was computed from the damaged file, so it is redone too; conversion is
      // deterministic, so the redone audio matches the job already paid for and no new job starts.
      assert.deepEqual(reused, { audio_conversion: false, diarization: false, transcription: false, merge: false, export: false });
      assert.equal(emus.pyannote.jobs.size, jobs0, 'the existing diarization job was polled again, not paid for twice');
      assert.equal((await sha256File(converted)).sha256, record.checkpoints[0]!.sha256);
    } finally {
      emus.openai.faults.clear();
      await w.stop();
    }
  });

  it('cancels during transcription: run cancelled, nothing left running, and a later run reuses the finished stages', async () => {
    const file = path.join(dir, 'planning-cancel.wav');
    await distinctCopy(recording.path, file, 3);
    const slow = openaiOpts.latency;
    openaiOpts.latency = { fixedMs: 1500, perAudioSecondMs: 200 };
    const w = await worker();
    try {
      const started = await speech(['run', file, '--no-wait', '--no-worker', '--json'], { env });
      assert.equal(started.code, 0, started.stderr);
      const id = (JSON.parse(started.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
      const handle = client.workflow.getHandle(id);
      await waitFor(handle, (p) => p.stages.transcription.status === 'running' && p.chunks.inFlight.length > 0 && emus.openai.inFlight > 0, 'a chunk request in flight');
      const cancelled = await speech(['cancel', id, '--json'], { env });
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal((JSON.parse(cancelled.stdout) as { temporal_status: string }).temporal_status, 'CANCELLED');
      // In-flight provider calls are aborted, not left to run out.
      const deadline = Date.now() + 10_000;
      while (emus.openai.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(emus.openai.inFlight, 0, 'no transcription request left open');
      const ffmpegs = spawnSync('pgrep', ['-f', `ffmpeg.*${id}`], { encoding: 'utf8' }).stdout.trim();
      assert.equal(ffmpegs, '', 'no ffmpeg left running');
      const recordPath = path.join(server.dataDir, 'checkpoints', `${id}_state.json`);
      let record = StateRecordSchema.parse(JSON.parse(await readFile(recordPath, 'utf8')));
      assert.equal(record.status, 'cancelled');
      assert.ok(record.completed_stages.includes('audio_conversion'));

      openaiOpts.latency = slow;
      const again = await speech(['run', file, '--no-worker', '--json'], { env });
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal((JSON.parse(again.stdout) as { runs: { mode: string }[] }).runs[0]!.mode, 'resumed');
      record = StateRecordSchema.parse(JSON.parse(await readFile(recordPath, 'utf8')));
      assert.equal(record.status, 'completed');
      assert.equal(record.checkpoints.find((c) => c.stage === 'audio_conversion')?.reused, true);
      // The diarization job submitted before the cancel is reused, never paid for twice.
      const jobs = [...emus.pyannote.jobs.values()].filter((j) => j.request.url.includes(id));
      assert.equal(jobs.length, 1, 'one diarization job for this file');
    } finally {
      openaiOpts.latency = slow;
      await w.stop();
    }
  });

  it('retries a 429 after its Retry-After and 5xx with backoff, and `speech status` shows the retrying activity', async () => {
    const w = await worker();
    try {
      const o0 = emus.openai.requests.length;
      emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 429, retryAfterSeconds: 3, times: 1 });
      emus.openai.faults.add({ endpoint: 'transcriptions', kind: 'status', status: 503, times: -1, afterRequests: 1 });
      // One chunk at a time, so the requests of the first chunk come in order.
      const { handle, workflowId } = await start('retries', { transcribeConcurrency: 1 });
      const deadline = Date.now() + 30_000;
      let status: { retrying: { activity: string; attempt: number; last_failure: string }[] } | null = null;
      while (Date.now() < deadline) {
        const r = await speech(['status', workflowId, '--json'], { env });
        status = JSON.parse(r.stdout) as typeof status;
        if (status!.retrying.some((a) => /503/.test(a.last_failure))) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      const retrying = status!.retrying.find((a) => /503/.test(a.last_failure));
      assert.ok(retrying, JSON.stringify(status));
      assert.equal(retrying.activity, 'transcribeChunk');
      assert.ok(retrying.attempt >= 2);
      emus.openai.faults.clear();
      const result = await handle.result();
      await assertExportsMatchBaseline(result);
      // The first chunk: refused with 429, tried again no sooner than Retry-After said, then 503.
      const sent = emus.openai.requests.slice(o0).filter((r) => r.path === '/v1/audio/transcriptions');
      assert.deepEqual(sent.slice(0, 2).map((r) => r.status), [429, 503]);
      const waited = Date.parse(sent[1]!.at) - Date.parse(sent[0]!.at);
      assert.ok(waited >= 2900, `retried after ${waited} ms`);
    } finally {
      emus.openai.faults.clear();
      await w.stop();
    }
  });

  it('drains on SIGTERM (the running activity finishes, not retried) and exits at once on a second signal', async () => {
    const w1 = await worker({ FAULT_ACTIVITY_DELAYS: 'mergeTranscript:2500' });
    const { handle } = await start('drain');
    await waitFor(handle, (p) => p.stages.merge.status === 'running', 'merge to run');
    await new Promise((r) => setTimeout(r, 300));
    w1.child.kill('SIGTERM');
    assert.equal(await w1.exited, 0, w1.output());
    const merges = activityRuns(await handle.fetchHistory()).filter((a) => a.type === 'mergeTranscript');
    const mergeCompleted = merges.some((a) => a.outcome === 'completed');
    const mergeStarts = merges.reduce((n, a) => n + (a.startedMs !== null ? a.attempt : 0), 0);
    assert.ok(mergeCompleted, 'the activity running at SIGTERM completed during the drain');
    assert.equal(mergeStarts, 1, 'and was not retried');

    const w2 = await worker({ FAULT_ACTIVITY_DELAYS: 'exportTranscript:20000' });
    await waitFor(handle, (p) => p.stages.export.status === 'running', 'export to run');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    w2.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    w2.child.kill('SIGTERM');
    assert.equal(await w2.exited, 130);
    assert.ok(Date.now() - t0 < 5000, 'the second signal does not wait for the grace period');
    const w3 = await worker();
    await assertExportsMatchBaseline(await handle.result());
    await w3.stop();
  });

  it('ten concurrent `speech run` of one file make one workflow execution', async () => {
    const file = path.join(dir, 'planning-ten.wav');
    await distinctCopy(recording.path, file, 4);
    const runs = await Promise.all(Array.from({ length: 10 }, () => speech(['run', file, '--no-wait', '--no-worker', '--json'], { env })));
    const ids = new Set<string>();
    const runIds = new Set<string>();
    for (const r of runs) {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const o = (JSON.parse(r.stdout) as { runs: { pipeline_id: string; run_id: string }[] }).runs[0]!;
      ids.add(o.pipeline_id);
      runIds.add(o.run_id);
    }
    assert.equal(ids.size, 1);
    assert.equal(runIds.size, 1, 'every start attached to the same run');
    const id = [...ids][0]!;
    let count = 0;
    for await (const _ of client.workflow.list({ query: `WorkflowId = '${id}'` })) count += 1;
    assert.equal(count, 1);
    await client.workflow.getHandle(id).terminate('test done');
  });

  it('answers the progress query through the official `temporal` CLI', async () => {
    const w = await worker({ FAULT_ACTIVITY_DELAYS: 'mergeTranscript:3000' });
    const { handle, workflowId } = await start('query');
    await waitFor(handle, (p) => p.stages.merge.status === 'running', 'merge to run');
    const r = spawnSync(findTemporalCli(process.env.TEMPORAL_CLI_PATH), ['workflow', 'query', '--address', server.address, '--workflow-id', workflowId, '--type', 'progress', '--output', 'json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const body = JSON.parse(r.stdout) as { queryResult?: ProgressSnapshot[] } | ProgressSnapshot[];
    const progress = Array.isArray(body) ? body[0]! : body.queryResult![0]!;
    assert.equal(progress.pipelineId, workflowId);
    assert.equal(progress.stages.merge.status, 'running');
    assert.equal(progress.stages.transcription.status, 'completed');
    assert.ok(progress.percent >= 85 && progress.percent < 100, String(progress.percent));
    await handle.result();
    await w.stop();
  });
});
