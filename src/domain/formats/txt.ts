// Plain-text export: one paragraph per utterance, starting with its clock time and speaker.

import { formatClock } from '../timecode';
import type { MergedTranscript } from '../types';

export function renderTxt(m: MergedTranscript): string {
  return m.utterances.map((u) => `[${formatClock(u.start)}] ${u.speaker}: ${u.text}\n`).join('\n');
}
