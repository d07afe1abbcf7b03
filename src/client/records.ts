// Reading the mirrored state records under DATA_DIR/checkpoints. One broken record is
// reported as such and never hides the others.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { checkpointsDir, dataPaths } from '../config';
import { StateRecordSchema, type StateRecord } from '../domain/state-record';
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UsageError(`cannot read the checkpoint folder ${dir}: ${(err as Error).message}`);
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
