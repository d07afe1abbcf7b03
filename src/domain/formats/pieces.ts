// Export text in pieces of about 64 KiB: a whole day renders to MBs per format, and text made
// and written a piece at a time is never held whole, nor kept long enough to fill the heap.

/** Pieces of the text are about this long (so many writes for a whole day, not one per line). */
export const PIECE_CHARS = 1 << 16;

/** `parts` joined by `separator`, as `Array.prototype.join` would, in pieces of about PIECE_CHARS. */
export function* joinedPieces(parts: Iterable<string>, separator = ''): Generator<string> {
  let piece = '';
  let first = true;
  for (const part of parts) {
    piece += first ? part : `${separator}${part}`;
    first = false;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  if (piece !== '' || first) yield piece;
}

/** `first`, then `rest`. */
export function* startingWith(first: string, rest: Iterable<string>): Generator<string> {
  yield first;
  yield* rest;
}

/** `items` through `fn`, one at a time. */
export function* mapped<T>(items: Iterable<T>, fn: (item: T, index: number) => string): Generator<string> {
  let i = 0;
  for (const item of items) yield fn(item, i++);
}
