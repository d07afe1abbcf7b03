// The local speech engine (engine/, Python): faster-whisper for transcription and voice
// activity + speaker embeddings + clustering for diarization, behind the same two HTTP contracts
// as OpenAI and pyannote.ai, so the one client of each talks to it unchanged. Started in the
// background like the embedded Temporal server (it outlives the command that started it), with a
// lock so concurrent starters share one, its log under DATA_DIR/logs and its jobs under
// DATA_DIR/engine.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { processAlive, processRunsWith, signalGroup, tail } from './background-process';
import type { Config } from './config';

export interface EngineInfo {
  pid: number;
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  asrModel: string;
  device: string;
  computeType: string;
  startedAt: string;
}

export interface EngineHealth {
  status: string;
  asr_model: string;
  device: string;
  compute_type: string;
  threads: number;
  /** Computations the engine runs at once (LOCAL_CONCURRENCY). */
  concurrency?: number;
  pid: number;
}

export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

export function engineDataDir(dataDir: string): string {
  return path.join(dataDir, 'engine');
}

function infoFile(dataDir: string): string {
  return path.join(engineDataDir(dataDir), 'engine.json');
}

/** Whether any stage runs on the local engine with this configuration. */
export function usesLocalEngine(config: Config): boolean {
  return config.providers.transcription === 'local' || config.providers.diarization === 'local';
}

/** The one line `speech run` and `speech worker` say about where each stage runs. */
export function describeProviders(config: Config, engine: EngineInfo | null): string {
  const where = (local: boolean, cloud: string) => (local ? `local engine${engine ? ` (${engine.url})` : ''}` : cloud);
  const t = config.providers.transcription === 'local' ? `faster-whisper ${config.local.asrModel} (${config.local.device}${config.local.computeType ? `/${config.local.computeType}` : ''})` : `${config.openai.model}`;
  return [
    `transcription: ${t} on ${where(config.providers.transcription === 'local', config.openai.baseUrl ?? 'OpenAI')}`,
    config.providers.diarization === 'openai'
      ? `diarization: gpt-4o-transcribe-diarize on ${config.openai.baseUrl ?? 'OpenAI'}`
      : `diarization: ${config.providers.diarization === 'local' ? 'voice activity + speaker embeddings' : config.pyannote.model} on ${where(config.providers.diarization === 'local', config.pyannote.baseUrl)}`,
  ].join('; ');
}

export function readEngineInfo(dataDir: string): EngineInfo | null {
  try {
    return JSON.parse(readFileSync(infoFile(dataDir), 'utf8')) as EngineInfo;
  } catch {
    return null;
  }
}

/** The recorded engine still runs: its pid is the engine on our data dir (pids are reused). */
export function engineAlive(info: EngineInfo): boolean {
  return processRunsWith(info.pid, 'speech_engine', info.dataDir);
}

export async function engineHealth(url: string, timeoutMs = 1500): Promise<EngineHealth | null> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    const body = (await res.json()) as EngineHealth;
    return body.status === 'ok' ? body : null;
  } catch {
    return null;
  }
}

/** The engine's concurrency under this configuration: LOCAL_CONCURRENCY, else its default (2, or 1 on one core). */
export function configuredEngineSlots(config: Config): number {
  return config.local.concurrency > 0 ? config.local.concurrency : Math.min(2, availableParallelism());
}

/**
 * How many transcriptions the engine at `url` computes at once (its /health), or what this
 * configuration starts it with when it does not answer.
 */
export async function engineSlots(url: string, config: Config): Promise<number> {
  const h = await engineHealth(url);
  return h && typeof h.concurrency === 'number' && h.concurrency >= 1 ? Math.floor(h.concurrency) : configuredEngineSlots(config);
}

/** Requests the transcription service computes at once on this machine: the engine's slots, or 1 for a cloud service. */
export function transcriptionSlots(config: Config): number {
  return config.providers.transcription === 'local' ? configuredEngineSlots(config) : 1;
}

/** Where the engine of this configuration answers (what ensureEngine's info says once it runs). */
export function engineUrl(config: Config): string {
  return `http://127.0.0.1:${config.local.port}`;
}

/** The engine for this DATA_DIR when it runs and answers, else null. */
export async function runningEngine(config: Config): Promise<EngineInfo | null> {
  const info = readEngineInfo(config.dataDir);
  if (!info || !engineAlive(info)) return null;
  return (await engineHealth(info.url)) ? info : null;
}

/** A running engine started with other settings than these (model, device, port…). */
function startedOtherwise(info: EngineInfo, config: Config): boolean {
  const l = config.local;
  return info.asrModel !== l.asrModel || info.device !== l.device || info.computeType !== (l.computeType ?? 'default') || info.port !== l.port;
}

/**
 * The running engine, or one started now. Several commands starting at once share one: the
 * first takes the lock and starts it, the others wait until it answers.
 */
export async function ensureEngine(config: Config, onStart?: (msg: string) => void, waitMs = 180_000): Promise<EngineInfo> {
  const dir = engineDataDir(config.dataDir);
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'start.lock');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const running = await runningEngine(config);
    if (running && !startedOtherwise(running, config)) return running;
    let fd: number | null = null;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== null) {
      try {
        writeFileSync(fd, String(process.pid));
        const again = await runningEngine(config);
        if (again && !startedOtherwise(again, config)) return again;
        if (again) {
          // Its accepted diarization jobs are on disk and finish after the restart; requests in
          // flight fail and are retried by Temporal.
          onStart?.(`The local speech engine runs with other settings (${again.asrModel} on ${again.device}, port ${again.port}); restarting it.`);
          await stopEngine(config.dataDir);
        }
        onStart?.(`Starting the local speech engine on ${engineUrl(config)} (faster-whisper ${config.local.asrModel} on ${config.local.device}; log ${path.join(config.dataDir, 'logs', 'engine.log')}) …`);
        return await startEngine(config, Math.max(1000, deadline - Date.now()));
      } finally {
        closeSync(fd);
        rmSync(lock, { force: true });
      }
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(lock, 'utf8')) || 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (holder > 0 && !processAlive(holder)) rmSync(lock, { force: true });
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new EngineError(`The local speech engine did not come up within ${waitMs / 1000} s; see ${path.join(config.dataDir, 'logs', 'engine.log')}`);
}

/** Starts the engine in the background and waits until it answers /health. */
export async function startEngine(config: Config, waitMs = 180_000): Promise<EngineInfo> {
  const python = config.local.python;
  if (!existsSync(python)) {
    throw new EngineError(
      `The local speech engine is not installed (${python} is missing). Install it with \`bash scripts/setup.sh\`, or set OPENAI_API_KEY and PYANNOTE_API_KEY to use the cloud providers.`,
    );
  }
  const dataDir = engineDataDir(config.dataDir);
  const logDir = path.join(config.dataDir, 'logs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, 'engine.log');
  const l = config.local;
  const args = [
    '-m', 'speech_engine', 'serve',
    '--host', '127.0.0.1',
    '--port', String(l.port),
    '--data-dir', dataDir,
    '--device', l.device,
    ...(l.computeType ? ['--compute-type', l.computeType] : []),
    ...(l.concurrency > 0 ? ['--concurrency', String(l.concurrency)] : []),
    ...(l.threads > 0 ? ['--threads', String(l.threads)] : []),
    ...(l.batchSize > 0 ? ['--batch-size', String(l.batchSize)] : []),
    ...(l.asrModel !== 'tiny.en' ? ['--asr-model', l.asrModel] : []),
  ];
  const out = openSync(logFile, 'a');
  // The engine reads no key; keep the cloud keys out of its environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/API_KEY$/.test(k)));
  const child = spawn(python, args, { detached: true, stdio: ['ignore', out, out], env });
  child.unref();
  closeSync(out);
  if (!child.pid) throw new EngineError(`Could not start ${python}; see ${logFile}`);
  const url = engineUrl(config);
  const info: EngineInfo = { pid: child.pid, url, port: l.port, dataDir, logFile, asrModel: l.asrModel, device: l.device, computeType: l.computeType ?? 'default', startedAt: new Date().toISOString() };
  writeFileSync(infoFile(config.dataDir), JSON.stringify(info, null, 2));
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (!processAlive(info.pid)) {
      rmSync(infoFile(config.dataDir), { force: true });
      throw new EngineError(`The local speech engine exited at start; its log is ${logFile}:\n${tail(logFile)}`);
    }
    if (await engineHealth(url, 1000)) return info;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new EngineError(`The local speech engine did not answer on ${url} within ${waitMs / 1000} s; see ${logFile}`);
}

/** Stops the engine recorded under DATA_DIR (SIGTERM, then SIGKILL); its accepted jobs stay on disk. */
export async function stopEngine(dataDir: string, waitMs = 10_000): Promise<boolean> {
  const info = readEngineInfo(dataDir);
  if (!info || !engineAlive(info)) {
    rmSync(infoFile(dataDir), { force: true });
    return false;
  }
  signalGroup(info.pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && engineAlive(info)) await new Promise((r) => setTimeout(r, 100));
  if (engineAlive(info)) signalGroup(info.pid, 'SIGKILL');
  rmSync(infoFile(dataDir), { force: true });
  return true;
}

/**
 * Keeps the engine up for a worker: when it dies (a crash, an OOM kill), it is started again on
 * the same port and data dir, where its accepted jobs wait; the activities' failed requests are
 * retried by Temporal meanwhile. Returns a function that stops watching.
 */
export function superviseEngine(config: Config, onRestart?: (msg: string) => void, everyMs = 1000): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const info = readEngineInfo(config.dataDir);
    if (info && engineAlive(info)) return;
    busy = true;
    onRestart?.('The local speech engine is not running; starting it again.');
    ensureEngine(config)
      .catch((err: unknown) => onRestart?.(`Could not restart the local speech engine: ${(err as Error).message}`))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
