// Every export format behind one function, and the file extension each is written with.

import type { ExportFormat } from '../stages';
import type { MergedTranscript } from '../types';
import { renderJson } from './json';
import { renderMarkdown } from './markdown';
import { renderRttm } from './rttm';
import { renderSrt } from './srt';
import { renderTxt } from './txt';
import { renderVtt } from './vtt';

export { renderJson, JSON_FORMAT_VERSION } from './json';
export { renderMarkdown, escapeMarkdown } from './markdown';
export { renderRttm, rttmFileId, rttmSpeaker } from './rttm';
export { renderSrt } from './srt';
export { renderTxt } from './txt';
export { renderVtt, escapeVtt } from './vtt';
export { splitUtterance, transcriptCues, MAX_CUE_CHARS, MAX_CUE_SECONDS, type Cue } from './cues';

const RENDERERS: Record<ExportFormat, (m: MergedTranscript) => string> = {
  json: renderJson,
  srt: renderSrt,
  vtt: renderVtt,
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
};

export function renderFormat(format: ExportFormat, merged: MergedTranscript): string {
  return RENDERERS[format](merged);
}
