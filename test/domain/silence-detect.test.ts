import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type DetectedSilence, SilenceDetector } from '../../src/domain/silence-detect';

/** The definition, sample by sample: runs of |x| below the threshold at least minSamples long. */
function reference(pcm: Int16Array, rate: number, noiseDb: number, minSeconds: number): DetectedSilence[] {
  const threshold = 10 ** (noiseDb / 20) * 32768;
  const min = Math.max(1, Math.round(minSeconds * rate));
  const out: DetectedSilence[] = [];
  let runStart = -1;
  for (let i = 0; i <= pcm.length; i++) {
    const quiet = i < pcm.length && Math.abs(pcm[i]!) < threshold;
    if (quiet && runStart < 0) runStart = i;
    if (!quiet && runStart >= 0) {
      if (i - runStart >= min) out.push({ start: runStart / rate, end: i / rate });
      runStart = -1;
    }
  }
  return out;
}

function detect(pcm: Int16Array, rate: number, noiseDb: number, minSeconds: number, cuts: number[]): DetectedSilence[] {
  const d = new SilenceDetector(rate, { noiseDb, minSeconds });
  let from = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < pcm.length)].sort((a, b) => a - b)) {
    d.push(pcm.subarray(from, c));
    from = c;
  }
  d.push(pcm.subarray(from));
  assert.equal(d.samples, pcm.length);
  return d.finish();
}

describe('SilenceDetector', () => {
  it('reports a run of quiet samples from its first sample to the first loud one after it', () => {
    const rate = 100;
    const pcm = new Int16Array(100).fill(5000);
    pcm.fill(0, 20, 60); // 0.4 s quiet
    pcm.fill(300, 70, 80); // 0.1 s quiet: too short at 0.3 s
    assert.deepEqual(detect(pcm, rate, -35, 0.3, []), [{ start: 0.2, end: 0.6 }]);
  });

  it('ends a silence still open at the end of the audio there, and finds one at the start', () => {
    const pcm = new Int16Array(100).fill(0);
    pcm.fill(-9000, 40, 50);
    assert.deepEqual(detect(pcm, 100, -35, 0.3, [45, 90]), [
      { start: 0, end: 0.4 },
      { start: 0.5, end: 1 },
    ]);
  });

  it('uses the threshold on both polarities: -35 dBFS is |x| < 582.7', () => {
    const pcm = new Int16Array(60).fill(582);
    pcm[10] = -583;
    pcm[40] = 583;
    assert.deepEqual(detect(pcm, 10, -35, 2, []), [{ start: 1.1, end: 4 }]);
  });

  it('finds the same silences as the sample-by-sample definition, however the audio is split into blocks', () => {
    fc.assert(
      fc.property(
        // Bursts of loud and quiet samples, so runs of every length occur.
        fc.array(fc.record({ len: fc.integer({ min: 1, max: 60 }), level: fc.constantFrom(0, 100, 581, 583, 2000, -582, -584, -30000) }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 2500 }), { maxLength: 6 }),
        (bursts, minSamples, cuts) => {
          const pcm = new Int16Array(bursts.flatMap((b) => Array<number>(b.len).fill(b.level)));
          const rate = 1000;
          const minSeconds = minSamples / rate;
          assert.deepEqual(detect(pcm, rate, -35, minSeconds, cuts), reference(pcm, rate, -35, minSeconds));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('refuses settings that cannot describe a silence', () => {
    assert.throws(() => new SilenceDetector(0, { noiseDb: -35, minSeconds: 0.3 }), RangeError);
    assert.throws(() => new SilenceDetector(16000, { noiseDb: -35, minSeconds: 0 }), RangeError);
  });
});
