// `npm run bench:throughput`: many short files through the CLI with one worker, watching the
// worker's memory. 200 distinct 5–15 s recordings go through
// `speech run DIR --parallel 8 --no-worker --json` against a real Temporal dev server, the
// provider emulators in their own processes (the latency model of `npm run bench`) and one
// `speech worker` child process. It reports files per minute, whether every file completed as
// a new run, the provider requests made, and the worker's RSS before, during and after the batch.
//
//   npm run bench:throughput                   200 files, --parallel 8
//   npm run bench:throughput -- --files 40     fewer files, for a quick check
//
// Exit 0 when every target in the summary is met, 1 otherwise (or on an error).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { DEFAULT_TURNS, MEETING_SENTENCES, makeTwoSpeakerRecording, type Recording, type TurnSpec } from '../test/helpers/audio';
import { spanOf, timeline, workflowTaskTimes } from './history';
import { LATENCY_EMULATORS, OPENAI_LATENCY, PYANNOTE_LATENCY } from './latency';
import { heading, mb, median, note, progress, s1, s2, summaryTable, table, type SummaryRow } from './report';
import { benchEnv, cpuSeconds, procStatus, runSpeech, sampleRss, startEmulatorProcess, startServer, startWorker, runBench, tempDir } from './stack';

const TASK_QUEUE = 'bench-throughput';
/** Worker RSS sampling interval. */
const SAMPLE_MS = 250;
/** How often the live progress line asks the server how many runs completed. */
const POLL_MS = 2000;
/** Recordings made at once (each one synthesises its turns in parallel too). */
const GENERATE_AT_ONCE = 4;
const MIN_SECONDS = 5;
const MAX_SECONDS = 15;
/**
 * "Flat": the median worker RSS over the last quarter of the batch is at most this much above the
 * median over the second quarter (the first quarter is left out: it holds the warm-up, when the
 * worker loads the workflow bundle, fills its caches and V8 sizes its heap).
 */
const FLAT_RATIO = 0.15;
const FLAT_KB = 30 * 1024;

interface Plan {
  files: number;
  parallel: number;
  /** PYANNOTE_REQUESTS_PER_MINUTE for the worker; null: the product default. */
  pyannoteRpm: number | null;
}

function parsePlan(): Plan {
  const { values } = parseArgs({
    options: {
      files: { type: 'string', default: '200' },
      parallel: { type: 'string', default: '8' },
      'pyannote-rpm': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench:throughput -- [--files N (default 200)] [--parallel N (default 8)] [--pyannote-rpm N (the worker\'s pyannote request budget; default: the product default)]');
    process.exit(0);
  }
  const int = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got "${raw}"`);
    return n;
  };
  const rpm = values['pyannote-rpm'];
  return { files: int('files', values.files, 4), parallel: int('parallel', values.parallel, 1), pyannoteRpm: rpm === undefined ? null : int('pyannote-rpm', rpm, 1) };
}

// ---------------------------------------------------------------------------------------
// Recordings

const SENTENCES = [...MEETING_SENTENCES, ...DEFAULT_TURNS.map((t) => t.text)];
const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** 197 → "one hundred and ninety seven" (up to 999,999). */
function numberWords(n: number): string {
  if (n < 20) return ONES[n]!;
  if (n < 100) return TENS[Math.floor(n / 10)]! + (n % 10 ? ` ${ONES[n % 10]!}` : '');
  if (n < 1000) return `${ONES[Math.floor(n / 100)]!} hundred` + (n % 100 ? ` and ${numberWords(n % 100)}` : '');
  return `${numberWords(Math.floor(n / 1000))} thousand` + (n % 1000 ? `${n % 1000 < 100 ? ' and' : ''} ${numberWords(n % 1000)}` : '');
}

/**
 * The turns of file `n` (0-based): 0–2 meeting sentences picked per file, then a turn that says the
 * file's number, so that every file's audio (and so its bytes and cache key) differs. `extra`
 * moves the sentence count when a first attempt came out shorter or longer than 5–15 s.
 */
function turnsFor(n: number, extra = 0): TurnSpec[] {
  const sentences = Math.max(0, Math.min(3, (n % 3) + extra));
  const turns: TurnSpec[] = [];
  for (let t = 0; t < sentences; t++) turns.push({ speaker: t % 2 === 0 ? 'A' : 'B', text: SENTENCES[(n * 7 + t * 5) % SENTENCES.length]! });
  const number = numberWords(n + 1);
  const closing = [`This is recording number ${number} of the throughput batch, thank you for listening.`, `That was recording number ${number}.`, `Recording ${number}.`][sentences % 3]!;
  turns.push({ speaker: sentences % 2 === 0 ? 'A' : 'B', text: closing });
  return turns;
}

async function makeRecording(dir: string, n: number): Promise<Recording & { attempts: number }> {
  const name = `call-${String(n + 1).padStart(3, '0')}`;
  let extra = 0;
  for (let attempt = 1; ; attempt++) {
    const rec = await makeTwoSpeakerRecording({ dir, name, turns: turnsFor(n, extra) });
    if ((rec.duration >= MIN_SECONDS && rec.duration <= MAX_SECONDS) || attempt === 3) return { ...rec, attempts: attempt };
    extra += rec.duration < MIN_SECONDS ? 1 : -1;
  }
}

/** Makes the recordings GENERATE_AT_ONCE at a time. */
async function makeRecordings(dir: string, count: number): Promise<(Recording & { attempts: number })[]> {
  const out: (Recording & { attempts: number })[] = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const n = next++;
      out[n] = await makeRecording(dir, n);
    }
  };
  await Promise.all(Array.from({ length: GENERATE_AT_ONCE }, lane));
  return out;
}

// ---------------------------------------------------------------------------------------
// Memory over the batch

type Sample = { at: number; rssKb: number };

/** Median RSS of the samples in [from, to]. */
function medianIn(series: Sample[], from: number, to: number): { kb: number; n: number } {
  const xs = series.filter((p) => p.at >= from && p.at <= to).map((p) => p.rssKb);
  return { kb: median(xs), n: xs.length };
}

/** The last sample at or before `t` (the first one if none). */
function sampleAt(series: Sample[], t: number): Sample | undefined {
  let best: Sample | undefined = series[0];
  for (const p of series) {
    if (p.at > t) break;
    best = p;
  }
  return best;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const pct = (q: number[], p: number) => {
  const s = [...q].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

// ---------------------------------------------------------------------------------------

interface CliRun {
  file: string;
  status: string;
  mode: string;
  audio_seconds: number | null;
  duration_ms: number;
  pipeline_id: string | null;
  workflow_id: string | null;
  error: { type: string; message: string } | null;
}

async function main(): Promise<number> {
  const plan = parsePlan();
  const t0 = Date.now();
  heading(`Throughput without leaks: ${plan.files} short files, \`speech run DIR --parallel ${plan.parallel} --no-worker --json\`, one worker`);
  note(`node ${process.version}; ${os.cpus().length} CPUs; load average at start ${loadavg()} (1, 5, 15 min)`);
  note(`provider latency model (as npm run bench): transcription ${OPENAI_LATENCY.fixedMs} ms + ${OPENAI_LATENCY.perAudioSecondMs} ms/audio s; diarization job ${PYANNOTE_LATENCY.fixedMs} ms + ${PYANNOTE_LATENCY.perAudioSecondMs} ms/audio s`);
  note('worker env: the product defaults (heartbeat timeouts per activity, PYANNOTE_POLL_SECONDS 5); emulators and worker in their own processes');

  const srv = await startServer();
  progress(`Temporal dev server on ${srv.server.address} (${s1(Date.now() - t0)})`);
  const emus = await startEmulatorProcess(LATENCY_EMULATORS);
  const env = benchEnv(srv, emus, { TEMPORAL_TASK_QUEUE: TASK_QUEUE, ...(plan.pyannoteRpm !== null ? { PYANNOTE_REQUESTS_PER_MINUTE: String(plan.pyannoteRpm) } : {}) });
  const rpm = loadConfig(env).pyannote.requestsPerMinute;
  note(`pyannote request budget of the worker: ${rpm} requests per minute per key (PYANNOTE_REQUESTS_PER_MINUTE${plan.pyannoteRpm === null ? ', the product default' : ', --pyannote-rpm'}; pyannote.ai allows about 100)`);

  // Distinct recordings: the stage cache would serve a repeated file for free.
  const dir = await tempDir('bench-throughput-');
  const genStarted = Date.now();
  const recs = await makeRecordings(dir, plan.files);
  const genMs = Date.now() - genStarted;
  const durations = recs.map((r) => r.duration);
  const audioSeconds = durations.reduce((a, b) => a + b, 0);
  const hashes = new Set(await Promise.all(recs.map(async (r) => createHash('sha256').update(await readFile(r.path)).digest('hex'))));
  const outOfRange = recs.filter((r) => r.duration < MIN_SECONDS || r.duration > MAX_SECONDS);
  progress(
    `made ${recs.length} recordings in ${s1(genMs)} (${GENERATE_AT_ONCE} at a time, espeak-ng + sox): ` +
      `${(audioSeconds / 60).toFixed(1)} min of audio, ${Math.min(...durations).toFixed(1)}–${Math.max(...durations).toFixed(1)} s each (median ${median(durations).toFixed(1)} s), ` +
      `${hashes.size} distinct sha256, ${recs.filter((r) => r.attempts > 1).length} remade to fit ${MIN_SECONDS}–${MAX_SECONDS} s`,
  );
  if (outOfRange.length > 0) note(`warning: ${outOfRange.length} recordings outside ${MIN_SECONDS}–${MAX_SECONDS} s: ${outOfRange.map((r) => `${path.basename(r.path)} ${r.duration.toFixed(1)} s`).join(', ')}`);

  const w = await startWorker(env);
  // Let it settle after start-up (bundle loaded, first polls out) before calling it idle.
  await new Promise((r) => setTimeout(r, 3000));
  const idle = await procStatus(w.pid);
  if (!idle) throw new Error(`worker pid ${w.pid} is gone:\n${w.output()}`);
  progress(`worker pid ${w.pid} idle: RSS ${mb(idle.rssKb)} (VmHWM so far ${mb(idle.hwmKb)})`);

  // Live progress: completed runs by the server's count, and the worker's RSS at that moment.
  const step = plan.files >= 200 ? 50 : Math.max(1, Math.round(plan.files / 4));
  let polling = true;
  let lastReported = 0;
  const cpu0 = await cpuSeconds(w.pid);
  const batchStarted = Date.now();
  const sampler = sampleRss(w.pid, SAMPLE_MS);
  const poller = (async () => {
    while (polling) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (!polling) break;
      try {
        const { count } = await srv.client.workflow.count(`TaskQueue="${TASK_QUEUE}" AND ExecutionStatus="Completed"`);
        if (count >= lastReported + step || (count === plan.files && lastReported < count)) {
          lastReported = count - (count % step);
          const s = await procStatus(w.pid);
          progress(`${count}/${plan.files} completed after ${s1(Date.now() - batchStarted)}; worker RSS ${s ? mb(s.rssKb) : '-'}; load ${loadavg()}`);
        }
      } catch (err) {
        if (polling) progress(`(count of completed runs failed: ${(err as Error).message})`);
      }
    }
  })();

  const timeoutMs = Math.max(600_000, plan.files * 6_000);
  const r = await runSpeech(['run', dir, '--parallel', String(plan.parallel), '--no-worker', '--json'], env, timeoutMs);
  const batchEnded = Date.now();
  polling = false;
  const mem = await sampler.stop();
  await poller;
  const cpu1 = await cpuSeconds(w.pid);
  await new Promise((res) => setTimeout(res, 5000));
  const after = await procStatus(w.pid);

  let runs: CliRun[];
  try {
    runs = (JSON.parse(r.stdout) as { runs: CliRun[] }).runs;
  } catch {
    throw new Error(`speech run printed no JSON (exit ${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  }
  const ok = runs.filter((x) => x.status === 'completed' && x.mode === 'started');
  const ids = new Set(runs.map((x) => x.pipeline_id).filter((id): id is string => id !== null));
  const allOk = r.code === 0 && runs.length === plan.files && ok.length === plan.files && ids.size === plan.files;
  const byStatus = new Map<string, number>();
  for (const x of runs) byStatus.set(`${x.status}/${x.mode}`, (byStatus.get(`${x.status}/${x.mode}`) ?? 0) + 1);

  // When each run completed, from the server (exact, unlike the polling above).
  const closes: number[] = [];
  for await (const wf of srv.client.workflow.list({ query: `TaskQueue="${TASK_QUEUE}" AND ExecutionStatus="Completed"` })) {
    if (wf.closeTime) closes.push(wf.closeTime.getTime());
  }
  closes.sort((a, b) => a - b);

  // ---- throughput
  heading('Throughput');
  const wallMin = r.ms / 60_000;
  const fpm = ok.length / wallMin;
  const cliAudio = ok.reduce((s, x) => s + (x.audio_seconds ?? 0), 0);
  const perFile = ok.map((x) => x.duration_ms);
  table(
    ['measure', 'value'],
    [
      ['speech run exit code', r.code ?? `signal`],
      ['runs in its JSON, by status/mode', [...byStatus.entries()].map(([k, v]) => `${v} ${k}`).join(', ') || '(none)'],
      ['completed as new runs (status completed, mode started)', `${ok.length}/${plan.files}`],
      ['distinct pipeline ids', `${ids.size}`],
      ['CLI wall time', s1(r.ms)],
      ['files per minute (completed / CLI wall time)', fpm.toFixed(1)],
      ['audio minutes per wall minute', ((cliAudio || audioSeconds) / 60 / wallMin).toFixed(1)],
      ['per file, CLI time (median / 90th pct / max)', `${s2(median(perFile))} / ${s2(pct(perFile, 0.9))} / ${s2(Math.max(...perFile))}`],
      ['worker CPU during the batch (with ffmpeg children)', cpu0 !== null && cpu1 !== null ? `${(cpu1 - cpu0).toFixed(1)} s = ${(((cpu1 - cpu0) * 1000) / plan.files).toFixed(0)} ms per file` : '-'],
    ],
  );
  const failed = runs.filter((x) => !(x.status === 'completed' && x.mode === 'started'));
  for (const x of failed.slice(0, 10)) note(`not a new completed run: ${path.basename(x.file)} ${x.status}/${x.mode}${x.error ? `: ${x.error.message}` : ''}`);
  if (failed.length > 10) note(`… and ${failed.length - 10} more`);
  if (r.code !== 0) note(`speech run stderr (tail): ${r.stderr.slice(-1500).trim()}`);

  // ---- where a file's time goes, from the histories
  const stageMs: Record<string, number[]> = {};
  let retried = 0;
  let notCompletedActivities = 0;
  const add = (k: string, v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) (stageMs[k] ??= []).push(v);
  };
  const okIds = ok.map((x) => x.workflow_id ?? x.pipeline_id!);
  for (let i = 0; i < okIds.length; i += 8) {
    const tls = await Promise.all(okIds.slice(i, i + 8).map(async (id) => timeline(await srv.client.workflow.getHandle(id).fetchHistory())));
    for (const tl of tls) {
      add('run (history: started → closed)', tl.closedMs - tl.startedMs);
      add('convert', spanOf(tl, ['convertAudio'])?.ms);
      add('diarize (upload, job, polls; waits for the request budget)', spanOf(tl, ['diarizeAudio'])?.ms);
      add('transcribe (plan, chunk, assemble)', spanOf(tl, ['planTranscription', 'transcribeChunk', 'assembleTranscript'])?.ms);
      add('merge + export', spanOf(tl, ['mergeTranscript', 'exportTranscript'])?.ms);
      add('activities: waiting for a worker slot, summed', tl.activities.reduce((sum, a) => sum + Math.max(0, (a.startedMs ?? a.scheduledMs) - a.scheduledMs), 0));
      add('workflow tasks: waiting for the worker, summed', workflowTaskTimes(tl).waitMs.reduce((a, b) => a + b, 0));
      add('workflow tasks: run on the worker, summed', workflowTaskTimes(tl).runMs.reduce((a, b) => a + b, 0));
      retried += tl.activities.filter((a) => a.attempt > 1).length;
      notCompletedActivities += tl.activities.filter((a) => a.outcome !== 'completed').length;
    }
  }
  heading("Where a file's time goes (from its history; completed runs)");
  table(
    ['per file', 'median', '90th pct', 'max'],
    [['CLI time (speech run --json duration_ms)', ...[median(perFile), pct(perFile, 0.9), Math.max(...perFile)].map(s2)], ...Object.entries(stageMs).map(([k, v]) => [k, s2(median(v)), s2(pct(v, 0.9)), s2(Math.max(...v))])],
  );
  note(`activity attempts after the first: ${retried}; activities not completed (failed, timed out, cancelled): ${notCompletedActivities}`);
  const stages = ['convert', 'diarize (upload, job, polls; waits for the request budget)', 'transcribe (plan, chunk, assemble)', 'merge + export'];
  const longest = stages.map((k) => [k, median(stageMs[k] ?? [])] as const).sort((a, z) => z[1] - a[1])[0];
  note(`With --parallel ${plan.parallel} and ~${s2(median(perFile))} per file (CLI), the ceiling is about ${((plan.parallel * 60_000) / median(perFile)).toFixed(0)} files per minute; the longest stage`);
  note(`at the median is ${longest?.[0] ?? '-'} (${longest ? s2(longest[1]) : '-'}; the model: diarization job ${PYANNOTE_LATENCY.fixedMs} ms, polled after 0.25, 0.5, 1, 2 s…; transcription ${OPENAI_LATENCY.fixedMs} ms + ${OPENAI_LATENCY.perAudioSecondMs} ms/audio s).`);

  // ---- provider requests
  heading('Provider requests (emulator logs)');
  const oa = await emus.openaiRequests();
  const py = await emus.pyannoteRequests();
  const is2xx = (s: number) => s >= 200 && s < 300;
  const transcriptions = oa.filter((q) => q.path === '/v1/audio/transcriptions' && is2xx(q.status));
  const diarize = py.filter((q) => q.method === 'POST' && q.path === '/v1/diarize');
  const jobs = diarize.filter((q) => is2xx(q.status));
  const uploads = py.filter((q) => q.path.startsWith('/storage/media/'));
  const polls = py.filter((q) => q.method === 'GET' && q.path.startsWith('/v1/jobs/'));
  const notOk = [...oa, ...py].filter((q) => !is2xx(q.status));
  // Every pyannote API call but the upload to the presigned storage URL goes through the worker's budget.
  const budgeted = py.filter((q) => !q.path.startsWith('/storage/media/')).length;
  table(
    ['requests', 'count', 'per file'],
    [
      ['OpenAI transcriptions answered 2xx', transcriptions.length, (transcriptions.length / plan.files).toFixed(2)],
      ['OpenAI requests, all', oa.length, (oa.length / plan.files).toFixed(2)],
      ['pyannote diarization jobs created (POST /v1/diarize 2xx)', jobs.length, (jobs.length / plan.files).toFixed(2)],
      ['pyannote media uploads', uploads.length, (uploads.length / plan.files).toFixed(2)],
      ['pyannote job polls', polls.length, (polls.length / plan.files).toFixed(2)],
      ['pyannote requests, all', py.length, (py.length / plan.files).toFixed(2)],
      ['pyannote API calls counted by the request budget (all but uploads)', budgeted, (budgeted / plan.files).toFixed(2)],
      ['requests not answered 2xx (both)', notOk.length, (notOk.length / plan.files).toFixed(2)],
    ],
  );
  const budgetCeiling = rpm / (budgeted / plan.files);
  note(`With ${(budgeted / plan.files).toFixed(2)} budgeted pyannote calls per file and ${rpm} allowed per minute, one key carries at most ~${budgetCeiling.toFixed(1)} files per minute`);
  note(
    budgetCeiling <= fpm * 1.25
      ? `once the first minute's burst is spent: the budget is what limits this batch (measured ${fpm.toFixed(1)}; --pyannote-rpm raises it).`
      : `once the first minute's burst is spent: far above the measured ${fpm.toFixed(1)}, so the budget is not what limits this batch.`,
  );
  if (notOk.length > 0) note(`not 2xx: ${[...new Set(notOk.map((q) => `${q.method} ${q.path.replace(/\/[^/]{16,}$/, '/…')} → ${q.status}${q.fault ? ` (${q.fault})` : ''}`))].slice(0, 5).join('; ')}`);

  // ---- memory
  heading(`Worker memory (pid ${w.pid}, \`speech worker\`; VmRSS sampled every ${SAMPLE_MS} ms)`);
  const series = mem.series;
  const n = plan.files;
  const at = (k: number) => closes[Math.min(closes.length, Math.max(1, k)) - 1];
  const q1 = at(Math.round(n / 4));
  const q2 = at(Math.round(n / 2));
  const q3 = at(Math.round((3 * n) / 4));
  const qEnd = closes[closes.length - 1] ?? batchEnded;
  const second = q1 !== undefined && q2 !== undefined ? medianIn(series, q1, q2) : { kb: NaN, n: 0 };
  const last = q3 !== undefined ? medianIn(series, q3, qEnd) : { kb: NaN, n: 0 };
  const allowedKb = Math.max(second.kb * FLAT_RATIO, FLAT_KB);
  const growthKb = last.kb - second.kb;
  const flat = closes.length === n && second.n > 0 && last.n > 0 && growthKb <= allowedKb;
  // Trend from the end of the warm-up quarter: RSS against files completed.
  const steady = q1 !== undefined ? series.filter((p) => p.at >= q1) : [];
  const doneAt = (t: number) => {
    let lo = 0;
    let hi = closes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (closes[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const trendKbPerFile = slope(
    steady.map((p) => doneAt(p.at)),
    steady.map((p) => p.rssKb),
  );
  table(
    ['measure', 'value'],
    [
      ['RSS at start (idle, 3 s after the worker said it polls)', mb(idle.rssKb)],
      ['peak RSS (VmHWM, kernel, whole life of the worker)', mb(mem.hwmKb)],
      ['peak RSS (sampled during the batch)', `${mb(mem.peakRssKb)} at ${s1(mem.peakAt - batchStarted)} into the batch (${mem.samples} samples)`],
      ['peak worker + ffmpeg children (sampled every 5th)', mb(mem.peakTreeKb)],
      ['RSS after the batch (idle, 5 s after the CLI exited)', after ? mb(after.rssKb) : '(worker gone)'],
      [`median RSS, second quarter (files ${Math.round(n / 4)}–${Math.round(n / 2)} completed)`, `${mb(second.kb)} (${second.n} samples)`],
      [`median RSS, last quarter (files ${Math.round((3 * n) / 4)}–${n} completed)`, `${mb(last.kb)} (${last.n} samples)`],
      ['last quarter − second quarter', `${growthKb >= 0 ? '+' : ''}${mb(growthKb)} (${((growthKb / second.kb) * 100).toFixed(1)} %)`],
      ['trend after the first quarter (least squares, RSS vs files completed)', Number.isFinite(trendKbPerFile) ? `${trendKbPerFile >= 0 ? '+' : ''}${((trendKbPerFile * 100) / 1024).toFixed(1)} MB per 100 files` : '-'],
    ],
  );
  note(`"flat": the last quarter's median RSS is at most max(${FLAT_RATIO * 100} %, ${FLAT_KB / 1024} MB) = ${mb(allowedKb)} above the second quarter's`);
  note(`(quarters by files completed, from the runs' close times on the server; the first quarter is the warm-up). Flat: ${flat ? 'yes' : 'NO'}.`);

  const rows: (string | number)[][] = [];
  let prev = batchStarted;
  for (let k = step; k <= closes.length; k += step) {
    const t = closes[k - 1]!;
    const s = sampleAt(series, t);
    const seg = medianIn(series, prev, t);
    rows.push([k, s1(t - batchStarted), s ? mb(s.rssKb) : '-', seg.n > 0 ? mb(seg.kb) : '-']);
    prev = t;
  }
  if (closes.length % step !== 0 && closes.length > 0) {
    const t = closes[closes.length - 1]!;
    const s = sampleAt(series, t);
    rows.push([closes.length, s1(t - batchStarted), s ? mb(s.rssKb) : '-', mb(medianIn(series, prev, t).kb)]);
  }
  table(['files completed', 'at', 'worker RSS then', `median RSS since the previous row`], rows);

  // ---- summary
  heading('Summary');
  const summary: SummaryRow[] = [
    { metric: `all ${plan.files} files completed as new runs, distinct ids`, value: `${ok.length}/${plan.files}, ${ids.size} ids, exit ${r.code}`, target: 'all complete', met: allOk },
    { metric: 'worker memory flat (last vs second quarter, median)', value: `${mb(second.kb)} → ${mb(last.kb)} (${growthKb >= 0 ? '+' : ''}${mb(growthKb)})`, target: `≤ +${mb(allowedKb)}`, met: flat },
    { metric: 'worker RSS: start (idle) → peak (VmHWM) → after', value: `${mb(idle.rssKb)} → ${mb(mem.hwmKb)} → ${after ? mb(after.rssKb) : '-'}`, target: '(info)', met: null },
    { metric: 'diarization jobs', value: String(jobs.length), target: `= ${plan.files} (files)`, met: jobs.length === plan.files },
    { metric: 'transcription requests (one chunk per short file)', value: String(transcriptions.length), target: `= ${plan.files} (files)`, met: transcriptions.length === plan.files },
    { metric: `files per minute (--parallel ${plan.parallel})`, value: `${fpm.toFixed(1)} (${((cliAudio || audioSeconds) / 60 / wallMin).toFixed(1)} audio-min per min, wall ${s1(r.ms)})`, target: '(info)', met: null },
    { metric: `ceiling set by the pyannote request budget (${rpm}/min)`, value: `~${budgetCeiling.toFixed(1)} files per minute (${(budgeted / plan.files).toFixed(2)} calls per file)`, target: '(info)', met: null },
  ];
  summaryTable(summary);
  note('');
  note(`recordings made in ${s1(genMs)}; total bench time ${s1(Date.now() - t0)}; load average at end ${loadavg()} (1, 5, 15 min)`);
  const missed = summary.filter((s) => s.met === false);
  if (missed.length > 0) note(`targets missed: ${missed.map((s) => s.metric).join('; ')}`);

  await w.stop();
  return allOk && missed.length === 0 ? 0 : 1;
}

runBench(main);
