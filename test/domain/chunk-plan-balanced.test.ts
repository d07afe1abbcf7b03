import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parallelChunkCount, planBalancedChunks, planCutsAudio } from '../../src/domain/chunk-plan';

describe('planBalancedChunks', () => {
  it('keeps audio that fits in one request as one chunk', () => {
    assert.deepEqual(planBalancedChunks({ duration: 500, silences: [], maxChunkSeconds: 600, lanes: 8 }), [{ index: 0, start: 0, end: 500, cutInSilence: false }]);
  });

  it('gives eight lanes sixteen equal shares of two hours instead of twelve full chunks and a tail', () => {
    const plan = planBalancedChunks({ duration: 7200, silences: [], maxChunkSeconds: 600, lanes: 8 });
    assert.equal(plan.length, 16);
    for (const c of plan) assert.ok(Math.abs(c.end - c.start - 450) < 1e-6);
  });

  it('cuts two hours on eight lanes into 64 chunks with eight per lane, so at most an eighth is in flight', () => {
    const plan = planBalancedChunks({ duration: 7200, silences: [], maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8 });
    assert.equal(plan.length, 64);
    for (const c of plan) assert.ok(Math.abs(c.end - c.start - 112.5) < 1e-6);
  });

  it('keeps chunks at the limit when the limit already needs more than eight per lane (a whole day)', () => {
    const plan = planBalancedChunks({ duration: 86_400, silences: [], maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8 });
    assert.equal(plan.length, 144);
  });

  it('does not go below a minute per chunk to reach eight per lane, and keeps whole rounds of the lanes', () => {
    const plan = planBalancedChunks({ duration: 1800, silences: [], maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8 });
    assert.equal(plan.length, 24);
    for (const c of plan) assert.ok(c.end - c.start >= 60);
  });

  it('moves each cut to the silence nearest its share', () => {
    const plan = planBalancedChunks({ duration: 1000, silences: [{ start: 240, end: 242 }, { start: 262, end: 263 }, { start: 520, end: 521 }, { start: 748, end: 750 }], maxChunkSeconds: 300, lanes: 4 });
    assert.deepEqual(plan.map((c) => c.end), [241, 520.5, 749, 1000]);
    assert.deepEqual(plan.map((c) => c.cutInSilence), [true, true, true, false]);
  });

  it('does not make chunks shorter than a minute to fill lanes', () => {
    const plan = planBalancedChunks({ duration: 130, silences: [], maxChunkSeconds: 100, lanes: 8 });
    assert.equal(plan.length, 2);
  });

  it('cuts audio that fits in one request into one chunk per parallel slot, at silences, each a minute or more', () => {
    const silences = [{ start: 100, end: 101 }, { start: 128, end: 129 }, { start: 200, end: 201 }];
    const plan = planBalancedChunks({ duration: 258.6, silences, maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8, parallelRequests: 2 });
    assert.deepEqual(plan, [
      { index: 0, start: 0, end: 128.5, cutInSilence: true },
      { index: 1, start: 128.5, end: 258.6, cutInSilence: false },
    ]);
    // No chunk under a minute: 150 s on four slots is two chunks, 100 s stays whole.
    assert.equal(planBalancedChunks({ duration: 150, silences: [], maxChunkSeconds: 600, lanes: 8, parallelRequests: 4 }).length, 2);
    assert.equal(planBalancedChunks({ duration: 100, silences: [], maxChunkSeconds: 600, lanes: 8, parallelRequests: 2 }).length, 1);
    assert.deepEqual([parallelChunkCount(119, 2), parallelChunkCount(120, 2), parallelChunkCount(3000, 3), parallelChunkCount(3000, 1)], [1, 2, 3, 1]);
    // Audio longer than one request is planned as before: the slots change nothing there.
    assert.deepEqual(
      planBalancedChunks({ duration: 7200, silences: [], maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8, parallelRequests: 2 }),
      planBalancedChunks({ duration: 7200, silences: [], maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8 }),
    );
    assert.deepEqual([planCutsAudio(500, 600), planCutsAudio(500, 600, 2), planCutsAudio(90, 600, 2), planCutsAudio(700, 600)], [false, true, false, true]);
  });

  it('covers the audio exactly once with every chunk under the limit, in a multiple of the lanes where it can (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 20_000, noNaN: true }),
        fc.double({ min: 30, max: 1500, noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0.05, max: 5, noNaN: true })), { maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        (duration, max, lanes, chunksPerLane, raw, parallelRequests) => {
          const silences = raw.map(([p, len]) => ({ start: p * duration, end: Math.min(duration, p * duration + len) }));
          const plan = planBalancedChunks({ duration, silences, maxChunkSeconds: max, lanes, chunksPerLane, parallelRequests });
          assert.equal(plan[0]!.start, 0);
          assert.equal(plan[plan.length - 1]!.end, duration);
          plan.forEach((c, i) => {
            assert.equal(c.index, i);
            assert.ok(c.end > c.start, `empty chunk ${i}`);
            assert.ok(c.end - c.start <= max + 1e-6, `chunk ${i} is ${c.end - c.start} s > ${max}`);
            if (i > 0) assert.equal(c.start, plan[i - 1]!.end);
          });
          const needed = Math.ceil(duration / max - 1e-9);
          if (needed <= 1) assert.equal(plan.length, parallelChunkCount(duration, parallelRequests));
          if (needed > 1 && duration / (lanes * Math.ceil(needed / lanes)) >= 60) assert.equal(plan.length % lanes, 0, `${plan.length} chunks for ${lanes} lanes`);
          // What can be in flight at once (the longest chunk on each lane) is about 1/chunksPerLane
          // of the audio, when minute-long chunks allow that many.
          if (needed > 1 && duration / (lanes * chunksPerLane) >= 60) {
            const share = duration / Math.max(needed, lanes * chunksPerLane);
            for (const c of plan) assert.ok(c.end - c.start <= Math.min(max, share + 2 * Math.min(30, share / 4)) + 1e-6, `chunk of ${c.end - c.start} s, share ${share}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
