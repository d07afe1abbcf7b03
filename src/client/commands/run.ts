// `speech run FILE…`: start, attach to, resume or report one pipeline per file, show live
// progress, and finish with the outputs and the Web UI link.
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { access, readdir, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { dataPaths, type Config } from '../../config';
import { Failure } from '../../domain/failures';
import type { PipelineOptions } from '../../domain/options';
import type { ProgressSnapshot, SpeechPipelineInput } from '../../domain/pipeline';
import { EXPORT_FORMATS, type ExportFormat } from '../../domain/stages';
import { formatClock } from '../../domain/timecode';
import { createFfmpegProcessor } from '../../providers/ffmpeg';
import { ProviderError } from '../../providers/errors';
import type { SpeechPipelineResult, speechPipeline } from '../../workflows';
import { InputFileAttribute, progressQuery } from '../../workflows/messages';
import { hasSearchAttributes, openContext, startInProcessWorker, webUiLink, isLocalAddress, type CliContext } from '../context';
import { EXIT, RunFailedError, UsageError } from '../errors';
import { printJson, progressLine, stageChanges, stageLines, table } from '../output';
import { identifyInput, type InputIdentity } from '../pipeline-id';
import { priorResultsFromHistory } from '../prior-results';
import { reexport } from '../reexport';

const MEDIA_EXTENSIONS = new Set(['wav', 'mp3', 'm4a', 'aac', 'ogg', 'oga', 'opus', 'flac', 'mp4', 'm4v', 'mov', 'mkv', 'webm', 'wma', 'aiff', 'aif', 'amr', 'mpga', 'mpeg', 'avi']);

const positiveInt = (what: string) => z.coerce.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).min(1, `${what} must be at least 1`).max(100, `${what} must be at most 100`);

export const RunFlagsSchema = z
  .object({
    out: z.string().min(1).optional(),
    formats: z
      .string()
      .default(EXPORT_FORMATS.join(','))
      .transform((s) => [...new Set(s.split(',').map((f) => f.trim().toLowerCase()).filter(Boolean))])
      .pipe(z.array(z.enum(EXPORT_FORMATS, { error: (i) => `unknown format "${String(i.input)}"; choose from ${EXPORT_FORMATS.join(', ')}` })).min(1, 'name at least one format')),
    language: z
      .string()
      .regex(/^[a-z]{2,3}$/i, 'must be an ISO-639-1 code such as en, de, fr')
      .transform((s) => s.toLowerCase())
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
  status: 'completed' | 'running' | 'failed' | 'cancelled' | 'invalid';
  audio_seconds: number | null;
  duration_ms: number;
  outputs: string[];
  web_ui: string | null;
  error: { type: string; message: string } | null;
}

/** Folders expand to the media files directly inside them, in name order. */
export async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const abs = path.resolve(input);
    let s;
    try {
      s = await stat(abs);
    } catch {
      throw new UsageError(`${input}: no such file or folder`, 'Check the path; quote names that contain spaces.');
    }
    if (s.isDirectory()) {
      const names = (await readdir(abs)).filter((n) => !n.startsWith('.') && MEDIA_EXTENSIONS.has(path.extname(n).slice(1).toLowerCase())).sort();
      if (names.length === 0) throw new UsageError(`${input}: the folder holds no audio or video files (${[...MEDIA_EXTENSIONS].slice(0, 8).join(', ')}, …)`);
      files.push(...names.map((n) => path.join(abs, n)));
    } else {
      try {
        await access(abs, constants.R_OK);
      } catch {
        throw new UsageError(`${input}: the file cannot be read (permission denied)`);
      }
      files.push(abs);
    }
  }
  return [...new Set(files)];
}

/** The workflow input for one file: identity, folders under DATA_DIR, run settings. */
export async function preparePipelineInput(
  config: Config,
  file: string,
  opts: { options: PipelineOptions; formats: ExportFormat[]; outDir?: string | undefined; searchAttributes: boolean },
): Promise<{ input: SpeechPipelineInput; ident: InputIdentity; baseName: string }> {
  const ident = await identifyInput(file, opts.options);
  const paths = dataPaths(config.dataDir, ident.pipelineId);
  const name = path.basename(file);
  const input: SpeechPipelineInput = {
    pipelineId: ident.pipelineId,
    inputFile: path.resolve(file),
    inputSha256: ident.sha256,
    inputBytes: ident.bytes,
    options: opts.options,
    formats: opts.formats,
    interimDir: paths.interimDir,
    outputDir: opts.outDir ? path.resolve(opts.outDir) : paths.outputDir,
    stateRecordPath: paths.stateRecord,
    settings: {
      chunkMaxSeconds: config.chunkMaxSeconds,
      transcribeConcurrency: config.transcribeConcurrency,
      heartbeatTimeoutSeconds: config.heartbeatTimeoutSeconds,
      previousTextPrompt: config.previousTextPrompt,
    },
    searchAttributes: opts.searchAttributes,
  };
  return { input, ident, baseName: name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name };
}

export function optionsFrom(flags: RunFlags, config: Config): PipelineOptions {
  return {
    language: flags.language ?? null,
    numSpeakers: flags.speakers ?? null,
    minSpeakers: flags.minSpeakers ?? null,
    maxSpeakers: flags.maxSpeakers ?? null,
    transcribeModel: flags.model ?? config.openai.model,
  };
}

export async function runCommand(inputs: string[], rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseRunFlags(rawFlags);
  if (inputs.length === 0) throw new UsageError('name at least one audio or video file (or a folder of them)', 'speech run meeting.m4a');
  const files = await expandInputs(inputs);
  const say = (line: string) => {
    if (!flags.json) process.stdout.write(`${line}\n`);
  };
  const ctx = await openContext({ embedded: true, onServerStart: say });
  const wantWorker = flags.worker ?? isLocalAddress(ctx.config.temporal.address);
  let worker: Awaited<ReturnType<typeof startInProcessWorker>> | null = null;
  try {
    if (wantWorker && flags.wait) worker = await startInProcessWorker(ctx.config);
    const searchAttributes = await hasSearchAttributes(ctx);
    const outcomes: RunOutcome[] = new Array(files.length);
    const single = files.length === 1;
    const queue = files.map((file, i) => ({ file, i }));
    const lane = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        outcomes[item.i] = await runOne(ctx, item.file, flags, { searchAttributes, say, detailed: single });
      }
    };
    await Promise.all(Array.from({ length: Math.min(flags.parallel, files.length) }, lane));

    if (!flags.wait && !worker && !flags.json) {
      say('No worker runs in this process (--no-wait). Start one with `speech worker` if none is running.');
    }
    const failed = outcomes.filter((o) => o.status === 'failed' || o.status === 'cancelled' || o.status === 'invalid');
    if (flags.json) {
      printJson({ ok: failed.length === 0, runs: outcomes });
    } else if (single) {
      printSingle(outcomes[0]!, say);
    } else {
      say('');
      say(
        table(
          ['file', 'status', 'audio', 'took', 'outputs'],
          outcomes.map((o) => [
            path.basename(o.file),
            o.status + (o.mode === 'completed' ? ' (earlier)' : o.mode === 'resumed' ? ' (resumed)' : ''),
            o.audio_seconds !== null ? formatClock(o.audio_seconds) : '-',
            `${(o.duration_ms / 1000).toFixed(1)} s`,
            o.error ? o.error.message : o.outputs.length > 0 ? path.dirname(o.outputs[0]!) : '-',
          ]),
        ),
      );
      say(`${outcomes.length - failed.length} of ${outcomes.length} files ${flags.wait ? 'done' : 'started'}; ${failed.length} failed.`);
    }
    if (failed.length === 0) return EXIT.ok;
    // A single input that is not media is the user's input error, not a failed run.
    if (single && outcomes[0]!.status === 'invalid') return EXIT.usage;
    return EXIT.failed;
  } finally {
    await worker?.stop();
    await ctx.close();
  }
}

function printSingle(o: RunOutcome, say: (l: string) => void): void {
  if (o.status === 'completed') {
    const when = o.mode === 'completed' ? 'completed earlier; showing the stored result (nothing was re-processed)' : `completed in ${(o.duration_ms / 1000).toFixed(1)} s`;
    say(`${o.pipeline_id}: ${when}${o.audio_seconds !== null ? `, ${formatClock(o.audio_seconds)} of audio` : ''}`);
    say('Outputs:');
    for (const f of o.outputs) say(`  ${f}`);
  } else if (o.status === 'running') {
    say(`${o.pipeline_id}: ${o.mode === 'attached' ? 'already running' : 'started'} (run ${o.run_id})`);
    say(`Follow it with: speech watch ${o.pipeline_id}`);
  } else {
    say(`${o.pipeline_id ?? path.basename(o.file)}: ${o.status}: ${o.error?.message ?? ''}`);
    if (o.status === 'failed' && o.error?.type !== Failure.InvalidMedia) say('Finished stages are kept: run the same command again to resume.');
  }
  if (o.web_ui) say(`Web UI: ${o.web_ui}`);
}

async function runOne(
  ctx: CliContext,
  file: string,
  flags: RunFlags,
  env: { searchAttributes: boolean; say: (l: string) => void; detailed: boolean },
): Promise<RunOutcome> {
  const started = Date.now();
  const { config, client } = ctx;
  const base: RunOutcome = { file, pipeline_id: null, workflow_id: null, run_id: null, mode: 'not-started', status: 'invalid', audio_seconds: null, duration_ms: 0, outputs: [], web_ui: null, error: null };
  const name = path.basename(file);
  const tag = env.detailed ? '' : `${name}: `;

  // Refuse what is not media before anything is started or paid for.
  let probeSeconds: number | null = null;
  try {
    const s = await stat(file);
    if (s.size === 0) throw new ProviderError(Failure.InvalidMedia, `${file} is empty (0 bytes): nothing to transcribe.`);
    const probe = await createFfmpegProcessor({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath }).probe(file);
    if (probe.audioStreams === 0) {
      throw new ProviderError(Failure.InvalidMedia, `${file} has no audio stream (${probe.formatName}${probe.videoStreams > 0 ? ', video only' : ''}): there is nothing to transcribe.`);
    }
    probeSeconds = probe.durationSeconds;
  } catch (err) {
    if (err instanceof ProviderError) return { ...base, duration_ms: Date.now() - started, error: { type: err.type, message: err.message } };
    throw err;
  }

  const options = optionsFrom(flags, config);
  const { input, ident, baseName } = await preparePipelineInput(config, file, {
    options,
    formats: flags.formats as ExportFormat[],
    outDir: flags.out,
    searchAttributes: env.searchAttributes,
  });
  const id = ident.pipelineId;
  const outDir = input.outputDir;
  const out: RunOutcome = { ...base, pipeline_id: id, workflow_id: id, audio_seconds: probeSeconds, status: 'running' };

  let handle: WorkflowHandle<typeof speechPipeline> | null = null;
  let runId: string | null = null;
  /** A completed run whose stored results are damaged may be run again under its id. */
  let reuseCompleted = false;
  let mode: RunOutcome['mode'] = 'started';
  const existing = await describe(ctx, id);
  if (existing && !flags.forceRestart) {
    if (existing.status === 'RUNNING') {
      handle = client.workflow.getHandle<typeof speechPipeline>(id, existing.runId);
      runId = existing.runId;
      mode = 'attached';
    } else if (existing.status === 'COMPLETED') {
      const h = client.workflow.getHandle<typeof speechPipeline>(id, existing.runId);
      const result = await h.result();
      let outputs = result.outputs.map((o) => o.path);
      const earlierDir = result.outputs[0] ? path.dirname(result.outputs[0].path) : null;
      const rerender = flags.formats.some((f) => !result.outputs.some((o) => o.metadata?.format === f)) || outDir !== earlierDir || (await anyMissing(outputs));
      let intact = true;
      if (rerender) {
        try {
          if (!result.artifacts.merge) throw new UsageError('the earlier run recorded no merge result');
          outputs = (await reexport({ merged: result.artifacts.merge, formats: flags.formats as ExportFormat[], outDir, baseName })).map((r) => r.path);
        } catch (err) {
          if (!(err instanceof UsageError)) throw err;
          // The stored merge result is gone or damaged: run again, reusing whatever is intact.
          intact = false;
        }
      }
      if (intact) {
        return { ...out, mode: 'completed', status: 'completed', run_id: existing.runId, audio_seconds: result.audioSeconds, outputs, duration_ms: Date.now() - started, web_ui: webUiLink(config, id, existing.runId) };
      }
      const prior = await priorResultsFromHistory(h);
      input.priorResults = prior.results;
      input.resumedFrom = existing.runId;
      reuseCompleted = true;
      mode = 'resumed';
    } else {
      const prior = await priorResultsFromHistory(client.workflow.getHandle(id, existing.runId));
      input.priorResults = prior.results;
      input.resumedFrom = existing.runId;
      mode = 'resumed';
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

  try {
    let previous: ProgressSnapshot | null = null;
    const result = await follow<SpeechPipelineResult>(handle, (p) => {
      if (env.detailed) for (const line of stageChanges(previous, p)) env.say(line);
      else env.say(`${tag}${progressLine(p)}`);
      previous = p;
    });
    return { ...out, status: 'completed', audio_seconds: result.audioSeconds, outputs: result.outputs.map((o) => o.path), duration_ms: Date.now() - started };
  } catch (err) {
    const e = explainRunFailure(err);
    if (env.detailed) {
      const p = await handle.query(progressQuery).catch(() => null);
      if (p) for (const l of stageLines(p)) env.say(l);
    }
    return { ...out, status: e.cancelled ? 'cancelled' : 'failed', error: { type: e.type, message: e.message }, duration_ms: Date.now() - started };
  }
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

/** Waits for the result, reporting progress whenever it changes. */
export async function follow<T>(handle: WorkflowHandle, onProgress: (p: ProgressSnapshot) => void, intervalMs = 500): Promise<T> {
  let settled = false;
  const result = handle.result().finally(() => {
    settled = true;
  }) as Promise<T>;
  let last = '';
  const poll = async () => {
    while (!settled) {
      try {
        const p = await handle.query(progressQuery);
        const line = progressLine(p);
        if (line !== last && !settled) {
          last = line;
          onProgress(p);
        }
      } catch {
        // No worker has the run loaded yet, or it just closed: try again.
      }
      await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), result.catch(() => undefined)]);
    }
  };
  const poller = poll();
  try {
    return await result;
  } finally {
    await poller;
  }
}

export function explainRunFailure(err: unknown): { type: string; message: string; cancelled: boolean } {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause as { type?: string; message?: string; name?: string } | undefined;
    const cancelled = cause?.name === 'CancelledFailure';
    return { type: cancelled ? 'Cancelled' : cause?.type ?? cause?.name ?? 'Failed', message: cancelled ? 'the run was cancelled' : cause?.message ?? err.message, cancelled };
  }
  if (err instanceof RunFailedError) return { type: 'Failed', message: err.message, cancelled: false };
  throw err;
}

function speakerHint(o: PipelineOptions): string {
  if (o.numSpeakers !== null) return String(o.numSpeakers);
  if (o.minSpeakers === null && o.maxSpeakers === null) return 'detected';
  return `${o.minSpeakers ?? 1}–${o.maxSpeakers ?? 'any'}`;
}

/** What the Web UI shows for a run: a one-line summary, details, and the searchable file name. */
export function webUiMetadata(input: SpeechPipelineInput, audioSeconds: number | null) {
  const name = path.basename(input.inputFile);
  const o = input.options;
  return {
    staticSummary: `${name} — ${audioSeconds !== null ? formatClock(audioSeconds) : 'unknown length'}`,
    staticDetails: [
      `**Input**: ${input.inputFile}`,
      `**sha256**: ${input.inputSha256}`,
      `**Options**: language ${o.language ?? 'detected'}, speakers ${speakerHint(o)}, model ${o.transcribeModel}`,
      `**Formats**: ${input.formats.join(', ')}`,
      `**Outputs**: ${input.outputDir}`,
      input.resumedFrom ? `**Resumes** run ${input.resumedFrom}` : '',
    ]
      .filter(Boolean)
      .join('\n\n'),
    ...(input.searchAttributes ? { typedSearchAttributes: [{ key: InputFileAttribute, value: name }] } : {}),
  };
}
