// Rendering export formats again from a run's stored merge result: no provider is called.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FORMAT_EXTENSIONS, renderFormat } from '../domain/formats';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef, MergedTranscript } from '../domain/types';
import { createFsArtifactStore } from '../providers/artifact-store';
import { UsageError } from './errors';

export async function reexport(opts: { merged: ArtifactRef; formats: ExportFormat[]; outDir: string; baseName: string }): Promise<ArtifactRef[]> {
  const store = createFsArtifactStore();
  const check = await store.verify(opts.merged);
  if (!check.ok) {
    throw new UsageError(`The stored merge result cannot be used: ${check.detail}`, '`speech run FILE` on the same file recomputes it, reusing the earlier stages that are intact.');
  }
  const merged = await store.readJson<MergedTranscript>(opts.merged);
  await mkdir(opts.outDir, { recursive: true });
  const refs: ArtifactRef[] = [];
  for (const f of opts.formats) {
    const ref = await store.writeAtomic(path.join(opts.outDir, `${opts.baseName}.${FORMAT_EXTENSIONS[f]}`), renderFormat(f, merged));
    refs.push({ ...ref, metadata: { format: f } });
  }
  return refs;
}
