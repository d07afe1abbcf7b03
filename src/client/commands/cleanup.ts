// `speech cleanup`: removes the state records and interim folders of finished runs
// (completed, failed, cancelled) last updated longer ago than --older-than. A running run
// is never touched: Temporal decides when it answers, the record's status otherwise.
// Outputs are the user's results and stay unless --include-outputs.
import { z } from 'zod';
import { loadConfig } from '../../config';
import { DURATION_EXAMPLES, formatDuration, parseDuration } from '../../domain/duration';
import type { RunStatus } from '../../domain/stages';
import { EXIT } from '../errors';
import { humanBytes, printJson, table } from '../output';
import { createFsArtifactStore } from '../../providers/artifact-store';
import { cacheDirOf, createStageCache } from '../../providers/stage-cache';
import { listRecords, removeRunFiles, runFiles, type RunFiles } from '../records';
import { parseFlags, shortTime } from './checkpoint-common';
import { describeTemporalRun, oneLine, reachTemporal, type TemporalRun } from './temporal-view';

export const CleanupFlagsSchema = z.object({
  olderThan: z
    .string()
    .default('7d')
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write it like ${DURATION_EXAMPLES} (units ms, s, m, h, d, w)` });
        return z.NEVER;
      }
      return { text: s, ms };
    }),
  dryRun: z.boolean().default(false),
  includeOutputs: z.boolean().default(false),
  json: z.boolean().default(false),
});

interface Removal {
  id: string;
  status: RunStatus;
  updated_at: string;
  age: string;
  bytes: number;
  record: string | null;
  folders: RunFiles['folders'];
  files: string[];
}

interface Skip {
  id: string;
  reason: string;
}

export async function cleanupCommand(rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(CleanupFlagsSchema, rawFlags);
  const config = loadConfig();
  const now = Date.now();
  const entries = await listRecords(config.dataDir);
  const reach = await reachTemporal(config);
  let reason = reach.reason;
  const removals: Removal[] = [];
  const skipped: Skip[] = [];
  let newer = 0;
  try {
    for (const e of entries) {
      if (!e.record) {
        skipped.push({ id: e.id, reason: `broken record (${e.problem}); remove it with \`speech delete ${e.id}\`` });
        continue;
      }
      const r = e.record;
      let t: TemporalRun | null = null;
      let asked = false;
      if (reach.ctx && reason === null) {
        try {
          t = await describeTemporalRun(reach.ctx, e.id);
          asked = true;
        } catch (err) {
          reason = `Temporal could not be asked (${oneLine(err)})`;
        }
      }
      // Temporal is the source of truth; a run it does not know is judged by its record.
      const status = t?.status ?? r.status;
      if (status === 'running') {
        skipped.push({
          id: e.id,
          reason: t ? 'running' : asked ? 'the record says running and this Temporal server does not know the run; `speech delete ID` removes it if it is stale' : 'the record says running (the Temporal server is not reachable to confirm)',
        });
        continue;
      }
      const updated = Math.max(Date.parse(r.updated_at) || 0, t?.close_time ? Date.parse(t.close_time) : 0);
      if (!updated) {
        skipped.push({ id: e.id, reason: `updated_at "${r.updated_at}" is not a time` });
        continue;
      }
      if (now - updated < flags.olderThan.ms) {
        newer += 1;
        continue;
      }
      let files: RunFiles;
      try {
        files = await runFiles(config.dataDir, e.id, r, { includeOutputs: flags.includeOutputs });
        if (!flags.dryRun) await removeRunFiles(files);
      } catch (err) {
        skipped.push({ id: e.id, reason: `could not remove: ${(err as Error).message}` });
        continue;
      }
      removals.push({ id: e.id, status, updated_at: new Date(updated).toISOString(), age: formatDuration(now - updated), bytes: files.bytes, record: files.record, folders: files.folders, files: files.files });
    }
  } finally {
    await reach.ctx?.close().catch(() => undefined);
  }

  // The stage cache: results whose runs are gone (their records removed above, earlier, or by
  // `speech delete`) can no longer be taken; their entries go too.
  const remaining = new Set((await listRecords(config.dataDir)).map((e) => e.id));
  const removedNow = new Set(flags.dryRun ? removals.map((r) => r.id) : []);
  const cache = await createStageCache(cacheDirOf(config.dataDir), createFsArtifactStore()).prune((id) => remaining.has(id) && !removedNow.has(id), { dryRun: flags.dryRun });
  const freed = removals.reduce((n, r) => n + r.bytes, 0);
  if (reason) process.stderr.write(`note: ${reason}; runs were judged by their state records (a record that says running is kept).\n`);
  if (flags.json) {
    printJson({
      ok: true,
      dry_run: flags.dryRun,
      older_than: flags.olderThan.text,
      older_than_ms: flags.olderThan.ms,
      include_outputs: flags.includeOutputs,
      source: reason ? 'records' : 'temporal+records',
      [flags.dryRun ? 'would_remove' : 'removed']: removals,
      skipped,
      kept_newer: newer,
      bytes_freed: flags.dryRun ? 0 : freed,
      bytes_to_free: freed,
      cache: { entries: cache.entries, [flags.dryRun ? 'would_remove' : 'removed']: cache.removed, holders_dropped: cache.holdersDropped },
    });
    return EXIT.ok;
  }
  const verb = flags.dryRun ? 'Would remove' : 'Removed';
  if (removals.length === 0) {
    console.log(`Nothing to clean up: no finished run was last updated more than ${flags.olderThan.text} ago.`);
  } else {
    console.log(`${verb} ${removals.length} finished run(s) last updated more than ${flags.olderThan.text} ago:`);
    console.log(
      table(
        ['ID', 'STATUS', 'UPDATED', 'AGE', 'SIZE', 'REMOVES'],
        removals.map((r) => [
          r.id,
          r.status,
          shortTime(r.updated_at),
          r.age,
          humanBytes(r.bytes),
          [r.record ? 'record' : null, ...r.folders.map((f) => `${f.kind} folder`), r.files.length ? `${r.files.length} output file(s)` : null]
            .filter(Boolean)
            .join(', '),
        ]),
      ),
    );
  }
  for (const s of skipped) console.log(`Kept ${s.id}: ${s.reason}.`);
  if (cache.removed.length > 0) {
    console.log(`${verb} ${cache.removed.length} of ${cache.entries} stage-cache entries that no state record refers to (their results are gone with their runs).`);
  } else if (cache.entries > 0) {
    console.log(`Stage cache: all ${cache.entries} entries are held by runs that still have their records.`);
  }
  if (newer > 0) console.log(`Kept ${newer} finished run(s) updated within the last ${flags.olderThan.text}.`);
  if (removals.length > 0) {
    console.log(flags.dryRun ? `Dry run: nothing was removed; ${humanBytes(freed)} would be freed.` : `Freed ${humanBytes(freed)}.`);
    if (!flags.includeOutputs) console.log('Output files (DATA_DIR/output) were kept; add --include-outputs to remove them too. Temporal keeps the run histories.');
  }
  return EXIT.ok;
}
