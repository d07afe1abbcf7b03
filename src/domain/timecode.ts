// Time codes for the export formats. Everything goes through whole milliseconds
// first, so a value like 1.9996 s becomes 00:00:02,000 rather than 00:00:01,1000.

/**
 * Seconds to whole milliseconds, rounded half up. Negative, NaN and infinite
 * inputs become 0: a broken timestamp should not make a subtitle file unreadable.
 *
 * The product is first cut to 12 significant digits because in binary floating
 * point 4.0005 × 1000 is 4000.4999999999995; transcripts carry decimal
 * timestamps, so they are rounded as the decimal the provider wrote.
 */
export function toMilliseconds(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.round(Number((seconds * 1000).toPrecision(12)));
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function clockParts(ms: number): { hours: number; minutes: number; secs: number; millis: number } {
  const totalSeconds = Math.floor(ms / 1000);
  return {
    hours: Math.floor(totalSeconds / 3600),
    minutes: Math.floor(totalSeconds / 60) % 60,
    secs: totalSeconds % 60,
    millis: ms % 1000,
  };
}

function formatWithSeparator(seconds: number, separator: string): string {
  const { hours, minutes, secs, millis } = clockParts(toMilliseconds(seconds));
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secs, 2)}${separator}${pad(millis, 3)}`;
}

/** SRT cue time, `HH:MM:SS,mmm`; hours grow past two digits instead of wrapping. */
export function formatSrtTime(seconds: number): string {
  return formatWithSeparator(seconds, ',');
}

/** WebVTT cue time, `HH:MM:SS.mmm`; the hours field is always present for uniform cues. */
export function formatVttTime(seconds: number): string {
  return formatWithSeparator(seconds, '.');
}

/**
 * `HH:MM:SS` for human-facing text. Milliseconds are truncated after rounding,
 * so the clock always shows the same second as the SRT/VTT code of that instant.
 */
export function formatClock(seconds: number): string {
  const { hours, minutes, secs } = clockParts(toMilliseconds(seconds));
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secs, 2)}`;
}

/** Seconds with exactly three decimals, from the same rounded milliseconds (RTTM fields). */
export function formatSecondsFixed(seconds: number): string {
  return formatMillisecondsFixed(toMilliseconds(seconds));
}

/** Whole milliseconds as seconds with three decimals, without float formatting. */
export function formatMillisecondsFixed(ms: number): string {
  return `${Math.floor(ms / 1000)}.${pad(ms % 1000, 3)}`;
}

const TIMECODE = /^(\d{2,}):([0-5]\d):([0-5]\d)(?:[,.](\d{3}))?$/;

/**
 * Parses `HH:MM:SS`, `HH:MM:SS,mmm` or `HH:MM:SS.mmm` back to seconds; null when malformed.
 * Exists so imported subtitle files and the formatters can be checked against each other.
 */
export function parseTimecode(text: string): number | null {
  const match = TIMECODE.exec(text.trim());
  if (!match) return null;
  const [, h, m, s, ms] = match;
  const millis = Number(h) * 3_600_000 + Number(m) * 60_000 + Number(s) * 1000 + Number(ms ?? '0');
  return millis / 1000;
}
