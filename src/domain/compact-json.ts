// The large interim results (transcript.json, merged.json) as compact JSON written in pieces, so
// that a whole day's transcript is never held as one string, nor its words as objects, at once.

import { PIECE_CHARS } from './formats/pieces';

/**
 * `JSON.stringify(value)` and a newline, byte for byte, in pieces: the members named in `streamed`
 * are iterables (arrays, or elements made one at a time) written an element at a time, as
 * JSON.stringify writes an array; every other member as JSON.stringify writes it (or leaves it out).
 */
export function* compactJsonPieces(value: object, streamed: readonly string[]): Generator<string> {
  let piece = '{';
  let first = true;
  for (const [key, member] of Object.entries(value)) {
    if (!streamed.includes(key)) {
      // `{"key":…}`, or `{}` for what JSON leaves out (undefined, functions).
      const text = JSON.stringify({ [key]: member as unknown });
      if (text === '{}') continue;
      piece += `${first ? '' : ','}${text.slice(1, -1)}`;
      first = false;
      continue;
    }
    piece += `${first ? '' : ','}${JSON.stringify(key)}:[`;
    first = false;
    let firstElement = true;
    for (const element of member as Iterable<unknown>) {
      // In an array, what JSON leaves out is written as null.
      piece += `${firstElement ? '' : ','}${JSON.stringify(element) ?? 'null'}`;
      firstElement = false;
      if (piece.length >= PIECE_CHARS) {
        yield piece;
        piece = '';
      }
    }
    piece += ']';
  }
  yield `${piece}}\n`;
}
