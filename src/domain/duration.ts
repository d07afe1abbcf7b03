// Durations as people write them on the command line: `90m`, `36h`, `7d`, `2w`, `1d12h`.
// Pure: used by `speech cleanup --older-than` and for "age" columns.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
type Unit = keyof typeof UNIT_MS;

export const DURATION_EXAMPLES = '90m, 36h, 7d, 2w or 1d12h';

/**
 * Milliseconds for a duration such as `90m`, `1d12h` or `1.5h`, or null when the text is
 * not one. Every number needs a unit (ms, s, m, h, d, w); a bare number is refused
 * because "7" could mean days or seconds.
 */
export function parseDuration(text: string): number | null {
  const s = text.trim().toLowerCase().replace(/\s+/g, '');
  if (s === '' || !/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(s)) return null;
  let total = 0;
  const seen = new Set<string>();
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
    const unit = m[2] as Unit;
    // "1h2h" is more likely a typo than a sum.
    if (seen.has(unit)) return null;
    seen.add(unit);
    total += Number(m[1]) * UNIT_MS[unit];
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** A short readable form: `0s`, `45s`, `1h30m`, `7d`, `1d12h` (largest unit and the next one). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const order: Unit[] = ['w', 'd', 'h', 'm', 's'];
  const secs = Math.floor(ms / 1000) * 1000;
  const i = order.findIndex((u) => secs >= UNIT_MS[u]);
  const big = order[i]!;
  const n = Math.floor(secs / UNIT_MS[big]);
  const next = order[i + 1];
  const m = next ? Math.floor((secs - n * UNIT_MS[big]) / UNIT_MS[next]) : 0;
  return `${n}${big}${next && m > 0 ? `${m}${next}` : ''}`;
}
