// Rendering export formats again from a run's stored merge result: no provider is called.
// Speaker names given with `speech rename` are applied, and no file another run wrote (or
// one edited since this run wrote it) is replaced without --overwrite.
import { Failure } from '../domain/failures';
import type { ArtifactRef } from '../domain/types';
import { createFsArtifactStore } from '../providers/artifact-store';
import { ProviderError } from '../providers/errors';
import { writeExports, type ExportRequest } from '../providers/output-files';
import { UsageError } from './errors';

/** As the export activity's request; `overwrite` defaults to off. */
export type ReexportRequest = Omit<ExportRequest, 'overwrite'> & { overwrite?: boolean | undefined };

export async function reexport(opts: ReexportRequest): Promise<ArtifactRef[]> {
  const store = createFsArtifactStore();
  const check = await store.verify(opts.merged);
  if (!check.ok) {
    throw new UsageError(`The stored merge result cannot be used: ${check.detail}`, '`speech run FILE` on the same file recomputes it, reusing the earlier stages that are intact.');
  }
  try {
    return await writeExports(store, { ...opts, overwrite: opts.overwrite ?? false });
  } catch (err) {
    if (err instanceof ProviderError && err.type === Failure.OutputExists) throw new UsageError(err.message);
    throw err;
  }
}
