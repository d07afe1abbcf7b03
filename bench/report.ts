// Plain-text output of the benchmark: headings, aligned tables, numbers.

export function heading(title: string): void {
  console.log(`\n${'='.repeat(Math.max(20, title.length + 4))}\n  ${title}\n${'='.repeat(Math.max(20, title.length + 4))}`);
}

export function note(line = ''): void {
  console.log(line ? `  ${line}` : '');
}

/** Progress while a section runs, marked so it reads apart from results. */
export function progress(line: string): void {
  console.log(`  · ${line}`);
}

export function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`;
  console.log(line(headers));
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of cells.slice(1)) console.log(line(r));
}

export const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const s2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const ms0 = (ms: number) => `${Math.round(ms)} ms`;
export const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
export const x = (r: number) => `${r.toFixed(2)}×`;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface SummaryRow {
  metric: string;
  value: string;
  target: string;
  /** null: informational, no target. */
  met: boolean | null;
}

export function summaryTable(rows: SummaryRow[]): void {
  table(
    ['metric', 'value', 'target', 'met'],
    rows.map((r) => [r.metric, r.value, r.target, r.met === null ? '-' : r.met ? 'yes' : 'NO']),
  );
}
