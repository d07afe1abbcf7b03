// The replay gate: every workflow history recorded from an earlier release must replay on the
// current workflow code. A failure here means a run open across an upgrade would be stuck:
// put the change behind `patched()` (see the README, "Changing workflow code").
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { HISTORIES_DIR, loadRecordedHistories, replayAll, type RecordedHistory } from '../helpers/replay';
import { quietRuntime } from '../helpers/temporal';

/** The situations every release records (scripts/record-histories.ts); later releases add more. */
const SCENARIOS = [
  'short-completed',
  'chunked-completed',
  'worker-killed-mid-transcription',
  'cancelled-mid-transcription',
  'failed-refused-key',
  'resumed-after-failure',
  'completed-rerendered-merge-lost',
];

describe('replay gate: recorded histories of every release replay on the current workflow code', function () {
  this.timeout(120_000);
  let histories: RecordedHistory[];

  before(async () => {
    quietRuntime();
    histories = await loadRecordedHistories();
  });

  it('has recorded histories, each release with every scenario', () => {
    assert.ok(histories.length > 0, `no histories under ${HISTORIES_DIR}: record them with \`npm run record-histories\``);
    const releases = new Map<string, string[]>();
    for (const h of histories) {
      const [release, scenario] = h.name.split('/') as [string, string];
      releases.set(release, [...(releases.get(release) ?? []), scenario]);
    }
    for (const [release, scenarios] of releases) {
      for (const s of SCENARIOS) assert.ok(scenarios.includes(s), `release ${release} has no ${s} history`);
    }
  });

  it('replays every recorded history without a nondeterminism or workflow-task failure', async () => {
    const outcomes = await replayAll(histories);
    assert.equal(outcomes.length, histories.length);
    const failed = outcomes.filter((o) => o.error);
    console.log(`      replayed ${outcomes.length} histories:\n${outcomes.map((o) => `        ${o.error ? 'FAIL' : 'ok  '} ${o.name}`).join('\n')}`);
    assert.deepEqual(
      failed.map((o) => `${o.name}: ${o.error!.message.split('\n')[0]}`),
      [],
      'these recorded runs would be stuck after an upgrade to this code',
    );
  });

  it('fails a history whose commands the code does not issue (the gate can fail)', async () => {
    // The recorded short run, with its first scheduled activity renamed: what replay sees when
    // the code was changed to schedule something else at that point without `patched()`.
    const release = histories[0]!.name.split('/')[0]!;
    const json = JSON.parse(await readFile(path.join(HISTORIES_DIR, release, 'short-completed.json'), 'utf8')) as { events: Record<string, { activityType?: { name: string } }>[] };
    const first = json.events.find((e) => e.activityTaskScheduledEventAttributes)!;
    first.activityTaskScheduledEventAttributes!.activityType!.name = 'renamedActivity';
    const [outcome] = await replayAll([{ name: 'mutated/short-completed', history: historyFromJSON(json) }]);
    assert.ok(outcome?.error, 'a history that does not match the code must fail replay');
    assert.match(outcome.error.message, /renamedActivity|does not match|Nondeterminism/i);
  });
});
