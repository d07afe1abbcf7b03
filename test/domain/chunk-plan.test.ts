import assert from 'node:assert/strict';
import fc from 'fast-check';
import { maxChunkSecondsFor, planChunks, type PlannedChunk, type Silence } from '../../src/domain/chunk-plan';

function spans(chunks: PlannedChunk[]): [number, number, boolean][] {
  return chunks.map((c) => [c.start, c.end, c.cutInSilence]);
}

describe('planChunks', () => {
  it('returns nothing for an empty or negative duration', () => {
    assert.deepEqual(planChunks({ duration: 0, silences: [], maxChunkSeconds: 10 }), []);
    assert.deepEqual(planChunks({ duration: -5, silences: [], maxChunkSeconds: 10 }), []);
  });

  it('keeps audio within the limit as one chunk, however short', () => {
    assert.deepEqual(spans(planChunks({ duration: 3, silences: [], maxChunkSeconds: 600 })), [[0, 3, false]]);
    assert.deepEqual(spans(planChunks({ duration: 600, silences: [], maxChunkSeconds: 600 })), [[0, 600, false]]);
  });

  it('cuts at the limit when there is no silence', () => {
    assert.deepEqual(spans(planChunks({ duration: 250, silences: [], maxChunkSeconds: 100, minChunkSeconds: 10 })), [
      [0, 100, false],
      [100, 200, false],
      [200, 250, false],
    ]);
  });

  it('cuts in the middle of the longest silence of the search window', () => {
    // Window for the first cut is [70, 100] (default min(60, 100/3) ≈ 33.3 → [66.7, 100]).
    const silences: Silence[] = [
      { start: 50, end: 60 }, // before the window: ignored though longest
      { start: 70, end: 72 },
      { start: 80, end: 84 },
      { start: 95, end: 96 },
    ];
    const chunks = planChunks({ duration: 150, silences, maxChunkSeconds: 100 });
    assert.deepEqual(spans(chunks), [
      [0, 82, true],
      [82, 150, false],
    ]);
  });

  it('prefers the later of two equally long silences', () => {
    const silences: Silence[] = [
      { start: 80, end: 82 },
      { start: 90, end: 92 },
    ];
    assert.equal(planChunks({ duration: 150, silences, maxChunkSeconds: 100 })[0]?.end, 91);
  });

  it('clips a silence that crosses the window edge', () => {
    // Silence 98–110 extends past the latest cut at 100: only 98–100 counts, cut at 99.
    const chunks = planChunks({ duration: 150, silences: [{ start: 98, end: 110 }], maxChunkSeconds: 100 });
    assert.deepEqual(spans(chunks), [
      [0, 99, true],
      [99, 150, false],
    ]);
  });

  it('moves the last cut earlier to a silence rather than leave a short tail', () => {
    // Best cut in [66.7, 100] is at 99 → tail of 6 s < min 25. The allowed range
    // for the moved cut is [105 - 100, 105 - 25] = [5, 80]; silence 40–42 → cut at 41.
    const silences: Silence[] = [
      { start: 40, end: 42 },
      { start: 98.5, end: 99.5 },
    ];
    const chunks = planChunks({ duration: 105, silences, maxChunkSeconds: 100 });
    assert.deepEqual(spans(chunks), [
      [0, 41, true],
      [41, 105, false],
    ]);
  });

  it('does not move the cut so far that the chunk before becomes the short one', () => {
    // Silence 10–12 would give a 94 s tail but a 11 s chunk before it (min 25): not taken.
    const silences: Silence[] = [
      { start: 10, end: 12 },
      { start: 98.5, end: 99.5 },
    ];
    assert.deepEqual(spans(planChunks({ duration: 105, silences, maxChunkSeconds: 100 })), [
      [0, 99, true],
      [99, 105, false],
    ]);
  });

  it('keeps a short tail when no silence allows moving the cut', () => {
    const chunks = planChunks({ duration: 105, silences: [{ start: 98.5, end: 99.5 }], maxChunkSeconds: 100 });
    assert.deepEqual(spans(chunks), [
      [0, 99, true],
      [99, 105, false],
    ]);
  });

  it('honours explicit search window and minimum', () => {
    const silences: Silence[] = [{ start: 60, end: 62 }];
    const narrow = planChunks({ duration: 150, silences, maxChunkSeconds: 100, searchWindowSeconds: 10 });
    assert.deepEqual(spans(narrow), [
      [0, 100, false],
      [100, 150, false],
    ]);
    const wide = planChunks({ duration: 150, silences, maxChunkSeconds: 100, searchWindowSeconds: 50 });
    assert.equal(wide[0]?.end, 61);
  });

  it('numbers chunks from zero', () => {
    const chunks = planChunks({ duration: 1000, silences: [], maxChunkSeconds: 300 });
    assert.deepEqual(
      chunks.map((c) => c.index),
      [0, 1, 2, 3],
    );
  });

  it('rejects a non-positive maximum', () => {
    assert.throws(() => planChunks({ duration: 10, silences: [], maxChunkSeconds: 0 }), RangeError);
  });

  describe('properties', () => {
    const caseArb = fc
      .record({
        duration: fc.double({ min: 0.001, max: 20_000, noNaN: true }),
        maxChunkSeconds: fc.double({ min: 1, max: 1500, noNaN: true }),
        silences: fc.array(
          fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.double({ min: 0, max: 5, noNaN: true }) }),
          { maxLength: 60 },
        ),
      })
      .map(({ duration, maxChunkSeconds, silences }) => ({
        duration,
        maxChunkSeconds,
        silences: silences.map(({ at, len }) => ({ start: at * duration, end: at * duration + len })),
      }));

    it('covers [0, duration] exactly once with chunks under the limit', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const chunks = planChunks(c);
          assert.ok(chunks.length > 0);
          assert.equal(chunks[0]!.start, 0);
          assert.equal(chunks[chunks.length - 1]!.end, c.duration);
          chunks.forEach((chunk, i) => {
            assert.equal(chunk.index, i);
            assert.ok(chunk.end > chunk.start, 'every chunk has positive length');
            assert.ok(chunk.end - chunk.start <= c.maxChunkSeconds + 1e-9, 'chunk within limit');
            if (i > 0) assert.equal(chunk.start, chunks[i - 1]!.end, 'contiguous');
          });
        }),
      );
    });

    it('cuts inside a silence whenever one lay in the search window', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const chunks = planChunks(c);
          const window = Math.min(60, c.maxChunkSeconds / 3);
          const inSilence = (x: number): boolean => c.silences.some((s) => s.start <= x && x <= s.end);
          for (const chunk of chunks.slice(0, -1)) {
            const latest = chunk.start + c.maxChunkSeconds;
            const available = c.silences.some((s) => Math.min(s.end, latest, c.duration) - Math.max(s.start, latest - window) > 0);
            if (available) assert.ok(chunk.cutInSilence, `cut at ${chunk.end} should be in silence`);
            if (chunk.cutInSilence) assert.ok(inSilence(chunk.end), `cut at ${chunk.end} is in a silence`);
            else assert.ok(Math.abs(chunk.end - latest) < 1e-9, 'a cut outside silence is at the limit');
          }
        }),
      );
    });

    it('leaves no short tail when a silence allowed a longer one', () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const chunks = planChunks(c);
          if (chunks.length < 2) return;
          const min = Math.min(30, c.maxChunkSeconds / 4);
          const tail = chunks[chunks.length - 1]!;
          if (tail.end - tail.start >= min) return;
          const from = Math.max(c.duration - c.maxChunkSeconds, chunks[chunks.length - 2]!.start + min);
          const to = c.duration - min;
          const couldMove = c.silences.some((s) => Math.min(s.end, to) - Math.max(s.start, from) > 0);
          assert.ok(!couldMove, `tail of ${tail.end - tail.start} s although a silence lay in [${from}, ${to}]`);
        }),
      );
    });
  });
});

describe('maxChunkSecondsFor', () => {
  // 16 kHz mono 16-bit WAV.
  const wav = 32_000;

  it('uses 90% of the request limit for whisper-1 and unknown models', () => {
    assert.equal(maxChunkSecondsFor('whisper-1', wav), (0.9 * 26_214_400) / wav);
    assert.equal(maxChunkSecondsFor('my-local-model', wav), (0.9 * 26_214_400) / wav);
  });

  it('applies the 1400 s cap of the gpt-4o transcribe family', () => {
    const compressed = 4_000; // 32 kbit/s: the size limit alone would allow ~5900 s
    for (const model of ['gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'gpt-4o-transcribe-diarize', 'gpt-4o-mini-transcribe-2025-03-20']) {
      assert.equal(maxChunkSecondsFor(model, compressed), 1400, model);
    }
    assert.equal(maxChunkSecondsFor('gpt-4o-transcribe', wav), (0.9 * 26_214_400) / wav);
  });

  it('takes a custom request limit', () => {
    assert.equal(maxChunkSecondsFor('whisper-1', 1000, 10_000), 9);
  });

  it('rejects a non-positive byte rate', () => {
    assert.throws(() => maxChunkSecondsFor('whisper-1', 0), RangeError);
  });
});
