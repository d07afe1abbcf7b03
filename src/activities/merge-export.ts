// merge and export: pure domain functions wrapped in file reads and atomic writes.
import path from 'node:path';
import { utterancesOf } from '../domain/columns';
import { compactJsonPieces } from '../domain/compact-json';
import type { SubtitleOptions } from '../domain/formats';
import { isoLanguage } from '../domain/languages';
import { mergeColumns } from '../domain/merge';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef, MergedView } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import { writeExports } from '../providers/output-files';
import { writeExportSettings } from '../providers/speaker-names';
import { readTranscriptWords } from '../providers/transcript-files';
import type { DiarizationResult } from './diarize';
import { atBoundary } from './boundary';

export interface MergeInput {
  diarization: ArtifactRef;
  transcript: ArtifactRef;
  interimDir: string;
  /** File name of the original recording, used in headings and RTTM ids. */
  source: string;
}

export interface ExportInput {
  merged: ArtifactRef;
  formats: ExportFormat[];
  outputDir: string;
  /** Output files are `<baseName>.<ext>`. */
  baseName: string;
  /** Subtitle layout; defaults for what is missing (runs of earlier releases send none). */
  render?: { subtitles?: Partial<SubtitleOptions> };
  /** Replace existing files this run did not write (`--overwrite`). */
  overwrite?: boolean;
}

/**
 * The merge result of a run's diarization and transcript, in columns: from the words of
 * transcript.json (read an element at a time) to utterances made one at a time when merged.json
 * is written, a whole day's words are never held as an object each. What was read is let go
 * when this returns.
 */
async function mergeFiles(store: ArtifactStore, input: MergeInput): Promise<{ merged: MergedView; utterances: number }> {
  const [diarization, transcript] = await Promise.all([store.readJson<DiarizationResult>(input.diarization), readTranscriptWords(input.transcript.path)]);
  const { columns, ...head } = mergeColumns({
    source: input.source,
    duration: transcript.duration,
    // ISO-639-1 like the CLI's --language, whatever the provider called it ("english").
    language: isoLanguage(transcript.language),
    turns: diarization.turns,
    words: transcript.words,
  });
  const merged: MergedView = { ...head, utterances: utterancesOf(columns) };
  if (diarization.matches) merged.identification = diarization.matches.filter((m) => merged.speakers.includes(m.speaker));
  // Only when the words were lined up with other turns than these (exclusive ones).
  if (diarization.overlapping_turns && JSON.stringify(diarization.overlapping_turns) !== JSON.stringify(diarization.turns)) merged.overlappingTurns = diarization.overlapping_turns;
  return { merged, utterances: columns.utterances.count };
}

export function makeMergeExportActivities(deps: { store: ArtifactStore }) {
  async function mergeTranscriptActivity(input: MergeInput): Promise<ArtifactRef> {
    return atBoundary(async () => {
      const { merged, utterances } = await mergeFiles(deps.store, input);
      const ref = await deps.store.writeAtomic(path.join(input.interimDir, 'merged.json'), { pieces: () => compactJsonPieces(merged, ['utterances']) });
      return { ...ref, metadata: { utterances, speakers: merged.speakers.length } };
    });
  }

  async function exportTranscript(input: ExportInput): Promise<ArtifactRef[]> {
    return atBoundary(async () => {
      // merged.json sits in the run's interim folder, beside its names, ledger and export settings.
      // What `speech rename` and `speech export` render with later, so the run's exports keep their layout.
      await writeExportSettings(deps.store, path.dirname(input.merged.path), { render: input.render ?? {}, output_dir: input.outputDir, base_name: input.baseName, formats: input.formats });
      return writeExports(deps.store, { merged: input.merged, formats: input.formats, outDir: input.outputDir, baseName: input.baseName, render: input.render, overwrite: input.overwrite ?? false });
    });
  }

  return { mergeTranscript: mergeTranscriptActivity, exportTranscript };
}
