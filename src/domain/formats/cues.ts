// Subtitle cues shared by SRT and WebVTT: one cue per utterance, long utterances
// split at word boundaries so a cue stays readable on screen.

import { joinWords } from '../merge';
import type { MergedTranscript, Utterance } from '../types';

/** A cue longer than this on screen is split. */
export const MAX_CUE_SECONDS = 7;
/** Two subtitle lines of 42 characters; counted on the text without the speaker prefix. */
export const MAX_CUE_CHARS = 84;

export interface Cue {
  speaker: string;
  start: number;
  end: number;
  text: string;
}

/**
 * Splits one utterance into cues, greedily: words are added to the current cue
 * while it spans at most MAX_CUE_SECONDS and its text has at most MAX_CUE_CHARS;
 * a single word beyond either limit gets a cue of its own. An utterance within
 * both limits keeps its own text unchanged, so a renamed or edited text survives.
 */
export function splitUtterance(u: Utterance): Cue[] {
  const fits = (start: number, end: number, text: string): boolean =>
    end - start <= MAX_CUE_SECONDS && text.length <= MAX_CUE_CHARS;
  if (u.words.length === 0 || fits(u.start, u.end, u.text)) {
    return [{ speaker: u.speaker, start: u.start, end: u.end, text: u.text }];
  }
  const cues: Cue[] = [];
  let texts: string[] = [];
  let start = 0;
  let end = 0;
  for (const word of u.words) {
    if (texts.length > 0 && fits(start, Math.max(end, word.end), joinWords([...texts, word.word]))) {
      texts.push(word.word);
      end = Math.max(end, word.end);
      continue;
    }
    if (texts.length > 0) cues.push({ speaker: u.speaker, start, end, text: joinWords(texts) });
    texts = [word.word];
    start = word.start;
    end = word.end;
  }
  if (texts.length > 0) cues.push({ speaker: u.speaker, start, end, text: joinWords(texts) });
  return cues;
}

export function transcriptCues(m: MergedTranscript): Cue[] {
  return m.utterances.flatMap(splitUtterance);
}

/** Cue text must stay on its own lines: a stray newline or blank line would end the cue early. */
export function singleLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}
