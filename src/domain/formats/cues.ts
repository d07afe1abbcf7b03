// Subtitle cues shared by SRT and WebVTT, shaped for reading. The layout follows
// common subtitle guidelines (Netflix, BBC): lines of at most maxLineChars broken
// at word boundaries, preferably after punctuation or before a conjunction or
// preposition; at most maxLines lines per cue; a cue between minCueSeconds and
// maxCueSeconds on screen and slow enough to read (maxCharsPerSecond); a cue
// never holds two speakers. All times are worked in whole milliseconds, the
// resolution of both formats, so what the rules promise is what the file says.
//
// Three stages:
//  1. Tokens: each utterance's words (a punctuation-only word joins the word
//     before it, as in merged text). An utterance without words, or whose words
//     no longer spell its text (an edited text), has its text spread over its
//     time span in proportion to the characters.
//  2. Cues per utterance: the split into cues that costs least, where every cue
//     costs, a break after sentence punctuation costs nothing, after a comma,
//     semicolon or colon little, and in the middle of a phrase most; a cue must
//     fit its lines and maxCueSeconds (a single word longer than that stays whole).
//  3. Timing over the whole transcript: overlaps are cut, then a cue too short
//     or too fast to read is extended into the silence after it, up to
//     MIN_CUE_GAP_SECONDS before the next cue (or the end of the media) and up to
//     maxCueSeconds. When that silence is too short, a cue that is still shorter
//     than minCueSeconds is merged with a neighbour of the same speaker if the
//     merged cue fits every limit; otherwise it is kept as it is: a cue too short
//     or too fast is the one rule broken when speech leaves no room for it.

import { joinWords } from '../merge';
import { toMilliseconds } from '../timecode';
import type { MergedView, Utterance } from '../types';
import { DEFAULT_SUBTITLE_OPTIONS, type SubtitleOptions } from './options';

/** The default longest cue on screen. */
export const MAX_CUE_SECONDS = DEFAULT_SUBTITLE_OPTIONS.maxCueSeconds;
/** The default most text in a cue: two lines of 42 characters. */
export const MAX_CUE_CHARS = DEFAULT_SUBTITLE_OPTIONS.maxLines * DEFAULT_SUBTITLE_OPTIONS.maxLineChars;
/**
 * A cue extended into the silence after it stops this long before the next cue:
 * two frames at 25 fps, the gap subtitle guidelines ask for so a viewer sees the
 * text change. Cues that are closer already are left as they are.
 */
export const MIN_CUE_GAP_SECONDS = 0.08;

/** One word as shown in a cue, with its time span in seconds. */
export interface CueWord {
  text: string;
  start: number;
  end: number;
}

export interface Cue {
  speaker: string;
  /** Seconds, whole milliseconds; start < end, and end <= the next cue's start. */
  start: number;
  end: number;
  /** The first cue, and every cue whose speaker differs from the cue before it. */
  speakerChange: boolean;
  /** `Name: ` when the speaker is shown as a prefix (only on a speaker change), else ''. */
  label: string;
  /** Lines as shown, the label starting the first; plain text, not escaped. Never empty, no line breaks. */
  lines: string[];
  /** The words of each line (without the label). */
  lineWords: CueWord[][];
  /** False when word times were estimated (an utterance without words, or with an edited text). */
  timedWords: boolean;
}

/** Cue text must stay on its own lines: a stray newline or blank line would end the cue early. */
export function singleLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** The speaker prefix, `Name: `; nothing for a speaker without a name. */
export function speakerPrefix(speaker: string): string {
  const name = singleLine(speaker).trim();
  return name === '' ? '' : `${name}: `;
}

/** A word in milliseconds; `timed` is false when its times were estimated. */
interface Token {
  text: string;
  start: number;
  end: number;
  timed: boolean;
}

interface Limits {
  maxLineChars: number;
  maxLines: number;
  maxCueMs: number;
  minCueMs: number;
  maxCharsPerSecond: number;
  labels: boolean;
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? value : fallback;
}

/** Options as given by a caller can be nonsense (0 lines, a negative limit): the nearest sensible value is used. */
function limitsOf(o: SubtitleOptions): Limits {
  const d = DEFAULT_SUBTITLE_OPTIONS;
  const maxCueMs = Math.max(1, toMilliseconds(finiteOr(o.maxCueSeconds, d.maxCueSeconds)));
  const cps = finiteOr(o.maxCharsPerSecond, d.maxCharsPerSecond);
  return {
    maxLineChars: Math.max(1, Math.floor(finiteOr(o.maxLineChars, d.maxLineChars))),
    maxLines: Math.max(1, Math.floor(finiteOr(o.maxLines, d.maxLines))),
    maxCueMs,
    minCueMs: Math.min(maxCueMs, toMilliseconds(finiteOr(o.minCueSeconds, d.minCueSeconds))),
    maxCharsPerSecond: cps > 0 ? cps : Infinity,
    labels: o.speakerLabels === 'prefix',
  };
}

// Stage 1: tokens.

function normalized(text: string): string {
  return singleLine(text).trim().replace(/\s+/g, ' ');
}

/** True for a word merged text attaches to the word before it (closing punctuation such as "," or "?!"). */
function attaches(word: string): boolean {
  return joinWords(['x', word]) === `x${word}`;
}

/** The words of a text spread over [start, end] in proportion to their characters. */
function spread(text: string, start: number, end: number): Token[] {
  const parts = text.split(' ').filter((p) => p !== '');
  const span = Math.max(0, end - start);
  const at = (offset: number) => start + Math.round((span * offset) / text.length);
  const tokens: Token[] = [];
  let offset = 0;
  for (const part of parts) {
    const from = text.indexOf(part, offset);
    offset = from + part.length;
    tokens.push({ text: part, start: at(from), end: at(offset), timed: false });
  }
  return tokens;
}

function utteranceTokens(u: Utterance): Token[] {
  const words = u.words.map((w) => ({ ...w, word: normalized(w.word) })).filter((w) => w.word !== '');
  const text = normalized(u.text);
  if (words.length === 0 || normalized(joinWords(words.map((w) => w.word))) !== text) {
    const start = toMilliseconds(u.start);
    return text === '' ? [] : spread(text, start, Math.max(start, toMilliseconds(u.end)));
  }
  const tokens: Token[] = [];
  for (const w of words) {
    const start = toMilliseconds(w.start);
    const end = Math.max(start, toMilliseconds(w.end));
    const last = tokens[tokens.length - 1];
    if (last && attaches(w.word)) {
      last.text += w.word;
      last.end = Math.max(last.end, end);
    } else if (w.word.includes(' ')) {
      tokens.push(...spread(w.word, start, end));
    } else {
      tokens.push({ text: w.word, start, end, timed: true });
    }
  }
  return tokens;
}

// Where to break, and what each kind of break costs.

/** Break quality between two words, best first. */
type BreakKind = 'sentence' | 'clause' | 'phrase' | 'plain' | 'bound';

const TRAILING_CLOSERS = `["'”’»)\\]]*$`;
const SENTENCE_END = new RegExp(`[.?!…]${TRAILING_CLOSERS}`, 'u');
const CLAUSE_END = new RegExp(`[,;:–—]${TRAILING_CLOSERS}`, 'u');
/** Conjunctions and prepositions: a line or cue may start with them. */
const PHRASE_STARTS = new Set(
  (
    'and but or nor so yet because although though while whereas if unless until when whenever where which who whom whose ' +
    'that than as to of in on at for with without from by about into onto over under after before since through during between'
  ).split(' '),
);
/** Articles, determiners, possessives, prepositions and conjunctions: they bind to the next word. */
const BINDS_NEXT = new Set(
  'a an the this these those my your his her its our their to of in on at for with from by into onto and or but very not'.split(' '),
);
/** Titles whose full stop ends no sentence and which belong with the name after them. */
const TITLES = new Set(['mr.', 'mrs.', 'ms.', 'dr.', 'prof.', 'st.']);

function bare(word: string): string {
  return word.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
}

function breakKind(before: string, after: string): BreakKind {
  if (TITLES.has(before.toLowerCase())) return 'bound';
  if (SENTENCE_END.test(before)) return 'sentence';
  if (CLAUSE_END.test(before)) return 'clause';
  if (BINDS_NEXT.has(before.toLowerCase())) return 'bound';
  if (PHRASE_STARTS.has(bare(after))) return 'phrase';
  return 'plain';
}

/** What a cue boundary costs, in cues. */
const CUE_BREAK_COST: Record<BreakKind, number> = { sentence: 0, clause: 0.2, phrase: 0.4, plain: 0.6, bound: 1 };
/** What a line break costs, in characters of imbalance between the lines. */
const LINE_BREAK_COST: Record<BreakKind, number> = { sentence: 0, clause: 3, phrase: 6, plain: 10, bound: 25 };
/** A line of one short word next to a fuller one reads badly (an orphan). */
const ORPHAN_LINE_COST = 15;

// Lines.

/**
 * Counts the lines the words need when each line is filled as far as it goes;
 * that is the fewest lines possible. A word wider than a line gets a line of its
 * own, the one case where a line is longer than maxLineChars. `firstWidth` is
 * the room left on the first line after a label.
 */
class LineFill {
  lines = 1;
  private used = 0;

  constructor(
    private readonly firstWidth: number,
    private readonly width: number,
  ) {}

  add(length: number): void {
    const room = this.lines === 1 ? this.firstWidth : this.width;
    if (this.used === 0) this.used = length;
    else if (this.used + 1 + length <= room) this.used += 1 + length;
    else {
      this.lines += 1;
      this.used = length;
    }
  }
}

/**
 * Breaks the words of a cue into the fewest lines they need, choosing among the
 * breaks with that many lines the one with the best break points and the most
 * even lines (a longer bottom line is preferred to a longer top line).
 */
function breakLines(words: readonly string[], label: string, limits: Limits): string[][] {
  const fill = new LineFill(limits.maxLineChars - label.length, limits.maxLineChars);
  for (const w of words) fill.add(w.length);
  const k = fill.lines;
  if (k === 1) return [[...words]];
  const n = words.length;
  const total = label.length + words.reduce((sum, w) => sum + w.length, 0) + n - k;
  const target = total / k;
  const lineLength = (from: number, to: number) =>
    words.slice(from, to).reduce((sum, w) => sum + w.length, 0) + (to - from - 1) + (from === 0 ? label.length : 0);
  const fits = (from: number, to: number) => to - from === 1 || lineLength(from, to) <= limits.maxLineChars;
  // best[l][i]: least cost of words[0, i) in l + 1 lines, and where the last of them starts.
  const best: { cost: number; from: number }[][] = Array.from({ length: k }, () =>
    Array.from({ length: n + 1 }, () => ({ cost: Infinity, from: -1 })),
  );
  for (let line = 0; line < k; line++) {
    const last = line === k - 1;
    for (let to = line + 1; to <= n; to++) {
      if (last && to !== n) continue;
      for (let from = line; from < (line === 0 ? 1 : to); from++) {
        const before = line === 0 ? 0 : (best[line - 1]?.[from]?.cost ?? Infinity);
        if (before === Infinity || !fits(from, to)) continue;
        const deviation = lineLength(from, to) - target;
        let cost = before + (deviation > 0 && !last ? 1.25 * deviation : Math.abs(deviation));
        if (!last) cost += LINE_BREAK_COST[breakKind(words[to - 1] ?? '', words[to] ?? '')];
        const word = words[from] ?? '';
        if (to - from === 1 && word.length < limits.maxLineChars / 3) cost += ORPHAN_LINE_COST;
        const cell = best[line]?.[to];
        if (cell && cost < cell.cost) {
          cell.cost = cost;
          cell.from = from;
        }
      }
    }
  }
  const lines: string[][] = [];
  let to = n;
  for (let line = k - 1; line >= 0; line--) {
    const from = best[line]?.[to]?.from ?? 0;
    lines.unshift(words.slice(from, to));
    to = from;
  }
  return lines;
}

// Stage 2: the cues of one utterance.

interface Draft {
  speaker: string;
  speakerChange: boolean;
  tokens: Token[];
  start: number;
  end: number;
  /** The end before any extension, for merging. */
  spokenEnd: number;
}

function textLength(tokens: readonly Token[]): number {
  return tokens.reduce((sum, t) => sum + t.text.length, 0) + Math.max(0, tokens.length - 1);
}

function spanOf(tokens: readonly Token[]): { start: number; end: number } {
  return { start: tokens[0]?.start ?? 0, end: tokens.reduce((end, t) => Math.max(end, t.end), 0) };
}

function labelFor(speaker: string, speakerChange: boolean, limits: Limits): string {
  return limits.labels && speakerChange ? speakerPrefix(speaker) : '';
}

/** True when the words fit the lines of one cue. */
function fitsLines(tokens: readonly Token[], label: string, limits: Limits): boolean {
  const fill = new LineFill(limits.maxLineChars - label.length, limits.maxLineChars);
  for (const t of tokens) fill.add(t.text.length);
  return fill.lines <= limits.maxLines;
}

/**
 * The cheapest split of an utterance's words into cues (dynamic programming over
 * the cue ends): each cue costs 1, plus what its break point costs, plus a little
 * for being full (so that cues are even), plus a penalty when it is a short
 * fragment of a longer utterance, which would flash by.
 */
function splitTokens(tokens: readonly Token[], label: string, limits: Limits): Token[][] {
  const n = tokens.length;
  const capacity = limits.maxLines * limits.maxLineChars;
  const best = Array.from({ length: n + 1 }, () => ({ cost: Infinity, from: -1 }));
  best[0] = { cost: 0, from: -1 };
  for (let from = 0; from < n; from++) {
    const before = best[from]?.cost ?? Infinity;
    const fill = new LineFill(limits.maxLineChars - (from === 0 ? label.length : 0), limits.maxLineChars);
    const start = tokens[from]?.start ?? 0;
    let end = 0;
    let chars = -1;
    for (let to = from + 1; to <= n; to++) {
      const token = tokens[to - 1];
      if (!token) break;
      fill.add(token.text.length);
      end = Math.max(end, token.end);
      chars += token.text.length + 1;
      const single = to - from === 1;
      if (!single && (fill.lines > limits.maxLines || end - start > limits.maxCueMs)) break;
      let cost = before + 1 + 0.5 * (chars / capacity) ** 2;
      if (to < n) cost += CUE_BREAK_COST[breakKind(token.text, tokens[to]?.text ?? '')];
      if (n > to - from && end - start < limits.minCueMs) cost += 0.5;
      const cell = best[to];
      if (cell && cost < cell.cost) {
        cell.cost = cost;
        cell.from = from;
      }
    }
  }
  const cues: Token[][] = [];
  for (let to = n; to > 0; ) {
    const from = best[to]?.from ?? to - 1;
    cues.unshift(tokens.slice(from, to));
    to = from;
  }
  return cues;
}

// Stage 3: timing over the whole transcript, a run of cues at a time (see cuesOf).

/**
 * Cuts an overlap between a cue and the one before it (words of two cues can overlap in time)
 * and gives the cue at least a millisecond; called on each cue in order.
 */
function untangle(previous: Draft | undefined, d: Draft): void {
  if (previous && d.start < previous.end) {
    previous.end = Math.max(previous.start + 1, d.start);
    d.start = Math.max(d.start, previous.end);
  }
  d.end = Math.max(d.end, d.start + 1);
}

/** Extends a cue towards the time it needs to be read, within the silence after it (`after`: the cue after the last of `drafts`). */
function extend(drafts: Draft[], i: number, mediaEnd: number, limits: Limits, after: Draft | undefined): void {
  const d = drafts[i];
  if (!d) return;
  const next = drafts[i + 1] ?? after;
  const readMs = Math.ceil((textLength(d.tokens) * 1000) / limits.maxCharsPerSecond);
  let limit = d.start + limits.maxCueMs;
  if (next) limit = Math.min(limit, next.start - toMilliseconds(MIN_CUE_GAP_SECONDS));
  else if (mediaEnd > 0) limit = Math.min(limit, mediaEnd);
  d.end = Math.max(d.end, Math.min(d.start + Math.max(limits.minCueMs, readMs), limit));
}

/** The two cues as one, when one speaker says both and the result fits every limit. */
function merged(a: Draft | undefined, b: Draft | undefined, limits: Limits): Draft | null {
  if (!a || !b || a.speaker !== b.speaker) return null;
  const tokens = [...a.tokens, ...b.tokens];
  if (b.spokenEnd - a.start > limits.maxCueMs) return null;
  if (!fitsLines(tokens, labelFor(a.speaker, a.speakerChange, limits), limits)) return null;
  return { ...a, tokens, end: b.spokenEnd, spokenEnd: b.spokenEnd };
}

function mergeShortCues(drafts: Draft[], mediaEnd: number, limits: Limits, after: Draft | undefined): void {
  for (let i = 0; i < drafts.length; ) {
    const d = drafts[i];
    if (!d || d.end - d.start >= limits.minCueMs) {
      i++;
      continue;
    }
    const withPrevious = merged(drafts[i - 1], d, limits);
    const at = withPrevious ? i - 1 : i;
    const cue = withPrevious ?? merged(d, drafts[i + 1], limits);
    if (!cue) {
      i++;
      continue;
    }
    drafts.splice(at, 2, cue);
    extend(drafts, at, mediaEnd, limits, after);
    i = at;
  }
}

function toCue(d: Draft, limits: Limits): Cue {
  const label = labelFor(d.speaker, d.speakerChange, limits);
  const lines = breakLines(
    d.tokens.map((t) => t.text),
    label,
    limits,
  );
  const lineWords: CueWord[][] = [];
  let next = 0;
  for (const line of lines) {
    lineWords.push(
      d.tokens.slice(next, next + line.length).map((t) => ({ text: t.text, start: t.start / 1000, end: t.end / 1000 })),
    );
    next += line.length;
  }
  return {
    speaker: d.speaker,
    start: d.start / 1000,
    end: d.end / 1000,
    speakerChange: d.speakerChange,
    label,
    lines: lines.map((words, i) => `${i === 0 ? label : ''}${words.join(' ')}`),
    lineWords,
    timedWords: d.tokens.every((t) => t.timed),
  };
}

/**
 * The cues of a transcript under the given layout. With speakerLabels 'prefix'
 * the first line of a cue that starts a speaker change begins with `Name: `
 * (and counts toward that line's width); 'voice' and 'none' leave the lines
 * unlabelled (WebVTT adds a voice tag outside the text; SRT renders 'voice' as
 * 'prefix').
 */
export function transcriptCues(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): Cue[] {
  return [...cuesOf(m, opts)];
}

/** transcriptCues made one at a time (a whole day has tens of thousands, each with its words). */
export function* cuesOf(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): Generator<Cue> {
  const limits = limitsOf(opts);
  const mediaEnd = toMilliseconds(m.duration);
  // Stage 3 in runs of cues: a cue after a speaker change, or starting more than maxCueMs after
  // the one before it, can never be merged with what precedes it (nor anything merged with
  // that), and all a run's timing needs of the next run is its first start, final once that
  // cue is untangled. So a run is timed and let go as soon as the next one begins: the same
  // cues as timing the whole transcript at once, without holding a whole day's words.
  let run: Draft[] = [];
  let lastSpeaker: string | undefined;
  for (const u of m.utterances) {
    const tokens = utteranceTokens(u);
    if (tokens.length === 0) continue;
    const speakerChange = lastSpeaker === undefined || lastSpeaker !== u.speaker;
    const groups = splitTokens(tokens, labelFor(u.speaker, speakerChange, limits), limits);
    for (const [i, group] of groups.entries()) {
      const { start, end } = spanOf(group);
      const d: Draft = { speaker: u.speaker, speakerChange: speakerChange && i === 0, tokens: group, start, end, spokenEnd: end };
      const previous = run[run.length - 1];
      untangle(previous, d);
      if (previous && (previous.speaker !== d.speaker || d.start - previous.start > limits.maxCueMs)) {
        yield* timedRun(run, d, mediaEnd, limits);
        run = [];
      }
      run.push(d);
    }
    lastSpeaker = u.speaker;
  }
  yield* timedRun(run, undefined, mediaEnd, limits);
}

/** The cues of a run whose ends are untangled, extended and merged (`after`: the first cue of the next run). */
function* timedRun(run: Draft[], after: Draft | undefined, mediaEnd: number, limits: Limits): Generator<Cue> {
  for (const d of run) d.spokenEnd = d.end;
  for (let i = 0; i < run.length; i++) extend(run, i, mediaEnd, limits, after);
  mergeShortCues(run, mediaEnd, limits, after);
  for (const d of run) yield toCue(d, limits);
}

/** The cues of one utterance on its own, as the first cue after a speaker change. */
export function splitUtterance(u: Utterance, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): Cue[] {
  return transcriptCues({ source: '', duration: 0, language: null, speakers: [u.speaker], utterances: [u] }, opts);
}
