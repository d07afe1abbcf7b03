// The replay gate's pieces: the recorded histories in test/fixtures/histories/<release>/ and a
// replay of them against the current workflow code, bundled from the sources so a stale
// dist/ can never hide a change.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

export interface RecordedHistory {
  /** `<release>/<scenario>`, e.g. `dbe0714/short-completed`. */
  name: string;
  history: temporal.api.history.v1.IHistory;
}

/** Every recorded history, in release and name order. */
export async function loadRecordedHistories(dir = HISTORIES_DIR): Promise<RecordedHistory[]> {
  const out: RecordedHistory[] = [];
  let releases: string[] = [];
  try {
    releases = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return out;
  }
  for (const release of releases) {
    const files = (await readdir(path.join(dir, release))).filter((f) => f.endsWith('.json') && f !== 'manifest.json').sort();
    for (const f of files) {
      const json = JSON.parse(await readFile(path.join(dir, release, f), 'utf8')) as unknown;
      out.push({ name: `${release}/${f.replace(/\.json$/, '')}`, history: historyFromJSON(json) });
    }
  }
  return out;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;
/** The current workflow code, bundled once per process from src/workflows. */
export function currentWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  const silent = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: silent });
  return bundle;
}

export interface ReplayOutcome {
  name: string;
  error: Error | null;
}

/** Replays each history against the current code; one outcome per history. */
export async function replayAll(histories: RecordedHistory[]): Promise<ReplayOutcome[]> {
  const workflowBundle = await currentWorkflowBundle();
  const outcomes: ReplayOutcome[] = [];
  const byId = new Map(histories.map((h) => [h.name, h]));
  const results = Worker.runReplayHistories({ workflowBundle, replayName: 'replay-gate' }, histories.map((h) => ({ workflowId: h.name, history: h.history })));
  for await (const r of results) {
    outcomes.push({ name: byId.get(r.workflowId)?.name ?? r.workflowId, error: (r.error as Error | undefined) ?? null });
  }
  return outcomes;
}
