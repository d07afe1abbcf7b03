// SubRip export: numbered cues, "HH:MM:SS,mmm --> HH:MM:SS,mmm", the cue's lines,
// a blank line between cues. SubRip has no voice tags, so the speaker is shown as
// a `Name: ` prefix on the first cue after each speaker change ('voice' and
// 'prefix' both give that); 'none' shows no speaker.

import { formatSrtTime } from '../timecode';
import type { MergedView } from '../types';
import { cuesOf } from './cues';
import { joinedPieces, mapped } from './pieces';
import { DEFAULT_SUBTITLE_OPTIONS, type SubtitleOptions } from './options';

/** A text line holding "-->" could be read as a timing line by lenient parsers. */
function srtLine(line: string): string {
  return line.replace(/-->/g, '->');
}

export function srtPieces(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): Generator<string> {
  const speakerLabels = opts.speakerLabels === 'none' ? 'none' : 'prefix';
  const cues = mapped(
    cuesOf(m, { ...opts, speakerLabels }),
    (cue, i) => `${i + 1}\n${formatSrtTime(cue.start)} --> ${formatSrtTime(cue.end)}\n${cue.lines.map(srtLine).join('\n')}\n`,
  );
  return joinedPieces(cues, '\n');
}

export function renderSrt(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): string {
  return [...srtPieces(m, opts)].join('');
}
