// WebVTT export: the same cues as SRT. With speakerLabels 'voice' (the default)
// every cue opens with a voice tag, `<v Name>`, because players and editors style
// and filter by speaker per cue; 'prefix' shows `Name: ` at speaker changes like
// SRT; 'none' shows no speaker. highlightWords adds a cue timestamp tag before
// every word but the first, for players that highlight words as they are spoken.

import { formatVttTime, toMilliseconds } from '../timecode';
import type { MergedView } from '../types';
import { cuesOf, singleLine, type Cue } from './cues';
import { DEFAULT_SUBTITLE_OPTIONS, type SubtitleOptions } from './options';
import { joinedPieces, mapped, startingWith } from './pieces';

/** &, < and > are markup in cue text (and escaping > also removes any "-->", which would end the cue's grammar). */
export function escapeVtt(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The cue's lines with `<HH:MM:SS.mmm>` before each word after the first. WebVTT
 * wants these strictly after the cue start, before its end and increasing, so a
 * word whose start breaks that order gets no tag and lights up with the word
 * before it.
 */
function highlightedLines(cue: Cue): string[] {
  const startMs = toMilliseconds(cue.start);
  const endMs = toMilliseconds(cue.end);
  let lastMs = startMs;
  return cue.lineWords.map((words, i) => {
    const parts = words.map((w) => {
      const ms = toMilliseconds(w.start);
      if (ms <= lastMs || ms >= endMs) return escapeVtt(w.text);
      lastMs = ms;
      return `<${formatVttTime(ms / 1000)}>${escapeVtt(w.text)}`;
    });
    return `${i === 0 ? escapeVtt(cue.label) : ''}${parts.join(' ')}`;
  });
}

function cueText(cue: Cue, opts: SubtitleOptions): string {
  const lines = opts.highlightWords && cue.timedWords ? highlightedLines(cue) : cue.lines.map(escapeVtt);
  const name = singleLine(cue.speaker).trim();
  const voice = opts.speakerLabels === 'voice' && name !== '' ? `<v ${escapeVtt(name)}>` : '';
  return `${voice}${lines.join('\n')}`;
}

export function vttPieces(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): Generator<string> {
  const cues = mapped(cuesOf(m, opts), (cue) => `${formatVttTime(cue.start)} --> ${formatVttTime(cue.end)}\n${cueText(cue, opts)}\n`);
  return joinedPieces(startingWith('WEBVTT\n', cues), '\n');
}

export function renderVtt(m: MergedView, opts: SubtitleOptions = DEFAULT_SUBTITLE_OPTIONS): string {
  return [...vttPieces(m, opts)].join('');
}
