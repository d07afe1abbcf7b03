// `speech export ID FILE.json`: the full state record, with each stage's scheduled,
// started and completed times from the Temporal history when the server answers (the
// record's own timings otherwise), written atomically.
// `speech export ID --formats srt,vtt [--out DIR]`: renders the transcript again from the
// stored merge result; no provider is called.
import path from 'node:path';
import { z } from 'zod';
import { dataPaths, loadConfig } from '../../config';
import { EXPORT_FORMATS, type ExportFormat } from '../../domain/stages';
import { createFsArtifactStore } from '../../providers/artifact-store';
import { EXIT, UsageError } from '../errors';
import { humanBytes, printJson } from '../output';
import { checkId, explainFsError, requireRecord } from '../records';
import { plainBaseName } from '../output-names';
import { reexport } from '../reexport';
import { RenderFlagsShape, subtitleRequest, type RenderFlags } from '../render-flags';
import { readExportSettings } from '../../providers/speaker-names';
import { parseFlags } from './checkpoint-common';
import { describeTemporalRun, historyTimings, oneLine, reachTemporal, type HistoryTimings } from './temporal-view';

const ExportFlagsSchema = z.object({
  formats: z
    .string()
    .transform((s) => [...new Set(s.split(',').map((f) => f.trim().toLowerCase()).filter(Boolean))])
    .pipe(z.array(z.enum(EXPORT_FORMATS, { error: (i) => `unknown format "${String(i.input)}"; choose from ${EXPORT_FORMATS.join(', ')}` })).min(1, 'name at least one format'))
    .optional(),
  out: z.string().min(1, 'name a folder').optional(),
  json: z.boolean().default(false),
  ...RenderFlagsShape,
});

export async function exportCommand(id: string, file: string | undefined, rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(ExportFlagsSchema, rawFlags);
  checkId(id);
  if (file && flags.formats) {
    throw new UsageError('give either FILE.json (export the state record) or --formats (re-render the transcript), not both', `speech export ${id} backup.json   or   speech export ${id} --formats srt,vtt`);
  }
  if (flags.out && !flags.formats) throw new UsageError('--out goes with --formats (the folder for re-rendered transcripts)', `speech export ${id} --formats srt,vtt --out subtitles/`);
  if (!file && !flags.formats) {
    throw new UsageError('name a file to write the state record to, or --formats to re-render the transcript', `speech export ${id} backup.json   or   speech export ${id} --formats srt,vtt`);
  }
  return flags.formats ? exportFormats(id, flags.formats, flags.out, flags.json, flags) : exportRecord(id, file!, flags.json);
}

async function exportRecord(id: string, file: string, json: boolean): Promise<number> {
  const config = loadConfig();
  const { record } = await requireRecord(config.dataDir, id);
  const reach = await reachTemporal(config);
  let reason = reach.reason;
  let history: HistoryTimings | null = null;
  if (reach.ctx) {
    try {
      // The run the record describes; the newest run when the server does not know that one.
      const run = (record.run_id ? await describeTemporalRun(reach.ctx, id, record.run_id) : null) ?? (await describeTemporalRun(reach.ctx, id));
      if (run) history = await historyTimings(reach.ctx, id, run.run_id);
      else reason = `this Temporal server does not know ${id}`;
    } catch (err) {
      reason = `the Temporal history could not be read (${oneLine(err)})`;
    } finally {
      await reach.ctx.close().catch(() => undefined);
    }
  }
  const source = history ? 'temporal-history' : 'state-record';
  const doc = {
    ...record,
    checkpoints: record.checkpoints.map((c) => {
      const h = history?.stages[c.stage];
      return {
        ...c,
        timings: h
          ? { source, scheduled_at: h.scheduled_at, started_at: h.started_at, completed_at: h.completed_at, duration_ms: h.duration_ms, activities: h.activities, attempts: h.attempts }
          : { source: 'state-record', scheduled_at: null, started_at: c.started_at, completed_at: c.completed_at, duration_ms: c.duration_ms, activities: null, attempts: null },
      };
    }),
    history: history
      ? { run_id: history.run_id, workflow_started_at: history.workflow_started_at, workflow_closed_at: history.workflow_closed_at, events: history.events, activities: history.activities }
      : null,
    export: { exported_at: new Date().toISOString(), timings_source: source, note: reason },
  };
  const target = path.resolve(file);
  let written;
  try {
    written = await createFsArtifactStore().writeJson(target, doc);
  } catch (err) {
    throw new UsageError(`cannot write ${target}: ${explainFsError(err, target).detail}`);
  }
  if (json) {
    printJson({ ok: true, workflow_id: id, file: written.path, bytes: written.bytes, sha256: written.sha256, timings_source: source, note: reason });
  } else {
    console.log(`Exported the state record of ${id} to ${written.path} (${humanBytes(written.bytes)}); stage timings from ${history ? 'the Temporal history' : 'the state record'}.`);
    if (reason) process.stderr.write(`note: ${reason}; the record's own timings were used.\n`);
  }
  return EXIT.ok;
}

async function exportFormats(id: string, formats: ExportFormat[], out: string | undefined, json: boolean, layout: RenderFlags & { overwrite: boolean }): Promise<number> {
  const config = loadConfig();
  const { record } = await requireRecord(config.dataDir, id);
  const merge = record.checkpoints.find((c) => c.stage === 'merge');
  if (!merge) {
    throw new UsageError(
      `${id} has no merge result to render (the ${record.status} run completed: ${record.completed_stages.join(', ') || 'no stage'})`,
      `Finish the run first: \`speech run ${record.input_file}\` resumes it.`,
    );
  }
  // The run's own layout and output name, with what this command's flags change on top.
  const settings = await readExportSettings(path.dirname(merge.output_file));
  const outDir = path.resolve(out ?? record.output_dir ?? dataPaths(config.dataDir, id).outputDir);
  const baseName = settings?.base_name ?? plainBaseName(record.input_file);
  const render = { subtitles: { ...(settings?.render.subtitles ?? {}), ...subtitleRequest(layout) } };
  const recorded = record.checkpoints.find((c) => c.stage === 'export')?.outputs ?? [];
  let refs;
  try {
    refs = await reexport({ merged: { path: merge.output_file, sha256: merge.sha256, bytes: merge.bytes }, formats, outDir, baseName, render, overwrite: layout.overwrite, alsoOwned: recorded });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot write to ${outDir}: ${explainFsError(err, outDir).detail}`);
  }
  if (json) {
    printJson({ ok: true, workflow_id: id, out_dir: outDir, outputs: refs });
  } else {
    console.log(`Rendered ${refs.length} file(s) from the stored merge result of ${id} (no provider was called):`);
    for (const r of refs) console.log(`  ${r.path}  ${humanBytes(r.bytes)}`);
  }
  return EXIT.ok;
}
