// `speech list`: every pipeline run, from Temporal visibility merged with the state records
// on disk by workflow id. Without a server it lists from the records alone and says so.
// A broken record is a row with its problem; it never hides the others.
import path from 'node:path';
import type { PriceTable } from '../../domain/usage';
import { loadPrices, usageOfRecord, usageReport } from '../usage-report';
import { z } from 'zod';
import { loadConfig } from '../../config';
import { formatClock } from '../../domain/timecode';
import { slugifyFileName } from '../../domain/options';
import { STAGES, type RunStatus, type StageName } from '../../domain/stages';
import type { StateRecord } from '../../domain/state-record';
import { EXIT } from '../errors';
import { printJson, table } from '../output';
import { listRecords, type RecordEntry } from '../records';
import { parseFlags, shortTime, stageSummaryLines, stageViews, type StageView } from './checkpoint-common';
import { listTemporalRuns, oneLine, reachTemporal, type TemporalRun } from './temporal-view';

export const RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;

const ListFlagsSchema = z.object({
  status: z.enum(RUN_STATUSES, { error: (i) => `unknown status "${String(i.input)}"; choose from ${RUN_STATUSES.join(', ')}` }).optional(),
  detailed: z.boolean().default(false),
  json: z.boolean().default(false),
});

export interface ListRow {
  id: string;
  /** Temporal's status when the server answered, else the record's; `broken` when neither is known. */
  status: RunStatus | 'broken';
  record_status: RunStatus | null;
  temporal_status: string | null;
  input_file: string | null;
  run_id: string | null;
  current_stage: StageName | null;
  completed_stages: StageName[];
  audio_seconds: number | null;
  created_at: string | null;
  updated_at: string | null;
  /** Where the row came from: both, Temporal only (no record on disk), or the record only. */
  source: 'temporal+record' | 'temporal' | 'record';
  record_file: string | null;
  /** A broken record's problem. */
  problem: string | null;
  /** Disagreements worth knowing (the record lags Temporal, the run is unknown to the server, …). */
  note: string | null;
  error: string | null;
  stages?: StageView[];
  /** With --detailed: what the transcript cost (requests, audio per provider, reuse, estimated money). */
  usage?: ReturnType<typeof usageReport>;
}

export interface ListResult {
  source: 'temporal+records' | 'records';
  temporal: { reachable: boolean; address: string; reason: string | null };
  rows: ListRow[];
}

/** The merged view that `list` prints; `cleanup` and `delete` use the same statuses. */
export async function collectRuns(opts: { detailed?: boolean; prices?: PriceTable } = {}): Promise<ListResult> {
  const config = loadConfig();
  const reach = await reachTemporal(config);
  let temporal: Map<string, TemporalRun> | null = null;
  let reason = reach.reason;
  if (reach.ctx) {
    try {
      temporal = await listTemporalRuns(reach.ctx);
    } catch (err) {
      reason = `Temporal visibility could not be read (${oneLine(err)})`;
    } finally {
      await reach.ctx.close().catch(() => undefined);
    }
  }
  let records: RecordEntry[] = [];
  let folderProblem: string | null = null;
  try {
    records = await listRecords(config.dataDir);
  } catch (err) {
    folderProblem = (err as Error).message;
  }

  const rows: ListRow[] = [];
  const seen = new Set<string>();
  for (const e of records) {
    seen.add(e.id);
    rows.push(rowFor(e.id, e, temporal?.get(e.id) ?? null, temporal !== null, opts.detailed ?? false, opts.prices));
  }
  for (const [id, t] of temporal ?? []) {
    if (!seen.has(id)) rows.push(rowFor(id, null, t, true, opts.detailed ?? false));
  }
  if (folderProblem) {
    rows.push({ ...emptyRow('(checkpoints folder)'), status: 'broken', problem: folderProblem, source: 'record' });
  }
  rows.sort((a, b) => (a.status === 'broken' ? 1 : 0) - (b.status === 'broken' ? 1 : 0) || (b.updated_at ?? '').localeCompare(a.updated_at ?? '') || a.id.localeCompare(b.id));
  return {
    source: temporal ? 'temporal+records' : 'records',
    temporal: { reachable: temporal !== null, address: config.temporal.address, reason: temporal ? null : reason },
    rows,
  };
}

function emptyRow(id: string): ListRow {
  return {
    id,
    status: 'broken',
    record_status: null,
    temporal_status: null,
    input_file: null,
    run_id: null,
    current_stage: null,
    completed_stages: [],
    audio_seconds: null,
    created_at: null,
    updated_at: null,
    source: 'record',
    record_file: null,
    problem: null,
    note: null,
    error: null,
  };
}

function rowFor(id: string, entry: RecordEntry | null, t: TemporalRun | null, temporalKnown: boolean, detailed: boolean, prices?: PriceTable): ListRow {
  const row = emptyRow(id);
  const r: StateRecord | null = entry?.record ?? null;
  row.record_file = entry?.file ?? null;
  row.problem = entry?.problem ?? null;
  row.source = entry && t ? 'temporal+record' : t ? 'temporal' : 'record';
  if (r) {
    Object.assign(row, {
      record_status: r.status,
      input_file: r.input_file,
      run_id: r.run_id,
      current_stage: r.current_stage,
      completed_stages: r.completed_stages,
      audio_seconds: r.audio_seconds ?? null,
      created_at: r.created_at,
      updated_at: r.updated_at,
      error: r.error?.message ?? null,
    });
    if (detailed) {
      row.stages = stageViews(r);
      if (prices) row.usage = usageReport(usageOfRecord(r), prices);
    }
  }
  if (t) {
    row.temporal_status = t.temporal_status;
    row.run_id = t.run_id;
    row.input_file ??= t.input_file;
    row.created_at ??= t.start_time;
    row.updated_at ??= t.close_time ?? t.start_time;
  }
  row.status = t?.status ?? r?.status ?? 'broken';
  const exact = ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
  if (t && !exact.includes(t.temporal_status)) {
    row.note = `Temporal: ${t.temporal_status.toLowerCase().replace(/_/g, ' ')}${entry ? '' : '; no state record on disk'}`;
  } else if (t && r && t.status && t.status !== r.status) {
    row.note = `the record says ${r.status}, Temporal says ${t.temporal_status.toLowerCase()}`;
  } else if (t && !entry) {
    row.note = 'no state record on disk';
  } else if (r && temporalKnown && !t) {
    row.note = 'not known to this Temporal server';
  }
  return row;
}

function stagesCell(r: ListRow): string {
  if (r.status === 'broken' || (r.source === 'temporal' && r.completed_stages.length === 0)) return '-';
  return `${r.completed_stages.length}/${STAGES.length}`;
}

export async function listCommand(rawFlags: Record<string, unknown>, filter: { inputs?: string[] } = {}): Promise<number> {
  const flags = parseFlags(ListFlagsSchema, rawFlags);
  const result = await collectRuns({ detailed: flags.detailed, ...(flags.detailed ? { prices: await loadPrices(loadConfig()) } : {}) });
  let rows = result.rows;
  // Broken records have no known status: they stay in every filtered view.
  if (flags.status) rows = rows.filter((r) => r.status === flags.status || r.status === 'broken');
  if (filter.inputs && filter.inputs.length > 0) {
    const prefixes = filter.inputs.map((f) => `speech-${slugifyFileName(path.basename(f))}-`);
    const abs = new Set(filter.inputs.map((f) => path.resolve(f)));
    rows = rows.filter((r) => prefixes.some((p) => r.id.startsWith(p)) || (r.input_file !== null && abs.has(path.resolve(r.input_file))));
  }
  if (!result.temporal.reachable) {
    process.stderr.write(`note: ${result.temporal.reason}; listed from the state records in DATA_DIR only, so statuses may be out of date.\n`);
  }
  if (flags.json) {
    printJson({ ok: true, source: result.source, temporal: result.temporal, count: rows.length, runs: rows });
    return EXIT.ok;
  }
  if (rows.length === 0) {
    console.log(flags.status ? `No ${flags.status} runs.` : 'No runs yet. Start one with `speech run FILE`.');
    return EXIT.ok;
  }
  const lines: string[] = [];
  const tableText = table(
    ['ID', 'STATUS', 'STAGES', 'INPUT', 'AUDIO', 'UPDATED', 'NOTE'],
    rows.map((r) => [
      r.id,
      r.status,
      stagesCell(r),
      r.input_file ? path.basename(r.input_file) : '-',
      r.audio_seconds !== null ? formatClock(r.audio_seconds) : '-',
      shortTime(r.updated_at),
      // The row names the run: a broken record's note starts with what is wrong, not its path.
      truncate(r.problem ? r.problem.replace(/^\S*_state\.json:? /, 'record ') : [r.note, r.status !== 'completed' ? r.error : null].filter(Boolean).join('; '), NOTE_WIDTH),
    ]),
  ).split('\n');
  if (!flags.detailed) {
    lines.push(...tableText);
  } else {
    lines.push(tableText[0]!, tableText[1]!);
    rows.forEach((r, i) => {
      lines.push(tableText[i + 2]!);
      if (r.stages) lines.push(...stageSummaryLines(r.stages));
      if (r.usage && r.status === 'completed') lines.push(`    ${r.usage.summary}`);
      else if (r.source === 'temporal') lines.push('    (no state record on disk; `speech show ID` reads the Temporal history)');
    });
  }
  const counts = RUN_STATUSES.map((s) => [s, rows.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
  const broken = rows.filter((r) => r.status === 'broken' || r.problem !== null).length;
  lines.push('');
  lines.push(
    `${rows.length - rows.filter((r) => r.status === 'broken').length} run(s)${counts.length ? ` (${counts.map(([s, n]) => `${n} ${s}`).join(', ')})` : ''}` +
      `${broken ? `; ${broken} broken record(s) — see NOTE` : ''}; source: ${result.source === 'records' ? 'state records only (Temporal not reachable)' : 'Temporal + state records'}.`,
  );
  console.log(lines.join('\n'));
  return EXIT.ok;
}

/** The NOTE column shows the start of long error texts; `speech show ID` (or --json) has them whole. */
const NOTE_WIDTH = 60;

export function truncate(text: string, width: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= width ? line : `${line.slice(0, width - 1).trimEnd()}…`;
}
