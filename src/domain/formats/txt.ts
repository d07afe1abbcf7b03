// Plain-text export: one paragraph per utterance, starting with its clock time and speaker.

import { formatClock } from '../timecode';
import type { MergedView } from '../types';
import { joinedPieces, mapped } from './pieces';

export function txtPieces(m: MergedView): Generator<string> {
  return joinedPieces(
    mapped(m.utterances, (u) => `[${formatClock(u.start)}] ${u.speaker}: ${u.text}\n`),
    '\n',
  );
}

export function renderTxt(m: MergedView): string {
  return [...txtPieces(m)].join('');
}
