// Output files (transcripts, subtitles) in folders people own: never silently replaced.
// A pipeline keeps the list of outputs it wrote (path + sha256) in `outputs.json` in its
// interim folder. An existing file may be replaced only when it holds exactly the bytes about
// to be written, or is one this pipeline wrote and nobody changed since, or the user said
// --overwrite. Anything else (another run's transcript, a file the user edited) is refused.
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Failure } from '../domain/failures';
import { FORMAT_EXTENSIONS, renderExport, renderOptions, type ExportData, type SubtitleOptions } from '../domain/formats';
import { withNames } from '../domain/speakers';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef } from '../domain/types';
import type { ArtifactStore } from './artifact-store';
import { digest, diskFullError, isDiskFullError, isPieces, removeDeadWritersTemporaries, sha256File, writePieces } from './artifact-store';
import { ProviderError } from './errors';
import { readSpeakerNames } from './speaker-names';
import { readMergedTranscript } from './transcript-files';

export const OUTPUT_LEDGER = 'outputs.json';

interface Ledger {
  outputs: { path: string; sha256: string; written_at: string }[];
}

/** The outputs a pipeline wrote, by absolute path → sha256 of what it wrote last. */
export async function readOutputLedger(interimDir: string): Promise<Map<string, string>> {
  try {
    const ledger = JSON.parse(await readFile(path.join(interimDir, OUTPUT_LEDGER), 'utf8')) as Partial<Ledger>;
    return new Map((ledger.outputs ?? []).filter((o) => typeof o.path === 'string' && typeof o.sha256 === 'string').map((o) => [o.path, o.sha256]));
  } catch {
    return new Map();
  }
}

export async function recordOutputs(store: ArtifactStore, interimDir: string, refs: ArtifactRef[]): Promise<void> {
  const owned = await readOutputLedger(interimDir);
  for (const r of refs) owned.set(r.path, r.sha256);
  const now = new Date().toISOString();
  await store.writeJson(path.join(interimDir, OUTPUT_LEDGER), { outputs: [...owned].map(([p, sha256]) => ({ path: p, sha256, written_at: now })) } satisfies Ledger);
}

export type OutputCheck = { ok: true; existing: 'none' | 'identical' | 'ours' | 'overwrite' } | { ok: false; reason: string };

async function currentSha(file: string): Promise<string | null> {
  try {
    return (await sha256File(file)).sha256;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether `file` may be written by the pipeline that owns `owned`; `sha256` is what would be written, when known. */
export async function checkOutput(file: string, opts: { owned: Map<string, string>; overwrite: boolean; sha256?: string }): Promise<OutputCheck> {
  const existing = await currentSha(file);
  if (existing === null) return { ok: true, existing: 'none' };
  if (opts.sha256 !== undefined && existing === opts.sha256) return { ok: true, existing: 'identical' };
  if (opts.owned.get(file) === existing) return { ok: true, existing: 'ours' };
  if (opts.overwrite) return { ok: true, existing: 'overwrite' };
  const wrote = opts.owned.has(file);
  return { ok: false, reason: wrote ? `${file} was changed after this run wrote it` : `${file} already exists and was not written by this run` };
}

export function outputExists(reason: string): ProviderError {
  return new ProviderError(Failure.OutputExists, `${reason}; it is left as it is. Run again with --overwrite to replace it, or --out DIR to write elsewhere.`);
}

/**
 * Writes one output atomically, without replacing a file it may not replace. A new file is
 * linked into place (which fails if another writer got there first), an allowed replacement
 * is renamed over the old one. A full disk fails the temporary file only: the file under the
 * final name stays as it was (or absent), and the temporary is removed.
 */
export async function writeOutput(store: ArtifactStore, file: string, data: ExportData, opts: { owned: Map<string, string>; overwrite: boolean }): Promise<ArtifactRef> {
  // Hashed before anything is written when the check needs it: always for text and bytes (no
  // copy of a string into a Buffer), for pieces only when a file is there to compare with.
  const known = !isPieces(data) || existsSync(file) ? digest(data) : null;
  const check = await checkOutput(file, { ...opts, ...(known ? { sha256: known.sha256 } : {}) });
  if (!check.ok) throw outputExists(check.reason);
  if (check.existing === 'identical') return { path: file, ...known! };
  const tmp = store.tempPathFor(file);
  let ref: ArtifactRef | null = null;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    const written = isPieces(data) ? await writePieces(tmp, data.pieces()) : (await writeFile(tmp, data), known!);
    ref = { path: file, ...written };
    if (check.existing === 'none') {
      try {
        await link(tmp, file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // File systems without hard links (some network and FAT mounts): a plain rename.
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
          await rename(tmp, file);
          return ref;
        }
        if (code !== 'EEXIST') throw err;
        // Someone wrote it between the check and now: judge that file instead.
        const again = await checkOutput(file, { ...opts, sha256: written.sha256 });
        if (!again.ok) throw outputExists(again.reason);
        if (again.existing !== 'identical') await rename(tmp, file);
      }
    } else {
      await rename(tmp, file);
    }
  } catch (err) {
    if (!isDiskFullError(err)) throw err;
    await unlink(tmp).catch(() => undefined);
    throw await diskFullError({ dir: path.dirname(file), writing: path.basename(file), needBytes: (ref ?? known ?? digest(data)).bytes, output: true }, err);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await removeDeadWritersTemporaries(path.dirname(file), { name: path.basename(file) });
  return ref;
}

export interface ExportRequest {
  /** The run's stored merge result; its folder holds the run's speaker names and output ledger. */
  merged: ArtifactRef;
  formats: ExportFormat[];
  outDir: string;
  /** Files are `<baseName>.<ext>`. */
  baseName: string;
  render?: { subtitles?: Partial<SubtitleOptions> } | undefined;
  overwrite: boolean;
  /** Files the run is known to have written besides its ledger (a state record's outputs, for runs of earlier releases). */
  alsoOwned?: ArtifactRef[] | undefined;
}

/**
 * Renders a run's exports from its merge result, with the names given to its speakers, and
 * writes them without replacing what the run may not replace. What was written is added to the
 * run's ledger even when a later format fails, so a retry may replace those files. Used by the
 * export activity and by every re-rendering in the CLI (`speech export`, `rename`, `run`).
 */
export async function writeExports(store: ArtifactStore, req: ExportRequest): Promise<ArtifactRef[]> {
  const interimDir = path.dirname(req.merged.path);
  // Its utterances in columns, made one at a time as each format renders them.
  const [stored, names, owned] = await Promise.all([readMergedTranscript(req.merged.path), readSpeakerNames(interimDir), readOutputLedger(interimDir)]);
  for (const r of req.alsoOwned ?? []) if (!owned.has(r.path)) owned.set(r.path, r.sha256);
  const merged = withNames(stored, names);
  const options = renderOptions(req.render);
  const fileOf = (format: ExportFormat) => path.join(req.outDir, `${req.baseName}.${FORMAT_EXTENSIONS[format]}`);
  // One format at a time, rendered, written and let go: a whole day's transcript renders to
  // tens of MB per format, and holding every rendering at once is what filled a worker's memory.
  const refs: ArtifactRef[] = [];
  let failed = false;
  try {
    for (const [i, format] of req.formats.entries()) {
      const file = fileOf(format);
      try {
        const ref = await writeOutput(store, file, await renderExport(format, merged, options), { owned, overwrite: req.overwrite });
        refs.push({ ...ref, metadata: { format } });
      } catch (err) {
        if (!(err instanceof ProviderError && err.type === Failure.DiskFull)) throw err;
        // What still needs room: this file and the later ones not already there as they are
        // (rendered again one by one, only to be measured).
        const left: string[] = [path.basename(file)];
        let needBytes = 0;
        for (const later of req.formats.slice(i)) {
          const { sha256, bytes } = digest(await renderExport(later, merged, options));
          if (later !== format && (await currentSha(fileOf(later)).catch(() => null)) === sha256) continue;
          if (later !== format) left.push(path.basename(fileOf(later)));
          needBytes += bytes;
        }
        throw await diskFullError({ dir: req.outDir, writing: left.join(', '), needBytes, output: true });
      }
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (refs.length > 0) {
      // What was written is this run's, even when a later format failed; a failure of this
      // bookkeeping (a full DATA_DIR) does not hide the run's own error.
      const recording = recordOutputs(store, interimDir, refs);
      if (failed) await recording.catch(() => undefined);
      else await recording;
    }
  }
  return refs;
}
