// SubRip export: numbered cues, "HH:MM:SS,mmm --> HH:MM:SS,mmm", text prefixed
// with the speaker, a blank line between cues.

import { formatSrtTime } from '../timecode';
import type { MergedTranscript } from '../types';
import { singleLine, transcriptCues } from './cues';

export function renderSrt(m: MergedTranscript): string {
  return transcriptCues(m)
    .map(
      (cue, i) =>
        `${i + 1}\n${formatSrtTime(cue.start)} --> ${formatSrtTime(cue.end)}\n${singleLine(`${cue.speaker}: ${cue.text}`)}\n`,
    )
    .join('\n');
}
