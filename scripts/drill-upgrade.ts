// `npm run drill:upgrade [-- --from COMMIT]`: the upgrade drill. A run is started by the
// previous release (default dbe0714), its worker is killed with SIGKILL in the middle of
// transcription, and a worker of the current code finishes the run. It passes only when the
// run completes with exports byte-identical to uninterrupted runs of the same file by both
// releases, with one diarization job, no finished chunk sent again and no workflow task failure.
//
// Everything is real: the previous release is built from git in a worktree (reusing this
// repo's node_modules), the `speech` CLI and `speech worker` of each release run as child
// processes against `temporal server start-dev` instances, and the provider emulators answer.
//
// Three dev servers, so the three runs of the same file (same pipeline id) do not meet:
//   A  the drill: previous release's CLI and worker, then the current worker;
//   B  the previous release's CLI and worker, uninterrupted;
//   C  the current CLI and worker, uninterrupted.
// The drill has its own emulators, so every provider request they saw belongs to the drill.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm, stat, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { sha256File } from '../src/providers/artifact-store';
import type { ProgressSnapshot } from '../src/domain/pipeline';
import { DEFAULT_EXPORT_FORMATS } from '../src/domain/stages';
import { progressQuery } from '../src/workflows/messages';
import { startEmulators, type Emulators, type OpenAIEmulatorOptions, type PyannoteEmulatorOptions } from '../test/emulators';
import { MEETING_SENTENCES, makeTwoSpeakerRecording } from '../test/helpers/audio';
import { speech } from '../test/helpers/cli';
import { pipelineEnv } from '../test/helpers/pipeline';
import { startTestServer, testTmpDir, type TestServer } from '../test/helpers/temporal';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process';

const ROOT = path.resolve(__dirname, '..');
/** The previous release: the last commit before the replay gate. */
export const DEFAULT_FROM = 'dbe0714';
/**
 * Formats whose rendering changed after the releases the drill starts from: subtitle shaping
 * (srt, vtt), and the JSON's language as an ISO-639-1 code ("en" where it said "english").
 */
const RELAYOUT_SINCE_PREVIOUS = ['srt', 'vtt', 'json'];
/**
 * Several chunks over two lanes, so a kill lands with chunks done and others in flight. The
 * audio goes on the wire as the previous release sent it (WAV): the emulators' words come from
 * the audio they receive, and byte-identical exports need the same bytes in both releases
 * (compact uploads are a provider-format change, measured by `npm run bench:codecs`).
 */
const RUN_SETTINGS = { CHUNK_MAX_SECONDS: '8', TRANSCRIBE_CONCURRENCY: '2', UPLOAD_CODEC: 'wav' };
/** Slow enough to kill a worker mid-request; diarization outlasts the kill, so its job is polled again. */
const OPENAI: OpenAIEmulatorOptions = { latency: { fixedMs: 1200, perAudioSecondMs: 100 } };
const PYANNOTE: PyannoteEmulatorOptions = { latency: { fixedMs: 6000 } };
const RUN_TIMEOUT_MS = 120_000;

class DrillError extends Error {}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The full commit id of `ref`, or a DrillError saying why it is not there. */
export function resolveCommit(ref: string): string {
  try {
    return git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    let shallow = false;
    try {
      shallow = git(['rev-parse', '--is-shallow-repository']) === 'true';
    } catch {
      // not a git repository at all: the message below says enough
    }
    throw new DrillError(
      `commit ${ref} is not in this repository's history${shallow ? ' (this is a shallow clone: run `git fetch --unshallow`)' : ''}; ` +
        'the upgrade drill builds the previous release from git, so it needs a clone with full history (or pass --from COMMIT)',
    );
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** Set by SIGINT/SIGTERM: every wait of the drill then ends, so its clean-up runs. */
let interrupted: string | null = null;
const sleep = (ms: number) =>
  new Promise((r) => setTimeout(r, ms)).then(() => {
    if (interrupted) throw new DrillError(`interrupted by ${interrupted}`);
  });

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Every child this drill started, so every exit path can end them. */
const children = new Set<ChildProcess>();
/** Children started as process-group leaders (npm, which runs tsc under a shell): killed as a group. */
const groups = new Set<ChildProcess>();

function killChild(child: ChildProcess): void {
  if (groups.has(child) && child.pid) {
    try {
      process.kill(-child.pid, 'SIGKILL');
      return;
    } catch {
      // the group is gone already; fall through for the leader itself
    }
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
/** Clean-ups of what the drill started, run last first, each once (also on SIGINT/SIGTERM). */
const cleanups: (() => Promise<unknown>)[] = [];

let cleaning: Promise<void> | null = null;

/** Ends the children and runs the clean-ups; a second caller (a signal, the drill's end) waits for the same pass. */
function cleanUp(problem: (line: string) => void): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) killChild(child);
    for (let c = cleanups.pop(); c; c = cleanups.pop()) {
      try {
        await c();
      } catch (err) {
        problem(`  clean-up problem: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return cleaning;
}

function track(child: ChildProcess, group = false): void {
  children.add(child);
  if (group) groups.add(child);
  if (interrupted) killChild(child);
  child.once('exit', () => {
    children.delete(child);
    groups.delete(child);
  });
}

function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, opts: { group?: boolean } = {}): Proc {
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.group ?? false });
  track(child, opts.group);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return { child, output: () => out, exited };
}

/** A `speech worker` of the release at `root` (the previous one: test/helpers start the current one). */
async function startReleaseWorker(root: string, env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const p = startProc(process.execPath, [path.join(root, 'bin', 'speech.js'), 'worker'], env, root);
  const deadline = Date.now() + 30_000;
  while (!/Worker polling/.test(p.output())) {
    if (p.child.exitCode !== null) throw new DrillError(`the previous release's worker exited at start:\n${p.output()}`);
    if (Date.now() > deadline) throw new DrillError(`the previous release's worker did not start:\n${p.output()}`);
    await sleep(50);
  }
  return {
    child: p.child,
    output: p.output,
    exited: p.exited,
    async kill() {
      p.child.kill('SIGKILL');
      await p.exited;
    },
    async stop() {
      p.child.kill('SIGTERM');
      return p.exited;
    },
  };
}

interface CliRun {
  ok?: boolean;
  runs: { pipeline_id: string; run_id: string | null; status: string; outputs: string[]; error: { message: string } | null }[];
}

/** `speech ARGS --json` of the release at `root`, parsed; throws unless it exits `expect`. */
async function releaseCli(root: string, args: string[], env: NodeJS.ProcessEnv, expect = 0): Promise<CliRun> {
  const p = startProc(process.execPath, [path.join(root, 'bin', 'speech.js'), ...args], env, root);
  let stdout = '';
  p.child.stdout!.on('data', (d: string) => (stdout += d));
  const timer = setTimeout(() => p.child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await p.exited.finally(() => clearTimeout(timer));
  if (code !== expect) throw new DrillError(`previous release: speech ${args.join(' ')} exited ${code}, expected ${expect}:\n${p.output()}`);
  return JSON.parse(stdout) as CliRun;
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

/** Names of dependencies whose declared versions differ between two package.json files. */
function dependencyDifferences(oldPkg: string, newPkg: string): string[] {
  type Pkg = { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const deps = (p: Pkg) => ({ ...p.devDependencies, ...p.dependencies });
  const a = deps(JSON.parse(oldPkg) as Pkg);
  const b = deps(JSON.parse(newPkg) as Pkg);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((n) => a[n] !== b[n])
    .map((n) => `${n} ${a[n] ?? '(none)'} → ${b[n] ?? '(none)'}`)
    .sort();
}

/** sha256 of each export, by file name. */
async function hashes(files: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of [...files].sort()) out.set(path.basename(f), (await sha256File(f)).sha256);
  return out;
}

function sameExports(a: Map<string, string>, b: Map<string, string>): string | null {
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  const bad = names.filter((n) => a.get(n) !== b.get(n)).map((n) => (a.has(n) && b.has(n) ? `${n} differs` : `${n} only in ${a.has(n) ? 'the drill' : 'the other run'}`));
  return bad.length === 0 ? null : bad.join(', ');
}

const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

interface HistoryFacts {
  events: number;
  workflowTaskFailures: string[];
  workflowTaskTimeouts: number;
  /** Chunk index → time its transcribeChunk activity completed. */
  chunkCompletions: Map<number, number>;
  /** Identities that completed workflow tasks, with the time of each completion. */
  workflowTasks: { identity: string; at: number }[];
}

async function historyFacts(handle: WorkflowHandle): Promise<HistoryFacts> {
  const history = await handle.fetchHistory();
  const types = new Map<string, string>();
  const facts: HistoryFacts = { events: history.events?.length ?? 0, workflowTaskFailures: [], workflowTaskTimeouts: 0, chunkCompletions: new Map(), workflowTasks: [] };
  for (const e of history.events ?? []) {
    const at = eventMs(e.eventTime);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '');
    const failed = e.workflowTaskFailedEventAttributes;
    if (failed) {
      const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0]?.replace('WORKFLOW_TASK_FAILED_CAUSE_', '') ?? String(failed.cause);
      facts.workflowTaskFailures.push(`${cause}: ${failed.failure?.message ?? ''}`);
    }
    if (e.workflowTaskTimedOutEventAttributes) facts.workflowTaskTimeouts += 1;
    const wtc = e.workflowTaskCompletedEventAttributes;
    if (wtc) facts.workflowTasks.push({ identity: wtc.identity ?? '', at });
    const done = e.activityTaskCompletedEventAttributes;
    if (done && types.get(String(done.scheduledEventId)) === 'transcribeChunk') {
      // The result's metadata names the chunk (ArtifactRef.metadata.chunk).
      const payload = done.result?.payloads?.[0];
      const ref = payload ? defaultPayloadConverter.fromPayload<{ metadata?: { chunk?: number } }>(payload) : {};
      if (typeof ref.metadata?.chunk === 'number') facts.chunkCompletions.set(ref.metadata.chunk, at);
    }
  }
  return facts;
}

/** Waits for the run to close, failing fast (with the SDK's message) on a workflow task failure. */
async function waitForCompletion(handle: WorkflowHandle, timeoutMs: number): Promise<{ status: string; facts: HistoryFacts }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await handle.describe();
    const facts = await historyFacts(handle);
    if (d.status.name !== 'RUNNING') return { status: d.status.name, facts };
    if (facts.workflowTaskFailures.length > 0) throw new DrillError(`the current worker cannot continue the run: workflow task failed: ${facts.workflowTaskFailures[0]}`);
    if (Date.now() > deadline) throw new DrillError(`the run did not finish within ${seconds(timeoutMs)} of the current worker's start`);
    await sleep(500);
  }
}

interface Check {
  ok: boolean;
  what: string;
}

export interface DrillOutcome {
  passed: boolean;
  report: string[];
}

/** Runs the drill; prints its report as it goes. Cleans up everything it started in all cases. */
export async function drillUpgrade(opts: { from?: string; log?: (line: string) => void } = {}): Promise<DrillOutcome> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const report: string[] = [];
  const say = (l: string) => {
    report.push(l);
    log(l);
  };
  const fromRef = opts.from ?? DEFAULT_FROM;
  const from = resolveCommit(fromRef);
  const to = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src', 'bin', 'scripts/bundle-workflows.js', 'package.json']) !== '';
  const bundle = path.join(ROOT, 'dist', 'workflow-bundle.js');
  const bundleAt = await stat(bundle).then((s) => s.mtimeMs, () => null);
  if (bundleAt === null) throw new DrillError('the current code is not built (no dist/workflow-bundle.js): run `npm run build` (npm run drill:upgrade does)');
  const stale = (await newestMtime(path.join(ROOT, 'src'))) > bundleAt;

  const t0 = Date.now();
  cleaning = null;
  const checks: Check[] = [];
  const check = (ok: boolean, what: string) => checks.push({ ok, what });
  let passed = false;

  say(`Upgrade drill: ${from.slice(0, 7)} (previous release) → ${to.slice(0, 7)}${dirty ? ' + uncommitted changes' : ''} (current code), ${new Date(t0).toISOString()}`);
  say(`  from ${from.slice(0, 7)} ${git(['log', '-1', '--format=%cs %s', from]).slice(0, 100)}`);
  say(`  to   ${to.slice(0, 7)} ${git(['log', '-1', '--format=%cs %s', to]).slice(0, 100)}`);
  if (stale) say('  warning: src/ has changed since dist/ was built; the current worker runs dist/ (npm run build)');
  try {
    const dir = await testTmpDir('speech-drill-');
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const oldRoot = path.join(dir, `release-${from.slice(0, 7)}`);

    // 1. Build the previous release, and start servers, emulators and audio beside it.
    const buildOld = async () => {
      const t = Date.now();
      git(['worktree', 'add', '--detach', oldRoot, from]);
      cleanups.push(async () => {
        await unlink(path.join(oldRoot, 'node_modules')).catch(() => undefined);
        try {
          git(['worktree', 'remove', '--force', oldRoot]);
        } catch {
          await rm(oldRoot, { recursive: true, force: true });
          git(['worktree', 'prune']);
        }
      });
      await symlink(path.join(ROOT, 'node_modules'), path.join(oldRoot, 'node_modules'), 'dir');
      // The release's own build script (tsc and the workflow bundle, for dbe0714).
      const build = startProc('npm', ['run', 'build', '--silent'], process.env, oldRoot, { group: true });
      if ((await build.exited) !== 0) throw new DrillError(`building ${from.slice(0, 7)} failed:\n${build.output()}`);
      const deps = dependencyDifferences(await readFile(path.join(oldRoot, 'package.json'), 'utf8'), await readFile(path.join(ROOT, 'package.json'), 'utf8'));
      return { ms: Date.now() - t, deps };
    };
    // Clean-up waits for every start, so a server that came up after a failure is stopped too.
    const servers: Promise<TestServer>[] = [];
    const server = () => {
      const s = startTestServer();
      servers.push(s);
      return s;
    };
    const emulators: Promise<Emulators>[] = [];
    const emulator = () => {
      const e = startEmulators({ openai: OPENAI, pyannote: PYANNOTE });
      emulators.push(e);
      return e;
    };
    const started = <T>(ps: Promise<T>[]) => Promise.allSettled(ps).then((rs) => rs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
    cleanups.push(async () => {
      await Promise.all((await started(emulators)).map((e) => e.close()));
      await Promise.all((await started(servers)).map((s) => s.stop()));
    });
    const [built, serverA, serverB, serverC, emus, baseEmus, recording] = await Promise.all([
      buildOld(),
      server(),
      server(),
      server(),
      emulator(),
      emulator(),
      makeTwoSpeakerRecording({ dir, name: 'meeting', turns: MEETING_SENTENCES.map((text, i) => ({ speaker: i % 2 === 0 ? 'A' : 'B', text })) }),
    ] as const);
    say(`  built ${from.slice(0, 7)} in a git worktree in ${seconds(built.ms)} (node_modules shared; dependencies differing: ${built.deps.length === 0 ? 'none' : built.deps.join(', ')})`);
    say(`  recording: ${path.basename(recording.path)}, ${recording.duration.toFixed(1)} s, chunks of ≤ ${RUN_SETTINGS.CHUNK_MAX_SECONDS} s over ${RUN_SETTINGS.TRANSCRIBE_CONCURRENCY} lanes`);

    const envA = pipelineEnv(serverA, emus, RUN_SETTINGS);
    const envB = pipelineEnv(serverB, baseEmus, RUN_SETTINGS);
    const envC = pipelineEnv(serverC, baseEmus, RUN_SETTINGS);
    const workers: WorkerProcess[] = [];
    cleanups.push(async () => {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) await w.kill();
    });
    const connection = await Connection.connect({ address: serverA.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection });

    // 2. The two uninterrupted runs the drill is compared with, beside it on their own servers.
    const baselines = (async () => {
      const [oldW, newW] = await Promise.all([startReleaseWorker(oldRoot, envB), startWorkerProcess(envC)]);
      workers.push(oldW, newW);
      track(newW.child);
      const [oldRun, newRun] = await Promise.all([
        releaseCli(oldRoot, ['run', recording.path, '--no-worker', '--json'], envB),
        speech(['run', recording.path, '--no-worker', '--json'], { env: envC, timeoutMs: RUN_TIMEOUT_MS, onSpawn: track }),
      ]);
      if (newRun.code !== 0) throw new DrillError(`current code: speech run exited ${newRun.code}:\n${newRun.stdout}\n${newRun.stderr}`);
      await Promise.all([oldW.stop(), newW.stop()]);
      const cur = JSON.parse(newRun.stdout) as CliRun;
      return { old: await hashes(oldRun.runs[0]!.outputs), current: await hashes(cur.runs[0]!.outputs) };
    })();
    // Whatever happens to the drill, the baselines settle before clean-up stops their servers.
    baselines.catch(() => undefined);
    cleanups.push(() => baselines.catch(() => undefined));

    // 3. The drill: the previous release's worker and CLI start the run...
    const oldWorker = await startReleaseWorker(oldRoot, envA);
    workers.push(oldWorker);
    const startedRun = await releaseCli(oldRoot, ['run', recording.path, '--no-worker', '--no-wait', '--json'], envA);
    const pipelineId = startedRun.runs[0]!.pipeline_id;
    const handle = client.workflow.getHandle(pipelineId);
    const startedAt = (await handle.describe()).startTime.getTime();
    say(`  ${pipelineId}: started by the previous release's CLI, worker pid ${oldWorker.child.pid}`);

    // ...until chunks are done and others are inside provider requests: then SIGKILL.
    let atKill: ProgressSnapshot | null = null;
    const deadline = Date.now() + 60_000;
    while (!atKill) {
      const p = await handle.query(progressQuery).catch(() => null);
      if (p && p.status !== 'running') throw new DrillError(`the run ended (${p.status}) before it could be killed mid-transcription`);
      if (p && p.chunks.done >= 1 && p.chunks.done < p.chunks.total - 1 && p.chunks.inFlight.length > 0 && emus.openai.inFlight > 0) atKill = p;
      else if (Date.now() > deadline) throw new DrillError('timed out waiting for a finished chunk with others in flight');
      else await sleep(50);
    }
    const providerInFlight = emus.openai.inFlight;
    const diarizationAtKill = [...emus.pyannote.jobs.values()].map((j) => j.status).join(', ') || 'not submitted';
    const killedAt = Date.now();
    await oldWorker.kill();
    say(
      `  SIGKILLed the previous release's worker ${seconds(killedAt - startedAt)} into the run (last progress query: ${atKill.chunks.done}/${atKill.chunks.total} chunks done, ` +
        `chunks [${atKill.chunks.inFlight.join(', ')}] in flight; ${providerInFlight} provider request(s) open; diarization job ${diarizationAtKill})`,
    );

    // 4. A worker of the current code takes over.
    const newWorker = await startWorkerProcess(envA);
    workers.push(newWorker);
    track(newWorker.child);
    const { status, facts } = await waitForCompletion(handle, RUN_TIMEOUT_MS);
    const doneAt = Date.now();
    say(`  current worker pid ${newWorker.child.pid} took over; the run ${status.toLowerCase()} ${seconds(doneAt - killedAt)} after the kill (${seconds(doneAt - startedAt)} in all)`);
    const final = await handle.query(progressQuery);
    const result = (await handle.result()) as { status: string; outputs: { path: string }[] };
    await newWorker.stop();

    // 5. Checks.
    check(status === 'COMPLETED' && result.status === 'completed', `run completed (${status.toLowerCase()})`);

    const drillExports = await hashes(result.outputs.map((o) => o.path));
    const base = await baselines;
    // The merge and export stages run on the current release, so these formats come out as it
    // renders them; every other format must not change.
    const unchanged = (m: Map<string, string>) => new Map([...m].filter(([name]) => !RELAYOUT_SINCE_PREVIOUS.some((ext) => name.endsWith(`.${ext}`))));
    const vsOld = sameExports(unchanged(drillExports), unchanged(base.old));
    const vsNew = sameExports(drillExports, base.current);
    check(drillExports.size === DEFAULT_EXPORT_FORMATS.length, `${drillExports.size} exports, one per format (${DEFAULT_EXPORT_FORMATS.join(', ')})`);
    check(vsOld === null, `exports byte-identical (sha256) to an uninterrupted run by the previous release, ${RELAYOUT_SINCE_PREVIOUS.join(', ')} aside (rendered anew since)${vsOld ? `: ${vsOld}` : ''}`);
    check(vsNew === null, `exports byte-identical (sha256) to an uninterrupted run by the current code${vsNew ? `: ${vsNew}` : ''}`);

    const diarizePosts = emus.pyannote.requests.filter((r) => r.method === 'POST' && r.path === '/v1/diarize').length;
    check(diarizePosts === 1 && emus.pyannote.jobs.size === 1, `exactly one diarization job (${emus.pyannote.jobs.size} job(s), ${diarizePosts} POST /v1/diarize)`);

    const sent = emus.openai.requests.filter((r) => r.path === '/v1/audio/transcriptions');
    const before = sent.filter((r) => Date.parse(r.at) < killedAt);
    const after = sent.filter((r) => Date.parse(r.at) >= killedAt);
    const namesBefore = new Set(before.map((r) => r.filename ?? '?'));
    const resent = after.filter((r) => namesBefore.has(r.filename ?? '?')).sort((a, b) => (a.filename ?? '').localeCompare(b.filename ?? ''));
    const resentSeconds = resent.reduce((s, r) => s + (r.audioSeconds ?? 0), 0);
    const totalSeconds = sent.filter((r) => r.status === 200).reduce((s, r) => s + (r.audioSeconds ?? 0), 0);
    const abandoned = before.filter((r) => r.status === 0).map((r) => r.filename ?? '(upload unfinished)').sort();
    const chunkName = (i: number) => `chunk-${String(i).padStart(4, '0')}.wav`;
    const completedBeforeKill = [...facts.chunkCompletions].filter(([, at]) => at < killedAt).map(([i]) => i).sort((a, b) => a - b);
    const sentAgain = completedBeforeKill.filter((i) => sent.filter((r) => r.filename === chunkName(i)).length !== 1);
    say(`  chunks: ${final.chunks.total} in all; completed before the kill [${completedBeforeKill.join(', ')}]; requests abandoned by the kill: ${abandoned.join(', ') || 'none'}`);
    say(
      `  transcription requests: ${sent.length} (${before.length} before the kill, ${after.length} after); re-sent after the kill: ${resent.map((r) => r.filename).join(', ') || 'none'} ` +
        `(${resentSeconds.toFixed(1)} of ${totalSeconds.toFixed(1)} audio s)`,
    );
    const unfinishedAtKill = final.chunks.total - completedBeforeKill.length;
    check(
      completedBeforeKill.length >= 1 && unfinishedAtKill >= 1 && atKill.chunks.inFlight.length >= 1,
      `the kill landed mid-transcription (${completedBeforeKill.length} chunk(s) finished, ${atKill.chunks.inFlight.length} in flight, ${unfinishedAtKill} left for the current worker)`,
    );
    check(sentAgain.length === 0, `no chunk completed before the kill was sent again${sentAgain.length ? `: ${sentAgain.map(chunkName).join(', ')}` : ''}`);
    check(final.chunks.done === final.chunks.total && new Set(sent.filter((r) => r.status === 200).map((r) => r.filename)).size === final.chunks.total, `every chunk transcribed (${final.chunks.done}/${final.chunks.total})`);

    const byOld = facts.workflowTasks.filter((t) => t.identity.startsWith(`${oldWorker.child.pid}@`)).length;
    const byNew = facts.workflowTasks.filter((t) => t.identity.startsWith(`${newWorker.child.pid}@`)).length;
    check(facts.workflowTaskFailures.length === 0, `no workflow task failure in the history (${facts.workflowTaskFailures.length} WorkflowTaskFailed${facts.workflowTaskFailures.length ? `: ${facts.workflowTaskFailures[0]}` : ''})`);
    check(byOld >= 1 && byNew >= 1, `workflow tasks completed by both releases' workers (${byOld} by the previous release, ${byNew} by the current code, which replayed the history)`);
    say(`  history: ${facts.events} events, ${facts.workflowTaskTimeouts} WorkflowTaskTimedOut (the killed worker's sticky queue), ${facts.workflowTaskFailures.length} WorkflowTaskFailed`);
    say(`  exports compared: ${[...drillExports].map(([n, h]) => `${n} ${h.slice(0, 12)}`).join(', ')}`);
    passed = checks.every((c) => c.ok);
  } catch (err) {
    check(false, `the drill itself: ${err instanceof Error ? err.message : String(err)}`);
    if (!(err instanceof DrillError)) log(String(err instanceof Error ? err.stack : err));
  } finally {
    for (const c of checks) say(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what}`);
    await cleanUp(say);
    say(`result: ${passed ? 'PASS' : 'FAIL'} (${seconds(Date.now() - t0)})`);
  }
  return { passed, report };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  // An interrupted drill still ends what it started.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`drill:upgrade: ${sig}: stopping and cleaning up`);
      interrupted = sig;
      for (const child of children) killChild(child);
      // Calls still under way may fail as their servers go; clean-up goes on regardless.
      process.on('uncaughtException', (err) => console.error(`drill:upgrade: during clean-up: ${err.message}`));
      // The drill's own clean-up runs as its waits end; this is the backstop.
      setTimeout(() => void cleanUp((l) => console.error(l)).finally(() => process.exit(130)), 60_000).unref();
    });
  }
  drillUpgrade({ from: argValue('--from') }).then(
    (o) => process.exit(interrupted ? 130 : o.passed ? 0 : 1),
    (err) => {
      console.error(err instanceof DrillError ? `drill:upgrade: ${err.message}` : err);
      process.exit(1);
    },
  );
}
