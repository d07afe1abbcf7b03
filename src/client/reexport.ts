// Rendering export formats again from a run's stored merge result: no provider is called.
// Speaker names given with `speech rename` are applied, and no file another run wrote (or
// one edited since this run wrote it) is replaced without --overwrite.
import path from 'node:path';
import { FORMAT_EXTENSIONS, renderExport, renderOptions, type SubtitleOptions } from '../domain/formats';
import { Failure } from '../domain/failures';
import { withNames } from '../domain/speakers';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef, MergedTranscript } from '../domain/types';
import { createFsArtifactStore } from '../providers/artifact-store';
import { ProviderError } from '../providers/errors';
import { readOutputLedger, recordOutputs, writeOutput } from '../providers/output-files';
import { readSpeakerNames } from '../providers/speaker-names';
import { UsageError } from './errors';

export interface ReexportRequest {
  merged: ArtifactRef;
  formats: ExportFormat[];
  outDir: string;
  baseName: string;
  render?: { subtitles?: Partial<SubtitleOptions> } | undefined;
  overwrite?: boolean | undefined;
  /** Files the run is known to have written besides its ledger (the state record's outputs, for runs of earlier releases). */
  alsoOwned?: ArtifactRef[] | undefined;
}

export async function reexport(opts: ReexportRequest): Promise<ArtifactRef[]> {
  const store = createFsArtifactStore();
  const check = await store.verify(opts.merged);
  if (!check.ok) {
    throw new UsageError(`The stored merge result cannot be used: ${check.detail}`, '`speech run FILE` on the same file recomputes it, reusing the earlier stages that are intact.');
  }
  const interimDir = path.dirname(opts.merged.path);
  const [stored, names, owned] = await Promise.all([store.readJson<MergedTranscript>(opts.merged), readSpeakerNames(interimDir), readOutputLedger(interimDir)]);
  for (const r of opts.alsoOwned ?? []) if (!owned.has(r.path)) owned.set(r.path, r.sha256);
  const merged = withNames(stored, names);
  const options = renderOptions(opts.render);
  const refs: ArtifactRef[] = [];
  try {
    for (const f of opts.formats) {
      const file = path.join(opts.outDir, `${opts.baseName}.${FORMAT_EXTENSIONS[f]}`);
      const ref = await writeOutput(store, file, await renderExport(f, merged, options), { owned, overwrite: opts.overwrite ?? false });
      refs.push({ ...ref, metadata: { format: f } });
    }
  } catch (err) {
    if (err instanceof ProviderError && err.type === Failure.OutputExists) throw new UsageError(err.message);
    throw err;
  } finally {
    if (refs.length > 0) await recordOutputs(store, interimDir, refs);
  }
  return refs;
}
