// Asserting how an activity failed: the failure type, whether Temporal may retry it, after
// what delay, and what it says.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';

export interface ExpectedFailure {
  type: string;
  nonRetryable: boolean;
  retryDelayMs?: number;
  message?: RegExp;
}

export async function expectFailure(p: Promise<unknown>, want: ExpectedFailure): Promise<ApplicationFailure> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  const err = caught;
  assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
  assert.equal(err.type, want.type, err.message);
  assert.equal(err.nonRetryable, want.nonRetryable, `nonRetryable for ${err.type}`);
  assert.equal(err.nextRetryDelay == null ? undefined : msToNumber(err.nextRetryDelay), want.retryDelayMs);
  if (want.message) assert.match(err.message, want.message);
  return err;
}
