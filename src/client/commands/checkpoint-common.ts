// Shared by the checkpoint tools: flag parsing, time and stage formatting from a record.
import path from 'node:path';
import type { z } from 'zod';
import { STAGES, type StageName } from '../../domain/stages';
import type { StateRecord } from '../../domain/state-record';
import { humanBytes, seconds } from '../output';

/** Parses flags with a zod schema; the error sink prints one line per bad flag. */
export function parseFlags<S extends z.ZodType>(schema: S, raw: Record<string, unknown>): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw parsed.error;
  return parsed.data;
}

/** `2026-11-30 10:31:12` in local time; `-` for nothing. */
export function shortTime(isoTime: string | null | undefined): string {
  if (!isoTime) return '-';
  const d = new Date(isoTime);
  if (Number.isNaN(d.getTime())) return isoTime;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface StageView {
  stage: StageName;
  status: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  reused: boolean;
  /** The pipeline whose stage-cache result this stage took; null when computed (or reused from this pipeline's own earlier run). */
  reused_from: string | null;
  artifact: { path: string; bytes: number; sha256: string } | null;
  outputs: number;
}

/** Every stage of a record, in order, whether or not it has a checkpoint yet. */
export function stageViews(record: StateRecord): StageView[] {
  return STAGES.map((stage) => {
    const c = record.checkpoints.find((k) => k.stage === stage);
    const s = record.stages?.[stage];
    const status = s?.status ?? (c ? 'completed' : record.current_stage === stage ? record.status : 'pending');
    return {
      stage,
      status,
      started_at: c?.started_at ?? s?.started_at ?? null,
      completed_at: c?.completed_at ?? s?.completed_at ?? null,
      duration_ms: c?.duration_ms ?? s?.duration_ms ?? null,
      reused: c?.reused ?? false,
      reused_from: typeof c?.metadata?.reused_from === 'string' ? c.metadata.reused_from : null,
      artifact: c ? { path: c.output_file, bytes: c.bytes, sha256: c.sha256 } : null,
      outputs: c?.outputs?.length ?? 0,
    };
  });
}

/** One indented line per stage: status, time taken, artifact and size. */
export function stageSummaryLines(views: StageView[], indent = '    '): string[] {
  return views.map((v) => {
    const art = v.artifact ? `  ${path.basename(v.artifact.path)} (${humanBytes(v.artifact.bytes)})${v.outputs > 1 ? ` +${v.outputs - 1} more` : ''}` : '';
    return `${indent}${v.stage.padEnd(17)} ${(v.status + provenanceNote(v)).padEnd(18)} ${seconds(v.duration_ms).padStart(8)}${art}`;
  });
}

/** " (reused)" after the status of a stage that was not computed by this run. */
export function provenanceNote(v: StageView): string {
  if (v.reused) return ' (reused)';
  if (v.reused_from) return ` (reused from ${v.reused_from})`;
  return '';
}
