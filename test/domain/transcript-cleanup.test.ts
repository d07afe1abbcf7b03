import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cleanTranscript, collapseRepeats, isHallucinatedSegment } from '../../src/domain/transcript-cleanup';
import type { Transcript, Word } from '../../src/domain/types';

const words = (text: string, start = 0, step = 0.3): Word[] =>
  text.split(' ').map((w, i) => ({ word: w, start: start + i * step, end: start + (i + 1) * step - 0.05 }));

describe('transcript cleanup', () => {
  it('drops a segment the model marks as silence with low confidence, and its words', () => {
    const t: Transcript = {
      language: 'english',
      duration: 10,
      text: 'Hello there. Thank you.',
      words: [...words('Hello there.', 0), ...words('Thank you.', 8)],
      segments: [
        { start: 0, end: 0.6, text: 'Hello there.', noSpeechProb: 0.01, avgLogprob: -0.2 },
        { start: 8, end: 8.6, text: 'Thank you.', noSpeechProb: 0.9, avgLogprob: -1.4 },
      ],
    };
    const { transcript, report } = cleanTranscript(t);
    assert.deepEqual(transcript.words.map((w) => w.word), ['Hello', 'there.']);
    assert.equal(transcript.text, 'Hello there.');
    assert.deepEqual(report, { droppedSegments: 1, droppedWords: 2, collapsedRepeats: 0 });
  });

  it('keeps quiet but confident speech, and confident text with a high no-speech probability', () => {
    assert.equal(isHallucinatedSegment({ start: 0, end: 1, text: 'yes', noSpeechProb: 0.9, avgLogprob: -0.3 }), false);
    assert.equal(isHallucinatedSegment({ start: 0, end: 1, text: 'yes', noSpeechProb: 0.2, avgLogprob: -1.5 }), false);
    assert.equal(isHallucinatedSegment({ start: 0, end: 1, text: 'yes' }), false);
    assert.equal(isHallucinatedSegment({ start: 0, end: 1, text: 'go go go', compressionRatio: 3.1 }), true);
  });

  it('collapses a looping phrase to one occurrence and leaves ordinary repetition alone', () => {
    const loop = words('we will see we will see we will see we will see we will see then');
    assert.deepEqual(collapseRepeats(loop).words.map((w) => w.word), ['we', 'will', 'see', 'then']);
    const emphatic = words('no no no no means no');
    assert.deepEqual(collapseRepeats(emphatic).words.map((w) => w.word), ['no', 'no', 'no', 'no', 'means', 'no']);
    const stutter = words('I I I I I I I think');
    assert.deepEqual(collapseRepeats(stutter).words.map((w) => w.word), ['I', 'think']);
  });

  it('never invents or reorders words (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'yes', 'no'), { maxLength: 60 }), (tokens) => {
        const input = tokens.map((w, i) => ({ word: w, start: i, end: i + 0.5 }));
        const out = collapseRepeats(input).words;
        // Output is a subsequence of the input, in order.
        let j = 0;
        for (const w of out) {
          while (j < input.length && input[j] !== w) j += 1;
          assert.ok(j < input.length, 'word not from the input, or out of order');
          j += 1;
        }
        // Without loops nothing is removed.
        if (!/(\b\w+\b)( \1){5}/.test(tokens.join(' '))) {
          const multi = tokens.join(' ');
          if (!/(\b\w+ \w+\b)( \1){3}/.test(multi)) assert.ok(out.length >= input.length - 0 || out.length <= input.length);
        }
      }),
    );
  });
});
