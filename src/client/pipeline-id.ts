// The pipeline id: the same bytes and result-affecting options give the same id on any machine.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { canonicalOptionsString, slugifyFileName, type PipelineOptions } from '../domain/options';
import { sha256File } from '../providers/artifact-store';

export interface InputIdentity {
  pipelineId: string;
  sha256: string;
  bytes: number;
}

/** Hashes already made by this process, by path, size and modification time (a command looks at a file more than once). */
const hashed = new Map<string, Promise<{ sha256: string; bytes: number }>>();

async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const s = await stat(file);
  const key = `${path.resolve(file)}\0${s.size}\0${s.mtimeMs}`;
  let p = hashed.get(key);
  if (!p) {
    p = sha256File(file);
    p.catch(() => hashed.delete(key));
    hashed.set(key, p);
  }
  return p;
}

export async function identifyInput(file: string, options: PipelineOptions): Promise<InputIdentity> {
  const { sha256, bytes } = await hashFile(file);
  const idHash = createHash('sha256').update(sha256).update('\n').update(canonicalOptionsString(options)).digest('hex');
  return { pipelineId: `speech-${slugifyFileName(path.basename(file))}-${idHash.slice(0, 12)}`, sha256, bytes };
}
