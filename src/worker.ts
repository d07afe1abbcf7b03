// Composition root of a worker: configuration → providers → activities → Worker.
// Keys are read here, from the worker's environment, and never leave this process.
import { Context } from '@temporalio/activity';
import type { Next } from '@temporalio/common';
import { NativeConnection, Runtime, Worker, type ActivityExecuteInput, type ActivityInboundCallsInterceptor, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { byteRangeFor, readWavInfo, wavHeader } from './providers/wav';
import path from 'node:path';
import { createActivities } from './activities';
import { OPENAI_DIARIZE_MODEL, serviceIds, voiceSpace, type Config } from './config';
import { createOpenAIDiarizer, type OpenAIDiarizer } from './providers/openai-diarizer';
import { Failure } from './domain/failures';
import { ProviderError } from './providers/errors';
import { createFsArtifactStore, removeDeadWritersTemporaries } from './providers/artifact-store';
import { createFfmpegProcessor, warmUpFfmpeg } from './providers/ffmpeg';
import { createOpenAITranscriber } from './providers/openai-transcriber';
import { createPyannoteDiarizer } from './providers/pyannote-diarizer';
import { limitDiarizer, limitTranscriber } from './providers/limit';
import { cacheDirOf, createStageCache } from './providers/stage-cache';
import { missingEngine, missingKey } from './activities/boundary';
import { ActivityEventLog } from './worker-log';
import { engineSlots } from './local-engine';
import type { Diarizer, Transcriber } from './providers/interfaces';

/** Where the local engine answers, for the stages that run on it. */
export interface LocalEngineEndpoint {
  url: string;
}

/** The key the clients send to the local engine, which takes any: it is no secret. */
const LOCAL_ENGINE_KEY = 'local-engine';

/**
 * The activities of a worker. Each stage uses one client for the cloud provider and the local
 * engine alike (the engine speaks the same two HTTP contracts); only the base URL and key differ.
 */
export function activitiesFromConfig(config: Config, engine?: LocalEngineEndpoint | null) {
  let transcriber: Transcriber | undefined;
  const localTranscription = config.providers.transcription === 'local';
  const store = createFsArtifactStore();
  return createActivities({
    media: createFfmpegProcessor({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath }),
    store,
    cache: createStageCache(cacheDirOf(config.dataDir), store),
    services: serviceIds(config),
    upload: config.upload,
    chunksPerLane: config.chunksPerLane,
    // The engine computes several requests at once: a short file is cut so that none idles.
    ...(localTranscription && engine ? { transcriptionSlots: () => engineSlots(engine.url, config) } : {}),
    requestDeadlineBaseMs: config.requestDeadlineBaseMs,
    transcriber: () => {
      if (localTranscription) {
        if (!engine) throw missingEngine('transcription');
        transcriber ??= limitTranscriber(createOpenAITranscriber({ apiKey: LOCAL_ENGINE_KEY, baseUrl: `${engine.url}/v1` }), config.providerConcurrency.openai);
        return transcriber;
      }
      if (!config.openai.apiKey) throw missingKey('OPENAI_API_KEY', 'transcription');
      transcriber ??= limitTranscriber(createOpenAITranscriber({ apiKey: config.openai.apiKey, baseUrl: config.openai.baseUrl }), config.providerConcurrency.openai);
      return transcriber;
    },
    diarizer: diarizerFromConfig(config, engine),
    ...(config.providers.diarization === 'openai' ? { openaiDiarizer: openaiDiarizerFromConfig(config) } : {}),
    // Polling the local engine costs nothing; pyannote.ai's is rate limited.
    diarizePollIntervalMs: diarizePollIntervalMs(config),
    voiceSpace: voiceSpace(config),
  });
}

function diarizePollIntervalMs(config: Config): number {
  return config.providers.diarization === 'local' ? Math.min(500, config.pyannote.pollSeconds * 1000) : config.pyannote.pollSeconds * 1000;
}

/** gpt-4o-transcribe-diarize with this worker's OpenAI key (DIARIZE_PROVIDER=openai), built on first use. */
function openaiDiarizerFromConfig(config: Config): () => OpenAIDiarizer {
  let d: OpenAIDiarizer | undefined;
  return () => {
    if (!config.openai.apiKey) throw missingKey('OPENAI_API_KEY', 'diarization (DIARIZE_PROVIDER=openai)');
    d ??= createOpenAIDiarizer({ apiKey: config.openai.apiKey, baseUrl: config.openai.baseUrl, model: OPENAI_DIARIZE_MODEL });
    return d;
  };
}

/** The diarizer of this configuration (pyannote.ai or the local engine), built on first use. */
function diarizerFromConfig(config: Config, engine?: LocalEngineEndpoint | null): () => Diarizer {
  let diarizer: Diarizer | undefined;
  return () => {
    if (config.providers.diarization === 'local') {
      if (!engine) throw missingEngine('diarization');
      diarizer ??= limitDiarizer(createPyannoteDiarizer({ apiKey: LOCAL_ENGINE_KEY, baseUrl: engine.url, model: config.pyannote.model, requestsPerMinute: null }), config.providerConcurrency.pyannote);
      return diarizer;
    }
    if (!config.pyannote.apiKey) throw missingKey('PYANNOTE_API_KEY', 'diarization');
    diarizer ??= limitDiarizer(
      createPyannoteDiarizer({ apiKey: config.pyannote.apiKey, baseUrl: config.pyannote.baseUrl, model: config.pyannote.model, requestsPerMinute: config.pyannote.requestsPerMinute }),
      config.providerConcurrency.pyannote,
    );
    return diarizer;
  };
}

/**
 * Makes a voiceprint of a single-speaker clip (16 kHz mono WAV) with this configuration's
 * diarizer: media upload, voiceprint job, polling. Used by `speech voices add`; the clip is
 * short and the job is cheap, so it runs in the CLI rather than as a workflow.
 */
export async function makeVoiceprint(config: Config, engine: LocalEngineEndpoint | null, wav: { path: string; sha256: string }, signal?: AbortSignal): Promise<string> {
  // OpenAI's diarize model compares against reference clips, not voiceprints: the voice keeps
  // the clip itself (its middle 10 s at most, as a WAV), sent along as a known speaker.
  if (config.providers.diarization === 'openai') return referenceClip(wav.path);
  let diarizer: Diarizer;
  try {
    diarizer = diarizerFromConfig(config, engine)();
  } catch (err) {
    throw new ProviderError(Failure.ConfigMissing, err instanceof Error ? err.message : String(err));
  }
  const url = await diarizer.upload(wav.path, `media://speech/voices/${wav.sha256.slice(0, 32)}.wav`, signal);
  const { jobId } = await diarizer.submitVoiceprint(url, signal);
  const interval = diarizePollIntervalMs(config);
  for (;;) {
    const job = await diarizer.poll(jobId, signal);
    if (job.status === 'succeeded') {
      if (!job.voiceprint) throw new ProviderError(Failure.ProviderProtocol, `the voiceprint job ${jobId} succeeded without a voiceprint`);
      return job.voiceprint;
    }
    if (job.status === 'failed' || job.status === 'canceled') {
      throw new ProviderError(Failure.ProviderJobFailed, `the voiceprint job ${jobId} ${job.status}: ${job.error ?? 'no reason given'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** A 16 kHz mono WAV clip of 2–10 s (the middle of a longer one), base64: a known speaker for gpt-4o-transcribe-diarize. */
async function referenceClip(file: string): Promise<string> {
  const info = await readWavInfo(file);
  const span = Math.min(info.durationSeconds, 10);
  const start = (info.durationSeconds - span) / 2;
  const range = byteRangeFor(info, start, start + span);
  const data = Buffer.alloc(range.endByte - range.startByte);
  const fh = await open(file, 'r');
  try {
    await fh.read(data, 0, data.length, range.startByte);
  } finally {
    await fh.close();
  }
  return Buffer.concat([wavHeader(info, data.length), data]).toString('base64');
}

/** The workflow bundle made at build time, or the sources (bundled on start) when there is none. */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  // Beside the compiled worker in dist/, or dist/ seen from the sources (tests run from src/).
  for (const bundle of [path.resolve(__dirname, 'workflow-bundle.js'), path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js')]) {
    if (existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  }
  return { workflowsPath: require.resolve('./workflows') };
}

export async function connectWorker(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: config.temporal.address,
    ...(config.temporal.apiKey ? { apiKey: config.temporal.apiKey, tls: true } : {}),
    ...(config.temporal.tls ? { tls: { clientCertPair: { crt: await readFileBuffer(config.temporal.tls.certPath), key: await readFileBuffer(config.temporal.tls.keyPath) } } } : {}),
  });
}

async function readFileBuffer(file: string): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  return readFile(file);
}

export interface CreateWorkerOptions {
  config: Config;
  connection: NativeConnection;
  /** Seconds running activities get to finish on shutdown before they are cancelled. */
  shutdownGraceSeconds?: number;
  identity?: string;
  /** The local engine, when a stage runs on it (see usesLocalEngine). */
  engine?: LocalEngineEndpoint | null;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const { config } = opts;
  // A worker killed between writing a temporary file and renaming it left the temporary behind;
  // a worker starting on the same machine removes those (never a live writer's, never another
  // machine's). Those written outside DATA_DIR go when their target is next written.
  // In the background: a large DATA_DIR takes a while to walk, and no start waits for it.
  void removeDeadWritersTemporaries(config.dataDir, { recursive: true }).then((abandoned) => {
    if (abandoned.length > 0) Runtime.instance().logger.info(`Removed ${abandoned.length} temporary file(s) left by killed workers under ${config.dataDir}`, { files: abandoned.slice(0, 20) });
  });
  warmUpFfmpeg({ ffmpegPath: config.ffmpegPath });
  return Worker.create({
    connection: opts.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...workflowSource(),
    activities: activitiesFromConfig(config, opts.engine),
    maxConcurrentActivityTaskExecutions: config.workerActivitySlots,
    // The chunk activities a workflow task schedules together (one per lane) start here at
    // once, in the reply to that task, instead of three eagerly (the default) and the rest
    // a poll round-trip later. Only free slots are reserved, so a busy worker takes fewer.
    maxEagerActivityReservationsPerWorkflowTask: Math.max(3, Math.min(config.transcribeConcurrency, config.workerActivitySlots)),
    shutdownGraceTime: `${opts.shutdownGraceSeconds ?? 10}s`,
    // A crashed worker's sticky tasks move to another worker after this long (default 10 s).
    stickyQueueScheduleToStartTimeout: '4s',
    shutdownForceTime: `${(opts.shutdownGraceSeconds ?? 10) + 20}s`,
    ...(opts.identity ? { identity: opts.identity } : {}),
    interceptors: {
      activity: [
        () => ({ inbound: new ActivityEventLog() }),
        ...(Object.keys(config.faultActivityDelays).length > 0 ? [() => ({ inbound: new DelayActivityStart(config.faultActivityDelays) })] : []),
      ],
    },
  });
}

/**
 * Fault injection for durability drills (FAULT_ACTIVITY_DELAYS): holds the named activities,
 * heartbeating, before they run, so a test or an operator can kill a worker inside any stage.
 */
class DelayActivityStart implements ActivityInboundCallsInterceptor {
  constructor(private readonly delays: Record<string, number>) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const ctx = Context.current();
    const ms = this.delays[ctx.info.activityType] ?? 0;
    const until = Date.now() + ms;
    while (Date.now() < until) {
      ctx.heartbeat(ctx.info.heartbeatDetails);
      await ctx.sleep(Math.min(1000, until - Date.now()));
    }
    return next(input);
  }
}
