// How a user may name a run on the command line: its pipeline id, a unique start of it (with
// or without `speech-`), `last` for the run updated most recently, or the path of its input
// file (the newest run of that file, found by path or, for a moved file, by its sha256).
// Resolved from the state records under DATA_DIR; anything else is passed on as an id.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../providers/artifact-store';
import { UsageError } from './errors';
import { listRecords, type RecordEntry } from './records';

type Usable = RecordEntry & { problem: null };

const newestFirst = (a: Usable, b: Usable) => b.record.updated_at.localeCompare(a.record.updated_at);

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function resolveRunRef(dataDir: string, ref: string): Promise<string> {
  const entries = await listRecords(dataDir);
  const usable = entries.filter((e): e is Usable => e.problem === null).sort(newestFirst);
  if (entries.some((e) => e.id === ref)) return ref;

  if (ref === 'last') {
    const newest = usable[0];
    if (!newest) throw new UsageError('there is no run yet to call `last`', 'Start one with `speech run FILE`.');
    return newest.id;
  }

  if (ref.includes('/') || ref.includes('\\') || (await isFile(ref))) {
    const abs = path.resolve(ref);
    if (!(await isFile(abs))) {
      throw new UsageError(`"${ref}" is not a pipeline id (ids look like speech-interview-1a2b3c4d5e6f), and no file has that path`, 'Name a run by its id (`speech list`), a unique start of it, `last`, or its input file.');
    }
    const byPath = usable.filter((e) => e.record.input_file === abs);
    if (byPath[0]) return byPath[0].id;
    const { sha256 } = await sha256File(abs);
    const byContent = usable.filter((e) => e.record.input_sha256 === sha256);
    if (byContent[0]) return byContent[0].id;
    throw new UsageError(`no run of ${ref} yet`, `Start one with \`speech run ${ref}\`.`);
  }

  const matches = entries.filter((e) => e.id.startsWith(ref) || e.id.startsWith(`speech-${ref}`));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((e) => e.id).join(', ');
    throw new UsageError(`"${ref}" names ${matches.length} runs: ${shown}${matches.length > 5 ? ', …' : ''}`, 'Give more of the id, or the input file.');
  }
  return ref;
}
