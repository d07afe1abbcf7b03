// `speech delete ID`: removes one run's state record and interim folder (and, with
// --include-outputs, its outputs). A running run is refused unless --force, which cancels
// it first, waits for it to stop (terminating it when no worker acts on the cancellation
// in time) and then deletes. The Temporal history stays.
import { z } from 'zod';
import { loadConfig } from '../../config';
import { EXIT, UsageError } from '../errors';
import { humanBytes, printJson } from '../output';
import { checkId, lookupRecord, removeRunFiles, runFiles, unknownRun } from '../records';
import { parseFlags } from './checkpoint-common';
import { describeTemporalRun, oneLine, reachTemporal, type TemporalRun } from './temporal-view';
import type { CliContext } from '../context';

export const DeleteFlagsSchema = z.object({
  force: z.boolean().default(false),
  includeOutputs: z.boolean().default(false),
  timeout: z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1 second')
    .max(3600, 'must be at most 3600 seconds')
    .default(60),
  json: z.boolean().default(false),
});

export async function deleteCommand(id: string, rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(DeleteFlagsSchema, rawFlags);
  checkId(id);
  const config = loadConfig();
  const say = (l: string) => {
    if (!flags.json) console.log(l);
  };
  const entry = await lookupRecord(config.dataDir, id);
  const record = entry?.record ?? null;
  const reach = await reachTemporal(config);
  let reason = reach.reason;
  let stopped: 'cancelled' | 'terminated' | null = null;
  try {
    let t: TemporalRun | null = null;
    if (reach.ctx) {
      try {
        t = await describeTemporalRun(reach.ctx, id);
      } catch (err) {
        reason = `Temporal could not be asked (${oneLine(err)})`;
      }
    }
    const before = await runFiles(config.dataDir, id, record, { includeOutputs: flags.includeOutputs });
    if (!entry && !t && !before.record && before.folders.length === 0 && before.files.length === 0) {
      const e = unknownRun(id);
      throw reason ? new UsageError(`${e.message} (${reason}, so only DATA_DIR was searched)`, e.hint) : e;
    }

    const running = t ? t.status === 'running' : record?.status === 'running';
    if (running && !flags.force) {
      throw new UsageError(
        `${id} is running${t ? '' : ' according to its record (the Temporal server is not reachable to confirm)'}; deleting its files now would break the run.`,
        `Cancel it first with \`speech cancel ${id}\`, or use \`speech delete ${id} --force\` to cancel it, wait for it to stop, and delete.`,
      );
    }
    if (running && t && reach.ctx) {
      stopped = await stopRun(reach.ctx, id, flags.timeout, say);
    } else if (running) {
      process.stderr.write(`warning: ${reason ?? 'Temporal is not reachable'}; the run could not be cancelled there. Deleting its files anyway (--force).\n`);
    }

    // Cancelling writes the record once more: collect what to remove after the run stopped.
    const files = stopped ? await runFiles(config.dataDir, id, (await lookupRecord(config.dataDir, id))?.record ?? record, { includeOutputs: flags.includeOutputs }) : before;
    await removeRunFiles(files);
    const removed = [files.record ? 'state record' : null, ...files.folders.map((f) => `${f.kind} folder`), files.files.length ? `${files.files.length} output file(s)` : null].filter(Boolean);
    if (flags.json) {
      printJson({
        ok: true,
        workflow_id: id,
        stopped,
        removed: { record: files.record, folders: files.folders, files: files.files },
        bytes_freed: files.bytes,
        temporal_history_kept: t !== null,
        source: reason ? 'records' : 'temporal+records',
      });
    } else {
      say(
        removed.length > 0
          ? `Deleted ${id}: ${removed.join(', ')} (${humanBytes(files.bytes)} freed).`
          : `${id}: nothing on disk to delete${t ? ' (Temporal knows the run; its history stays)' : ''}.`,
      );
      if (!flags.includeOutputs && removed.length > 0) say('Output files were kept; add --include-outputs to remove them too.');
      if (t && removed.length > 0) say('The Temporal history stays: `speech run` on the same file resumes or shows the stored result; --force-restart recomputes it.');
    }
    if (reason && !running) process.stderr.write(`note: ${reason}; the run's status was taken from its state record.\n`);
    return EXIT.ok;
  } finally {
    await reach.ctx?.close().catch(() => undefined);
  }
}

/** Cancels, waits until closed; terminates when no worker acted on the cancellation in time. */
async function stopRun(ctx: CliContext, id: string, timeoutSeconds: number, say: (l: string) => void): Promise<'cancelled' | 'terminated'> {
  const handle = ctx.client.workflow.getHandle(id);
  say(`${id} is running: cancelling it first (--force) …`);
  await handle.cancel();
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') {
      say(`${id}: ${d.status.name.toLowerCase()}.`);
      return 'cancelled';
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  say(`${id}: no worker acted on the cancellation within ${timeoutSeconds} s; terminating it.`);
  await handle.terminate(`speech delete --force: the cancellation was not handled within ${timeoutSeconds} s`);
  return 'terminated';
}
