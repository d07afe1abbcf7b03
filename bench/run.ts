// `npm run bench`: end-to-end performance of the pipeline on a real Temporal dev server,
// the provider emulators in their own process (with a latency model) and `speech worker`
// child processes. Every ratio is between runs of this same invocation.
//
//   npm run bench                       all sections (~4 min on 2 cores)
//   npm run bench -- --quick            shorter recordings and fewer runs, for iteration
//   npm run bench -- --only 2,3         only some sections (1 overhead, 2 long, 3 resume,
//                                       4/5 rss+history, 6 batch; names work too)
import os from 'node:os';
import path from 'node:path';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../src/config';
import { preparePipelineInput } from '../src/client/run-input';
import type { PipelineOptions } from '../src/domain/options';
import type { ChunkSpan, RunSettings, SpeechPipelineInput } from '../src/domain/pipeline';
import { EXPORT_FORMATS } from '../src/domain/stages';
import type { SpeechPipelineResult, speechPipeline } from '../src/workflows';
import { progressQuery } from '../src/workflows/messages';
import type { LatencyModel, OpenAIRequestLogEntry } from '../test/emulators';
import { DEFAULT_TURNS, MEETING_SENTENCES, makeLongRecording, makeTwoSpeakerRecording, type TurnSpec } from '../test/helpers/audio';
import { criticalPath, historySize, spanOf, timeline, workflowTaskTimes, type RunTimeline } from './history';
import { LATENCY_EMULATORS, OPENAI_LATENCY, PYANNOTE_LATENCY } from './latency';
import { heading, median, mb, ms0, note, progress, s1, s2, summaryTable, table, x, type SummaryRow } from './report';
import {
  benchEnv,
  runBench,
  cpuSeconds,
  sampleRss,
  procStatus,
  runSpeech,
  startEmulatorProcess,
  startServer,
  startWorker,
  tempDir,
  type BenchWorker,
  type EmulatorProcess,
  type Server,
  EMULATOR_NICE,
} from './stack';

// ---------------------------------------------------------------------------------------
// Settings

const SECTIONS = ['overhead', 'long', 'resume', 'dead', 'day', 'batch'] as const;
type Section = (typeof SECTIONS)[number];
const SECTION_ALIASES: Record<string, Section> = { '1': 'overhead', '2': 'long', '3': 'resume', '4': 'dead', '5': 'day', rss: 'day', history: 'day', '6': 'batch' };

const OPTIONS: PipelineOptions = { language: 'en', numSpeakers: null, minSpeakers: null, maxSpeakers: null, transcribeModel: 'whisper-1' };

/** The ~20 s recording of section 1: the test helper's four default turns. */
const SHORT_TURNS: TurnSpec[] = [...DEFAULT_TURNS];

/** The first eight sentences of the test helpers' meeting, mixed per file. */
const BATCH_SENTENCES = MEETING_SENTENCES.slice(0, 8);
const NUMBERS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen', 'twenty'];

interface Plan {
  quick: boolean;
  sections: Set<Section>;
  overheadRuns: number;
  longSeconds: number;
  hugeSeconds: number;
  batchFiles: number;
  /** Repetitions of the dead-worker and batch measurements. */
  reps: number;
  /** Chunk lengths tried at concurrency 8 besides the default. */
  chunkLengths: number[];
  /** Runs per concurrency-8 configuration of section 2. */
  longReps: number;
}

function parsePlan(): Plan {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--quick] [--only 1,2,3,4,5,6 | overhead,long,resume,dead,day,batch]');
    process.exit(0);
  }
  const sections = new Set<Section>();
  for (const raw of (values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    const s = (SECTIONS as readonly string[]).includes(raw) ? (raw as Section) : SECTION_ALIASES[raw];
    if (!s) throw new Error(`--only: unknown section "${raw}" (use 1–6 or ${SECTIONS.join(', ')})`);
    sections.add(s);
  }
  const quick = values.quick ?? false;
  return {
    quick,
    sections,
    overheadRuns: quick ? 3 : 7,
    longSeconds: quick ? 1800 : 7200,
    hugeSeconds: quick ? 10800 : 86400,
    batchFiles: quick ? 6 : 20,
    reps: quick ? 1 : 3,
    chunkLengths: [300, 600],
    longReps: quick ? 1 : 3,
  };
}

// ---------------------------------------------------------------------------------------
// Runs

interface Bench {
  plan: Plan;
  srv: Server;
  root: string;
  summary: SummaryRow[];
  /** Emulators with the latency model, shared by sections 2–6. */
  latencyEmus?: EmulatorProcess;
  prepared: Map<string, SpeechPipelineInput>;
  /** Wall time of an uninterrupted concurrency-8 default run of the long file (section 2), for section 3. */
  longDefaultWallMs?: number;
}

async function latencyEmulators(b: Bench): Promise<EmulatorProcess> {
  b.latencyEmus ??= await startEmulatorProcess(LATENCY_EMULATORS);
  return b.latencyEmus;
}

function workerEnv(b: Bench, emus: EmulatorProcess, taskQueue: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return benchEnv(b.srv, emus, { TEMPORAL_TASK_QUEUE: taskQueue, ...extra });
}

interface StartedRun {
  handle: WorkflowHandle<typeof speechPipeline>;
  input: SpeechPipelineInput;
  startedAt: number;
  runDir: string;
}

/** Starts the pipeline for `file` under its own workflow id and folders, with settings overridden. */
async function startRun(b: Bench, env: NodeJS.ProcessEnv, file: string, tag: string, settings: Partial<RunSettings> = {}): Promise<StartedRun> {
  const config = loadConfig(env);
  let base = b.prepared.get(file);
  if (!base) {
    base = (await preparePipelineInput(config, file, { options: OPTIONS, formats: [...EXPORT_FORMATS], searchAttributes: true })).input;
    b.prepared.set(file, base);
  }
  const input: SpeechPipelineInput = JSON.parse(JSON.stringify(base)) as SpeechPipelineInput;
  const workflowId = `${input.pipelineId}-${tag}`;
  const runDir = path.join(b.root, 'runs', tag);
  Object.assign(input, {
    pipelineId: workflowId,
    interimDir: path.join(runDir, 'interim'),
    outputDir: path.join(runDir, 'output'),
    stateRecordPath: path.join(runDir, 'state.json'),
    // Every measured run does its own work: the stage cache would hand later runs of the same
    // file the first run's results.
    reuseCached: false,
  });
  input.settings = { chunkMaxSeconds: config.chunkMaxSeconds, transcribeConcurrency: config.transcribeConcurrency, heartbeatTimeoutSeconds: config.heartbeatTimeoutSeconds, heartbeatTimeouts: config.heartbeatTimeouts, ...settings };
  const startedAt = Date.now();
  const handle = await b.srv.client.workflow.start<typeof speechPipeline>('speechPipeline', { taskQueue: config.temporal.taskQueue, workflowId, args: [input] });
  return { handle, input, startedAt, runDir };
}

async function resultWithin(run: StartedRun, ms: number): Promise<SpeechPipelineResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run.handle.result().catch((err: unknown) => {
        // Say why: the run's own failure, and the activity failure under it.
        const causes: string[] = [];
        for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) causes.push(e.message ?? String(e));
        throw new Error(`${run.handle.workflowId} failed: ${causes.join(' ← ')}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${run.handle.workflowId} did not finish within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface LongRunStats {
  label: string;
  wallMs: number;
  runMs: number;
  chunks: number;
  chunkLimit: number;
  convertMs: number;
  diarizeMs: number;
  transcribeMs: number;
  parallelMs: number;
  afterMs: number;
  planMs: number;
  chunkMedianMs: number;
  chunkMaxMs: number;
  assembleMs: number;
  /** First transcribeChunk scheduled → last one closed, measured. */
  chunkPhaseMs: number;
  /** The same phase if every request took exactly the latency model (lanes simulated as the workflow runs them). */
  modelChunkPhaseMs: number;
  /** Chunk lengths, e.g. "12×598 s + 1×32 s". */
  chunkShape: string;
  /** Emulator time per request beyond the latency model (receiving the body, analysing the audio), median and max. */
  excessMedianMs: number;
  excessMaxMs: number;
  /** Transcription requests the emulator answered. */
  requests: number;
  tl: RunTimeline;
  /** CPU seconds used during the run by the worker (with its ffmpeg children), the emulators and the Temporal server. */
  cpu?: { worker: number; openai: number; pyannote: number; server: number };
}

async function cpuOf(pids: Record<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) out[k] = (await cpuSeconds(pid)) ?? 0;
  return out;
}

function planOf(tl: RunTimeline): { chunks: ChunkSpan[]; limit: number } {
  const plan = tl.activities.find((a) => a.type === 'planTranscription')?.result as { chunks: ChunkSpan[]; ref: { metadata?: Record<string, unknown> } } | undefined;
  return { chunks: plan?.chunks ?? [], limit: Number(plan?.ref.metadata?.max_chunk_seconds ?? NaN) };
}

/** Makespan of the chunks on `lanes` lanes taking them in index order, each lasting the latency model. */
function modelMakespan(chunks: ChunkSpan[], lanes: number): number {
  const free = new Array<number>(Math.max(1, Math.min(lanes, chunks.length))).fill(0);
  for (const c of [...chunks].sort((a, z) => a.index - z.index)) {
    const i = free.indexOf(Math.min(...free));
    free[i] = free[i]! + latencyOf(OPENAI_LATENCY, c.end - c.start);
  }
  return Math.max(...free);
}

function latencyOf(m: LatencyModel, seconds: number): number {
  return (m.fixedMs ?? 0) + (m.perAudioSecondMs ?? 0) * seconds;
}

function chunkShape(chunks: ChunkSpan[]): string {
  const groups = new Map<number, number>();
  for (const c of chunks) {
    const len = Math.round(c.end - c.start);
    groups.set(len, (groups.get(len) ?? 0) + 1);
  }
  return [...groups.entries()]
    .sort((a, z) => z[1] - a[1])
    .slice(0, 3)
    .map(([len, n]) => `${n}×${len} s`)
    .join(' + ') + (groups.size > 3 ? ' + …' : '');
}

function longStats(label: string, wallMs: number, tl: RunTimeline, concurrency = 8, requests: OpenAIRequestLogEntry[] = []): LongRunStats {
  const plan = planOf(tl);
  const excess = requests
    .filter((r) => r.path === '/v1/audio/transcriptions' && r.status === 200 && r.audioSeconds !== undefined)
    .map((r) => r.durationMs - latencyOf(OPENAI_LATENCY, r.audioSeconds!));
  const parallel = spanOf(tl, ['diarizeAudio', 'planTranscription', 'transcribeChunk', 'assembleTranscript']);
  const chunkMs = tl.activities.filter((a) => a.type === 'transcribeChunk').map((a) => (a.closedMs ?? 0) - (a.startedMs ?? 0));
  return {
    label,
    wallMs,
    runMs: tl.closedMs - tl.startedMs,
    chunks: plan.chunks.length,
    chunkLimit: plan.limit,
    convertMs: spanOf(tl, ['convertAudio'])?.ms ?? NaN,
    diarizeMs: spanOf(tl, ['diarizeAudio'])?.ms ?? NaN,
    transcribeMs: spanOf(tl, ['planTranscription', 'transcribeChunk', 'assembleTranscript'])?.ms ?? NaN,
    parallelMs: parallel?.ms ?? NaN,
    afterMs: parallel ? tl.closedMs - parallel.toMs : NaN,
    planMs: spanOf(tl, ['planTranscription'])?.ms ?? NaN,
    chunkMedianMs: median(chunkMs),
    chunkMaxMs: Math.max(...chunkMs),
    assembleMs: spanOf(tl, ['assembleTranscript'])?.ms ?? NaN,
    chunkPhaseMs: spanOf(tl, ['transcribeChunk'])?.ms ?? NaN,
    modelChunkPhaseMs: modelMakespan(plan.chunks, concurrency),
    chunkShape: chunkShape(plan.chunks),
    excessMedianMs: median(excess),
    excessMaxMs: excess.length > 0 ? Math.max(...excess) : NaN,
    requests: requests.filter((r) => r.path === '/v1/audio/transcriptions' && r.status === 200).length,
    tl,
  };
}

/** One run of the long file on a running worker, its interim files removed afterwards. */
async function longRun(b: Bench, env: NodeJS.ProcessEnv, emus: EmulatorProcess, worker: BenchWorker, file: string, tag: string, label: string, settings: Partial<RunSettings>): Promise<LongRunStats> {
  await emus.reset();
  const pids = { worker: worker.pid, openai: emus.pids.openai, pyannote: emus.pids.pyannote, server: b.srv.server.info.pid };
  const cpu0 = await cpuOf(pids);
  const run = await startRun(b, env, file, tag, settings);
  await resultWithin(run, 600_000);
  const wallMs = Date.now() - run.startedAt;
  const cpu1 = await cpuOf(pids);
  const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, (cpu1[k] ?? 0) - (cpu0[k] ?? 0)])) as Record<keyof typeof pids, number>;
  const tl = timeline(await run.handle.fetchHistory());
  await rm(run.runDir, { recursive: true, force: true });
  const requests = await emus.openaiRequests();
  const st = { ...longStats(label, wallMs, tl, settings.transcribeConcurrency ?? 8, requests), cpu };
  progress(`${label}: ${s1(wallMs)} (${st.chunks} chunks)`);
  return st;
}

// ---------------------------------------------------------------------------------------
// 1. Orchestration overhead

async function sectionOverhead(b: Bench): Promise<void> {
  heading('1. Orchestration overhead per activity (short file, zero provider latency)');
  const emus = await startEmulatorProcess({});
  const env = workerEnv(b, emus, 'bench-overhead');
  const dir = await tempDir('bench-short-');
  const rec = await makeTwoSpeakerRecording({ dir, name: 'short-two-speakers', turns: SHORT_TURNS });
  const w = await startWorker(env);
  try {
    progress(`recording ${rec.duration.toFixed(1)} s; 1 warm-up run, then ${b.plan.overheadRuns} measured runs one after another`);
    const rows: (string | number)[][] = [];
    const perActivity: number[] = [];
    const perStep: number[] = [];
    const dispatch: number[] = [];
    let chainTypes = '';
    const waitsByRun: string[] = [];
    const wftWait: number[] = [];
    const wftRun: number[] = [];
    for (let i = 0; i <= b.plan.overheadRuns; i++) {
      const run = await startRun(b, env, rec.path, `overhead-${i}`);
      await resultWithin(run, 120_000);
      const wallMs = Date.now() - run.startedAt;
      const tl = timeline(await run.handle.fetchHistory());
      const cp = criticalPath(tl);
      if (i === 0) continue; // warm-up: first workflow task on a fresh worker, cold caches
      const per = cp.overheadMs / cp.activitiesExecuted;
      perActivity.push(per);
      perStep.push(cp.overheadMs / cp.chain.length);
      for (const a of tl.activities) if (a.startedMs !== null) dispatch.push(a.startedMs - a.scheduledMs);
      const wft = workflowTaskTimes(tl);
      wftWait.push(...wft.waitMs);
      wftRun.push(...wft.runMs);
      chainTypes ||= cp.chain.map((a) => a.type).join(' → ');
      // The longest waits on the path: previous activity closed (or run start) → next activity started.
      const waits = cp.chain.map((a, k) => ({ ms: (a.startedMs ?? a.scheduledMs) - (k === 0 ? tl.startedMs : cp.chain[k - 1]!.closedMs ?? 0), before: a.type }));
      waits.push({ ms: tl.closedMs - (cp.chain[cp.chain.length - 1]?.closedMs ?? tl.closedMs), before: '(run end)' });
      waitsByRun.push(waits.map((w) => Math.round(w.ms)).join(' '));
      rows.push([i, ms0(wallMs), ms0(cp.runMs), ms0(cp.insideMs), ms0(cp.overheadMs), cp.activitiesExecuted, cp.chain.length, `${per.toFixed(1)} ms`, `${(cp.overheadMs / cp.chain.length).toFixed(1)} ms`]);
    }
    table(['run', 'client wall', 'run (history)', 'in activities*', 'orchestration', 'activities', 'on path', 'per activity', 'per path step'], rows);
    note('* inside the activities on the critical path: ActivityTaskStarted → ActivityTaskCompleted of each.');
    note(`critical path (walked back from the end through workflow tasks): ${chainTypes}`);
    note(`activity dispatch (scheduled → started), all activities: median ${ms0(median(dispatch))}, max ${ms0(Math.max(...dispatch))}`);
    note(`workflow tasks: scheduled → started (waiting for the worker's poll) median ${ms0(median(wftWait))}, max ${ms0(Math.max(...wftWait))};`);
    note(`started → completed (the worker's turn) median ${ms0(median(wftRun))}, max ${ms0(Math.max(...wftRun))}`);
    note('waits along the path, ms (run start → 1st activity, each activity done → next started, last done → run end):');
    waitsByRun.forEach((w, k) => note(`  run ${k + 1}: ${w}`));
    const med = median(perActivity);
    note(`median orchestration per activity executed: ${med.toFixed(1)} ms (per critical-path step: ${median(perStep).toFixed(1)} ms)`);
    b.summary.push({ metric: '1. orchestration per activity (median)', value: `${med.toFixed(1)} ms`, target: '≤ 50 ms', met: med <= 50 });
  } finally {
    await w.stop();
    await emus.stop();
  }
}

// ---------------------------------------------------------------------------------------
// 2. Long recording: sequential baseline vs chunked parallel

async function sectionLong(b: Bench, file: { path: string; duration: number }): Promise<void> {
  heading(`2. ${(file.duration / 3600).toFixed(1)}-hour recording: concurrency 8 against the same pipeline at concurrency 1`);
  const emus = await latencyEmulators(b);
  const env = workerEnv(b, emus, 'bench-long');
  const config = loadConfig(env);
  note(`latency model: transcription ${OPENAI_LATENCY.fixedMs} ms + ${OPENAI_LATENCY.perAudioSecondMs} ms per audio second; diarization job ${PYANNOTE_LATENCY.fixedMs} ms + ${PYANNOTE_LATENCY.perAudioSecondMs} ms per audio second`);
  note(`(plus the emulators' real work at normal priority: reading each body, decoding and analysing its audio). Defaults:`);
  note(`CHUNK_MAX_SECONDS ${config.chunkMaxSeconds}, CHUNKS_PER_LANE ${config.chunksPerLane}, uploads ${config.upload.transcription.codec} to OpenAI and ${config.upload.diarization.codec} to pyannote.ai.`);
  note(`Each configuration runs ${b.plan.longReps}× on one worker process; medians and spreads (min–max) are of those runs.`);
  const w = await startWorker(env);
  const configs: { label: string; runs: LongRunStats[]; rep: LongRunStats; wallMs: number }[] = [];
  const runConfig = async (e: NodeJS.ProcessEnv, worker: BenchWorker, tag: string, label: string, settings: Partial<RunSettings>, reps: number) => {
    const runs: LongRunStats[] = [];
    for (let i = 0; i < reps; i++) runs.push(await longRun(b, e, emus, worker, file.path, `${tag}-${i}`, label, settings));
    const sorted = [...runs].sort((a, z) => a.wallMs - z.wallMs);
    // The run at the median (lower median for even counts) stands for the configuration.
    const rep = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const c = { label, runs, rep, wallMs: median(runs.map((r) => r.wallMs)) };
    configs.push(c);
    return c;
  };
  try {
    const seq = await runConfig(env, w, 'long-c1', 'concurrency 1 (TRANSCRIBE_CONCURRENCY=1)', { transcribeConcurrency: 1 }, b.plan.longReps);
    const par = await runConfig(env, w, 'long-c8', 'concurrency 8 (default)', { transcribeConcurrency: 8 }, b.plan.longReps);
    // The plan of the previous release (about two chunks per lane), for what more, shorter chunks cost.
    const envOld = workerEnv(b, emus, 'bench-long-cpl2', { CHUNKS_PER_LANE: '2' });
    const wOld = await startWorker(envOld);
    try {
      await runConfig(envOld, wOld, 'long-c8-cpl2', 'concurrency 8, CHUNKS_PER_LANE=2 (earlier plan)', { transcribeConcurrency: 8 }, 1);
    } finally {
      await wOld.stop();
    }
    // The same pair with WAV uploads: nothing encoded on this machine and little to decode in the
    // emulators, so what concurrency gives when this machine's CPU is not what limits it.
    const envWav = workerEnv(b, emus, 'bench-long-wav', { UPLOAD_CODEC: 'wav' });
    const wWav = await startWorker(envWav);
    let wavPair: [number, number] | null = null;
    try {
      const c1 = await runConfig(envWav, wWav, 'long-wav-c1', 'WAV uploads, concurrency 1', { transcribeConcurrency: 1 }, 1);
      const c8 = await runConfig(envWav, wWav, 'long-wav-c8', 'WAV uploads, concurrency 8', { transcribeConcurrency: 8 }, 1);
      wavPair = [c1.wallMs, c8.wallMs];
    } finally {
      await wWav.stop();
    }
    const spread = (rs: LongRunStats[]) => `${(Math.min(...rs.map((r) => r.wallMs)) / 1000).toFixed(1)}–${(Math.max(...rs.map((r) => r.wallMs)) / 1000).toFixed(1)} s`;
    table(
      ['configuration', 'median wall', 'each run', 'spread', 'chunks', 'requests', 'convert', 'diarize', 'transcribe', 'after', 'speed-up'],
      configs.map((c) => [
        c.label,
        s1(c.wallMs),
        c.runs.map((r) => (r.wallMs / 1000).toFixed(1)).join(' / '),
        spread(c.runs),
        `${c.rep.chunks} (${c.rep.chunkShape})`,
        c.rep.requests,
        s1(c.rep.convertMs),
        s1(c.rep.diarizeMs),
        s1(c.rep.transcribeMs),
        s1(c.rep.afterMs),
        // Against concurrency 1 with the same uploads.
        x((c.label.startsWith('WAV') ? (wavPair?.[0] ?? NaN) : seq.wallMs) / c.wallMs),
      ]),
    );
    note('wall: client start → result. convert includes hashing and ffmpeg. diarize: MP3 encoding, upload, job and polls. transcribe:');
    note('planTranscription scheduled → assembleTranscript done (each chunk encoded to Opus, then sent). after: merge + export + records.');
    note("Stage columns are from the median run's history. requests: transcription requests the OpenAI emulator answered.");
    note('');
    note('Inside the transcription branch (median run):');
    table(
      ['configuration', 'plan', 'chunk phase', 'latency model only', 'chunk median', 'emulator extra/req', 'assemble'],
      configs.map((c) => {
        const r = c.rep;
        return [c.label, s2(r.planMs), s2(r.chunkPhaseMs), s2(r.modelChunkPhaseMs), s2(r.chunkMedianMs), `${s2(r.excessMedianMs)} (max ${s2(r.excessMaxMs)})`, s2(r.assembleMs)];
      }),
    );
    note('latency model only: the chunk phase if every request took exactly the latency model, lanes as the workflow runs them.');
    note(`Per-request overhead: ${OPENAI_LATENCY.fixedMs} ms fixed in the model, plus the emulator extra; ${par.rep.requests} requests on 8 lanes cost`);
    note(`${s1((par.rep.requests * (OPENAI_LATENCY.fixedMs ?? 0)) / 8)} of fixed latency per lane, against ${s1(((configs[2]?.rep.requests ?? 0) * (OPENAI_LATENCY.fixedMs ?? 0)) / 8)} with the earlier plan.`);
    note('');
    note(`CPU used during each median run (this machine has ${os.cpus().length} cores; the emulators' audio work competes with the pipeline):`);
    table(
      ['configuration', 'worker+ffmpeg', 'openai emulator', 'pyannote emulator', 'temporal server', 'sum', 'sum / wall'],
      configs.map((cfg) => {
        const st = cfg.rep;
        const c = st.cpu ?? { worker: 0, openai: 0, pyannote: 0, server: 0 };
        const sum = c.worker + c.openai + c.pyannote + c.server;
        const f = (v: number) => `${v.toFixed(1)} s`;
        return [cfg.label, f(c.worker), f(c.openai), f(c.pyannote), f(c.server), f(sum), `${(sum / (st.wallMs / 1000)).toFixed(2)} cores`];
      }),
    );
    const ratio = seq.wallMs / par.wallMs;
    const lo = Math.min(...seq.runs.map((r) => r.wallMs)) / Math.max(...par.runs.map((r) => r.wallMs));
    const hi = Math.max(...seq.runs.map((r) => r.wallMs)) / Math.min(...par.runs.map((r) => r.wallMs));
    const cpuPar = par.rep.cpu ? par.rep.cpu.worker + par.rep.cpu.openai + par.rep.cpu.pyannote + par.rep.cpu.server : NaN;
    note('');
    note(`Speed-up at concurrency 8: ${x(ratio)} (medians; ${x(lo)}–${x(hi)} from the slowest to the fastest pairing of runs).`);
    note(`What limits it here: the concurrency-8 run used ${(cpuPar / (par.rep.wallMs / 1000)).toFixed(2)} of ${os.cpus().length} cores; the transcription branch alone went ${x(seq.rep.transcribeMs / par.rep.transcribeMs)}.`);
    b.longDefaultWallMs = par.wallMs;
    b.summary.push({ metric: `2. speed-up c=8 vs c=1 (${(file.duration / 3600).toFixed(1)} h, median of ${b.plan.longReps})`, value: `${x(ratio)} (spread ${x(lo)}–${x(hi)}; ${s1(seq.wallMs)} → ${s1(par.wallMs)})`, target: '≥ 7×', met: ratio >= 7 });
    b.summary.push({ metric: '2. speed-up, transcription branch only', value: x(seq.rep.transcribeMs / par.rep.transcribeMs), target: '(info)', met: null });
    if (wavPair) {
      note(`With WAV uploads (UPLOAD_CODEC=wav: no encoding here), one run each: ${s1(wavPair[0])} → ${s1(wavPair[1])}, ${x(wavPair[0] / wavPair[1])}.`);
      b.summary.push({ metric: '2. speed-up with WAV uploads (no encoding; 1 run each)', value: `${x(wavPair[0] / wavPair[1])} (${s1(wavPair[0])} → ${s1(wavPair[1])})`, target: '(info)', met: null });
    }
  } finally {
    await w.stop();
  }
}

// ---------------------------------------------------------------------------------------
// 3. Resume after SIGKILL mid-transcription

async function sectionResume(b: Bench, file: { path: string; duration: number }): Promise<void> {
  heading(`3. Resume after SIGKILL of the worker mid-transcription (${(file.duration / 3600).toFixed(1)}-hour file, concurrency 8)`);
  const emus = await latencyEmulators(b);
  const env = workerEnv(b, emus, 'bench-resume');
  await emus.reset();
  const w1 = await startWorker(env);
  let w2: BenchWorker | null = null;
  try {
    const run = await startRun(b, env, file.path, 'resume');
    let snap = null;
    const deadline = Date.now() + 300_000;
    for (;;) {
      snap = await run.handle.query(progressQuery).catch(() => null);
      if (snap && snap.chunks.total > 0 && snap.chunks.done >= Math.ceil(snap.chunks.total / 2)) break;
      if (snap && snap.status !== 'running') throw new Error(`run ended (${snap.status}) before half the chunks were done`);
      if (Date.now() > deadline) throw new Error('timed out waiting for half the chunks');
      await new Promise((r) => setTimeout(r, 50));
    }
    await w1.kill();
    const killedAt = Date.now();
    progress(`SIGKILL at ${snap.chunks.done}/${snap.chunks.total} chunks done, chunks ${snap.chunks.inFlight.join(', ') || '-'} in flight (progress query)`);
    w2 = await startWorker(env);
    progress(`second worker polling ${s1(Date.now() - killedAt)} after the kill`);
    await resultWithin(run, 600_000);
    const resumeMs = Date.now() - killedAt;
    const wallMs = Date.now() - run.startedAt;
    const tl = timeline(await run.handle.fetchHistory());
    const { chunks } = planOf(tl);
    const span = new Map(chunks.map((c) => [c.index, c.end - c.start]));

    // From Temporal: transcribeChunk activities scheduled before the kill and not closed by then.
    const chunkActs = tl.activities.filter((a) => a.type === 'transcribeChunk');
    const indexOf = (a: (typeof chunkActs)[number]) => (a.input as { chunk: ChunkSpan }).chunk.index;
    const inFlight = new Set(chunkActs.filter((a) => a.scheduledMs < killedAt && (a.closedMs ?? Infinity) > killedAt).map(indexOf));
    const retried = chunkActs.filter((a) => a.attempt > 1).map(indexOf);

    // From the emulator: requests per chunk file.
    const reqs = (await emus.openaiRequests()).filter((r) => r.path === '/v1/audio/transcriptions');
    const perChunk = new Map<number, typeof reqs>();
    for (const r of reqs) {
      // chunk-NNNN.ogg (or .wav, .mp3: whatever the upload format is).
      const m = /chunk-(\d+)\.\w+$/.exec(r.filename ?? '');
      if (!m) continue;
      const i = Number(m[1]);
      perChunk.set(i, [...(perChunk.get(i) ?? []), r]);
    }
    const resent = [...perChunk.entries()].filter(([, rs]) => rs.length > 1);
    const resentSeconds = resent.reduce((s, [i, rs]) => s + (rs.length - 1) * (span.get(i) ?? 0), 0);
    const inFlightSeconds = [...inFlight].reduce((s, i) => s + (span.get(i) ?? 0), 0);
    const sentSeconds = reqs.reduce((s, r) => s + (r.audioSeconds ?? 0), 0);
    const firstResend = reqs.filter((r) => Date.parse(r.at) >= killedAt).map((r) => Date.parse(r.at) - killedAt);
    const outsideInFlight = resent.map(([i]) => i).filter((i) => !inFlight.has(i));

    table(
      ['measure', 'value'],
      [
        ['chunks (plan)', chunks.length],
        ['done at the kill (progress query)', `${snap.chunks.done}`],
        ['in flight at the kill (history)', `${inFlight.size}: [${[...inFlight].sort((a, z) => a - z).join(', ')}] = ${inFlightSeconds.toFixed(0)} s of audio`],
        ['chunks sent again (emulator log)', `${resent.length}: [${resent.map(([i]) => i).sort((a, z) => a - z).join(', ')}]`],
        ['chunk activities retried (history)', `${retried.length}: [${retried.sort((a, z) => a - z).join(', ')}]`],
        ['audio seconds sent again', `${resentSeconds.toFixed(0)} s of ${file.duration.toFixed(0)} s (${((100 * resentSeconds) / file.duration).toFixed(1)} %)`],
        ['audio seconds sent in total (emulator)', `${sentSeconds.toFixed(0)} s`],
        ['first request after the kill', firstResend.length > 0 ? `${s1(Math.min(...firstResend))} after` : '-'],
        ['resume: kill → run completed', s1(resumeMs)],
        ['whole run with the kill (client wall)', s1(wallMs)],
        ['uninterrupted run (section 2, same settings)', b.longDefaultWallMs !== undefined ? s1(b.longDefaultWallMs) : '(section 2 not run)'],
      ],
    );
    note('Default settings: chunks in flight on the dead worker are retried once their heartbeat times out (10 s for a chunk');
    note('request), on the second worker.');
    const met = outsideInFlight.length === 0 && resentSeconds <= inFlightSeconds + 1e-6;
    const share = resentSeconds / file.duration;
    b.summary.push({
      metric: '3. audio re-sent after SIGKILL at ~half (default settings)',
      value: `${resentSeconds.toFixed(0)} s of ${file.duration.toFixed(0)} s = ${(100 * share).toFixed(1)} % (${resent.length} chunks; ${inFlight.size} were in flight)`,
      target: '≤ 15 %, only chunks in flight',
      met: met && share <= 0.15,
    });
    b.summary.push({ metric: '3. resume time (kill → completed)', value: s1(resumeMs), target: '(info)', met: null });
    await rm(run.runDir, { recursive: true, force: true });
  } finally {
    if (w1.child.exitCode === null && w1.child.signalCode === null) await w1.kill();
    await w2?.stop();
  }
}

// ---------------------------------------------------------------------------------------
// 4. A dead worker, noticed

/** About 30 s of conversation: six turns of the test helpers' meeting. */
const DEAD_TURNS: TurnSpec[] = MEETING_SENTENCES.slice(0, 6).map((text, i) => ({ speaker: i % 2 === 0 ? 'A' : 'B', text }));

async function sectionDeadWorker(b: Bench): Promise<void> {
  heading('4. A worker SIGKILLed during a 30-second file: kill → run completed (default settings, a new worker started at once)');
  const emus = await latencyEmulators(b);
  const env = workerEnv(b, emus, 'bench-dead');
  const hb = loadConfig(env).heartbeatTimeouts;
  note(`heartbeat timeouts (s): ${Object.entries(hb).map(([k, v]) => `${k} ${v}`).join(', ')}; the worker's sticky queue moves after 4 s.`);
  const dir = await tempDir('bench-dead-');
  const rec = await makeTwoSpeakerRecording({ dir, name: 'thirty-seconds', turns: DEAD_TURNS });
  progress(`recording ${rec.duration.toFixed(1)} s; ${b.plan.reps} kills, each while an activity after conversion is in flight`);
  const rows: (string | number)[][] = [];
  const times: number[] = [];
  for (let i = 0; i < b.plan.reps; i++) {
    await emus.reset();
    const w1 = await startWorker(env);
    let w2: BenchWorker | null = null;
    try {
      const run = await startRun(b, env, rec.path, `dead-${i}`);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const snap = await run.handle.query(progressQuery).catch(() => null);
        const busy = snap && (snap.stages.diarization.status === 'running' || snap.chunks.inFlight.length > 0);
        if (busy) break;
        if (snap && snap.status !== 'running') throw new Error(`run ended (${snap.status}) before the kill`);
        if (Date.now() > deadline) throw new Error('no activity after conversion started within 60 s');
        await new Promise((r) => setTimeout(r, 25));
      }
      await w1.kill();
      const killedAt = Date.now();
      // A supervisor (systemd, compose `restart:`) starts the worker again.
      w2 = await startWorker(env);
      const restartedMs = Date.now() - killedAt;
      await resultWithin(run, 180_000);
      const ms = Date.now() - killedAt;
      times.push(ms);
      const tl = timeline(await run.handle.fetchHistory());
      // Scheduled before the kill and closed after it (the history keeps the last attempt's start).
      const inFlight = tl.activities.filter((a) => a.scheduledMs < killedAt && (a.closedMs ?? Infinity) > killedAt);
      const retriedAt = tl.activities.filter((a) => a.attempt > 1 && a.startedMs !== null).map((a) => a.startedMs! - killedAt);
      rows.push([
        i + 1,
        s1(ms),
        inFlight.map((a) => a.type).join(', ') || '-',
        s1(restartedMs),
        retriedAt.length > 0 ? `${s1(Math.min(...retriedAt))} after the kill` : '-',
      ]);
      await rm(run.runDir, { recursive: true, force: true });
    } finally {
      if (w1.child.exitCode === null && w1.child.signalCode === null) await w1.kill();
      await w2?.stop();
    }
  }
  table(['kill', 'kill → completed', 'in flight at the kill', 'new worker polling', 'retried attempt started'], rows);
  const med = median(times);
  note('The retried attempt starts once the dead attempt\'s heartbeat timeout has passed; the rest is the remaining stages.');
  b.summary.push({
    metric: `4. dead worker: kill → completed, 30 s file (median of ${times.length})`,
    value: `${s1(med)} (spread ${s1(Math.min(...times))}–${s1(Math.max(...times))})`,
    target: '≤ 35 s',
    met: med <= 35_000,
  });
}

// ---------------------------------------------------------------------------------------
// 5. A whole day: worker memory, stage times, interim disk, history

async function sectionRss(b: Bench, file: { path: string; duration: number }): Promise<void> {
  heading(`5. ${file.duration > 86400 - 600 ? 'A whole day' : `${(file.duration / 3600).toFixed(1)} hours`} of audio end to end: worker memory, stage times, interim disk (default settings)`);
  const emus = await latencyEmulators(b);
  const env = workerEnv(b, emus, 'bench-rss');
  await emus.reset();
  const w = await startWorker(env);
  let tl: RunTimeline;
  let history: temporal.api.history.v1.IHistory;
  try {
    const idle = await procStatus(w.pid);
    const sampler = sampleRss(w.pid, 100);
    const run = await startRun(b, env, file.path, 'rss');
    // A whole day takes minutes even at the provider latency model: an hour of wall time at most.
    await resultWithin(run, Math.max(600_000, (file.duration / 86_400) * 3_600_000));
    const wallMs = Date.now() - run.startedAt;
    const mem = await sampler.stop();
    const interimBytes = await folderBytes(run.input.interimDir);
    history = await run.handle.fetchHistory();
    tl = timeline(history);
    const st = longStats('rss', wallMs, tl);
    table(
      ['measure', 'value'],
      [
        ['run wall time', `${s1(wallMs)} (${st.chunks} chunks of ≤ ${Math.round(st.chunkLimit)} s)`],
        ['worker RSS when idle (before the run)', idle ? mb(idle.rssKb) : '-'],
        ['worker peak RSS (VmHWM, kernel)', mb(mem.hwmKb)],
        ['worker peak RSS (VmRSS sampled every 100 ms)', `${mb(mem.peakRssKb)} (${mem.samples} samples)`],
        ['worker + child processes (ffmpeg), sampled', mb(mem.peakTreeKb)],
        ['interim files after the run', `${(interimBytes / 1e9).toFixed(2)} GB = ${(interimBytes / 1e6 / (file.duration / 3600)).toFixed(1)} MB per audio hour`],
      ],
    );
    note(`worker = the \`node bin/speech.js worker\` process (pid ${w.pid}); ffmpeg runs in child processes, counted only in the last line.`);
    // What ran when memory peaked, and the RSS over the run's stages.
    const runningAt = (t: number) => [...new Set(tl.activities.filter((a) => (a.startedMs ?? Infinity) <= t && (a.closedMs ?? Infinity) >= t).map((a) => a.type))];
    note(`at the sampled peak (${s1(mem.peakAt - run.startedAt)} into the run) these activities ran: ${runningAt(mem.peakAt).join(', ') || '(none)'}`);
    const phases: [string, string[]][] = [
      ['convertAudio', ['convertAudio']],
      ['diarizeAudio (upload, job)', ['diarizeAudio']],
      ['planTranscription', ['planTranscription']],
      ['transcribeChunk ×' + st.chunks, ['transcribeChunk']],
      ['merge + export', ['mergeTranscript', 'exportTranscript']],
    ];
    table(
      ['stage', 'from', 'to', 'took', 'peak sampled RSS in it'],
      phases.map(([label, types]) => {
        const sp = spanOf(tl, types);
        if (!sp) return [label, '-', '-', '-', '-'];
        const inside = mem.series.filter((p) => p.at >= sp.fromMs && p.at <= sp.toMs).map((p) => p.rssKb);
        return [label, s1(sp.fromMs - run.startedAt), s1(sp.toMs - run.startedAt), s1(sp.ms), inside.length > 0 ? mb(Math.max(...inside)) : '-'];
      }),
    );
    note('from/to: seconds after the start; diarization runs beside planning and the chunks.');
    b.summary.push({ metric: `5. ${(file.duration / 3600).toFixed(0)} h file: completed`, value: `in ${s1(wallMs)}, ${st.chunks} chunks`, target: 'completes', met: true });
    b.summary.push({ metric: `5. peak worker RSS (${(file.duration / 3600).toFixed(0)} h file, VmHWM)`, value: mb(mem.hwmKb), target: '≤ 300 MB', met: mem.hwmKb / 1024 <= 300 });
    b.summary.push({ metric: '5. peak worker + ffmpeg children (sampled)', value: mb(mem.peakTreeKb), target: '(info)', met: null });
    b.summary.push({ metric: '5. interim disk per audio hour', value: `${(interimBytes / 1e6 / (file.duration / 3600)).toFixed(1)} MB`, target: '(info)', met: null });
    await rm(run.runDir, { recursive: true, force: true });
  } finally {
    await w.stop();
  }

  heading(`5b. History of the ${(file.duration / 3600).toFixed(1)}-hour run`);
  const size = historySize(history);
  const biggest = (history.events ?? [])
    .map((e) => ({ type: eventName(e), bytes: historyEventBytes(e) }))
    .sort((a, z) => z.bytes - a.bytes)
    .slice(0, 1);
  const counts = new Map<string, number>();
  for (const e of history.events ?? []) counts.set(eventName(e), (counts.get(eventName(e)) ?? 0) + 1);
  table(
    ['measure', 'value'],
    [
      ['events', size.events],
      ['activities scheduled', tl.activities.length],
      ['size, protobuf (History.encode(history).finish().length)', `${(size.protoBytes / 1024).toFixed(1)} KB`],
      ['size, JSON.stringify of the decoded history', `${(size.jsonBytes / 1024).toFixed(1)} KB`],
      ['largest event (protobuf)', biggest[0] ? `${biggest[0].type}, ${(biggest[0].bytes / 1024).toFixed(1)} KB` : '-'],
    ],
  );
  note(`events by type: ${[...counts.entries()].sort((a, z) => z[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  b.summary.push({ metric: '5. history size (protobuf)', value: `${(size.protoBytes / 1024).toFixed(1)} KB`, target: '< 2 MB', met: size.protoBytes < 2 * 1024 * 1024 });
  b.summary.push({ metric: '5. history events', value: String(size.events), target: '< 2,000', met: size.events < 2000 });
}

/** Bytes of the files under `dir` (0 when it does not exist). */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    total += (await stat(path.join(e.parentPath, e.name)).catch(() => null))?.size ?? 0;
  }
  return total;
}

function eventName(e: temporal.api.history.v1.IHistoryEvent): string {
  const n = temporal.api.enums.v1.EventType[Number(e.eventType)] ?? String(e.eventType);
  return n.replace(/^EVENT_TYPE_/, '').toLowerCase();
}

function historyEventBytes(e: temporal.api.history.v1.IHistoryEvent): number {
  return temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
}

// ---------------------------------------------------------------------------------------
// 6. Batch throughput through the CLI

async function sectionBatch(b: Bench): Promise<void> {
  heading(`6. Batches of ${b.plan.batchFiles} short files through \`speech run DIR --no-worker --json\` (one worker process), ${b.plan.reps}×`);
  const emus = await latencyEmulators(b);
  const env = workerEnv(b, emus, 'bench-batch');
  const w = await startWorker(env);
  try {
    const rows: (string | number)[][] = [];
    const perMinute: number[] = [];
    const callsPerFile: number[] = [];
    const stageMs: Record<string, number[]> = {};
    let allOk = true;
    for (let rep = 0; rep < b.plan.reps; rep++) {
      await emus.reset();
      // Distinct recordings every time: the stage cache would serve a repeated file for free.
      const dir = await tempDir('bench-batch-');
      const files: { path: string; duration: number }[] = [];
      for (let i = 0; i < b.plan.batchFiles; i += 4) {
        const made = await Promise.all(
          Array.from({ length: Math.min(4, b.plan.batchFiles - i) }, (_, k) => {
            const n = i + k;
            const turns: TurnSpec[] = [0, 1, 2, 3].map((t) => ({ speaker: t % 2 === 0 ? 'A' : 'B', text: BATCH_SENTENCES[(n + t + rep) % BATCH_SENTENCES.length]! }));
            turns.push({ speaker: 'A', text: `That was recording number ${NUMBERS[n % NUMBERS.length]} of batch ${NUMBERS[rep % NUMBERS.length]}.` });
            return makeTwoSpeakerRecording({ dir, name: `batch-${rep + 1}-${String(n + 1).padStart(2, '0')}`, turns });
          }),
        );
        files.push(...made);
      }
      const audioSeconds = files.reduce((sum, f) => sum + f.duration, 0);
      const r = await runSpeech(['run', dir, '--no-worker', '--json'], env, 600_000);
      let runs: { status: string; mode: string; audio_seconds: number | null; duration_ms: number; pipeline_id: string; workflow_id: string | null }[] = [];
      try {
        runs = (JSON.parse(r.stdout) as { runs: typeof runs }).runs;
      } catch {
        throw new Error(`speech run printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      }
      const ok = runs.filter((x) => x.status === 'completed' && x.mode === 'started');
      const ids = new Set(runs.map((x) => x.pipeline_id));
      allOk &&= ok.length === files.length && ids.size === files.length;
      const fpm = ok.length / (r.ms / 60_000);
      perMinute.push(fpm);
      // Where each file's time goes, from its history.
      for (const x of ok) {
        const tl = timeline(await b.srv.client.workflow.getHandle(x.workflow_id ?? x.pipeline_id).fetchHistory());
        const add = (k: string, v: number | undefined) => {
          if (v !== undefined && Number.isFinite(v)) (stageMs[k] ??= []).push(v);
        };
        add('run (history)', tl.closedMs - tl.startedMs);
        add('convert', spanOf(tl, ['convertAudio'])?.ms);
        add('diarize', spanOf(tl, ['diarizeAudio'])?.ms);
        add('transcribe', spanOf(tl, ['planTranscription', 'transcribeChunk', 'assembleTranscript'])?.ms);
        add('merge + export', spanOf(tl, ['mergeTranscript', 'exportTranscript'])?.ms);
        add('CLI time per file', x.duration_ms);
      }
      // pyannote.ai calls the worker's per-key request budget counts (all but the uploads).
      const budgeted = (await emus.pyannoteRequests()).filter((q) => !q.path.startsWith('/storage/media/')).length;
      callsPerFile.push(budgeted / files.length);
      rows.push([rep + 1, `${ok.length}/${files.length}`, s1(r.ms), fpm.toFixed(1), ((audioSeconds / 60) / (r.ms / 60_000)).toFixed(1), (budgeted / files.length).toFixed(2)]);
      await rm(dir, { recursive: true, force: true });
    }
    table(['batch', 'completed', 'wall (CLI)', 'files per minute', 'audio minutes per wall minute', 'budgeted pyannote calls per file'], rows);
    table(
      ['per file (median over all batches)', 'time'],
      Object.entries(stageMs).map(([k, v]) => [k, s2(median(v))]),
    );
    const parallel = 4;
    const perFile = median(stageMs['CLI time per file'] ?? [NaN]);
    const rpm = loadConfig(env).pyannote.requestsPerMinute;
    note(`What limits it: \`speech run\` starts ${parallel} files at once (--parallel) and each takes ~${s2(perFile)} end to end, so about`);
    note(`${((parallel * 60_000) / perFile).toFixed(0)} files per minute at most; the longest stage of a short file is diarization (upload, a job of`);
    note(`${PYANNOTE_LATENCY.fixedMs} ms in the latency model, first poll 1 s after the submission, then 2, 4, 5 s). Sustained, the per-key request`);
    note(`budget (${rpm} calls a minute, ${median(callsPerFile).toFixed(2)} per file) caps one key at ~${(rpm / median(callsPerFile)).toFixed(0)} files per minute; a batch of ${b.plan.batchFiles} starts`);
    note('inside the first minute\'s allowance (see `npm run bench:throughput` for 200 files).');
    const med = median(perMinute);
    b.summary.push({
      metric: `6. batch of ${b.plan.batchFiles}: files per minute (median of ${perMinute.length})`,
      value: `${med.toFixed(1)} (spread ${Math.min(...perMinute).toFixed(1)}–${Math.max(...perMinute).toFixed(1)})`,
      target: 'all complete',
      met: allOk,
    });
  } finally {
    await w.stop();
  }
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const plan = parsePlan();
  const t0 = Date.now();
  heading(`speech pipeline benchmark${plan.quick ? ' (--quick)' : ''}`);
  note(`sections: ${[...plan.sections].join(', ')}; node ${process.version}; ${os.cpus().length} CPUs; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  note(`provider latency model (sections 2–6): transcription ${OPENAI_LATENCY.fixedMs} ms + ${OPENAI_LATENCY.perAudioSecondMs} ms/audio s; diarization job ${PYANNOTE_LATENCY.fixedMs} ms + ${PYANNOTE_LATENCY.perAudioSecondMs} ms/audio s`);
  note('worker env: the product defaults (heartbeat timeouts per activity, PYANNOTE_POLL_SECONDS 5, CHUNKS_PER_LANE 8, compact uploads)');
  note('emulators: bench/emulators-process.ts, OpenAI and pyannote each in its own child process; workers: `speech worker` children');
  note(`both emulators at nice ${EMULATOR_NICE} (normal priority): their CPU competes with the pipeline on this machine`);
  const srv = await startServer();
  progress(`Temporal dev server on ${srv.server.address}, DATA_DIR ${srv.server.dataDir} (${s1(Date.now() - t0)})`);
  const root = srv.server.dataDir;
  await mkdir(path.join(root, 'runs'), { recursive: true });
  const b: Bench = { plan, srv, root, summary: [], prepared: new Map() };

  const need = (s: Section) => plan.sections.has(s);
  if (need('overhead')) await sectionOverhead(b);
  if (need('long') || need('resume')) {
    const dir = await tempDir('bench-long-');
    const t = Date.now();
    const long = await makeLongRecording({ dir, seconds: plan.longSeconds, name: 'two-hours' });
    progress(`made ${(long.duration / 3600).toFixed(2)} h recording in ${s1(Date.now() - t)}`);
    if (need('long')) await sectionLong(b, long);
    if (need('resume')) await sectionResume(b, long);
    await rm(dir, { recursive: true, force: true });
  }
  if (need('dead')) await sectionDeadWorker(b);
  if (need('day')) {
    const dir = await tempDir('bench-day-');
    const t = Date.now();
    // pyannote.ai takes at most 24 hours: whole blocks up to that, not past it.
    const day = await makeLongRecording({ dir, seconds: plan.hugeSeconds, atMost: true, name: plan.hugeSeconds >= 86400 ? 'a-whole-day' : 'three-hours' });
    progress(`made ${(day.duration / 3600).toFixed(1)} h recording in ${s1(Date.now() - t)}`);
    await sectionRss(b, day);
    await rm(dir, { recursive: true, force: true });
  }
  if (need('batch')) await sectionBatch(b);

  heading('Summary');
  summaryTable(b.summary);
  note('');
  note(`total bench time ${s1(Date.now() - t0)}`);
}

runBench(main);
