// JSON export: the full merged transcript, versioned so readers can tell shapes
// apart if it ever changes. Every utterance and word keeps its speaker label, so the
// file reads back as a MergedTranscript; names and voice matches sit beside the labels.
// The published shape is schema/transcript.schema.json.

import { toMilliseconds } from '../timecode';
import type { MergedTranscript } from '../types';

export const JSON_FORMAT_VERSION = 1;

/** Times to the millisecond, like every other format, without float noise such as 3.0000000004. */
function ms(seconds: number): number {
  return toMilliseconds(seconds) / 1000;
}

/** Pieces of the text are about this long (so many writes for a whole day, not one per utterance). */
const PIECE_CHARS = 1 << 16;

/**
 * The JSON export in pieces, byte for byte `JSON.stringify(document, null, 2)` and a newline:
 * the document's head, then its utterances a batch at a time. A whole day's transcript renders
 * to about 30 MB; in pieces it is written without the whole text, or a second copy of every
 * word, held in memory at once.
 */
export function* jsonPieces(m: MergedTranscript): Generator<string> {
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
  if (m.utterances.length === 0) {
    yield `${headText}\n`;
    return;
  }
  // `"utterances": []\n}` closes the head; the utterances go between the brackets, each one
  // indented two levels as JSON.stringify would (its strings carry no raw newline).
  const open = headText.lastIndexOf('[]');
  let piece = `${headText.slice(0, open)}[\n`;
  for (const [i, u] of m.utterances.entries()) {
    const utterance = {
      speaker: u.speaker,
      start: ms(u.start),
      end: ms(u.end),
      text: u.text,
      words: u.words.map((w) => ({ word: w.word, start: ms(w.start), end: ms(w.end), speaker: w.speaker })),
    };
    piece += `    ${JSON.stringify(utterance, null, 2).replaceAll('\n', '\n    ')}${i < m.utterances.length - 1 ? ',' : ''}\n`;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}  ]${headText.slice(open + 2)}\n`;
}

export function renderJson(m: MergedTranscript): string {
  return [...jsonPieces(m)].join('');
}
