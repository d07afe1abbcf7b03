import assert from 'node:assert/strict';
import { createProgressDisplay, finalStageLines, shortDuration, type FinalStages } from '../../src/client/progress-display';
import type { ProgressSnapshot } from '../../src/domain/pipeline';
import { STAGES } from '../../src/domain/stages';

function snapshot(statuses: string[], percent: number, chunks = { total: 0, done: 0, inFlight: [] as number[] }): ProgressSnapshot {
  const stages = Object.fromEntries(STAGES.map((s, i) => [s, { status: statuses[i], startedAt: null, completedAt: null, durationMs: statuses[i] === 'completed' ? 1200 : null, artifact: null, reused: false, error: null }]));
  return { pipelineId: 'p', inputFile: '/x/a.wav', status: 'running', createdAt: '', updatedAt: '', currentStage: null, stages, chunks, chunkPlan: null, audioSeconds: 10, error: null, revision: 1, percent } as unknown as ProgressSnapshot;
}

const allDone: FinalStages = Object.fromEntries(STAGES.map((s) => [s, { status: 'completed', durationMs: 1500, reused: s === 'audio_conversion' }])) as FinalStages;

describe('progress display', () => {
  it("says the completions the last look missed, from the run's result", () => {
    const last = snapshot(['completed', 'completed', 'completed', 'running', 'pending'], 90);
    assert.deepEqual(finalStageLines(last, allDone), ['  merge             completed in 1.5 s', '  export            completed in 1.5 s']);
    assert.equal(finalStageLines(null, allDone).length, 5);
    assert.match(finalStageLines(null, allDone)[0]!, /audio_conversion +completed \(reused from an earlier run\)/);
  });

  it('writes plain lines when not on a terminal: every change, and every stage at the end', () => {
    const out: string[] = [];
    const display = createProgressDisplay({ tty: false, write: (l) => out.push(l) });
    const single = display.track('/x/a.wav', { detailed: true });
    single.update(snapshot(['completed', 'running', 'running', 'pending', 'pending'], 20));
    single.completed(allDone);
    assert.deepEqual(out.slice(-3), ['  transcription     completed in 1.5 s', '  merge             completed in 1.5 s', '  export            completed in 1.5 s']);
    const batch = display.track('/x/b.wav', { detailed: false });
    batch.update({ ...snapshot(['completed', 'completed', 'running', 'pending', 'pending'], 55, { total: 8, done: 4, inFlight: [] }), currentStage: 'transcription' } as ProgressSnapshot);
    batch.completed(allDone);
    assert.deepEqual(out.slice(-2), ['b.wav: transcription 55% chunks 4/8', 'b.wav: done 100%']);
  });

  it('gives short durations', () => {
    assert.deepEqual([0, 42_400, 185_000, 3_725_000].map(shortDuration), ['0s', '42s', '3m05s', '1h02m']);
  });
});
