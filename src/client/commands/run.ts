// `speech run FILE…`: start, attach to, resume or report one pipeline per file, show live
// progress, and finish with the outputs and the Web UI link.
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { isCancellation } from '@temporalio/workflow';
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig, type Config } from '../../config';
import { Failure } from '../../domain/failures';
import { LANGUAGE_CODES } from '../../domain/languages';
import { MAX_USER_PROMPT_CHARS, type PipelineOptions } from '../../domain/options';
import { acceptsPrompt } from '../../domain/prompt';
import { DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, type ExportFormat } from '../../domain/stages';
import { createHash } from 'node:crypto';
import { voicesDir, voiceSpace } from '../../config';
import { checkOutput, readOutputLedger, recordOutputs } from '../../providers/output-files';
import { voiceprintsFor } from '../../providers/voices';
import { FORMAT_EXTENSIONS } from '../../domain/formats';
import { planOutputNames } from '../output-names';
import { loadRecordFile } from '../records';
import { RenderFlagsShape, subtitleRequest } from '../render-flags';
import { formatClock } from '../../domain/timecode';
import type { SpeechPipelineResult, speechPipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import { hasSearchAttributes, IN_PROCESS_GRACE_SECONDS, openContext, createInProcessWorkerEarly, runInProcessWorker, startInProcessWorker, webUiLink, isLocalAddress, type CliContext } from '../context';
import { EXIT, RunFailedError, UsageError } from '../errors';
import { printJson, stageLines, table } from '../output';
import { createProgressDisplay, type ProgressDisplay } from '../progress-display';
import { createFsArtifactStore } from '../../providers/artifact-store';
import { DetachedError, follow } from '../follow';
import { livePollers } from '../run-health';
import { priorResults } from '../history';
import { preparePipelineInput, webUiMetadata } from '../run-input';
import { planRun, type StoredResult } from '../run-plan';
import { reexport } from '../reexport';
import { describeProviders, engineUrl, ensureEngine, superviseEngine, transcriptionSlots, usesLocalEngine } from '../../local-engine';
import type { PriceTable } from '../../domain/usage';
import { checkInterimSpace, checkModelOffline, checkOutputFolder, checkProviders } from '../preflight';
import { estimateFile, type FileEstimate } from '../estimate';
import { checkInputs, type CheckedInput } from '../input-check';
import { runWarnings } from '../run-warnings';
import { identifyInput } from '../pipeline-id';
import { loadPrices, usageOfArtifacts, usageReport } from '../usage-report';
import { formatMoney } from '../../domain/usage';

const positiveInt = (what: string) => z.coerce.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).min(1, `${what} must be at least 1`).max(100, `${what} must be at most 100`);

export const RunFlagsSchema = z
  .object({
    out: z.string().min(1).optional(),
    formats: z
      .string()
      .default(DEFAULT_EXPORT_FORMATS.join(','))
      .transform((s) => [...new Set(s.split(',').map((f) => f.trim().toLowerCase()).filter(Boolean))])
      .pipe(z.array(z.enum(EXPORT_FORMATS, { error: (i) => `unknown format "${String(i.input)}"; choose from ${EXPORT_FORMATS.join(', ')}` })).min(1, 'name at least one format')),
    language: z
      .string()
      .regex(/^[a-z]{2,3}$/i, 'must be an ISO-639-1 code such as en, de, fr')
      .transform((s) => s.toLowerCase())
      .refine((s) => LANGUAGE_CODES.has(s), { error: (i) => `"${String(i.input)}" is not a language the transcription models know; use an ISO-639-1 code such as en, de, fr, es, ja` })
      .optional(),
    speakers: positiveInt('--speakers').optional(),
    minSpeakers: positiveInt('--min-speakers').optional(),
    maxSpeakers: positiveInt('--max-speakers').optional(),
    model: z.string().min(1).optional(),
    wait: z.boolean().default(true),
    forceRestart: z.boolean().default(false),
    worker: z.boolean().optional(),
    parallel: positiveInt('--parallel').default(4),
    json: z.boolean().default(false),
    ...RenderFlagsShape,
    identify: z.boolean().default(false),
    estimate: z.boolean().default(false),
    prompt: z.string().trim().min(1, '--prompt is empty').optional(),
    promptFile: z.string().min(1).optional(),
    identifyThreshold: z.coerce.number({ error: '--identify-threshold must be a number' }).min(0, '--identify-threshold must be at least 0').max(100, '--identify-threshold must be at most 100').optional(),
  });
export type RunFlags = z.infer<typeof RunFlagsSchema>;

/**
 * Parses run flags, reporting every problem at once: the per-flag checks and the
 * checks between flags, which zod would skip while any single flag is bad.
 */
export function parseRunFlags(raw: Record<string, unknown>): RunFlags {
  const parsed = RunFlagsSchema.safeParse(raw);
  const issues: z.core.$ZodIssue[] = parsed.success ? [] : [...parsed.error.issues];
  const has = (k: string) => raw[k] !== undefined;
  if (has('speakers') && (has('minSpeakers') || has('maxSpeakers'))) {
    issues.push({ code: 'custom', path: ['speakers'], message: 'use either --speakers N or --min-speakers/--max-speakers, not both', input: raw.speakers });
  }
  const min = Number(raw.minSpeakers);
  const max = Number(raw.maxSpeakers);
  if (has('minSpeakers') && has('maxSpeakers') && Number.isFinite(min) && Number.isFinite(max) && min > max) {
    issues.push({ code: 'custom', path: ['minSpeakers'], message: `${min} is more than --max-speakers ${max}`, input: raw.minSpeakers });
  }
  if (has('prompt') && has('promptFile')) {
    issues.push({ code: 'custom', path: ['prompt'], message: 'use either --prompt TEXT or --prompt-file FILE, not both', input: raw.prompt });
  }
  if (has('identifyThreshold') && raw.identify !== true) {
    issues.push({ code: 'custom', path: ['identifyThreshold'], message: 'goes with --identify', input: raw.identifyThreshold });
  }
  if (issues.length > 0 || !parsed.success) throw new z.ZodError(issues);
  return parsed.data;
}


interface RunOutcome {
  file: string;
  pipeline_id: string | null;
  workflow_id: string | null;
  run_id: string | null;
  /** started: new run; attached: was already running; completed: finished earlier, nothing redone; resumed: continues a failed or cancelled run. */
  mode: 'started' | 'attached' | 'completed' | 'resumed' | 'not-started';
  /** Ctrl-C stopped following the run (it goes on on the server), or came before the file was started. */
  detached?: boolean;
  status: 'completed' | 'running' | 'failed' | 'cancelled' | 'invalid';
  audio_seconds: number | null;
  duration_ms: number;
  outputs: string[];
  web_ui: string | null;
  error: { type: string; message: string } | null;
  /** What the transcript cost: per provider, reused vs computed, estimated money (completed runs). */
  usage?: ReturnType<typeof usageReport> | null;
  /** What a completed run's result needs said (e.g. no speech was found). */
  warnings: string[];
}

/** The transcription model a run names (and its pipeline id includes): the local engine's model is fixed when it starts. */
export function transcribeModelFor(flags: Pick<RunFlags, 'model'>, config: Config): string {
  if (config.providers.transcription === 'local') {
    if (flags.model !== undefined) {
      throw new UsageError(
        `--model ${flags.model}: transcription runs on the local engine, whose model is set when it starts`,
        `Set LOCAL_ASR_MODEL=${flags.model} (any faster-whisper model name or path), or set OPENAI_API_KEY to use OpenAI's models.`,
      );
    }
    return `faster-whisper:${config.local.asrModel}`;
  }
  return flags.model ?? config.openai.model;
}

export function optionsFrom(flags: RunFlags, config: Config, identifyVoices: string | null = null, prompt: string | null = null): PipelineOptions {
  return {
    language: flags.language ?? null,
    numSpeakers: flags.speakers ?? null,
    minSpeakers: flags.minSpeakers ?? null,
    maxSpeakers: flags.maxSpeakers ?? null,
    transcribeModel: transcribeModelFor(flags, config),
    ...(identifyVoices !== null ? { identify: { voices: identifyVoices, threshold: identifyThreshold(flags, config) } } : {}),
    ...(prompt ? { prompt } : {}),
  };
}

/**
 * The user's vocabulary prompt: --prompt, --prompt-file, or PROMPT_FILE; checked before anything
 * starts (a model that takes none, or one too long to leave room for the previous chunk's words).
 */
export async function userPrompt(flags: RunFlags, config: Config, model: string): Promise<string | null> {
  const file = flags.promptFile ?? (flags.prompt === undefined ? config.promptFile : undefined);
  let text = flags.prompt ?? null;
  if (file !== undefined) {
    try {
      text = (await readFile(file, 'utf8')).replace(/\s+/g, ' ').trim();
    } catch (err) {
      throw new UsageError(`${flags.promptFile !== undefined ? '--prompt-file' : 'PROMPT_FILE'} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    if (!text) throw new UsageError(`${file} is empty: there is no prompt in it`);
  }
  if (text === null) return null;
  if (!acceptsPrompt(model)) throw new UsageError(`--prompt: ${model} takes no prompt; nothing was started`, 'Leave out --prompt (and PROMPT_FILE) for this model.');
  if (text.length > MAX_USER_PROMPT_CHARS) {
    throw new UsageError(
      `the prompt is ${text.length} characters; at most ${MAX_USER_PROMPT_CHARS} fit beside the previous chunk's words in what the model reads (~224 tokens)`,
      'Keep the names and terms that are hard to spell; leave out ordinary words.',
    );
  }
  return text;
}

/**
 * Match score a voice needs. pyannote.ai's own default (0) matches every enrolled voice to some
 * speaker; on the local engine 50 is measured to sit between same-voice (91–98) and
 * other-voice (0–15) scores (engine/README.md), so it is the default there.
 */
export const LOCAL_IDENTIFY_THRESHOLD = 50;

function identifyThreshold(flags: RunFlags, config: Config): number | null {
  return flags.identifyThreshold ?? (config.providers.diarization === 'local' ? LOCAL_IDENTIFY_THRESHOLD : null);
}

/**
 * With --identify: a digest of the enrolled voices this run's diarizer can use, checked before
 * anything starts (no voices is the user's to fix, not a run to pay for).
 */
async function identifyVoices(config: Config, flags: RunFlags): Promise<string> {
  if (config.providers.diarization === 'openai' && flags.identifyThreshold !== undefined) {
    throw new UsageError('--identify-threshold: OpenAI\'s diarize model names known speakers without a score to set a threshold on', 'Leave out --identify-threshold with DIARIZE_PROVIDER=openai.');
  }
  const space = voiceSpace(config);
  const { voiceprints, otherSpaces } = await voiceprintsFor(voicesDir(config.dataDir), space);
  if (voiceprints.length === 0) {
    throw new UsageError(
      `--identify: no voice is enrolled for this diarizer (${space})${otherSpaces > 0 ? `; the ${otherSpaces} enrolled voice(s) were made by another provider` : ''}`,
      'Enrol each known voice first: speech voices add "Alice" alice-clip.wav   (a clip of 2–30 s with only that voice)',
    );
  }
  const digest = createHash('sha256');
  for (const v of voiceprints) digest.update(`${v.label}\0${v.voiceprint}\0`);
  return digest.digest('hex').slice(0, 16);
}

export async function runCommand(inputs: string[], rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseRunFlags(rawFlags);
  const config = loadConfig();
  // Refused before anything starts: a model the configured provider cannot take, a language it cannot transcribe.
  const model = transcribeModelFor(flags, config);
  checkModelOffline(config, model, flags.language ?? null);
  if (inputs.length === 0) throw new UsageError('name at least one audio or video file (or a folder of them)', 'speech run meeting.m4a');
  const inProcessWorker = (flags.worker ?? isLocalAddress(config.temporal.address)) && flags.wait;
  // The worker is created meanwhile when the server already answers (it polls only once run).
  const early = inProcessWorker && !flags.estimate ? createInProcessWorkerEarly(config, usesLocalEngine(config) ? { url: engineUrl(config) } : null) : null;
  // Every input is checked before anything starts, is written or is paid for (input-check.ts):
  // each refused one is said in one line; the others run, and the command exits 1 at the end.
  const checked = await checkInputs(inputs, { ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
  const accepted = checked.filter((c) => c.problem === null);
  const files = accepted.map((c) => c.file);
  if (!flags.json) for (const c of checked) if (c.problem) process.stderr.write(`error: ${c.problem.message}\n`);
  if (files.length === 0 && !flags.estimate) {
    if (flags.json) printJson({ ok: false, runs: checked.map(refusedOutcome) });
    else if (checked.length > 1) process.stderr.write(`None of the ${checked.length} files can be transcribed; nothing was started.\n`);
    return EXIT.usage;
  }
  const names = planOutputNames(files, flags.out !== undefined);
  const identifyDigest = flags.identify ? await identifyVoices(config, flags) : null;
  const prompt = await userPrompt(flags, config, model);
  const prices = await loadPrices(config);
  if (flags.estimate) return estimateCommand(config, prices, checked, flags, identifyDigest, prompt);
  // The keys (and, on compatible servers, the model) are proven with free calls, and only when
  // some file will pay a provider: a result that is all reused needs no key.
  // A few files at a time: each is hashed (once; runOne reuses the hash) and looked up in the cache.
  const estimates: Awaited<ReturnType<typeof estimateFor>>[] = [];
  for (let i = 0; i < files.length; i += 4) {
    estimates.push(...(await Promise.all(files.slice(i, i + 4).map((file) => estimateFor(config, prices, file, flags, identifyDigest, null, prompt)))));
  }
  const preflightWarnings = await checkProviders(config, model, {
    transcription: estimates.some((e) => e.pays.transcription),
    diarization: estimates.some((e) => e.pays.diarization),
    inProcessWorker,
  });
  const say = (line: string) => {
    if (!flags.json) process.stdout.write(`${line}\n`);
  };
  // A stuck run is said at once, in JSON mode too (on stderr, so stdout stays one document).
  const warn = (line: string) => (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
  // Ctrl-C (or SIGTERM) once: stop following, say what happens to the runs, let this process's
  // worker hand back its activities within its grace time, exit. Twice: exit at once.
  const detach = new AbortController();
  let lastWords = 'Detached: the runs go on on the Temporal server; `speech list` shows them.';
  const onSignal = () => {
    if (!detach.signal.aborted) {
      detach.abort();
      return;
    }
    process.stderr.write(`${lastWords}\nExiting now.\n`);
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  for (const w of preflightWarnings) warn(`warning: ${w}`);
  const ctx = await openContext({ embedded: true, onServerStart: say });
  const wantWorker = flags.worker ?? isLocalAddress(ctx.config.temporal.address);
  let worker: Awaited<ReturnType<typeof startInProcessWorker>> | null = null;
  let unwatch: () => void = () => undefined;
  try {
    if (wantWorker && flags.wait) {
      const engine = usesLocalEngine(ctx.config) ? await ensureEngine(ctx.config, say) : null;
      if (engine) {
        say(`Running locally, no key needed: ${describeProviders(ctx.config, engine)}.`);
        unwatch = superviseEngine(ctx.config);
      }
      const created = await early;
      worker = created && created.engineUrl === (engine?.url ?? null) ? runInProcessWorker(created) : await startInProcessWorker(ctx.config, engine);
    }
    const searchAttributes = await hasSearchAttributes(ctx);
    const outcomes: RunOutcome[] = new Array(files.length);
    // One input in all: its own detailed view and summary (a refused one never gets this far).
    const single = checked.length === 1;
    const queue = files.map((file, i) => ({ file, i }));
    const lane = async () => {
      for (let item = queue.shift(); item && !detach.signal.aborted; item = queue.shift()) {
        outcomes[item.i] = await runOne(ctx, item.file, flags, { searchAttributes, say: display.say, warn: warnLive, detailed: single, baseName: names[item.i]!.baseName, identifyDigest, detach: detach.signal, display, prices, prompt, estimate: estimates[item.i]!, audioSeconds: accepted[item.i]!.audioSeconds });
      }
    };
    // Live bars on a terminal, plain lines elsewhere; none with --json.
    const display = flags.json ? createProgressDisplay({ tty: false, write: () => undefined }) : createProgressDisplay({ tty: process.stdout.isTTY === true && flags.wait, write: say });
    const warnLive = (line: string) => (flags.json ? warn(line) : display.say(line));
    try {
      await Promise.all(Array.from({ length: Math.min(flags.parallel, files.length) }, lane));
    } finally {
      display.stop();
    }
    if (detach.signal.aborted) {
      files.forEach((file, i) => (outcomes[i] ??= { file, pipeline_id: null, workflow_id: null, run_id: null, mode: 'not-started', detached: true, status: 'invalid', audio_seconds: null, duration_ms: 0, outputs: [], web_ui: null, error: null, warnings: [] }));
      const guidance = await detachGuidance(ctx, outcomes, worker?.identity ?? null);
      lastWords = guidance;
      process.stderr.write(`${guidance}\n`);
      if (flags.json) printJson({ ok: false, detached: true, runs: withRefused(checked, outcomes) });
      return EXIT.interrupted;
    }
    // The refused inputs take their places among the runs, in the order they were named.
    const all = withRefused(checked, outcomes);

    if (!flags.wait && !worker && !flags.json) {
      say('No worker runs in this process (--no-wait). Start one with `speech worker` if none is running.');
    }
    const failed = all.filter((o) => o.status === 'failed' || o.status === 'cancelled' || o.status === 'invalid');
    if (flags.json) {
      printJson({ ok: failed.length === 0, runs: all });
    } else if (single) {
      printSingle(all[0]!, say);
    } else {
      say('');
      say(
        table(
          ['file', 'status', 'audio', 'took', 'outputs'],
          all.map((o) => [
            path.basename(o.file),
            o.status + (o.mode === 'completed' ? ' (earlier)' : o.mode === 'resumed' ? ' (resumed)' : ''),
            o.audio_seconds !== null ? formatClock(o.audio_seconds) : '-',
            `${(o.duration_ms / 1000).toFixed(1)} s`,
            o.error ? o.error.message : o.outputs.length > 0 ? path.dirname(o.outputs[0]!) : '-',
          ]),
        ),
      );
      const renamed = names.filter((n) => n.renamed);
      if (renamed.length > 0) {
        say(`Outputs named apart, as these files would have written the same names in ${path.resolve(flags.out ?? '.')}:`);
        for (const n of renamed) say(`  ${path.basename(n.file)} → ${n.baseName}.*`);
      }
      for (const o of all) for (const w of o.warnings) say(`warning: ${path.basename(o.file)}: ${w}`);
      say(`${all.length - failed.length} of ${all.length} files ${flags.wait ? 'done' : 'started'}; ${failed.length} failed.`);
      const costs = outcomes.map((o) => o.usage?.estimated_cost).filter((c): c is NonNullable<typeof c> => c !== undefined);
      if (costs.length > 0) {
        const total = costs.reduce((a, c) => a + c.total, 0);
        say(`Estimated cost of these transcripts: ${formatMoney(total, prices.currency)} (prices of ${prices.date}); \`speech show ID\` itemizes each.`);
      }
    }
    if (failed.length === 0) return EXIT.ok;
    // A run that failed or was cancelled: 2. Otherwise the problems are the user's input (a file
    // refused, an output in the way; nothing was started for it): 1, as for a single file.
    return all.some((o) => o.status === 'failed' || o.status === 'cancelled') ? EXIT.failed : EXIT.usage;
  } finally {
    unwatch();
    await worker?.stop();
    await ctx.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A refused input as the run summary shows it: nothing was started for it. */
function refusedOutcome(c: CheckedInput): RunOutcome {
  return { file: c.file, pipeline_id: null, workflow_id: null, run_id: null, mode: 'not-started', status: 'invalid', audio_seconds: null, duration_ms: 0, outputs: [], web_ui: null, error: c.problem ? { type: c.problem.type, message: c.problem.message } : null, warnings: [] };
}

/** The outcomes of the accepted inputs (in their order) with the refused ones put back in place. */
function withRefused(checked: CheckedInput[], outcomes: RunOutcome[]): RunOutcome[] {
  let k = 0;
  return checked.map((c) => (c.problem ? refusedOutcome(c) : outcomes[k++]!));
}

/** What Ctrl-C leaves behind, and what to do about it: which runs go on, who continues them. */
async function detachGuidance(ctx: CliContext, outcomes: RunOutcome[], ownWorker: string | null): Promise<string> {
  const running = outcomes.filter((o) => o.detached && o.pipeline_id && o.status === 'running');
  const notStarted = outcomes.filter((o) => o.detached && o.mode === 'not-started').length;
  const others = await livePollers(ctx, ctx.config.temporal.taskQueue, ownWorker).catch(() => null);
  const head = running.length === 0 ? 'No run was under way.' : `${running.length === 1 ? `${running[0]!.pipeline_id} keeps` : `${running.length} runs keep`} running on the Temporal server (${ctx.config.temporal.address}); finished stages are kept.`;
  const lines = [`Detached (Ctrl-C). ${head}`];
  if (running.length > 0) {
    const them = running.length === 1 ? 'it' : 'them';
    if (ownWorker) lines.push(`  This process's worker hands back its current activities (within ${IN_PROCESS_GRACE_SECONDS} s) and stops.`);
    if (others === null) lines.push('  Whether another worker polls the task queue could not be told.');
    else if (others.length > 0) lines.push(`  ${others.length === 1 ? `Worker ${others[0]}` : `${others.length} other workers (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''})`} will continue ${them}.`);
    else lines.push(`  No other worker polls task queue ${ctx.config.temporal.taskQueue}: ${running.length === 1 ? 'it waits' : 'they wait'} until one does (\`speech worker\`, or \`speech run\` on the same file again).`);
    const id = running.length === 1 ? running[0]!.pipeline_id! : 'ID';
    lines.push(`  Follow: speech watch ${id}    Stop: speech cancel ${id}${running.length > 1 ? `    (ids: ${running.map((o) => o.pipeline_id).join(', ')})` : ''}`);
  }
  if (notStarted > 0) lines.push(`  ${notStarted} file(s) were not started; \`speech run\` again starts them (finished ones are not redone).`);
  return lines.join('\n');
}

function printSingle(o: RunOutcome, say: (l: string) => void): void {
  if (o.status === 'completed') {
    const when = o.mode === 'completed' ? 'completed earlier; showing the stored result (nothing was re-processed)' : `completed in ${(o.duration_ms / 1000).toFixed(1)} s`;
    say(`${o.pipeline_id}: ${when}${o.audio_seconds !== null ? `, ${formatClock(o.audio_seconds)} of audio` : ''}`);
    for (const w of o.warnings) say(`warning: ${w}`);
    say('Outputs:');
    for (const f of o.outputs) say(`  ${f}`);
    if (o.usage) say(o.usage.summary);
  } else if (o.status === 'running') {
    say(`${o.pipeline_id}: ${o.mode === 'attached' ? 'already running' : 'started'} (run ${o.run_id})`);
    say(`Follow it with: speech watch ${o.pipeline_id}`);
  } else {
    say(`${o.pipeline_id ?? path.basename(o.file)}: ${o.status}: ${o.error?.message ?? ''}`);
    if (o.status === 'failed') say(nextStep(o.error?.type));
  }
  if (o.web_ui) say(`Web UI: ${o.web_ui}`);
}

async function runOne(
  ctx: CliContext,
  file: string,
  flags: RunFlags,
  env: {
    searchAttributes: boolean;
    say: (l: string) => void;
    warn: (l: string) => void;
    detailed: boolean;
    baseName: string;
    identifyDigest: string | null;
    detach: AbortSignal;
    display: ProgressDisplay;
    prices: PriceTable;
    prompt: string | null;
    /** What this file would reuse and pay, found before anything started. */
    estimate: Pick<FileEstimate, 'reused'>;
    /** The audio length the input check found (null when the file does not say). */
    audioSeconds: number | null;
  },
): Promise<RunOutcome> {
  const started = Date.now();
  const { config, client } = ctx;
  const base: RunOutcome = { file, pipeline_id: null, workflow_id: null, run_id: null, mode: 'not-started', status: 'invalid', audio_seconds: null, duration_ms: 0, outputs: [], web_ui: null, error: null, warnings: [] };
  const name = path.basename(file);
  const tag = env.detailed ? '' : `${name}: `;

  // The input was checked before anything started (input-check.ts): this is its audio length.
  const probeSeconds = env.audioSeconds;

  const options = optionsFrom(flags, config, env.identifyDigest, env.prompt);
  const render = { subtitles: subtitleRequest(flags) };
  const { input, ident } = await preparePipelineInput(config, file, {
    options,
    formats: flags.formats as ExportFormat[],
    outDir: flags.out,
    searchAttributes: env.searchAttributes,
    outputBaseName: env.baseName,
    render,
    overwrite: flags.overwrite,
    identify: options.identify ? { voicesDir: voicesDir(config.dataDir), threshold: options.identify.threshold } : null,
  });
  const baseName = env.baseName;
  const id = ident.pipelineId;
  const outDir = input.outputDir;
  // --force-restart computes every stage again: nothing is taken from the stage cache either.
  if (flags.forceRestart) input.reuseCached = false;
  const usageOf = (artifacts: SpeechPipelineResult['artifacts']) => usageReport(usageOfArtifacts(artifacts), env.prices);

  // Refuse, before anything is paid for, to write over files this pipeline did not write (its
  // ledger, or for runs of earlier releases, the outputs its state record vouches for).
  const owned = await readOutputLedger(input.interimDir);
  const recorded = await loadRecordFile(input.stateRecordPath).catch(() => null);
  const unledgered = (recorded?.checkpoints.find((c) => c.stage === 'export')?.outputs ?? []).filter((o) => !owned.has(o.path));
  for (const o of unledgered) owned.set(o.path, o.sha256);
  for (const format of flags.formats as ExportFormat[]) {
    const target = path.join(outDir, `${baseName}.${FORMAT_EXTENSIONS[format]}`);
    const check = await checkOutput(target, { owned, overwrite: flags.overwrite });
    if (!check.ok) {
      return {
        ...base,
        pipeline_id: id,
        workflow_id: id,
        duration_ms: Date.now() - started,
        error: { type: Failure.OutputExists, message: `${check.reason}; nothing was started. Add --overwrite to replace it, or --out DIR to write elsewhere.` },
      };
    }
  }
  // Outputs of a run of an earlier release are in its record only: the ledger the export
  // activity reads learns them, so a resumed run may render them again.
  if (unledgered.length > 0) await recordOutputs(createFsArtifactStore(), input.interimDir, unledgered);
  const out: RunOutcome = { ...base, pipeline_id: id, workflow_id: id, audio_seconds: probeSeconds, status: 'running' };

  let handle: WorkflowHandle<typeof speechPipeline> | null = null;
  let runId: string | null = null;
  const existing = await describe(ctx, id);
  let completed: SpeechPipelineResult | null = null;
  if (existing?.status === 'COMPLETED' && !flags.forceRestart) completed = await client.workflow.getHandle<typeof speechPipeline>(id, existing.runId).result();
  const restyle = Object.keys(render.subtitles).length > 0 || (completed?.outputs[0] !== undefined && !path.basename(completed.outputs[0].path).startsWith(`${baseName}.`));
  let plan = planRun(existing, completed ? await storedResult(completed) : null, { forceRestart: flags.forceRestart, formats: flags.formats, outDir, restyle });
  const finished = (runIdDone: string, outputs: string[]): RunOutcome => ({
    ...out,
    mode: 'completed',
    status: 'completed',
    run_id: runIdDone,
    audio_seconds: completed?.audioSeconds ?? out.audio_seconds,
    outputs,
    duration_ms: Date.now() - started,
    web_ui: webUiLink(config, id, runIdDone),
    usage: completed ? usageOf(completed.artifacts) : null,
    warnings: runWarnings(completed?.artifacts.merge?.metadata),
  });
  if (plan.kind === 'stored') return finished(plan.runId, completed!.outputs.map((o) => o.path));
  if (plan.kind === 're-render') {
    try {
      const rendered = await reexport({ merged: completed!.artifacts.merge!, formats: flags.formats as ExportFormat[], outDir, baseName, render, overwrite: flags.overwrite, alsoOwned: completed!.outputs });
      return finished(plan.runId, rendered.map((r) => r.path));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      // The stored merge result was damaged after we looked: run again, reusing whatever is intact.
      plan = { kind: 'resume', fromRunId: plan.runId, afterCompleted: true };
    }
  }
  if (plan.kind === 'attach') {
    handle = client.workflow.getHandle<typeof speechPipeline>(id, plan.runId);
    runId = plan.runId;
  } else if (plan.kind === 'resume') {
    input.priorResults = priorResults(await client.workflow.getHandle(id, plan.fromRunId).fetchHistory());
    input.resumedFrom = plan.fromRunId;
  }
  const mode: RunOutcome['mode'] = plan.kind === 'attach' ? 'attached' : plan.kind === 'resume' ? 'resumed' : 'started';
  const reuseCompleted = plan.kind === 'resume' && plan.afterCompleted;
  if (!handle) {
    // Before anything is paid for: the outputs can be written, and the interim audio fits.
    try {
      await checkOutputFolder(outDir);
      if (!env.estimate.reused.conversion && probeSeconds !== null) await checkInterimSpace(config.dataDir, probeSeconds);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      return { ...out, status: 'invalid', duration_ms: Date.now() - started, error: { type: 'Preflight', message: err.hint ? `${err.message}. ${err.hint}` : err.message } };
    }
  }

  if (!handle) {
    try {
      const started = await client.workflow.start<typeof speechPipeline>('speechPipeline', {
        taskQueue: config.temporal.taskQueue,
        workflowId: id,
        args: [input],
        workflowIdConflictPolicy: flags.forceRestart ? 'TERMINATE_EXISTING' : 'USE_EXISTING',
        workflowIdReusePolicy: flags.forceRestart || reuseCompleted ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
        ...webUiMetadata(input, probeSeconds),
      });
      handle = started;
      runId = started.firstExecutionRunId;
    } catch (err) {
      // A completed run appeared between our look and the start: report it as such.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return runOne(ctx, file, { ...flags }, env);
      throw err;
    }
  }
  runId ??= (await handle.describe()).runId;
  out.run_id = runId;
  out.mode = mode;
  out.web_ui = webUiLink(config, id, runId);
  if (env.detailed) {
    const verb = { started: 'started', attached: 'attached to the running pipeline', resumed: `resuming after run ${input.resumedFrom}`, completed: '', 'not-started': '' }[mode];
    env.say(`${id}: ${verb}`);
    if (out.web_ui) env.say(`Web UI: ${out.web_ui}`);
  } else {
    env.say(`${tag}${mode} ${id}`);
  }
  if (!flags.wait) return { ...out, duration_ms: Date.now() - started };

  const view = env.display.track(file, { detailed: env.detailed });
  try {
    const result = await follow<SpeechPipelineResult>(ctx, handle, {
      onProgress: (p) => view.update(p),
      onProblem: (problem) => env.warn(problem ? `${tag}${problem.message}\n${tag}  ${problem.hint}` : `${tag}${id}: a worker has picked the run up again.`),
      signal: env.detach,
    });
    view.completed(result.stages);
    return { ...out, status: 'completed', audio_seconds: result.audioSeconds, outputs: result.outputs.map((o) => o.path), duration_ms: Date.now() - started, usage: usageOf(result.artifacts), warnings: runWarnings(result.artifacts.merge?.metadata) };
  } catch (err) {
    view.ended();
    if (err instanceof DetachedError) return { ...out, detached: true, duration_ms: Date.now() - started };
    const e = explainRunFailure(err);
    if (env.detailed) {
      const p = await handle.query(progressQuery).catch(() => null);
      if (p) for (const l of stageLines(p)) env.say(l);
    }
    return { ...out, status: e.cancelled ? 'cancelled' : 'failed', error: { type: e.type, message: e.message }, duration_ms: Date.now() - started };
  }
}

/** What to do after a failed run: resume it, or fix what no retry can. */
export function nextStep(type: string | undefined): string {
  switch (type) {
    case Failure.InvalidMedia:
    case Failure.UnsupportedFormat:
      return 'The input cannot be transcribed as it is; running it again fails the same way.';
    case Failure.OutputExists:
      return 'Nothing was overwritten; add --overwrite or choose --out DIR.';
    case Failure.ProviderAuth:
    case Failure.ConfigMissing:
      return "Fix the worker's configuration named above, then run the same command again: finished stages are kept.";
    case Failure.ProviderQuotaExceeded:
      return 'Add credit to the provider account, then run the same command again: finished stages are kept.';
    case Failure.ProviderBadRequest:
      return 'The provider refused the request as made; running it again fails the same way. Change the option it names (finished stages are kept for the corrected run where they do not depend on it).';
    case Failure.InputChanged:
      return 'Nothing of the new content was used; `speech run` on the file as it is now starts a new run for it.';
    case Failure.InputMissing:
      return 'The input went away during the run: put it back and run the same command again (finished stages are kept), or run it where it is now.';
    case Failure.DiskFull:
      return 'Free some space there (or point DATA_DIR / --out elsewhere), then run the same command again: finished stages are kept.';
    default:
      return 'Finished stages are kept: run the same command again to resume.';
  }
}

/** What running one file would reuse and pay (read from local files only). */
async function estimateFor(config: Config, prices: PriceTable, file: string, flags: RunFlags, identifyDigest: string | null, seconds: number | null, prompt: string | null) {
  const options = optionsFrom(flags, config, identifyDigest, prompt);
  const ident = await identifyInput(file, options);
  const e = await estimateFile(config, prices, { chunkMaxSeconds: config.chunkMaxSeconds, lanes: config.transcribeConcurrency, chunksPerLane: config.chunksPerLane, parallelRequests: transcriptionSlots(config), previousTextPrompt: config.previousTextPrompt }, {
    file,
    pipelineId: ident.pipelineId,
    sha256: ident.sha256,
    seconds,
    options,
  });
  return { ...e, pays: paysFor(e) };
}

function paysFor(e: FileEstimate): { diarization: boolean; transcription: boolean } {
  if (e.completed_earlier) return { diarization: false, transcription: false };
  return { diarization: !e.reused.diarization, transcription: e.to_pay.transcription_requests > 0 || !e.reused.conversion };
}

/** `speech run --estimate`: what each file would reuse and pay, spending nothing. */
async function estimateCommand(config: Config, prices: PriceTable, checked: CheckedInput[], flags: RunFlags, identifyDigest: string | null, prompt: string | null): Promise<number> {
  const rows: FileEstimate[] = [];
  // The refused inputs were said on stderr already (with --json they are listed here).
  const problems = checked.flatMap((c) => (c.problem ? [{ file: c.file, message: c.problem.message }] : []));
  for (const c of checked) if (!c.problem) rows.push(await estimateFor(config, prices, c.file, flags, identifyDigest, c.audioSeconds, prompt));
  const total = rows.reduce((a, r) => a + (r.cost.amount ?? 0), 0);
  const unknown = rows.some((r) => r.cost.amount === null);
  if (flags.json) {
    printJson({ ok: problems.length === 0, files: rows, problems, total: { amount: Math.round(total * 1e6) / 1e6, currency: prices.currency, price_date: prices.date, incomplete: unknown } });
    return problems.length === 0 ? EXIT.ok : EXIT.usage;
  }
  const say = (l: string) => process.stdout.write(`${l}\n`);
  say(
    table(
      ['file', 'audio', 'reused', 'to pay', 'est. cost'],
      rows.map((r) => [
        path.basename(r.file),
        r.audio_seconds !== null ? formatClock(r.audio_seconds) : '?',
        r.completed_earlier ? 'all (completed earlier)' : reusedPhrase(r),
        r.completed_earlier ? 'nothing' : payPhrase(r),
        r.cost.amount === null ? 'no price' : formatMoney(r.cost.amount, prices.currency),
      ]),
    ),
  );
  say(`Estimated total: ${formatMoney(total, prices.currency)}${unknown ? ' (some work has no price in the table)' : ''}; prices of ${prices.date}${config.pricesFile ? ` from ${config.pricesFile}` : ' (shipped table; set PRICES_FILE to use yours)'}. Nothing was sent or started.`);
  return problems.length === 0 ? EXIT.ok : EXIT.usage;
}

function reusedPhrase(r: FileEstimate): string {
  const parts = [r.reused.conversion ? 'conversion' : null, r.reused.diarization ? 'diarization' : null, r.reused.chunks > 0 ? `${r.reused.chunks}/${r.reused.of_chunks} chunks` : null].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

function payPhrase(r: FileEstimate): string {
  const parts = [
    r.to_pay.diarization_seconds > 0 ? `diarize ${formatClock(r.to_pay.diarization_seconds)}` : null,
    r.to_pay.transcription_requests > 0 ? `transcribe ${formatClock(r.to_pay.transcription_seconds)} (${r.to_pay.transcription_requests} req.)` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

/** What a completed run stored, for planRun. */
async function storedResult(result: SpeechPipelineResult): Promise<StoredResult> {
  const merge = result.artifacts.merge;
  return {
    formats: result.outputs.map((o) => String(o.metadata?.format)),
    outputDir: result.outputs[0] ? path.dirname(result.outputs[0].path) : null,
    outputsMissing: await anyMissing(result.outputs.map((o) => o.path)),
    mergeIntact: merge ? (await createFsArtifactStore().verify(merge)).ok : false,
  };
}

async function anyMissing(files: string[]): Promise<boolean> {
  for (const f of files) {
    try {
      await access(f, constants.R_OK);
    } catch {
      return true;
    }
  }
  return false;
}

export async function describe(ctx: CliContext, id: string): Promise<{ status: string; runId: string } | null> {
  try {
    const d = await ctx.client.workflow.getHandle(id).describe();
    return { status: d.status.name, runId: d.runId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

export function explainRunFailure(err: unknown): { type: string; message: string; cancelled: boolean } {
  if (err instanceof WorkflowFailedError) {
    const cancelled = isCancellation(err.cause);
    const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
    return { type: cancelled ? 'Cancelled' : (cause?.type ?? err.cause?.name ?? 'Failed'), message: cancelled ? 'the run was cancelled' : (err.cause?.message ?? err.message), cancelled };
  }
  if (err instanceof RunFailedError) return { type: 'Failed', message: err.message, cancelled: false };
  throw err;
}
