// `speech validate ID`: every file the state record vouches for (each checkpoint's
// output_file and every export output) exists, matches its sha256 and, for audio, decodes.
// Exit code 0 when all hold, 2 when a check failed, 1 for an unknown id or a broken record.
import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../config';
import { createFfmpegProcessor } from '../../providers/ffmpeg';
import { EXIT } from '../errors';
import { humanBytes, printJson } from '../output';
import { checkId, recordedArtifacts, requireRecord, verifyArtifact, type ArtifactVerdict, type RecordedArtifact } from '../records';
import { parseFlags } from './checkpoint-common';

const ValidateFlagsSchema = z.object({ json: z.boolean().default(false) });

export async function validateCommand(id: string, rawFlags: Record<string, unknown>): Promise<number> {
  const flags = parseFlags(ValidateFlagsSchema, rawFlags);
  checkId(id);
  const config = loadConfig();
  const { file, record } = await requireRecord(config.dataDir, id);
  const media = createFfmpegProcessor({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
  const artifacts = recordedArtifacts(record);
  const results: (RecordedArtifact & ArtifactVerdict)[] = [];
  for (const a of artifacts) results.push({ ...a, ...(await verifyArtifact(a, (f) => media.probe(f))) });
  const problems = results.filter((r) => !r.ok).map((r) => `${r.stage}: ${r.problem}: ${r.detail}`);
  const ok = problems.length === 0;

  if (flags.json) {
    printJson({ ok, workflow_id: id, record: file, status: record.status, checked: results.length, problems, artifacts: results });
    return ok ? EXIT.ok : EXIT.failed;
  }
  console.log(`${id}: checking ${results.length} recorded file(s) of a ${record.status} run`);
  for (const r of results) {
    const mark = r.ok ? 'ok  ' : r.problem!.toUpperCase().padEnd(4);
    const what = r.ok ? `${humanBytes(r.bytes)}${r.audio_seconds ? `, ${r.detail}` : ''}` : r.detail;
    console.log(`  ${mark.padEnd(11)} ${r.stage.padEnd(17)} ${path.basename(r.path).padEnd(22)} ${what}`);
  }
  if (results.length === 0) console.log('  (the record names no files yet: no stage has completed)');
  if (ok) {
    console.log(`All ${results.length} file(s) intact.`);
    return EXIT.ok;
  }
  // One line per problem on stderr too, for people who only watch errors.
  for (const p of problems) process.stderr.write(`problem: ${p}\n`);
  const mergeOk = results.some((r) => r.stage === 'merge' && r.ok);
  process.stderr.write(`${problems.length} of ${results.length} file(s) failed the check (exit code 2).\n`);
  const hint =
    record.status === 'completed' && mergeOk
      ? `\`speech export ${id} --formats ${record.formats?.join(',') ?? 'json,srt,vtt'}\` writes the outputs again from the intact merge result, without calling any provider.`
      : record.status === 'completed'
        ? `\`speech run ${record.input_file} --force-restart\` (with the run's options) recomputes the run.`
        : `\`speech run ${record.input_file}\` (with the run's options) resumes the run and redoes the stages whose files are damaged.`;
  process.stderr.write(`hint: ${hint}\n`);
  return EXIT.failed;
}
