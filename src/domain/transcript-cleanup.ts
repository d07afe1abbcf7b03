// Cleaning a chunk's transcription before it is stitched: Whisper-style models invent text
// for silence ("Thank you.") and sometimes loop on a phrase. Both are removed here, with the
// thresholds Whisper itself uses to decide a segment is not speech.
import type { Transcript, TranscriptSegment, Word } from './types';

/** Whisper's defaults: no_speech_threshold 0.6 with logprob_threshold -1, compression_ratio_threshold 2.4. */
export const NO_SPEECH_PROB = 0.6;
export const LOW_AVG_LOGPROB = -1;
export const LOOP_COMPRESSION_RATIO = 2.4;

export interface CleanupReport {
  droppedSegments: number;
  droppedWords: number;
  collapsedRepeats: number;
}

/** A segment the model itself marks as silence with low confidence, or as a degenerate loop. */
export function isHallucinatedSegment(s: TranscriptSegment): boolean {
  const silent = (s.noSpeechProb ?? 0) > NO_SPEECH_PROB && (s.avgLogprob ?? 0) < LOW_AVG_LOGPROB;
  const looping = (s.compressionRatio ?? 0) > LOOP_COMPRESSION_RATIO;
  return silent || looping;
}

/**
 * Collapses a phrase repeated back to back beyond what people say: a single word more than
 * five times in a row, or a phrase of 2–8 words more than three times, keeps one occurrence.
 */
export function collapseRepeats(words: Word[]): { words: Word[]; collapsed: number } {
  const key = (w: Word) => w.word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
  const out: Word[] = [];
  let collapsed = 0;
  let i = 0;
  while (i < words.length) {
    let skipped = false;
    for (let n = 1; n <= 8 && i + n <= words.length; n++) {
      const limit = n === 1 ? 5 : 3;
      let reps = 1;
      while (i + (reps + 1) * n <= words.length && sameRun(words, i, i + reps * n, n, key)) reps += 1;
      if (reps > limit) {
        out.push(...words.slice(i, i + n));
        i += reps * n;
        collapsed += reps - 1;
        skipped = true;
        break;
      }
    }
    if (!skipped) {
      out.push(words[i]!);
      i += 1;
    }
  }
  return { words: out, collapsed };
}

function sameRun(words: Word[], a: number, b: number, n: number, key: (w: Word) => string): boolean {
  for (let k = 0; k < n; k++) {
    const x = words[a + k];
    const y = words[b + k];
    if (!x || !y || key(x) === '' || key(x) !== key(y)) return false;
  }
  return true;
}

export function cleanTranscript(t: Transcript): { transcript: Transcript; report: CleanupReport } {
  const dropped = t.segments.filter(isHallucinatedSegment);
  const inDropped = (w: Word) => {
    const mid = (w.start + w.end) / 2;
    return dropped.some((s) => mid >= s.start && mid <= s.end);
  };
  const kept = t.words.filter((w) => !inDropped(w));
  const { words, collapsed } = collapseRepeats(kept);
  const segments = t.segments.filter((s) => !isHallucinatedSegment(s));
  const text = dropped.length > 0 || collapsed > 0 ? (segments.length > 0 ? segments.map((s) => s.text).join(' ') : words.map((w) => w.word).join(' ')) : t.text;
  return {
    transcript: { ...t, words, segments, text },
    report: { droppedSegments: dropped.length, droppedWords: t.words.length - kept.length, collapsedRepeats: collapsed },
  };
}
