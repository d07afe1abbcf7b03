// Durations as written on the command line (`speech cleanup --older-than`).
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/domain/duration';

describe('parseDuration / formatDuration', () => {
  it('reads one or more unit-suffixed numbers', () => {
    assert.equal(parseDuration('90m'), 90 * 60_000);
    assert.equal(parseDuration('36h'), 36 * 3_600_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    assert.equal(parseDuration('1d12h'), 36 * 3_600_000);
    assert.equal(parseDuration('1.5h'), 90 * 60_000);
    assert.equal(parseDuration('0s'), 0);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration(' 1D 12H '), 36 * 3_600_000);
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['', '7', 'abc', '-3d', '1h2h', '3 days', '1y', 'd', '1.h']) assert.equal(parseDuration(bad), null, bad);
  });

  it('prints the largest unit and the next one', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(450), '450ms');
    assert.equal(formatDuration(45_000), '45s');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(36 * 3_600_000), '1d12h');
    assert.equal(formatDuration(7 * 86_400_000), '1w');
    assert.equal(formatDuration(86_400_000 + 5_000), '1d');
    for (const ms of [90_000, 5_400_000, 36 * 3_600_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});
