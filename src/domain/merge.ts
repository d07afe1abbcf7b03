// The merge stage: attributes every transcribed word to a diarized speaker and
// groups consecutive words of one speaker into utterances. Pure and deterministic:
// the same turns and words always give the same transcript, whatever their order. A whole
// day's words are merged in columns (typed arrays), never as an object per word.

import { ColumnsBuilder, Float64Column, TextTable, Uint32Column, utterancesOf, type TranscriptColumns } from './columns';
import type { MergedTranscript, SpeakerTurn, Word } from './types';

export interface MergeInput {
  source: string;
  duration: number;
  language: string | null;
  turns: SpeakerTurn[];
  words: Word[];
}

export interface MergeOptions {
  /** A silence longer than this between two words of one speaker starts a new utterance. Default 1.0 s. */
  maxPauseSeconds?: number;
  /** An utterance is closed before it would span more than this. Default 30 s. */
  maxUtteranceSeconds?: number;
}

/** Label given to every word when diarization found no turns at all (silence, or a failed-open diarizer). */
export const DEFAULT_SPEAKER = 'SPEAKER_00';

/** Overlaps closer than this are ties: sums of float overlaps differ in the last bits. */
export const OVERLAP_EPSILON = 1e-9;

const DEFAULT_MAX_PAUSE_SECONDS = 1.0;
const DEFAULT_MAX_UTTERANCE_SECONDS = 30;

/** Tokens that attach to the previous word when a provider returns punctuation as its own "word". */
const CLOSING_PUNCTUATION = /^[,.?!;:…%)\]}»”’]+$/u;

/**
 * Joins word texts with single spaces, except before a token that is only
 * closing punctuation, so `["Hello", ",", "world", "!"]` reads `Hello, world!`.
 */
export function joinWords(words: readonly string[]): string {
  let text = '';
  for (const raw of words) {
    const word = raw.trim();
    if (word === '') continue;
    text += text === '' || CLOSING_PUNCTUATION.test(word) ? word : ` ${word}`;
  }
  return text;
}

interface Span {
  start: number;
  end: number;
}

function finiteOrZero(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** Negative times clamp to 0 and an end before its start clamps to the start. */
function clampSpan<T extends Span>(item: T): T {
  const start = Math.max(0, finiteOrZero(item.start));
  const end = Math.max(start, finiteOrZero(item.end));
  return { ...item, start, end };
}

function overlap(a: Span, b: Span): number {
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

/** Gap between two intervals; 0 when they touch, overlap or one contains the other. */
function distance(a: Span, b: Span): number {
  return Math.max(0, b.start - a.end, a.start - b.end);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Earlier start first, then earlier end, then label: the "earlier turn" of the tie rules. */
function compareTurns(a: SpeakerTurn, b: SpeakerTurn): number {
  return a.start - b.start || a.end - b.end || compareStrings(a.speaker, b.speaker);
}

/**
 * Finds the speaker for one word. Rules, in order:
 * 1. The speaker whose turns overlap the word for the longest total time wins.
 * 2. On equal total overlap (within OVERLAP_EPSILON), the speaker owning an
 *    overlapping turn whose centre is nearest the word's midpoint wins, then the
 *    lexically smaller label. Overlapping turns (cross-talk) thus go to the voice
 *    whose turn is centred on the word, not to whoever started first.
 * 3. A word overlapping no turn (in a gap, or of zero length) goes to the turn
 *    nearest to it by interval distance; on equal distance the earlier turn
 *    (earlier start, then earlier end, then label).
 */
class SpeakerIndex {
  private readonly turns: SpeakerTurn[];
  /** maxEnd[i] = latest end among turns[0..i]; lets a backward scan stop early. */
  private readonly maxEnd: number[];
  /** Per turn, its speaker's number in `labels`: a word's tally is kept in arrays, not in Maps made for every word. */
  private readonly speakerOf: Uint32Array;
  private readonly labels: string[] = [];
  private readonly totals: Float64Array;
  private readonly centreGap: Float64Array;
  private readonly tallied: Uint8Array;
  private readonly touched: Uint32Array;

  constructor(turns: readonly SpeakerTurn[]) {
    this.turns = turns.map(clampSpan).sort(compareTurns);
    let running = -Infinity;
    this.maxEnd = this.turns.map((t) => (running = Math.max(running, t.end)));
    const ids = new Map<string, number>();
    this.speakerOf = Uint32Array.from(this.turns, (t) => {
      let id = ids.get(t.speaker);
      if (id === undefined) {
        id = this.labels.length;
        this.labels.push(t.speaker);
        ids.set(t.speaker, id);
      }
      return id;
    });
    this.totals = new Float64Array(this.labels.length);
    this.centreGap = new Float64Array(this.labels.length);
    this.tallied = new Uint8Array(this.labels.length);
    this.touched = new Uint32Array(this.labels.length);
  }

  get isEmpty(): boolean {
    return this.turns.length === 0;
  }

  speakerFor(word: Span): string {
    return this.byOverlap(word) ?? this.byDistance(word) ?? DEFAULT_SPEAKER;
  }

  private byOverlap(word: Span): string | null {
    const { totals, centreGap, tallied, touched } = this;
    let count = 0;
    const mid = (word.start + word.end) / 2;
    // Turns starting at or after the word's end cannot overlap it.
    for (let i = this.firstStartingAtOrAfter(word.end) - 1; i >= 0; i--) {
      if ((this.maxEnd[i] ?? -Infinity) <= word.start) break;
      const turn = this.turns[i];
      if (!turn) continue;
      const amount = overlap(turn, word);
      if (amount <= 0) continue;
      const s = this.speakerOf[i]!;
      if (!tallied[s]) {
        tallied[s] = 1;
        totals[s] = 0;
        centreGap[s] = Infinity;
        touched[count++] = s;
      }
      totals[s] = totals[s]! + amount;
      centreGap[s] = Math.min(centreGap[s]!, Math.abs((turn.start + turn.end) / 2 - mid));
    }
    let maxTotal = 0;
    for (let k = 0; k < count; k++) maxTotal = Math.max(maxTotal, totals[touched[k]!]!);
    // The least gap, then the lexically smaller label: whatever order the speakers were met in.
    let best: string | null = null;
    let bestGap = Infinity;
    for (let k = 0; k < count; k++) {
      const s = touched[k]!;
      tallied[s] = 0;
      if (totals[s]! < maxTotal - OVERLAP_EPSILON) continue;
      const speaker = this.labels[s]!;
      const gap = centreGap[s]!;
      if (best === null || gap < bestGap || (gap === bestGap && compareStrings(speaker, best) < 0)) {
        best = speaker;
        bestGap = gap;
      }
    }
    return best;
  }

  private byDistance(word: Span): string | null {
    // Rare path (words in gaps between turns), so a full scan keeps it obviously right.
    let best: SpeakerTurn | null = null;
    let bestDistance = Infinity;
    for (const turn of this.turns) {
      const d = distance(turn, word);
      // Turns are sorted with compareTurns, so keeping the first minimum picks the earlier turn on ties.
      if (d < bestDistance) {
        best = turn;
        bestDistance = d;
      }
    }
    return best?.speaker ?? null;
  }

  private firstStartingAtOrAfter(time: number): number {
    let lo = 0;
    let hi = this.turns.length;
    while (lo < hi) {
      const midIndex = (lo + hi) >>> 1;
      if ((this.turns[midIndex]?.start ?? Infinity) < time) lo = midIndex + 1;
      else hi = midIndex;
    }
    return lo;
  }
}

/** The words the merge works on, in input order: trimmed, empty ones left out, times clamped. */
export class MergeWords {
  private readonly table = new TextTable();
  private readonly text = new Uint32Column();
  private readonly start = new Float64Column();
  private readonly end = new Float64Column();

  get length(): number {
    return this.text.length;
  }

  add(w: Word): void {
    const word = w.word.trim();
    if (word === '') return;
    const start = Math.max(0, finiteOrZero(w.start));
    this.text.push(this.table.id(word));
    this.start.push(start);
    this.end.push(Math.max(start, finiteOrZero(w.end)));
  }

  /** Word `i` (in input order): its text, start and end. */
  textAt(i: number): string {
    return this.table.texts[this.text.at(i)]!;
  }

  startAt(i: number): number {
    return this.start.at(i);
  }

  endAt(i: number): number {
    return this.end.at(i);
  }
}

/** A merge result in columns, with what MergedTranscript holds beside its utterances. */
export interface MergedColumns {
  source: string;
  duration: number;
  language: string | null;
  speakers: string[];
  columns: TranscriptColumns;
}

/**
 * Merges diarization turns and transcription words into utterances.
 *
 * - Words are trimmed; empty or whitespace-only words are dropped. Times are
 *   clamped (negative → 0, end before start → start) and words are sorted by
 *   start, then end, then input order.
 * - With no turns at all every word is attributed to DEFAULT_SPEAKER.
 * - Consecutive words of one speaker form an utterance, split when the pause
 *   between a word's start and the latest end so far exceeds maxPauseSeconds, or
 *   when adding the word would make the utterance span more than
 *   maxUtteranceSeconds (a single word longer than that still forms one utterance).
 * - An utterance starts at its first word's start and ends at the latest end of
 *   its words (the last word's end unless the provider returned overlapping words).
 * - `speakers` lists labels in order of first appearance in the utterances;
 *   speakers with turns but no words are left out, because every export renders
 *   only what was said.
 */
export function mergeTranscript(input: MergeInput, options: MergeOptions = {}): MergedTranscript {
  const words = new MergeWords();
  for (const w of input.words) words.add(w);
  const { columns, ...rest } = mergeColumns({ ...input, words }, options);
  return { ...rest, utterances: [...utterancesOf(columns)] };
}

/** mergeTranscript on words held in columns, with the result in columns (what a whole day needs). */
export function mergeColumns(input: Omit<MergeInput, 'words'> & { words: MergeWords }, options: MergeOptions = {}): MergedColumns {
  const maxPause = options.maxPauseSeconds ?? DEFAULT_MAX_PAUSE_SECONDS;
  const maxSpan = options.maxUtteranceSeconds ?? DEFAULT_MAX_UTTERANCE_SECONDS;
  const index = new SpeakerIndex(input.turns);
  const words = input.words;

  // Indices in time order; the index itself breaks ties, which keeps the input order.
  const order = new Uint32Array(words.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => words.startAt(a) - words.startAt(b) || words.endAt(a) - words.endAt(b) || a - b);

  const out = new ColumnsBuilder();
  const speakers: string[] = [];
  let current: { speaker: string; start: number; end: number; texts: string[] } | null = null;
  const flush = (): void => {
    if (!current) return;
    out.utterance(current.speaker, current.start, current.end, joinWords(current.texts));
    if (!speakers.includes(current.speaker)) speakers.push(current.speaker);
    current = null;
  };

  const span: Span = { start: 0, end: 0 };
  for (const i of order) {
    const word = words.textAt(i);
    span.start = words.startAt(i);
    span.end = words.endAt(i);
    const speaker = index.isEmpty ? DEFAULT_SPEAKER : index.speakerFor(span);
    const continues =
      current !== null &&
      current.speaker === speaker &&
      span.start - current.end <= maxPause &&
      Math.max(current.end, span.end) - current.start <= maxSpan;
    if (continues && current) {
      current.texts.push(word);
      current.end = Math.max(current.end, span.end);
    } else {
      flush();
      current = { speaker, start: span.start, end: span.end, texts: [word] };
    }
    out.word(word, span.start, span.end, speaker);
  }
  flush();

  return {
    source: input.source,
    duration: Math.max(0, finiteOrZero(input.duration)),
    language: input.language,
    speakers,
    columns: out.done(),
  };
}
