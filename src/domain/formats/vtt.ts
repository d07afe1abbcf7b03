// WebVTT export: the same cues as SRT, with the speaker in a voice tag so players
// and editors can style or filter by speaker.

import { formatVttTime } from '../timecode';
import type { MergedTranscript } from '../types';
import { singleLine, transcriptCues } from './cues';

/** &, < and > are markup in cue text (and "-->" would end the timing line's grammar). */
export function escapeVtt(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderVtt(m: MergedTranscript): string {
  const cues = transcriptCues(m).map(
    (cue) =>
      `${formatVttTime(cue.start)} --> ${formatVttTime(cue.end)}\n<v ${escapeVtt(singleLine(cue.speaker))}>${escapeVtt(singleLine(cue.text))}\n`,
  );
  return ['WEBVTT\n', ...cues].join('\n');
}
