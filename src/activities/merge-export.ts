// merge and export: pure domain functions wrapped in file reads and atomic writes.
import path from 'node:path';
import type { SubtitleOptions } from '../domain/formats';
import { isoLanguage } from '../domain/languages';
import { mergeTranscript } from '../domain/merge';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef, Transcript } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
import { writeExports } from '../providers/output-files';
import { writeExportSettings } from '../providers/speaker-names';
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

export function makeMergeExportActivities(deps: { store: ArtifactStore }) {
  async function mergeTranscriptActivity(input: MergeInput): Promise<ArtifactRef> {
    return atBoundary(async () => {
      const [diarization, transcript] = await Promise.all([
        deps.store.readJson<DiarizationResult>(input.diarization),
        deps.store.readJson<Transcript>(input.transcript),
      ]);
      const merged = mergeTranscript({
        source: input.source,
        duration: transcript.duration,
        // ISO-639-1 like the CLI's --language, whatever the provider called it ("english").
        language: isoLanguage(transcript.language),
        turns: diarization.turns,
        words: transcript.words,
      });
      if (diarization.matches) merged.identification = diarization.matches.filter((m) => merged.speakers.includes(m.speaker));
      // Only when the words were lined up with other turns than these (exclusive ones).
      if (diarization.overlapping_turns && JSON.stringify(diarization.overlapping_turns) !== JSON.stringify(diarization.turns)) merged.overlappingTurns = diarization.overlapping_turns;
      const ref = await deps.store.writeJson(path.join(input.interimDir, 'merged.json'), merged, { compact: true });
      return { ...ref, metadata: { utterances: merged.utterances.length, speakers: merged.speakers.length } };
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
