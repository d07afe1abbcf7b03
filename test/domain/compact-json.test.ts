import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compactJsonPieces } from '../../src/domain/compact-json';

const text = (value: object, streamed: string[]) => [...compactJsonPieces(value, streamed)].join('');

/** The same elements, made afresh on each pass (as a merge result's utterances are). */
function lazily<T>(elements: T[]): Iterable<T> {
  return {
    *[Symbol.iterator]() {
      for (const e of elements) yield structuredClone(e);
    },
  };
}

describe('compactJsonPieces', () => {
  it('writes exactly what JSON.stringify writes, and a newline, with any member streamed', () => {
    const member = fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.array(fc.oneof(fc.jsonValue(), fc.constant(undefined)), { maxLength: 30 }));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), member, { maxKeys: 8 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), (value, picks) => {
        const streamed = Object.keys(value).filter((k, i) => Array.isArray(value[k]) && picks[i % picks.length]);
        assert.equal(text(value, streamed), `${JSON.stringify(value)}\n`);
      }),
      { numRuns: 500 },
    );
  });

  it('writes elements made one at a time like the array they would make', () => {
    const words = Array.from({ length: 5000 }, (_, i) => ({ word: `w${i} “ü” \u2028`, start: i / 3, end: i / 3 + 0.1 }));
    const doc = { language: 'en', duration: 1.5, text: 'a\nb', words, segments: [] as unknown[], extra: undefined };
    const expected = `${JSON.stringify(doc)}\n`;
    assert.equal(text({ ...doc, words: lazily(words) }, ['words', 'segments']), expected);
    // Long arrays come in several pieces, none of them the whole text.
    const pieces = [...compactJsonPieces(doc, ['words'])];
    assert.ok(pieces.length > 2);
    assert.equal(pieces.join(''), expected);
  });
});
