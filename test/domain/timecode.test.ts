import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatClock,
  formatSecondsFixed,
  formatSrtTime,
  formatVttTime,
  parseTimecode,
  toMilliseconds,
} from '../../src/domain/timecode';

describe('timecode', () => {
  it('formats the three styles', () => {
    assert.equal(formatSrtTime(1.5), '00:00:01,500');
    assert.equal(formatVttTime(1.5), '00:00:01.500');
    assert.equal(formatClock(1.5), '00:00:01');
    assert.equal(formatSrtTime(0), '00:00:00,000');
  });

  it('handles times past one hour and past ten hours', () => {
    assert.equal(formatSrtTime(3725.5), '01:02:05,500');
    assert.equal(formatVttTime(3725.5), '01:02:05.500');
    assert.equal(formatClock(3725.5), '01:02:05');
    assert.equal(formatSrtTime(36_000 + 59 * 60 + 59.999), '10:59:59,999');
    assert.equal(formatClock(100 * 3600 + 1), '100:00:01');
  });

  it('carries rounding into the next second, minute and hour', () => {
    assert.equal(formatSrtTime(1.9996), '00:00:02,000');
    assert.equal(formatSrtTime(59.9999), '00:01:00,000');
    assert.equal(formatVttTime(3599.9995), '01:00:00.000');
    assert.equal(formatClock(3599.9995), '01:00:00');
  });

  it('rounds decimal halves up although their binary value is just below', () => {
    // 4.0005 * 1000 is 4000.4999999999995 in binary floating point; the provider meant 4.0005.
    assert.equal(formatSrtTime(4.0005), '00:00:04,001');
    assert.equal(formatSrtTime(2.0004), '00:00:02,000');
    assert.equal(toMilliseconds(0.1 + 0.2), 300);
  });

  it('truncates the clock to the second shown by the SRT time', () => {
    assert.equal(formatClock(3.9), '00:00:03');
    assert.equal(formatSrtTime(3.9), '00:00:03,900');
  });

  it('clamps negative and non-finite input to zero', () => {
    assert.equal(formatSrtTime(-3), '00:00:00,000');
    assert.equal(formatVttTime(Number.NaN), '00:00:00.000');
    assert.equal(formatClock(Number.POSITIVE_INFINITY), '00:00:00');
  });

  it('formats fixed three-decimal seconds', () => {
    assert.equal(formatSecondsFixed(3725.5), '3725.500');
    assert.equal(formatSecondsFixed(0.0004), '0.000');
    assert.equal(formatSecondsFixed(12.3456), '12.346');
  });

  it('parses time codes and rejects malformed ones', () => {
    assert.equal(parseTimecode('01:02:05,500'), 3725.5);
    assert.equal(parseTimecode('01:02:05.500'), 3725.5);
    assert.equal(parseTimecode('100:00:01'), 360_001);
    assert.equal(parseTimecode('1:02:05,500'), null);
    assert.equal(parseTimecode('00:60:00,000'), null);
    assert.equal(parseTimecode('00:00:01,5'), null);
  });

  describe('properties', () => {
    // Up to ~30 hours, so both the one-hour and ten-hour boundaries are crossed often.
    const millis = fc.integer({ min: 0, max: 30 * 3_600_000 });
    const seconds = fc.double({ min: 0, max: 30 * 3600, noNaN: true });

    it('round-trips whole milliseconds exactly in SRT and VTT', () => {
      fc.assert(
        fc.property(millis, (ms) => {
          assert.equal(parseTimecode(formatSrtTime(ms / 1000)), ms / 1000);
          assert.equal(parseTimecode(formatVttTime(ms / 1000)), ms / 1000);
        }),
      );
    });

    it('is within half a millisecond of any input and well-formed', () => {
      fc.assert(
        fc.property(seconds, (s) => {
          const text = formatSrtTime(s);
          assert.match(text, /^\d{2,}:[0-5]\d:[0-5]\d,\d{3}$/);
          const back = parseTimecode(text);
          assert.ok(back !== null && Math.abs(back - s) <= 0.0005 + 1e-9, `${s} -> ${text}`);
        }),
      );
    });

    it('is monotonic', () => {
      fc.assert(
        fc.property(seconds, seconds, (a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          assert.ok((parseTimecode(formatSrtTime(lo)) ?? -1) <= (parseTimecode(formatSrtTime(hi)) ?? -1));
          assert.ok((parseTimecode(formatClock(lo)) ?? -1) <= (parseTimecode(formatClock(hi)) ?? -1));
        }),
      );
    });

    it('agrees between clock and SRT on hours, minutes and seconds', () => {
      fc.assert(
        fc.property(seconds, (s) => {
          assert.equal(formatSrtTime(s).slice(0, -4), formatClock(s));
        }),
      );
    });
  });
});
