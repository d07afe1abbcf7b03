// The moving parts of a benchmark run and their clean-up: one Temporal dev server, the
// emulators in their own child process, workers as `speech worker` child processes, temp
// dirs. Everything started is registered so that an error or Ctrl-C still removes it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Emulators, OpenAIRequestLogEntry, PyannoteRequestLogEntry, EmulatorsOptions } from '../test/emulators';
import { type CliResult, speech } from '../test/helpers/cli';
import { pipelineEnv } from '../test/helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../test/helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process';

const ROOT = path.resolve(__dirname, '..');

type Cleanup = { name: string; run: () => Promise<void> };
const cleanups: Cleanup[] = [];

/** Registers a clean-up step; steps run last-registered first. Returns an unregister function. */
export function onCleanup(name: string, run: () => Promise<void>): () => void {
  const c = { name, run };
  cleanups.push(c);
  return () => {
    const i = cleanups.indexOf(c);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    if (process.env.BENCH_DEBUG) console.error(`clean-up: ${c.name}`);
    try {
      await c.run();
    } catch (err) {
      console.error(`clean-up of ${c.name} failed: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs a bench's `main` as the process: its exit code (0 when it returns nothing), child
 * processes and temp dirs cleaned up on every way out (end, failure, Ctrl-C, SIGTERM).
 */
export function runBench(main: () => Promise<number | void>): void {
  let exiting = false;
  const shutdown = async (code: number): Promise<void> => {
    // A second signal (tsx relays Ctrl-C to this process too) must not cut the clean-up short.
    if (exiting) return;
    exiting = true;
    if (code !== 0 && code !== 1) console.error(`\nstopping (exit ${code}): cleaning up child processes and temp dirs…`);
    await cleanupAll();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));
  // Calls still pending when clean-up closes the client fail late: during clean-up that is
  // expected and must not cut it short; at any other time it is a bench failure.
  const onStray = (err: unknown) => {
    if (exiting) return;
    console.error(`\nbench failed: ${(err as Error)?.stack ?? String(err)}`);
    void shutdown(1);
  };
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
  main().then(
    (code) => shutdown(code ?? 0),
    (err) => {
      console.error(`\nbench failed: ${(err as Error).stack ?? String(err)}`);
      return shutdown(1);
    },
  );
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await testTmpDir(prefix);
  onCleanup(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The `temporal` on PATH may be a pyenv shim (a shell script in front of the binary):
 * prefer the real executable, as the project notes advise, unless TEMPORAL_CLI_PATH is set.
 */
function resolveTemporalCli(): void {
  if (process.env.TEMPORAL_CLI_PATH) return;
  const r = spawnSync('pyenv', ['which', 'temporal'], { encoding: 'utf8' });
  const p = r.status === 0 ? r.stdout.trim() : '';
  if (p && existsSync(p)) process.env.TEMPORAL_CLI_PATH = p;
}

export interface Server {
  server: TestServer;
  connection: Connection;
  client: Client;
}

export async function startServer(): Promise<Server> {
  resolveTemporalCli();
  const server = await startTestServer();
  onCleanup('temporal dev server', () => server.stop());
  const connection = await Connection.connect({ address: server.address });
  onCleanup('client connection', () => connection.close());
  return { server, connection, client: new Client({ connection }) };
}

/** The two emulators, each in its own child process, reached over HTTP (admin API for the logs). */
export interface EmulatorProcess {
  env: Record<string, string>;
  openaiOrigin: string;
  pyannoteUrl: string;
  pids: { openai: number; pyannote: number };
  openaiRequests(): Promise<OpenAIRequestLogEntry[]>;
  pyannoteRequests(): Promise<PyannoteRequestLogEntry[]>;
  /** Clears request logs, faults, jobs and uploaded media of both emulators. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The emulators run at normal priority: on this 2-core machine their CPU (reading bodies,
 * decoding and analysing audio) competes with the pipeline, as the bench reports per section.
 */
export const EMULATOR_NICE = 0;


async function spawnEmulator(which: 'openai' | 'pyannote', opts: unknown, nice = 0): Promise<{ child: ChildProcess; url: string; origin: string; stop: () => Promise<void> }> {
  const args = ['--import', 'tsx', path.join(ROOT, 'bench', 'emulators-process.ts'), which, JSON.stringify(opts ?? {})];
  // `nice` before node, so every thread the process starts has the priority.
  const [command, argv] = nice !== 0 ? ['nice', ['-n', String(nice), process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const unregister = onCleanup(`${which} emulator pid ${child.pid}`, stop);
  const deadline = Date.now() + 30_000;
  while (!out.includes('\n')) {
    if (child.exitCode !== null) throw new Error(`${which} emulator exited at start:\n${err}`);
    if (Date.now() > deadline) throw new Error(`${which} emulator did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const ready = JSON.parse(out.split('\n')[0]!) as { url: string; origin: string };
  return {
    child,
    ...ready,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}

export async function startEmulatorProcess(opts: EmulatorsOptions, { pyannoteNice = EMULATOR_NICE } = {}): Promise<EmulatorProcess> {
  const [openai, pyannote] = await Promise.all([spawnEmulator('openai', opts.openai), spawnEmulator('pyannote', opts.pyannote, pyannoteNice)]);
  const get = async <T>(url: string): Promise<T> => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const post = async (url: string) => {
    const res = await fetch(url, { method: 'POST' });
    if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status}`);
  };
  return {
    // The keys the emulators accept by default (startEmulators gives the same).
    env: { OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'test-openai-key', PYANNOTE_BASE_URL: pyannote.url, PYANNOTE_API_KEY: 'test-pyannote-key' },
    openaiOrigin: openai.origin,
    pyannoteUrl: pyannote.origin,
    pids: { openai: openai.child.pid!, pyannote: pyannote.child.pid! },
    openaiRequests: () => get(`${openai.origin}/__emulator/requests`),
    pyannoteRequests: () => get(`${pyannote.origin}/__emulator/requests`),
    reset: async () => {
      await post(`${openai.origin}/__emulator/reset`);
      await post(`${pyannote.origin}/__emulator/reset`);
    },
    stop: async () => {
      await Promise.all([openai.stop(), pyannote.stop()]);
    },
  };
}

/**
 * Worker/CLI environment: the test helper's, pointed at this bench's server and emulators, with
 * the product's default heartbeat timeouts and poll interval (the tests shorten both).
 */
export function benchEnv(srv: Server, emus: Pick<EmulatorProcess, 'env'>, extra: Record<string, string>): NodeJS.ProcessEnv {
  // pipelineEnv only reads `env` from the emulators.
  const env = pipelineEnv(srv.server, { env: emus.env } as Emulators);
  delete env.HEARTBEAT_TIMEOUT_SECONDS;
  delete env.PYANNOTE_POLL_SECONDS;
  return { ...env, ...extra };
}

export interface BenchWorker extends WorkerProcess {
  pid: number;
}

export async function startWorker(env: NodeJS.ProcessEnv): Promise<BenchWorker> {
  const w = await startWorkerProcess(env);
  const unregister = onCleanup(`worker pid ${w.child.pid}`, async () => {
    if (w.child.exitCode === null && w.child.signalCode === null) await w.kill();
  });
  const stop = async () => {
    unregister();
    if (w.child.exitCode !== null || w.child.signalCode !== null) return null;
    const t = setTimeout(() => w.child.kill('SIGKILL'), 40_000);
    const code = await w.stop();
    clearTimeout(t);
    return code;
  };
  const kill = async () => {
    unregister();
    await w.kill();
  };
  return { ...w, pid: w.child.pid!, stop, kill };
}

/** Runs `node bin/speech.js …` to the end; the child is killed on clean-up if still running. */
export async function runSpeech(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  let unregister = () => {};
  try {
    const r = await speech(args, {
      env,
      cwd: ROOT,
      timeoutMs,
      onSpawn: (child) => {
        unregister = onCleanup(`speech ${args[0]} pid ${child.pid}`, async () => {
          if (child.exitCode === null) child.kill('SIGKILL');
        });
      },
    });
    return { ...r, ms: Date.now() - started };
  } finally {
    unregister();
  }
}

/** Memory of one process (kB fields of /proc/<pid>/status), or null once it is gone. */
export async function procStatus(pid: number): Promise<{ rssKb: number; hwmKb: number } | null> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Descendant pids of `pid` (ffmpeg children of a worker, …), from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [c, pp] of parentOf) {
      if (pp === p) {
        out.push(c);
        frontier.push(c);
      }
    }
  }
  return out;
}

export interface RssSampler {
  stop(): Promise<{ peakRssKb: number; peakAt: number; hwmKb: number; peakTreeKb: number; samples: number; series: { at: number; rssKb: number }[] }>;
}

/**
 * Samples VmRSS of a process (and the sum over it and its descendants) every `everyMs`;
 * on stop, reads its VmHWM, the kernel's own peak, which no sampling interval can miss.
 */
export function sampleRss(pid: number, everyMs = 100): RssSampler {
  let peakRssKb = 0;
  let peakAt = 0;
  const series: { at: number; rssKb: number }[] = [];
  let hwmKb = 0;
  let peakTreeKb = 0;
  let samples = 0;
  let running = true;
  let tick = 0;
  const loop = (async () => {
    while (running) {
      const s = await procStatus(pid);
      if (!s) break;
      samples += 1;
      series.push({ at: Date.now(), rssKb: s.rssKb });
      if (s.rssKb > peakRssKb) {
        peakRssKb = s.rssKb;
        peakAt = Date.now();
      }
      hwmKb = Math.max(hwmKb, s.hwmKb);
      // The tree scan walks /proc: every 5th sample is enough for the children.
      if (tick++ % 5 === 0) {
        let tree = s.rssKb;
        for (const c of await descendants(pid)) tree += (await procStatus(c))?.rssKb ?? 0;
        peakTreeKb = Math.max(peakTreeKb, tree);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      const s = await procStatus(pid);
      if (s) hwmKb = Math.max(hwmKb, s.hwmKb);
      running = false;
      await loop;
      return { peakRssKb, peakAt, hwmKb, peakTreeKb: Math.max(peakTreeKb, peakRssKb), samples, series };
    },
  };
}

/** CPU seconds a process used, its waited-for children (ffmpeg) included; null once it is gone. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14–17 of stat (utime, stime, cutime, cstime) are 11–14 after "state".
    const ticks = [11, 12, 13, 14].reduce((s, i) => s + Number(f[i] ?? 0), 0);
    return ticks / 100;
  } catch {
    return null;
  }
}
