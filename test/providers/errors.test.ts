// Retry-After parsing: the delay a rate-limited activity waits before Temporal retries it.
import assert from 'node:assert/strict';
import { parseRetryAfter } from '../../src/providers/errors';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-14T12:00:00Z');

  it('reads integer and fractional seconds', () => {
    assert.equal(parseRetryAfter('7', now), 7);
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('120', now), 120);
    assert.equal(parseRetryAfter('1.5', now), 1.5);
  });

  it('reads an HTTP date as the seconds from now until then', () => {
    assert.equal(parseRetryAfter('Fri, 14 Mar 2025 12:00:30 GMT', now), 30);
    assert.equal(parseRetryAfter('Fri, 14 Mar 2025 12:02:00 GMT', now), 120);
  });

  it('gives 0 for an HTTP date already past', () => {
    assert.equal(parseRetryAfter('Fri, 14 Mar 2025 11:59:00 GMT', now), 0);
  });

  it('gives undefined when there is no usable value', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});
