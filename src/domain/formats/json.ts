// JSON export: the full merged transcript, versioned so readers can tell shapes
// apart if it ever changes. Every utterance and word keeps its speaker label, so the
// file reads back as a MergedTranscript; names and voice matches sit beside the labels.
// The published shape is schema/transcript.schema.json.

import { toMilliseconds } from '../timecode';
import type { MergedTranscript } from '../types';

export const JSON_FORMAT_VERSION = 1;

/** Times to the millisecond, like every other format, without float noise such as 3.0000000004. */
function ms(seconds: number): number {
  return toMilliseconds(seconds) / 1000;
}

export function renderJson(m: MergedTranscript): string {
  const document = {
    format_version: JSON_FORMAT_VERSION,
    source: m.source,
    duration: ms(m.duration),
    language: m.language,
    speakers: m.speakers,
    ...(m.speakerNames && Object.keys(m.speakerNames).length > 0 ? { speaker_names: m.speakerNames } : {}),
    ...(m.identification ? { identification: m.identification.map((i) => ({ speaker: i.speaker, match: i.match, score: i.score })) } : {}),
    ...(m.overlappingTurns ? { overlapping_turns: m.overlappingTurns.map((t) => ({ speaker: t.speaker, start: ms(t.start), end: ms(t.end) })) } : {}),
    utterances: m.utterances.map((u) => ({
      speaker: u.speaker,
      start: ms(u.start),
      end: ms(u.end),
      text: u.text,
      words: u.words.map((w) => ({ word: w.word, start: ms(w.start), end: ms(w.end), speaker: w.speaker })),
    })),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
