// The environment, read once per process through one zod schema. Only worker.ts and
// client/ call these loaders; activities receive what they need through their deps.
import { z } from 'zod';
import path from 'node:path';
import { resolveUpload, uploadLabel, UPLOAD_CODECS, type UploadFormat } from './domain/upload-format';
import { DEFAULT_CHUNKS_PER_LANE } from './domain/chunk-plan';
import { DEFAULT_DEADLINE_BASE_MS } from './domain/deadlines';
import { heartbeatTimeouts, type ActivityGroupName } from './domain/heartbeats';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (name: string) =>
  optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: `${name} must be an http(s) URL such as https://api.example.com`,
  });

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .default('localhost:7233')
    .refine((v) => /^[^\s:/]+:\d{1,5}$/.test(v), { message: 'TEMPORAL_ADDRESS must be host:port, e.g. localhost:7233' }),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('speech-pipeline'),
  TEMPORAL_UI_URL: url('TEMPORAL_UI_URL'),
  TEMPORAL_CLI_PATH: optionalString,
  DATA_DIR: z.string().min(1).default('./data'),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: url('OPENAI_BASE_URL'),
  TRANSCRIBE_MODEL: z.string().min(1).default('whisper-1'),
  PYANNOTE_API_KEY: optionalString,
  PYANNOTE_BASE_URL: url('PYANNOTE_BASE_URL'),
  PYANNOTE_MODEL: z.enum(['precision-2', 'community-1']).default('precision-2'),
  PYANNOTE_POLL_SECONDS: z.coerce.number().positive().max(60).default(5),
  PYANNOTE_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(80),
  PRICES_FILE: optionalString,
  PROMPT_FILE: optionalString,
  UPLOAD_CODEC: z.enum(['auto', ...UPLOAD_CODECS]).default('auto'),
  UPLOAD_BITRATE_KBPS: z.coerce.number().int().min(8).max(320).optional(),
  FFMPEG_PATH: optionalString,
  FFPROBE_PATH: optionalString,
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_FORMAT: z.enum(['text', 'json']).default('text'),
  CHUNK_MAX_SECONDS: z.coerce.number().min(5).max(3600).default(600),
  TRANSCRIBE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  REQUEST_DEADLINE_BASE_SECONDS: z.coerce.number().min(1).max(3600).default(DEFAULT_DEADLINE_BASE_MS / 1000),
  CHUNKS_PER_LANE: z.coerce.number().int().min(1).max(64).default(DEFAULT_CHUNKS_PER_LANE),
  OPENAI_MAX_CONCURRENT_REQUESTS: z.coerce.number().int().min(1).max(256).default(16),
  PYANNOTE_MAX_CONCURRENT_REQUESTS: z.coerce.number().int().min(1).max(256).default(8),
  WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(512).default(32),
  TRANSCRIBE_PREVIOUS_TEXT_PROMPT: z.enum(['true', 'false', '1', '0']).default('true'),
  HEARTBEAT_TIMEOUT_SECONDS: z.coerce.number().int().min(2).max(600).optional(),
  TRANSCRIBE_PROVIDER: z.enum(['auto', 'openai', 'local']).default('auto'),
  DIARIZE_PROVIDER: z.enum(['auto', 'pyannote', 'local', 'openai']).default('auto'),
  LOCAL_ASR_MODEL: z.string().trim().min(1).default('tiny.en'),
  LOCAL_DEVICE: z.enum(['cpu', 'cuda', 'auto']).default('cpu'),
  LOCAL_COMPUTE_TYPE: optionalString.refine((v) => v === undefined || /^[a-z0-9_]+$/.test(v), { message: 'LOCAL_COMPUTE_TYPE must be a CTranslate2 compute type such as int8, int8_float16, float16, float32' }),
  LOCAL_THREADS: z.coerce.number().int().min(0).max(256).default(0),
  LOCAL_CONCURRENCY: z.coerce.number().int().min(0).max(64).default(0),
  LOCAL_BATCH_SIZE: z.coerce.number().int().min(0).max(64).default(0),
  LOCAL_ENGINE_PORT: z.coerce.number().int().min(1).max(65535).default(7340),
  LOCAL_ENGINE_PYTHON: optionalString,
  FAULT_ACTIVITY_DELAYS: optionalString.refine((v) => v === undefined || /^(\w+:\d+)(,\w+:\d+)*$/.test(v), {
    message: 'FAULT_ACTIVITY_DELAYS must look like mergeTranscript:5000,convertAudio:2000',
  }),
});

/** Every environment variable the product reads. */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.shape);

export interface Config {
  temporal: {
    address: string;
    namespace: string;
    apiKey: string | undefined;
    tls: { certPath: string; keyPath: string } | undefined;
    taskQueue: string;
    uiUrl: string | undefined;
    cliPath: string | undefined;
  };
  dataDir: string;
  openai: { apiKey: string | undefined; baseUrl: string | undefined; model: string };
  pyannote: { apiKey: string | undefined; baseUrl: string; model: 'precision-2' | 'community-1'; pollSeconds: number; requestsPerMinute: number };
  ffmpegPath: string | undefined;
  ffprobePath: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** `speech worker`'s log lines: readable text, or one JSON object per line. */
  logFormat: 'text' | 'json';
  chunkMaxSeconds: number;
  transcribeConcurrency: number;
  /** Long files are cut into at least this many chunks per lane (chunks of a minute or more): at most ~1/N of the audio is in flight. */
  chunksPerLane: number;
  /** Fixed part of every provider request's deadline (domain/deadlines.ts), in ms. */
  requestDeadlineBaseMs: number;
  /** Per worker process: requests in flight to each provider, across all runs. */
  providerConcurrency: { openai: number; pyannote: number };
  workerActivitySlots: number;
  /** HEARTBEAT_TIMEOUT_SECONDS, or 30: what a worker of an earlier release uses for every activity of a run. */
  heartbeatTimeoutSeconds: number;
  /** Per activity group (domain/heartbeats.ts); all HEARTBEAT_TIMEOUT_SECONDS when that is set. */
  heartbeatTimeouts: Record<ActivityGroupName, number>;
  previousTextPrompt: boolean;
  /** Fault injection for durability drills: activity name → milliseconds to hold it before it runs. */
  faultActivityDelays: Record<string, number>;
  /** A JSON price table laid over the shipped one (domain/usage.ts), for cost estimates. */
  pricesFile: string | undefined;
  /** A text file of vocabulary and names for every run's transcription prompt (`--prompt-file` per run). */
  promptFile: string | undefined;
  /** Where each stage runs: a cloud provider, or the local engine (engine/). */
  /** diarization `openai`: gpt-4o-transcribe-diarize with the OpenAI key, for users who have no pyannote.ai key. */
  providers: { transcription: 'openai' | 'local'; diarization: 'pyannote' | 'local' | 'openai' };
  /** What audio each stage sends its provider (domain/upload-format.ts): compact for cloud providers, the WAV for the local engine. */
  upload: { transcription: UploadFormat; diarization: UploadFormat };
  local: {
    /** faster-whisper model name or path; tiny.en is the one bundled with the engine. */
    asrModel: string;
    device: 'cpu' | 'cuda' | 'auto';
    /** CTranslate2 compute type; undefined: the engine's default (int8 on CPU, float16 on CUDA). */
    computeType: string | undefined;
    /** CPU threads per computation; 0: the engine's default (cores / concurrency). */
    threads: number;
    /** Computations at once in the engine; 0: the engine's default. */
    concurrency: number;
    /** Speech windows of up to 30 s decoded together; 1: one after another; 0: the engine's default (8). */
    batchSize: number;
    port: number;
    python: string;
  };
}

/** Thrown when the environment does not validate; carries one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const transcription = e.TRANSCRIBE_PROVIDER === 'auto' ? (e.OPENAI_API_KEY || e.OPENAI_BASE_URL ? 'openai' : 'local') : e.TRANSCRIBE_PROVIDER;
  const diarization = e.DIARIZE_PROVIDER === 'auto' ? (e.PYANNOTE_API_KEY || e.PYANNOTE_BASE_URL ? 'pyannote' : 'local') : e.DIARIZE_PROVIDER;
  if ((e.TEMPORAL_TLS_CERT === undefined) !== (e.TEMPORAL_TLS_KEY === undefined)) {
    throw new ConfigError(['TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate and key)']);
  }
  return {
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      apiKey: e.TEMPORAL_API_KEY,
      tls: e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY ? { certPath: e.TEMPORAL_TLS_CERT, keyPath: e.TEMPORAL_TLS_KEY } : undefined,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL,
      cliPath: e.TEMPORAL_CLI_PATH,
    },
    dataDir: path.resolve(e.DATA_DIR),
    openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL, model: e.TRANSCRIBE_MODEL },
    pyannote: {
      apiKey: e.PYANNOTE_API_KEY,
      baseUrl: e.PYANNOTE_BASE_URL ?? 'https://api.pyannote.ai',
      model: e.PYANNOTE_MODEL,
      pollSeconds: e.PYANNOTE_POLL_SECONDS,
      requestsPerMinute: e.PYANNOTE_REQUESTS_PER_MINUTE,
    },
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    chunkMaxSeconds: e.CHUNK_MAX_SECONDS,
    transcribeConcurrency: e.TRANSCRIBE_CONCURRENCY,
    chunksPerLane: e.CHUNKS_PER_LANE,
    requestDeadlineBaseMs: e.REQUEST_DEADLINE_BASE_SECONDS * 1000,
    providerConcurrency: { openai: e.OPENAI_MAX_CONCURRENT_REQUESTS, pyannote: e.PYANNOTE_MAX_CONCURRENT_REQUESTS },
    workerActivitySlots: e.WORKER_ACTIVITY_SLOTS,
    heartbeatTimeoutSeconds: e.HEARTBEAT_TIMEOUT_SECONDS ?? 30,
    heartbeatTimeouts: heartbeatTimeouts(e.HEARTBEAT_TIMEOUT_SECONDS),
    previousTextPrompt: e.TRANSCRIBE_PREVIOUS_TEXT_PROMPT === 'true' || e.TRANSCRIBE_PREVIOUS_TEXT_PROMPT === '1',
    providers: { transcription, diarization },
    upload: {
      transcription: resolveUpload(transcription, e.UPLOAD_CODEC, e.UPLOAD_BITRATE_KBPS),
      // OpenAI's diarizer sends WAV pieces with WAV reference clips of the speakers.
      diarization: diarization === 'openai' ? { codec: 'wav', bitrateKbps: null } : resolveUpload(diarization, e.UPLOAD_CODEC, e.UPLOAD_BITRATE_KBPS),
    },
    local: {
      asrModel: e.LOCAL_ASR_MODEL,
      device: e.LOCAL_DEVICE,
      computeType: e.LOCAL_COMPUTE_TYPE,
      threads: e.LOCAL_THREADS,
      concurrency: e.LOCAL_CONCURRENCY,
      batchSize: e.LOCAL_BATCH_SIZE,
      port: e.LOCAL_ENGINE_PORT,
      python: e.LOCAL_ENGINE_PYTHON ?? path.resolve(__dirname, '..', 'engine', '.venv', 'bin', 'python'),
    },
    pricesFile: e.PRICES_FILE,
    promptFile: e.PROMPT_FILE,
    faultActivityDelays: Object.fromEntries(
      (e.FAULT_ACTIVITY_DELAYS ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => {
          const [name, ms] = pair.split(':');
          return [name!, Number(ms)];
        }),
    ),
  };
}

/** Where a run's files live under DATA_DIR (design: "On disk"). */
export function dataPaths(dataDir: string, pipelineId: string) {
  return {
    stateRecord: path.join(dataDir, 'checkpoints', `${pipelineId}_state.json`),
    interimDir: path.join(dataDir, 'interim', pipelineId),
    outputDir: path.join(dataDir, 'output', pipelineId),
  };
}

export function checkpointsDir(dataDir: string): string {
  return path.join(dataDir, 'checkpoints');
}

/** Enrolled voices (`speech voices`), one JSON file each. */
export function voicesDir(dataDir: string): string {
  return path.join(dataDir, 'voices');
}

/**
 * The voice space of this configuration's diarizer: voiceprints are comparable only within the
 * provider (and endpoint) that made them, so each enrolled voice records the space it belongs to.
 */
export function voiceSpace(config: Pick<Config, 'providers' | 'pyannote'>): string {
  if (config.providers.diarization === 'openai') return 'openai-diarize';
  return config.providers.diarization === 'local' ? 'local-engine' : `pyannote:${config.pyannote.baseUrl.replace(/\/+$/, '')}`;
}

/** OpenAI's API, when OPENAI_BASE_URL does not name another server. */
export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** Who answers each stage under this configuration (cache keys, usage); never a key. */
export function serviceIds(config: Pick<Config, 'providers' | 'openai' | 'pyannote' | 'upload'>): {
  transcription: { provider: string; endpoint: string; upload: string };
  diarization: { provider: string; endpoint: string; model: string; upload: string };
} {
  return {
    transcription: {
      ...(config.providers.transcription === 'local' ? { provider: 'local', endpoint: '' } : { provider: 'openai', endpoint: config.openai.baseUrl ?? OPENAI_DEFAULT_BASE_URL }),
      upload: uploadLabel(config.upload.transcription),
    },
    diarization: {
      ...(config.providers.diarization === 'local'
        ? { provider: 'local', endpoint: '', model: 'local' }
        : config.providers.diarization === 'openai'
          ? { provider: 'openai', endpoint: config.openai.baseUrl ?? OPENAI_DEFAULT_BASE_URL, model: OPENAI_DIARIZE_MODEL }
          : { provider: 'pyannote', endpoint: config.pyannote.baseUrl, model: config.pyannote.model }),
      upload: uploadLabel(config.upload.diarization),
    },
  };
}

/** The model DIARIZE_PROVIDER=openai diarizes with. */
export const OPENAI_DIARIZE_MODEL = 'gpt-4o-transcribe-diarize';
