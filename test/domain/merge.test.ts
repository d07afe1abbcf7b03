import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_SPEAKER, OVERLAP_EPSILON, joinWords, mergeTranscript, type MergeInput } from '../../src/domain/merge';
import type { MergedTranscript, SpeakerTurn, Word } from '../../src/domain/types';

function input(turns: SpeakerTurn[], words: Word[]): MergeInput {
  return { source: 'a.wav', duration: 100, language: 'en', turns, words };
}

function t(speaker: string, start: number, end: number): SpeakerTurn {
  return { speaker, start, end };
}

function w(word: string, start: number, end: number): Word {
  return { word, start, end };
}

function speakersOfWords(m: MergedTranscript): string[] {
  return m.utterances.flatMap((u) => u.words.map((x) => `${x.word}:${x.speaker}`));
}

describe('mergeTranscript', () => {
  it('groups words into utterances by speaker', () => {
    const m = mergeTranscript(
      input(
        [t('A', 0, 2), t('B', 2, 4)],
        [w('Hello', 0.1, 0.5), w('there.', 0.6, 1.0), w('Hi', 2.2, 2.5), w('!', 2.5, 2.5)],
      ),
    );
    assert.deepEqual(
      m.utterances.map((u) => [u.speaker, u.start, u.end, u.text]),
      [
        ['A', 0.1, 1.0, 'Hello there.'],
        ['B', 2.2, 2.5, 'Hi!'],
      ],
    );
    assert.deepEqual(m.speakers, ['A', 'B']);
    assert.equal(m.source, 'a.wav');
    assert.equal(m.duration, 100);
    assert.equal(m.language, 'en');
  });

  it('gives a word spanning a speaker change to the speaker it overlaps most', () => {
    const m = mergeTranscript(input([t('A', 0, 2), t('B', 2, 4)], [w('x', 1.7, 2.5), w('y', 1.2, 2.1)]));
    assert.deepEqual(speakersOfWords(m), ['y:A', 'x:B']);
  });

  it('sums the overlap of all turns of a speaker', () => {
    // A: 0.3 + 0.3 = 0.6 beats B's single 0.5 although B's turn is the longest.
    const m = mergeTranscript(input([t('A', 0, 1.3), t('B', 1.3, 1.8), t('A', 1.8, 3)], [w('x', 1.0, 2.1)]));
    assert.deepEqual(speakersOfWords(m), ['x:A']);
  });

  it('resolves overlapping turns by overlap, then by the turn centred nearest the word', () => {
    // Cross-talk: A speaks 0-10, B interjects 4-6. A word inside both overlaps each by 1 s;
    // B's turn is centred on it (5 vs 5), A's centre is also 5: then the label decides.
    const tie = mergeTranscript(input([t('B', 4, 6), t('A', 0, 10)], [w('x', 4.5, 5.5)]));
    assert.deepEqual(speakersOfWords(tie), ['x:A']);
    // Same overlap, but B's turn is centred closer to the word than A's.
    const nearer = mergeTranscript(input([t('A', 0, 10), t('B', 5, 7)], [w('x', 5.5, 6.5)]));
    assert.deepEqual(speakersOfWords(nearer), ['x:B']);
    // With unequal overlap the centre rule does not apply.
    const more = mergeTranscript(input([t('A', 0, 10), t('B', 5.8, 7)], [w('x', 5.5, 6.5)]));
    assert.deepEqual(speakersOfWords(more), ['x:A']);
  });

  it('finds a long turn that started before a shorter, earlier-ending one', () => {
    // A contains the word (1 s overlap); B ends before it; C overlaps it by 0.5 s.
    const m = mergeTranscript(input([t('A', 0, 10), t('B', 1, 2), t('C', 4, 5.5)], [w('x', 5, 6)]));
    assert.deepEqual(speakersOfWords(m), ['x:A']);
  });

  it('gives a word in a gap to the nearest turn, the earlier one on a tie', () => {
    const turns = [t('A', 0, 2), t('B', 4, 6)];
    const m = mergeTranscript(
      input(turns, [w('near-a', 2.4, 2.6), w('middle', 2.9, 3.1), w('near-b', 3.6, 3.8), w('after', 9, 9.5)]),
      { maxPauseSeconds: 10 },
    );
    assert.deepEqual(speakersOfWords(m), ['near-a:A', 'middle:A', 'near-b:B', 'after:B']);
  });

  it('gives a zero-length word inside a turn to that turn', () => {
    const m = mergeTranscript(input([t('A', 0, 2), t('B', 2, 4)], [w('x', 3, 3)]));
    assert.deepEqual(speakersOfWords(m), ['x:B']);
  });

  it('clamps negative and inverted times', () => {
    const m = mergeTranscript(input([t('A', 0, 5)], [w('late', 2, 1), w('early', -1, 0.5)]), { maxPauseSeconds: 5 });
    assert.deepEqual(
      m.utterances[0]?.words.map((x) => [x.word, x.start, x.end]),
      [
        ['early', 0, 0.5],
        ['late', 2, 2],
      ],
    );
  });

  it('labels every word SPEAKER_00 when there are no turns', () => {
    const m = mergeTranscript(input([], [w('a', 0, 1), w('b', 1.2, 2)]));
    assert.equal(DEFAULT_SPEAKER, 'SPEAKER_00');
    assert.deepEqual(speakersOfWords(m), ['a:SPEAKER_00', 'b:SPEAKER_00']);
    assert.deepEqual(m.speakers, ['SPEAKER_00']);
  });

  it('produces no utterances and no speakers without words', () => {
    for (const turns of [[t('A', 0, 5)], []]) {
      const m = mergeTranscript(input(turns, []));
      assert.deepEqual(m.utterances, []);
      assert.deepEqual(m.speakers, []);
    }
  });

  it('drops empty and whitespace words and trims the rest', () => {
    const m = mergeTranscript(input([t('A', 0, 5)], [w(' Hello', 0, 1), w('', 1, 1.1), w('  ', 1.1, 1.2), w('world ', 1.3, 2)]));
    assert.equal(m.utterances[0]?.text, 'Hello world');
    assert.deepEqual(
      m.utterances[0]?.words.map((x) => x.word),
      ['Hello', 'world'],
    );
  });

  it('sorts unsorted words and turns', () => {
    const turns = [t('A', 0, 2), t('B', 2, 4)];
    const words = [w('one', 0, 0.5), w('two', 0.6, 1), w('three', 2.1, 2.5), w('four', 2.6, 3)];
    const sorted = mergeTranscript(input(turns, words));
    const shuffled = mergeTranscript(input([turns[1]!, turns[0]!], [words[2]!, words[0]!, words[3]!, words[1]!]));
    assert.deepEqual(shuffled, sorted);
    assert.deepEqual(
      sorted.utterances.map((u) => u.text),
      ['one two', 'three four'],
    );
  });

  it('keeps input order for words with identical times', () => {
    const m = mergeTranscript(input([t('A', 0, 5)], [w('the', 1, 1), w('end', 1, 1)]));
    assert.equal(m.utterances[0]?.text, 'the end');
  });

  it('splits on pauses longer than maxPauseSeconds', () => {
    const words = [w('a', 0, 1), w('b', 2, 3), w('c', 4.5, 5)];
    const m = mergeTranscript(input([t('A', 0, 10)], words));
    assert.deepEqual(
      m.utterances.map((u) => u.text),
      ['a b', 'c'],
    );
    const patient = mergeTranscript(input([t('A', 0, 10)], words), { maxPauseSeconds: 1.5 });
    assert.deepEqual(
      patient.utterances.map((u) => u.text),
      ['a b c'],
    );
  });

  it('splits before an utterance would exceed maxUtteranceSeconds', () => {
    const words = Array.from({ length: 10 }, (_, i) => w(`w${i}`, i, i + 0.9));
    const m = mergeTranscript(input([t('A', 0, 10)], words), { maxUtteranceSeconds: 3 });
    assert.deepEqual(
      m.utterances.map((u) => [u.start, u.end, u.words.length]),
      [
        [0, 2.9, 3],
        [3, 5.9, 3],
        [6, 8.9, 3],
        [9, 9.9, 1],
      ],
    );
    const long = mergeTranscript(input([t('A', 0, 10)], [w('loooong', 0, 8)]), { maxUtteranceSeconds: 3 });
    assert.equal(long.utterances.length, 1);
  });

  it('lists only speakers with words, in order of first appearance', () => {
    const m = mergeTranscript(input([t('Z', 0, 1), t('silent', 1, 2), t('A', 2, 3)], [w('a', 0.1, 0.5), w('b', 2.1, 2.5)]));
    assert.deepEqual(m.speakers, ['Z', 'A']);
  });

  describe('joinWords', () => {
    it('attaches closing punctuation tokens to the previous word', () => {
      assert.equal(joinWords(['Hello', ',', 'world', '!', 'Really', '?', '...']), 'Hello, world! Really?...');
      assert.equal(joinWords(['(', 'aside', ')', 'ok']), '( aside) ok');
      assert.equal(joinWords([',', 'starts']), ', starts');
      assert.equal(joinWords(['a', ' ', 'b']), 'a b');
    });
  });

  describe('properties', () => {
    const time = fc.integer({ min: 0, max: 80 }).map((n) => n / 4);
    const span = fc.tuple(time, fc.integer({ min: -2, max: 16 }).map((n) => n / 4));
    const turnArb = fc.tuple(fc.constantFrom('A', 'B', 'C'), span).map(([speaker, [start, len]]) => t(speaker, start, start + len));
    const wordArb = fc
      .tuple(fc.constantFrom('hi', 'there', ',', '.', 'x', '', '  ', 'ok?'), span)
      .map(([word, [start, len]]) => w(word, start, start + len));
    const caseArb = fc.record({
      turns: fc.array(turnArb, { maxLength: 8 }),
      words: fc.array(wordArb, { maxLength: 25 }),
      maxPauseSeconds: fc.constantFrom(0.5, 1, 3),
      maxUtteranceSeconds: fc.constantFrom(1, 5, 30),
    });

    function clamp(x: { start: number; end: number }): { start: number; end: number } {
      const start = Math.max(0, x.start);
      return { start, end: Math.max(start, x.end) };
    }

    function run(c: { turns: SpeakerTurn[]; words: Word[]; maxPauseSeconds: number; maxUtteranceSeconds: number }): MergedTranscript {
      return mergeTranscript(input(c.turns, c.words), { maxPauseSeconds: c.maxPauseSeconds, maxUtteranceSeconds: c.maxUtteranceSeconds });
    }

    it('keeps every non-empty word exactly once, in time order', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const out = run(c).utterances.flatMap((u) => u.words);
          const key = (x: Word): string => `${x.word}@${x.start}-${x.end}`;
          const expected = c.words
            .filter((x) => x.word.trim() !== '')
            .map((x) => key({ word: x.word.trim(), ...clamp(x) }))
            .sort();
          assert.deepEqual(out.map(key).sort(), expected);
          for (let i = 1; i < out.length; i++) assert.ok(out[i - 1]!.start <= out[i]!.start);
        }),
      );
    });

    it('bounds each utterance by its words and keeps one speaker per utterance', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const m = run(c);
          for (const u of m.utterances) {
            assert.ok(u.words.length > 0);
            assert.equal(u.start, u.words[0]!.start);
            assert.equal(u.end, Math.max(...u.words.map((x) => x.end)));
            assert.ok(u.words.every((x) => x.speaker === u.speaker));
            assert.ok(u.end - u.start <= c.maxUtteranceSeconds || u.words.length === 1);
          }
          assert.deepEqual(m.speakers, [...new Set(m.utterances.map((u) => u.speaker))]);
        }),
      );
    });

    it('gives each word to a speaker with maximal overlap, else to a nearest turn', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const turns = c.turns.map((x) => ({ speaker: x.speaker, ...clamp(x) }));
          for (const word of run(c).utterances.flatMap((u) => u.words)) {
            if (turns.length === 0) {
              assert.equal(word.speaker, DEFAULT_SPEAKER);
              continue;
            }
            const totals = new Map<string, number>();
            for (const turn of turns) {
              const o = Math.max(0, Math.min(turn.end, word.end) - Math.max(turn.start, word.start));
              if (o > 0) totals.set(turn.speaker, (totals.get(turn.speaker) ?? 0) + o);
            }
            if (totals.size > 0) {
              const best = Math.max(...totals.values());
              assert.ok((totals.get(word.speaker) ?? 0) >= best - OVERLAP_EPSILON, `${word.word} at ${word.start}`);
            } else {
              const dist = (turn: { start: number; end: number }): number => Math.max(0, turn.start - word.end, word.start - turn.end);
              const nearest = Math.min(...turns.map(dist));
              assert.ok(turns.some((turn) => turn.speaker === word.speaker && dist(turn) === nearest));
            }
          }
        }),
        { numRuns: 500 },
      );
    });

    it('does not depend on the order of turns, nor of words with distinct starts', () => {
      fc.assert(
        fc.property(caseArb, fc.integer(), (c, seed) => {
          const seen = new Set<number>();
          const words = c.words.filter((x) => !seen.has(x.start) && (seen.add(x.start), true));
          const rotate = <T>(xs: T[]): T[] => {
            const k = xs.length === 0 ? 0 : Math.abs(seed) % xs.length;
            return [...xs.slice(k), ...xs.slice(0, k)].reverse();
          };
          assert.deepEqual(run({ ...c, turns: rotate(c.turns), words: rotate(words) }), run({ ...c, words }));
        }),
      );
    });
  });
});
