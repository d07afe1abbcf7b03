// The chaos drill, bounded for `npm test`: the full drill (`npm run drill:chaos`) at its
// smallest size. Twelve distinct recordings (three cut into chunks) through three `speech
// worker` processes, one SIGKILLed at random every 3–8 s and restarted, the dev server
// restarted once, 5 % of provider requests faulted (429, 500, 503, reset, hang). What it
// checks is in test/helpers/chaos.ts; CHAOS_SEED=N runs the kills and faults of a printed seed.
// (A server outage longer than the client's retries is test/e2e/server-outage.test.ts.)
import assert from 'node:assert/strict';
import { runChaosDrill } from '../helpers/chaos';

describe('chaos drill (bounded): many runs, random kills, a server restart and provider faults at once', function () {
  // Measured at about 3 min on the 2-core build machine under other tests' load.
  this.timeout(400_000);

  it('completes every run with exports identical to clean runs, one diarization job per file, re-sends within what the kills caught in flight, and nothing left behind', async function () {
    const lines: string[] = [];
    const seed = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) : undefined;
    const outcome = await runChaosDrill({
      files: 12,
      chunkedFiles: 3,
      chunkedTurns: [6, 8],
      seed,
      chaosTimeoutMs: 240_000,
      log: (l) => lines.push(l),
    });
    // The figures belong in the test report whether it passes or not.
    console.log(`\n${outcome.report.map((l) => `      ${l}`).join('\n')}\n`);
    const failed = outcome.checks.filter((c) => !c.ok).map((c) => c.what);
    assert.deepEqual(failed, [], `the chaos drill (seed ${outcome.seed}) failed:\n${lines.join('\n')}`);
  });
});
