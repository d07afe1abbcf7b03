// merge and export: pure domain functions wrapped in file reads and atomic writes.
import path from 'node:path';
import { renderFormat, FORMAT_EXTENSIONS } from '../domain/formats';
import { mergeTranscript } from '../domain/merge';
import type { ExportFormat } from '../domain/stages';
import type { ArtifactRef, MergedTranscript, Transcript } from '../domain/types';
import type { ArtifactStore } from '../providers/artifact-store';
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
        language: transcript.language,
        turns: diarization.turns,
        words: transcript.words,
      });
      const ref = await deps.store.writeJson(path.join(input.interimDir, 'merged.json'), merged);
      return { ...ref, metadata: { utterances: merged.utterances.length, speakers: merged.speakers.length } };
    });
  }

  async function exportTranscript(input: ExportInput): Promise<ArtifactRef[]> {
    return atBoundary(async () => {
      const merged = await deps.store.readJson<MergedTranscript>(input.merged);
      const refs: ArtifactRef[] = [];
      for (const format of input.formats) {
        const file = path.join(input.outputDir, `${input.baseName}.${FORMAT_EXTENSIONS[format]}`);
        const ref = await deps.store.writeAtomic(file, renderFormat(format, merged));
        refs.push({ ...ref, metadata: { format } });
      }
      return refs;
    });
  }

  return { mergeTranscript: mergeTranscriptActivity, exportTranscript };
}
