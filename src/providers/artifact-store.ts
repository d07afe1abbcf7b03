// The artifact store on a file system (local disk or a shared mount): atomic writes,
// streamed sha256, verification of recorded references.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactRef } from '../domain/types';

export type ArtifactCheck = { ok: true } | { ok: false; problem: 'missing' | 'corrupt' | 'unreadable'; detail: string };

export interface ArtifactStore {
  /** Writes `data` to `file` atomically (temporary file in the same folder, then rename). */
  writeAtomic(file: string, data: string | Buffer): Promise<ArtifactRef>;
  writeJson(file: string, value: unknown): Promise<ArtifactRef>;
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

export function createFsArtifactStore(): ArtifactStore {
  const tempPathFor = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);

  const store: ArtifactStore = {
    tempPathFor,

    async commit(tempFile, file) {
      await rename(tempFile, file);
    },

    async writeAtomic(file, data) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = tempPathFor(file);
      try {
        await writeFile(tmp, data);
        await rename(tmp, file);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      return { path: file, sha256: createHash('sha256').update(buf).digest('hex'), bytes: buf.length };
    },

    writeJson(file, value) {
      return store.writeAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
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
