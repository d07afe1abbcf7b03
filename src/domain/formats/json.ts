// JSON export: the full merged transcript, versioned so readers can tell shapes
// apart if it ever changes. Every utterance and word keeps its speaker label, so the
// file reads back as a MergedTranscript; names and voice matches sit beside the labels.
// The published shape is schema/transcript.schema.json.

import { toMilliseconds } from '../timecode';
import type { MergedView, Utterance } from '../types';
import { PIECE_CHARS } from './pieces';

export const JSON_FORMAT_VERSION = 1;

/** Times to the millisecond, like every other format, without float noise such as 3.0000000004. */
function ms(seconds: number): number {
  return toMilliseconds(seconds) / 1000;
}

/**
 * The JSON export in pieces, byte for byte `JSON.stringify(document, null, 2)` and a newline:
 * the document's head, then its utterances a batch at a time. A whole day's transcript renders
 * to about 30 MB; in pieces it is written without the whole text, or a second copy of every
 * word, held in memory at once.
 */
export function* jsonPieces(m: MergedView): Generator<string> {
  const head = {
    format_version: JSON_FORMAT_VERSION,
    source: m.source,
    duration: ms(m.duration),
    language: m.language,
    speakers: m.speakers,
    ...(m.speakerNames && Object.keys(m.speakerNames).length > 0 ? { speaker_names: m.speakerNames } : {}),
    ...(m.identification ? { identification: m.identification.map((i) => ({ speaker: i.speaker, match: i.match, score: i.score })) } : {}),
    ...(m.overlappingTurns ? { overlapping_turns: m.overlappingTurns.map((t) => ({ speaker: t.speaker, start: ms(t.start), end: ms(t.end) })) } : {}),
    utterances: [] as unknown[],
  };
  const headText = JSON.stringify(head, null, 2);
  // `"utterances": []\n}` closes the head; the utterances go between the brackets, each one
  // indented two levels as JSON.stringify would (its strings carry no raw newline), and a
  // comma before each but the first.
  const open = headText.lastIndexOf('[]');
  let piece = '';
  let first = true;
  for (const u of m.utterances) {
    piece += `${first ? `${headText.slice(0, open)}[\n` : ',\n'}${utteranceJson(u)}`;
    first = false;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  yield first ? `${headText}\n` : `${piece}\n  ]${headText.slice(open + 2)}\n`;
}

/**
 * One utterance as `JSON.stringify(utterance, null, 2)` writes it, indented two levels more:
 * written member by member, without a copy of the utterance and its words to stringify and then
 * a second copy of the text to indent (a whole day's words, every time the JSON is written).
 */
function utteranceJson(u: Utterance): string {
  const words = u.words.map((w) => objectJson([member('word', w.word), member('start', ms(w.start)), member('end', ms(w.end)), member('speaker', w.speaker)], '        '));
  const wordsJson = words.length === 0 ? '[]' : `[\n${words.join(',\n')}\n      ]`;
  return objectJson([member('speaker', u.speaker), member('start', ms(u.start)), member('end', ms(u.end)), member('text', u.text), `"words": ${wordsJson}`], '    ');
}

/** `"key": value` as JSON.stringify writes a member; null for a value it leaves out (undefined). */
function member(key: string, value: unknown): string | null {
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? null : `${JSON.stringify(key)}: ${json}`;
}

/** An object of the given members, its braces at `indent` and its members two spaces further in. */
function objectJson(members: (string | null)[], indent: string): string {
  const present = members.filter((m) => m !== null);
  return present.length === 0 ? `${indent}{}` : `${indent}{\n${indent}  ${present.join(`,\n${indent}  `)}\n${indent}}`;
}

export function renderJson(m: MergedView): string {
  return [...jsonPieces(m)].join('');
}
