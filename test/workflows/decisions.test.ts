// The workflow's decisions, fast: a real dev server and worker, with the activities replaced
// by mocks typed as `Activities`. The reuse graph, a branch that fails while the other
// finishes, and cancellation inside every stage.
import assert from 'node:assert/strict';
import { heartbeat, sleep as activitySleep, Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { isCancellation } from '@temporalio/workflow';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import type { PipelineState, PriorResults, SpeechPipelineInput } from '../../src/domain/pipeline';
import { STAGES, type StageName } from '../../src/domain/stages';
import type { ArtifactRef } from '../../src/domain/types';
import type { speechPipeline } from '../../src/workflows';
import { currentWorkflowBundle } from '../helpers/replay';
import { quietRuntime, startTestServer, until, type TestServer } from '../helpers/temporal';

const ref = (name: string, metadata: ArtifactRef['metadata'] = {}): ArtifactRef => ({ path: `/mock/${name}`, sha256: name.padEnd(64, '0').slice(0, 64), bytes: 10, metadata });
const CHUNKS = [0, 1, 2, 3].map((i) => ({ index: i, start: i * 10, end: (i + 1) * 10 }));

function pipelineInput(id: string, priorResults?: PriorResults): SpeechPipelineInput {
  return {
    pipelineId: id,
    inputFile: '/mock/meeting.wav',
    inputSha256: 'f'.repeat(64),
    inputBytes: 1000,
    options: { language: 'en', numSpeakers: null, minSpeakers: null, maxSpeakers: null, transcribeModel: 'whisper-1' },
    formats: ['json', 'srt'],
    interimDir: '/mock/interim',
    outputDir: '/mock/output',
    stateRecordPath: '/mock/state.json',
    settings: { chunkMaxSeconds: 10, transcribeConcurrency: 2, heartbeatTimeoutSeconds: 2 },
    ...(priorResults ? { priorResults } : {}),
  };
}

/** Mock activities that record their calls; `overrides` replace single activities. */
function mockActivities(overrides: Partial<Activities> = {}) {
  const calls: string[] = [];
  const records: PipelineState[] = [];
  const track = <K extends keyof Activities>(name: K, fn: Activities[K]): Activities[K] =>
    (async (...args: unknown[]) => {
      calls.push(name);
      return (fn as (...a: unknown[]) => Promise<unknown>)(...args);
    }) as Activities[K];
  const base: Activities = {
    convertAudio: async () => ref('converted', { duration_s: 40 }),
    diarizeAudio: async () => ref('diarization'),
    planTranscription: async () => ({ ref: ref('plan'), chunks: CHUNKS }),
    transcribeChunk: async (i) => ref(`chunk-${i.chunk.index}`, { chunk: i.chunk.index, start: i.chunk.start, end: i.chunk.end }),
    assembleTranscript: async () => ref('transcript'),
    mergeTranscript: async () => ref('merged'),
    exportTranscript: async (i) => i.formats.map((f) => ref(`out.${f}`, { format: f })),
    recordState: async (i) => {
      records.push(i.state);
    },
    verifyArtifacts: async (refs) => Object.fromEntries(Object.keys(refs).map((k) => [k, { ok: true }])),
  };
  const merged = { ...base, ...overrides };
  const activities = Object.fromEntries(Object.entries(merged).map(([k, fn]) => [k, track(k as keyof Activities, fn as never)])) as unknown as Activities;
  return { activities, calls, records, count: (name: keyof Activities) => calls.filter((c) => c === name).length };
}

/** Holds inside the activity, heartbeating, until the run is cancelled. */
async function holdUntilCancelled(entered: () => void): Promise<never> {
  entered();
  for (;;) {
    heartbeat();
    await activitySleep(100);
    if (Context.current().cancellationSignal.aborted) throw new Error('unreachable');
  }
}

describe('speechPipeline decisions (mocked activities on a real dev server)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let connection: Connection;
  let client: Client;
  let nc: NativeConnection;
  let queue = 0;

  before(async () => {
    quietRuntime();
    [server] = await Promise.all([startTestServer(), currentWorkflowBundle()]);
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    nc = await NativeConnection.connect({ address: server.address });
  });

  after(async () => {
    await nc?.close();
    await connection?.close();
    await server?.stop();
  });

  /** Runs one pipeline on its own task queue with the given mocks; returns the result or the failure. */
  async function runWith(mock: ReturnType<typeof mockActivities>, input: SpeechPipelineInput, during?: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>) {
    const taskQueue = `decisions-${++queue}`;
    const worker = await Worker.create({ connection: nc, taskQueue, workflowBundle: await currentWorkflowBundle(), activities: mock.activities });
    return worker.runUntil(async () => {
      const handle = await client.workflow.start<typeof speechPipeline>('speechPipeline', { taskQueue, workflowId: `${input.pipelineId}-${queue}`, args: [input] });
      if (during) await during(handle);
      try {
        return { result: await handle.result(), error: null };
      } catch (err) {
        return { result: null, error: err as Error };
      }
    });
  }

  describe('reuse graph', () => {
    const prior: PriorResults = {
      audio_conversion: ref('converted', { duration_s: 40 }),
      diarization: ref('diarization'),
      transcription: ref('transcript'),
      merge: ref('merged'),
      transcriptionChunks: Object.fromEntries(CHUNKS.map((c) => [c.index, ref(`chunk-${c.index}`, { chunk: c.index, start: c.start, end: c.end })])),
    };
    const cases: { broken: string[]; computed: (keyof Activities)[]; reused: StageName[]; reconvertedDiffers?: boolean }[] = [
      { broken: [], computed: ['exportTranscript'], reused: ['audio_conversion', 'diarization', 'transcription', 'merge'] },
      // Converted again to the same bytes: the finished chunks were cut from this audio.
      { broken: ['audio_conversion'], computed: ['convertAudio', 'diarizeAudio', 'planTranscription', 'assembleTranscript', 'mergeTranscript', 'exportTranscript'], reused: [] },
      // Converted again to other bytes: every chunk is transcribed again.
      { broken: ['audio_conversion'], reconvertedDiffers: true, computed: ['convertAudio', 'diarizeAudio', 'planTranscription', 'transcribeChunk', 'assembleTranscript', 'mergeTranscript', 'exportTranscript'], reused: [] },
      { broken: ['diarization'], computed: ['diarizeAudio', 'mergeTranscript', 'exportTranscript'], reused: ['audio_conversion', 'transcription'] },
      { broken: ['transcription'], computed: ['planTranscription', 'assembleTranscript', 'mergeTranscript', 'exportTranscript'], reused: ['audio_conversion', 'diarization'] },
      { broken: ['merge'], computed: ['mergeTranscript', 'exportTranscript'], reused: ['audio_conversion', 'diarization', 'transcription'] },
    ];
    for (const c of cases) {
      it(`with ${c.broken.length ? c.broken.join(', ') + ' damaged' : 'everything intact'}${c.reconvertedDiffers ? ' and converted to other bytes' : ''}: computes ${c.computed.join(', ')}`, async () => {
        const mock = mockActivities({
          ...(c.reconvertedDiffers ? { convertAudio: async () => ref('reconverted', { duration_s: 40 }) } : {}),
          verifyArtifacts: async (refs) => Object.fromEntries(Object.keys(refs).map((k) => [k, c.broken.includes(k) ? { ok: false as const, problem: 'corrupt' as const, detail: 'sha256 differs' } : { ok: true as const }])),
        });
        const { result, error } = await runWith(mock, pipelineInput('reuse', prior));
        assert.equal(error, null);
        const computed = [...new Set(mock.calls.filter((n) => n !== 'recordState' && n !== 'verifyArtifacts'))];
        assert.deepEqual(computed, c.computed);
        const reused = STAGES.filter((s) => result!.stages[s].reused);
        assert.deepEqual(reused, c.reused);
        // Chunks finished earlier are reused when transcription itself is redone from the same audio.
        assert.equal(mock.count('transcribeChunk'), c.computed.includes('transcribeChunk') ? CHUNKS.length : 0);
      });
    }
  });

  it('a failing diarization fails the run, but transcription is left to finish and its chunks are kept', async () => {
    const mock = mockActivities({
      diarizeAudio: async () => {
        throw ApplicationFailure.create({ type: 'ProviderAuth', message: 'pyannote.ai rejected the API key (401)', nonRetryable: true });
      },
      transcribeChunk: async (i) => {
        await activitySleep(300);
        return ref(`chunk-${i.chunk.index}`, { chunk: i.chunk.index, start: i.chunk.start, end: i.chunk.end });
      },
    });
    const { error } = await runWith(mock, pipelineInput('branch'));
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause as ApplicationFailure;
    assert.equal(cause.type, 'ProviderAuth');
    assert.match(cause.message, /rejected the API key/);
    assert.ok(cause.cause, 'the run keeps the failure it ended with as its cause');
    assert.equal(mock.count('transcribeChunk'), CHUNKS.length);
    assert.equal(mock.count('assembleTranscript'), 1);
    assert.equal(mock.count('mergeTranscript'), 0);
    const last = mock.records.at(-1)!;
    assert.equal(last.status, 'failed');
    assert.equal(last.stages.diarization.status, 'failed');
    assert.equal(last.stages.transcription.status, 'completed');
  });

  const blocking: { stage: StageName; activity: keyof Activities }[] = [
    { stage: 'audio_conversion', activity: 'convertAudio' },
    { stage: 'diarization', activity: 'diarizeAudio' },
    { stage: 'transcription', activity: 'transcribeChunk' },
    { stage: 'merge', activity: 'mergeTranscript' },
    { stage: 'export', activity: 'exportTranscript' },
  ];
  for (const b of blocking) {
    it(`cancelled during ${b.stage}: the run ends cancelled, the stage says so, and the state record is written`, async () => {
      let entered = false;
      const mock = mockActivities({ [b.activity]: () => holdUntilCancelled(() => (entered = true)) });
      const { error } = await runWith(mock, pipelineInput(`cancel-${b.stage}`), async (handle) => {
        await until(() => entered, 20_000, `${b.activity} to run`);
        await handle.cancel();
      });
      assert.ok(error instanceof WorkflowFailedError, String(error));
      assert.ok(isCancellation(error.cause), `ended with ${error.cause?.name}`);
      const last = mock.records.at(-1)!;
      assert.equal(last.status, 'cancelled');
      assert.equal(last.stages[b.stage].status, 'cancelled');
      for (const s of STAGES.slice(STAGES.indexOf(b.stage) + 1)) if (!(b.stage === 'diarization' && s === 'transcription')) assert.equal(last.stages[s].status, 'pending', s);
    });
  }
});
