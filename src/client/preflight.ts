// Checks made before anything is paid for: the model a provider takes, the keys of the
// providers this command will pay, the language the model knows, the output folder and the
// space for interim files. Each failure is one line the user can act on; none is followed by
// "run it again", since running it again would fail the same way.
import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { OPENAI_DEFAULT_BASE_URL, OPENAI_DIARIZE_MODEL, type Config } from '../config';
import { formatClock } from '../domain/timecode';
import { UsageError } from './errors';
import { humanBytes } from './output';

/** OpenAI's transcription models (and their dated snapshots, e.g. gpt-4o-mini-transcribe-2025-12-15). */
export const OPENAI_TRANSCRIPTION_MODELS = ['whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'gpt-4o-transcribe-diarize'] as const;

export function isOpenAITranscriptionModel(model: string): boolean {
  return OPENAI_TRANSCRIPTION_MODELS.some((m) => model === m || new RegExp(`^${m}-\\d{4}-\\d{2}-\\d{2}$`).test(model));
}

/** Whether the configured transcription service is OpenAI itself (not a compatible server). */
function isOpenAIItself(config: Config): boolean {
  return (config.openai.baseUrl ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, '') === OPENAI_DEFAULT_BASE_URL;
}

/**
 * Checks that need no network, made for every `speech run` (also --estimate): a model OpenAI
 * does not have, and a language an English-only local model cannot transcribe.
 */
export function checkModelOffline(config: Config, model: string, language: string | null): void {
  if (config.providers.transcription === 'openai' && isOpenAIItself(config) && !isOpenAITranscriptionModel(model)) {
    throw new UsageError(
      `--model ${model}: OpenAI has no transcription model of that name; nothing was started`,
      `Choose one of ${OPENAI_TRANSCRIPTION_MODELS.join(', ')} (or set TRANSCRIBE_MODEL).`,
    );
  }
  if (config.providers.transcription === 'local' && language && language !== 'en' && /\.en$/.test(config.local.asrModel)) {
    throw new UsageError(
      `--language ${language}: the local model ${config.local.asrModel} transcribes English only; nothing was started`,
      `Set LOCAL_ASR_MODEL to a multilingual model (e.g. ${config.local.asrModel.replace(/\.en$/, '')}) for ${language}, or leave out --language.`,
    );
  }
}

export interface ProviderNeeds {
  /** Some file will send audio for transcription to a cloud provider. */
  transcription: boolean;
  /** Some file will pay for diarization (a pyannote.ai job, or OpenAI diarize requests). */
  diarization: boolean;
  /** This process runs the worker (so the keys it has are the ones the runs will use). */
  inProcessWorker: boolean;
}

/**
 * The free, authenticated calls that prove a key and a model before paying: OpenAI's
 * `GET /v1/models` (the key, and for compatible servers the model list), pyannote.ai's
 * `GET /v1/test`. A refused key or an unlisted model is an error; a service that cannot be
 * reached is a warning (the worker may reach it where this process cannot). Returns warnings.
 */
export async function checkProviders(config: Config, model: string, needs: ProviderNeeds): Promise<string[]> {
  const warnings: string[] = [];
  const checks: Promise<void>[] = [];
  // OpenAI answers transcription, and diarization with DIARIZE_PROVIDER=openai: one model-list call checks the key and both models.
  const openaiModels = [
    ...(needs.transcription && config.providers.transcription === 'openai' ? [model] : []),
    ...(needs.diarization && config.providers.diarization === 'openai' ? [OPENAI_DIARIZE_MODEL] : []),
  ];
  if (openaiModels.length > 0) {
    if (!config.openai.apiKey) {
      if (needs.inProcessWorker) throw new UsageError('OPENAI_API_KEY is not set, and a stage is to run on OpenAI (TRANSCRIBE_PROVIDER or DIARIZE_PROVIDER=openai); nothing was started', 'Set OPENAI_API_KEY, or the provider to local to run on this machine.');
    } else checks.push(checkOpenAI(config, config.openai.apiKey, openaiModels, warnings));
  }
  if (needs.diarization && config.providers.diarization === 'pyannote') {
    if (!config.pyannote.apiKey) {
      if (needs.inProcessWorker) throw new UsageError('PYANNOTE_API_KEY is not set, and diarization is to run on pyannote.ai (DIARIZE_PROVIDER=pyannote); nothing was started', 'Set PYANNOTE_API_KEY, or DIARIZE_PROVIDER=local to run on this machine.');
    } else checks.push(checkPyannote(config, config.pyannote.apiKey, warnings));
  }
  await Promise.all(checks);
  return warnings;
}

async function checkOpenAI(config: Config, apiKey: string, models: string[], warnings: string[]): Promise<void> {
  const base = config.openai.baseUrl ?? OPENAI_DEFAULT_BASE_URL;
  const client = new OpenAI({ apiKey, baseURL: config.openai.baseUrl, maxRetries: 0, timeout: 10_000 });
  let ids: string[];
  try {
    ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
  } catch (err) {
    if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError) {
      throw new UsageError(`OPENAI_API_KEY was refused by ${base} (${err.status}); nothing was started`, 'Check the key (and OPENAI_BASE_URL): https://platform.openai.com/api-keys');
    }
    // A compatible server without a model list, or a network this process cannot use.
    warnings.push(`Could not check the transcription model and key with ${base}/models (${err instanceof OpenAI.APIError ? err.status : (err as Error).message}); the worker will find out.`);
    return;
  }
  for (const model of models) {
    if (ids.includes(model)) continue;
    const transcription = ids.filter((id) => isOpenAITranscriptionModel(id) || /whisper|transcri/i.test(id));
    throw new UsageError(
      `${model === OPENAI_DIARIZE_MODEL ? 'DIARIZE_PROVIDER=openai: the diarization model' : '--model'} ${model}: ${base} does not offer this model; nothing was started`,
      transcription.length > 0 ? `It lists ${transcription.slice(0, 8).join(', ')}${transcription.length > 8 ? ', …' : ''}.` : `It lists ${ids.slice(0, 8).join(', ') || 'no models'}.`,
    );
  }
}

async function checkPyannote(config: Config, apiKey: string, warnings: string[]): Promise<void> {
  const url = `${config.pyannote.baseUrl.replace(/\/+$/, '')}/v1/test`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    warnings.push(`Could not check PYANNOTE_API_KEY with ${url} (${(err as Error).message}); the worker will find out.`);
    return;
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status === 401 || res.status === 403) {
    throw new UsageError(`PYANNOTE_API_KEY was refused by ${config.pyannote.baseUrl} (${res.status}); nothing was started`, 'Check the key at https://dashboard.pyannote.ai');
  }
  if (res.status === 402) throw new UsageError(`pyannote.ai answers 402 for this key: the subscription or budget is used up; nothing was started`, 'Check the account at https://dashboard.pyannote.ai');
  if (!res.ok) warnings.push(`pyannote.ai's key check answered ${res.status}; going on.`);
}

/** 16 kHz mono 16-bit PCM: what conversion writes per second of audio. */
const WAV_BYTES_PER_SECOND = 32_000;

/** Bytes of interim files a run of `seconds` of audio needs: the WAV, and room for chunk transcripts and JSON. */
export function interimBytesFor(seconds: number): number {
  return Math.ceil(seconds * WAV_BYTES_PER_SECOND * 1.05) + 16 * 1024 * 1024;
}

/** The nearest folder of `p` that exists (the output folder may not exist yet). */
async function existingAncestor(p: string): Promise<string> {
  let dir = path.resolve(p);
  for (;;) {
    try {
      await access(dir, constants.F_OK);
      return dir;
    } catch {
      const up = path.dirname(dir);
      if (up === dir) return dir;
      dir = up;
    }
  }
}

/** The output folder can be created and written. */
export async function checkOutputFolder(outDir: string): Promise<void> {
  const dir = await existingAncestor(outDir);
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new UsageError(
      `${outDir}: the output folder cannot be written (no write permission on ${dir}); nothing was started`,
      'Choose another folder with --out DIR.',
    );
  }
}

/** DATA_DIR has room for this run's interim files. */
export async function checkInterimSpace(dataDir: string, seconds: number): Promise<void> {
  const dir = await existingAncestor(dataDir);
  const s = await statfs(dir);
  const free = Number(s.bavail) * Number(s.bsize);
  const need = interimBytesFor(seconds);
  if (free < need) {
    throw new UsageError(
      `${dataDir} has ${humanBytes(free)} free, and this run needs about ${humanBytes(need)} for its interim files (${formatClock(seconds)} of audio as 16 kHz WAV); nothing was started`,
      'Free some space (`speech cleanup` lists what can go), or set DATA_DIR to a larger disk.',
    );
  }
}
