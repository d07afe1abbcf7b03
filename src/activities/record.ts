// The mirrored state record, written after every stage. Concurrent stages may finish
// in either order, so a write only lands if it is newer than what is on disk.
import { readFile } from 'node:fs/promises';
import type { PipelineState } from '../domain/pipeline';
import { toStateRecord, type StateRecordContext } from '../domain/state-record';
import type { ArtifactRef } from '../domain/types';
import type { ArtifactCheck, ArtifactStore } from '../providers/artifact-store';
import { atBoundary } from './boundary';

export interface RecordStateInput {
  path: string;
  state: PipelineState;
  context: Omit<StateRecordContext, 'workflowId' | 'runId'> & { workflowId: string; runId: string };
}

export function makeRecordActivities(deps: { store: ArtifactStore }) {
  // Writes to one record are serialised within this worker; the revision check covers the rest.
  const queues = new Map<string, Promise<unknown>>();

  async function recordState(input: RecordStateInput): Promise<void> {
    return atBoundary(() => writeRecord(input));
  }

  async function writeRecord(input: RecordStateInput): Promise<void> {
    const prior = queues.get(input.path) ?? Promise.resolve();
    const next = prior.catch(() => undefined).then(async () => {
      const onDisk = await currentRevision(input.path);
      if (onDisk !== null && onDisk.runId === input.context.runId && onDisk.revision > input.state.revision) return;
      await deps.store.writeJson(input.path, toStateRecord(input.state, input.context));
    });
    queues.set(input.path, next);
    try {
      await next;
    } finally {
      if (queues.get(input.path) === next) queues.delete(input.path);
    }
  }

  async function verifyArtifacts(refs: Record<string, ArtifactRef>): Promise<Record<string, ArtifactCheck>> {
    return atBoundary(async () => {
      const out: Record<string, ArtifactCheck> = {};
      for (const [key, ref] of Object.entries(refs)) out[key] = await deps.store.verify(ref);
      return out;
    });
  }

  return { recordState, verifyArtifacts };
}

async function currentRevision(file: string): Promise<{ revision: number; runId: string | null } | null> {
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as { revision?: unknown; run_id?: unknown };
    return { revision: typeof r.revision === 'number' ? r.revision : -1, runId: typeof r.run_id === 'string' ? r.run_id : null };
  } catch {
    return null;
  }
}
