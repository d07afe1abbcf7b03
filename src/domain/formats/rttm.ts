// RTTM export, the diarization interchange format scoring tools read: one
// SPEAKER line per utterance. Fields 4 and 5 are start and duration, not end.

import { formatMillisecondsFixed, toMilliseconds } from '../timecode';
import type { MergedView } from '../types';
import { joinedPieces, mapped } from './pieces';

/** RTTM is space-separated, so a file id may hold no whitespace; empty becomes "audio". */
export function rttmFileId(source: string): string {
  const base = source.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  const stem = (dot > 0 ? base.slice(0, dot) : base).trim();
  return stem === '' ? 'audio' : stem.replace(/\s+/g, '_');
}

export function rttmSpeaker(speaker: string): string {
  const trimmed = speaker.trim();
  return trimmed === '' ? 'unknown' : trimmed.replace(/\s+/g, '_');
}

export function rttmPieces(m: MergedView): Generator<string> {
  const fileId = rttmFileId(m.source);
  const lines = mapped(m.utterances, (u) => {
    // Duration from the rounded ends, so start + duration reproduces the end exactly.
    const startMs = toMilliseconds(u.start);
    const durationMs = Math.max(0, toMilliseconds(u.end) - startMs);
    return `SPEAKER ${fileId} 1 ${formatMillisecondsFixed(startMs)} ${formatMillisecondsFixed(durationMs)} <NA> <NA> ${rttmSpeaker(u.speaker)} <NA> <NA>\n`;
  });
  return joinedPieces(lines);
}

export function renderRttm(m: MergedView): string {
  return [...rttmPieces(m)].join('');
}
