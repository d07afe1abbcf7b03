// The pipeline's stages, in order, and the vocabulary of their statuses.

export const STAGES = ['audio_conversion', 'diarization', 'transcription', 'merge', 'export'] as const;
export type StageName = (typeof STAGES)[number];

export type StageStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** Export formats and the file extension each is written with. */
export const EXPORT_FORMATS = ['json', 'srt', 'vtt', 'txt', 'md', 'rttm', 'docx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What `speech run` writes when no --formats is given: every text format (DOCX on request). */
export const DEFAULT_EXPORT_FORMATS: readonly ExportFormat[] = ['json', 'srt', 'vtt', 'txt', 'md', 'rttm'];

export function isExportFormat(value: string): value is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(value);
}
