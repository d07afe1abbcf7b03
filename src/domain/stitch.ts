// Stitching chunk transcriptions into one transcript. Chunks are cut in silence when one is
// near, but a cut forced inside speech can leave one word heard on both sides of the seam:
// a partial word at the end of one chunk and again at the start of the next.
import type { ChunkSpan } from './pipeline';
import type { Transcript, TranscriptSegment, Word } from './types';

export interface ChunkTranscript extends Transcript {
  chunk: ChunkSpan;
}

/** How close to a seam both halves of a word cut in two must lie. */
export const SEAM_WINDOW_SECONDS = 0.3;

export function normaliseWord(w: string): string {
  return w.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}

export function stitchChunks(parts: ChunkTranscript[], duration: number): { transcript: Transcript; mergedAtSeams: number } {
  const sorted = [...parts].sort((a, b) => a.chunk.index - b.chunk.index);
  const words: Word[] = [];
  const segments: TranscriptSegment[] = [];
  const texts: string[] = [];
  let language: string | null = null;
  let mergedAtSeams = 0;
  for (const p of sorted) {
    language ??= p.language;
    const seam = p.chunk.start;
    const last = words[words.length - 1];
    const first = p.words[0];
    let rest = p.words;
    if (last && first && sameWordCut(last.word, first.word) && last.end >= seam - SEAM_WINDOW_SECONDS && first.start <= seam + SEAM_WINDOW_SECONDS) {
      // One word across the seam: keep the fuller spelling, spanning both halves.
      const text = normaliseWord(first.word).length >= normaliseWord(last.word).length ? first.word : last.word;
      words[words.length - 1] = { word: text, start: last.start, end: first.end };
      rest = p.words.slice(1);
      mergedAtSeams += 1;
    }
    words.push(...rest);
    segments.push(...p.segments);
    if (p.text) texts.push(p.text);
  }
  return { transcript: { language, duration, text: texts.join(' '), words, segments }, mergedAtSeams };
}

/** The same word, or one half a prefix of the other ("budg" / "budget"), of at least 3 letters. */
function sameWordCut(a: string, b: string): boolean {
  const x = normaliseWord(a);
  const y = normaliseWord(b);
  if (x === '' || y === '') return false;
  if (x === y) return true;
  const [short, long] = x.length < y.length ? [x, y] : [y, x];
  return short.length >= 3 && long.startsWith(short);
}
