import assert from 'node:assert/strict';
import { stitchChunks, type ChunkTranscript } from '../../src/domain/stitch';

const part = (index: number, start: number, end: number, words: [string, number, number][]): ChunkTranscript => ({
  chunk: { index, start, end },
  language: 'english',
  duration: end - start,
  text: words.map((w) => w[0]).join(' '),
  words: words.map(([word, s, e]) => ({ word, start: s, end: e })),
  segments: [],
});

describe('stitchChunks', () => {
  it('keeps words in chunk order whatever order the chunks arrive in', () => {
    const { transcript } = stitchChunks([part(1, 5, 10, [['world', 5.5, 6]]), part(0, 0, 5, [['hello', 1, 1.5]])], 10);
    assert.deepEqual(transcript.words.map((w) => w.word), ['hello', 'world']);
    assert.equal(transcript.text, 'hello world');
  });

  it('merges one word heard on both sides of a seam into one word spanning it', () => {
    const { transcript, mergedAtSeams } = stitchChunks(
      [part(0, 0, 5, [['the', 4.2, 4.5], ['budg', 4.8, 5]]), part(1, 5, 10, [['budget.', 5, 5.3], ['Next', 6, 6.3]])],
      10,
    );
    assert.equal(mergedAtSeams, 1);
    assert.deepEqual(transcript.words, [
      { word: 'the', start: 4.2, end: 4.5 },
      { word: 'budget.', start: 4.8, end: 5.3 },
      { word: 'Next', start: 6, end: 6.3 },
    ]);
  });

  it('keeps a repeated word that is not at the seam, and different words at the seam', () => {
    const a = stitchChunks([part(0, 0, 5, [['yes', 2, 2.3]]), part(1, 5, 10, [['yes', 7, 7.3]])], 10);
    assert.equal(a.transcript.words.length, 2);
    const b = stitchChunks([part(0, 0, 5, [['red', 4.8, 5]]), part(1, 5, 10, [['blue', 5, 5.2]])], 10);
    const c = stitchChunks([part(0, 0, 5, [['a', 4.8, 5]]), part(1, 5, 10, [['and', 5, 5.2]])], 10);
    assert.equal(c.mergedAtSeams, 0, 'short words are not taken for halves of one word');
    assert.deepEqual(b.transcript.words.map((w) => w.word), ['red', 'blue']);
    assert.equal(b.mergedAtSeams, 0);
  });
});
