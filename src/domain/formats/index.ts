// Every export format behind one function, and the file extension each is written with.
// Exports show speakers by name where a name is known; the JSON keeps the diarization labels
// and carries the names beside them, so it stays a faithful record of the merge result.

import type { ExportFormat } from '../stages';
import { displayTranscript } from '../speakers';
import type { MergedView } from '../types';
import { renderDocx } from './docx';
import { jsonPieces } from './json';
import { markdownPieces } from './markdown';
import { DEFAULT_RENDER_OPTIONS, type RenderOptions } from './options';
import { rttmPieces } from './rttm';
import { srtPieces } from './srt';
import { txtPieces } from './txt';
import { vttPieces } from './vtt';

export { renderJson, jsonPieces, JSON_FORMAT_VERSION } from './json';
export { renderMarkdown, markdownPieces, escapeMarkdown } from './markdown';
export { renderRttm, rttmPieces, rttmFileId, rttmSpeaker } from './rttm';
export { renderSrt, srtPieces } from './srt';
export { renderTxt, txtPieces } from './txt';
export { renderVtt, vttPieces, escapeVtt } from './vtt';
export { renderDocx } from './docx';
export { transcriptCues, type Cue } from './cues';
export { DEFAULT_RENDER_OPTIONS, DEFAULT_SUBTITLE_OPTIONS, SPEAKER_LABEL_STYLES, renderOptions, type RenderOptions, type SubtitleOptions, type SpeakerLabelStyle } from './options';

/** The formats rendered as text; DOCX is a zip. */
export type TextFormat = Exclude<ExportFormat, 'docx'>;

/** Each text format in pieces (a whole day's export is never held as one string). */
const RENDERERS: Record<TextFormat, (m: MergedView, o: RenderOptions) => Iterable<string>> = {
  json: jsonPieces,
  srt: (m, o) => srtPieces(m, o.subtitles),
  vtt: (m, o) => vttPieces(m, o.subtitles),
  txt: txtPieces,
  md: markdownPieces,
  rttm: rttmPieces,
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
export function renderFormat(format: TextFormat, merged: MergedView, options: RenderOptions = DEFAULT_RENDER_OPTIONS): string {
  return [...RENDERERS[format](merged, options)].join('');
}

/**
 * What an export writes: its text, its bytes (DOCX), or its text in pieces, made afresh on each
 * call of `pieces` (a whole day's text formats: MBs each, the JSON tens of MB, written without
 * being held at once).
 */
export type ExportData = string | Buffer | { pieces: () => Iterable<string> };

/** The file an export writes: speakers shown by name (JSON: labels plus names), DOCX as bytes. */
export async function renderExport(format: ExportFormat, merged: MergedView, options: RenderOptions = DEFAULT_RENDER_OPTIONS): Promise<ExportData> {
  if (format === 'json') return { pieces: () => jsonPieces(merged) };
  const shown = displayTranscript(merged);
  if (format === 'docx') return renderDocx(shown);
  return { pieces: () => RENDERERS[format](shown, options) };
}
