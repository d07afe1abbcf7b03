// What shapes an export besides the merged transcript itself: subtitle layout
// rules (SRT and WebVTT). Every field has a default that follows common subtitle
// guidelines, so a run that names no option renders the same as one that names
// all the defaults.

/** How a subtitle shows who speaks: not at all, a `Name: ` prefix at speaker changes, or a WebVTT voice tag on every cue. */
export const SPEAKER_LABEL_STYLES = ['none', 'prefix', 'voice'] as const;
export type SpeakerLabelStyle = (typeof SPEAKER_LABEL_STYLES)[number];

export interface SubtitleOptions {
  /** Characters per subtitle line, at most (default 42). */
  maxLineChars: number;
  /** Lines per cue, at most (default 2). */
  maxLines: number;
  /** Seconds a cue stays on screen, at most (default 7). */
  maxCueSeconds: number;
  /** Seconds a cue stays on screen, at least, where the gap to the next cue allows (default 1). */
  minCueSeconds: number;
  /**
   * Reading speed, characters per second of the spoken text (the speaker label not counted), at most
   * (default 20). A faster cue is extended into the silence after it; where there is none, it stays fast.
   */
  maxCharsPerSecond: number;
  /**
   * `voice` (default): WebVTT `<v Name>` on every cue; SRT has no voice tags and shows the `prefix` instead.
   * `prefix`: `Name: ` before the first cue after each speaker change, counted in that line's width.
   * `none`: no speaker shown.
   */
  speakerLabels: SpeakerLabelStyle;
  /** WebVTT only: word-level timestamps inside each cue (karaoke style), from the word timings. */
  highlightWords: boolean;
}

export const DEFAULT_SUBTITLE_OPTIONS: SubtitleOptions = Object.freeze({
  maxLineChars: 42,
  maxLines: 2,
  maxCueSeconds: 7,
  minCueSeconds: 1,
  maxCharsPerSecond: 20,
  speakerLabels: 'voice',
  highlightWords: false,
});

/** Options for every export format. */
export interface RenderOptions {
  subtitles: SubtitleOptions;
}

export const DEFAULT_RENDER_OPTIONS: RenderOptions = Object.freeze({ subtitles: DEFAULT_SUBTITLE_OPTIONS });

/** Fills the missing fields of partial options (from a CLI, a workflow input of an earlier release, a stored record). */
export function renderOptions(partial?: { subtitles?: Partial<SubtitleOptions> } | null): RenderOptions {
  return { subtitles: { ...DEFAULT_SUBTITLE_OPTIONS, ...(partial?.subtitles ?? {}) } };
}
