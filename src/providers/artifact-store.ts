// The artifact store on a file system (local disk or a shared mount): atomic writes,
// streamed sha256, verification of recorded references, and the one explanation of a full disk.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Failure } from '../domain/failures';
import type { ArtifactRef } from '../domain/types';
import { ProviderError } from './errors';

export type ArtifactCheck = { ok: true } | { ok: false; problem: 'missing' | 'corrupt' | 'unreadable'; detail: string };

/** Text made in pieces, afresh on each call of `pieces` (a whole day's merge result, never held at once). */
export interface TextPieces {
  pieces: () => Iterable<string>;
}

export interface ArtifactStore {
  /** Writes `data` to `file` atomically (temporary file in the same folder, then rename). */
  writeAtomic(file: string, data: string | Buffer | TextPieces): Promise<ArtifactRef>;
  /** Pretty-printed, or on one line with `compact` (large interim results: half the bytes, and half the string held while writing). */
  writeJson(file: string, value: unknown, opts?: { compact?: boolean }): Promise<ArtifactRef>;
  readJson<T>(ref: ArtifactRef | string): Promise<T>;
  /** Hashes an existing file into a reference. */
  describe(file: string, metadata?: ArtifactRef['metadata']): Promise<ArtifactRef>;
  verify(ref: ArtifactRef): Promise<ArtifactCheck>;
  /** A temporary path next to `file`, to be renamed over it when complete. */
  tempPathFor(file: string): string;
  commit(tempFile: string, file: string): Promise<void>;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(file, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** ENOSPC (no space left on the device) or EDQUOT (the disk quota is used up). */
export function isDiskFullError(err: unknown): boolean {
  const code = err && typeof err === 'object' ? (err as NodeJS.ErrnoException).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export interface DiskFullWrite {
  /** The folder written to. */
  dir: string;
  /** What was being written, as the user knows it: a file name, or a list of them. */
  writing: string;
  /** Bytes the write needs; null when not known. */
  needBytes: number | null;
  /** An estimate rather than an exact size. */
  about?: boolean;
  /** The output folder (`--out`) rather than DATA_DIR: what to do differs. */
  output?: boolean;
}

/**
 * The DiskFull failure of a write that found no room (`cause`: its ENOSPC or EDQUOT, when there
 * is one): one line naming the folder, what it needed and what is free there, and what to do.
 * Called after the partial file is removed, so what it says is free is what is free.
 */
export async function diskFullError(w: DiskFullWrite, cause?: unknown): Promise<ProviderError> {
  const fs = await statfs(w.dir).catch(() => null);
  const free = fs ? Number(fs.bavail) * Number(fs.bsize) : null;
  const need = w.needBytes !== null ? `${w.about ? 'about ' : ''}${formatBytes(w.needBytes)}` : null;
  const what = w.output
    ? 'Free some space there or choose another folder with --out DIR, then run the same command again: finished stages are kept.'
    : 'Free some space on that disk (`speech cleanup --dry-run` lists what can go) or set DATA_DIR to a larger one, then run the same command again: finished stages are kept.';
  const folder = w.output ? `the output folder ${w.dir}` : w.dir;
  let head: string;
  if (cause && (cause as NodeJS.ErrnoException).code === 'EDQUOT') {
    head = `Disk quota exceeded in ${folder}: writing ${w.writing} needs ${need ?? 'more room'}, beyond this user's quota there`;
  } else if (fs && Number(fs.ffree) === 0 && Number(fs.files) > 0 && (free === null || w.needBytes === null || free >= w.needBytes)) {
    // Space left, but no file entries: what `df -i` shows, and what a user would not guess.
    head = `No space left in ${folder}: its file system has no free inodes (file entries) for writing ${w.writing}${free !== null ? `, though ${formatBytes(free)} is free` : ''}`;
  } else if (need !== null) {
    head = `No space left in ${folder}: writing ${w.writing} needs ${need}${free !== null ? `, and ${formatBytes(free)} is free there` : ''}`;
  } else {
    head = `No space left in ${folder} for writing ${w.writing}${free !== null ? ` (${formatBytes(free)} is free there)` : ''}`;
  }
  return new ProviderError(Failure.DiskFull, `${head}. ${what}`);
}

/** 1536 → "1.5 KiB", in the units `df -h` and the CLI use. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Temporary files are `.NAME.<pid>-<host>.<random>.tmp` beside their target: the writer's pid
 * and a tag of its host name, so that a worker can tell a temporary left by a killed writer on
 * its own machine (pid gone) from one being written right now, here or by a worker on another
 * machine sharing the folder. Releases before the tag wrote `.NAME.<pid>.<random>.tmp`.
 */
const TEMP_NAME = /^\.(.+)\.(\d+)(?:-([0-9a-f]{6}))?\.[0-9a-f]{8}\.tmp$/;

/** This machine's tag in temporary names. */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);

/** An untagged temporary (an earlier release) is taken for abandoned only when this old and its pid is gone here. */
const UNTAGGED_ABANDONED_AFTER_MS = 3_600_000;

/** The file a temporary path of `tempPathFor` stands for (`.converted.wav.12-ab12cd.ab12cd34.tmp` → `converted.wav`). */
export function finalNameOf(tempFile: string): string {
  const base = path.basename(tempFile);
  return TEMP_NAME.exec(base)?.[1] ?? base;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/**
 * Removes the temporaries whose writer is dead: written on this machine by a process that no
 * longer exists (a worker SIGKILLed between writing and renaming). Under `dir`, for the target
 * `name` only or (recursive) the whole tree. A temporary of a live process, of this process, or
 * of another machine is never touched. Returns the paths removed.
 */
export async function removeDeadWritersTemporaries(dir: string, opts: { name?: string; recursive?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  const now = Date.now();
  const visit = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (opts.recursive) await visit(p);
        continue;
      }
      const m = TEMP_NAME.exec(e.name);
      if (!m || !e.isFile() || (opts.name !== undefined && m[1] !== opts.name)) continue;
      const pid = Number(m[2]);
      if (pid === process.pid || processAlive(pid)) continue;
      if (m[3] === undefined) {
        const s = await stat(p).catch(() => null);
        if (!s || now - s.mtimeMs < UNTAGGED_ABANDONED_AFTER_MS) continue;
      } else if (m[3] !== HOST_TAG) continue;
      await unlink(p).then(
        () => removed.push(p),
        () => undefined,
      );
    }
  };
  await visit(dir);
  return removed;
}

/** Text made in pieces, as against text or bytes held whole. */
export function isPieces(data: string | Buffer | TextPieces): data is TextPieces {
  return typeof data !== 'string' && !Buffer.isBuffer(data);
}

/** sha256 and size of what `data` writes (pieces are made and dropped one at a time). */
export function digest(data: string | Buffer | TextPieces): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const piece of isPieces(data) ? data.pieces() : [data]) {
    hash.update(piece);
    bytes += Buffer.byteLength(piece);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A string is written and hashed as it is (no Buffer copy of a large record). */
async function writeWhole(file: string, data: string | Buffer): Promise<{ sha256: string; bytes: number }> {
  await writeFile(file, data);
  return digest(data);
}

/** Pieces are encoded into one buffer of this size, reused (a Buffer per piece would be MBs of garbage for a whole day). */
const PIECE_BUFFER_BYTES = 1 << 18;

/** Writes the pieces into `file` one at a time, hashing them on the way. */
export async function writePieces(file: string, pieces: Iterable<string>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const buffer = Buffer.allocUnsafe(PIECE_BUFFER_BYTES);
  const fh = await open(file, 'w');
  try {
    for (const piece of pieces) {
      const size = Buffer.byteLength(piece);
      const encoded = size <= buffer.length ? buffer.subarray(0, buffer.write(piece)) : Buffer.from(piece);
      hash.update(encoded);
      bytes += size;
      await fh.write(encoded);
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function createFsArtifactStore(): ArtifactStore {
  const tempPathFor = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${HOST_TAG}.${randomBytes(4).toString('hex')}.tmp`);
  /** A target just written: what a killed earlier writer of it left goes too. */
  const sweep = (file: string) => removeDeadWritersTemporaries(path.dirname(file), { name: path.basename(file) });

  const store: ArtifactStore = {
    tempPathFor,

    async commit(tempFile, file) {
      try {
        await rename(tempFile, file);
      } catch (err) {
        if (isDiskFullError(err)) throw await diskFullError({ dir: path.dirname(file), writing: path.basename(file), needBytes: null }, err);
        throw err;
      }
      await sweep(file);
    },

    async writeAtomic(file, data) {
      const tmp = tempPathFor(file);
      let written: { sha256: string; bytes: number } | null = null;
      try {
        await mkdir(path.dirname(file), { recursive: true });
        written = isPieces(data) ? await writePieces(tmp, data.pieces()) : await writeWhole(tmp, data);
        await rename(tmp, file);
        await sweep(file);
      } catch (err) {
        // The file under its final name is the earlier, complete one (or none): only the
        // temporary is half-written, and it goes.
        await unlink(tmp).catch(() => undefined);
        if (isDiskFullError(err)) throw await diskFullError({ dir: path.dirname(file), writing: path.basename(file), needBytes: (written ?? digest(data)).bytes }, err);
        throw err;
      }
      return { path: file, ...written };
    },

    writeJson(file, value, opts) {
      return store.writeAtomic(file, `${opts?.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`);
    },

    async readJson<T>(ref: ArtifactRef | string): Promise<T> {
      const file = typeof ref === 'string' ? ref : ref.path;
      return JSON.parse(await readFile(file, 'utf8')) as T;
    },

    async describe(file, metadata) {
      const { sha256, bytes } = await sha256File(file);
      return { path: file, sha256, bytes, ...(metadata ? { metadata } : {}) };
    },

    async verify(ref) {
      try {
        const s = await stat(ref.path);
        if (!s.isFile()) return { ok: false, problem: 'missing', detail: `${ref.path} is not a file` };
        if (s.size !== ref.bytes) return { ok: false, problem: 'corrupt', detail: `${ref.path} has ${s.size} bytes, the record says ${ref.bytes}` };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { ok: false, problem: 'missing', detail: `${ref.path} does not exist` };
        return { ok: false, problem: 'unreadable', detail: `${ref.path}: ${(err as Error).message}` };
      }
      try {
        const { sha256 } = await sha256File(ref.path);
        if (sha256 !== ref.sha256) return { ok: false, problem: 'corrupt', detail: `${ref.path} sha256 ${sha256.slice(0, 12)}… differs from the recorded ${ref.sha256.slice(0, 12)}…` };
      } catch (err) {
        return { ok: false, problem: 'unreadable', detail: `${ref.path}: ${(err as Error).message}` };
      }
      return { ok: true };
    },
  };
  return store;
}
