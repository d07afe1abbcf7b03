// The output flags `speech run` and `speech export` share: subtitle layout and --overwrite.
// Only the flags a user gave are kept, so a run's stored options say what was asked for and
// the renderer's defaults fill in the rest.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { SPEAKER_LABEL_STYLES, type SubtitleOptions } from '../domain/formats';

const bounded = (what: string, min: number, max: number, int = true) => {
  let n = z.coerce.number({ error: `${what} must be a number` });
  if (int) n = n.int(`${what} must be a whole number`);
  return n.min(min, `${what} must be at least ${min}`).max(max, `${what} must be at most ${max}`);
};

export const RenderFlagsShape = {
  maxLineChars: bounded('--max-line-chars', 16, 120).optional(),
  maxLines: bounded('--max-lines', 1, 4).optional(),
  maxCueSeconds: bounded('--max-cue-seconds', 1, 30, false).optional(),
  speakerLabels: z.enum(SPEAKER_LABEL_STYLES, { error: (i) => `--speaker-labels must be one of ${SPEAKER_LABEL_STYLES.join(', ')} (got "${String(i.input)}")` }).optional(),
  highlightWords: z.boolean().optional(),
  overwrite: z.boolean().default(false),
};

export interface RenderFlags {
  maxLineChars?: number | undefined;
  maxLines?: number | undefined;
  maxCueSeconds?: number | undefined;
  speakerLabels?: SubtitleOptions['speakerLabels'] | undefined;
  highlightWords?: boolean | undefined;
}

/** The subtitle options the user asked for (only those), as the workflow input and record carry them. */
export function subtitleRequest(flags: RenderFlags): Partial<SubtitleOptions> {
  const out: Partial<SubtitleOptions> = {};
  if (flags.maxLineChars !== undefined) out.maxLineChars = flags.maxLineChars;
  if (flags.maxLines !== undefined) out.maxLines = flags.maxLines;
  if (flags.maxCueSeconds !== undefined) out.maxCueSeconds = flags.maxCueSeconds;
  if (flags.speakerLabels !== undefined) out.speakerLabels = flags.speakerLabels;
  if (flags.highlightWords) out.highlightWords = true;
  return out;
}

/** Adds the shared output flags to a command. */
export function addRenderOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--max-line-chars <n>', 'subtitles: characters per line, at most (default 42)'))
    .addOption(new Option('--max-lines <n>', 'subtitles: lines per cue, at most (default 2)'))
    .addOption(new Option('--max-cue-seconds <s>', 'subtitles: seconds a cue stays on screen, at most (default 7)'))
    .addOption(new Option('--speaker-labels <style>', 'subtitles: how the speaker shows: prefix is NAME: at each change, voice is WebVTT <v NAME> (SRT: as prefix) (default voice)').choices([...SPEAKER_LABEL_STYLES]))
    .addOption(new Option('--highlight-words', 'WebVTT: word-by-word timing inside each cue (karaoke style)'))
    .addOption(new Option('--overwrite', 'replace existing output files that this run did not write'));
}
