// The chaos drill of `npm run drill:chaos` (scripts/drill-chaos.ts): many distinct recordings, some chunked, run
// through three `speech worker` processes while one of them is SIGKILLed at random every few
// seconds and restarted, the Temporal dev server is restarted once (same port, same SQLite
// file), and the provider emulators misbehave at random on about 5 % of requests. It passes
// only when every run completed, every export is byte-identical to a clean run of the same
// file, each file had one diarization job, the audio sent again is at most what was in flight
// at the kills, and nothing is left behind (ffmpeg processes, temporary files, damaged files).
//
// Everything is real but the providers: the `speech` CLI and workers (from a copy of dist/
// taken at the start), the dev server, ffmpeg. The clean runs go first, on a server, emulators
// and DATA_DIR of their own; the chaos then runs on another, whose emulators fault at random.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { faultLabel, seededRandom, startEmulators, type Emulators, type FaultAction, type OpenAIRequestLogEntry } from '../emulators';
import { DEFAULT_TURNS, MEETING_SENTENCES, makeTwoSpeakerRecording, transcode, type TurnSpec } from './audio';
import { EXPORT_FORMATS } from '../../src/domain/stages';
import { SPEECH_BIN, type CliResult } from './cli';
import { pipelineEnv } from './pipeline';
import { startTestServer, testTmpDir, type TestServer } from './temporal';
import type { WorkerProcess } from './worker-process';

export interface ChaosOptions {
  /** Distinct recordings (at least 12 for the drill the issue asks for). */
  files: number;
  /** How many of them are long enough to be cut into chunks. */
  chunkedFiles: number;
  /** Runs in flight at once (`speech run --parallel`); all files by default. */
  parallel?: number;
  /** Sentences in a chunked recording, at least and at most (about 5 s each with its pause; default 9–12, 45–70 s). */
  chunkedTurns?: [number, number];
  /** Seed of everything drawn at random: recordings, kill times and victims, faults. Random if left out; printed. */
  seed?: number;
  workers?: number;
  /** A worker is killed every killEveryMs[0]…killEveryMs[1] ms, uniformly. */
  killEveryMs?: [number, number];
  /** Share of provider requests that misbehave. */
  faultProbability?: number;
  /** Whether `hang` is among the faults (a request never answered). */
  hang?: boolean;
  /** The server is restarted after this many kills (drawn from the seed by default: 2–4). */
  serverRestartAfterKill?: number;
  chunkMaxSeconds?: number;
  /**
   * HEARTBEAT_TIMEOUT_SECONDS for every activity: how long a killed worker's activities wait
   * before another worker takes them. By default the product's own per-activity timeouts
   * (src/domain/heartbeats.ts), not the 5 s the other tests set: the SDK sends heartbeats at
   * most every 0.8 × the timeout, which leaves a loaded machine 1 s of slack at 5 s.
   */
  heartbeatTimeoutSeconds?: number;
  /** Emulated provider latency during the chaos: what keeps requests in flight when kills land. */
  openaiLatency?: { fixedMs: number; perAudioSecondMs: number };
  pyannoteLatency?: { fixedMs: number; perAudioSecondMs: number };
  /** The chaos phase fails past this (the CLI is killed). */
  chaosTimeoutMs?: number;
  /** Keep the drill's folder (recordings, both DATA_DIRs, the workers' logs) for inspection. */
  keep?: boolean;
  /** Stops the drill (it then fails, after cleaning up). */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ChaosCheck {
  ok: boolean;
  what: string;
}

export interface ChaosOutcome {
  passed: boolean;
  checks: ChaosCheck[];
  report: string[];
  seed: number;
  figures: Record<string, unknown>;
}

/** Requests answered this long before a kill by the killed worker still count as in flight: the answer was in, its activity not yet reported. */
export const ANSWERED_GRACE_MS = 2000;
/** How late the emulator (in the drill's busy process) may log the arrival of a request sent before a kill. */
const ARRIVAL_SLACK_MS = 1000;
const DEFAULT_KINDS = (hang: boolean): FaultAction[] => [
  { kind: 'status', status: 429, retryAfterSeconds: 1 },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'reset' },
  ...(hang ? [{ kind: 'hang' } as const] : []),
];

/** Extra sentences beside the helpers' own, so two dozen recordings need not repeat one another. */
const MORE_SENTENCES: readonly string[] = [
  'The river level rose overnight after the heavy rain in the hills.',
  'Our new office opens on the second floor next to the library.',
  'Please remember to bring the signed forms to the front desk.',
  'The train to the coast leaves every hour from platform four.',
  'We tested the new software on three old laptops without trouble.',
  'Dinner will be served in the garden if the weather stays dry.',
  'The museum adds a small exhibition about early radio this winter.',
  'Could you check whether the printer on the third floor works again?',
  'Our football team won the final by two goals to one.',
  'The bakery on the corner sells bread until seven in the evening.',
];

const SENTENCES = [...MEETING_SENTENCES, ...DEFAULT_TURNS.map((t) => t.text), ...MORE_SENTENCES];
const FORMATS = ['wav', 'mp3', 'm4a', 'flac', 'ogg'] as const;

interface Kill {
  /** When SIGKILL was sent. */
  at: number;
  /** When the process was seen gone. */
  goneAt: number;
  pid: number;
  /** Local ports of the killed worker's connections to the OpenAI emulator at the kill. */
  ports: Set<number>;
}

/**
 * The build the drill runs, copied at its start: dist/ may be rebuilt while the drill runs (by
 * `npm run build` elsewhere in the same checkout), and one drill must not mix two builds.
 */
async function snapshotApp(target: string): Promise<string> {
  const root = path.resolve(SPEECH_BIN, '..', '..');
  await mkdir(target, { recursive: true });
  await Promise.all([
    cp(path.join(root, 'bin'), path.join(target, 'bin'), { recursive: true }),
    cp(path.join(root, 'dist'), path.join(target, 'dist'), { recursive: true }),
    cp(path.join(root, 'package.json'), path.join(target, 'package.json')),
    symlink(path.join(root, 'node_modules'), path.join(target, 'node_modules'), 'dir'),
  ]);
  return path.join(target, 'bin', 'speech.js');
}

/** `speech ARGS` of the snapshot as a child process, like test/helpers/cli.ts's speech(). */
function runSpeech(bin: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs: number; track: (child: ChildProcess) => void }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    opts.track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`speech ${args[0]} did not finish within ${opts.timeoutMs / 1000} s\nstdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`));
    }, opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Slot {
  worker: WorkerProcess | null;
  starting: Promise<void> | null;
}

/** `speech worker` as a child, ready once it polls; like test/helpers/worker-process.ts, with a deadline for a loaded machine. */
async function startWorker(bin: string, env: NodeJS.ProcessEnv, track: (child: ChildProcess) => void, timeoutMs: number, logDir: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [bin, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  // Each worker's log stays with the drill's folder, as evidence when something goes wrong.
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      void writeFile(path.join(logDir, `worker-${child.pid}.log`), `${out}\n[exit ${signal ?? code}]\n`).catch(() => undefined).then(() => resolve(code));
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!/Worker polling/.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker ${child.pid} exited at start:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker ${child.pid} did not poll within ${timeoutMs / 1000} s:\n${out}`);
    }
    await sleep(50);
  }
  return {
    child,
    output: () => out,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

interface RunJson {
  ok: boolean;
  runs: { file: string; pipeline_id: string | null; run_id: string | null; status: string; mode: string; outputs: string[]; error: { type: string; message: string } | null }[];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The TCP connections of processes `pids` to local ports `remotePorts` (Linux /proc): which
 * process holds which local port. Read while they live (a killed process's sockets are gone).
 */
export function connectionsOf(pids: number[], remotePorts: number[]): { pid: number; remotePort: number; localPort: number }[] {
  const owner = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) owner.set(m[1]!, pid);
      } catch {
        // closed while we looked
      }
    }
  }
  const found: { pid: number; remotePort: number; localPort: number }[] = [];
  if (owner.size === 0) return found;
  const port = (addr: string) => parseInt(addr.split(':')[1] ?? '', 16);
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const pid = f.length >= 10 ? owner.get(f[9]!) : undefined;
      if (pid === undefined) continue;
      const remotePort = port(f[2]!);
      if (remotePorts.includes(remotePort)) found.push({ pid, remotePort, localPort: port(f[1]!) });
    }
  }
  return found;
}

/** ffmpeg processes whose command line names something under `dir`. */
export function ffmpegProcessesUnder(dir: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (argv[0] && /(^|\/)ffmpeg$/.test(argv[0]) && argv.some((a) => a.includes(dir))) found.push({ pid: Number(name), cmdline: argv.join(' ') });
  }
  return found;
}

/**
 * Files the product would leave half-written: its temporaries are `.NAME.<pid>.<random>.tmp`
 * beside their target (artifact store, conversion, upload encodes); `.part` for good measure.
 * The dev server's own database folder is not the product's.
 */
export async function temporaryFilesUnder(dir: string, skip: string[] = []): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (skip.includes(p)) continue;
      if (e.isDirectory()) await walk(p);
      else if (/\.(tmp|part)$/.test(e.name) || /^\..*\.tmp\b/.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

interface Recording {
  path: string;
  name: string;
  duration: number;
  chunked: boolean;
}

/** Distinct recordings: their own sentences, voice order, pauses and container. */
async function makeRecordings(dir: string, n: number, chunked: number, chunkedTurns: [number, number], random: () => number): Promise<Recording[]> {
  const pool = [...SENTENCES];
  const out: Recording[] = [];
  let cursor = Math.floor(random() * pool.length);
  // Two at a time: each already runs its sentences through espeak-ng in parallel.
  for (let i = 0; i < n; i += 2) {
    const batch = Array.from({ length: Math.min(2, n - i) }, (_, j) => i + j);
    out.push(
      ...(await Promise.all(
        batch.map(async (k) => {
          // Spread evenly: with 12 files and 4 chunked, files 1, 4, 7 and 10.
          const long = (k * chunked) % n < chunked;
          const count = long ? chunkedTurns[0] + Math.floor(random() * (chunkedTurns[1] - chunkedTurns[0] + 1)) : 2 + Math.floor(random() * 3);
          const first = random() < 0.5 ? 'A' : 'B';
          const turns: TurnSpec[] = Array.from({ length: count }, (_, t) => ({
            speaker: (t % 2 === 0) === (first === 'A') ? 'A' : 'B',
            text: pool[(cursor + k * 7 + t) % pool.length]!,
          }));
          cursor += 3;
          const name = `chaos-${String(k + 1).padStart(2, '0')}`;
          const gapSeconds = 0.5 + Math.round(random() * 10) / 20;
          const rec = await makeTwoSpeakerRecording({ dir, name, turns, gapSeconds, sampleRate: k % 3 === 0 ? 16000 : 22050 });
          const format = FORMATS[k % FORMATS.length]!;
          if (format === 'wav') return { path: rec.path, name: path.basename(rec.path), duration: rec.duration, chunked: long };
          const target = path.join(dir, `${name}.${format}`);
          await transcode(rec.path, target);
          await rm(rec.path, { force: true });
          return { path: target, name: path.basename(target), duration: rec.duration, chunked: long };
        }),
      )),
    );
  }
  return out;
}

/** The file names of `outputs` mapped to their bytes. */
async function readOutputs(outputs: string[]): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const f of outputs) m.set(path.basename(f), await readFile(f));
  return m;
}

/** Where two exports first differ, as a short excerpt of each. */
function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const show = (x: Buffer) => JSON.stringify(x.subarray(Math.max(0, i - 30), i + 50).toString('utf8'));
  return `at byte ${i}: clean ${show(a)} vs chaos ${show(b)}`;
}

/**
 * Why a run failed, from its history: each activity that closed failed or timed out (type,
 * attempt, the worker of the last attempt and whether and when the drill killed it) and the
 * workflow's failure. Times are seconds since the chaos began.
 */
async function failureEvidence(client: Client, id: string, runId: string | undefined, kills: Kill[], tChaos: number): Promise<string[]> {
  const history = await client.workflow.getHandle(id, runId).fetchHistory();
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  const at = (t: number) => `${((t - tChaos) / 1000).toFixed(1)} s`;
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, { attempt: number; identity: string; at: number }>();
  const lines: string[] = [];
  for (const e of history.events ?? []) {
    const t = ms(e.eventTime);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', at: t });
    const st = e.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), { attempt: st.attempt ?? 1, identity: st.identity ?? '?', at: t });
    const closed = e.activityTaskTimedOutEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (closed) {
      const key = String(closed.scheduledEventId);
      const a = started.get(key);
      const pid = Number(a?.identity.split('@')[0]);
      const killed = kills.filter((k) => k.pid === pid).map((k) => at(k.at));
      lines.push(
        `${id} event ${e.eventId} at ${at(t)}: ${scheduled.get(key)?.type} (scheduled at ${at(scheduled.get(key)?.at ?? 0)}) closed after attempt ${a?.attempt ?? '?'}: ${closed.failure?.message ?? '?'}; ` +
          `the last attempt started at ${a ? at(a.at) : '?'} on worker ${a?.identity ?? '?'}, ${killed.length ? `which the drill killed at ${killed.join(', ')}` : 'which the drill did not kill'}`,
      );
    }
    const wf = e.workflowExecutionFailedEventAttributes;
    if (wf) lines.push(`${id} failed at ${at(t)}: ${wf.failure?.message ?? '?'}${wf.failure?.cause ? ` (cause: ${wf.failure.cause.message})` : ''}`);
  }
  return lines;
}

/** The runs still open on the server, each with its pending activities (attempt, last failure, last worker and whether it was killed). */
async function stuckRuns(client: Client, kills: Kill[], tChaos: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    const d = await client.workflow.getHandle(w.workflowId, w.runId).describe();
    const pending = (d.raw.pendingActivities ?? []).map((a) => {
      const pid = Number((a.lastWorkerIdentity ?? '').split('@')[0]);
      const killed = kills.filter((k) => k.pid === pid).map((k) => `${((k.at - tChaos) / 1000).toFixed(1)} s`);
      return `${a.activityType?.name} attempt ${a.attempt} (${a.lastFailure?.message ?? 'no failure yet'}; last worker ${a.lastWorkerIdentity || '-'}${killed.length ? `, killed at ${killed.join(', ')}` : ''})`;
    });
    lines.push(`${w.workflowId}: ${pending.length ? pending.join('; ') : 'no pending activity (a workflow task)'}`);
  }
  return lines;
}

/** Chunk identity in the OpenAI emulator's log: the same audio under the same chunk name. */
const chunkKey = (r: OpenAIRequestLogEntry) => `${r.filename ?? '?'}|${r.fileSha256 ?? '?'}`;

export async function runChaosDrill(opts: ChaosOptions): Promise<ChaosOutcome> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const report: string[] = [];
  const say = (l: string) => {
    report.push(l);
    log(l);
  };
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const workerCount = opts.workers ?? 3;
  const [killMin, killMax] = opts.killEveryMs ?? [3000, 8000];
  const faultProbability = opts.faultProbability ?? 0.05;
  const hang = opts.hang ?? true;
  const restartAfter = opts.serverRestartAfterKill ?? 2 + Math.floor(random() * 3);
  const chaosTimeoutMs = opts.chaosTimeoutMs ?? 600_000;
  const settings = {
    CHUNK_MAX_SECONDS: String(opts.chunkMaxSeconds ?? 20),
    TRANSCRIBE_CONCURRENCY: '4',
    PYANNOTE_POLL_SECONDS: '1',
    // Each activity's start and end in the workers' logs (kept in the drill's folder).
    LOG_LEVEL: 'info',
  };
  const envFor = (server: TestServer, emus: Emulators): NodeJS.ProcessEnv => {
    const env = pipelineEnv(server, emus, settings);
    if (opts.heartbeatTimeoutSeconds !== undefined) env.HEARTBEAT_TIMEOUT_SECONDS = String(opts.heartbeatTimeoutSeconds);
    else delete env.HEARTBEAT_TIMEOUT_SECONDS;
    return env;
  };
  const checks: ChaosCheck[] = [];
  const check = (ok: boolean, what: string) => {
    checks.push({ ok, what });
    return ok;
  };
  const figures: Record<string, unknown> = { seed };
  const t0 = Date.now();

  // Everything started, so every exit path (an interruption too) ends it.
  const children = new Set<ChildProcess>();
  const track = (child: ChildProcess) => {
    children.add(child);
    child.once('exit', () => children.delete(child));
    if (interrupted()) child.kill('SIGKILL');
  };
  const interrupted = () => opts.signal?.aborted === true;
  const onAbort = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const servers: TestServer[] = [];
  const emulators: Emulators[] = [];
  let connection: Connection | null = null;
  const dir = await testTmpDir('speech-chaos-');
  const logDir = path.join(dir, 'logs');
  await mkdir(path.join(logDir, 'clean'), { recursive: true });
  const cleanUp = async () => {
    opts.signal?.removeEventListener('abort', onAbort);
    await Promise.all([...children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r).kill('SIGKILL'))));
    await connection?.close().catch(() => undefined);
    await Promise.all(emulators.map((e) => e.close().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.stop({ keepData: true }).catch(() => undefined)));
    if (!opts.keep) await rm(dir, { recursive: true, force: true });
  };
  let bin = SPEECH_BIN;
  const cli = (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliResult> => runSpeech(bin, args, { env, cwd: dir, timeoutMs, track });
  const parseRun = (r: CliResult): RunJson | null => {
    try {
      return JSON.parse(r.stdout) as RunJson;
    } catch {
      return null;
    }
  };

  let passed = false;
  try {
    say(`Chaos drill, seed ${seed}: ${opts.files} recordings (${opts.chunkedFiles} chunked at ≤ ${settings.CHUNK_MAX_SECONDS} s), ${workerCount} workers, a SIGKILL every ${killMin / 1000}–${killMax / 1000} s, the server restarted after kill ${restartAfter}, faults at ${faultProbability * 100} % of requests (${DEFAULT_KINDS(hang).map(faultLabel).join(', ')})`);

    bin = await snapshotApp(path.join(dir, 'app'));

    // 1. Recordings.
    const tRec = Date.now();
    const recordings = await makeRecordings(path.join(dir, 'recordings'), opts.files, opts.chunkedFiles, opts.chunkedTurns ?? [9, 12], random);
    const files = recordings.map((r) => r.path);
    const audioTotal = recordings.reduce((s, r) => s + r.duration, 0);
    say(`  recordings: ${recordings.length} (${recordings.filter((r) => r.chunked).length} long enough to be chunked), ${audioTotal.toFixed(0)} s of audio in all, ${recordings.map((r) => `${r.name} ${r.duration.toFixed(0)} s`).join(', ')} (made in ${seconds(Date.now() - tRec)})`);
    // Every export format, DOCX (a zip) included: all of them must come out byte-identical.
    const runArgs = ['run', ...files, '--no-worker', '--json', '--parallel', String(Math.min(100, opts.parallel ?? files.length)), '--formats', EXPORT_FORMATS.join(',')];

    // 2. The clean runs: no faults, no kills, no latency, their own server and DATA_DIR.
    const tClean = Date.now();
    const cleanServer = await startTestServer({ dataDir: path.join(dir, 'clean') });
    servers.push(cleanServer);
    const cleanEmus = await startEmulators();
    emulators.push(cleanEmus);
    const cleanEnv = envFor(cleanServer, cleanEmus);
    const cleanWorkers = await Promise.all([startWorker(bin, cleanEnv, track, 90_000, path.join(logDir, 'clean')), startWorker(bin, cleanEnv, track, 90_000, path.join(logDir, 'clean'))]);
    const cleanRun = await cli(runArgs, cleanEnv, 300_000);
    const clean = parseRun(cleanRun);
    if (cleanRun.code !== 0 || !clean) throw new Error(`the clean runs did not all complete (exit ${cleanRun.code}):\n${cleanRun.stdout.slice(0, 3000)}\n${cleanRun.stderr.slice(-3000)}`);
    const cleanExports = new Map<string, Map<string, Buffer>>();
    for (const r of clean.runs) cleanExports.set(r.file, await readOutputs(r.outputs));
    await Promise.all(cleanWorkers.map((w) => w.stop()));
    await cleanServer.stop({ keepData: true });
    await cleanEmus.close();
    const cleanMs = Date.now() - tClean;
    say(`  clean runs: ${clean.runs.length} completed in ${seconds(cleanMs)} (2 workers, no faults), ${[...cleanExports.values()].reduce((s, m) => s + m.size, 0)} exports kept for comparison`);

    // 3. The chaos.
    const server = await startTestServer({ dataDir: path.join(dir, 'chaos') });
    servers.push(server);
    const emus = await startEmulators({
      openai: { latency: opts.openaiLatency ?? { fixedMs: 1500, perAudioSecondMs: 150 } },
      pyannote: { latency: opts.pyannoteLatency ?? { fixedMs: 8000, perAudioSecondMs: 100 } },
    });
    emulators.push(emus);
    const kinds = DEFAULT_KINDS(hang);
    emus.openai.faults.random({ probability: faultProbability, kinds, seed });
    emus.pyannote.faults.random({ probability: faultProbability, kinds, seed: seed + 1 });
    const env = envFor(server, emus);
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });

    const slots: Slot[] = Array.from({ length: workerCount }, () => ({ worker: null, starting: null }));
    const workerStartMs: number[] = [];
    /** Starts a worker in the slot, as a supervisor would: again and again until one polls (a start while the server restarts fails). */
    const fill = (slot: Slot): Promise<void> => {
      slot.starting ??= (async () => {
        const deadline = Date.now() + 180_000;
        for (;;) {
          const t = Date.now();
          try {
            const w = await startWorker(bin, env, track, 90_000, logDir);
            workerStartMs.push(Date.now() - t);
            slot.worker = w;
            return;
          } catch (err) {
            if (interrupted() || Date.now() > deadline) throw err;
            log(`    a worker failed to start (${(err as Error).message.split('\n')[0]}); starting another`);
            await sleep(1000);
          }
        }
      })().finally(() => (slot.starting = null));
      return slot.starting;
    };
    await Promise.all(slots.map(fill));
    const kills: Kill[] = [];
    /** `same`: a new server process on the same address and database file. */
    const restarts: { stoppedAt: number; servingAt: number; same: boolean }[] = [];
    // The chaos goes on until the CLI has followed every run to its end (or given up).
    let over = false;
    let endChaos: () => void = () => undefined;
    const ended = new Promise<void>((r) => (endChaos = r));
    const stopChaos = () => {
      over = true;
      endChaos();
    };
    const tChaos = Date.now();
    // Which worker holds which connection to the OpenAI emulator, looked at every 250 ms: names
    // the sender of each logged request (evidence for a chunk sent again with no kill to blame).
    const portOwner = new Map<number, number>();
    const pyannotePortOwner = new Map<number, number>();
    const lookAtConnections = (pids: number[]) => {
      const found = connectionsOf(pids, [emus.openai.port, emus.pyannote.port]);
      for (const c of found) (c.remotePort === emus.openai.port ? portOwner : pyannotePortOwner).set(c.localPort, c.pid);
      return found;
    };
    const sampler = setInterval(() => lookAtConnections(slots.flatMap((sl) => (sl.worker?.child.pid ? [sl.worker.child.pid] : []))), 250);
    sampler.unref();
    say(`  chaos: server ${server.address} (db ${path.relative(dir, server.info.dbFile)}), workers ${slots.map((sl) => sl.worker!.child.pid).join(', ')}; \`speech ${runArgs.slice(0, 1).join(' ')} <${files.length} files> ${runArgs.slice(1 + files.length).join(' ')}\``);
    const firstRun = cli(runArgs, env, chaosTimeoutMs);

    // Kills on a schedule of their own (a worker still starting is not a victim: the kill waits
    // for one that polls), and the server restart after one of them.
    const chaos = (async () => {
      let nextAt = Date.now() + killMin + random() * (killMax - killMin);
      while (!over) {
        await Promise.race([sleep(Math.max(0, nextAt - Date.now())), ended]);
        if (over) break;
        const alive = slots.filter((sl) => sl.worker && !sl.starting);
        if (alive.length === 0) {
          await Promise.race([sleep(100), ended]);
          continue;
        }
        const slot = alive[Math.floor(random() * alive.length)]!;
        const victim = slot.worker!;
        slot.worker = null;
        const pid = victim.child.pid!;
        const ports = new Set(lookAtConnections([pid]).filter((c) => c.remotePort === emus.openai.port).map((c) => c.localPort));
        const at = Date.now();
        await victim.kill();
        kills.push({ at, goneAt: Date.now(), pid, ports });
        nextAt = at + killMin + random() * (killMax - killMin);
        log(`    ${seconds(at - tChaos)}: SIGKILL worker ${pid} (${ports.size} connection(s) to the OpenAI emulator); starting another in its place`);
        void fill(slot).catch(() => undefined);
        if (kills.length === restartAfter && restarts.length === 0) {
          const stoppedAt = Date.now();
          const before = { address: server.info.address, db: server.info.dbFile, pid: server.info.pid };
          await server.restart();
          restarts.push({ stoppedAt, servingAt: Date.now(), same: server.info.address === before.address && server.info.dbFile === before.db && server.info.pid !== before.pid });
          log(`    ${seconds(stoppedAt - tChaos)}: Temporal dev server restarted on ${server.address} with the same database; serving again after ${seconds(Date.now() - stoppedAt)}`);
        }
      }
      await Promise.all(slots.flatMap((sl) => (sl.starting ? [sl.starting] : [])));
    })();
    chaos.catch(() => undefined);

    let timedOut = false;
    const cliResult = await firstRun.catch((err: Error) => {
      timedOut = true;
      return { code: null, stdout: '', stderr: err.message } as CliResult;
    });
    if (interrupted()) throw new Error('interrupted');
    let followed = parseRun(cliResult);
    figures.cliExit = cliResult.code;
    check(
      followed !== null,
      `\`speech run --no-worker\` followed every run to its end through the kills and the server restart (exit ${cliResult.code}${followed ? `, its JSON lists ${followed.runs.length} runs` : `, no JSON: ${(cliResult.stderr || cliResult.stdout).trim().split('\n').slice(-3).join(' | ')}`})`,
    );
    if (timedOut) {
      for (const l of await stuckRuns(client, kills, tChaos).catch((err: Error) => [`(could not list the runs: ${err.message})`])) say(`  still open after ${seconds(chaosTimeoutMs)}: ${l}`);
    } else if (!followed) {
      // The CLI gave up by itself: what a user would do is run the same command again, which attaches to the runs.
      say(`  the CLI's output:\n${cliResult.stdout.slice(0, 2000)}\n${cliResult.stderr.slice(-2000)}`);
      const again = await cli(runArgs, env, chaosTimeoutMs).catch((err: Error) => ({ code: null, stdout: '', stderr: err.message }) as CliResult);
      if (interrupted()) throw new Error('interrupted');
      followed = parseRun(again);
      say(`  ran the same command again to attach to the runs: exit ${again.code}`);
    }
    stopChaos();
    clearInterval(sampler);
    await chaos;
    const chaosMs = Date.now() - tChaos;
    await writeFile(path.join(logDir, 'speech-run.json'), cliResult.stdout);
    await writeFile(path.join(logDir, 'speech-run.stderr'), cliResult.stderr);

    // 4. Checks.
    const runs = followed?.runs ?? [];
    const completed = runs.filter((r) => r.status === 'completed');
    check(
      completed.length === files.length && runs.length === files.length,
      `every run completed: ${completed.length} of ${files.length}${runs.filter((r) => r.status !== 'completed').map((r) => `; ${path.basename(r.file)} ${r.status}: ${r.error?.message ?? ''}`).join('')}`,
    );

    check(
      kills.length >= 3 && restarts.length === 1 && restarts[0]!.same && Object.keys(emus.openai.faults.randomFaults()?.injected ?? {}).length + Object.keys(emus.pyannote.faults.randomFaults()?.injected ?? {}).length > 0,
      `the chaos happened: ${kills.length} SIGKILLs (at least 3), ${restarts.length} server restart on the same port and database (exactly 1), faults injected`,
    );
    for (const r of runs.filter((x) => x.status !== 'completed' && x.pipeline_id)) {
      for (const l of await failureEvidence(client, r.pipeline_id!, r.run_id ?? undefined, kills, tChaos).catch((err: Error) => [`${r.pipeline_id}: no history (${err.message})`])) say(`  evidence: ${l}`);
    }

    // Exports, byte for byte, against the clean run of the same file.
    let compared = 0;
    const differences: string[] = [];
    for (const r of completed) {
      const mine = await readOutputs(r.outputs);
      const theirs = cleanExports.get(r.file) ?? new Map<string, Buffer>();
      for (const name of [...new Set([...mine.keys(), ...theirs.keys()])].sort()) {
        const a = theirs.get(name);
        const b = mine.get(name);
        if (!a || !b) differences.push(`${name} only in the ${a ? 'clean' : 'chaos'} run`);
        else if (!a.equals(b)) differences.push(`${name} differs ${firstDifference(a, b)}`);
        else compared++;
      }
    }
    const formats = [...new Set([...cleanExports.values()].flatMap((m) => [...m.keys()].map((n) => path.extname(n).slice(1))))].sort();
    check(differences.length === 0 && compared > 0, `every export byte-identical to the clean run of the same file: ${compared} files (${formats.join(', ')}) compared${differences.length ? `; ${differences.length} differ: ${differences.slice(0, 4).join('; ')}` : ''}`);

    // One diarization job per file: the media key names the pipeline (media://speech/<id>/…).
    const diarizeJobs = [...emus.pyannote.jobs.values()].filter((j) => j.kind === 'diarize');
    const diarizePosts = emus.pyannote.requests.filter((r) => r.method === 'POST' && r.path === '/v1/diarize');
    const jobsPerRun = new Map<string, number>();
    for (const j of diarizeJobs) {
      const id = /^media:\/\/speech\/([^/]+)\//.exec(j.request.url)?.[1] ?? j.request.url;
      jobsPerRun.set(id, (jobsPerRun.get(id) ?? 0) + 1);
    }
    const paidTwice = [...jobsPerRun].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`);
    for (const [id] of [...jobsPerRun].filter(([, n]) => n > 1)) {
      // Evidence: when each job was created, and the kills around then.
      const jobs = diarizeJobs.filter((j) => j.request.url.includes(`/${id}/`)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      const described = jobs.map((j) => {
        const post = diarizePosts.find((r) => r.jobId === j.jobId);
        const pid = post?.remotePort !== undefined ? pyannotePortOwner.get(post.remotePort) : undefined;
        const killed = kills.find((k) => k.pid === pid);
        return `job ${j.jobId.slice(0, 8)} created at ${seconds(Date.parse(j.createdAt) - tChaos)} by ${pid ? `worker ${pid}${killed ? `, killed at ${seconds(killed.at - tChaos)}` : ', not killed'}` : 'an unknown worker'}`;
      });
      say(`  evidence: ${id} has ${jobs.length} diarization jobs: ${described.join('; ')}`);
    }
    const noJob = runs.filter((r) => r.pipeline_id && !jobsPerRun.has(r.pipeline_id)).map((r) => path.basename(r.file));
    check(
      diarizeJobs.length === files.length && paidTwice.length === 0,
      `diarization jobs: ${diarizeJobs.length} for ${files.length} files (${diarizePosts.length} POST /v1/diarize, ${diarizePosts.filter((r) => r.status === 200).length} answered with a job)${paidTwice.length ? `; more than one job for ${paidTwice.join(', ')}` : ''}${noJob.length ? `; none for ${noJob.join(', ')}` : ''}`,
    );

    // Audio sent again vs what was in flight at the kills.
    const sent = emus.openai.requests.filter((r) => r.path === '/v1/audio/transcriptions' && r.fileSha256 !== undefined && r.audioSeconds !== undefined);
    const byChunk = new Map<string, OpenAIRequestLogEntry[]>();
    for (const r of sent) byChunk.set(chunkKey(r), [...(byChunk.get(chunkKey(r)) ?? []), r]);
    const secondsOf = (rs: OpenAIRequestLogEntry[]) => rs.reduce((s, r) => s + (r.audioSeconds ?? 0), 0);
    const sentSeconds = secondsOf(sent);
    const uniqueSeconds = [...byChunk.values()].reduce((s, rs) => s + (rs[0]!.audioSeconds ?? 0), 0);
    const resent = [...byChunk.values()].filter((rs) => rs.length > 1);
    const resentSeconds = resent.reduce((s, rs) => s + secondsOf(rs.slice(1)), 0);
    const start = (r: OpenAIRequestLogEntry) => Date.parse(r.at);
    const end = (r: OpenAIRequestLogEntry) => Date.parse(r.at) + r.durationMs;
    const open = (r: OpenAIRequestLogEntry, k: number) => start(r) <= k && end(r) >= k;
    let inFlightAll = 0;
    let inFlightKilled = 0;
    let inGrace = 0;
    const lostAtKill = new Set<OpenAIRequestLogEntry>();
    for (const k of kills) {
      inFlightAll += secondsOf(sent.filter((r) => open(r, k.at)));
      for (const r of sent) {
        // Sent by the killed worker: on a connection it held at the kill, or one it was seen
        // holding before. The emulator runs in this process and may log a request's arrival a
        // little after the kill signal: one that arrived before the worker was gone (and a
        // moment after, for that delay) was sent by it before it died.
        const mine = r.remotePort !== undefined && (k.ports.has(r.remotePort) || portOwner.get(r.remotePort) === k.pid);
        if (!mine || start(r) > k.goneAt + ARRIVAL_SLACK_MS) continue;
        const openAtKill = end(r) >= k.at;
        const graced = !openAtKill && end(r) >= k.at - ANSWERED_GRACE_MS;
        if (openAtKill || graced) {
          inFlightKilled += r.audioSeconds ?? 0;
          if (graced) inGrace++;
          lostAtKill.add(r);
        }
      }
    }
    // Each repeat explained: an earlier request of the same chunk was lost at a kill.
    const sender = (r: OpenAIRequestLogEntry) => {
      const pid = r.remotePort !== undefined ? portOwner.get(r.remotePort) : undefined;
      const killed = kills.find((k) => k.pid === pid);
      return pid ? `worker ${pid}${killed ? ` (killed at ${seconds(killed.at - tChaos)})` : ''}` : `port ${r.remotePort}`;
    };
    const unexplained = resent
      .filter((rs) => rs.slice(0, -1).some((r) => !lostAtKill.has(r)))
      .map((rs) => `${rs[0]!.filename} ×${rs.length} (${rs.map((r) => `${seconds(start(r) - tChaos)}+${(r.durationMs / 1000).toFixed(1)} s from ${sender(r)}, status ${r.status}`).join('; ')})`);
    figures.audio = { sent: sentSeconds, unique: uniqueSeconds, resent: resentSeconds, inFlightAtKillsOnKilledWorker: inFlightKilled, inFlightAtKillsAllWorkers: inFlightAll };
    check(
      resentSeconds <= inFlightKilled + 1e-6,
      `audio re-sent ${resentSeconds.toFixed(1)} s ≤ audio in flight on the killed workers at the kills ${inFlightKilled.toFixed(1)} s (summed over ${kills.length} kills; ${inGrace} request(s) counted as answered less than ${ANSWERED_GRACE_MS / 1000} s before a kill)`,
    );
    if (unexplained.length > 0) say(`  chunks sent again without an earlier request lost at a kill: ${unexplained.join('; ')}`);

    // Nothing left behind.
    const ffmpegLeft = ffmpegProcessesUnder(dir);
    check(ffmpegLeft.length === 0, `no ffmpeg process left (${ffmpegLeft.length}${ffmpegLeft.length ? `: ${ffmpegLeft.map((p) => `${p.pid} ${p.cmdline.slice(0, 160)}`).join('; ')}` : ''})`);
    const dataDir = server.dataDir;
    const temporaries = await temporaryFilesUnder(dir, [path.join(dir, 'app'), path.join(dataDir, 'temporal'), path.join(cleanServer.dataDir, 'temporal')]);
    check(temporaries.length === 0, `no temporary file left in DATA_DIR, the outputs or beside the recordings (${temporaries.length}${temporaries.length ? `: ${temporaries.map((f) => path.relative(dir, f)).join(', ')}` : ''})`);
    const ids = completed.map((r) => r.pipeline_id!);
    const validations: string[] = [];
    let artifactsChecked = 0;
    for (let i = 0; i < ids.length; i += 4) {
      const rs = await Promise.all(ids.slice(i, i + 4).map((id) => cli(['validate', id, '--json'], env, 60_000).then((r) => ({ id, r }))));
      for (const { id, r } of rs) {
        const v = (() => {
          try {
            return JSON.parse(r.stdout) as { ok: boolean; status: string; checked: number; problems: string[] };
          } catch {
            return null;
          }
        })();
        artifactsChecked += v?.checked ?? 0;
        if (r.code !== 0 || !v?.ok || v.status !== 'completed') validations.push(`${id}: exit ${r.code}, ${v ? `${v.status}, ${v.problems.join('; ')}` : r.stderr.trim().slice(0, 200)}`);
      }
    }
    check(validations.length === 0 && ids.length > 0, `no damaged file: \`speech validate\` finds every recorded file of the ${ids.length} runs intact (${artifactsChecked} files; state records completed)${validations.length ? `: ${validations.join('; ')}` : ''}`);

    // 5. The figures.
    const histories = await Promise.all(ids.map((id) => client.workflow.getHandle(id).fetchHistory().catch(() => null)));
    let chunks = 0;
    let activities = 0;
    let attempts = 0;
    let retried = 0;
    for (const h of histories) {
      const types = new Map<string, string>();
      for (const e of h?.events ?? []) {
        const s = e.activityTaskScheduledEventAttributes;
        if (s) types.set(String(e.eventId), s.activityType?.name ?? '');
        const c = e.activityTaskCompletedEventAttributes;
        if (c && types.get(String(c.scheduledEventId)) === 'transcribeChunk') chunks++;
        // The history keeps each activity's last attempt only: its number counts the attempts.
        const started = e.activityTaskStartedEventAttributes;
        if (started) {
          activities++;
          attempts += started.attempt ?? 1;
          if ((started.attempt ?? 1) > 1) retried++;
        }
      }
    }
    const openaiFaults = emus.openai.faults.randomFaults();
    const pyannoteFaults = emus.pyannote.faults.randomFaults();
    const byKind: Record<string, number> = {};
    for (const f of [openaiFaults, pyannoteFaults]) for (const [k, n] of Object.entries(f?.injected ?? {})) byKind[k] = (byKind[k] ?? 0) + n;
    const considered = (openaiFaults?.considered ?? 0) + (pyannoteFaults?.considered ?? 0);
    const injected = Object.values(byKind).reduce((a, b) => a + b, 0);
    Object.assign(figures, {
      files: files.length,
      chunkedFiles: recordings.filter((r) => r.chunked).length,
      chunks,
      kills: kills.length,
      workerRestarts: workerStartMs.length,
      serverRestarts: restarts.length,
      faults: { considered, injected, byKind },
      activities: { activities, attempts, retried },
      diarizationJobs: diarizeJobs.length,
      wallMs: { total: Date.now() - t0, chaos: chaosMs, clean: cleanMs },
    });
    say('  figures:');
    say(`    files: ${files.length} (${recordings.filter((r) => r.chunked).length} chunked; ${chunks} transcription chunks completed), ${audioTotal.toFixed(0)} s of audio`);
    say(`    kills: ${kills.length} SIGKILLs, each worker restarted (start to polling ${workerStartMs.length ? `${seconds(Math.min(...workerStartMs))}–${seconds(Math.max(...workerStartMs))}` : '-'})`);
    say(`    server restarts: ${restarts.length}${restarts.map((r) => ` (at ${seconds(r.stoppedAt - tChaos)}, serving again after ${seconds(r.servingAt - r.stoppedAt)})`).join('')}`);
    say(`    faults injected: ${injected} of ${considered} provider requests (${considered ? ((100 * injected) / considered).toFixed(1) : '0'} %): ${Object.entries(byKind).sort().map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}; openai ${Object.values(openaiFaults?.injected ?? {}).reduce((a, b) => a + b, 0)}/${openaiFaults?.considered ?? 0}, pyannote ${Object.values(pyannoteFaults?.injected ?? {}).reduce((a, b) => a + b, 0)}/${pyannoteFaults?.considered ?? 0}`);
    say(`    activities: ${activities} in the completed runs, ${attempts} attempts (${retried} activities needed more than one: kills, faults, the restart)`);
    say(`    diarization jobs: ${diarizeJobs.length} for ${files.length} files`);
    say(`    audio: ${sentSeconds.toFixed(1)} s sent in ${sent.length} transcription requests (${uniqueSeconds.toFixed(1)} s distinct), ${resentSeconds.toFixed(1)} s re-sent (${resent.length} chunks), in flight at the kills ${inFlightKilled.toFixed(1)} s on the killed workers (${inFlightAll.toFixed(1)} s on all workers)`);
    say(`    wall time: ${seconds(Date.now() - t0)} in all; chaos ${seconds(chaosMs)}, clean runs ${seconds(cleanMs)}`);
    passed = checks.every((c) => c.ok);
  } catch (err) {
    check(false, `the drill itself: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof Error && err.stack) log(err.stack);
  } finally {
    for (const c of checks) say(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what}`);
    await cleanUp();
    if (opts.keep) say(`  kept: ${dir}`);
    say(`result: ${passed ? 'PASS' : 'FAIL'} (seed ${seed}, ${seconds(Date.now() - t0)})`);
  }
  return { passed, checks, report, seed, figures };
}
