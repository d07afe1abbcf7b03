// planRun: what `speech run` does with a file, from what Temporal has and what was asked.
import assert from 'node:assert/strict';
import { planRun, type StoredResult } from '../../src/client/run-plan';

const flags = { forceRestart: false, formats: ['json', 'srt'], outDir: '/out/a' };
const stored = (over: Partial<StoredResult> = {}): StoredResult => ({ formats: ['json', 'srt', 'vtt'], outputDir: '/out/a', outputsMissing: false, mergeIntact: true, ...over });

describe('planRun', () => {
  it('starts a run when nothing exists', () => {
    assert.deepEqual(planRun(null, null, flags), { kind: 'start', replaceExisting: false });
  });

  it('attaches to a running run', () => {
    assert.deepEqual(planRun({ status: 'RUNNING', runId: 'r1' }, null, flags), { kind: 'attach', runId: 'r1' });
  });

  it('shows a completed run that has every asked format in the asked folder, and runs nothing', () => {
    assert.deepEqual(planRun({ status: 'COMPLETED', runId: 'r1' }, stored(), flags), { kind: 'stored', runId: 'r1' });
  });

  it('re-renders from the stored merge result for another format, another folder, or a lost output', () => {
    const done = { status: 'COMPLETED', runId: 'r1' };
    assert.equal(planRun(done, stored({ formats: ['json'] }), flags).kind, 're-render');
    assert.equal(planRun(done, stored({ outputDir: '/out/b' }), flags).kind, 're-render');
    assert.equal(planRun(done, stored({ outputsMissing: true }), flags).kind, 're-render');
  });

  it('runs a completed run again, reusing what is intact, when a re-render is needed and its merge result is gone', () => {
    assert.deepEqual(planRun({ status: 'COMPLETED', runId: 'r1' }, stored({ outputDir: '/out/b', mergeIntact: false }), flags), { kind: 'resume', fromRunId: 'r1', afterCompleted: true });
  });

  it('does not need the merge result when nothing has to be rendered', () => {
    assert.equal(planRun({ status: 'COMPLETED', runId: 'r1' }, stored({ mergeIntact: false }), flags).kind, 'stored');
  });

  for (const status of ['FAILED', 'CANCELED', 'TERMINATED', 'TIMED_OUT']) {
    it(`resumes after a ${status.toLowerCase()} run`, () => {
      assert.deepEqual(planRun({ status, runId: 'r9' }, null, flags), { kind: 'resume', fromRunId: 'r9', afterCompleted: false });
    });
  }

  it('--force-restart starts afresh whatever exists, replacing it', () => {
    for (const status of ['RUNNING', 'COMPLETED', 'FAILED']) {
      assert.deepEqual(planRun({ status, runId: 'r1' }, stored(), { ...flags, forceRestart: true }), { kind: 'start', replaceExisting: true });
    }
    assert.deepEqual(planRun(null, null, { ...flags, forceRestart: true }), { kind: 'start', replaceExisting: false });
  });
});
