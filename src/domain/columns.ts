// A merge result held in columns: a whole day's words (some 200,000) as typed arrays and one
// table of distinct texts, instead of an object per word. Objects are made one utterance at a
// time, when an export or merged.json's writer asks for them, and let go right after.

import type { AttributedWord, MergedView, Utterance } from './types';

/** Values per block of a column: blocks are allocated as values come, never copied or grown. */
const BLOCK_BITS = 14;
const BLOCK = 1 << BLOCK_BITS;

/** Numbers pushed one at a time into typed-array blocks: no array is grown, copied or over-allocated twice over. */
class Column<A extends Float64Array | Uint32Array> {
  private readonly blocks: A[] = [];
  length = 0;

  constructor(private readonly block: () => A) {}

  push(value: number): void {
    const i = this.length & (BLOCK - 1);
    if (i === 0) this.blocks.push(this.block());
    this.blocks[this.blocks.length - 1]![i] = value;
    this.length++;
  }

  at(i: number): number {
    return this.blocks[i >>> BLOCK_BITS]![i & (BLOCK - 1)]!;
  }
}

export class Float64Column extends Column<Float64Array> {
  constructor() {
    super(() => new Float64Array(BLOCK));
  }
}

export class Uint32Column extends Column<Uint32Array> {
  constructor() {
    super(() => new Uint32Array(BLOCK));
  }
}

/** Distinct strings by number: a day's words are a few thousand texts said again and again. */
export class TextTable {
  readonly texts: string[] = [];
  private readonly ids = new Map<string, number>();

  id(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.texts.length;
      this.texts.push(text);
      this.ids.set(text, id);
    }
    return id;
  }
}

/**
 * The utterances and words of a merge result. Utterance `u` holds the words from
 * `wordsEnd[u - 1]` (0 for the first) to `wordsEnd[u]`, exclusive; speakers are indices into
 * `labels`, word texts indices into `texts`.
 */
export interface TranscriptColumns {
  labels: string[];
  texts: string[];
  utterances: {
    count: number;
    speaker: Uint32Column;
    start: Float64Column;
    end: Float64Column;
    text: string[];
    wordsEnd: Uint32Column;
  };
  words: {
    count: number;
    text: Uint32Column;
    start: Float64Column;
    end: Float64Column;
    speaker: Uint32Column;
  };
}

/** Builds TranscriptColumns an utterance at a time: its words first, then the utterance. */
export class ColumnsBuilder {
  private readonly labelTable = new TextTable();
  private readonly textTable = new TextTable();
  private readonly uSpeaker = new Uint32Column();
  private readonly uStart = new Float64Column();
  private readonly uEnd = new Float64Column();
  private readonly uText: string[] = [];
  private readonly uWordsEnd = new Uint32Column();
  private readonly wText = new Uint32Column();
  private readonly wStart = new Float64Column();
  private readonly wEnd = new Float64Column();
  private readonly wSpeaker = new Uint32Column();

  word(text: string, start: number, end: number, speaker: string): void {
    this.wText.push(this.textTable.id(text));
    this.wStart.push(start);
    this.wEnd.push(end);
    this.wSpeaker.push(this.labelTable.id(speaker));
  }

  /** Closes an utterance holding the words added since the previous one. */
  utterance(speaker: string, start: number, end: number, text: string): void {
    this.uSpeaker.push(this.labelTable.id(speaker));
    this.uStart.push(start);
    this.uEnd.push(end);
    this.uText.push(text);
    this.uWordsEnd.push(this.wText.length);
  }

  done(): TranscriptColumns {
    return {
      labels: this.labelTable.texts,
      texts: this.textTable.texts,
      utterances: { count: this.uText.length, speaker: this.uSpeaker, start: this.uStart, end: this.uEnd, text: this.uText, wordsEnd: this.uWordsEnd },
      words: { count: this.wText.length, text: this.wText, start: this.wStart, end: this.wEnd, speaker: this.wSpeaker },
    };
  }
}

/** Utterance `u` as the object MergedTranscript holds (keys in its order: what JSON.stringify writes). */
export function utteranceAt(c: TranscriptColumns, u: number): Utterance {
  const { utterances: us, words: ws } = c;
  const words: AttributedWord[] = [];
  for (let w = u === 0 ? 0 : us.wordsEnd.at(u - 1); w < us.wordsEnd.at(u); w++) {
    words.push({ word: c.texts[ws.text.at(w)]!, start: ws.start.at(w), end: ws.end.at(w), speaker: c.labels[ws.speaker.at(w)]! });
  }
  return { speaker: c.labels[us.speaker.at(u)]!, start: us.start.at(u), end: us.end.at(u), text: us.text[u]!, words };
}

/** The utterances, made one at a time on each pass (a pass may be started any number of times). */
export function utterancesOf(c: TranscriptColumns): Iterable<Utterance> {
  return {
    *[Symbol.iterator]() {
      for (let u = 0; u < c.utterances.count; u++) yield utteranceAt(c, u);
    },
  };
}

/** The utterances of `m` transformed one at a time, on each pass. */
export function mapUtterances(m: MergedView, fn: (u: Utterance) => Utterance): Iterable<Utterance> {
  return {
    *[Symbol.iterator]() {
      for (const u of m.utterances) yield fn(u);
    },
  };
}
