// Reading the mirrored state records under DATA_DIR/checkpoints. One broken record is
// reported as such and never hides the others.
import { statSync } from 'node:fs';
import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkpointsDir, dataPaths } from '../config';
import type { StageName } from '../domain/stages';
import { StateRecordSchema, type StateRecord } from '../domain/state-record';
import { sha256File } from '../providers/artifact-store';
import type { ProbeResult } from '../providers/interfaces';
import { UsageError } from './errors';

export type RecordEntry = { id: string; file: string; record: StateRecord; problem: null } | { id: string; file: string; record: null; problem: string };

export async function loadRecordFile(file: string): Promise<StateRecord> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no state record at ${file}` : `cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON (${(err as Error).message}); the record is damaged.`, 'Inspect or delete it (`speech delete ID`); Temporal still holds the run history.');
  }
  const parsed = StateRecordSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new UsageError(`${file} is not a state record: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'wrong shape'}`);
  }
  return parsed.data;
}

export async function readRecord(dataDir: string, id: string): Promise<StateRecord> {
  return loadRecordFile(dataPaths(dataDir, id).stateRecord);
}

export async function listRecords(dataDir: string): Promise<RecordEntry[]> {
  const dir = checkpointsDir(dataDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    const why = code === 'ENOTDIR' ? 'it is a file, not a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read the checkpoint folder ${dir}: ${why}`, 'Check DATA_DIR and the permissions of the folders under it.');
  }
  const entries: RecordEntry[] = [];
  for (const name of names.filter((n) => n.endsWith('_state.json')).sort()) {
    const file = path.join(dir, name);
    const id = name.slice(0, -'_state.json'.length);
    try {
      entries.push({ id, file, record: await loadRecordFile(file), problem: null });
    } catch (err) {
      entries.push({ id, file, record: null, problem: (err as Error).message });
    }
  }
  return entries;
}

// ---------------------------------------------------------------------------------------
// Helpers of the checkpoint tools (list, show, validate, cleanup, export, delete).

/**
 * Ids become file and folder names under DATA_DIR, so anything that could climb out of it
 * (`..`, slashes) is refused before a path is built from it.
 */
export function checkId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) || id.includes('..') || id.length > 255) {
    throw new UsageError(`"${id}" is not a pipeline id (ids look like speech-interview-1a2b3c4d5e6f)`, 'List runs and their ids with `speech list`.');
  }
  return id;
}

/** The record of one id: null when there is none, a problem when it cannot be used. */
export async function lookupRecord(dataDir: string, id: string): Promise<RecordEntry | null> {
  const file = dataPaths(dataDir, checkId(id)).stateRecord;
  try {
    await lstat(file);
  } catch (err) {
    const e = explainFsError(err, file);
    return e.problem === 'missing' ? null : { id, file, record: null, problem: e.detail };
  }
  try {
    return { id, file, record: await loadRecordFile(file), problem: null };
  } catch (err) {
    return { id, file, record: null, problem: (err as Error).message };
  }
}

export function unknownRun(id: string): UsageError {
  return new UsageError(`no run with id ${id}`, 'List runs and their ids with `speech list`.');
}

/** A record that must be usable: unknown ids and broken records are input errors (exit 1). */
export async function requireRecord(dataDir: string, id: string): Promise<{ file: string; record: StateRecord }> {
  const entry = await lookupRecord(dataDir, id);
  if (!entry) throw unknownRun(id);
  if (entry.problem !== null) throw brokenRecord(entry.problem);
  return { file: entry.file, record: entry.record };
}

/** The error for a record that exists but cannot be used, with the hint that fits the problem. */
export function brokenRecord(problem: string): UsageError {
  const damaged = /is not valid JSON|is not a state record/.test(problem);
  return new UsageError(
    problem,
    damaged
      ? 'Delete the damaged record with `speech delete ID` (the Temporal history stays), or restore it from a backup made with `speech export ID FILE.json`.'
      : 'Check DATA_DIR and the permissions of the folders under it.',
  );
}

export interface RecordedArtifact {
  stage: StageName;
  /** `checkpoint`: a stage's output file; `output`: one file the export stage wrote. */
  kind: 'checkpoint' | 'output';
  path: string;
  sha256: string;
  bytes: number;
  format: string | null;
}

/** Every file a record vouches for: each checkpoint's output_file and each export output, once. */
export function recordedArtifacts(record: StateRecord): RecordedArtifact[] {
  const out: RecordedArtifact[] = [];
  const seen = new Set<string>();
  for (const c of record.checkpoints) {
    const items: RecordedArtifact[] = [
      { stage: c.stage, kind: c.stage === 'export' ? 'output' : 'checkpoint', path: c.output_file, sha256: c.sha256, bytes: c.bytes, format: typeof c.metadata.format === 'string' ? c.metadata.format : null },
      ...(c.outputs ?? []).map((o): RecordedArtifact => ({ stage: c.stage, kind: 'output', path: o.path, sha256: o.sha256, bytes: o.bytes, format: typeof o.metadata?.format === 'string' ? o.metadata.format : null })),
    ];
    for (const a of items) {
      if (!a.path || seen.has(a.path)) continue;
      seen.add(a.path);
      out.push(a);
    }
  }
  return out;
}

export type ArtifactProblem = 'missing' | 'corrupt' | 'unreadable' | 'undecodable';
export interface ArtifactVerdict {
  ok: boolean;
  problem: ArtifactProblem | null;
  detail: string;
  /** For audio: seconds ffprobe reports. */
  audio_seconds?: number | null;
}

/** Why a path cannot be reached, in words (permission, a file where a folder should be, …). */
export function explainFsError(err: unknown, file: string): { problem: 'missing' | 'unreadable'; detail: string } {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { problem: 'missing', detail: `${file} does not exist` };
  if (code === 'ENOTDIR') return { problem: 'unreadable', detail: `${file} cannot be reached: ${firstNonFolder(file) ?? 'a part of the path'} is a file, not a folder` };
  if (code === 'EACCES' || code === 'EPERM') return { problem: 'unreadable', detail: `${file} cannot be read: permission denied` };
  if (code === 'EISDIR') return { problem: 'unreadable', detail: `${file} is a folder, not a file` };
  return { problem: 'unreadable', detail: `${file} cannot be read: ${(err as Error).message}` };
}

function firstNonFolder(file: string): string | null {
  let dir = path.dirname(file);
  const chain: string[] = [];
  while (dir !== path.dirname(dir)) {
    chain.unshift(dir);
    dir = path.dirname(dir);
  }
  for (const d of chain) {
    try {
      if (!statSync(d).isDirectory()) return d;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Checks one recorded file: it exists, has the recorded size and sha256, and (a .wav)
 * decodes to an audio stream longer than zero. `probe` is the ffprobe of the caller.
 */
export async function verifyArtifact(a: Pick<RecordedArtifact, 'path' | 'sha256' | 'bytes'>, probe?: (file: string) => Promise<ProbeResult>): Promise<ArtifactVerdict> {
  let size: number;
  try {
    const s = await stat(a.path);
    if (!s.isFile()) return { ok: false, problem: 'unreadable', detail: `${a.path} is a ${s.isDirectory() ? 'folder' : 'special file'}, not a file` };
    size = s.size;
  } catch (err) {
    const e = explainFsError(err, a.path);
    return { ok: false, problem: e.problem, detail: e.detail };
  }
  let sha256: string;
  try {
    sha256 = (await sha256File(a.path)).sha256;
  } catch (err) {
    return { ok: false, problem: 'unreadable', detail: explainFsError(err, a.path).detail };
  }
  if (sha256 !== a.sha256) {
    const sizeNote = size !== a.bytes ? `, ${size} bytes instead of ${a.bytes}` : ', same size';
    return { ok: false, problem: 'corrupt', detail: `${a.path} does not match its recorded sha256 (${sha256.slice(0, 12)}… instead of ${a.sha256.slice(0, 12)}…${sizeNote})` };
  }
  if (probe && /\.wav$/i.test(a.path)) {
    try {
      const p = await probe(a.path);
      if (p.audioStreams === 0) return { ok: false, problem: 'undecodable', detail: `${a.path} has no audio stream` };
      if (!(p.durationSeconds !== null && p.durationSeconds > 0)) return { ok: false, problem: 'undecodable', detail: `${a.path} decodes to no audio (duration ${p.durationSeconds ?? 'unknown'})` };
      return { ok: true, problem: null, detail: `${p.durationSeconds.toFixed(1)} s of audio`, audio_seconds: p.durationSeconds };
    } catch (err) {
      return { ok: false, problem: 'undecodable', detail: `${a.path} does not decode: ${(err as Error).message}` };
    }
  }
  return { ok: true, problem: null, detail: 'intact' };
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Bytes under a path (a file or a whole folder); 0 when it does not exist. Links are not followed. */
export async function pathSize(p: string): Promise<number> {
  let s;
  try {
    s = await lstat(p);
  } catch {
    return 0;
  }
  if (!s.isDirectory()) return s.size;
  let total = 0;
  let names: string[];
  try {
    names = await readdir(p);
  } catch (err) {
    throw new UsageError(explainFsError(err, p).detail.replace(/cannot be read/, 'cannot be listed'));
  }
  for (const n of names) total += await pathSize(path.join(p, n));
  return total;
}

/** What belongs to one run on disk, and would go with `speech delete` / `speech cleanup`. */
export interface RunFiles {
  id: string;
  record: string | null;
  /** Folders removed whole: the interim folder, and the outputs folder with includeOutputs. */
  folders: { path: string; kind: 'interim' | 'outputs' }[];
  /** Single files removed (outputs written into a user's own --out folder). */
  files: string[];
  bytes: number;
}

/**
 * The record, the interim folder and, with `includeOutputs`, the outputs of one run.
 * Only folders named after the id are removed whole; outputs in a user's own --out
 * folder are removed file by file, as recorded, never the folder.
 */
export async function runFiles(dataDir: string, id: string, record: StateRecord | null, opts: { includeOutputs: boolean }): Promise<RunFiles> {
  const paths = dataPaths(dataDir, checkId(id));
  const folders = new Map<string, 'interim' | 'outputs'>();
  const files = new Set<string>();
  const recordFile = (await exists(paths.stateRecord)) ? paths.stateRecord : null;
  const folderCandidates: [string, 'interim' | 'outputs'][] = [[paths.interimDir, 'interim']];
  if (record?.interim_dir && path.basename(record.interim_dir) === id) folderCandidates.push([record.interim_dir, 'interim']);
  if (opts.includeOutputs) {
    folderCandidates.push([paths.outputDir, 'outputs']);
    if (record?.output_dir && path.basename(record.output_dir) === id) folderCandidates.push([record.output_dir, 'outputs']);
  }
  for (const [f, kind] of folderCandidates) {
    try {
      const s = await lstat(f);
      if (!s.isDirectory()) throw new UsageError(`${f} should be a folder but is a file; remove or rename it by hand`);
      folders.set(path.resolve(f), kind);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const e = explainFsError(err, f);
      if (e.problem !== 'missing') throw new UsageError(e.detail);
    }
  }
  if (opts.includeOutputs && record) {
    for (const a of recordedArtifacts(record)) {
      if (a.kind !== 'output') continue;
      const abs = path.resolve(a.path);
      if ([...folders.keys()].some((d) => abs.startsWith(d + path.sep))) continue;
      if (await exists(abs)) files.add(abs);
    }
  }
  let bytes = recordFile ? await pathSize(recordFile) : 0;
  for (const d of folders.keys()) bytes += await pathSize(d);
  for (const f of files) bytes += await pathSize(f);
  return { id, record: recordFile, folders: [...folders].map(([p, kind]) => ({ path: p, kind })), files: [...files], bytes };
}

/** Removes what `runFiles` found: files first, the record last, so a crash leaves it findable. */
export async function removeRunFiles(r: RunFiles): Promise<void> {
  for (const f of r.files) await rm(f, { force: true });
  for (const d of r.folders) await rm(d.path, { recursive: true, force: true });
  if (r.record) await rm(r.record, { force: true });
}
