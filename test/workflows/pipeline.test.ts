// The whole pipeline on a real Temporal dev server with a real worker: a two-speaker
// recording (two espeak-ng voices, known turn times) through all five stages.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../../src/config';
import { preparePipelineInput, webUiMetadata } from '../../src/client/run-input';
import { identifyInput } from '../../src/client/pipeline-id';
import { sha256File } from '../../src/providers/artifact-store';
import { StateRecordSchema } from '../../src/domain/state-record';
import { EXPORT_FORMATS } from '../../src/domain/stages';
import type { PipelineOptions } from '../../src/domain/options';
import { createWorker } from '../../src/worker';
import type { speechPipeline } from '../../src/workflows';
import { InputFileAttribute, PipelineStageAttribute, progressQuery } from '../../src/workflows/messages';
import { startEmulators, type Emulators } from '../emulators';
import { makeTwoSpeakerRecording, type Recording } from '../helpers/audio';
import { assertSpeakersMatchTurns, pipelineEnv, readMergedJson } from '../helpers/pipeline';
import { quietRuntime, startTestServer, testTmpDir, type TestServer } from '../helpers/temporal';

const OPTIONS: PipelineOptions = { language: 'en', numSpeakers: null, minSpeakers: null, maxSpeakers: null, transcribeModel: 'whisper-1' };

describe('speechPipeline workflow (real Temporal dev server)', function () {
  this.timeout(90_000);
  let server: TestServer;
  let emus: Emulators;
  let config: Config;
  let client: Client;
  let connection: Connection;
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let recording: Recording;
  let audioDir: string;

  before(async () => {
    quietRuntime();
    audioDir = await testTmpDir('speech-wf-audio-');
    [server, emus, recording] = await Promise.all([startTestServer(), startEmulators(), makeTwoSpeakerRecording({ dir: audioDir, name: 'meeting' })]);
    config = loadConfig(pipelineEnv(server, emus));
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    workerConnection = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({ config, connection: workerConnection });
    workerRun = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await workerRun?.catch(() => undefined);
    await workerConnection?.close();
    await connection?.close();
    await emus?.close();
    await server?.stop();
    await rm(audioDir, { recursive: true, force: true });
  });

  it('takes a two-speaker recording through all five stages and attributes each turn to the right speaker', async () => {
    const { input } = await preparePipelineInput(config, recording.path, { options: OPTIONS, formats: [...EXPORT_FORMATS], searchAttributes: true });
    const handle = await client.workflow.start<typeof speechPipeline>('speechPipeline', {
      taskQueue: config.temporal.taskQueue,
      workflowId: input.pipelineId,
      args: [input],
      ...webUiMetadata(input, recording.duration),
    });
    const result = await handle.result();
    assert.equal(result.status, 'completed');
    for (const s of ['audio_conversion', 'diarization', 'transcription', 'merge', 'export'] as const) {
      assert.equal(result.stages[s].status, 'completed', s);
    }

    // Every format was written, named after the recording.
    const files = result.outputs.map((o) => path.basename(o.path)).sort();
    assert.deepEqual(files, ['meeting.docx', 'meeting.json', 'meeting.md', 'meeting.rttm', 'meeting.srt', 'meeting.txt', 'meeting.vtt']);
    for (const o of result.outputs) assert.equal((await sha256File(o.path)).sha256, o.sha256);

    const merged = await readMergedJson(result.outputs.find((o) => o.path.endsWith('.json'))!.path);
    assert.equal(merged.speakers.length, 2);
    assertSpeakersMatchTurns(merged, recording.turns);

    // The RTTM lists turns of both speakers with start and duration.
    const rttm = (await readFile(result.outputs.find((o) => o.path.endsWith('.rttm'))!.path, 'utf8')).trim().split('\n');
    assert.ok(rttm.length >= recording.turns.length);
    assert.match(rttm[0]!, /^SPEAKER meeting 1 \d+\.\d{3} \d+\.\d{3} <NA> <NA> \S+ <NA> <NA>$/);

    // The state record mirrors the run: five checkpoints whose sha256 match the files.
    const record = StateRecordSchema.parse(JSON.parse(await readFile(input.stateRecordPath, 'utf8')));
    assert.equal(record.status, 'completed');
    assert.deepEqual(record.completed_stages, ['audio_conversion', 'diarization', 'transcription', 'merge', 'export']);
    assert.equal(record.checkpoints.length, 5);
    for (const c of record.checkpoints) {
      assert.equal((await sha256File(c.output_file)).sha256, c.sha256, `${c.stage} sha256`);
      assert.ok(c.duration_ms !== null && c.started_at && c.completed_at, `${c.stage} timings`);
    }
    assert.equal(record.workflow_id, input.pipelineId);
    assert.equal(record.run_id, (await handle.describe()).runId);

    // The Web UI can filter by input file and see how the run ended.
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(PipelineStageAttribute), 'completed');
    assert.equal(description.typedSearchAttributes.get(InputFileAttribute), 'meeting.wav');
    assert.equal(await description.staticSummary(), 'meeting.wav — 00:00:21');
    assert.match((await description.staticDetails()) ?? '', /\*\*Input\*\*: .*meeting\.wav/);

    // The progress query answers after the run, from the history.
    const progress = await handle.query(progressQuery);
    assert.equal(progress.percent, 100);
    assert.equal(progress.status, 'completed');

    // Keys live only in the worker's environment: not in the history, the record or any file written.
    const history = JSON.stringify(await handle.fetchHistory());
    const written = [input.stateRecordPath, ...result.outputs.map((o) => o.path), ...record.checkpoints.map((c) => c.output_file).filter((f) => !f.endsWith('.wav'))];
    for (const key of [config.openai.apiKey!, config.pyannote.apiKey!]) {
      assert.ok(!history.includes(key), 'API key found in the workflow history');
      for (const f of written) assert.ok(!(await readFile(f, 'utf8')).includes(key), `API key found in ${f}`);
    }

    // One diarization job and one transcription request for a short file.
    assert.equal(emus.pyannote.requests.filter((r) => r.method === 'POST' && r.path === '/v1/diarize').length, 1);
    assert.equal(emus.openai.requests.filter((r) => r.path === '/v1/audio/transcriptions').length, 1);
  });

  it('transcribes in chunks cut at silences, prompts each chunk with the text before it, and keeps speakers right across seams', async () => {
    const { input } = await preparePipelineInput(config, recording.path, { options: { ...OPTIONS, language: null }, formats: ['json'], searchAttributes: true });
    input.settings = { ...input.settings, chunkMaxSeconds: 6, transcribeConcurrency: 2 };
    const before = emus.openai.requests.length;
    const result = await client.workflow.execute<typeof speechPipeline>('speechPipeline', { taskQueue: config.temporal.taskQueue, workflowId: input.pipelineId, args: [input] });
    const merged = await readMergedJson(result.outputs[0]!.path);
    assertSpeakersMatchTurns(merged, recording.turns);

    const sent = emus.openai.requests.slice(before).filter((r) => r.path === '/v1/audio/transcriptions').sort((a, b) => (a.filename ?? '').localeCompare(b.filename ?? ''));
    assert.ok(sent.length >= 4, `${sent.length} chunks`);
    // Two lanes of contiguous chunks: the first chunk of each lane has no prompt, the others
    // carry the end of the previous chunk's text.
    const lanes = 2;
    const firsts = new Set(Array.from({ length: lanes }, (_, l) => Math.floor((l * sent.length) / lanes)));
    for (let i = 0; i < sent.length; i++) {
      if (firsts.has(i)) {
        assert.equal(sent[i]!.prompt, undefined, `${sent[i]!.filename} should have no prompt`);
        continue;
      }
      const previous = JSON.parse(await readFile(path.join(input.interimDir, 'chunks', sent[i - 1]!.filename!.replace(/\.[a-z0-9]+$/, '.json')), 'utf8')) as { text: string };
      assert.ok(previous.text.length > 0);
      const prompt = sent[i]!.prompt ?? '';
      if (previous.text.trim().length <= 200) assert.equal(prompt, previous.text.trim());
      else assert.ok(prompt.length > 100 && previous.text.trim().endsWith(prompt), `${sent[i]!.filename} prompt is the end of the previous chunk's text`);
    }
    // The plan is part of the run's state record.
    const record = StateRecordSchema.parse(JSON.parse(await readFile(input.stateRecordPath, 'utf8')));
    assert.equal(record.chunks?.total, sent.length);
    const plan = JSON.parse(await readFile(record.chunk_plan!.path, 'utf8')) as { chunks: unknown[] };
    assert.equal(plan.chunks.length, sent.length);
    assert.equal((await sha256File(record.chunk_plan!.path)).sha256, record.chunk_plan!.sha256);

    // The chunks tile the recording: summed audio equals its length.
    const total = sent.reduce((a, r) => a + (r.audioSeconds ?? 0), 0);
    assert.ok(Math.abs(total - recording.duration) < 0.1, `${total} vs ${recording.duration}`);
  });

  it('derives the same pipeline id from the same bytes and options, and a different one otherwise', async () => {
    const elsewhere = path.join(audioDir, 'copy');
    await mkdir(elsewhere, { recursive: true });
    const copy = path.join(elsewhere, 'meeting.wav');
    await copyFile(recording.path, copy);
    const a = await identifyInput(recording.path, OPTIONS);
    const b = await identifyInput(copy, OPTIONS);
    assert.equal(a.pipelineId, b.pipelineId);
    assert.match(a.pipelineId, /^speech-meeting-[0-9a-f]{12}$/);
    const c = await identifyInput(recording.path, { ...OPTIONS, numSpeakers: 2 });
    assert.notEqual(a.pipelineId, c.pipelineId);
  });
});
