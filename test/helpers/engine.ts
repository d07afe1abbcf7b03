/**
 * The local speech engine (engine/, a Python process) for tests: started from engine/.venv on a
 * free port with a temporary data dir, ready once it prints its one ready line. It can be
 * SIGKILLed and started again on the same port and data dir (jobs live on disk there).
 * Also: espeak-ng conversations in two voices the speaker model tells apart, and a WER.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Pcm16, type Recording, type SpeakerId, type Turn, type TurnSpec, readWav, run, wavHeader } from './audio';
import { freePort } from './temporal';

export const ENGINE_DIR = resolve(__dirname, '../../engine');
export const ENGINE_PYTHON = join(ENGINE_DIR, '.venv/bin/python');

export function engineInstalled(): boolean {
  return existsSync(ENGINE_PYTHON);
}

export interface EngineHealth {
  status: string;
  asr_model: string;
  device: string;
  compute_type: string;
  threads: number;
  concurrency: number;
  beam_size: number;
  batch_size: number;
  pid: number;
  transcriptions: number;
  diarization_computations: number;
  jobs: Record<string, number>;
}

export interface TestEngine {
  readonly port: number;
  /** http://127.0.0.1:PORT — the pyannote.ai base URL. */
  readonly origin: string;
  /** origin + /v1 — the OpenAI base URL. */
  readonly openaiUrl: string;
  readonly dataDir: string;
  readonly pid: number;
  readonly readyLine: string;
  /** stderr of the current process (its log), last 64 KiB. */
  readonly log: string;
  health(): Promise<EngineHealth>;
  /** SIGKILL, no cleanup: what a crash looks like. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Starts the engine again on the same port and data dir (after kill or stop). */
  restart(env?: Record<string, string>): Promise<void>;
  /** Stops it (if running) and removes the data dir unless `keepData`. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export interface StartEngineOptions {
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  args?: string[];
  readyTimeoutMs?: number;
}

const READY = /^speech-engine ready on (http:\/\/\S+) \(asr: .+\)$/;

export async function startEngine(opts: StartEngineOptions = {}): Promise<TestEngine> {
  if (!engineInstalled()) throw new Error(`the speech engine is not installed (${ENGINE_PYTHON} missing): run bash scripts/setup.sh`);
  const dataDir = opts.dataDir ?? (await fsp.mkdtemp(join(tmpdir(), 'speech-engine-test-')));
  const port = opts.port ?? (await freePort());
  let child: ChildProcess | null = null;
  let readyLine = '';
  let log = '';

  async function launch(extraEnv: Record<string, string> = {}): Promise<void> {
    log = '';
    const proc = spawn(ENGINE_PYTHON, ['-m', 'speech_engine', 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env, ...extraEnv },
    });
    child = proc;
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-65536)));
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    readyLine = await new Promise<string>((resolveReady, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`the speech engine printed no ready line within ${timeoutMs} ms`)), timeoutMs);
      // 'close', not 'exit': by then stderr (the reason) has been read to its end.
      const onExit = (code: number | null, sig: string | null) => fail(new Error(`the speech engine exited (${code ?? sig}) before it was ready`));
      function fail(err: Error) {
        clearTimeout(timer);
        proc.off('close', onExit);
        if (proc.exitCode === null) proc.kill('SIGKILL');
        reject(new Error(`${err.message}\n${log.split('\n').slice(-20).join('\n')}`));
      }
      proc.once('close', onExit);
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = out.split('\n')[0]!;
        if (out.includes('\n')) {
          clearTimeout(timer);
          proc.off('close', onExit);
          if (READY.test(line)) resolveReady(line);
          else fail(new Error(`unexpected first line from the speech engine: ${line}`));
        }
      });
    });
  }

  async function waitExit(signal: NodeJS.Signals): Promise<number | null> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;
    proc.kill(signal);
    const [code] = await exited;
    return code;
  }

  try {
    await launch();
  } catch (err) {
    if (!opts.dataDir) await fsp.rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const origin = `http://127.0.0.1:${port}`;
  return {
    port,
    origin,
    openaiUrl: `${origin}/v1`,
    dataDir,
    get pid() {
      return child?.pid ?? 0;
    },
    get readyLine() {
      return readyLine;
    },
    get log() {
      return log;
    },
    async health() {
      const res = await fetch(`${origin}/health`);
      if (!res.ok) throw new Error(`GET /health answered ${res.status}`);
      return (await res.json()) as EngineHealth;
    },
    async kill() {
      await waitExit('SIGKILL');
    },
    stop: () => waitExit('SIGTERM'),
    restart: (env) => launch(env),
    async close(o = {}) {
      await waitExit('SIGTERM');
      if (!o.keepData && !opts.dataDir) await fsp.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Two voices the speaker encoder separates (cosine ≤ 0.70 between them, ≥ 0.87 within one):
 * espeak-ng's en-us and its f3 variant. (en-gb sounds like en-us to speaker models.)
 */
export const ENGINE_VOICES: Record<SpeakerId, string> = { A: 'en-us', B: 'en-us+f3' };

async function speak(dir: string, base: string, voice: string, text: string): Promise<Pcm16> {
  const raw = join(dir, `${base}.raw.wav`);
  const trimmed = join(dir, `${base}.wav`);
  await run('espeak-ng', ['-v', voice, '-s', '150', '-g', '10', '-w', raw, text]);
  await run('sox', [raw, '-b', '16', '-c', '1', trimmed, 'silence', '1', '0.005', '0.1%', 'reverse', 'silence', '1', '0.005', '0.1%', 'reverse', 'rate', '-h', '16000']);
  const pcm = await readWav(trimmed);
  await Promise.all([fsp.rm(raw, { force: true }), fsp.rm(trimmed, { force: true })]);
  return pcm;
}

/** A 16 kHz WAV of alternating en-us / en-us+f3 turns with exact turn times (from sample counts). */
export async function makeVoiceConversation(opts: { dir: string; turns: TurnSpec[]; name: string; gapSeconds?: number; edgeSeconds?: number }): Promise<Recording> {
  const sr = 16000;
  const gap = Math.round((opts.gapSeconds ?? 0.8) * sr);
  const edge = Math.round((opts.edgeSeconds ?? 0.5) * sr);
  await fsp.mkdir(opts.dir, { recursive: true });
  const parts = await Promise.all(opts.turns.map((t, i) => speak(opts.dir, `${opts.name}.${i}`, ENGINE_VOICES[t.speaker], t.text)));
  const pieces: Buffer[] = [Buffer.alloc(edge * 2)];
  const turns: Turn[] = [];
  let at = edge;
  parts.forEach((p, i) => {
    if (i > 0) {
      pieces.push(Buffer.alloc(gap * 2));
      at += gap;
    }
    const n = p.data.length / 2;
    turns.push({ ...opts.turns[i]!, start: at / sr, end: (at + n) / sr });
    pieces.push(p.data);
    at += n;
  });
  pieces.push(Buffer.alloc(edge * 2));
  at += edge;
  const data = Buffer.concat(pieces);
  const path = join(opts.dir, `${opts.name}.wav`);
  await fsp.writeFile(path, Buffer.concat([wavHeader(sr, 1, data.length), data]));
  return { path, duration: at / sr, turns };
}

const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen', 'twenty'];

/** Lower case words without punctuation; "10%" → "ten percent" (Whisper writes numbers as digits). */
export function normaliseWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/(\d+)\s*%/g, '$1 percent')
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => (/^\d+$/.test(w) && Number(w) <= 20 ? NUMBERS[Number(w)]! : w));
}

/** Word error rate: word-level Levenshtein distance over the reference length. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normaliseWords(reference);
  const hyp = normaliseWords(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : 1;
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[hyp.length]! / ref.length;
}
