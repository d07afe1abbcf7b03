// `speech show ID`: one run in full — stages with status, start, time taken and artifact
// (path, size, sha256), options, error, output files and the Web UI link. Reads the state
// record, and Temporal when it answers (for the authoritative status).
import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../config';
import { STAGES } from '../../domain/stages';
import { formatClock } from '../../domain/timecode';
import { webUiLink } from '../context';
import { EXIT, UsageError } from '../errors';
import { humanBytes, printJson, seconds, table } from '../output';
import { brokenRecord, checkId, lookupRecord, recordedArtifacts, unknownRun } from '../records';
import { parseFlags, provenanceNote, shortTime, stageViews, type StageView } from './checkpoint-common';
import { estimateCost } from '../../domain/usage';
import { loadPrices, usageJson, usageLines, usageOfRecord } from '../usage-report';
import { runWarnings } from '../run-warnings';
import { describeTemporalRun, historyTimings, oneLine, reachTemporal, type HistoryTimings, type TemporalRun } from './temporal-view';

const ShowFlagsSchema = z.object({ json: z.boolean().default(false) });

export async function showCommand(id: string, rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(ShowFlagsSchema, rawFlags);
  checkId(id);
  const config = loadConfig();
  const entry = await lookupRecord(config.dataDir, id);
  if (entry?.problem) throw brokenRecord(entry.problem);
  const record = entry?.record ?? null;

  const reach = await reachTemporal(config);
  let temporal: TemporalRun | null = null;
  let history: HistoryTimings | null = null;
  let reason = reach.reason;
  if (reach.ctx) {
    try {
      temporal = await describeTemporalRun(reach.ctx, id);
      // Without a record, the history is the only source of stage timings.
      if (temporal && !record) history = await historyTimings(reach.ctx, id, temporal.run_id);
    } catch (err) {
      reason = `Temporal could not be asked (${oneLine(err)})`;
    } finally {
      await reach.ctx.close().catch(() => undefined);
    }
  }
  if (!record && !temporal) {
    const e = unknownRun(id);
    if (reason) throw new UsageError(`${e.message} in ${path.join(config.dataDir, 'checkpoints')} (${reason}, so Temporal was not asked)`, e.hint);
    throw e;
  }

  const runId = temporal?.run_id ?? record?.run_id ?? undefined;
  const link = webUiLink(config, id, runId);
  const stages: StageView[] = record ? stageViews(record) : historyStages(history);
  const outputs = record ? recordedArtifacts(record).filter((a) => a.kind === 'output') : [];
  const status = temporal?.status ?? record?.status ?? 'unknown';
  const usage = record ? usageOfRecord(record) : null;
  const cost = usage ? estimateCost(await loadPrices(config), usage) : null;
  const warnings = runWarnings(record?.checkpoints.find((c) => c.stage === 'merge')?.metadata);

  if (flags.json) {
    printJson({
      ok: true,
      workflow_id: id,
      status,
      source: record ? (temporal ? 'temporal+record' : 'record') : 'temporal',
      temporal: { reachable: reason === null, reason, run: temporal },
      record,
      stages,
      outputs,
      history_stages: history?.stages ?? null,
      usage: usage && cost ? usageJson(usage, cost) : null,
      warnings,
      web_ui: link,
    });
    return EXIT.ok;
  }

  const say = (l = '') => console.log(l);
  say(id);
  if (record) {
    const input = `${record.input_file}${record.input_bytes !== undefined ? ` (${humanBytes(record.input_bytes)}` : ''}${record.input_sha256 ? `, sha256 ${record.input_sha256.slice(0, 12)}…)` : record.input_bytes !== undefined ? ')' : ''}`;
    say(`  input      ${input}`);
  }
  const tStatus = temporal ? `Temporal: ${temporal.temporal_status.toLowerCase()}, run ${temporal.run_id}` : reason ? `Temporal not asked: ${reason}` : 'not known to this Temporal server';
  say(`  status     ${status}${record && temporal?.status && temporal.status !== record.status ? ` (the record says ${record.status})` : ''}  [${tStatus}]`);
  if (record) {
    say(`  created    ${shortTime(record.created_at)}    updated ${shortTime(record.updated_at)}`);
    if (record.current_stage) say(`  at stage   ${record.current_stage}`);
    if (record.audio_seconds) say(`  audio      ${formatClock(record.audio_seconds)} (${record.audio_seconds} s)`);
    const opts = Object.entries(record.options)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`);
    say(`  options    ${opts.join(', ') || '(defaults)'}${record.formats ? `; formats ${record.formats.join(',')}` : ''}`);
    if (record.resumed_from) say(`  resumed    from run ${record.resumed_from}`);
    if (record.interim_dir) say(`  interim    ${record.interim_dir}`);
  } else {
    say(`  started    ${shortTime(temporal?.start_time)}    closed ${shortTime(temporal?.close_time)}`);
    say('  record     none on disk (not written yet, deleted, or kept on another machine); stages below come from the Temporal history');
  }
  say('');
  say(
    table(
      ['STAGE', 'STATUS', 'STARTED', 'TOOK', 'ARTIFACT', 'SIZE', 'SHA256'],
      stages.map((s) => [
        s.stage,
        s.status + provenanceNote(s),
        shortTime(s.started_at),
        seconds(s.duration_ms),
        s.artifact ? path.basename(s.artifact.path) + (s.outputs > 1 ? ` +${s.outputs - 1}` : '') : '-',
        s.artifact ? humanBytes(s.artifact.bytes) : '-',
        s.artifact ? `${s.artifact.sha256.slice(0, 12)}…` : '-',
      ]),
    ),
  );
  if (usage && cost && (usage.diarization.provider || usage.transcription.provider || usage.diarization.reusedFrom || usage.conversion.reusedFrom)) {
    say('');
    say('Usage:');
    for (const l of usageLines(usage, cost)) say(`  ${l}`);
  }
  for (const w of warnings) say(`Warning: ${w}`);
  if (record?.error) {
    say(`Error${record.error.stage ? ` in ${record.error.stage}` : ''}: ${record.error.message} (${record.error.type})`);
  }
  if (outputs.length > 0) {
    say('');
    say('Outputs:');
    for (const o of outputs) say(`  ${o.path}  ${humanBytes(o.bytes)}`);
  }
  if (link) {
    say('');
    say(`Web UI: ${link}`);
  }
  if (reason) process.stderr.write(`note: ${reason}; shown from the state record only.\n`);
  return EXIT.ok;
}

function historyStages(h: HistoryTimings | null): StageView[] {
  return STAGES.map((stage) => {
    const t = h?.stages[stage];
    return {
      stage,
      status: t ? (t.completed_at ? 'completed' : 'started') : 'pending',
      started_at: t?.started_at ?? t?.scheduled_at ?? null,
      completed_at: t?.completed_at ?? null,
      duration_ms: t?.duration_ms ?? null,
      reused: false,
      reused_from: null,
      artifact: null,
      outputs: 0,
    };
  });
}
