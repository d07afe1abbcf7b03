// Every export format behind one function, and the file extension each is written with.
// Exports show speakers by name where a name is known; the JSON keeps the diarization labels
// and carries the names beside them, so it stays a faithful record of the merge result.

import type { ExportFormat } from '../stages';
import { displayTranscript } from '../speakers';
import type { MergedTranscript } from '../types';
import { renderDocx } from './docx';
import { jsonPieces, renderJson } from './json';
import { renderMarkdown } from './markdown';
import { DEFAULT_RENDER_OPTIONS, type RenderOptions } from './options';
import { renderRttm } from './rttm';
import { renderSrt } from './srt';
import { renderTxt } from './txt';
import { renderVtt } from './vtt';

export { renderJson, jsonPieces, JSON_FORMAT_VERSION } from './json';
export { renderMarkdown, escapeMarkdown } from './markdown';
export { renderRttm, rttmFileId, rttmSpeaker } from './rttm';
export { renderSrt } from './srt';
export { renderTxt } from './txt';
export { renderVtt, escapeVtt } from './vtt';
export { renderDocx } from './docx';
export { transcriptCues, type Cue } from './cues';
export { DEFAULT_RENDER_OPTIONS, DEFAULT_SUBTITLE_OPTIONS, SPEAKER_LABEL_STYLES, renderOptions, type RenderOptions, type SubtitleOptions, type SpeakerLabelStyle } from './options';

/** The formats rendered as text; DOCX is a zip. */
export type TextFormat = Exclude<ExportFormat, 'docx'>;

const RENDERERS: Record<TextFormat, (m: MergedTranscript, o: RenderOptions) => string> = {
  json: renderJson,
  srt: (m, o) => renderSrt(m, o.subtitles),
  vtt: (m, o) => renderVtt(m, o.subtitles),
  txt: renderTxt,
  md: renderMarkdown,
  rttm: renderRttm,
};

export const FORMAT_EXTENSIONS: Record<ExportFormat, string> = {
  json: 'json',
  srt: 'srt',
  vtt: 'vtt',
  txt: 'txt',
  md: 'md',
  rttm: 'rttm',
  docx: 'docx',
};

/** One text format of the transcript exactly as given (labels as they are in `merged`). */
export function renderFormat(format: TextFormat, merged: MergedTranscript, options: RenderOptions = DEFAULT_RENDER_OPTIONS): string {
  return RENDERERS[format](merged, options);
}

/**
 * What an export writes: its text, its bytes (DOCX), or its text in pieces, made afresh on each
 * call of `pieces` (the JSON: tens of MB for a whole day, written without being held at once).
 */
export type ExportData = string | Buffer | { pieces: () => Iterable<string> };

/** The file an export writes: speakers shown by name (JSON: labels plus names), DOCX as bytes. */
export async function renderExport(format: ExportFormat, merged: MergedTranscript, options: RenderOptions = DEFAULT_RENDER_OPTIONS): Promise<ExportData> {
  if (format === 'json') return { pieces: () => jsonPieces(merged) };
  const shown = displayTranscript(merged);
  if (format === 'docx') return renderDocx(shown);
  return renderFormat(format, shown, options);
}
