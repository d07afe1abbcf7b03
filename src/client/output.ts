// Printing for people and for scripts: one JSON document with --json, readable lines otherwise.
import type { ProgressSnapshot } from '../domain/pipeline';
import { STAGES } from '../domain/stages';

/**
 * The CLI's JSON has one style: snake_case keys (the state record's, the original tool's).
 * Objects built from camelCase types (a run's progress, a server's info) are converted on the
 * way out; keys that are data rather than names (stage names, speaker labels) are left as
 * they are, since they hold no lower-to-upper case step.
 */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [/^[a-z][A-Za-z0-9]*$/.test(k) ? k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase() : k, snakeKeys(v)]));
}

/** One JSON document (a command's whole answer), snake_case. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(snakeKeys(value), null, 2)}\n`);
}

/** One JSON event on one line (`speech watch --json`), snake_case. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(snakeKeys(value))}\n`);
}

export function seconds(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** 1536 → "1.5 KiB": the one formatter of byte counts (`df -h`'s units). */
export { formatBytes as humanBytes } from '../providers/artifact-store';

/** A plain table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One line that says where a run is, e.g. "transcription 62% (chunks 5/8)". */
export function progressLine(p: ProgressSnapshot): string {
  const stage = p.currentStage ?? (p.status === 'completed' ? 'done' : p.status);
  const chunks = p.chunks.total > 1 ? ` chunks ${p.chunks.done}/${p.chunks.total}` : '';
  return `${stage} ${p.percent}%${chunks}`;
}

export function stageLines(p: ProgressSnapshot): string[] {
  return STAGES.map((s) => {
    const st = p.stages[s];
    const extra = s === 'transcription' && p.chunks.total > 0 ? `  chunks ${p.chunks.done}/${p.chunks.total}` : '';
    const took = st.durationMs !== null ? `  ${seconds(st.durationMs)}` : '';
    return `  ${s.padEnd(17)} ${st.status}${st.reused ? ' (reused)' : ''}${took}${extra}${st.error ? `  ${st.error}` : ''}`;
  });
}

/** Lines for what changed between two progress snapshots: stage transitions and chunk counts. */
export function stageChanges(before: ProgressSnapshot | null, now: ProgressSnapshot): string[] {
  const lines: string[] = [];
  // Chunks first: in a snapshot where the last chunk and the stage finished, the count comes
  // before the stage's completion, as it happened.
  const c = now.chunks;
  if (c.total > 1 && (before?.chunks.done !== c.done || before?.chunks.total !== c.total)) {
    lines.push(`  ${'transcription'.padEnd(17)} chunks ${c.done}/${c.total} (${now.percent}%)`);
  }
  for (const s of STAGES) {
    const was = before?.stages[s];
    const st = now.stages[s];
    if (was?.status === st.status) continue;
    if (!was && st.status === 'pending') continue;
    const took = st.status === 'completed' && st.durationMs !== null ? ` in ${seconds(st.durationMs)}` : '';
    lines.push(`  ${s.padEnd(17)} ${st.status}${st.reused ? ' (reused from an earlier run)' : took}`);
  }
  return lines;
}
